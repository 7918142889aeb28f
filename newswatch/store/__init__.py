"""DuckDB storage. The only package that knows SQL tables exist.

`connect(path)` opens (creating) the database and applies migrations; `connect(path, read_only=True)`
is for analysts' queries. Writes go through the functions of the submodules, each batch in one
transaction, each idempotent.
"""

from newswatch.store.db import (
    DatabaseBusyError,
    StoreUnavailable,
    connect,
    create_views,
    migrate,
    transaction,
    writer_lock,
)

__all__ = ["DatabaseBusyError", "StoreUnavailable", "connect", "create_views", "migrate", "transaction", "writer_lock"]
