"""Connections, the migrator and views."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import duckdb

from newswatch.config.settings import LakeTarget


def _mark_pandas_absent() -> None:
    """DuckDB's Python binding tries `import pandas` twice for every bound parameter value; when
    pandas is not installed each try walks sys.path (~40 µs), so binding 1,000 URLs cost ~90 ms
    instead of ~8 ms (measured; see docs/decisions.md). Recording the absence makes the failed
    import instant. Only when pandas really is absent: an installed pandas is left alone."""
    import importlib.util
    import sys

    if "pandas" not in sys.modules and importlib.util.find_spec("pandas") is None:
        sys.modules["pandas"] = None  # type: ignore[assignment]


_mark_pandas_absent()

def _sql_dir() -> Path:
    """sql/ inside the installed package (a wheel, see setup.py), else the repository's top-level one."""
    packaged = Path(__file__).resolve().parents[1] / "sql"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "sql"


SQL_DIR = _sql_dir()
MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StoreUnavailable(RuntimeError):
    """The store cannot be opened now: busy file, unreachable lake catalog, missing extension."""


class DatabaseBusyError(StoreUnavailable):
    """Another process holds the DuckDB file (DuckDB allows one writer process per file)."""


class MigrationError(RuntimeError):
    pass


LAKE_SETUP_ATTEMPTS = 10  # workers starting together race to migrate the lake; the losers re-check


def connect(path: str | Path | LakeTarget, read_only: bool = False,
            apply_migrations: bool = True) -> duckdb.DuckDBPyConnection:
    """The store: a DuckDB file, or (given a LakeTarget, from `storage: ducklake`) the lake."""
    if isinstance(path, LakeTarget):
        return _connect_lake(path, read_only, apply_migrations)
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


def _connect_lake(target: LakeTarget, read_only: bool, apply_migrations: bool):
    from newswatch.store import lake

    conn = lake.open_lake(target, read_only)
    if read_only or not apply_migrations:
        return conn
    for attempt in range(LAKE_SETUP_ATTEMPTS):
        try:
            lake.ensure_token(conn)
            migrate(conn)
            create_views(conn)
            return conn
        except (duckdb.TransactionException, duckdb.CatalogException):
            if attempt == LAKE_SETUP_ATTEMPTS - 1:
                conn.close()
                raise
            time.sleep(0.2 * (attempt + 1))  # another worker migrated meanwhile: look again
    return conn


_DEPTH: dict[int, int] = {}  # open transaction() blocks per connection


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection, replay: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction; nested uses join the outer one, so a batch of writes commits as a whole.

    On a lake connection a commit that conflicts with another writer is replayed (see lake.py);
    replay=False raises instead, for writes that are only right given what the block read.
    """
    if getattr(conn, "dialect", None) == "ducklake":
        with conn.transaction(replay) as lake_conn:  # type: ignore[attr-defined]
            yield lake_conn
        return
    key = id(conn)
    depth = _DEPTH.get(key, 0)
    _DEPTH[key] = depth + 1
    try:
        if depth:
            yield conn
            return
        conn.execute("begin transaction")
        try:
            yield conn
        except BaseException:
            conn.execute("rollback")
            raise
        conn.execute("commit")
    finally:
        if depth:
            _DEPTH[key] = depth
        else:
            _DEPTH.pop(key, None)


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
    ddl = _ddl_for(conn)
    conn.execute(ddl(
        "create table if not exists schema_migrations ("
        " version integer primary key, name varchar not null,"
        " checksum varchar not null, applied_at timestamptz not null default now())"
    ))
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
        with transaction(conn, replay=False):  # lake: a conflict means another worker migrated
            conn.execute(ddl(sql))
            conn.execute(
                "insert into schema_migrations (version, name, checksum) values (?, ?, ?)",
                [version, name, checksum],
            )
        done.append(name)
    return done


def _ddl_for(conn):
    """Migrations run as written on a file; on a lake, without keys and indexes (lake.translate_ddl)."""
    if getattr(conn, "dialect", None) == "ducklake":
        from newswatch.store.lake import translate_ddl

        return translate_ddl
    return lambda sql: sql


def create_views(conn: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> bool:
    """(Re-)create every view in sql/views/, in name order (prefix a number for dependencies).

    Skipped when the view files are the ones last applied (their checksum is recorded): a tick
    that opens the database should not rewrite the catalog. Returns whether views were written.
    """
    files = sorted((sql_dir / "views").glob("*.sql"))
    texts = [p.read_text(encoding="utf-8") for p in files]
    checksum = hashlib.sha256("\0".join(p.name + "\0" + t for p, t in zip(files, texts)).encode()).hexdigest()
    conn.execute("create table if not exists schema_views (checksum varchar not null, applied_at timestamptz not null)")
    if conn.execute("select 1 from schema_views where checksum = ?", [checksum]).fetchone():
        return False
    with transaction(conn, replay=False):
        for text in texts:
            conn.execute(text)
        conn.execute("delete from schema_views")
        conn.execute("insert into schema_views values (?, now())", [checksum])
    return True


_HELD_HERE = threading.local()  # per thread: lock file -> how many writer_lock blocks hold it


@contextmanager
def writer_lock(db_path: str | Path | LakeTarget, wait_s: float = 0.0, on_wait=None) -> Iterator[None]:
    """Hold `<db>.lock` for a whole run, so two runs never write at once.

    DuckDB itself refuses a second writer process with an error mid-run; taking this lock first
    turns that into a clear wait (up to wait_s) or a clear refusal before anything is done.
    A lake takes no lock: its writers run at once, on any machine (lake.py keeps them correct).
    """
    import fcntl

    if isinstance(db_path, LakeTarget):
        yield
        return
    path = Path(str(db_path) + ".lock")
    key = str(path.resolve())
    held = _HELD_HERE.__dict__.setdefault("locks", {})
    if held.get(key):
        # this thread already holds it (the CLI takes the lock before starting the flow, which
        # runs in the same thread and takes it again): flock on a second descriptor would wait
        # for ourselves
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        deadline = time.monotonic() + wait_s
        announced = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DatabaseBusyError(
                        f"{db_path}: another newswatch run is writing to this database; "
                        f"gave up after waiting {wait_s:g} s (fix: let it finish, or raise lock_wait_s)"
                    ) from None
                if on_wait and not announced:
                    on_wait(f"another newswatch run is writing to {db_path}; waiting up to {wait_s:g} s")
                    announced = True
                time.sleep(0.2)
        held[key] = 1
        try:
            yield
        finally:
            held.pop(key, None)
            fcntl.flock(fh, fcntl.LOCK_UN)


def bulk_insert(conn: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], rows: Sequence[Sequence],
                on_conflict: str = "") -> int:
    """Insert many rows in ONE statement, the rows travelling as ONE JSON text parameter.

    `executemany` runs a statement per row (~0.3-1.8 ms each with ON CONFLICT). Binding each
    column as a list parameter was the next step, but DuckDB's binding converts every Python value
    on its own (and tries `import pandas` twice per value): ~85 µs per 14-column row. One JSON
    text, parsed by DuckDB and cast to each column's declared type, costs about half that (measured
    in docs/performance.md). Callers dedupe keys first: DuckDB refuses to update one key twice in
    a single statement. `on_conflict` is the statement's `on conflict ...` clause.
    """
    if not rows:
        return 0
    if getattr(conn, "dialect", None) == "ducklake":  # no keys, so no `on conflict`: same effect, two statements
        from newswatch.store.lake import upsert_statements

        cols = list(zip(*rows, strict=True))
        with transaction(conn):
            for statement in upsert_statements(table, columns, on_conflict):
                conn.execute(statement, [list(c) for c in cols])
        return len(rows)
    types = _column_types(conn, table)
    select = ", ".join(f"cast(r[{i + 1}] as {_cast_type(types[c])})" for i, c in enumerate(columns))
    payload = json.dumps(rows, ensure_ascii=False, default=_json_value, check_circular=False)
    conn.execute(f"insert into {table} ({', '.join(columns)}) select {select} "
                 f"from (select unnest(?::json::varchar[][]) as r) {on_conflict}", [payload])
    return len(rows)


_TYPES: dict[tuple[str, str], dict[str, str]] = {}


def _column_types(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Declared type of each column of `table` (cached per database file and table)."""
    db = conn.execute("select current_database()").fetchone()[0]
    key = (db, table)
    if key not in _TYPES:
        _TYPES[key] = dict(conn.execute(
            "select column_name, data_type from duckdb_columns() where table_name = ? and database_name = ?",
            [table, db]).fetchall())
    return _TYPES[key]


def _cast_type(declared: str) -> str:
    return "varchar" if declared == "JSON" else declared  # a JSON column takes the JSON text as it is


def _json_value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"bulk_insert cannot store {type(value).__name__} values")
