"""The Typer app and the options every command shares. Commands live in sibling modules."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from newswatch.config import AppConfig, LakeTarget

app = typer.Typer(
    name="newswatch",
    help="Self-hosted news monitoring: fetch, extract, classify, store in DuckDB, send digests.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)

ConfigDirOpt = Annotated[
    Path | None,
    typer.Option("--config-dir", help="Config folder (default: config/, env NEWSWATCH_CONFIG_DIR)."),
]
DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="DuckDB file (default: data/newswatch.duckdb, env NEWSWATCH_DB)."),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a clear error to stderr and return the Exit to raise."""
    from newswatch.cli.show import visible  # noqa: PLC0415

    typer.secho(f"error: {visible(message, csv=True)}", err=True, fg=typer.colors.RED)  # newlines kept
    return typer.Exit(code)


def require_db(path) -> None:
    """Commands that work on an existing database refuse one that is not there: a mistyped --db
    would otherwise be created empty and the command would report "Nothing new"."""
    if isinstance(path, Path) and not path.exists():
        raise fail(f"{path}: no such database (fix: check --db / NEWSWATCH_DB, or run `newswatch ingest` "
                   "first: only ingest, run and serve create a database)")


def reading_target(config_dir: Path | None, db: Path | None, *, need_config: bool = False
                   ) -> tuple[AppConfig | None, Path | LakeTarget]:
    """The config (when it loads) and the existing database a reading command works on.

    A config that does not load is an error when it is what names the database (no --db, no
    NEWSWATCH_DB): never fall back to the default file. With the database named, the config error
    is a warning on stderr and the command reads what was named.
    """
    from newswatch.config import ConfigError, load_config, resolve_db_path  # noqa: PLC0415

    named = db is not None or bool(os.environ.get("NEWSWATCH_DB"))
    config = None
    if need_config or config_dir is not None or not named:
        try:
            config = load_config(config_dir)
        except ConfigError as exc:
            if not named or need_config:
                raise fail(str(exc)) from None
            typer.echo(f"warning: config not loaded: {exc}", err=True)
    path = resolve_db_path(db, config.settings if config else None)
    require_db(path)
    return config, path
