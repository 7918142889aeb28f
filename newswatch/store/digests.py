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
from dataclasses import dataclass, replace
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


_ITEM_COLUMNS = "digest_id, subscriber, article_id, topic, score, position, folded_into, is_listed"


def _insert_items(conn: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    """digest_items rows and, for each, its story and kind (digest_item_stories)."""
    conn.executemany(f"insert into digest_items ({_ITEM_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?)",
                     [r[:8] for r in rows])
    conn.execute(
        "insert into digest_item_stories (digest_id, article_id, story_id, kind) select unnest(?::varchar[]),"
        " unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[])",
        [[r[0] for r in rows], [r[2] for r in rows], [r[8] for r in rows], [r[9] for r in rows]],
    )


def _item_rows(record: DigestRecord, digest: Digest) -> list[tuple]:
    """What the digest carried: listed items, their folded reports, update reports, and known
    reports (later reports of stories already sent: recorded as handled, not shown). Items
    beyond max_items are not recorded: they stay pending (the digest's `n_more` counts them).
    """
    rows = []
    sub, did = record.subscriber, record.digest_id

    def row(item: DigestItem, position, folded_into, listed, kind):
        return (did, sub, item.article_id, item.topic, item.score, position, folded_into, listed,
                item.story_id or None, kind)

    for pos, item in enumerate(digest.items, start=1):
        rows.append(row(item, pos, None, True, "listed"))
        rows += [row(d, None, item.article_id, True, "folded") for d in item.also]
    for update in digest.updates:
        rows += [row(r, None, None, True, "update") for r in update.reports]
    rows += [row(k, None, None, False, "known") for k in digest.known]
    return rows


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
                _insert_items(conn, rows)
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
    """An empty digest (sent as "nothing new", skipped, or failed): one row, no listed items.

    Known reports (later reports of stories already sent) are recorded as handled with it,
    unless it failed: then they stay pending like everything else.
    """
    rows = _item_rows(record, digest) if status != "failed" else []
    with transaction(conn):
        _insert_digest(conn, record, digest, status)
        conn.execute("update digests set sent_at = ?, error = ? where digest_id = ?", [sent_at, error, record.digest_id])
        if rows:
            _insert_items(conn, rows)
            conn.executemany(
                "insert into sent_items (subscriber, article_id, digest_id, status, claimed_at, sent_at)"
                " select ?, ?, ?, 'sent', ?, ? where not exists"
                " (select 1 from sent_items where subscriber = ? and article_id = ?)",
                [(record.subscriber, r[2], record.digest_id, record.created_at, sent_at or record.created_at,
                  record.subscriber, r[2]) for r in rows],
            )


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


# --- per-target delivery state ------------------------------------------------------------------

def delivered_to(conn: duckdb.DuckDBPyConnection, subscriber: str, target_key: str,
                 article_ids: Sequence[str]) -> set[str]:
    """Which of `article_ids` this target has already received (a succeeded target never gets them again)."""
    if not article_ids:
        return set()
    rows = conn.execute(
        "select article_id from target_items where subscriber = ? and target_key = ? and list_contains(?, article_id)",
        [subscriber, target_key, list(article_ids)],
    ).fetchall()
    return {r[0] for r in rows}


def record_delivery(conn: duckdb.DuckDBPyConnection, digest_id: str, subscriber: str, target_key: str,
                    target: str, status: str, article_ids: Sequence[str], at: datetime,
                    error: str | None = None) -> None:
    """One target's answer: its delivery row and, when it succeeded, what it now has (one transaction)."""
    with transaction(conn):
        conn.execute(
            "insert into digest_deliveries (digest_id, subscriber, target_key, target, status, n_items,"
            " attempted_at, error) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [digest_id, subscriber, target_key, target, status, len(article_ids), at, error],
        )
        if status == "sent" and article_ids:
            conn.execute(
                "insert into target_items (subscriber, target_key, article_id, digest_id, sent_at)"
                " select ?, ?, t.a, ?, ? from (select unnest(?::varchar[]) as a) as t where not exists"
                " (select 1 from target_items as x where x.subscriber = ? and x.target_key = ? and x.article_id = t.a)",
                [subscriber, target_key, digest_id, at, list(dict.fromkeys(article_ids)), subscriber, target_key],
            )


# --- stories --------------------------------------------------------------------------------------

_MEMBER_SQL = """
select sa.story_id, a.article_id, a.url, a.source, a.title, a.published_at, a.fetched_at,
       coalesce(sa.lang, a.lang), a.content_hash, left(a.text, ?)
from story_articles as sa
join articles as a on a.article_id = sa.article_id
join stories as s on s.story_id = sa.story_id
where s.last_seen_at >= ? and s.first_seen_at <= ?
order by s.last_seen_at desc
limit ?
"""
MEMBER_LIMIT = 3000  # stored reports compared with new ones; the window keeps this small
BACKGROUND_PER_SOURCE = 8  # other articles per source read to tell its page furniture


def story_of(conn: duckdb.DuckDBPyConnection, article_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """article_id -> (story_id, real language) for articles already assigned to a story."""
    if not article_ids:
        return {}
    rows = conn.execute(
        "select article_id, story_id, lang from story_articles where list_contains(?, article_id)",
        [list(article_ids)],
    ).fetchall()
    return {a: (s, lang) for a, s, lang in rows}


def _item_from(r: Sequence) -> DigestItem:
    return DigestItem(article_id=r[0], url=r[1], source=r[2], title=r[3], topic="", score=0.0,
                      published_at=r[4], fetched_at=r[5], lang=r[6], content_hash=r[7] or "",
                      text_sample=r[8] or "")


def story_members(conn: duckdb.DuckDBPyConnection, not_before: datetime, not_after: datetime
                  ) -> list[tuple[str, DigestItem]]:
    """(story_id, report) for stored stories seen between the two times."""
    rows = conn.execute(_MEMBER_SQL, [SAMPLE_CHARS, not_before, not_after, MEMBER_LIMIT]).fetchall()
    return [(r[0], replace(_item_from(r[1:]), story_id=r[0])) for r in rows]


def source_samples(conn: duckdb.DuckDBPyConnection, sources: Sequence[str], exclude: Sequence[str]
                   ) -> list[DigestItem]:
    """A few recent articles of each source, to tell the lines its template repeats."""
    if not sources:
        return []
    rows = conn.execute(
        "select article_id, url, source, title, published_at, fetched_at, lang, content_hash, left(text, ?)"
        " from articles where list_contains(?, source) and not list_contains(?, article_id)"
        " qualify row_number() over (partition by source order by first_seen_at desc) <= ?",
        [SAMPLE_CHARS, list(sources), list(exclude), BACKGROUND_PER_SOURCE],
    ).fetchall()
    return [_item_from(r) for r in rows]


def save_stories(conn: duckdb.DuckDBPyConnection, assigned: dict[str, tuple[str, str, str | None]],
                 titles: dict[str, str | None], now: datetime) -> None:
    """Store new story memberships {article_id: (story_id, how, lang)} and refresh the stories' facts.

    An article already assigned (by an overlapping run) keeps its story.
    """
    if not assigned:
        return
    ids = list(assigned)
    story_ids = sorted({s for s, _, _ in assigned.values()})
    with transaction(conn):
        # one statement each, the rows as list parameters (executemany costs ~1 ms a row here)
        conn.execute(
            "insert into story_articles (article_id, story_id, lang, how, joined_at)"
            " select t.a, t.s, t.l, t.h, ? from (select unnest(?::varchar[]) as a, unnest(?::varchar[]) as s,"
            " unnest(?::varchar[]) as l, unnest(?::varchar[]) as h) as t"
            " where not exists (select 1 from story_articles as x where x.article_id = t.a)",
            [now, ids, [assigned[a][0] for a in ids], [assigned[a][2] for a in ids], [assigned[a][1] for a in ids]],
        )
        conn.execute(
            "insert into stories (story_id, title, first_seen_at, last_seen_at, n_articles, sources, languages,"
            " created_at) select t.s, t.title, ?, ?, 0, [], [], ? from (select unnest(?::varchar[]) as s,"
            " unnest(?::varchar[]) as title) as t where not exists (select 1 from stories as x where x.story_id = t.s)",
            [now, now, now, story_ids, [titles.get(s) for s in story_ids]],
        )
        conn.execute(
            """
            update stories set
                first_seen_at = agg.first_seen, last_seen_at = agg.last_seen, n_articles = agg.n,
                sources = agg.sources, languages = agg.languages
            from (
                select sa.story_id, min(coalesce(a.published_at, a.fetched_at)) as first_seen,
                       max(coalesce(a.published_at, a.fetched_at)) as last_seen, count(*) as n,
                       list(distinct a.source order by a.source) as sources,
                       list(distinct coalesce(sa.lang, a.lang) order by coalesce(sa.lang, a.lang))
                           filter (where coalesce(sa.lang, a.lang) is not null) as languages
                from story_articles as sa join articles as a on a.article_id = sa.article_id
                where list_contains(?, sa.story_id)
                group by sa.story_id
            ) as agg
            where stories.story_id = agg.story_id
            """,
            [story_ids],
        )


@dataclass(frozen=True, slots=True)
class SentStory:
    story_id: str
    first_sent_at: datetime | None
    title: str | None
    url: str
    sources: frozenset[str]
    languages: frozenset[str]


def sent_stories(conn: duckdb.DuckDBPyConnection, subscriber: str, story_ids: Sequence[str]) -> dict[str, SentStory]:
    """The stories among `story_ids` this subscriber already received, with what they received of them."""
    if not story_ids:
        return {}
    rows = conn.execute(
        """
        select sa.story_id, min(d.created_at), arg_min(a.title, d.created_at), arg_min(a.url, d.created_at),
               list(distinct a.source), list(distinct coalesce(sa.lang, a.lang))
        from sent_items as si
        join digests as d on d.digest_id = si.digest_id
        join story_articles as sa on sa.article_id = si.article_id
        join articles as a on a.article_id = si.article_id
        where si.subscriber = ? and si.status = 'sent' and list_contains(?, sa.story_id)
        group by sa.story_id
        """,
        [subscriber, list(story_ids)],
    ).fetchall()
    return {
        r[0]: SentStory(r[0], r[1], r[2], r[3] or "", frozenset(x for x in r[4] if x), frozenset(x for x in r[5] if x))
        for r in rows
    }
