"""Frozen dataclasses that the pipeline stages exchange.

Stages never pass dicts or ORM rows to each other: each one takes and returns these values, so a
stage can be tested (and replaced) on its own. Only `store` knows DuckDB; only `fetch` knows httpx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One candidate article found by a source (feed item, sitemap URL or index-page link)."""

    url: str
    source: str = ""
    title: str | None = None
    published_at: datetime | None = None  # timezone-aware UTC, or None when the source gave none
    summary: str | None = None  # plain text
    content: str | None = None  # plain text of the full content the feed carried, if any
    lang: str | None = None
    author: str | None = None
    date_raw: str | None = None  # the source's date string when it was not trusted (unreadable, >1 day ahead, <1995)


@dataclass(frozen=True, slots=True)
class ParsedSource:
    """What a parser made of one source document."""

    entries: tuple[FeedEntry, ...] = ()
    child_sitemaps: tuple[str, ...] = ()  # sitemap indexes point at more sitemaps
    error: str | None = None  # set when the document is malformed; entries may still be partial
    kind: str = ""  # what the parser recognised: rss, atom, rdf, sitemap, sitemapindex, news-sitemap, html


@dataclass(frozen=True, slots=True)
class FetchRequest:
    url: str
    source: str
    purpose: str  # feed | sitemap | index | article | robots
    allow_private_host: str | None = None  # the one private host this request may reach
    etag: str | None = None
    last_modified: str | None = None
    entry: FeedEntry | None = None  # the entry that led to this article fetch


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One HTTP exchange (after retries and redirects): what the `fetches` table records."""

    fetch_id: str
    request: FetchRequest
    final_url: str
    status_code: int | None
    started_at: datetime
    elapsed_ms: float
    attempts: int = 1
    body: bytes = b""
    content_type: str | None = None
    charset: str | None = None  # from the Content-Type header, possibly a lie
    etag: str | None = None
    last_modified: str | None = None
    error_kind: str | None = None  # None on success; see fetch.ERROR_KINDS
    error: str | None = None  # human-readable reason
    redirects: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error_kind is None and self.status_code is not None and self.status_code < 300

    @property
    def not_modified(self) -> bool:
        return self.status_code == 304


@dataclass(frozen=True, slots=True)
class Article:
    article_id: str  # stable hash of the canonical URL
    url: str  # canonical URL
    source: str
    fetched_url: str  # the URL that was actually requested
    title: str | None
    text: str
    extraction_method: str  # a path of newswatch.extract.ensemble.METHODS, or feed_content | feed_summary
    content_hash: str
    fetched_at: datetime
    published_at: datetime | None = None
    author: str | None = None
    sitename: str | None = None
    lang: str | None = None
    summary: str | None = None
    aliases: tuple[str, ...] = ()  # other canonical URLs that led to this article


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """How one article scored against one topic, with the evidence that explains it."""

    topic: str
    score: float  # 0..1
    matched: bool
    terms: tuple[str, ...] = ()  # matched terms, as they appear in the text
    evidence: tuple[str, ...] = ()  # one to three sentences carrying the evidence
    details: dict = field(default_factory=dict, compare=False, hash=False)  # per-group hits etc.


@dataclass(frozen=True, slots=True)
class SourceRunStats:
    source: str
    new: int = 0
    seen: int = 0
    failed: int = 0
    entries: int = 0
    not_modified: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str
    started_at: datetime
    finished_at: datetime
    sources: tuple[SourceRunStats, ...]
    failures: tuple[tuple[str, str, str], ...] = ()  # (source, url, reason)

    @property
    def new(self) -> int:
        return sum(s.new for s in self.sources)
