"""settings.yaml: how the pipeline runs. Every key can be overridden by NEWSWATCH_<KEY>."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Settings(BaseModel):
    # allow_inf_nan: "inf" from an environment override would pass every `gt=0` bound
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    db_path: str | None = None  # default data/newswatch.duckdb; --db and NEWSWATCH_DB win
    # file: one embedded DuckDB file (one writer at a time). ducklake: the same tables and views in a
    # DuckLake lake, so several workers can ingest at once (docs/scaling.md).
    storage: Literal["file", "ducklake"] = "file"
    # ducklake: libpq DSN of the PostgreSQL catalog database, e.g. "dbname=newswatch host=10.0.0.5".
    # Keep the password out of YAML: NEWSWATCH_LAKE_CATALOG, PGPASSWORD or ~/.pgpass.
    lake_catalog: str | None = None
    # ducklake: where the Parquet data files go, a directory every worker sees or s3://bucket/prefix/
    lake_data_path: str | None = None
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"
    max_connections: int = Field(16, ge=1, le=256)  # global concurrent requests
    max_per_host: int = Field(4, ge=1, le=64)  # polite per-host concurrency
    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(20.0, gt=0)
    total_timeout_s: float = Field(60.0, gt=0)  # one request incl. body, however slow it trickles
    # a run's wall-clock budget: no request starts after it, none runs past it, and what is not
    # done by then is recorded as `deferred` and taken up again by the next run
    run_deadline_s: float = Field(900.0, gt=0)
    extract_timeout_s: float = Field(30.0, gt=0)  # one page's extraction; longer: that page fails, its worker is replaced
    retries: int = Field(2, ge=0, le=10)  # extra attempts on transient failures (never after a timeout)
    # circuit breaker: a host (host:port) that timed out this many times in a row is not tried again in the run
    breaker_timeouts: int = Field(2, ge=1, le=100)
    backoff_s: float = Field(0.5, ge=0)  # first back-off, doubled each retry
    max_retry_after_s: float = Field(30.0, ge=0)  # longer Retry-After: give up until next run
    max_redirects: int = Field(5, ge=0, le=20)
    max_response_bytes: int = Field(5_000_000, ge=10_000)  # bigger bodies are archives, not articles
    max_feed_bytes: int = Field(10_000_000, ge=10_000)
    respect_robots_txt: bool = True
    min_text_chars: int = Field(250, ge=0)  # less extracted text: fall back to the feed's content
    extract_workers: int = Field(2, ge=1, le=64)  # processes for CPU-bound extraction
    batch_size: int = Field(200, ge=1, le=5000)  # articles per fetch/extract/store task
    feed_revalidate_hours: float = Field(24.0, ge=0)  # refetch unconditionally: validators lie
    default_interval_minutes: float = Field(0.0, ge=0)  # 0: poll every run
    default_max_items: int = Field(100, ge=1)
    sitemap_window_days: float = Field(3.0, gt=0)
    lock_wait_s: float = Field(300.0, ge=0)  # a run waits this long for an earlier run to finish
    # the full-text index is rebuilt whole (DuckDB's fts does not follow inserts: ~1.5-2 s CPU per 1,000
    # articles here); articles added or changed since the build (the "tail") are tokenised at each
    # search instead (~0.5-1 ms CPU per tail article per search) and ranked with the indexed ones by
    # the same BM25: the index changes what a search costs, never what it answers. An ingest rebuilds
    # when the tail is longer than search_tail_max, or when an index exists, the tail is not empty
    # and the build is older than search_reindex_minutes. `newswatch search --reindex` rebuilds now.
    search_reindex_minutes: float = Field(60.0, ge=0)
    search_tail_max: int = Field(1000, ge=0)  # 1,000: a search tokenises at most ~1 s CPU of tail

    @model_validator(mode="after")
    def _lake_needs_a_catalog(self) -> Settings:
        if self.storage == "ducklake" and not (self.lake_catalog and self.lake_data_path):
            raise ValueError("storage: ducklake needs lake_catalog and lake_data_path "
                             "(fix: set both, e.g. NEWSWATCH_LAKE_CATALOG='dbname=newswatch host=…' and "
                             "lake_data_path: /srv/newswatch/lake/)")
        return self


@dataclass(frozen=True)
class LakeTarget:
    """Where a DuckLake store lives: what `resolve_db_path` returns when storage is ducklake."""

    catalog: str  # libpq DSN of the PostgreSQL catalog database; may hold a password: never print it
    data_path: str

    def __str__(self) -> str:  # for messages and logs: the DSN without its password, in any form
        from newswatch.redaction import redact, register_secret  # noqa: PLC0415

        register_secret(self.catalog)
        return redact(f"ducklake:postgres:{self.catalog} (data {self.data_path})")
