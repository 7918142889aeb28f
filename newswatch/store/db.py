"""Connections, the migrator and views."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class DatabaseBusyError(RuntimeError):
    """Another process holds the DuckDB file (DuckDB allows one writer process per file)."""


class MigrationError(RuntimeError):
    pass


def connect(path: str | Path, read_only: bool = False, apply_migrations: bool = True) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"{path}: no database yet (fix: run `newswatch ingest` first, or pass --db)")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise DatabaseBusyError(
                f"{path}: the database is in use by another newswatch process "
                "(DuckDB allows one writer); wait for it to finish and retry"
            ) from exc
        raise
    conn.execute("set timezone = 'UTC'")
    if not read_only and apply_migrations:
        migrate(conn)
        create_views(conn)
    return conn


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    conn.execute("begin transaction")
    try:
        yield conn
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


def _migrations(sql_dir: Path) -> list[tuple[int, str, str]]:
    out = []
    for p in sorted((sql_dir / "migrations").glob("*.sql")):
        m = MIGRATION_RE.match(p.name)
        if not m:
            raise MigrationError(f"{p}: migration files are named NNNN_snake_case.sql")
        out.append((int(m.group(1)), p.name, p.read_text(encoding="utf-8")))
    return out


def migrate(conn: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending numbered migrations, each with its record in one transaction.

    Forward-only: an already-applied file whose text changed is refused, because the database
    would no longer match what the file says. Returns the names applied now.
    """
    conn.execute(
        "create table if not exists schema_migrations ("
        " version integer primary key, name varchar not null,"
        " checksum varchar not null, applied_at timestamptz not null default now())"
    )
    applied = {v: (n, c) for v, n, c in conn.execute("select version, name, checksum from schema_migrations").fetchall()}
    done = []
    for version, name, sql in _migrations(sql_dir):
        checksum = hashlib.sha256(sql.encode()).hexdigest()
        if version in applied:
            if applied[version][1] != checksum:
                raise MigrationError(
                    f"sql/migrations/{name} changed after it was applied "
                    "(fix: restore it and put the change in a new numbered migration)"
                )
            continue
        with transaction(conn):
            conn.execute(sql)
            conn.execute(
                "insert into schema_migrations (version, name, checksum) values (?, ?, ?)",
                [version, name, checksum],
            )
        done.append(name)
    return done


def create_views(conn: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> None:
    """(Re-)create every view in sql/views/, in name order (prefix a number for dependencies)."""
    with transaction(conn):
        for p in sorted((sql_dir / "views").glob("*.sql")):
            conn.execute(p.read_text(encoding="utf-8"))
