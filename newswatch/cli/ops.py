"""`newswatch serve`, `status`, `search` and `sources check`: running and watching the pipeline."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newswatch.cli.app import ConfigDirOpt, DbOpt, app, fail, reading_target
from newswatch.cli.show import cell, console
from newswatch.config import AppConfig, ConfigError, load_config
from newswatch.store import DatabaseBusyError, StoreUnavailable, connect, writer_lock

sources_app = typer.Typer(
    help="Look at the configured sources.\n\nExample: newswatch sources check --config-dir config",
    no_args_is_help=True,
)
app.add_typer(sources_app, name="sources")


def _config(config_dir: Path | None) -> AppConfig:
    try:
        return load_config(config_dir)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def _reader(path: Path) -> duckdb.DuckDBPyConnection:
    from newswatch.status import connect_reader

    try:
        return connect_reader(path)
    except (FileNotFoundError, StoreUnavailable) as exc:
        raise fail(str(exc)) from None


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = (datetime.now(timezone.utc) - value).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return "just now"


@app.command()
def serve(config_dir: ConfigDirOpt = None, db: DbOpt = None) -> None:
    """Run ingest every 30 minutes and digests daily 07:30 / Monday 08:00 (Asia/Tokyo), in one process.

    Starts Prefect's own server on 127.0.0.1:4200 as a child process unless PREFECT_API_URL is set
    (the UI is then at http://127.0.0.1:4200); one flow run at a time. Stop with Ctrl-C.

    Example: newswatch serve --config-dir config --db data/newswatch.duckdb
    """
    _config(config_dir)  # a config error is reported now, not at the first scheduled run
    from flows.serve import serve as serve_flows  # noqa: PLC0415 - imports prefect (~1 s)

    try:
        serve_flows(str(config_dir) if config_dir else None, str(db) if db else None)
    except RuntimeError as exc:
        raise fail(str(exc)) from None


def _status_tables(report) -> list[Table]:
    runs = Table("started", "flow", "status", "seconds", "stats / error", title="Last runs")
    for r in report.runs:
        detail = cell(r.error, "red", 80) if r.error else cell(r.stats)
        colour = {"completed": "green", "failed": "red"}.get(r.status, "yellow")
        runs.add_row(_ago(r.started_at), cell(r.flow), cell(r.status, colour),
                     "" if r.seconds is None else f"{r.seconds:.1f}", detail)
    sources = Table("source", "status", "last success", "failures in a row", "items 7d", "weekly norm (28d)",
                    "last item", "last error", title="Sources")
    for s in report.sources:
        colour = {"ok": "green", "silent": "red", "degraded": "yellow"}.get(s.status, "red")
        sources.add_row(cell(s.source), cell(s.status, colour), _ago(s.last_success_at),
                        str(s.consecutive_failures), str(s.articles_7d), f"{s.weekly_norm_28d:g}",
                        _ago(s.last_article_at), cell(s.last_error, limit=60))
    backlog = Table("subscriber", "cadence", "pending items", "oldest pending", "last digest", "failed 7d",
                    title="Pending digest items")
    for b in report.backlog:
        backlog.add_row(cell(b.subscriber), cell(b.cadence), str(b.pending_items), _ago(b.oldest_pending_at),
                        _ago(b.last_digest_at), str(b.failed_7d))
    return [runs, sources, backlog]


@app.command()
def status(
    config_dir: ConfigDirOpt = None,
    db: DbOpt = None,
    runs: Annotated[int, typer.Option("--runs", help="How many recent runs to list.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object (for monitoring scripts).")] = False,
) -> None:
    """Last runs, per-source health, pending digest items per subscriber.

    The figures are the views runs_latest, source_health and subscriber_backlog (see them with
    `newswatch query`). A source is "silent" when it published in the last 28 days but not in 7.

    Example: newswatch status --db data/newswatch.duckdb
    """
    from newswatch.status import collect_status

    config, path = reading_target(config_dir, db)
    conn = _reader(path)
    try:
        report = collect_status(conn, config, runs)
    except duckdb.CatalogException as exc:
        raise fail(f"the database predates this version ({exc}) (fix: run `newswatch ingest` once to migrate it)") from None
    finally:
        conn.close()
    if as_json:
        typer.echo(json.dumps(asdict(report), default=str, ensure_ascii=False))
        return
    out = console()
    for table in _status_tables(report):
        out.print(table)
    for note in report.notes:
        out.print(f"note: {note}")


def _rebuild_index(path: Path, err) -> str | None:
    """Rebuild the search index now (--reindex) unless a run is writing; then say why it did not."""
    from newswatch.store import fts

    try:
        with writer_lock(path, 0):
            conn = connect(path)
            try:
                with err.status("rebuilding the search index…"):
                    fts.rebuild_search_index(conn)
            finally:
                conn.close()
    except DatabaseBusyError:
        return ("a run is writing: the index was not rebuilt (results are the same: articles added since "
                "the last build are ranked by the same BM25, only the search takes longer)")
    return None


@app.command()
def search(
    terms: Annotated[str, typer.Argument(
        help="Words every hit must contain (any case, accents ignored, English stemming).")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many hits.")] = 20,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    reindex: Annotated[bool, typer.Option(
        "--reindex", help="Rebuild the full-text index first (skipped while a run is writing).")] = False,
    config_dir: ConfigDirOpt = None,
    db: DbOpt = None,
) -> None:
    """Full-text search over stored articles (BM25 over title and text), best first.

    The answer does not depend on when the index was last built: articles added or
    changed since are tokenised the same way and ranked by the same BM25, which
    costs time per search (ingest rebuilds the index when they pile up:
    search_tail_max, search_reindex_minutes; --reindex: now).
    Japanese, Chinese and Korean queries match substrings (no word boundaries), newest first.
    Analysts get the same from SQL: select * from search_articles('terms').

    Example: newswatch search "lng tanker" --limit 10
    """
    from newswatch.store import fts

    _, path = reading_target(config_dir, db)
    err = console(stderr=True)
    if not isinstance(path, Path):  # a LakeTarget: DuckDB's fts cannot index DuckLake tables
        raise fail("search needs the DuckDB file store: full-text indexes do not work on DuckLake tables "
                   "(fix: query the lake with `newswatch query` and ILIKE, or pass --db FILE)")
    note = _rebuild_index(path, err) if reindex else None
    conn = _reader(path)
    try:
        hits = fts.search_articles(conn, terms, limit)
    except fts.SearchUnavailable as exc:
        raise fail(str(exc)) from None
    finally:
        conn.close()
    if note:
        err.print(f"note: {note}")
    if fmt == "json":
        typer.echo(json.dumps([asdict(h) for h in hits], default=str, ensure_ascii=False))
        return
    table = Table("score", "date", "source", "lang", "title", "url", title=cell(f"{len(hits)} hits for {terms!r}"))
    for h in hits:
        score = "" if h.score is None else f"{h.score:.2f}"  # no score: a CJK query's substring hit
        table.add_row(score, f"{h.sort_at:%Y-%m-%d}" if h.sort_at else "", cell(h.source), cell(h.lang),
                      cell(h.title), cell(h.url))
    console().print(table)


@sources_app.command("check")
def sources_check(
    name: Annotated[list[str] | None, typer.Argument(help="Only these sources (default: all).")] = None,
    config_dir: ConfigDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """Fetch each configured source once, without storing anything, and say what was found.

    Per source: the kind detected (rss, atom, sitemap, sitemapindex, html…), HTTP status, items,
    the newest item's date, and any errors. Exits 1 when a source failed or yielded nothing.

    Example: newswatch sources check --config-dir config
    """
    from newswatch.status import check_sources

    config = _config(config_dir)
    known = {s.name for s in config.sources.sources}
    unknown = [n for n in name or [] if n not in known]
    if unknown:
        raise fail(f"unknown source(s) {', '.join(unknown)} (fix: use names from {config.config_dir}/sources.yaml)")
    total = len(name) if name else len(known)
    with Progress(TextColumn("checking sources"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console(stderr=True), transient=True, disable=as_json) as progress:
        task = progress.add_task("check", total=total)
        checks = asyncio.run(check_sources(config, name or None, on_done=lambda _: progress.advance(task)))
    if as_json:
        typer.echo(json.dumps([asdict(c) | {"ok": c.ok} for c in checks], default=str, ensure_ascii=False))
    else:
        table = Table("source", "configured", "detected", "HTTP", "items", "newest item", "errors")
        for c in checks:
            newest = f"{c.last_item_at:%Y-%m-%d %H:%M}" if c.last_item_at else ""
            errors = "; ".join(e[:80] for e in c.errors)
            table.add_row(cell(c.source), cell(c.configured_kind), cell(c.detected_kind or "-"),
                          str(c.status_code or "-"), str(c.items), newest,
                          cell(errors, "red") if errors else cell("ok", "green"))
        console().print(table)
    if any(not c.ok for c in checks):
        raise typer.Exit(1)
