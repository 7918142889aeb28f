"""The ingest stage's plain functions, composed by `flows/ingest.py`.

poll sources → select entries not seen before → fetch pages and extract them (extraction runs in
worker processes while further pages download) → store the batch in one transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from newswatch.config import SourceConfig
from newswatch.config.settings import Settings
from newswatch.extract import ExtractFailure, ExtractJob
from newswatch.fetch import Fetcher
from newswatch.models import (
    Article, FeedEntry, FetchRequest, FetchResult, ParsedSource, RunSummary, SourceRunStats, TopicMatch,
)
from newswatch.pipeline import PagePool, PageResult, process_page
from newswatch.sources import discover_links, parse_feed, parse_sitemap
from newswatch.store.ingest import (
    PERMANENT_ERROR_KINDS, PERMANENT_STATUS, SourceState, known_url_ids, permanently_failed,
)
from newswatch.urls import InvalidURL, canonicalize_url, host_of, url_id

MAX_CHILD_SITEMAPS = 10  # per source and run: an index of thousands of sitemaps is an archive
MAX_SITEMAP_DEPTH = 2  # index -> sitemap; deeper nesting is almost always a loop
MAX_SITEMAP_ENTRIES = 50_000  # per source and run: ten full children would be 500,000 entries (~2 s each)


@dataclass(frozen=True, slots=True)
class SourcePoll:
    source: SourceConfig
    results: tuple[FetchResult, ...]
    entries: tuple[FeedEntry, ...] = ()
    error: str | None = None
    not_modified: bool = False
    state: SourceState | None = None  # the state to save after this poll


@dataclass(frozen=True, slots=True)
class Selection:
    requests: tuple[FetchRequest, ...]
    seen: dict[str, int] = field(default_factory=dict)  # per source
    skipped: tuple[tuple[str, str, str], ...] = ()  # (source, url, reason)
    capped: frozenset[str] = frozenset()  # sources that left new entries for a later run (max_items)


@dataclass(frozen=True, slots=True)
class BatchResult:
    articles: tuple[Article, ...]
    results: tuple[FetchResult, ...]
    failures: tuple[tuple[str, str, str], ...]  # (source, url, reason)
    matches: tuple[tuple[str, tuple[TopicMatch, ...]], ...] = ()  # (article_id, one match per topic)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a stored batch leaves for the run report: no page bodies or texts, so a run's memory
    does not grow with the number of articles it stores."""

    new_sources: tuple[str, ...]  # the source of each article stored
    failures: tuple[tuple[str, str, str], ...]  # (source, url, reason)
    retry_sources: frozenset[str] = frozenset()  # sources with an article worth trying again

    @classmethod
    def of(cls, batch: BatchResult) -> BatchOutcome:
        retry = frozenset(r.request.source for r in batch.results if r.error_kind and not is_permanent_failure(r))
        return cls(tuple(a.source for a in batch.articles), batch.failures, retry)


def is_permanent_failure(res: FetchResult) -> bool:
    """A failure the next run would meet again (404, not HTML, too large, blocked, ...)."""
    return res.error_kind in PERMANENT_ERROR_KINDS or res.status_code in PERMANENT_STATUS


def final_states(polls: Sequence[SourcePoll], selection: Selection,
                 outcomes: Sequence[BatchOutcome]) -> list[SourceState]:
    """The source states to save once the run's articles are stored.

    A source keeps its new ETag/Last-Modified only when every new entry it offered is now stored or
    failed for good. Otherwise (entries left by max_items, a timeout, a 5xx, a crash before this
    point) the validators are dropped, so the next run reads the feed again instead of hearing 304
    and leaving those entries until feed_revalidate_hours.
    """
    unfinished = set(selection.capped).union(*(o.retry_sources for o in outcomes))
    return [replace(p.state, etag=None, last_modified=None) if p.source.name in unfinished else p.state
            for p in polls if p.state is not None]


def due_sources(sources: Sequence[SourceConfig], states: dict[str, SourceState], settings: Settings,
                now: datetime) -> list[SourceConfig]:
    """Enabled sources whose poll interval has passed (interval in minutes; 0 = every run)."""
    out = []
    for src in sources:
        interval = src.interval if src.interval is not None else settings.default_interval_minutes
        last = states.get(src.name, SourceState(src.name)).last_polled_at
        if src.enabled and (last is None or now - last >= timedelta(minutes=interval)):
            out.append(src)
    return out


def _allow_host(src: SourceConfig) -> str | None:
    return host_of(src.url_str) if src.allow_private_addresses else None


async def poll_source(fetcher: Fetcher, src: SourceConfig, state: SourceState | None, settings: Settings,
                      now: datetime) -> SourcePoll:
    """Fetch and parse one source. Never raises: failures come back in `error` and `results`."""
    state = state or SourceState(src.name)
    stale = state.last_full_fetch_at is None or now - state.last_full_fetch_at >= timedelta(
        hours=settings.feed_revalidate_hours
    )
    # Conditional GET saves the feed download; but some servers answer 304 for ever while the feed
    # changes (validators that lie), so an unconditional fetch is made every feed_revalidate_hours.
    purpose = {"rss": "feed", "sitemap": "sitemap", "html_index": "index"}[src.kind]
    req = FetchRequest(
        src.url_str, src.name, purpose, _allow_host(src),
        etag=None if stale else state.etag, last_modified=None if stale else state.last_modified,
    )
    res = await fetcher.fetch(req, max_bytes=settings.max_feed_bytes)
    if res.not_modified:
        return SourcePoll(src, (res,), not_modified=True, state=_ok_state(state, now, res, full=False))
    if not res.ok:
        return SourcePoll(src, (res,), error=res.error, state=_failed_state(state, now, res.error))
    parsed, results = await _parse(fetcher, src, res, settings, now)
    if parsed.error and not parsed.entries:
        return SourcePoll(src, results, error=parsed.error, state=_failed_state(state, now, parsed.error))
    full = req.etag is None and req.last_modified is None
    return SourcePoll(src, results, parsed.entries, error=parsed.error, state=_ok_state(state, now, res, full))


async def _parse(fetcher: Fetcher, src: SourceConfig, res: FetchResult, settings: Settings,
                 now: datetime) -> tuple[ParsedSource, tuple[FetchResult, ...]]:
    if src.kind == "rss":
        # parsers run in a thread: a 10 MB feed or index page takes 3-8 s of CPU (measured), and
        # on the event loop that would stall every other source's downloads and their deadlines
        parsed = await asyncio.to_thread(parse_feed, res.body, res.final_url, res.content_type, source=src.name,
                                         now=now, tz=src.tz, lang=src.lang)
    elif src.kind == "html_index":
        parsed = await asyncio.to_thread(discover_links, res.body, res.final_url,
                                         getattr(src, "link_pattern", None), source=src.name)
    else:
        return await _parse_sitemaps(fetcher, src, res, settings, now)
    return parsed, (_mark_parse_error(res, parsed),)


async def _parse_sitemaps(fetcher: Fetcher, src: SourceConfig, res: FetchResult, settings: Settings,
                          now: datetime) -> tuple[ParsedSource, tuple[FetchResult, ...]]:
    window = getattr(src, "window_days", None) or settings.sitemap_window_days
    since = now - timedelta(days=window)
    parsed = await asyncio.to_thread(parse_sitemap, res.body, res.final_url, since=since, source=src.name,
                                     now=now, tz=src.tz, lang=src.lang)
    results = [_mark_parse_error(res, parsed)]
    entries = list(parsed.entries)
    visited = {res.request.url, res.final_url}
    queue = [(u, 1) for u in parsed.child_sitemaps]
    while queue and len(results) <= MAX_CHILD_SITEMAPS and len(entries) < MAX_SITEMAP_ENTRIES:
        url, depth = queue.pop(0)
        if url in visited or depth > MAX_SITEMAP_DEPTH:
            continue  # a sitemap index that lists itself (or a cycle) is read once
        visited.add(url)
        child = await fetcher.fetch(FetchRequest(url, src.name, "sitemap", _allow_host(src)),
                                    max_bytes=settings.max_feed_bytes)
        if child.ok:
            sub = await asyncio.to_thread(parse_sitemap, child.body, child.final_url, since=since, source=src.name,
                                          now=now, tz=src.tz, lang=src.lang)
            child = _mark_parse_error(child, sub)
            entries.extend(sub.entries)
            queue.extend((u, depth + 1) for u in sub.child_sitemaps)
        results.append(child)
    errors = [r.error for r in results if r.error]
    error = None if entries else next(iter(errors), parsed.error)  # no entries: say why
    return ParsedSource(tuple(entries), (), error, parsed.kind), tuple(results)


def _mark_parse_error(res: FetchResult, parsed: ParsedSource) -> FetchResult:
    if not parsed.error:
        return res
    salvaged = f" ({len(parsed.entries)} entries salvaged)" if parsed.entries else ""
    return replace(res, error_kind="malformed", error=f"{parsed.error}{salvaged}")


def _ok_state(state: SourceState, now: datetime, res: FetchResult, full: bool) -> SourceState:
    changes = dict(last_polled_at=now, last_success_at=now, consecutive_failures=0, last_error=None)
    if not res.not_modified:
        changes.update(etag=res.etag, last_modified=res.last_modified,
                       body_hash=hashlib.sha256(res.body).hexdigest()[:32])
        if full:
            changes["last_full_fetch_at"] = now
    return replace(state, **changes)


def _failed_state(state: SourceState, now: datetime, error: str | None) -> SourceState:
    return replace(state, last_polled_at=now, consecutive_failures=state.consecutive_failures + 1, last_error=error)


def select_new(conn, polls: Sequence[SourcePoll], settings: Settings, claimed: set[str] | None = None) -> Selection:
    """Canonicalise entry URLs and keep those not stored yet, newest first, max_items per source.

    `claimed`: canonical URLs an earlier call (another source's poll, same run) already took;
    updated with the ones taken here."""
    candidates: list[tuple[SourcePoll, FeedEntry, str]] = []
    skipped: list[tuple[str, str, str]] = []
    for poll in polls:
        for entry in poll.entries:
            try:
                candidates.append((poll, entry, canonicalize_url(entry.url)))
            except InvalidURL as exc:
                skipped.append((poll.source.name, entry.url, str(exc)))
    urls = sorted({c for _, _, c in candidates})
    known = known_url_ids(conn, [url_id(c) for c in urls])
    failed = permanently_failed(conn, [c for c in urls if url_id(c) not in known])
    seen: dict[str, int] = {}
    per_source: dict[str, list[FetchRequest]] = {}
    claimed = claimed if claimed is not None else set()
    capped: set[str] = set()
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    candidates.sort(key=lambda t: t[1].published_at or oldest, reverse=True)
    for poll, entry, canon in candidates:
        name = poll.source.name
        if url_id(canon) in known or canon in failed:
            seen[name] = seen.get(name, 0) + 1
            continue
        bucket = per_source.setdefault(name, [])
        limit = poll.source.max_items or settings.default_max_items
        # the same article in two sources is fetched once, by the first source with room for it
        if canon in claimed:
            continue
        if len(bucket) < limit:
            bucket.append(FetchRequest(canon, name, "article", _allow_host(poll.source), entry=entry))
            claimed.add(canon)
        else:
            capped.add(name)
    requests = tuple(r for poll in polls for r in per_source.get(poll.source.name, ()))
    return Selection(requests, seen, tuple(skipped), frozenset(capped))


COMMIT_INTERVAL_S = 1.0  # a finished page waits at most this long (plus one store) before it is committed


async def fetch_page(fetcher: Fetcher, pool: PagePool | None, req: FetchRequest, settings: Settings,
                     lang_hints: dict[str, str | None] | None = None,
                     topics=None) -> tuple[FetchResult, PageResult | None]:
    """Fetch one page and extract + classify it (in the pool's worker processes, or inline with
    `topics` without a pool). Never raises: every outcome is a FetchResult, failed or not."""
    try:
        res = await fetcher.fetch(req)
        if not res.ok:
            return res, None
        if fetcher.time_left() <= 0:
            return _deferred(res, "fetched, but the run's deadline passed before extraction"), None
        job = ExtractJob(res.body, res.final_url, req.source, res.charset, req.entry,
                         (lang_hints or {}).get(req.source), settings.min_text_chars, requested_url=req.url)
        if pool is None:
            return res, process_page(job, topics)
        fut = pool.submit(job)
        left = fetcher.time_left()
        try:
            out = await asyncio.wait_for(asyncio.wrap_future(fut), None if left == float("inf") else max(left, 0.0))
        except TimeoutError:
            fut.cancel()
            return _deferred(res, "fetched, but the run's deadline passed before its extraction finished"), None
        return res, out
    except Exception as exc:  # noqa: BLE001 - a bug in one page's path must not cost the others
        failed = fetcher.deferred(req, f"unexpected {type(exc).__name__} processing the page: {exc}"[:500])
        return replace(failed, error_kind="extract"), None


def _deferred(res: FetchResult, why: str) -> FetchResult:
    return replace(res, body=b"", error_kind="deferred", error=f"{why}; left for the next run")


def as_batch(pairs: Sequence[tuple[FetchResult, PageResult | None]]) -> BatchResult:
    """Finished pages as one batch to store: articles, fetch rows, failures, topic scores."""
    articles, results, failures, matches = [], [], [], []
    for res, out in pairs:
        if out is not None and isinstance(out.outcome, ExtractFailure):
            res = replace(res, error_kind="extract", error=f"extraction failed: {out.outcome.reason}")
        elif out is not None:
            articles.append(out.outcome)
            if out.matches:
                matches.append((out.outcome.article_id, out.matches))
        if res.error:
            failures.append((res.request.source, res.request.url, res.error))
        results.append(res)
    return BatchResult(tuple(articles), tuple(results), tuple(failures), tuple(matches))


@dataclass(frozen=True, slots=True)
class _End:
    started: int = 0
    error: BaseException | None = None


async def _each(requests: Iterable[FetchRequest] | AsyncIterable[FetchRequest]) -> AsyncIterator[FetchRequest]:
    if isinstance(requests, AsyncIterable):
        async for r in requests:
            yield r
    else:
        for r in requests:
            yield r


async def stream_batches(fetcher: Fetcher, pool: PagePool | None,
                         requests: Iterable[FetchRequest] | AsyncIterable[FetchRequest],
                         settings: Settings, lang_hints: dict[str, str | None] | None = None, topics=None, *,
                         window: int | None = None, group: int | None = None,
                         interval_s: float = COMMIT_INTERVAL_S) -> AsyncIterator[BatchResult]:
    """Fetch and extract every request (they may still be arriving: an async iterable), at most
    `window` pages in flight, and yield the finished ones as they finish: a batch as soon as
    `group` pages are done or the oldest done page has waited `interval_s`. A stalled request
    holds nothing but its own page; the caller stores each batch before asking for the next (one
    writer), while the other pages keep downloading."""
    window = window or settings.batch_size * 2
    group = group or settings.batch_size
    done: asyncio.Queue = asyncio.Queue()
    slots = asyncio.Semaphore(window)
    tasks: set[asyncio.Future] = set()
    loop = asyncio.get_running_loop()

    async def run(req: FetchRequest) -> None:
        try:
            done.put_nowait(await fetch_page(fetcher, pool, req, settings, lang_hints, topics))
        finally:
            slots.release()

    async def feed() -> None:
        started = 0
        try:
            async for req in _each(requests):
                await slots.acquire()  # back-pressure: the next request waits for a free slot
                task = asyncio.ensure_future(run(req))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                started += 1
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            done.put_nowait(_End(started, exc))
            return
        done.put_nowait(_End(started))

    feeder = asyncio.ensure_future(feed())
    expected: int | None = None
    received = 0
    pending: list[tuple[FetchResult, PageResult | None]] = []
    oldest = 0.0
    try:
        while expected is None or received < expected or pending:
            more = expected is None or received < expected
            if more and (not pending or (len(pending) < group and loop.time() - oldest < interval_s)):
                wait = None if not pending else oldest + interval_s - loop.time()
                try:
                    item = await asyncio.wait_for(done.get(), wait)
                except TimeoutError:
                    item = None  # the oldest finished page has waited long enough: store what is done
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    expected = item.started
                    continue
                if item is not None:
                    pending.append(item)
                    received += 1
                    if len(pending) == 1:
                        oldest = loop.time()
                    continue
            batch, pending = as_batch(pending), []
            yield batch
    finally:
        feeder.cancel()
        for t in list(tasks):
            t.cancel()
        await asyncio.gather(feeder, *tasks, return_exceptions=True)


def merge_selections(parts: Sequence[Selection]) -> Selection:
    """The run's selection from the per-poll ones (each poll's articles start as soon as it is read)."""
    seen: dict[str, int] = {}
    for p in parts:
        for k, v in p.seen.items():
            seen[k] = seen.get(k, 0) + v
    return Selection(tuple(r for p in parts for r in p.requests), seen,
                     tuple(x for p in parts for x in p.skipped), frozenset().union(*(p.capped for p in parts)))


async def fetch_and_extract(fetcher: Fetcher, pool: PagePool | None, requests: Sequence[FetchRequest],
                            settings: Settings, lang_hints: dict[str, str | None] | None = None,
                            topics=None) -> BatchResult:
    """All pages as one batch (for callers that store once): `stream_batches` collected."""
    pairs = await asyncio.gather(*(fetch_page(fetcher, pool, r, settings, lang_hints, topics) for r in requests))
    return as_batch(pairs)


def summarise_run(run_id: str, started: datetime, polls: Sequence[SourcePoll], selection: Selection,
                  batches: Sequence[BatchOutcome]) -> RunSummary:
    """Counts per source (entries, new, seen, failed) and every failure with its reason."""
    new: dict[str, int] = {}
    failed: dict[str, int] = {}
    failures = [(p.source.name, p.source.url_str, p.error) for p in polls if p.error]
    failures += [(s, u, r) for s, u, r in selection.skipped]
    for b in batches:
        for source in b.new_sources:
            new[source] = new.get(source, 0) + 1
        for s, u, r in b.failures:
            failed[s] = failed.get(s, 0) + 1
            failures.append((s, u, r))
    stats = tuple(
        SourceRunStats(p.source.name, new=new.get(p.source.name, 0), seen=selection.seen.get(p.source.name, 0),
                       failed=failed.get(p.source.name, 0) + (1 if p.error else 0), entries=len(p.entries),
                       not_modified=p.not_modified, error=p.error)
        for p in polls
    )
    return RunSummary(run_id, started, datetime.now(timezone.utc), stats, tuple(failures))
