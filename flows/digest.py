"""The digest flow: a thin Prefect wrapper over `newswatch.digest.run_digests`.

    python flows/digest.py                      # every subscriber's pending items, now
    python flows/digest.py --only-due           # what a schedule runs: honours each cadence
    python flows/digest.py --preview out.html   # render only: nothing sent, nothing recorded

Prefect adds retries, the run record and a markdown artifact of counts per subscriber (targets
redacted). Apprise URLs may also come from Prefect Secret blocks (`url_secret:` in alerts.yaml).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # `python flows/digest.py`: make `flows` and `newswatch` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flows  # noqa: F401, I001  (sets Prefect's environment before prefect is imported)
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.blocks.system import Secret
from prefect.runtime import flow_run

from newswatch import progress
from newswatch.config import load_config, resolve_db_path
from newswatch.digest import SubscriberResult, preview_digests, run_digests, summarize
from newswatch.store import connect, writer_lock


def load_secret(name: str) -> str:
    """The apprise URL(s) stored in a Prefect Secret block."""
    value = Secret.load(name, _sync=True).get()  # type: ignore[call-arg]
    return str(value)


# Retrying is safe: items already sent are recorded and never selected again.
@task(retries=1, retry_delay_seconds=30)
def send_digests(config_dir: str | None, db_path: str | None, only_due: bool, run_id: str | None) -> list[SubscriberResult]:
    config = load_config(config_dir)
    db = resolve_db_path(db_path, config.settings)
    # DuckDB allows one writer process per file, and an ingest run holds it for minutes: wait on
    # the ingest's <db>.lock (up to lock_wait_s) instead of failing at once on DuckDB's own lock
    with writer_lock(db, config.settings.lock_wait_s, on_wait=get_run_logger().warning):
        conn = connect(db)
        try:
            return run_digests(conn, config.alerts, only_due=only_due, load_secret=load_secret, run_id=run_id,
                               topic_titles=config.topic_titles)
        finally:
            conn.close()


@task
def render_previews(config_dir: str | None, db_path: str | None, out: str) -> list[str]:
    config = load_config(config_dir)
    db = resolve_db_path(db_path, config.settings)
    with writer_lock(db, config.settings.lock_wait_s, on_wait=get_run_logger().warning):  # as send_digests
        conn = connect(db)
        try:
            return [str(p) for p in preview_digests(conn, config.alerts, out, topic_titles=config.topic_titles)]
        finally:
            conn.close()


@flow(name="digest", log_prints=False)
def digest_flow(
    config_dir: str | None = None,
    db_path: str | None = None,
    preview: str | None = None,
    only_due: bool = False,
) -> list[SubscriberResult]:
    logger = get_run_logger()
    if preview:
        paths = render_previews(config_dir, db_path, preview)
        logger.info("preview written: %s", ", ".join(paths))
        return []
    with progress.run_lines(f"digest run {flow_run.get_name() or flow_run.id}") as facts:
        results = send_digests(config_dir, db_path, only_due, str(flow_run.id) if flow_run.id else None)
        facts.update({"digests sent": sum(r.status == "sent" for r in results),
                      "failed": sum(r.status == "failed" for r in results)})
    table = summarize(results)  # redacted targets and errors only
    create_markdown_artifact(markdown=f"# Digests\n\n{table}\n", key="digest-summary",
                             description="What each subscriber was sent (targets redacted)")
    for r in results:
        logger.info("digest %s: %s (%d items)", r.subscriber, r.status, r.n_items)
    return results


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Send newswatch digests (Prefect flow).")
    parser.add_argument("--config-dir")
    parser.add_argument("--db")
    parser.add_argument("--preview", help="render to this HTML file; send and record nothing")
    parser.add_argument("--only-due", action="store_true", help="honour each subscriber's cadence")
    args = parser.parse_args()
    out = digest_flow(args.config_dir, args.db, args.preview, args.only_due)
    print(summarize(out) if out else f"preview written next to {args.preview}")
