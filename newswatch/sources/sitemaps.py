"""XML sitemaps (urlset, sitemap index, Google News), gzipped or not, and text sitemaps."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from lxml import etree

from newswatch.models import FeedEntry, ParsedSource
from newswatch.sources.dates import as_utc, parse_date, zone_hint
from newswatch.sources.links import absolute_url, dedupe_by_url
from newswatch.sources.text import normalise_lang, one_line

MAX_SITEMAP_BYTES = 50_000_000  # sitemaps.org's limit for one uncompressed sitemap; bombs exceed it
# sitemaps.org's limit of URLs (or child sitemaps) in one file. More is hostile or an archive:
# 1,000,000 <url>s (2.5 MB gzipped) took 44 s and 830 MB to read whole (measured).
MAX_SITEMAP_URLS = 50_000
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
_FEED_ROOTS = frozenset({"rss", "feed", "RDF", "channel"})
_SITEMAP_ROOTS = frozenset({"urlset", "sitemapindex"})
_ENTRY_TAGS = ("{*}url", "{*}sitemap")  # the only elements the parser reports
_BARE_AMPERSAND = re.compile(rb"&(?!#[0-9]{1,10};|#[xX][0-9a-fA-F]{1,8};|[A-Za-z][\w.-]{0,31};)")
_ROOT_END = re.compile(rb"</(?:[\w.-]+:)?(?:urlset|sitemapindex)\s*>\s*$")
# Parsed incrementally, 64 kB at a time, each entry freed once read: a 45 MB sitemap of 50,000
# URLs held 589 MiB as one tree (measured); bench/parsers.py measures today's figures.
_CHUNK_BYTES = 65_536
_TAIL_BYTES = 65_536  # where a truncated document's last element starts
# Hardened: no entity expansion (billion laughs), no DTD or network access (XXE), size limits on.
_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "huge_tree": False,
    "load_dtd": False,
    "remove_comments": True,
    "remove_pis": True,
}


_STRING = etree.XPath("string()")  # compiled once: per call, compiling cost ~20 us an element


class _TooLarge(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class _Dating:
    """The `since` window and how dates are read: the run's clock, zone and language hints."""

    since: datetime | None
    now: datetime | None
    zone: tzinfo | None
    lang: str | None

    def parse(self, text: str | None) -> datetime | None:
        return parse_date(text, now=self.now, zone=self.zone, lang=self.lang)


@dataclass(slots=True)
class _Reading:
    """What one incremental pass over a sitemap found."""

    root: str = ""
    root_element: etree._Element | None = None
    entries: list[FeedEntry] = field(default_factory=list)
    children: list[tuple[datetime | None, str]] = field(default_factory=list)
    elements: int = 0  # <url> or <sitemap> elements read
    without_loc: int = 0
    is_news: bool = False
    capped: bool = False
    error: str | None = None
    last_start: int = 0  # where the last element's entries (or children) begin
    last_without_loc: bool = False  # whether the last element was counted in `without_loc`


def parse_sitemap(
    body: bytes,
    url: str,
    since: datetime | None = None,
    source: str = "",
    *,
    now: datetime | None = None,
    tz: str | None = None,
    lang: str | None = None,
) -> ParsedSource:
    """Entries (or child sitemaps) of a sitemap; with `since`, only those dated since then.

    `now` (the run's clock) makes dates more than a day ahead unknown; `tz` (an IANA zone) or
    `lang` (the source's language hint) place dates written without a zone.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        body, gzip_problem = _decompress(body)
    except _TooLarge:
        return ParsedSource(error="decompressed sitemap too large")
    except zlib.error as exc:
        return ParsedSource(error=f"not a sitemap: corrupt gzip data ({exc})")
    body = body.removeprefix(_UTF8_BOM).lstrip()
    if gzip_problem and not body:
        return ParsedSource(error=f"not a sitemap: {gzip_problem}")
    if not body.startswith(b"<"):
        return _parse_text(body, url, source)
    parsed = _parse_xml(body, url, _Dating(since, now, zone_hint(tz, lang), lang), source)
    if gzip_problem and parsed.error is None:
        error = f"malformed sitemap: {gzip_problem}"
        return ParsedSource(parsed.entries, parsed.child_sitemaps, error, parsed.kind)
    return parsed


def _decompress(body: bytes) -> tuple[bytes, str | None]:
    """The body, gunzipped when it starts with the gzip magic; refuses more than the cap."""
    if len(body) > MAX_SITEMAP_BYTES:
        raise _TooLarge
    if not body.startswith(_GZIP_MAGIC):
        return body, None
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    data = inflater.decompress(body, MAX_SITEMAP_BYTES + 1)  # stops at the cap: no bomb expands
    if len(data) > MAX_SITEMAP_BYTES:
        raise _TooLarge
    return data, None if inflater.eof else "truncated gzip data"


def _parse_xml(body: bytes, url: str, dating: _Dating, source: str) -> ParsedSource:
    reading = _read(body, url, dating, source, recover=False)
    if reading.error is not None:  # salvage what a truncated or sloppy sitemap still holds
        problem = reading.error
        # the commonest slip, `&` unescaped in a <loc>: libxml2's recovery would drop `&y` of `?x=1&y=2`
        reading = _read(_BARE_AMPERSAND.sub(b"&amp;", body), url, dating, source, recover=True)
        if _last_element_unclosed(body, reading.root):  # its <loc> may be cut mid-URL
            del (reading.entries if reading.root == "urlset" else reading.children)[reading.last_start :]
            reading.without_loc -= reading.last_without_loc
        reading.error = problem
    problem = _problems(reading)
    if reading.root == "urlset":
        kind = "news-sitemap" if reading.is_news else "sitemap"
        return ParsedSource(entries=dedupe_by_url(reading.entries), error=problem, kind=kind)
    if reading.root == "sitemapindex":
        return ParsedSource(child_sitemaps=_newest_first(reading.children), error=problem, kind="sitemapindex")
    return ParsedSource(error=f"not a sitemap: {_describe(reading.root_element, reading.root, problem)}")


def _problems(reading: _Reading) -> str | None:
    problems = []
    if reading.capped:
        what = "URLs" if reading.root == "urlset" else "child sitemaps"
        problems.append(f"sitemap lists more than {MAX_SITEMAP_URLS:,} {what}; the first {MAX_SITEMAP_URLS:,} were read")
    if reading.error:
        problems.append(reading.error)
    if reading.without_loc:
        tag = "url" if reading.root == "urlset" else "sitemap"
        missing = f"{reading.without_loc:,} of {reading.elements:,} <{tag}> entries have no <loc>"
        problems.append(missing if reading.error else f"malformed sitemap: {missing}")
    return "; ".join(problems) or None


def _read(body: bytes, url: str, dating: _Dating, source: str, recover: bool) -> _Reading:
    """One pass with lxml's pull parser, 64 kB at a time; each <url> (or <sitemap>) is read when
    it ends and then dropped from the tree, so memory holds one entry, not the document."""
    parser = etree.XMLPullParser(events=("end",), tag=_ENTRY_TAGS, recover=recover, **_PARSER_OPTIONS)
    reading = _Reading()
    try:
        for offset in range(0, len(body), _CHUNK_BYTES):
            parser.feed(body[offset : offset + _CHUNK_BYTES])
            _consume(parser, reading, url, dating, source)
            if reading.capped or (reading.root and reading.root not in _SITEMAP_ROOTS):
                return reading  # the rest cannot change the outcome: stop parsing
        root = parser.close()
        _consume(parser, reading, url, dating, source)
        if not reading.root:
            reading.root, reading.root_element = _local_name(root), root
    except etree.XMLSyntaxError as exc:
        reading.error = f"malformed sitemap: {exc}"
        _consume(parser, reading, url, dating, source)
    return reading


def _consume(parser: etree.XMLPullParser, reading: _Reading, base: str, dating: _Dating, source: str) -> None:
    """Read the <url>/<sitemap> elements that ended since the last call, then free them."""
    for _, node in parser.read_events():
        parent = node.getparent()
        if parent is None or parent.getparent() is not None:
            continue  # the root itself, or nested deeper (<video:player><url>...): not an entry
        if not reading.root:
            reading.root, reading.root_element = _local_name(parent), parent
        if reading.root in _SITEMAP_ROOTS and not reading.capped:
            _take(node, _local_name(node), reading, base, dating, source)
        node.clear()  # read: free its subtree and the siblings before it
        while node.getprevious() is not None:
            del parent[0]


def _take(node: etree._Element, name: str, reading: _Reading, base: str, dating: _Dating, source: str) -> None:
    if reading.elements >= MAX_SITEMAP_URLS:
        reading.capped = True
        return
    reading.elements += 1
    reading.last_start = len(reading.entries if reading.root == "urlset" else reading.children)
    reading.last_without_loc = False
    locs, fields = _by_name(node)
    # every <loc>: some generators put two in one entry, and both name a page (or a sitemap)
    texts = [text for text in map(_node_text, locs) if text]
    if not texts:
        reading.without_loc += 1  # a broken generator: recorded (a javascript: <loc> is just skipped)
        reading.last_without_loc = True
        return
    urls = [u for u in (absolute_url(text, base) for text in texts) if u]
    if not urls:
        return
    if name == "sitemap" and reading.root == "sitemapindex":
        lastmod = dating.parse(_node_text(fields.get("lastmod")))
        if _is_recent(lastmod, dating.since):  # older ones hold nothing newer
            reading.children.extend((lastmod, u) for u in urls)
    elif name == "url" and reading.root == "urlset":
        entry = _url_entry(fields, dating)
        reading.is_news = reading.is_news or "news" in fields
        if _is_recent(entry.published_at, dating.since):
            reading.entries.extend(replace(entry, url=u, source=source) for u in urls)


def _by_name(node: etree._Element | None) -> tuple[list[etree._Element], dict[str, etree._Element]]:
    """A node's <loc> children, and its other children by local name (the first of each).

    One pass over the children: a `find("{*}x")` per field cost ~3x as much at 50,000 entries.
    """
    locs: list[etree._Element] = []
    fields: dict[str, etree._Element] = {}
    for child in () if node is None else node:
        tag = child.tag
        if isinstance(tag, str):  # not a comment or an entity reference
            local = tag.rpartition("}")[2]
            if local == "loc":
                locs.append(child)
            else:
                fields.setdefault(local, child)
    return locs, fields


def _last_element_unclosed(body: bytes, root: str) -> bool:
    """True when a truncated document's last <url>/<sitemap> has no end tag."""
    tail = body[-_TAIL_BYTES:]
    if _ROOT_END.search(tail):
        return False
    tag = b"url" if root == "urlset" else b"sitemap"
    starts = [m.start() for m in re.finditer(rb"<(?:[\w.-]+:)?" + tag + rb"[\s>]", tail)]
    ends = [m.start() for m in re.finditer(rb"</(?:[\w.-]+:)?" + tag + rb"\s*>", tail)]
    return not starts or not ends or starts[-1] > ends[-1]


def _local_name(root: etree._Element | None) -> str:
    """`{namespace}name` -> `name`; recovery can produce names QName() rejects (`rdf:`)."""
    tag = root.tag if root is not None else ""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _describe(root: etree._Element | None, name: str, problem: str | None) -> str:
    if name.lower() == "html":
        return "looks like an HTML page"
    if name in _FEED_ROOTS:
        return f"looks like an RSS/Atom feed (<{name}>)"
    if root is None:
        return (problem or "unreadable XML").removeprefix("malformed sitemap: ")
    return f"root element <{name}>"


def _url_entry(fields: dict[str, etree._Element], dating: _Dating) -> FeedEntry:
    """The entry's metadata from its child elements; its URL is filled in for each <loc>."""
    lastmod = _node_text(fields.get("lastmod"))
    if "news" not in fields:
        published = dating.parse(lastmod)
        return FeedEntry(url="", published_at=published, date_raw=None if published else one_line(lastmod))
    news = _by_name(fields["news"])[1]
    published_text = _node_text(news.get("publication_date"))
    published = dating.parse(published_text) or dating.parse(lastmod)
    return FeedEntry(
        url="",
        title=one_line(_node_text(news.get("title"))),
        published_at=published,
        lang=normalise_lang(_node_text(_by_name(news.get("publication"))[1].get("language"))),
        date_raw=None if published else one_line(published_text or lastmod),
    )


def _newest_first(dated: list[tuple[datetime | None, str]]) -> tuple[str, ...]:
    """Child sitemap URLs, newest `lastmod` first (undated ones last, in document order)."""
    # sort is stable, also reversed: ties (and all undated children) keep their document order
    dated = sorted(dated, key=lambda pair: pair[0].timestamp() if pair[0] else float("-inf"), reverse=True)
    return tuple(dict.fromkeys(url for _, url in dated))


def _is_recent(date: datetime | None, since: datetime | None) -> bool:
    return since is None or date is None or date >= as_utc(since)


def _node_text(node: etree._Element | None) -> str | None:
    return None if node is None else _STRING(node).strip() or None  # skips &entity; (never expanded)


def _parse_text(body: bytes, url: str, source: str) -> ParsedSource:
    """A text sitemap: one absolute URL per line. A stray line (a comment, HTML debris) is
    skipped and reported; a document that is not mostly URLs is refused."""
    lines = [line.strip() for line in body.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return ParsedSource(error="not a sitemap: empty document")
    urls = [line for line in lines if line.lower().startswith(("http://", "https://"))]
    if len(urls) * 2 <= len(lines):
        return ParsedSource(error="not a sitemap: text that is not one URL per line")
    resolved = (absolute_url(line, url) for line in urls[:MAX_SITEMAP_URLS])
    entries = [FeedEntry(url=u, source=source) for u in resolved if u is not None]
    problems = []
    if len(urls) > MAX_SITEMAP_URLS:
        problems.append(f"sitemap lists more than {MAX_SITEMAP_URLS:,} URLs; the first {MAX_SITEMAP_URLS:,} were read")
    if len(urls) < len(lines):
        problems.append(f"malformed sitemap: {len(lines) - len(urls):,} of {len(lines):,} lines are not URLs (skipped)")
    return ParsedSource(entries=dedupe_by_url(entries), error="; ".join(problems) or None, kind="text-sitemap")
