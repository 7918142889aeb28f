"""The values a digest is made of (frozen: the renderers and the store only read them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One matched article not yet sent to a subscriber, in the topic it is listed under."""

    article_id: str
    url: str
    source: str
    title: str | None
    topic: str
    score: float
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    lang: str | None = None
    terms: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    content_hash: str = ""
    other_topics: tuple[str, ...] = ()  # the subscriber's other topics this article matched
    text_sample: str = field(default="", repr=False, compare=False)  # for duplicate detection
    also: tuple[DigestItem, ...] = ()  # the same story from other sources, folded under this one
    story_id: str = ""  # the stored story it belongs to ("" before assignment)

    @property
    def date(self) -> datetime | None:
        return self.published_at or self.fetched_at


@dataclass(frozen=True, slots=True)
class DigestSection:
    topic: str
    items: tuple[DigestItem, ...]
    title: str = ""  # the topic's human title (topics.yaml `title:`); the slug when none

    @property
    def heading(self) -> str:
        return self.title or self.topic


@dataclass(frozen=True, slots=True)
class StoryUpdate:
    """Later reports of a story already sent to this subscriber that add a source or language."""

    story_id: str
    title: str | None  # the title the subscriber first received
    url: str
    first_sent_at: datetime | None
    reports: tuple[DigestItem, ...]  # the new reports (new sources or languages only)
    topic: str = ""


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """A source that failed or went silent, for the digest's footer."""

    source: str
    kind: str  # failing | silent
    detail: str  # last error, or how long since the last new article
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Digest:
    subscriber: str
    subject: str
    created_at: datetime
    sections: tuple[DigestSection, ...] = ()
    more: tuple[DigestItem, ...] = ()  # beyond max_items: counted ("and N more"), not listed, left pending
    updates: tuple[StoryUpdate, ...] = ()  # "also reported by …, first sent 2 Dec" (subscriber's `updates: true`)
    known: tuple[DigestItem, ...] = ()  # later reports of stories already sent: recorded, not shown
    problems: tuple[SourceProblem, ...] = ()
    since: datetime | None = None  # the previous digest to this subscriber
    tz: str = "UTC"  # dates are shown in the subscriber's time zone

    @property
    def items(self) -> tuple[DigestItem, ...]:
        return tuple(item for section in self.sections for item in section.items)

    @property
    def n_items(self) -> int:
        return sum(len(s.items) for s in self.sections)

    @property
    def n_folded(self) -> int:
        return sum(len(i.also) for i in self.items)

    @property
    def n_more(self) -> int:
        """Stories beyond max_items (each counted once, however many reports it folds)."""
        return len(self.more)

    @property
    def n_new(self) -> int:
        """Stories new to this subscriber, listed or not."""
        return self.n_items + len(self.more)

    @property
    def n_updates(self) -> int:
        return len(self.updates)

    @property
    def is_empty(self) -> bool:
        """Nothing to show: no new item and no update (known reports may still be recorded)."""
        return not self.sections and not self.more and not self.updates


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    html: str
    text: str
    chat: str  # short markdown for chat targets, within their size limit


@dataclass(frozen=True, slots=True)
class SubscriberResult:
    """What one subscriber's digest run did; `target` is redacted."""

    subscriber: str
    status: str  # sent | failed (also when only some targets failed: see `targets`) | empty | skipped_empty | not_due | no_target | preview
    target: str = ""
    digest_id: str | None = None
    n_items: int = 0
    n_folded: int = 0
    n_more: int = 0
    error: str | None = None
    n_updates: int = 0
    targets: tuple[tuple[str, str], ...] = ()  # (redacted target, sent | failed | skipped)
