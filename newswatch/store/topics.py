"""article_topics: one row per (article, topic), the latest score with the version that made it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from newswatch.models import TopicMatch
from newswatch.store.db import bulk_insert, transaction

RESCORE_BATCH = 500  # articles read per query: bounded memory on a large archive

# Idempotent: the key is (article_id, topic); re-scoring replaces the row, so running a batch twice
# leaves the table as running it once (scored_at moves only when something changed: callers upsert
# the changed rows, see `changed_rows`).
_COLUMNS = ("article_id", "topic", "score", "is_match", "terms", "evidence", "details", "classifier_version",
            "scored_at")
_ON_CONFLICT = """
on conflict (article_id, topic) do update set
    score = excluded.score,
    is_match = excluded.is_match,
    terms = excluded.terms,
    evidence = excluded.evidence,
    details = excluded.details,
    classifier_version = excluded.classifier_version,
    scored_at = excluded.scored_at
"""


@dataclass(frozen=True, slots=True)
class TopicRow:
    article_id: str
    match: TopicMatch
    classifier_version: str


@dataclass(frozen=True, slots=True)
class StoredArticle:
    article_id: str
    title: str | None
    text: str
    lang: str | None


def upsert_topic_matches(
    conn: duckdb.DuckDBPyConnection, rows: Iterable[TopicRow], scored_at: datetime | None = None
) -> int:
    """Write rows in one transaction; returns how many were written."""
    when = scored_at or datetime.now(UTC)
    latest = {(r.article_id, r.match.topic): r for r in rows}  # one statement may not hit a key twice
    params = [_params(r, when) for r in latest.values()]
    if params:
        with transaction(conn):
            bulk_insert(conn, "article_topics", _COLUMNS, params, _ON_CONFLICT)
    return len(params)


def _params(r: TopicRow, when: datetime) -> list:
    m = r.match
    return [
        r.article_id, m.topic, float(m.score), bool(m.matched),
        json.dumps(list(m.terms), ensure_ascii=False),
        json.dumps(list(m.evidence), ensure_ascii=False),
        json.dumps(m.details, ensure_ascii=False, default=str),
        r.classifier_version, when,
    ]


def articles_for_rescoring(
    conn: duckdb.DuckDBPyConnection, article_ids: Iterable[str] | None = None, batch: int = RESCORE_BATCH
) -> Iterator[list[StoredArticle]]:
    """Stored articles in batches (all, or the given ids), oldest first."""
    sql = "select article_id, title, text, lang from articles"
    args: list = []
    if article_ids is not None:
        ids = list(article_ids)
        for i in range(0, len(ids), batch):
            # on `conn` itself: the ingest batch that just wrote these articles has not committed
            # yet, and a cursor is a separate DuckDB connection that cannot see them
            rows = conn.execute(sql + " where article_id in (select unnest(?::varchar[])) order by article_id",
                                [ids[i : i + batch]]).fetchall()
            if rows:
                yield [StoredArticle(*row) for row in rows]
        return
    cursor = conn.cursor()  # its own cursor: the caller writes on `conn` between batches
    cursor.execute(sql + " order by first_seen_at, article_id", args)
    while chunk := cursor.fetchmany(batch):
        yield [StoredArticle(*row) for row in chunk]


def stored_scores(
    conn: duckdb.DuckDBPyConnection, article_ids: list[str], topics: Iterable[str] | None = None
) -> dict[tuple[str, str], tuple]:
    """(article_id, topic) -> (score, is_match, classifier_version, terms, evidence) as stored."""
    if not article_ids:
        return {}
    sql = (
        "select article_id, topic, score, is_match, classifier_version, terms, evidence from article_topics"
        " where article_id in (select unnest(?::varchar[]))"
    )
    args: list = [article_ids]
    if topics is not None:
        sql += " and topic in (select unnest(?::varchar[]))"
        args.append(list(topics))
    out = {}
    for aid, topic, score, is_match, version, terms, evidence in conn.execute(sql, args).fetchall():
        out[(aid, topic)] = (round(score, 4), is_match, version, tuple(json.loads(terms or "[]")), tuple(json.loads(evidence or "[]")))
    return out


def changed_rows(rows: Iterable[TopicRow], stored: dict[tuple[str, str], tuple]) -> list[TopicRow]:
    """Rows whose score, decision, version, terms or evidence differ from what is stored (or new)."""
    out = []
    for r in rows:
        m = r.match
        now = (round(m.score, 4), m.matched, r.classifier_version, tuple(m.terms), tuple(m.evidence))
        if stored.get((r.article_id, m.topic)) != now:
            out.append(r)
    return out


def count_topic_rows(conn: duckdb.DuckDBPyConnection, topic: str | None = None) -> int:
    if topic is None:
        return conn.execute("select count(*) from article_topics").fetchone()[0]
    return conn.execute("select count(*) from article_topics where topic = ?", [topic]).fetchone()[0]
