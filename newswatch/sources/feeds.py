"""RSS 0.9x/1.0/2.0 and Atom feeds -> `ParsedSource`, via feedparser."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import feedparser
from feedparser.exceptions import ThingsNobodyCaresAboutButMe

from newswatch.models import FeedEntry, ParsedSource
from newswatch.sources.dates import from_struct_time, parse_date
from newswatch.sources.links import absolute_url, dedupe_by_url
from newswatch.sources.text import html_to_text, normalise_lang, one_line, tidy_text

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FIRST_ELEMENT = re.compile(rb"<([A-Za-z][\w:.-]*)")
_NESTED_ENTITY = re.compile(rb"<!ENTITY[^>]*&[^#][^>]*>")
_SNIFF_BYTES = 4096  # where a feed's or a page's root element shows up
_EMAIL = re.compile(r"<?[^\s@()<>]+@[^\s@()<>]+>?")
_EMAIL_AND_NAME = re.compile(rf"{_EMAIL.pattern}\s*\((.+)\)")  # RSS <author>: "a@b.c (Name)"
# A feed carries its latest 10-100 items; feedparser needs ~14 s and ~190 MB for 100,000 tiny
# ones (measured), so only the first 1,000 are parsed. Cut at the 1,000th item's end tag and
# resumed after the last one, so the document stays well-formed (closing tags kept).
MAX_FEED_ENTRIES = 1_000
_ENTRY_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>")


def parse_feed(
    body: bytes, url: str, content_type: str | None = None, source: str = ""
) -> ParsedSource:
    """Entries of an RSS/Atom/RDF document; `error` is set when it is malformed or not a feed."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    body = _without_nested_entities(body)
    body, dropped = _first_entries(body, MAX_FEED_ENTRIES)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        # bytes, never str: feedparser would fetch a str that looks like a URL or a file path.
        parsed = feedparser.parse(
            body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # noqa: BLE001 - its loose parser crashes on some broken feeds
        return ParsedSource(error=f"malformed feed: feedparser failed: {type(exc).__name__}: {exc}")
    feed_lang = normalise_lang(parsed.feed.get("language"))
    entries = [_entry(raw, url, source, feed_lang) for raw in parsed.entries]
    error = _malformed_reason(parsed, body)
    if dropped:
        cap = f"feed lists more than {MAX_FEED_ENTRIES:,} entries; the first {MAX_FEED_ENTRIES:,} were read"
        error = f"{cap}; {error}" if error else cap
    return ParsedSource(
        entries=dedupe_by_url([entry for entry in entries if entry is not None]),
        error=error,
        kind=_kind(parsed.get("version", "")),
    )


def _first_entries(body: bytes, limit: int) -> tuple[bytes, bool]:
    """The document with its entries after the first `limit` left out; whether any were."""
    ends = _ENTRY_END.finditer(body)
    cut = next((m for i, m in enumerate(ends, 1) if i == limit), None)
    if cut is None:
        return body, False
    last = None
    for last in ends:  # the same iterator: continues after the limit-th end tag
        pass
    if last is None:
        return body, False
    return body[: cut.end()] + body[last.end() :], True


def _without_nested_entities(body: bytes) -> bytes:
    """Drop entity declarations that refer to other entities (billion laughs) from the prolog.

    feedparser removes them only when each starts a line; expat's own amplification limit
    stops the rest, but only after ~2 s of CPU on a 1 kB document.
    """
    root = _FIRST_ELEMENT.search(body)
    end = root.start() if root else len(body)
    head = _NESTED_ENTITY.sub(b"", body[:end])
    return head + body[end:] if len(head) != end else body


def _kind(version: str) -> str:
    if version in ("rss090", "rss10"):
        return "rdf"
    return "atom" if version.startswith("atom") else "rss" if version.startswith("rss") else ""


def _malformed_reason(parsed: Any, body: bytes) -> str | None:
    if not parsed.get("version") and not parsed.entries:
        return f"malformed feed: not a feed ({_looks_like(body)})"
    problem = parsed.get("bozo_exception")
    if problem is None or isinstance(problem, ThingsNobodyCaresAboutButMe):
        return None  # a missing or wrong content type / charset: feedparser coped
    return f"malformed feed: {type(problem).__name__}: {problem}"


def _looks_like(body: bytes) -> str:
    if not body.strip():
        return "empty document"
    match = _FIRST_ELEMENT.search(body[:_SNIFF_BYTES])
    if match is None:
        return "no XML element at the start"
    name = match.group(1).decode("ascii", "replace")
    return "an HTML page" if name.lower() == "html" else f"root element <{name}>"


def _entry(raw: Any, feed_url: str, source: str, feed_lang: str | None) -> FeedEntry | None:
    url = _entry_url(raw, feed_url)
    if url is None:
        return None
    content = next((c for c in raw.get("content", ()) if c.get("value", "").strip()), None)
    summary = raw.get("summary_detail")
    return FeedEntry(
        url=url,
        source=source,
        title=one_line(_detail_text(raw.get("title_detail"))),
        published_at=_published_at(raw),
        summary=_detail_text(summary),
        content=_detail_text(content),
        lang=_entry_lang(raw, content, summary) or feed_lang,
        author=_author(raw),
    )


def _entry_url(raw: Any, feed_url: str) -> str | None:
    """The entry's link (feedparser resolves it against xml:base), else an alternate link."""
    candidates = [raw.get("link")]
    links = raw.get("links", ())
    candidates += [link.get("href") for link in links if link.get("rel") == "alternate"]
    if raw.get("guidislink"):
        candidates.append(raw.get("id"))
    for href in candidates:
        url = absolute_url(href, feed_url)
        if url is not None:
            return url
    return None


def _detail_text(detail: Any) -> str | None:
    if not detail:
        return None
    value = detail.get("value") or ""
    if detail.get("type", "text/html") in _HTML_TYPES:
        return html_to_text(value)
    return tidy_text(value)


def _published_at(raw: Any) -> datetime | None:
    for field in ("published", "updated", "created"):
        parsed = from_struct_time(raw.get(f"{field}_parsed")) or parse_date(raw.get(field))
        if parsed is not None:
            return parsed
    return None


def _entry_lang(raw: Any, *details: Any) -> str | None:
    for detail in (*details, raw.get("title_detail")):
        lang = normalise_lang((detail or {}).get("language"))
        if lang:
            return lang
    return None


def _author(raw: Any) -> str | None:
    """The author's name; RSS's `email (Name)` is split here (feedparser garbles long TLDs)."""
    author = one_line(raw.get("author")) or one_line((raw.get("author_detail") or {}).get("name"))
    match = _EMAIL_AND_NAME.fullmatch(author or "")
    if match:
        return one_line(match.group(1))
    return None if _EMAIL.fullmatch(author or "") else author  # a bare address names nobody
