"""`newswatch query`: ad-hoc SQL on a read-only connection."""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from newswatch.cli.app import ConfigDirOpt, DbOpt, app, fail
from newswatch.config import ConfigError, load_config, resolve_db_path
from newswatch.store import DatabaseBusyError, connect


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def open_readonly(config_dir, db) -> duckdb.DuckDBPyConnection:
    try:
        settings = load_config(config_dir).settings if (config_dir or not db) else None
    except ConfigError:
        settings = None  # a query must still work when, say, alerts.yaml is being edited
    path = resolve_db_path(db, settings)
    try:
        return connect(path, read_only=True)
    except (FileNotFoundError, DatabaseBusyError) as exc:
        raise fail(str(exc)) from None


def run_sql(conn: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    try:
        rel = conn.execute(sql)
        cols = [d[0] for d in rel.description] if rel.description else []
        return cols, rel.fetchall() if cols else []
    except duckdb.Error as exc:
        msg = str(exc)
        if "read-only" in msg.lower() or "read only" in msg.lower():
            raise fail("query refuses writes: the database is opened read-only for queries "
                       "(fix: use a SELECT; data changes come from ingest, digest and reclassify)") from None
        raise fail(f"SQL error: {msg}") from None


def emit(cols: list[str], rows: list[tuple], fmt: Format) -> None:
    if fmt is Format.json:
        json.dump([dict(zip(cols, r)) for r in rows], sys.stdout, default=str, ensure_ascii=False)
        sys.stdout.write("\n")
    elif fmt is Format.csv:
        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows(rows)
    else:
        table = Table(show_lines=False)
        for c in cols:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*("" if v is None else str(v)[:300] for v in r))
        Console().print(table)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL to run (read-only).")],
    db: DbOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json (one array of objects).")] = Format.table,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Run SQL against the database on a read-only connection.

    Example: newswatch query "select source, title, published_at from articles_latest limit 20" --format csv
    """
    conn = open_readonly(config_dir, db)
    try:
        cols, rows = run_sql(conn, sql)
    finally:
        conn.close()
    emit(cols, rows, fmt)
