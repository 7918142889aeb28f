"""The ingest flow: a thin Prefect wrapper over `newswatch.ingest_run`'s plain functions.

The run's two batch steps (poll all sources; store one group of finished pages) become Prefect
tasks, so a deployment's runs show them, retry the store step and publish the run report as an
artifact. `newswatch ingest` without a Prefect server runs the same `run_ingest` without Prefect.

Run once on the embedded default (DuckDB file + Prefect's ephemeral API):
    python flows/ingest.py [--config-dir config] [--db data/newswatch.duckdb]
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

if __package__ in (None, ""):  # `python flows/ingest.py` puts flows/ first on sys.path, not the repo
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flows  # noqa: F401,E402 - sets Prefect's environment before prefect is imported

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import acreate_markdown_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402
from prefect.utilities.annotations import quote  # noqa: E402

from newswatch import ingest_run  # noqa: E402
from newswatch.models import RunSummary  # noqa: E402
from newswatch.report import render_run_markdown  # noqa: E402


poll_sources = task(cache_policy=NO_CACHE)(ingest_run.poll_sources)
# retrying is safe: articles are keyed by URL hash, scores by (article, topic), fetch rows by id
store_batch = task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=1)(ingest_run.store_batch)


@flow(name="ingest", log_prints=False)
async def ingest_flow(config_dir: str | None = None, db_path: str | None = None) -> RunSummary:
    """Poll every due source once, store new articles with their topic scores, publish a report."""
    logger = get_run_logger()
    run_id = flow_run.get_id() or uuid.uuid4().hex
    steps = ingest_run.Steps(poll=poll_sources, store=store_batch, log=logger, quote=quote)
    summary = await ingest_run.run_ingest(config_dir, db_path, run_id, steps,
                                          label=f"ingest run {flow_run.get_name() or run_id}")
    await acreate_markdown_artifact(markdown=render_run_markdown(summary), key="ingest-report",
                                   description=f"newswatch ingest: {summary.new} new articles")
    logger.info("ingest done: %d new articles, %d failures", summary.new, len(summary.failures))
    return summary


def main(argv: list[str] | None = None) -> RunSummary:
    import argparse

    parser = argparse.ArgumentParser(description="Run the newswatch ingest flow once.")
    parser.add_argument("--config-dir", default=None)
    parser.add_argument("--db", default=None)
    args = parser.parse_args(argv)
    return asyncio.run(ingest_flow(args.config_dir, str(args.db) if args.db else None))


if __name__ == "__main__":
    print(render_run_markdown(main()))
