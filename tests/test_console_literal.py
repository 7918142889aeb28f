"""Stored text is shown literally by every command that prints it: rich markup, emoji codes,
backslashes, terminal escapes and bidi overrides in titles, URLs and errors are neither obeyed nor
lost. Real CLI commands (typer's runner) over a real DuckDB file."""

from __future__ import annotations

import html
import io
import itertools
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.cli.ingest import print_summary
from newswatch.cli.show import console, visible
from newswatch.models import RunSummary, SourceRunStats
from newswatch.report import render_run_markdown
from newswatch.store import connect

PIECES = ["[", "]", "[/x]", "[link=https://evil.example/]", "[/link]", "[bold]", "[red]", "\\", "\\[b]",
          ":smile:", "\x1b[31m", "\x1b]8;;https://evil.example/\x1b\\", "\x1b[2J", "\r", "\x07", "\x08",
          "\t", "\u202e", "\u2066", "word", "Japan", "&amp;", "<b>", "*x*", "|", "[ameblo etjapan entry]"]
hostile = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map(" ".join)
RUNNER = CliRunner()
WIDE = {"COLUMNS": "1000", "NO_COLOR": "1"}
_ids = itertools.count()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("literal") / "news.duckdb"
    connect(path).close()
    return path


def add(db, title: str, url: str = "https://news.example/a") -> str:
    aid = f"lit{next(_ids)}"
    conn = connect(db)
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    conn.execute(
        "insert into articles (article_id, url, fetched_url, source, title, fetched_at, published_at, lang, text,"
        " content_hash, extraction_method) values (?, ?, ?, 'wire', ?, ?, ?, 'en', ?, ?, 'trafilatura')",
        [aid, f"{url}/{aid}", f"{url}/{aid}", title, at, at, f"{title}. The biotech pact text.", aid])
    conn.close()
    return aid


def invoke(*args: str):
    result = RUNNER.invoke(app, list(args), env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    return result.output


def assert_literal(output: str, value: str) -> None:
    assert visible(value) in output
    assert "\x1b" not in output and "\r" not in output and "\u202e" not in output


def test_the_issue_title_does_not_crash_search_or_the_readme_query(db):
    title = "[/x] Japan and Belgium sign biotech pact"
    add(db, title)
    assert_literal(invoke("search", "biotech pact", "--db", str(db), "--limit", "1000"), title)
    out = invoke("query", "select sort_at, source, lang, title from articles_latest limit 2000", "--db", str(db))
    assert_literal(out, title)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=hostile)
def test_query_table_and_csv_show_titles_literally(db, title):
    aid = add(db, f"{title} biotech pact")
    sql = f"select title from articles where article_id = '{aid}'"
    assert_literal(invoke("query", sql, "--db", str(db)), f"{title} biotech pact")
    csv_out = invoke("query", sql, "--db", str(db), "--format", "csv")
    assert visible(f"{title} biotech pact", csv=True) in csv_out and "\x1b" not in csv_out
    rows = json.loads(invoke("query", sql, "--db", str(db), "--format", "json"))
    assert rows == [{"title": f"{title} biotech pact"}]  # JSON keeps the data exactly (escaped by JSON)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=hostile)
def test_search_shows_titles_literally(db, title):
    add(db, f"{title} biotech pact")
    assert_literal(invoke("search", "biotech pact", "--db", str(db), "--limit", "1000"), f"{title} biotech pact")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(error=hostile)
def test_status_shows_source_errors_literally(tmp_path_factory, error):
    db = tmp_path_factory.mktemp("status") / "s.duckdb"
    conn = connect(db)
    conn.execute("insert into sources (source, kind, url) values ('wire', 'rss', 'http://127.0.0.1/x')")
    conn.execute("insert into source_state (source, last_polled_at, consecutive_failures, last_error)"
                 " values ('wire', now(), 2, ?)", [error[:55]])
    conn.close()
    out = invoke("status", "--db", str(db))
    assert visible(error[:55])[:59] in out  # the status table cuts errors at 60 visible characters
    assert "\x1b" not in out and "\r" not in out
    assert "failing since first run" in out


@settings(max_examples=25, deadline=None)
@given(source=hostile, error=hostile)
def test_ingest_summary_and_run_report_show_values_literally(source, error):
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    stats = SourceRunStats(source=source, entries=1, new=0, seen=0, failed=1, error=error[:65])
    summary = RunSummary("r1", now, now, (stats,), ((source, "https://x.example/[a]", error),))
    buffer = io.StringIO()
    print_summary(summary, console(file=buffer, width=1000))
    out = buffer.getvalue()
    assert_literal(out, source)
    assert visible(error[:65])[:69] in out  # the summary cuts errors at 70 visible characters
    report = render_run_markdown(summary)
    assert "\x1b" not in report and "\r" not in report
    row = next(line for line in report.splitlines() if line.endswith("| 1 | 0 | 0 | 1 | error: " + line.rsplit("error: ", 1)[-1]))
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
    assert unescape_markdown(cells[0]) == visible(source.replace("\t", " ")).strip()  # cells are trimmed


def unescape_markdown(text: str) -> str:
    """What a markdown renderer shows for a cell: backslash escapes and entities resolved."""
    return html.unescape(re.sub(r"\\(.)", r"\1", text))


def test_the_failures_hint_is_one_copy_pasteable_line_on_a_narrow_terminal():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    summary = RunSummary("r1", now, now, (SourceRunStats(source="a", failed=1, error="HTTP 500"),),
                         (("a", "https://x.example/1", "HTTP 500"),))
    buffer = io.StringIO()
    print_summary(summary, console(file=buffer, width=60))
    hint = [line for line in buffer.getvalue().splitlines() if "newswatch query" in line]
    assert len(hint) == 1
    command = hint[0].strip()
    assert command.startswith('newswatch query "select ') and command.endswith('limit 50"')
    assert command.count('"') == 2  # the SQL is one quoted argument, not wrapped inside the string


def test_the_summary_lists_sources_with_news_and_counts_the_quiet_ones():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    summary = RunSummary("r1", now, now, (
        SourceRunStats(source="unchanged", not_modified=True),
        SourceRunStats(source="same-old", entries=5, seen=5),
        SourceRunStats(source="fresh", entries=5, new=2, seen=3),
        SourceRunStats(source="broken", failed=1, error="HTTP 503"),
    ))
    buffer = io.StringIO()
    print_summary(summary, console(file=buffer, width=200))
    out = buffer.getvalue()
    assert "fresh" in out and "broken" in out and "HTTP 503" in out
    assert "unchanged" not in out and "same-old" not in out
    assert "other sources: 1 not modified (304), 1 nothing new" in out
