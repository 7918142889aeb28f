"""Writes and reads of the ingest stage: sources, their polling state, runs, fetches, articles.

Every write is one transaction and idempotent, so a retried task or a re-run after a crash never
duplicates a row and never leaves half a batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import duckdb

from newswatch.models import Article, FetchResult
from newswatch.store.db import bulk_insert, transaction
from newswatch.store.lake import is_lake
from newswatch.urls import url_id

# An article URL that failed like this recently is not fetched again: the answer won't change.
PERMANENT_ERROR_KINDS = ("content_type", "binary", "too_large", "blocked_address", "robots", "invalid_url",
                         "redirect_loop", "too_many_redirects", "bad_encoding")
PERMANENT_STATUS = (404, 410, 451)
PERMANENT_FAILURE_DAYS = 7


@dataclass(frozen=True, slots=True)
class SourceState:
    source: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_polled_at: datetime | None = None
    last_full_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None


def sync_sources(conn: duckdb.DuckDBPyConnection, sources: Sequence) -> None:
    """Mirror sources.yaml into `sources` (upsert by name; sources removed from config stay, disabled)."""
    rows = [(s.name, s.kind, s.url_str, s.lang, s.enabled, s.model_dump_json()) for s in sources]
    stored = set(conn.execute("select source, kind, url, lang, is_enabled, config::varchar from sources").fetchall())
    names = {r[0] for r in rows}
    gone = [r[0] for r in stored if r[0] not in names and r[4]]  # still enabled, no longer configured
    if is_lake(conn):
        gone = []  # a lake is shared by shards: a source missing here is another shard's, not removed
    rows = [r for r in rows if r not in stored]  # unchanged sources are not rewritten every run
    if not rows and not gone:
        return
    with transaction(conn):
        if gone:
            conn.execute("update sources set is_enabled = false, updated_at = now() "
                         "where source in (select unnest(?::varchar[]))", [gone])
        bulk_insert(conn, "sources", ("source", "kind", "url", "lang", "is_enabled", "config"), rows,
                    "on conflict (source) do update set kind = excluded.kind, url = excluded.url, "
                    "lang = excluded.lang, is_enabled = excluded.is_enabled, config = excluded.config, "
                    "updated_at = now()")


def load_source_states(conn: duckdb.DuckDBPyConnection) -> dict[str, SourceState]:
    cols = [f for f in SourceState.__dataclass_fields__]
    rows = conn.execute(f"select {', '.join(cols)} from source_state").fetchall()
    return {r[0]: SourceState(*r) for r in rows}


def save_source_states(conn: duckdb.DuckDBPyConnection, states: Iterable[SourceState]) -> None:
    cols = list(SourceState.__dataclass_fields__)
    rows = [tuple(getattr(s, c) for c in cols) for s in states]
    if not rows:
        return
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
    unique = list({r[0]: r for r in rows}.values())
    with transaction(conn):
        bulk_insert(conn, "source_state", cols, unique, f"on conflict (source) do update set {sets}")


def start_run(conn: duckdb.DuckDBPyConnection, run_id: str, flow: str) -> None:
    if is_lake(conn):  # no keys in a lake: the same upsert through bulk_insert's lake statements
        bulk_insert(conn, "runs", ("run_id", "flow", "started_at", "status"),
                    [(run_id, flow, datetime.now(timezone.utc), "running")],
                    "on conflict (run_id) do update set status = 'running', finished_at = null")
        return
    # under the file's writer lock no other run is alive: a 'running' row is one that was killed
    conn.execute(
        "update runs set status = 'abandoned', finished_at = now(), "
        "error = 'the process ended without finishing (killed or crashed); its committed batches are kept' "
        "where status = 'running' and run_id <> ?",
        [run_id],
    )
    # on conflict: a retried flow run re-uses its id instead of failing or duplicating
    conn.execute(
        "insert into runs (run_id, flow, started_at, status) values (?, ?, now(), 'running') "
        "on conflict (run_id) do update set status = 'running', finished_at = null",
        [run_id, flow],
    )


def finish_run(conn: duckdb.DuckDBPyConnection, run_id: str, status: str, stats: dict, error: str | None = None) -> None:
    conn.execute(
        "update runs set finished_at = now(), status = ?, stats = ?, error = ? where run_id = ?",
        [status, json.dumps(stats, default=str), error, run_id],
    )


FETCH_COLS = ("fetch_id", "run_id", "source", "purpose", "url", "final_url", "status_code", "bytes", "content_type",
              "attempts", "started_at", "elapsed_ms", "error_kind", "error")


def record_fetches(conn: duckdb.DuckDBPyConnection, run_id: str, results: Iterable[FetchResult]) -> int:
    rows = [
        (
            r.fetch_id, run_id, r.request.source, r.request.purpose, r.request.url, r.final_url,
            r.status_code, len(r.body), r.content_type, r.attempts, r.started_at, r.elapsed_ms,
            r.error_kind, r.error,
        )
        for r in results
    ]
    rows = list({r[0]: r for r in rows}.values())
    with transaction(conn):
        # fetch_id is minted per request: re-recording the same result (a retried task) is a no-op
        bulk_insert(conn, "fetches", FETCH_COLS, rows, "on conflict (fetch_id) do nothing")
    return len(rows)


def known_url_ids(conn: duckdb.DuckDBPyConnection, url_ids: Sequence[str]) -> set[str]:
    """The ids (hash of canonical URL) already stored as an article or one of its aliases."""
    if not url_ids:
        return set()
    rows = conn.execute(
        "select url_id from article_urls where url_id in (select unnest(?::varchar[]))", [list(url_ids)]
    ).fetchall()
    return {r[0] for r in rows}


def permanently_failed(conn: duckdb.DuckDBPyConnection, urls: Sequence[str], now: datetime | None = None) -> set[str]:
    if not urls:
        return set()
    since = (now or datetime.now(timezone.utc)) - timedelta(days=PERMANENT_FAILURE_DAYS)
    rows = conn.execute(
        "select distinct url from fetches where purpose = 'article' and started_at >= ? "
        "and url in (select unnest(?::varchar[])) "
        "and (error_kind in (select unnest(?::varchar[])) or status_code in (select unnest(?::integer[])))",
        [since, list(urls), list(PERMANENT_ERROR_KINDS), list(PERMANENT_STATUS)],
    ).fetchall()
    return {r[0] for r in rows}


ARTICLE_COLS = (
    "article_id", "url", "fetched_url", "source", "title", "author", "sitename", "published_at",
    "fetched_at", "lang", "text", "summary", "content_hash", "extraction_method", "word_count", "run_id",
)


def upsert_articles(conn: duckdb.DuckDBPyConnection, articles: Sequence[Article], run_id: str) -> tuple[int, int]:
    """Insert new articles, update changed ones; returns (inserted, updated). One transaction.

    Keyed by article_id (hash of the canonical URL): storing the same page twice, from a retry or
    from two feeds, leaves one row. Every URL that led to it is kept in article_urls.
    """
    unique: dict[str, Article] = {}
    for a in articles:
        unique.setdefault(a.article_id, a)
    if not unique:
        return 0, 0
    ids = list(unique)
    with transaction(conn):
        existing = dict(
            conn.execute(
                "select article_id, content_hash from articles where article_id in (select unnest(?::varchar[]))",
                [ids],
            ).fetchall()
        )
        fresh = [a for a in unique.values() if a.article_id not in existing]
        changed = [a for a in unique.values() if a.article_id in existing and existing[a.article_id] != a.content_hash]
        bulk_insert(conn, "articles", ARTICLE_COLS, [_article_row(a, run_id) for a in fresh],
                    "on conflict (article_id) do nothing")
        for a in changed:
            conn.execute(
                "update articles set title = ?, text = ?, content_hash = ?, extraction_method = ?, "
                "word_count = ?, updated_at = now() where article_id = ?",
                [a.title, a.text, a.content_hash, a.extraction_method, len(a.text.split()), a.article_id],
            )
        url_rows = {}
        for a in unique.values():
            for u in (a.url, *a.aliases):
                url_rows.setdefault(url_id(u), (url_id(u), u, a.article_id))
        bulk_insert(conn, "article_urls", ("url_id", "url", "article_id"), list(url_rows.values()),
                    "on conflict (url_id) do nothing")
    return len(fresh), len(changed)


def _article_row(a: Article, run_id: str) -> tuple:
    return (
        a.article_id, a.url, a.fetched_url, a.source, a.title, a.author, a.sitename, a.published_at,
        a.fetched_at, a.lang, a.text, a.summary, a.content_hash, a.extraction_method, len(a.text.split()), run_id,
    )
