"""DuckLake storage: the same tables, views and SQL as the DuckDB file, in a lake whose catalog is
a PostgreSQL database and whose data are Parquet files, so several workers can write at once.

What differs from the file, and how this module closes the gap (docs/scaling.md):
- Extensions come from the pinned `duckdb-extension-ducklake` and
  `duckdb-extension-postgres-scanner` packages and are loaded by file path; `INSTALL` never runs.
- DuckLake has no PRIMARY KEY, UNIQUE or index: `translate_ddl` strips them from the numbered
  migrations (one source of truth for columns), and `upsert_statements` turns bulk_insert's
  `on conflict` clause into `update … from` + `insert … where not exists`.
- Without keys, two concurrent transactions inserting the same article would both commit (DuckLake
  appends never conflict). So every write transaction also bumps the one row of
  `lake_write_token`: two overlapping write transactions then conflict at commit, the loser's
  statements are replayed on the new snapshot (they re-check what exists), and writes behave as
  if serialised: no article lost, none duplicated. Measured here: a conflict costs one replay of a
  batch's statements; fetching and extraction, the slow part, run in parallel.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from newswatch.redaction import install_log_redaction, redact, register_secret
from newswatch.store.db import StoreUnavailable

from newswatch.config.settings import LakeTarget

DUCKDB_VERSION = "v1.5.5"  # extension files load only into this exact DuckDB build
EXTENSIONS = (  # (package, extension): postgres_scanner first, ducklake's catalog needs it
    ("duckdb_extension_postgres_scanner", "postgres_scanner"),
    ("duckdb_extension_ducklake", "ducklake"),
)
ALIAS = "lake"
TOKEN_TABLE = "lake_write_token"
_TOKEN_SQL = f"update {TOKEN_TABLE} set n = n + 1"
REPLAY_ATTEMPTS = 50  # conflicts in a row before giving up; 2-3 workers rarely need more than 3
REPLAY_BACKOFF_S = 0.05  # first wait before a replay, doubled each time up to REPLAY_BACKOFF_MAX_S
REPLAY_BACKOFF_MAX_S = 2.0
_WRITE_RE = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(insert|update|delete|merge|create|drop|alter|truncate|copy)\b",
                       re.IGNORECASE)


class LakeUnavailable(StoreUnavailable):
    """An extension package is missing, or the catalog cannot be reached."""


class LakeConflictError(RuntimeError):
    """A write transaction kept conflicting with other writers after every replay."""


def extension_path(package: str, name: str) -> Path:
    """The extension file inside its installed wheel (never downloaded)."""
    try:
        module = __import__(package)
    except ImportError:
        raise LakeUnavailable(f"{package} is not installed (fix: pip install -e .)") from None
    root = Path(module.__file__).parent / "extensions"
    found = [root / DUCKDB_VERSION / f"{name}.duckdb_extension"]
    found = [p for p in found if p.exists()] or sorted(root.glob(f"*/{name}.duckdb_extension"))
    if not found:
        raise LakeUnavailable(f"{root}: no {name}.duckdb_extension (fix: reinstall {package})")
    return found[0]


def load_extensions(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("set autoinstall_known_extensions = false")  # a missing file is an error, not a download
    for package, name in EXTENSIONS:
        conn.execute(f"load '{extension_path(package, name)}'")


def describe(target: LakeTarget) -> str:
    """The lake for messages and logs: the catalog DSN with its password masked in every form."""
    return redact(f"ducklake:postgres:{target.catalog} (data {target.data_path})")


def _redacted(exc: duckdb.Error) -> duckdb.Error:
    """`exc` again, or the same type with a redacted message when DuckDB repeated the DSN in it."""
    msg = str(exc)
    clean = redact(msg)
    if clean == msg:
        return exc
    try:
        return type(exc)(clean)
    except TypeError:
        return duckdb.Error(clean)


def attach_sql(target: LakeTarget, read_only: bool = False) -> str:
    catalog = target.catalog.replace("'", "''")
    data = target.data_path.replace("'", "''")
    return f"attach 'ducklake:postgres:{catalog}' as {ALIAS} (data_path '{data}'{', read_only' if read_only else ''})"


def translate_ddl(sql: str) -> str:
    """A migration rewritten for DuckLake: no comments, no indexes, no primary keys.

    A column's `primary key` becomes `not null` (what the key implied besides uniqueness); a
    table's `primary key (a, b)` goes. Uniqueness is kept by the writers instead (module docstring).
    """
    sql = re.sub(r"--[^\n]*", "", sql)
    sql = re.sub(r"\bcreate\s+(?:unique\s+)?index\b[^;]*;?", "", sql, flags=re.IGNORECASE)
    sql = re.sub(r",\s*primary\s+key\s*\([^)]*\)", "", sql, flags=re.IGNORECASE)
    sql = re.sub(r"\s+primary\s+key\b", " not null", sql, flags=re.IGNORECASE)
    return re.sub(r"\bnot null(\s+not null)+", "not null", sql, flags=re.IGNORECASE)


_CONFLICT_RE = re.compile(r"^\s*on\s+conflict\s*\(([^)]*)\)\s*do\s+(nothing|update\s+set\s+(.+))$",
                          re.IGNORECASE | re.DOTALL)


def upsert_statements(table: str, columns: Sequence[str], on_conflict: str) -> list[str]:
    """bulk_insert's statement for the lake: column i is the list parameter $i+1, as in the file.

    `on conflict (k) do update set …` becomes an update of the existing keys, then an insert of
    the others; `do nothing` only the insert. Both read the source rows as `excluded`, so the
    clause's own `excluded.col` references work unchanged.
    """
    cols = ", ".join(columns)
    source = "(select " + ", ".join(f"unnest(${i + 1}) as {c}" for i, c in enumerate(columns)) + ") as excluded"
    if not on_conflict.strip():
        return [f"insert into {table} ({cols}) select {cols} from {source}"]
    m = _CONFLICT_RE.match(on_conflict)
    if not m:
        raise ValueError(f"cannot translate for DuckLake: {on_conflict!r}")
    keys = [k.strip() for k in m.group(1).split(",")]
    exists = " and ".join(f"t.{k} = excluded.{k}" for k in keys)
    insert = f"insert into {table} ({cols}) select {cols} from {source} where not exists " \
             f"(select 1 from {table} as t where {exists})"
    if m.group(3) is None:
        return [insert]
    match = " and ".join(f"{table}.{k} = excluded.{k}" for k in keys)
    return [f"update {table} set {m.group(3).strip()} from {source} where {match}", insert]


def _is_conflict(exc: duckdb.Error) -> bool:
    return "conflict" in str(exc).lower()


class LakeConnection:
    """A DuckDB connection attached to the lake (its default catalog), with the lake's rules for
    writes: every write runs in a transaction that bumps the token and is replayed on conflict.

    Everything else is the DuckDB connection's own API (attribute access is delegated), so the
    store's functions take either; `dialect` tells them apart where the SQL must differ.
    """

    dialect = "ducklake"

    def __init__(self, raw: duckdb.DuckDBPyConnection, target: LakeTarget, read_only: bool) -> None:
        self.raw = raw
        self.target = target
        self.read_only = read_only
        self._log: list[tuple[str, str, object]] | None = None  # writes of the open transaction
        self._replayable = True

    def __getattr__(self, name: str):
        return getattr(self.raw, name)

    def __enter__(self) -> LakeConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.raw.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = self.raw.cursor()  # a new DuckDB connection: its default catalog is not the lake yet
        cur.execute(f"use {ALIAS}")
        return cur

    def execute(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
        return self._run("execute", sql, params)

    def executemany(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
        return self._run("executemany", sql, params)

    def _run(self, method: str, sql: str, params: object) -> duckdb.DuckDBPyConnection:
        is_write = not self.read_only and bool(_WRITE_RE.match(sql))
        if is_write and self._log is None:  # a lone write is a transaction of its own
            with self.transaction():
                return self._run(method, sql, params)
        if is_write:
            self._log.append((method, sql, params))  # type: ignore[union-attr]
        fn = getattr(self.raw, method)
        try:
            return fn(sql) if params is None else fn(sql, params)
        except duckdb.Error as exc:  # a lost catalog connection's error names the DSN, password and all
            clean = _redacted(exc)
            if clean is exc:
                raise
            raise clean from None

    @contextmanager
    def transaction(self, replay: bool = True) -> Iterator[LakeConnection]:
        """One lake transaction; nested uses join it. replay=False: a conflict raises instead
        (for writes that depend on what was read, like a digest's claim)."""
        if self._log is not None:
            self._replayable = self._replayable and replay
            yield self
            return
        self._log, self._replayable = [], replay
        try:
            self.raw.execute("begin transaction")
            try:
                yield self
            except BaseException:
                self._rollback()
                raise
            self._commit()
        finally:
            self._log, self._replayable = None, True

    def _rollback(self) -> None:
        try:
            self.raw.execute("rollback")
        except duckdb.TransactionException:
            pass  # a failed commit already ended the transaction

    def _commit(self) -> None:
        log = list(self._log or [])
        if not log:
            self.raw.execute("commit")
            return
        for attempt in range(REPLAY_ATTEMPTS + 1):
            try:
                if attempt:
                    time.sleep(min(REPLAY_BACKOFF_MAX_S, REPLAY_BACKOFF_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5))
                    self.raw.execute("begin transaction")
                    for method, sql, params in log:
                        fn = getattr(self.raw, method)
                        fn(sql) if params is None else fn(sql, params)
                self.raw.execute(_TOKEN_SQL)
                self.raw.execute("commit")
                return
            except duckdb.Error as exc:
                self._rollback()
                if not (_is_conflict(exc) and self._replayable):
                    clean = _redacted(exc)
                    if clean is exc:
                        raise
                    raise clean from None
        raise LakeConflictError(f"{describe(self.target)}: a write still conflicted after {REPLAY_ATTEMPTS} replays")


def open_lake(target: LakeTarget, read_only: bool = False) -> LakeConnection:
    """An in-memory DuckDB with the lake attached and in use; creates the lake on first use."""
    if not target.catalog or not target.data_path:
        raise LakeUnavailable("storage: ducklake needs lake_catalog and lake_data_path (fix: set both)")
    register_secret(target.catalog)  # the DSN may come from settings.yaml, not only NEWSWATCH_LAKE_CATALOG
    install_log_redaction()
    raw = duckdb.connect()
    try:
        load_extensions(raw)
        if not read_only and "://" not in target.data_path:
            Path(target.data_path).mkdir(parents=True, exist_ok=True)
        raw.execute(attach_sql(target, read_only))
        raw.execute(f"use {ALIAS}")
    except duckdb.Error as exc:
        raw.close()
        # DuckDB's message repeats the DSN (twice): redacted like everything else that names it
        raise LakeUnavailable(redact(f"{describe(target)}: cannot open the lake: {str(exc).splitlines()[0]}")) from None
    raw.execute("set timezone = 'UTC'")
    return LakeConnection(raw, target, read_only)


def ensure_token(conn: LakeConnection) -> None:
    """The one-row table every write transaction bumps (see the module docstring)."""
    with conn.transaction(replay=False):
        conn.execute(f"create table if not exists {TOKEN_TABLE} (n bigint not null)")
        conn.execute(f"insert into {TOKEN_TABLE} select 0 where not exists (select 1 from {TOKEN_TABLE})")


def is_lake(conn: object) -> bool:
    return getattr(conn, "dialect", None) == "ducklake"
