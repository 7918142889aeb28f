"""`newswatch digest`: send every subscriber's pending items now (or preview them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from newswatch.cli.app import ConfigDirOpt, DbOpt, app, fail, require_db
from newswatch.cli.show import cell, console

if TYPE_CHECKING:  # imported by the commands themselves: `newswatch --help` stays light
    from newswatch.digest import SubscriberResult


@app.command()
def digest(
    config_dir: ConfigDirOpt = None,
    db: DbOpt = None,
    preview: Annotated[
        Path | None,
        typer.Option("--preview", help="Render to this HTML file (+ .txt, .chat.md); send and record nothing."),
    ] = None,
    subscriber: Annotated[
        list[str] | None, typer.Option("--subscriber", "-s", help="Only this subscriber (repeatable).")
    ] = None,
    only_due: Annotated[
        bool, typer.Option("--only-due", help="Honour each subscriber's cadence (what schedules run).")
    ] = False,
) -> None:
    """Send each subscriber's new matches through apprise, exactly once.

    Sends every subscriber's pending items now, whatever its cadence (--only-due honours it). An item is recorded as sent only after apprise reports success, so a failed send is retried by the next run.

    Example:

        newswatch digest --config-dir config --preview /tmp/digest.html
    """
    if preview:
        from newswatch.digest import preview_digests  # noqa: PLC0415

        with _open(config_dir, db) as (config, conn):
            try:
                for path in preview_digests(conn, config.alerts, preview, subscribers=subscriber,
                                                topic_titles=config.topic_titles):
                    typer.echo(f"preview written: {path}")
            except KeyError as exc:
                raise fail(str(exc.args[0])) from None
        return
    run_digest_now(config_dir, db, only_due=only_due, subscribers=subscriber)


def run_digest_now(
    config_dir: Path | None = None,
    db: Path | None = None,
    *,
    only_due: bool = False,
    subscribers: list[str] | None = None,
) -> list[SubscriberResult]:
    """Send pending digests and print the table; `newswatch run` calls this after ingest.

    Raises typer.Exit(1) after printing when any subscriber's digest failed.
    """
    from newswatch.digest import run_digests  # noqa: PLC0415

    with _open(config_dir, db) as (config, conn):
        try:
            results = run_digests(conn, config.alerts, only_due=only_due, subscribers=subscribers,
                                  topic_titles=config.topic_titles)
        except KeyError as exc:
            raise fail(str(exc.args[0])) from None
    print_results(results)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)
    return results


@contextmanager
def _open(config_dir: Path | None, db: Path | None) -> Iterator[tuple]:
    """Config and a writable connection, holding the writer lock (an ingest may be running)."""
    from newswatch.config import ConfigError, load_config, resolve_db_path  # noqa: PLC0415
    from newswatch.store import StoreUnavailable, connect, writer_lock  # noqa: PLC0415

    try:
        config = load_config(config_dir)
        path = resolve_db_path(db, config.settings)
        require_db(path)
        with writer_lock(path, config.settings.lock_wait_s, on_wait=lambda m: typer.echo(m, err=True)):
            conn = connect(path)
            try:
                yield config, conn
            finally:
                conn.close()
    except (ConfigError, StoreUnavailable) as exc:
        raise fail(str(exc)) from None


def print_results(results: list[SubscriberResult]) -> None:
    """A table of what each subscriber got; targets are redacted."""
    if not results:
        typer.echo("no subscribers in alerts.yaml")
        return
    table = Table("subscriber", "status", "items", "folded", "more", "target", "error")
    for r in results:
        table.add_row(cell(r.subscriber), cell(r.status), str(r.n_items), str(r.n_folded), str(r.n_more),
                      cell(r.target), cell(r.error))
    console().print(table)
