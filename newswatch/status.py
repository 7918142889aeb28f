"""Operations: how the pipeline is doing (`newswatch status`), what each source yields right now
(`newswatch sources check`), and the upkeep a run does after writing (`refresh_after_ingest`).

Plain functions: the connection, config and clock are arguments; the figures come from the SQL
views in sql/views/ (`runs_latest`, `source_health`, `subscriber_backlog`), so an analyst sees the
same numbers with `newswatch query`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from newswatch.config import AppConfig
from newswatch.config.alerts import AlertsFile
from newswatch.digest.cadence import describe
from newswatch.store import DatabaseBusyError, connect
from newswatch.store import fts
from newswatch.store import status as store

if TYPE_CHECKING:  # `status` must start fast: fetching and parsing are imported by `sources check` only
    from newswatch.ingest import SourcePoll

READ_WAIT_S = 10.0  # a reader retries this long while a run holds the file (runs last minutes)
READ_RETRY_S = 0.5


@dataclass(frozen=True, slots=True)
class StatusReport:
    runs: list[store.RunRow]
    sources: list[store.SourceRow]
    backlog: list[store.BacklogRow]
    index: fts.IndexState
    notes: list[str]


@dataclass(frozen=True, slots=True)
class SourceCheck:
    source: str
    configured_kind: str
    detected_kind: str  # what the parser recognised: rss, atom, sitemap, sitemapindex, html, …
    status_code: int | None
    items: int
    last_item_at: datetime | None
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors and self.items > 0


def connect_reader(path: str | Path, wait_s: float = READ_WAIT_S, sleep=time.sleep) -> duckdb.DuckDBPyConnection:
    """A read-only connection, retried while a run writes (DuckDB refuses readers then too)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return connect(path, read_only=True)
        except DatabaseBusyError:
            if time.monotonic() >= deadline:
                raise DatabaseBusyError(
                    f"{path}: a newswatch run is writing to this database (DuckDB lets no reader in "
                    f"meanwhile); still busy after {wait_s:g} s (fix: retry when the run has finished)"
                ) from None
            sleep(READ_RETRY_S)


def subscriber_rows(alerts: AlertsFile) -> list[store.SubscriberRow]:
    return [
        store.SubscriberRow(s.name, tuple(s.topics), s.min_score, s.max_age_days, describe(s.cadence))
        for s in alerts.subscribers
    ]


def refresh_after_ingest(conn: duckdb.DuckDBPyConnection, config: AppConfig) -> bool:
    """What a run does after writing: save the subscribers for the SQL views and rebuild the
    full-text index when `fts.should_rebuild` says so (the tail of articles added or changed since
    the last build is longer than `search_tail_max`, or an index exists and is older than
    `search_reindex_minutes`); searches tokenise the tail meanwhile. Call it on the run's
    writable connection, inside its writer lock. Returns True when the index was rebuilt."""
    store.save_subscribers(conn, subscriber_rows(config.alerts))
    settings = config.settings
    if fts.should_rebuild(fts.index_state(conn), settings.search_tail_max, settings.search_reindex_minutes,
                          dialect=getattr(conn, "dialect", None)):  # never in lake mode: fts cannot index it
        fts.rebuild_search_index(conn)
        return True
    fts.ensure_search_macro(conn)  # the SQL macro exists before the first build too (tail only)
    return False


def collect_status(conn: duckdb.DuckDBPyConnection, config: AppConfig | None, n_runs: int = 5) -> StatusReport:
    notes = []
    if config is not None and set(store.saved_subscribers(conn)) != set(subscriber_rows(config.alerts)):
        notes.append("alerts.yaml changed since the last run: pending counts follow the last run's subscribers")
    index = fts.index_state(conn)
    if index.tail and getattr(conn, "dialect", None) != "ducklake":  # fts cannot index a lake table
        rebuild = "by an ingest once past search_tail_max or search_reindex_minutes, or `newswatch search --reindex`"
        if index.built_at is None:
            notes.append(f"no search index yet: each search tokenises all {index.tail} articles (same ranking, "
                         f"more work) until the first build ({rebuild})")
        else:
            notes.append(f"search index covers {index.indexed} articles; {index.tail} added or changed since its "
                         f"build are tokenised by each search (same ranking, more work) until the next rebuild "
                         f"({rebuild})")
    return StatusReport(store.latest_runs(conn, n_runs), store.source_health(conn), store.subscriber_backlog(conn),
                        index, notes)


def _detect_kind(poll: SourcePoll) -> tuple[str, int | None]:
    from newswatch.models import ParsedSource  # noqa: PLC0415
    from newswatch.sources import discover_links, parse_feed, parse_sitemap  # noqa: PLC0415

    if not poll.results:
        return "", None
    res = poll.results[0]
    if not res.ok or not res.body:
        return "", res.status_code
    kind = poll.source.kind
    parsed: ParsedSource
    if kind == "rss":
        parsed = parse_feed(res.body, res.final_url, res.content_type, source=poll.source.name)
    elif kind == "sitemap":
        parsed = parse_sitemap(res.body, res.final_url, source=poll.source.name)
    else:
        parsed = discover_links(res.body, res.final_url, getattr(poll.source, "link_pattern", None))
    return parsed.kind or "unrecognised", res.status_code


def summarise_poll(poll: SourcePoll) -> SourceCheck:
    detected, code = _detect_kind(poll)
    errors = tuple(dict.fromkeys(e for e in [poll.error, *(r.error for r in poll.results)] if e))
    dates = [e.published_at for e in poll.entries if e.published_at]
    return SourceCheck(poll.source.name, poll.source.kind, detected, code, len(poll.entries),
                       max(dates) if dates else None, errors)


async def check_sources(config: AppConfig, names: list[str] | None = None,
                        on_done: Callable[[SourceCheck], None] | None = None,
                        now: datetime | None = None) -> list[SourceCheck]:
    """Fetch and parse each configured source once, unconditionally, storing nothing."""
    from newswatch.fetch import open_fetcher  # noqa: PLC0415
    from newswatch.ingest import poll_source  # noqa: PLC0415

    now = now or datetime.now(timezone.utc)
    sources = [s for s in config.sources.sources if names is None or s.name in names]

    async def one(fetcher, src) -> SourceCheck:
        check = summarise_poll(await poll_source(fetcher, src, None, config.settings, now))
        if on_done:
            on_done(check)
        return check

    async with open_fetcher(config.settings) as fetcher:
        return list(await asyncio.gather(*(one(fetcher, s) for s in sources)))
