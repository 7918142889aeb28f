"""Run reports: the markdown a flow publishes as its artifact, and the CLI prints."""

from __future__ import annotations

from newswatch.literal import visible
from newswatch.models import RunSummary

MAX_FAILURES_LISTED = 50  # a broken run can fail thousands of URLs; the table says how many more


# Markdown (and the HTML it may carry) a value from the network could use to turn a report cell
# into a link, an image, emphasis or markup: each is backslash-escaped, `<`/`>`/`&` written as
# entities, control characters shown as \xNN, so the cell reads exactly as the value is.
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|~"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"})


def _cell(text: str | None, limit: int = 160) -> str:
    text = visible((text or "").replace("\n", " ").replace("\t", " "))
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.translate(_MD_SPECIAL)


def render_run_markdown(summary: RunSummary) -> str:
    secs = (summary.finished_at - summary.started_at).total_seconds()
    lines = [
        f"# newswatch ingest run `{summary.run_id}`",
        "",
        f"{summary.new} new articles from {len(summary.sources)} sources in {secs:.1f} s.",
        "",
        "| source | entries | new | seen | failed | status |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for s in sorted(summary.sources, key=lambda s: s.source):
        status = "not modified (304)" if s.not_modified else (f"error: {_cell(s.error, 80)}" if s.error else "ok")
        lines.append(f"| {_cell(s.source)} | {s.entries} | {s.new} | {s.seen} | {s.failed} | {status} |")
    if summary.failures:
        lines += ["", f"## Failures ({len(summary.failures)})", "", "| source | url | reason |", "|---|---|---|"]
        for source, url, reason in summary.failures[:MAX_FAILURES_LISTED]:
            lines.append(f"| {_cell(source)} | {_cell(url)} | {_cell(reason)} |")
        if len(summary.failures) > MAX_FAILURES_LISTED:
            lines.append(f"| … | {len(summary.failures) - MAX_FAILURES_LISTED} more | see the `fetches` table |")
    return "\n".join(lines) + "\n"
