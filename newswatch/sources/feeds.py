"""RSS 0.9x/1.0/2.0 and Atom feeds -> `ParsedSource`, via feedparser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from itertools import islice
from typing import Any

import feedparser
from feedparser.exceptions import ThingsNobodyCaresAboutButMe

from newswatch.models import FeedEntry, ParsedSource
from newswatch.sources.dates import parse_date, zone_hint
from newswatch.sources.links import absolute_url, dedupe_by_url
from newswatch.sources.text import html_to_text, normalise_lang, one_line, tidy_text

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FIRST_ELEMENT = re.compile(rb"<([A-Za-z][\w:.-]*)")
# A DOCTYPE's internal subset `[...]` is where entities are declared: billion laughs (nested) and
# quadratic blow-up (one big entity referenced a million times: an 8 MB feed reached 1.05 GiB in
# expat, measured). No real feed needs its own entities, so the subset is removed before parsing;
# references to what it declared are then undefined and feedparser's loose parser keeps the text.
_INTERNAL_SUBSET = re.compile(rb"<!DOCTYPE\s[^\[>]*\[")
_SUBSET_END = re.compile(rb"\]\s*>")
_ENTITY_NAME = re.compile(rb"<!ENTITY\s+([^\s%>\"']+)")  # general entities (`%` ones are DTD-only)
_MAX_DECLARED_ENTITIES = 100  # real DTDs in feeds declare a handful (nbsp, copy); more is a bomb
_PROLOG_BYTES = 65_536  # a DOCTYPE after this much prolog is not one expat would honour first
# Character references XML 1.0 forbids: one `&#xD800;` made feedparser drop every entry.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
# An <image> nested in an item (not the channel's): feedparser lets its <title> replace the item's.
# Tempered so that it never spans an item boundary, whatever stray markup a description holds.
_NESTED_IMAGE = re.compile(
    rb"<image(?:\s[^<>]*)?>(?:(?!</?(?:[\w.-]+:)?(?:item|entry|image)[\s/>]).){0,4096}?</image\s*>", re.S
)
_ITEM = re.compile(rb"<((?:[\w.-]+:)?)item[\s>]")
_SNIFF_BYTES = 4096  # where a feed's or a page's root element shows up
_EMAIL = re.compile(r"<?[^\s@()<>]+@[^\s@()<>]+>?")
_EMAIL_AND_NAME = re.compile(rf"{_EMAIL.pattern}\s*\((.+)\)")  # RSS <author>: "a@b.c (Name)"
# A feed carries its latest 10-100 items; feedparser needs ~14 s and ~190 MB for 100,000 tiny
# ones (measured), so only the first 1,000 are parsed. Every item/entry start tag counts, also a
# self-closing `<item/>` (1.4 M of them in 9.8 MB cost 36 s of CPU when only end tags counted).
# The document is cut before the 1,001st and resumed after the last item's end, so its closing
# tags are kept and it stays well-formed.
MAX_FEED_ENTRIES = 1_000
_ENTRY_START = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s/>]")
_ENTRY_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>|<(?:[\w.-]+:)?(?:item|entry)(?:\s[^<>]*)?/>")
_TAIL_BYTES = 65_536  # where a feed's last item ends: only closing tags follow it


def parse_feed(
    body: bytes,
    url: str,
    content_type: str | None = None,
    source: str = "",
    *,
    now: datetime | None = None,
    tz: str | None = None,
    lang: str | None = None,
) -> ParsedSource:
    """Entries of an RSS/Atom/RDF document; `error` is set when it is malformed or not a feed.

    `now` (the run's clock) makes dates more than a day ahead unknown; `tz` (an IANA zone) or
    `lang` (the source's language hint) place dates written without a zone.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    body, subset_problem = _without_internal_subset(body)
    if body is None:
        return ParsedSource(error=subset_problem)
    body = _without_nested_images(_without_bad_char_refs(body))
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
    dating = _Dating(now, zone_hint(tz, lang or feed_lang), lang or feed_lang)
    entries = [_entry(raw, url, source, feed_lang, dating) for raw in parsed.entries]
    error = _malformed_reason(parsed, body)
    capped = f"feed lists more than {MAX_FEED_ENTRIES:,} entries; the first {MAX_FEED_ENTRIES:,} were read"
    for problem in (capped if dropped else None, subset_problem):
        if problem:
            error = f"{problem}; {error}" if error else problem
    return ParsedSource(
        entries=dedupe_by_url([entry for entry in entries if entry is not None]),
        error=error,
        kind=_kind(parsed.get("version", "")),
    )


def _first_entries(body: bytes, limit: int) -> tuple[bytes, bool]:
    """The document with its entries after the first `limit` left out; whether any were.

    Counts start tags (self-closing ones too) and stops counting at `limit + 1`; the resume point
    is searched in the last `_TAIL_BYTES` only, so a hostile feed costs one pass, not a parse.
    """
    over = next(islice(_ENTRY_START.finditer(body), limit, None), None)
    if over is None:
        return body, False
    last = None
    for last in _ENTRY_END.finditer(body, max(over.start(), len(body) - _TAIL_BYTES)):
        pass
    tail = body[last.end() :] if last is not None else b""  # no end in sight: truncated anyway
    return body[: over.start()] + tail, True


def _without_internal_subset(body: bytes) -> tuple[bytes | None, str | None]:
    """The document without its DTD internal subset (entity declarations); a note if it had one."""
    match = _INTERNAL_SUBSET.search(body, 0, _PROLOG_BYTES)
    if match is None or _FIRST_ELEMENT.search(body, 0, match.start()):
        return body, None
    end = _SUBSET_END.search(body, match.end())
    if end is None:
        return None, "malformed feed: its DTD never ends"
    names = set(_ENTITY_NAME.findall(body, match.end(), end.start()))
    if len(names) > _MAX_DECLARED_ENTITIES:
        return None, f"malformed feed: its DTD declares more than {_MAX_DECLARED_ENTITIES} entities"
    rest = body[end.end() :]
    for name in names:  # left in, each would cost the loose parser a fallback (5.6 s for 1.5 M)
        rest = rest.replace(b"&" + name + b";", b"")
    note = "feed declares its own entities (DTD internal subset): ignored, not expanded"
    return body[: match.end() - 1] + b">" + rest, note


def _without_bad_char_refs(body: bytes) -> bytes:
    """Character references to code points XML 1.0 forbids (surrogates, NUL, > U+10FFFF) removed."""

    def keep(match: re.Match[bytes]) -> bytes:
        hex_digits, digits = match.groups()
        code = int(hex_digits, 16) if hex_digits else int(digits)
        return match.group(0) if _is_xml_char(code) else b""

    return _CHAR_REF.sub(keep, body) if b"&#" in body else body


def _is_xml_char(code: int) -> bool:
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)


def _without_nested_images(body: bytes) -> bytes:
    """`<image>` elements inside items removed (the channel's own `<image>` comes before them)."""
    first_item = _ITEM.search(body)
    if first_item is None or b"<image" not in body[first_item.start() :]:
        return body
    return body[: first_item.start()] + _NESTED_IMAGE.sub(b"", body[first_item.start() :])


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


@dataclass(frozen=True, slots=True)
class _Dating:
    """How this feed's dates are read: the run's clock, the zone and language hints."""

    now: datetime | None
    zone: tzinfo | None
    lang: str | None


def _entry(raw: Any, feed_url: str, source: str, feed_lang: str | None, dating: _Dating) -> FeedEntry | None:
    url = _entry_url(raw, feed_url)
    if url is None:
        return None
    content = next((c for c in raw.get("content", ()) if c.get("value", "").strip()), None)
    summary = raw.get("summary_detail")
    published_at, date_raw = _published_at(raw, dating)
    return FeedEntry(
        url=url,
        source=source,
        title=one_line(_detail_text(raw.get("title_detail"))),
        published_at=published_at,
        date_raw=date_raw,
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


def _published_at(raw: Any, dating: _Dating) -> tuple[datetime | None, str | None]:
    """The first date our parser trusts; else None and the first date string given, kept raw.

    feedparser's own `*_parsed` values are not used: it reads unknown zone names as UTC.
    """
    given = None
    for field in ("published", "updated", "created"):
        text = raw.get(field)
        if not isinstance(text, str) or not text.strip():
            continue
        given = given or one_line(text)
        parsed = parse_date(text, now=dating.now, zone=dating.zone, lang=dating.lang)
        if parsed is not None:
            return parsed, None
    return None, given


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
