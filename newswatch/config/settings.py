"""settings.yaml: how the pipeline runs. Every key can be overridden by NEWSWATCH_<KEY>."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    db_path: str | None = None  # default data/newswatch.duckdb; --db and NEWSWATCH_DB win
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"
    max_connections: int = Field(16, ge=1, le=256)  # global concurrent requests
    max_per_host: int = Field(4, ge=1, le=64)  # polite per-host concurrency
    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(20.0, gt=0)
    total_timeout_s: float = Field(60.0, gt=0)  # one request incl. body, however slow it trickles
    retries: int = Field(2, ge=0, le=10)  # extra attempts on transient failures
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
