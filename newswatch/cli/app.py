"""The Typer app and the options every command shares. Commands live in sibling modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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

    typer.secho(f"error: {visible(message)}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)
