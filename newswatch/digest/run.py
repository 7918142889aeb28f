"""One digest per subscriber: select → fold → render → claim → send → record.

`run_digests` is what `newswatch digest`, `newswatch run` (after ingest) and the Prefect flow
call. The connection, clock, environment, secret loader and sender are arguments, so tests pass
real ones pointed at 127.0.0.1 and tmp_path.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from newswatch import notify
from newswatch.config.alerts import AlertsFile, DailyCadence, Subscriber, WeeklyCadence
from newswatch.digest.cadence import describe, is_due
from newswatch.digest.fold import select_items
from newswatch.digest.model import Digest, RenderedDigest, SubscriberResult
from newswatch.digest.render import render_all, subject_for
from newswatch.store import digests as store

log = logging.getLogger("newswatch.digest")

CLAIM_LEASE_S = 3600  # a send never takes an hour (apprise times out in ~minutes); older claims are orphans
CLAIM_ATTEMPTS = 3  # re-select after losing a race with an overlapping run

Sender = Callable[[Sequence[str], str, RenderedDigest], notify.SendResult]
SecretLoader = Callable[[str], str]


def build_digest(conn: duckdb.DuckDBPyConnection, sub: Subscriber, now: datetime) -> Digest:
    """Select this subscriber's pending items and shape them into a Digest (reads only)."""
    rows = store.select_pending(
        conn, sub.name, sub.topics, sub.all_topics, sub.min_score or 0.0, now - timedelta(days=sub.max_age_days)
    )
    order = [t for t in sub.topics if t != "*"]
    sections, more = select_items(rows, order, sub.max_items)
    since = store.last_digest_at(conn, sub.name)
    n_listed = sum(len(s.items) for s in sections)
    tz = sub.cadence.tz if isinstance(sub.cadence, DailyCadence | WeeklyCadence) else "UTC"
    return Digest(
        subscriber=sub.name,
        subject=subject_for(sub.subject, n_listed, [s.topic for s in sections]),
        created_at=now,
        sections=sections,
        more=more,
        problems=tuple(store.source_problems(conn, since, now)),
        since=since,
        tz=tz,
    )


def _result(sub: Subscriber, status: str, target: str, digest: Digest | None = None, digest_id: str | None = None,
            error: str | None = None) -> SubscriberResult:
    counts = (digest.n_items, digest.n_folded, digest.n_more) if digest else (0, 0, 0)
    return SubscriberResult(sub.name, status, target, digest_id, *counts, error=error)


def _claim_digest(conn, sub: Subscriber, now: datetime, target: str, run_id: str | None):
    """Build and claim, re-selecting when an overlapping run claimed some items first."""
    for _ in range(CLAIM_ATTEMPTS):
        digest = build_digest(conn, sub, now)
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
        if sub.cadence.kind != "instant":  # the row is the cadence's clock; instant needs none
            store.record_empty(conn, record, digest, "skipped_empty")
        return _result(sub, "skipped_empty", target, digest, record.digest_id)
    result = send(urls, digest.subject, render_all(digest))
    if result.ok:
        store.record_empty(conn, record, digest, "empty", sent_at=_utcnow())
        return _result(sub, "empty", target, digest, record.digest_id)
    store.record_empty(conn, record, digest, "failed", error=result.error)
    return _result(sub, "failed", target, digest, record.digest_id, result.error)


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
) -> SubscriberResult:
    urls, problems = notify.resolve_urls(sub.url_env, sub.url_secret, env, load_secret)
    target = notify.describe_target(sub.url_env, sub.url_secret, urls)
    if only_due and not is_due(sub.cadence, store.last_digest_at(conn, sub.name), now):
        return _result(sub, "not_due", target)
    if problems or not urls:
        error = "; ".join(problems) or "no notification URL"
        return _record_unsendable(conn, sub, now, target, run_id, error)
    digest, record = _claim_digest(conn, sub, now, target, run_id)
    if record is None:
        return _empty_digest(conn, sub, digest, target, urls, send, now, run_id)
    try:
        result = send(urls, digest.subject, render_all(digest))
    except BaseException as exc:  # anything but an answer from apprise: free the claims, re-raise
        store.release(conn, record.digest_id, notify.redact_text(f"{type(exc).__name__}: {exc}", urls))
        raise
    if result.ok:
        store.mark_sent(conn, record.digest_id, _utcnow())
        return _result(sub, "sent", target, digest, record.digest_id)
    store.release(conn, record.digest_id, result.error or "send failed")
    log.warning("digest for %s not delivered (%s): %s", sub.name, target, result.error)
    return _result(sub, "failed", target, digest, record.digest_id, result.error)


def _record_unsendable(conn, sub: Subscriber, now: datetime, target: str, run_id: str | None,
                       error: str) -> SubscriberResult:
    """No usable URL: record the failure (nothing is claimed, so everything stays pending)."""
    digest = build_digest(conn, sub, now)
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
) -> list[SubscriberResult]:
    """Send every (selected) subscriber's pending items now; `only_due` honours cadences.

    One subscriber's failure is recorded and never stops the others.
    """
    now = now or _utcnow()
    store.release_stale(conn, now, CLAIM_LEASE_S)
    results = []
    for sub in _selected(alerts, subscribers):
        try:
            results.append(digest_subscriber(conn, sub, now, send=send, env=env, load_secret=load_secret,
                                             only_due=only_due, run_id=run_id))
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
        rendered = render_all(build_digest(conn, sub, now))
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
    lines = ["| subscriber | status | items | folded | more | target | error |", "|---|---|---|---|---|---|---|"]
    for r in results:
        cells = [r.subscriber, r.status, str(r.n_items), str(r.n_folded), str(r.n_more), r.target, r.error or ""]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)
