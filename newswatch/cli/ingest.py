"""`newswatch ingest` and `newswatch run`."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

from newswatch.cli.app import ConfigDirOpt, DbOpt, app, fail
from newswatch.cli.show import cell, console
from newswatch.config import ConfigError
from newswatch.models import RunSummary
from newswatch.store import StoreUnavailable


def run_ingest(config_dir, db) -> RunSummary:
    from flows.ingest import ingest_flow  # noqa: PLC0415 - importing prefect costs ~1 s; only when needed

    try:
        return asyncio.run(ingest_flow(str(config_dir) if config_dir else None, str(db) if db else None))
    except (ConfigError, StoreUnavailable) as exc:
        raise fail(str(exc)) from None


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
