"""One digest per subscriber: select → fold → render → claim → send → record.

`run_digests` is what `newswatch digest`, `newswatch run` (after ingest) and the Prefect flow
call. The connection, clock, environment, secret loader and sender are arguments, so tests pass
real ones pointed at 127.0.0.1 and tmp_path.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from newswatch import notify
from newswatch.config.alerts import AlertsFile, DailyCadence, Subscriber, WeeklyCadence
from newswatch.digest.cadence import describe, is_due
from newswatch.digest import stories
from newswatch.digest.fold import best_topic_per_article, select_items
from newswatch.digest.model import Digest, DigestItem, RenderedDigest, StoryUpdate, SubscriberResult
from newswatch.digest.render import CHAT_MAX_CHARS, render_all, subject_for
from newswatch.store import digests as store

log = logging.getLogger("newswatch.digest")

CLAIM_LEASE_S = 3600  # a send never takes an hour (apprise times out in ~minutes); older claims are orphans
CLAIM_ATTEMPTS = 3  # re-select after losing a race with an overlapping run
STORY_LOOKBACK_DAYS = 14  # stored stories seen this close to a new report are compared with it

Sender = Callable[[Sequence[str], str, RenderedDigest], notify.SendResult]
SecretLoader = Callable[[str], str]


def build_digest(conn: duckdb.DuckDBPyConnection, sub: Subscriber, now: datetime, *,
                 topic_titles: Mapping[str, str] | None = None, save_stories: bool = False) -> Digest:
    """Select this subscriber's pending items and shape them into a Digest.

    Stories: pending articles without a stored story are assigned one (stored when
    `save_stories`; a preview only computes them). An article whose story this subscriber
    already received is not new: it becomes an update line (`updates: true` and it adds a
    source or language) or a known report, recorded with the digest and never shown.
    """
    rows = store.select_pending(
        conn, sub.name, sub.topics, sub.all_topics, sub.min_score or 0.0, now - timedelta(days=sub.max_age_days)
    )
    rows = _with_stories(conn, rows, now, save_stories)
    sent = store.sent_stories(conn, sub.name, sorted({r.story_id for r in rows if r.story_id}))
    fresh = [r for r in rows if r.story_id not in sent]
    later = [r for r in rows if r.story_id in sent]
    order = [t for t in sub.topics if t != "*"]
    titles = dict(topic_titles or {})
    sections, more = select_items(fresh, order, sub.max_items, titles)
    updates, known = _updates(later, sent, order, sub.updates)
    since = store.last_digest_at(conn, sub.name)
    tz = sub.cadence.tz if isinstance(sub.cadence, DailyCadence | WeeklyCadence) else "UTC"
    digest = Digest(
        subscriber=sub.name,
        subject="",
        created_at=now,
        sections=sections,
        more=more,
        updates=updates,
        known=known,
        problems=tuple(store.source_problems(conn, since, now)),
        since=since,
        tz=tz,
    )
    return replace(digest, subject=subject_for(sub.subject, digest))


def _with_stories(conn, rows: list[DigestItem], now: datetime, save: bool) -> list[DigestItem]:
    """Each row with its story id and the real language of its article."""
    if not rows:
        return rows
    known = store.story_of(conn, sorted({r.article_id for r in rows}))
    todo = [r for r in rows if r.article_id not in known]
    if todo:
        dates = [r.date for r in todo if r.date is not None] or [now]
        window = timedelta(days=STORY_LOOKBACK_DAYS)
        members = store.story_members(conn, min(dates) - window, max(dates) + window)
        background = store.source_samples(conn, sorted({r.source for r in todo}), [r.article_id for r in todo])
        assigned = stories.assign(todo, members, background)
        if save:
            titles = {a: next((r.title for r in todo if r.article_id == a), None) for a in {s for s, _, _ in assigned.values()}}
            titles = {s: t or next((m.title for sid, m in members if sid == s), None) for s, t in titles.items()}
            try:
                store.save_stories(conn, assigned, titles, now)
            except (duckdb.TransactionException, duckdb.ConstraintException) as exc:
                # an overlapping run stored stories for some of these first: theirs stand (read below)
                log.info("stories: concurrent assignment (%s); using the stored ones", type(exc).__name__)
            assigned = {**assigned, **{a: (s, "", lang) for a, (s, lang) in store.story_of(conn, list(assigned)).items()}}
        known |= {a: (s, lang) for a, (s, _, lang) in assigned.items()}
    return [replace(r, story_id=known[r.article_id][0], lang=known[r.article_id][1] or r.lang) for r in rows]


def _updates(later: list[DigestItem], sent: Mapping[str, store.SentStory], order: list[str],
             show: bool) -> tuple[tuple[StoryUpdate, ...], tuple[DigestItem, ...]]:
    """Later reports of already-sent stories -> (update lines, reports recorded but not shown)."""
    updates, known = [], []
    by_story: dict[str, list[DigestItem]] = {}
    for item in best_topic_per_article(later, order):
        by_story.setdefault(item.story_id, []).append(item)
    for story_id, items in by_story.items():
        story = sent[story_id]
        fresh, seen_sources, seen_langs = [], set(story.sources), set(story.languages)
        for item in items:  # best-ranked first; one report per new source or language
            if item.source not in seen_sources or (item.lang and item.lang not in seen_langs):
                fresh.append(item)
                seen_sources.add(item.source)
                seen_langs.add(item.lang)
        if show and fresh:
            updates.append(StoryUpdate(story_id, story.title, story.url, story.first_sent_at, tuple(fresh), fresh[0].topic))
            known += [i for i in items if i not in fresh]
        else:
            known += items
    return tuple(updates), tuple(known)


def _result(sub: Subscriber, status: str, target: str, digest: Digest | None = None, digest_id: str | None = None,
            error: str | None = None, targets: tuple[tuple[str, str], ...] = ()) -> SubscriberResult:
    counts = (digest.n_items, digest.n_folded, digest.n_more) if digest else (0, 0, 0)
    return SubscriberResult(sub.name, status, target, digest_id, *counts, error=error,
                            n_updates=digest.n_updates if digest else 0, targets=targets)


def _claim_digest(conn, sub: Subscriber, now: datetime, target: str, run_id: str | None, titles):
    """Build and claim, re-selecting when an overlapping run claimed some items first."""
    for _ in range(CLAIM_ATTEMPTS):
        digest = build_digest(conn, sub, now, topic_titles=titles, save_stories=True)
        if digest.is_empty:
            return digest, None
        record = store.DigestRecord(uuid.uuid4().hex, sub.name, target, describe(sub.cadence), now, run_id)
        try:
            store.claim(conn, record, digest)
            return digest, record
        except store.ClaimConflict as exc:
            log.info("digest %s: %s; selecting again", sub.name, exc)
    raise store.ClaimConflict(f"{sub.name}: items kept being claimed by another run")


def _empty_digest(conn, sub: Subscriber, digest: Digest, target: str, urls: Sequence[str], send: Sender,
                  now: datetime, run_id: str | None) -> SubscriberResult:
    record = store.DigestRecord(uuid.uuid4().hex, sub.name, target, describe(sub.cadence), now, run_id)
    if not sub.send_empty:
        # the row is the cadence's clock (instant needs none) and records known reports as handled
        if sub.cadence.kind != "instant" or digest.known:
            store.record_empty(conn, record, digest, "skipped_empty")
        return _result(sub, "skipped_empty", target, digest, record.digest_id)
    result = send(urls, digest.subject, render_all(digest, more_url=sub.more_url))
    if result.ok:
        store.record_empty(conn, record, digest, "empty", sent_at=_utcnow())
        return _result(sub, "empty", target, digest, record.digest_id)
    store.record_empty(conn, record, digest, "failed", error=result.error)
    return _result(sub, "failed", target, digest, record.digest_id, result.error)


def article_ids(digest: Digest) -> list[str]:
    """Every article a digest delivers: listed items, their folded reports, update reports."""
    ids = []
    for item in digest.items:
        ids += [item.article_id, *(d.article_id for d in item.also)]
    for update in digest.updates:
        ids += [r.article_id for r in update.reports]
    return ids


def for_target(digest: Digest, delivered: set[str], subject_base: str) -> Digest:
    """The digest as one target gets it: without the stories (and updates) it already received."""
    if not delivered:
        return digest
    sections = tuple(
        replace(s, items=kept)
        for s in digest.sections
        if (kept := tuple(i for i in s.items if i.article_id not in delivered))
    )
    updates = tuple(u for u in digest.updates if not any(r.article_id in delivered for r in u.reports))
    out = replace(digest, sections=sections, updates=updates)
    return replace(out, subject=subject_for(subject_base, out))


def _deliver(conn, sub: Subscriber, digest: Digest, record: store.DigestRecord, targets: Sequence[notify.Target],
             send: Sender) -> list[tuple[notify.Target, str, str | None]]:
    """Send each target what it has not received yet; record each answer as it comes."""
    outcomes = []
    ids = article_ids(digest)
    for target in targets:
        delivered = store.delivered_to(conn, sub.name, target.key, ids)
        mine = for_target(digest, delivered, sub.subject)
        mine_ids = [a for a in ids if a not in delivered]
        if not mine_ids:
            store.record_delivery(conn, record.digest_id, sub.name, target.key, target.label, "skipped", [],
                                  _utcnow())
            outcomes.append((target, "skipped", None))
            continue
        try:
            limit = notify.chat_limit(target.url, CHAT_MAX_CHARS)
            result = send([target.url], mine.subject, render_all(mine, limit, more_url=sub.more_url))
        except BaseException as exc:  # anything but an answer from apprise: record it, free the claims
            error = notify.redact_text(f"{type(exc).__name__}: {exc}", [target.url])
            store.record_delivery(conn, record.digest_id, sub.name, target.key, target.label, "failed", mine_ids,
                                  _utcnow(), error)
            raise
        status = "sent" if result.ok else "failed"
        error = None if result.ok else (result.error or "send failed")
        store.record_delivery(conn, record.digest_id, sub.name, target.key, target.label, status, mine_ids,
                              _utcnow(), error)
        outcomes.append((target, status, error))
    return outcomes


def digest_subscriber(
    conn: duckdb.DuckDBPyConnection,
    sub: Subscriber,
    now: datetime,
    *,
    send: Sender = notify.send,
    env: Mapping[str, str] | None = None,
    load_secret: SecretLoader | None = None,
    only_due: bool = False,
    run_id: str | None = None,
    topic_titles: Mapping[str, str] | None = None,
) -> SubscriberResult:
    """One subscriber's digest, delivered to each target (URL, or email recipient) once.

    A target that succeeded records what it received and never gets those items again; when
    any target failed, the claims are released, so the next run retries — only for the targets
    that still lack the items.
    """
    urls, problems = notify.resolve_urls(sub.url_env, sub.url_secret, env, load_secret)
    target = notify.describe_target(sub.url_env, sub.url_secret, urls)
    if only_due and not is_due(sub.cadence, store.last_digest_at(conn, sub.name), now):
        return _result(sub, "not_due", target)
    if problems or not urls:
        error = "; ".join(problems) or "no notification URL"
        return _record_unsendable(conn, sub, now, target, run_id, error, topic_titles)
    digest, record = _claim_digest(conn, sub, now, target, run_id, topic_titles)
    if record is None:
        return _empty_digest(conn, sub, digest, target, urls, send, now, run_id)
    try:
        outcomes = _deliver(conn, sub, digest, record, notify.expand_targets(urls), send)
    except BaseException as exc:
        store.release(conn, record.digest_id, notify.redact_text(f"{type(exc).__name__}: {exc}", urls))
        raise
    states = tuple((t.label, status) for t, status, _ in outcomes)
    failed = [(t, e) for t, status, e in outcomes if status == "failed"]
    if not failed:
        store.mark_sent(conn, record.digest_id, _utcnow())
        return _result(sub, "sent", target, digest, record.digest_id, targets=states)
    error = (failed[0][1] if len(outcomes) == 1 else "; ".join(f"{t.label}: {e}" for t, e in failed))[:1000]
    partial = len(failed) < len(outcomes)
    store.release(conn, record.digest_id, error, status="partial" if partial else "failed")
    log.warning("digest for %s not delivered to %d of %d target(s): %s", sub.name, len(failed), len(outcomes), error)
    if partial:
        error = f"delivered to {len(outcomes) - len(failed)} of {len(outcomes)} targets; {error}"[:1000]
    return _result(sub, "failed", target, digest, record.digest_id, error, states)


def _record_unsendable(conn, sub: Subscriber, now: datetime, target: str, run_id: str | None,
                       error: str, titles=None) -> SubscriberResult:
    """No usable URL: record the failure (nothing is claimed, so everything stays pending)."""
    digest = build_digest(conn, sub, now, topic_titles=titles)
    record = store.DigestRecord(uuid.uuid4().hex, sub.name, target, describe(sub.cadence), now, run_id)
    store.record_empty(conn, record, digest, "failed", error=error)
    log.warning("digest for %s not sent: %s", sub.name, error)
    return _result(sub, "failed", target, digest, record.digest_id, error)


def run_digests(
    conn: duckdb.DuckDBPyConnection,
    alerts: AlertsFile,
    *,
    now: datetime | None = None,
    send: Sender = notify.send,
    env: Mapping[str, str] | None = None,
    load_secret: SecretLoader | None = None,
    only_due: bool = False,
    subscribers: Sequence[str] | None = None,
    run_id: str | None = None,
    topic_titles: Mapping[str, str] | None = None,
) -> list[SubscriberResult]:
    """Send every (selected) subscriber's pending items now; `only_due` honours cadences.

    `topic_titles` ({topic name: title} from topics.yaml) gives the sections their headings.

    One subscriber's failure is recorded and never stops the others.
    """
    now = now or _utcnow()
    store.release_stale(conn, now, CLAIM_LEASE_S)
    results = []
    for sub in _selected(alerts, subscribers):
        try:
            results.append(digest_subscriber(conn, sub, now, send=send, env=env, load_secret=load_secret,
                                             only_due=only_due, run_id=run_id, topic_titles=topic_titles))
        except store.ClaimConflict as exc:
            results.append(SubscriberResult(sub.name, "failed", error=str(exc)))
    return results


def preview_digests(
    conn: duckdb.DuckDBPyConnection,
    alerts: AlertsFile,
    out: str | Path,
    *,
    now: datetime | None = None,
    subscribers: Sequence[str] | None = None,
    topic_titles: Mapping[str, str] | None = None,
) -> list[Path]:
    """Render each subscriber's pending digest to files; sends nothing, records nothing.

    One subscriber: `out` itself; several: `out` with `-<name>` before the suffix. The plain text
    and chat forms go next to each HTML file (`.txt`, `.chat.md`).
    """
    now = now or _utcnow()
    out = Path(out)
    subs = _selected(alerts, subscribers)
    written = []
    for sub in subs:
        path = out if len(subs) == 1 else out.with_name(f"{out.stem}-{sub.name}{out.suffix or '.html'}")
        rendered = render_all(build_digest(conn, sub, now, topic_titles=topic_titles), more_url=sub.more_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered.html, encoding="utf-8")
        path.with_suffix(".txt").write_text(rendered.text, encoding="utf-8")
        path.with_suffix(".chat.md").write_text(rendered.chat, encoding="utf-8")
        written.append(path)
    return written


def _selected(alerts: AlertsFile, names: Sequence[str] | None) -> list[Subscriber]:
    if not names:
        return list(alerts.subscribers)
    unknown = set(names) - {s.name for s in alerts.subscribers}
    if unknown:
        raise KeyError(f"unknown subscriber(s): {', '.join(sorted(unknown))} (fix: use a name from alerts.yaml)")
    return [s for s in alerts.subscribers if s.name in names]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def summarize(results: Sequence[SubscriberResult]) -> str:
    """A markdown table of what happened (redacted targets only) for logs and Prefect artifacts."""
    lines = ["| subscriber | status | items | folded | more | target | error | updates | per target |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        per_target = ", ".join(f"{label}: {status}" for label, status in r.targets)
        cells = [r.subscriber, r.status, str(r.n_items), str(r.n_folded), str(r.n_more), r.target, r.error or "",
                 str(r.n_updates), per_target]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)
