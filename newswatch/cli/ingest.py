"""`newswatch ingest` and `newswatch run`."""

from __future__ import annotations

import asyncio
import os
import sys

import typer
from rich.table import Table

from newswatch.cli.app import ConfigDirOpt, DbOpt, app, fail
from newswatch import progress
from newswatch.cli.show import cell, console
from newswatch.config import ConfigError
from newswatch.models import RunSummary
from newswatch.store import StoreUnavailable


# Prefect's temporary API server waits 20 s by default; a busy 2-core machine (another run
# extracting) can need more, and a second run must wait on the lock, not die in Prefect's start-up
PREFECT_STARTUP_TIMEOUT_S = "120"


def run_ingest(config_dir, db) -> RunSummary:
    """Check the config, take the database's writer lock, then start the flow (and Prefect).

    Everything that can refuse the run (a config error, another run writing) does so before any
    Prefect machinery starts: one line on stderr, exit 2.
    """
    from newswatch.config import load_config, resolve_db_path  # noqa: PLC0415
    from newswatch.store import writer_lock  # noqa: PLC0415

    try:
        cfg = load_config(config_dir)
        path = resolve_db_path(db, cfg.settings)
        with writer_lock(path, cfg.settings.lock_wait_s, on_wait=lambda m: typer.echo(m, err=True)):
            # progress on stderr: a live line on a terminal, a line per stage in cron/CI
            with progress.reporting(progress.for_stream(sys.stderr)):
                return _start_flow(config_dir, db)
    except (ConfigError, StoreUnavailable) as exc:
        raise fail(str(exc)) from None


def _start_flow(config_dir, db) -> RunSummary:
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", PREFECT_STARTUP_TIMEOUT_S)
    from flows.ingest import ingest_flow  # noqa: PLC0415 - importing prefect costs ~1 s; only when needed

    try:
        return asyncio.run(ingest_flow(str(config_dir) if config_dir else None, str(db) if db else None))
    except RuntimeError as exc:
        if "ephemeral Prefect API server" not in str(exc):
            raise
        raise fail("Prefect's temporary API server did not start in time; nothing was written (fix: run "
                   "again when the machine is less busy, raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, "
                   "or point PREFECT_API_URL at a running server such as `newswatch serve`'s)") from None


FAILURES_HINT = ('  newswatch query "select source, url, status_code, error_kind, error from fetches'
                 ' where error is not null order by started_at desc limit 50"')


def print_summary(summary: RunSummary, out=None) -> None:
    table = Table(title=cell(f"ingest run {summary.run_id}: {summary.new} new articles"))
    for col in ("source", "entries", "new", "seen", "failed", "status"):
        table.add_column(col, justify="right" if col in ("entries", "new", "seen", "failed") else "left")
    for s in sorted(summary.sources, key=lambda s: s.source):
        status = cell("304 not modified") if s.not_modified else (cell(s.error, "red", 70) if s.error else cell("ok"))
        table.add_row(cell(s.source), str(s.entries), str(s.new), str(s.seen), str(s.failed), status)
    out = out or console()
    out.print(table)
    if summary.failures:
        # one line, no wrapping: the hint is meant to be copied into a shell as it is
        out.print(f"{len(summary.failures)} failures recorded; see them with:")
        out.print(FAILURES_HINT, soft_wrap=True)


@app.command()
def ingest(config_dir: ConfigDirOpt = None, db: DbOpt = None) -> None:
    """Fetch every due source once; store new articles, their topic scores and every request.

    Example: newswatch ingest --config-dir config --db data/newswatch.duckdb
    """
    print_summary(run_ingest(config_dir, db))


@app.command()
def run(config_dir: ConfigDirOpt = None, db: DbOpt = None) -> None:
    """The main job: ingest, then send every subscriber's pending digest.

    Example: newswatch run --config-dir config
    """
    print_summary(run_ingest(config_dir, db))
    try:
        from newswatch.cli.digest import run_digest_now  # noqa: PLC0415
    except ImportError:
        typer.echo("digest: not available in this version; ingest only")
        return
    run_digest_now(config_dir, db)
