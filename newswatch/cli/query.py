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
from rich.table import Table

from newswatch.cli.app import ConfigDirOpt, DbOpt, app, fail, reading_target
from newswatch.cli.show import cell, console, visible
from newswatch.store import StoreUnavailable
from newswatch.store.fts import SearchUnavailable, load_fts

# describe/show/summarize/pragma_* parse as SELECT; COPY, ATTACH, SET, LOAD, INSERT… are refused
# before they run, and so is an EXPLAIN of anything but a SELECT (EXPLAIN ANALYZE runs its statement).
READ_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
REFUSAL = ("query refuses writes: {what} is not a read (fix: use SELECT; data changes come from ingest, "
           "digest and reclassify; to save results use --format csv|json|parquet --out FILE)")
# DuckDB's own guards, whatever the check above misses (a read-only connection alone still lets
# COPY … TO write a file): no file read or written but the open database (read_csv('/etc/passwd')
# included), no extension installed or loaded, and no setting changed afterwards. Set after the
# fts extension is loaded by path, since search_articles() needs it and LOAD is refused from then on.
LOCKDOWN = (
    "set autoinstall_known_extensions = false",
    "set autoload_known_extensions = false",
    "set allow_community_extensions = false",
    "set enable_external_access = false",
    "set lock_configuration = true",
)
REFUSED_BY_ENGINE = (duckdb.PermissionException, duckdb.InvalidInputException)


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def open_readonly(config_dir, db) -> duckdb.DuckDBPyConnection:
    """A read-only connection, retried briefly while a run writes; fts loaded for search_articles()."""
    from newswatch.status import connect_reader

    _, path = reading_target(config_dir, db)
    try:
        conn = connect_reader(path)
    except (FileNotFoundError, StoreUnavailable) as exc:
        raise fail(str(exc)) from None
    try:
        load_fts(conn)
    except (SearchUnavailable, duckdb.Error):
        pass  # plain SQL still works; only search_articles() needs the extension
    try:
        lock_down(conn, path)
    except duckdb.Error as exc:
        conn.close()
        raise fail(f"cannot lock the query connection down: {exc}") from None
    return conn


def lock_down(conn: duckdb.DuckDBPyConnection, path) -> None:
    """DuckDB's guards (LOCKDOWN); a lake's Parquet files stay readable, its data folder only."""
    data_path = getattr(path, "data_path", None)
    if data_path:
        conn.execute("set allowed_directories = ?", [[str(data_path)]])
    for statement in LOCKDOWN:
        conn.execute(statement)


def check_read_only(conn: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """The statements of `sql`, or a clear refusal if any of them would write."""
    try:
        statements = conn.extract_statements(sql)
    except duckdb.Error as exc:
        raise fail(f"SQL error: {exc}") from None
    if not statements:
        raise fail("no SQL given (fix: pass a SELECT, or -f FILE)")
    for st in statements:
        what = refused_type(conn, st)
        if what:
            raise fail(REFUSAL.format(what=f"{what} ({st.query.strip()[:60]!r})"))
    return [st.query for st in statements]


def refused_type(conn: duckdb.DuckDBPyConnection, st) -> str | None:
    """The name of what `st` is when it is not a read; an EXPLAIN is judged by what it explains."""
    if st.type not in READ_STATEMENTS:
        return st.type.name
    if st.type is not duckdb.StatementType.EXPLAIN:
        return None
    inner = explained(st.query)
    try:
        inner_statements = conn.extract_statements(inner) if inner else []
    except duckdb.Error:
        inner_statements = []
    if len(inner_statements) != 1:
        return "EXPLAIN of an unparseable statement"
    what = refused_type(conn, inner_statements[0])
    return f"EXPLAIN {what}" if what else None


def explained(sql: str) -> str | None:
    """The statement after `EXPLAIN [ANALYZE] [(options)]`, comments skipped by DuckDB's tokenizer."""
    tokens = duckdb.tokenize(sql)
    starts = [offset for offset, _ in tokens] + [len(sql)]
    words = [sql[a:b].strip().lower() for a, b in zip(starts, starts[1:])]
    i = 1  # words[0] is EXPLAIN
    depth = 0
    while i < len(words):
        word = words[i]
        if word == "(" and not depth and words[i + 1:i + 2] in (["select"], ["with"], ["from"], ["("]):
            return sql[starts[i]:]  # a parenthesised query, not an option list
        if word == "(" or depth and word != ")":
            depth += word == "("
        elif word == ")":
            depth -= 1
        elif word not in ("analyze", "analyse"):
            return sql[starts[i]:]
        i += 1
    return None


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
        raise fail(sql_error(exc)) from None
    return cols, rows


def sql_error(exc: duckdb.Error) -> str:
    msg = str(exc)
    if "read-only" in msg.lower() or "read only" in msg.lower():
        return REFUSAL.format(what="this statement")
    if isinstance(exc, REFUSED_BY_ENGINE) and ("disabled" in msg or "locked" in msg):
        return (f"query refuses this: {msg.splitlines()[0]} (query reads the database only: no files, "
                "no extensions, no settings; fix: use SELECT on the views and tables)")
    return f"SQL error: {msg}"


def write_parquet(conn: duckdb.DuckDBPyConnection, sql: str, out: Path) -> int:
    """The last statement's rows as a Parquet file. The query's connection may not write files
    (LOCKDOWN), so the rows pass through Python to a fresh in-memory connection that writes them,
    each column as a typed list (`unnest($i::TYPE[])`), which keeps DuckDB's types."""
    statements = check_read_only(conn, sql)
    try:
        for statement in statements[:-1]:
            conn.execute(statement)
        rel = conn.sql(statements[-1])
        if rel is None:
            raise fail("the last statement returns no rows to write (fix: end with a SELECT)")
        names, types, rows = rel.columns, [str(t) for t in rel.types], rel.fetchall()
    except duckdb.Error as exc:
        raise fail(sql_error(exc)) from None
    columns = [list(c) for c in zip(*rows)] if rows else [[] for _ in names]
    select = ", ".join(f'unnest(${i + 1}::{t}[]) as "{n.replace(chr(34), chr(34) * 2)}"'
                       for i, (n, t) in enumerate(zip(names, types)))
    writer = duckdb.connect()
    try:
        writer.execute("set timezone = 'UTC'")
        writer.execute(f"copy (select {select}) to '{str(out).replace(chr(39), chr(39) * 2)}' (format parquet)",
                       columns)
    except duckdb.Error as exc:
        raise fail(f"cannot write {out}: {exc}") from None
    finally:
        writer.close()
    return len(rows)


def emit(cols: list[str], rows: list[tuple], fmt: Format, out=None) -> None:
    stream = out or sys.stdout
    if fmt is Format.json:
        json.dump([dict(zip(cols, r)) for r in rows], stream, default=str, ensure_ascii=False)
        stream.write("\n")
    elif fmt is Format.csv:
        # control characters written visibly (a raw ESC in a title must not drive the terminal that
        # shows the CSV); tabs and newlines stay, quoted as CSV data
        w = csv.writer(stream)
        w.writerow([visible(c, csv=True) for c in cols])
        w.writerows([[v if v is None or isinstance(v, int | float) else visible(v, csv=True) for v in r]
                     for r in rows])
    else:
        table = Table(show_lines=False)
        for c in cols:
            table.add_column(cell(c), overflow="fold")
        for r in rows:
            table.add_row(*(cell(v, limit=300) for v in r))
        console(file=stream).print(table)


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
