"""One ingest run, as plain functions: poll the due sources, fetch/extract/classify the new pages in
the worker processes, commit them as they finish, save the sources' validators, record the run.

`run_ingest` is what both entry points call: the Prefect flow (`flows/ingest.py`, which passes its
tasks as the `Steps` so Prefect tracks, retries and shows them) and `newswatch ingest` when no
Prefect server is there to talk to (plain `Steps`: nothing but DuckDB records the run, and no
temporary API server is started, which costs a cron tick ~10 s of CPU). Nothing here imports
prefect.

Tasks work on batches (all sources' polls; one store step per group of finished pages), never one
step per article: each task run costs Prefect a few milliseconds of bookkeeping. Pages are fetched
and extracted `2 * batch_size` at a time and committed as they finish (every `batch_size` pages or
every second), so a stalled request never holds another page's article back, and a run killed at
any moment has kept every page that finished a second or two earlier.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from newswatch import ingest, progress, store
from newswatch.config import AppConfig, load_config, resolve_db_path
from newswatch.fetch import Fetcher, open_fetcher
from newswatch.models import FetchRequest, RunSummary
from newswatch.pipeline import PagePool, compile_run_topics, frozen_heap, store_topic_matches
from newswatch.status import refresh_after_ingest
from newswatch.store import ingest as store_ingest

BATCHES_IN_FLIGHT = 2  # pages in flight: BATCHES_IN_FLIGHT * batch_size
DEFERRED_FETCH_ROWS = 500  # fetch rows of polls with nothing new, written together (~7 ms an insert)


async def poll_sources(fetcher: Fetcher, cfg: AppConfig, states: dict, now: datetime,
                       on_poll=None) -> list[ingest.SourcePoll]:
    """Poll every due source at once; `on_poll(poll)` hears of each one as soon as it is read (its
    articles start then, not after the slowest source), and of the end with `on_poll(None)`."""
    due = ingest.due_sources(cfg.sources.enabled, states, cfg.settings, now)
    progress.sources_due(len(due))

    async def one(src):
        poll = await ingest.poll_source(fetcher, src, states.get(src.name), cfg.settings, now)
        if on_poll is not None:
            on_poll(poll)
        return poll

    try:
        return list(await asyncio.gather(*(one(s) for s in due)))
    finally:
        if on_poll is not None:
            on_poll(None)


async def store_batch(conn, run_id: str, batch: ingest.BatchResult, topics) -> ingest.BatchOutcome:
    """Store one group of finished pages (fetch log, articles, topic scores) in one transaction.
    The flow's one writer: groups are stored one after another, on the event loop.

    Retrying is safe: articles are keyed by URL hash, scores by (article, topic), fetch rows by id.
    """
    with store.transaction(conn):
        store_ingest.record_fetches(conn, run_id, batch.results)
        store_ingest.upsert_articles(conn, batch.articles, run_id)
        store_topic_matches(conn, topics, batch.matches)
    return ingest.BatchOutcome.of(batch)


def _same(value):
    return value


@dataclass(frozen=True)
class Steps:
    """How the run's two batch steps are called: plainly, or as the flow's Prefect tasks."""

    poll: Callable = poll_sources
    store: Callable = store_batch
    log: logging.Logger | logging.LoggerAdapter = field(default_factory=lambda: logging.getLogger("newswatch.ingest"))
    quote: Callable = _same  # Prefect's quote(): task arguments it must not walk looking for futures


async def run_ingest(config_dir: str | None, db_path: str | None, run_id: str, steps: Steps | None = None,
                     label: str | None = None) -> RunSummary:
    """Poll every due source once and store new articles with their topic scores; the run is
    recorded in the `runs` table (completed, or failed with the error)."""
    steps = steps or Steps()
    cfg = load_config(config_dir)
    db = resolve_db_path(db_path, cfg.settings)
    with progress.run_lines(label or f"ingest run {run_id}") as facts, \
            store.writer_lock(db, cfg.settings.lock_wait_s, on_wait=steps.log.warning):
        conn = store.connect(db)
        try:
            with frozen_heap():  # the GC leaves the process's long-lived objects alone during the run
                summary = await _run(conn, cfg, run_id, steps)
        except BaseException as exc:
            store_ingest.finish_run(conn, run_id, "failed", {}, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            conn.close()
        facts.update({"new articles": summary.new, "failures": len(summary.failures)})
    return summary


async def _run(conn, cfg: AppConfig, run_id: str, steps: Steps) -> RunSummary:
    quote = steps.quote
    started = datetime.now(timezone.utc)
    store_ingest.start_run(conn, run_id, "ingest")
    store_ingest.sync_sources(conn, cfg.sources.sources)
    states = store_ingest.load_source_states(conn)
    deadline = time.monotonic() + cfg.settings.run_deadline_s  # what is not done by then is deferred
    async with open_fetcher(cfg.settings, deadline=deadline) as fetcher:
        polled: asyncio.Queue = asyncio.Queue()
        # quote(): Prefect would otherwise walk every object inside these arguments (feed bodies,
        # config, states) looking for futures: that was most of a no-change tick's time
        polling = asyncio.ensure_future(steps.poll(quote(fetcher), quote(cfg), quote(states), started,
                                                     quote(polled.put_nowait)))
        selections: list[ingest.Selection] = []
        try:
            batches = await _ingest_articles(fetcher, conn, cfg, run_id, steps,
                                             _new_requests(conn, cfg, run_id, polled, selections))
        except BaseException:
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)
            raise
        polls = await polling
        selection = ingest.merge_selections(selections)
        steps.log.info("%d sources polled, %d new article URLs", len(polls), len(selection.requests))
        store_ingest.record_fetches(conn, run_id, fetcher.robots_results)
    # validators only now, after the articles: a crash before this point re-reads the feeds
    store_ingest.save_source_states(conn, ingest.final_states(polls, selection, batches))
    refresh_after_ingest(conn, cfg)  # subscribers table for the status views; search index if articles changed
    summary = ingest.summarise_run(run_id, started, polls, selection, batches)
    store_ingest.finish_run(conn, run_id, "completed",
                            {"new": summary.new, "sources": len(polls), "failures": len(summary.failures)})
    return summary


async def _new_requests(conn, cfg: AppConfig, run_id: str, polled: asyncio.Queue,
                        selections: list) -> AsyncIterator[FetchRequest]:
    """Each source's new article URLs as soon as its poll is read (its fetch rows recorded first).

    Polls that arrived while the previous ones were being recorded are taken together: one insert
    of their fetch rows and one seen-check, instead of one each (200 sources answering 304 at
    once cost ~7 ms of DuckDB each, most of a no-change tick's CPU)."""
    claimed: set[str] = set()  # a URL two sources list is fetched once, by the first one read
    unrecorded: list = []  # fetch rows of polls that offered no entry (304s, failures), not yet written
    done = False
    while not done:
        polls = []
        for poll in [await polled.get(), *_drain(polled)]:
            if poll is None:
                done = True
            else:
                polls.append(poll)
        unrecorded += [r for poll in polls for r in poll.results]
        has_entries = any(poll.entries for poll in polls)
        # rows are written before their articles start; rows of polls with nothing new wait for
        # company (a crash then loses at most these few log rows: the sources re-poll next run)
        if has_entries or done or len(unrecorded) >= DEFERRED_FETCH_ROWS:
            store_ingest.record_fetches(conn, run_id, unrecorded)
            unrecorded = []
        if not polls:
            continue
        part = ingest.select_new(conn, polls, cfg.settings, claimed) if has_entries else ingest.Selection(())
        selections.append(part)
        new_urls = Counter(req.source for req in part.requests)
        for poll in polls:
            progress.polled(poll.source.name, new_urls[poll.source.name], bool(poll.error), poll.not_modified)
        for req in part.requests:
            yield req
    progress.polling_done()


def _drain(queue: asyncio.Queue) -> list:
    """Everything already waiting in `queue`, without waiting."""
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


async def _ingest_articles(fetcher: Fetcher, conn, cfg: AppConfig, run_id: str, steps: Steps,
                           requests: AsyncIterator[FetchRequest]) -> list[ingest.BatchOutcome]:
    """All new articles: fetched and extracted (in the worker processes) BATCHES_IN_FLIGHT *
    batch_size at a time, and committed in groups as they finish, one group after another. The
    worker processes start with the first page; a run with nothing new starts none."""
    s = cfg.settings
    quote = steps.quote
    topics = None
    hints = {src.name: src.lang for src in cfg.sources.sources}

    async def first_then_rest() -> AsyncIterator[FetchRequest]:
        nonlocal topics
        async for req in requests:
            if topics is None:
                topics = compile_run_topics(cfg) or False
            yield req

    outcomes = []
    pool = _OnDemandPool(lambda: PagePool(s.extract_workers, cfg.topics if topics else None,
                                          timeout_s=s.extract_timeout_s))
    try:
        stream = ingest.stream_batches(fetcher, pool, first_then_rest(), s, hints,
                                       window=s.batch_size * BATCHES_IN_FLIGHT, group=s.batch_size)
        async with contextlib.aclosing(stream):
            async for batch in stream:
                outcomes.append(await steps.store(quote(conn), run_id, quote(batch), quote(topics or None)))
                progress.stored(len(batch.results), len(batch.articles), len(batch.failures))
                steps.log.info("committed %d pages: %d articles", len(batch.results), len(batch.articles))
    finally:
        pool.close()
    return outcomes


class _OnDemandPool:
    """The worker processes, started by the first page that needs them (after the topics are compiled)."""

    def __init__(self, make) -> None:
        self._make = make
        self._pool: PagePool | None = None

    def submit(self, job):
        if self._pool is None:
            self._pool = self._make()
        return self._pool.submit(job)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
