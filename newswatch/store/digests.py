"""Digest storage and the exactly-once guard (tables digests, digest_items, sent_items).

The protocol for one subscriber's digest:
1. `select_pending` — matched articles with no sent_items row for this subscriber;
2. `claim` — one transaction: the digest row (status 'sending'), its digest_items, and a
   sent_items row (status 'claimed') per article. sent_items' primary key (subscriber,
   article_id) means an overlapping run either sees the claims and skips the articles, or its
   own claim fails at commit (DuckDB's optimistic concurrency) and it selects again;
3. after apprise answers: `mark_sent` (one transaction: claims -> 'sent', digest -> 'sent') or
   `release` (one transaction: claims deleted, digest -> 'failed' with the redacted reason).
A run that dies between 2 and 3 leaves claims that `release_stale` frees after a lease.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from newswatch.digest.model import Digest, DigestItem, SourceProblem
from newswatch.store.db import transaction

CANDIDATE_LIMIT = 2000  # per subscriber and run; folding is quadratic in this
SAMPLE_CHARS = 3000  # text read per article for duplicate detection
SILENT_AFTER_DAYS = 3.0  # a source with no new article for this long is reported as silent


class ClaimConflict(RuntimeError):
    """Another run claimed some of these articles first; select again."""


@dataclass(frozen=True, slots=True)
class DigestRecord:
    digest_id: str
    subscriber: str
    target: str  # redacted
    cadence: str
    created_at: datetime
    run_id: str | None = None


_PENDING_SQL = """
select t.article_id, a.url, a.source, a.title, t.topic, t.score, a.published_at, a.fetched_at,
       a.lang, t.terms, t.evidence, a.content_hash, left(a.text, ?) as text_sample
from article_topics as t
join articles as a on a.article_id = t.article_id
where t.is_match
  and t.score >= ?
  and (? or list_contains(?, t.topic))
  and coalesce(a.published_at, a.fetched_at) >= ?
  and not exists (
      select 1 from sent_items as s where s.subscriber = ? and s.article_id = t.article_id
  )
order by t.score desc, coalesce(a.published_at, a.fetched_at) desc, t.article_id
limit ?
"""


def _json_list(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    data = json.loads(value) if isinstance(value, str) else value
    return tuple(str(x) for x in data) if isinstance(data, list) else ()


def select_pending(
    conn: duckdb.DuckDBPyConnection,
    subscriber: str,
    topics: Sequence[str],
    all_topics: bool,
    min_score: float,
    not_before: datetime,
) -> list[DigestItem]:
    """One DigestItem per (article, topic) that matched and was never claimed for `subscriber`."""
    rows = conn.execute(
        _PENDING_SQL,
        [SAMPLE_CHARS, min_score, all_topics, list(topics), not_before, subscriber, CANDIDATE_LIMIT],
    ).fetchall()
    return [
        DigestItem(
            article_id=r[0], url=r[1], source=r[2], title=r[3], topic=r[4], score=float(r[5]),
            published_at=r[6], fetched_at=r[7], lang=r[8], terms=_json_list(r[9]),
            evidence=_json_list(r[10]), content_hash=r[11] or "", text_sample=r[12] or "",
        )
        for r in rows
    ]


def _item_rows(record: DigestRecord, digest: Digest) -> list[tuple]:
    """(digest_id, subscriber, article_id, topic, score, position, folded_into, is_listed)."""
    rows = []
    for pos, item in enumerate(digest.items, start=1):
        rows.append((record.digest_id, record.subscriber, item.article_id, item.topic, item.score, pos, None, True))
        rows += [(*_dup(record, d), item.article_id, True) for d in item.also]
    for item in digest.more:
        rows.append((record.digest_id, record.subscriber, item.article_id, item.topic, item.score, None, None, False))
        rows += [(*_dup(record, d), item.article_id, False) for d in item.also]
    return rows


def _dup(record: DigestRecord, item: DigestItem) -> tuple:
    return (record.digest_id, record.subscriber, item.article_id, item.topic, item.score, None)


def _insert_digest(conn: duckdb.DuckDBPyConnection, record: DigestRecord, digest: Digest, status: str) -> None:
    conn.execute(
        "insert into digests (digest_id, subscriber, target, cadence, created_at, status, n_items,"
        " n_folded, n_more, subject, run_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [record.digest_id, record.subscriber, record.target, record.cadence, record.created_at, status,
         digest.n_items, digest.n_folded, digest.n_more, digest.subject, record.run_id],
    )


def claim(conn: duckdb.DuckDBPyConnection, record: DigestRecord, digest: Digest) -> None:
    """Record the digest as 'sending' and claim its articles, all or nothing.

    Raises ClaimConflict when another run claimed any of them first (seen here, or detected by
    DuckDB at commit); nothing is written then.
    """
    rows = _item_rows(record, digest)
    ids = [r[2] for r in rows]
    try:
        # replay=False: on a lake a conflicting commit is not replayed (the `taken` check would be
        # stale); it fails, and the caller selects again, as with the file's primary key
        with transaction(conn, replay=False):
            taken = conn.execute(
                "select count(*) from sent_items where subscriber = ? and list_contains(?, article_id)",
                [record.subscriber, ids],
            ).fetchone()[0]
            if taken:
                raise ClaimConflict(f"{taken} article(s) already claimed for {record.subscriber}")
            _insert_digest(conn, record, digest, "sending")
            if rows:
                conn.executemany("insert into digest_items values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                # sent_items' primary key is the exactly-once guard: a concurrent claim of the
                # same (subscriber, article) fails at commit instead of sending twice.
                conn.executemany(
                    "insert into sent_items (subscriber, article_id, digest_id, status, claimed_at)"
                    " values (?, ?, ?, 'claimed', ?)",
                    [(record.subscriber, a, record.digest_id, record.created_at) for a in ids],
                )
    except (duckdb.TransactionException, duckdb.ConstraintException) as exc:
        raise ClaimConflict(f"concurrent claim for {record.subscriber}: {type(exc).__name__}") from None


def mark_sent(conn: duckdb.DuckDBPyConnection, digest_id: str, sent_at: datetime) -> None:
    """Apprise reported success: the claims become deliveries, in one transaction."""
    with transaction(conn):
        conn.execute(
            "update sent_items set status = 'sent', sent_at = ? where digest_id = ?", [sent_at, digest_id]
        )
        conn.execute(
            "update digests set status = 'sent', sent_at = ?, error = null where digest_id = ?",
            [sent_at, digest_id],
        )


def release(conn: duckdb.DuckDBPyConnection, digest_id: str, error: str, status: str = "failed") -> None:
    """The send failed: free the claims so the next run retries; keep the digest and its reason."""
    with transaction(conn):
        conn.execute("delete from sent_items where digest_id = ? and status = 'claimed'", [digest_id])
        conn.execute("update digests set status = ?, error = ? where digest_id = ?", [status, error, digest_id])


def record_empty(conn: duckdb.DuckDBPyConnection, record: DigestRecord, digest: Digest, status: str,
                 sent_at: datetime | None = None, error: str | None = None) -> None:
    """An empty digest (sent as "nothing new", skipped, or failed): one row, no items."""
    with transaction(conn):
        _insert_digest(conn, record, digest, status)
        conn.execute("update digests set sent_at = ?, error = ? where digest_id = ?", [sent_at, error, record.digest_id])


def release_stale(conn: duckdb.DuckDBPyConnection, now: datetime, lease_s: float) -> int:
    """Free claims of runs that died mid-send (older than the lease); returns digests freed.

    Whether such a digest reached the subscriber is unknown; releasing favours delivering an
    item twice over never delivering it (see docs/decisions.md).
    """
    cutoff = now - timedelta(seconds=lease_s)
    stale = [r[0] for r in conn.execute(
        "select digest_id from digests where status = 'sending' and created_at < ?", [cutoff]
    ).fetchall()]
    for digest_id in stale:
        release(conn, digest_id, "run ended while sending; delivery unknown", status="interrupted")
    return len(stale)


def last_digest_at(conn: duckdb.DuckDBPyConnection, subscriber: str) -> datetime | None:
    """When the subscriber's last digest was made (sent, or empty and skipped): the cadence's clock.

    `created_at` is the run's (injectable) clock; `sent_at` is the wall clock of apprise's answer.
    """
    row = conn.execute(
        "select max(created_at) from digests"
        " where subscriber = ? and status in ('sent', 'empty', 'skipped_empty')",
        [subscriber],
    ).fetchone()
    return row[0] if row else None


def source_problems(conn: duckdb.DuckDBPyConnection, since: datetime | None, now: datetime) -> list[SourceProblem]:
    """Sources failing (polled since `since` and still failing) or silent (no new article lately)."""
    failing = conn.execute(
        "select source, consecutive_failures, last_error, last_success_at from source_state"
        " where consecutive_failures > 0 and (? is null or last_polled_at >= ?) order by source",
        [since, since],
    ).fetchall()
    out = [
        SourceProblem(s, "failing", f"{n} failed poll{'s' if n != 1 else ''} in a row: {err or 'unknown error'}", ok)
        for s, n, err, ok in failing
    ]
    silent_cutoff = now - timedelta(days=SILENT_AFTER_DAYS)
    silent = conn.execute(
        "select s.source, max(a.first_seen_at) as newest from sources as s"
        " left join articles as a on a.source = s.source"
        " where s.is_enabled and s.first_seen_at < ?"
        " group by s.source having newest is null or newest < ? order by s.source",
        [silent_cutoff, silent_cutoff],
    ).fetchall()
    failing_names = {p.source for p in out}
    for source, newest in silent:
        if source not in failing_names:
            detail = f"no new article since {newest:%Y-%m-%d}" if newest else "no article yet"
            out.append(SourceProblem(source, "silent", detail, newest))
    return out
