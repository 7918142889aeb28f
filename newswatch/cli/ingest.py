"""`newswatch ingest` and `newswatch run`."""

from __future__ import annotations

import asyncio
import os
import sys
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from newswatch.cli.app import ConfigDirOpt, DbOpt, app, fail
from newswatch import progress
from newswatch.cli.show import cell, console
from newswatch.config import ConfigError
from newswatch.store import StoreUnavailable

if TYPE_CHECKING:
    from newswatch.models import RunSummary


# Prefect's temporary API server waits 20 s by default; a busy 2-core machine (another run
# extracting) can need more, and a second run must wait on the lock, not die in Prefect's start-up
PREFECT_STARTUP_TIMEOUT_S = "120"
SERVE_PROBE_TIMEOUT_S = 0.3  # `newswatch serve`'s server on loopback answers /health in ~5 ms


class Orchestration(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


PrefectOpt = Annotated[Orchestration, typer.Option(
    "--prefect", envvar="NEWSWATCH_PREFECT",
    help="Run as a Prefect flow: auto (when PREFECT_API_URL is set or `newswatch serve`'s server "
         "answers), always (else on Prefect's temporary server, ~10 s of CPU), never (DuckDB records only).")]


def prefect_api_url(probe_timeout_s: float = SERVE_PROBE_TIMEOUT_S) -> str | None:
    """The Prefect API to record a run in: PREFECT_API_URL, else `newswatch serve`'s server on
    127.0.0.1 (NEWSWATCH_PREFECT_PORT, default 4200) if it answers its health check at once."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    import urllib.request  # noqa: PLC0415

    api = f"http://127.0.0.1:{int(os.environ.get('NEWSWATCH_PREFECT_PORT', 4200))}/api"
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=probe_timeout_s) as r:  # noqa: S310 - loopback
            return api if r.status == 200 else None
    except (OSError, ValueError):
        return None


def run_ingest(config_dir, db, prefect: Orchestration = Orchestration.auto) -> RunSummary:
    """Check the config, take the database's writer lock, then run the ingest.

    Everything that can refuse the run (a config error, another run writing) does so before
    anything starts: one line on stderr, exit 2. The run goes through Prefect when there is a
    server to record it (or --prefect always); otherwise it runs directly, recorded in DuckDB's
    `runs` table only, without paying for Prefect's temporary API server.
    """
    from newswatch.config import load_config, resolve_db_path  # noqa: PLC0415
    from newswatch.store import writer_lock  # noqa: PLC0415

    try:
        cfg = load_config(config_dir)
        path = resolve_db_path(db, cfg.settings)
        api = None if prefect is Orchestration.never else prefect_api_url()
        with writer_lock(path, cfg.settings.lock_wait_s, on_wait=lambda m: typer.echo(m, err=True)):
            # progress on stderr: a live line on a terminal, a line per stage in cron/CI
            with progress.reporting(progress.for_stream(sys.stderr)):
                if api or prefect is Orchestration.always:
                    if api:
                        os.environ["PREFECT_API_URL"] = api
                    return _start_flow(config_dir, db)
                return _run_direct(config_dir, db)
    except (ConfigError, StoreUnavailable) as exc:
        raise fail(str(exc)) from None


def _run_direct(config_dir, db) -> RunSummary:
    import uuid  # noqa: PLC0415

    from newswatch.ingest_run import run_ingest as ingest_once  # noqa: PLC0415

    return asyncio.run(ingest_once(str(config_dir) if config_dir else None, str(db) if db else None,
                                   uuid.uuid4().hex))


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
    """The run's table: one row per source that had something to say (new articles, entries,
    failures); sources that answered 304 or offered nothing new are counted in one line."""
    table = Table(title=cell(f"ingest run {summary.run_id}: {summary.new} new articles"))
    for col in ("source", "entries", "new", "seen", "failed", "status"):
        table.add_column(col, justify="right" if col in ("entries", "new", "seen", "failed") else "left")
    quiet = {"not modified (304)": 0, "nothing new": 0}
    for s in sorted(summary.sources, key=lambda s: s.source):
        if s.not_modified and not (s.new or s.failed or s.error):
            quiet["not modified (304)"] += 1
            continue
        if not (s.new or s.failed or s.error or s.entries > s.seen):
            quiet["nothing new"] += 1
            continue
        status = cell("304 not modified") if s.not_modified else (cell(s.error, "red", 70) if s.error else cell("ok"))
        table.add_row(cell(s.source), str(s.entries), str(s.new), str(s.seen), str(s.failed), status)
    out = out or console()
    if table.row_count:
        out.print(table)
    else:
        out.print(f"ingest run {summary.run_id}: {summary.new} new articles")
    counted = ", ".join(f"{n} {what}" for what, n in quiet.items() if n)
    if counted:
        out.print(f"other sources: {counted}")
    if summary.failures:
        # one line, no wrapping: the hint is meant to be copied into a shell as it is
        out.print(f"{len(summary.failures)} failures recorded; see them with:")
        out.print(FAILURES_HINT, soft_wrap=True)


@app.command()
def ingest(config_dir: ConfigDirOpt = None, db: DbOpt = None, prefect: PrefectOpt = Orchestration.auto) -> None:
    """Fetch every due source once; store new articles, their topic scores and every request.

    Runs as a Prefect flow when PREFECT_API_URL is set or `newswatch serve` is running (the run
    then shows in its UI), else directly: same work, recorded in DuckDB (`runs`, `fetches`) only.

    Example: newswatch ingest --config-dir config --db data/newswatch.duckdb
    """
    print_summary(run_ingest(config_dir, db, prefect))


@app.command()
def run(config_dir: ConfigDirOpt = None, db: DbOpt = None, prefect: PrefectOpt = Orchestration.auto) -> None:
    """The main job: ingest, then send every subscriber's pending digest.

    Example: newswatch run --config-dir config
    """
    print_summary(run_ingest(config_dir, db, prefect))
    from newswatch.cli.digest import run_digest_now  # noqa: PLC0415

    run_digest_now(config_dir, db)
