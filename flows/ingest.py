"""The ingest flow: a thin Prefect wrapper over newswatch.ingest's plain functions.

Tasks work on batches (all sources' polls; `batch_size` articles per fetch/extract/store task),
never one task per article: each task run costs Prefect a few milliseconds of bookkeeping.

Run once on the embedded default (DuckDB file + Prefect's ephemeral API):
    python flows/ingest.py [--config-dir config] [--db data/newswatch.duckdb]
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # `python flows/ingest.py` puts flows/ first on sys.path, not the repo
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flows  # noqa: F401,E402 - sets Prefect's environment before prefect is imported

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import acreate_markdown_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402
from prefect.utilities.annotations import quote  # noqa: E402

from newswatch import ingest, store  # noqa: E402
from newswatch.config import AppConfig, load_config, resolve_db_path  # noqa: E402
from newswatch.fetch import Fetcher, open_fetcher  # noqa: E402
from newswatch.models import FetchRequest, RunSummary  # noqa: E402
from newswatch.pipeline import PagePool, compile_run_topics, frozen_heap, store_topic_matches  # noqa: E402
from newswatch.report import render_run_markdown  # noqa: E402
from newswatch.status import refresh_after_ingest  # noqa: E402
from newswatch.store import ingest as store_ingest  # noqa: E402


BATCHES_IN_FLIGHT = 2


@task(cache_policy=NO_CACHE)
async def poll_sources(fetcher: Fetcher, cfg: AppConfig, states: dict, now: datetime) -> list[ingest.SourcePoll]:
    due = ingest.due_sources(cfg.sources.enabled, states, cfg.settings, now)
    return list(await asyncio.gather(*(ingest.poll_source(fetcher, s, states.get(s.name), cfg.settings, now) for s in due)))


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
async def fetch_extract_store(fetcher: Fetcher, pool: PagePool, conn, cfg: AppConfig, run_id: str,
                              requests: list, lang_hints: dict, topics) -> ingest.BatchOutcome:
    """One batch: fetch, extract and classify (overlapped, in worker processes), then store the
    fetch log, articles and topic scores in one transaction.

    Retrying is safe: articles are keyed by URL hash, scores by (article, topic), fetch rows by id.
    """
    batch = await ingest.fetch_and_extract(fetcher, pool, requests, cfg.settings, lang_hints)
    with store.transaction(conn):
        store_ingest.record_fetches(conn, run_id, batch.results)
        store_ingest.upsert_articles(conn, batch.articles, run_id)
        store_topic_matches(conn, topics, batch.matches)
    return ingest.BatchOutcome.of(batch)


@flow(name="ingest", log_prints=False)
async def ingest_flow(config_dir: str | None = None, db_path: str | None = None) -> RunSummary:
    """Poll every due source once, store new articles with their topic scores, publish a report."""
    logger = get_run_logger()
    cfg = load_config(config_dir)
    db = resolve_db_path(db_path, cfg.settings)
    run_id = flow_run.get_id() or uuid.uuid4().hex
    with store.writer_lock(db, cfg.settings.lock_wait_s, on_wait=logger.warning):
        conn = store.connect(db)
        try:
            with frozen_heap():  # the GC leaves the process's long-lived objects alone during the run
                summary = await _run(conn, cfg, run_id)
        except BaseException as exc:
            store_ingest.finish_run(conn, run_id, "failed", {}, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            conn.close()
    await acreate_markdown_artifact(markdown=render_run_markdown(summary), key="ingest-report",
                                   description=f"newswatch ingest: {summary.new} new articles")
    logger.info("ingest done: %d new articles, %d failures", summary.new, len(summary.failures))
    return summary


async def _run(conn, cfg: AppConfig, run_id: str) -> RunSummary:
    started = datetime.now(timezone.utc)
    store_ingest.start_run(conn, run_id, "ingest")
    store_ingest.sync_sources(conn, cfg.sources.sources)
    states = store_ingest.load_source_states(conn)
    async with open_fetcher(cfg.settings) as fetcher:
        # quote(): Prefect would otherwise walk every object inside these arguments (feed bodies,
        # config, states) looking for futures: that was most of a no-change tick's time
        polls = await poll_sources(quote(fetcher), quote(cfg), quote(states), started)
        selection = ingest.select_new(conn, polls, cfg.settings)
        store_ingest.record_fetches(conn, run_id, [r for p in polls for r in p.results])
        get_run_logger().info("%d sources polled, %d new article URLs", len(polls), len(selection.requests))
        batches = await _ingest_articles(fetcher, conn, cfg, run_id, selection.requests)
        store_ingest.record_fetches(conn, run_id, fetcher.robots_results)
    # validators only now, after the articles: a crash before this point re-reads the feeds
    store_ingest.save_source_states(conn, ingest.final_states(polls, selection, batches))
    refresh_after_ingest(conn, cfg)  # subscribers table for the status views; search index if articles changed
    summary = ingest.summarise_run(run_id, started, polls, selection, batches)
    store_ingest.finish_run(conn, run_id, "completed",
                            {"new": summary.new, "sources": len(polls), "failures": len(summary.failures)})
    return summary


async def _ingest_articles(fetcher: Fetcher, conn, cfg: AppConfig, run_id: str,
                           requests: Sequence[FetchRequest]) -> list[ingest.BatchOutcome]:
    """All new articles in batch tasks, BATCHES_IN_FLIGHT at a time: while one batch is stored,
    the next one's pages keep the worker processes busy."""
    if not requests:
        return []
    topics = compile_run_topics(cfg)
    hints = {s.name: s.lang for s in cfg.sources.sources}
    size = cfg.settings.batch_size
    lanes = asyncio.Semaphore(BATCHES_IN_FLIGHT)
    with PagePool(cfg.settings.extract_workers, cfg.topics if topics else None) as pool:

        async def run_batch(chunk: list[FetchRequest]) -> ingest.BatchOutcome:
            async with lanes:
                return await fetch_extract_store(quote(fetcher), quote(pool), quote(conn), quote(cfg), run_id,
                                                 quote(chunk), quote(hints), quote(topics))

        return list(await asyncio.gather(*(run_batch(list(requests[i : i + size]))
                                           for i in range(0, len(requests), size))))


def main(argv: list[str] | None = None) -> RunSummary:
    import argparse

    parser = argparse.ArgumentParser(description="Run the newswatch ingest flow once.")
    parser.add_argument("--config-dir", default=None)
    parser.add_argument("--db", default=None)
    args = parser.parse_args(argv)
    return asyncio.run(ingest_flow(args.config_dir, str(args.db) if args.db else None))


if __name__ == "__main__":
    print(render_run_markdown(main()))
