"""`newswatch query`: ad-hoc SQL on a read-only connection; reads only, and says so."""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from newswatch.cli.app import ConfigDirOpt, DbOpt, app, fail
from newswatch.config import ConfigError, load_config, resolve_db_path
from newswatch.store import StoreUnavailable
from newswatch.store.fts import SearchUnavailable, load_fts

# describe/show/summarize/pragma_* parse as SELECT; COPY, ATTACH, SET, LOAD, INSERT… are refused
# before they run (a read-only connection alone would still let COPY write a file).
READ_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
REFUSAL = ("query refuses writes: {what} is not a read (fix: use SELECT; data changes come from ingest, "
           "digest and reclassify; to save results use --format csv|json|parquet --out FILE)")


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def open_readonly(config_dir, db) -> duckdb.DuckDBPyConnection:
    """A read-only connection, retried briefly while a run writes; fts loaded for search_articles()."""
    from newswatch.status import connect_reader

    try:
        settings = load_config(config_dir).settings if (config_dir or not db) else None
    except ConfigError:
        settings = None  # a query must still work when, say, alerts.yaml is being edited
    path = resolve_db_path(db, settings)
    try:
        conn = connect_reader(path)
    except (FileNotFoundError, StoreUnavailable) as exc:
        raise fail(str(exc)) from None
    try:
        load_fts(conn)
    except (SearchUnavailable, duckdb.Error):
        pass  # plain SQL still works; only search_articles() needs the extension
    return conn


def check_read_only(conn: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """The statements of `sql`, or a clear refusal if any of them would write."""
    try:
        statements = conn.extract_statements(sql)
    except duckdb.Error as exc:
        raise fail(f"SQL error: {exc}") from None
    if not statements:
        raise fail("no SQL given (fix: pass a SELECT, or -f FILE)")
    for st in statements:
        if st.type not in READ_STATEMENTS:
            raise fail(REFUSAL.format(what=f"{st.type.name} ({st.query.strip()[:60]!r})"))
    return [st.query for st in statements]


def run_sql(conn: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    """Run every statement; the last one's rows are the result."""
    cols: list[str] = []
    rows: list[tuple] = []
    try:
        for statement in check_read_only(conn, sql):
            rel = conn.execute(statement)
            cols = [d[0] for d in rel.description] if rel.description else []
            rows = rel.fetchall() if cols else []
    except duckdb.Error as exc:
        msg = str(exc)
        if "read-only" in msg.lower() or "read only" in msg.lower():
            raise fail(REFUSAL.format(what="this statement")) from None
        raise fail(f"SQL error: {msg}") from None
    return cols, rows


def write_parquet(conn: duckdb.DuckDBPyConnection, sql: str, out: Path) -> int:
    statements = check_read_only(conn, sql)
    try:
        for statement in statements[:-1]:
            conn.execute(statement)
        rel = conn.sql(statements[-1])
        rel.write_parquet(str(out))
        return conn.execute("select count(*) from read_parquet(?)", [str(out)]).fetchone()[0]
    except duckdb.Error as exc:
        raise fail(f"SQL error: {exc}") from None


def emit(cols: list[str], rows: list[tuple], fmt: Format, out=None) -> None:
    stream = out or sys.stdout
    if fmt is Format.json:
        json.dump([dict(zip(cols, r)) for r in rows], stream, default=str, ensure_ascii=False)
        stream.write("\n")
    elif fmt is Format.csv:
        w = csv.writer(stream)
        w.writerow(cols)
        w.writerows(rows)
    else:
        table = Table(show_lines=False)
        for c in cols:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*("" if v is None else str(v)[:300] for v in r))
        Console(file=stream).print(table)


def read_sql_arg(sql: str | None, file: Path | None) -> str:
    if (sql is None) == (file is None):
        raise fail("give either SQL or -f FILE (fix: newswatch query \"select …\" or newswatch query -f x.sql)")
    if file is None:
        return sql or ""
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"{file}: {exc.strerror or exc}") from None


@app.command()
def query(
    sql: Annotated[str | None, typer.Argument(help="SQL to run (reads only).")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read the SQL from this file.")] = None,
    db: DbOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv, json (one array) or parquet (needs --out).")] = Format.table,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the result to this file.")] = None,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Run SQL against the database on a read-only connection; writes are refused.

    Views: articles_latest, source_health, fetch_errors, runs_latest, digest_log,
    pending_digest_items, subscriber_backlog; full-text search: search_articles('terms').

    Example: newswatch query "select source, title from articles_latest limit 20" --format csv

    Example: newswatch query -f sql/examples/pending_by_topic.sql --format parquet --out pending.parquet
    """
    text = read_sql_arg(sql, file)
    if fmt is Format.parquet and out is None:
        raise fail("--format parquet writes a file (fix: add --out FILE.parquet)")
    conn = open_readonly(config_dir, db)
    try:
        if fmt is Format.parquet:
            n = write_parquet(conn, text, out)
            typer.echo(f"{n} rows written to {out}", err=True)
            return
        cols, rows = run_sql(conn, text)
    finally:
        conn.close()
    if out is None:
        emit(cols, rows, fmt)
        return
    with out.open("w", encoding="utf-8", newline="") as fh:
        emit(cols, rows, fmt, fh)
    typer.echo(f"{len(rows)} rows written to {out}", err=True)
