"""Reads behind `newswatch status` (the views in sql/views/ hold the figures) and the one write
it depends on: saving alerts.yaml's subscribers so SQL can see who wants what."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from newswatch.store.db import transaction


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    subscriber: str
    topics: tuple[str, ...]
    min_score: float | None
    max_age_days: float
    cadence: str


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    flow: str
    started_at: datetime
    status: str
    seconds: float | None
    stats: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class SourceRow:
    source: str
    kind: str
    status: str  # ok | degraded | failing | failing since first run | silent | never polled | disabled
    last_success_at: datetime | None
    consecutive_failures: int
    articles_7d: int
    weekly_norm_28d: float  # articles in the last 28 days / 4
    last_article_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class BacklogRow:
    subscriber: str
    cadence: str
    pending_items: int
    oldest_pending_at: datetime | None
    last_digest_at: datetime | None
    failed_7d: int


def save_subscribers(conn: duckdb.DuckDBPyConnection, rows: Sequence[SubscriberRow]) -> None:
    """Replace the saved subscribers with these, in one transaction.

    Idempotent: the table is a copy of alerts.yaml, so saving the same config twice leaves it
    unchanged, and a subscriber removed from the file disappears from it.
    """
    with transaction(conn):
        conn.execute("delete from subscribers")
        if rows:
            conn.executemany(
                "insert into subscribers (subscriber, topics, min_score, max_age_days, cadence)"
                " values (?, ?, ?, ?, ?)",
                [(r.subscriber, list(r.topics), r.min_score, r.max_age_days, r.cadence) for r in rows],
            )


def saved_subscribers(conn: duckdb.DuckDBPyConnection) -> list[SubscriberRow]:
    rows = conn.execute(
        "select subscriber, topics, min_score, max_age_days, cadence from subscribers order by subscriber"
    ).fetchall()
    return [SubscriberRow(s, tuple(t), m, a, c) for s, t, m, a, c in rows]


def latest_runs(conn: duckdb.DuckDBPyConnection, limit: int = 5) -> list[RunRow]:
    rows = conn.execute(
        "select run_id, flow, started_at, status, seconds, stats::varchar, error from runs_latest limit ?", [limit]
    ).fetchall()
    return [RunRow(*r) for r in rows]


def source_health(conn: duckdb.DuckDBPyConnection) -> list[SourceRow]:
    rows = conn.execute(
        "select source, kind, status, last_success_at, coalesce(consecutive_failures, 0), articles_7d,"
        " weekly_norm_28d, last_article_at, last_error from source_health order by source"
    ).fetchall()
    return [SourceRow(*r) for r in rows]


def subscriber_backlog(conn: duckdb.DuckDBPyConnection) -> list[BacklogRow]:
    rows = conn.execute(
        "select subscriber, cadence, pending_items, oldest_pending_at, last_digest_at, failed_7d"
        " from subscriber_backlog"
    ).fetchall()
    return [BacklogRow(*r) for r in rows]
