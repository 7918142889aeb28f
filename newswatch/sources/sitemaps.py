"""XML sitemaps (urlset, sitemap index, Google News), gzipped or not, and text sitemaps."""

from __future__ import annotations

import zlib
from datetime import datetime
from itertools import islice

from lxml import etree

from newswatch.models import FeedEntry, ParsedSource
from newswatch.sources.dates import as_utc, parse_date
from newswatch.sources.links import absolute_url, dedupe_by_url
from newswatch.sources.text import normalise_lang, one_line

MAX_SITEMAP_BYTES = 50_000_000  # sitemaps.org's limit for one uncompressed sitemap; bombs exceed it
# sitemaps.org's limit of URLs (or child sitemaps) in one file. More is hostile or an archive:
# 1,000,000 <url>s (2.5 MB gzipped) took 44 s and 830 MB to read whole (measured).
MAX_SITEMAP_URLS = 50_000
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
_FEED_ROOTS = frozenset({"rss", "feed", "RDF", "channel"})
# Hardened: no entity expansion (billion laughs), no DTD or network access (XXE), size limits on.
_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "huge_tree": False,
    "load_dtd": False,
    "remove_comments": True,
    "remove_pis": True,
}


class _TooLarge(ValueError):
    pass


def parse_sitemap(
    body: bytes, url: str, since: datetime | None = None, source: str = ""
) -> ParsedSource:
    """Entries (or child sitemaps) of a sitemap; with `since`, only those dated since then."""
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
    parsed = _parse_xml(body, url, since, source)
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


def _parse_xml(body: bytes, url: str, since: datetime | None, source: str) -> ParsedSource:
    root, problem = _xml_root(body)
    name = _local_name(root)
    if name == "urlset":
        nodes = list(islice(root.iterchildren("{*}url"), MAX_SITEMAP_URLS + 1))
        problem = _capped(problem, len(nodes), "URLs")
        entries = [_url_entry(node, url, source) for node in nodes[:MAX_SITEMAP_URLS]]
        kept = [e for e in entries if e is not None and _is_recent(e.published_at, since)]
        is_news = any(node.find("{*}news") is not None for node in nodes)
        kind = "news-sitemap" if is_news else "sitemap"
        return ParsedSource(entries=dedupe_by_url(kept), error=problem, kind=kind)
    if name == "sitemapindex":
        problem = _capped(problem, sum(1 for _ in islice(root.iterchildren("{*}sitemap"), MAX_SITEMAP_URLS + 1)),
                          "child sitemaps")
        children = _children(root, url, since)
        return ParsedSource(child_sitemaps=children, error=problem, kind="sitemapindex")
    return ParsedSource(error=f"not a sitemap: {_describe(root, name, problem)}")


def _capped(problem: str | None, count: int, what: str) -> str | None:
    if count <= MAX_SITEMAP_URLS:
        return problem
    cap = f"sitemap lists more than {MAX_SITEMAP_URLS:,} {what}; the first {MAX_SITEMAP_URLS:,} were read"
    return f"{cap}; {problem}" if problem else cap


def _xml_root(body: bytes) -> tuple[etree._Element | None, str | None]:
    try:
        return etree.fromstring(body, etree.XMLParser(**_PARSER_OPTIONS)), None
    except etree.XMLSyntaxError as exc:
        problem = f"malformed sitemap: {exc}"
    try:  # salvage what a truncated or sloppy sitemap still holds
        return etree.fromstring(body, etree.XMLParser(recover=True, **_PARSER_OPTIONS)), problem
    except etree.XMLSyntaxError:
        return None, problem


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


def _url_entry(node: etree._Element, base: str, source: str) -> FeedEntry | None:
    url = absolute_url(_text(node, "{*}loc"), base)
    if url is None:
        return None
    news = node.find("{*}news")
    if news is None:
        return FeedEntry(url=url, source=source, published_at=parse_date(_text(node, "{*}lastmod")))
    published = parse_date(_text(news, "{*}publication_date"))
    return FeedEntry(
        url=url,
        source=source,
        title=one_line(_text(news, "{*}title")),
        published_at=published or parse_date(_text(node, "{*}lastmod")),
        lang=normalise_lang(_text(news, "{*}publication/{*}language")),
    )


def _children(root: etree._Element, base: str, since: datetime | None) -> tuple[str, ...]:
    """Child sitemap URLs, newest `lastmod` first (undated ones last, in document order)."""
    dated = []
    for node in islice(root.iterchildren("{*}sitemap"), MAX_SITEMAP_URLS):
        url = absolute_url(_text(node, "{*}loc"), base)
        lastmod = parse_date(_text(node, "{*}lastmod"))
        if url is not None and _is_recent(lastmod, since):  # older ones hold nothing newer
            dated.append((lastmod, url))
    # sort is stable, also reversed: ties (and all undated children) keep their document order
    dated.sort(key=lambda pair: pair[0].timestamp() if pair[0] else float("-inf"), reverse=True)
    return tuple(dict.fromkeys(url for _, url in dated))


def _is_recent(date: datetime | None, since: datetime | None) -> bool:
    return since is None or date is None or date >= as_utc(since)


def _text(node: etree._Element, path: str) -> str | None:
    found = node.find(path)
    return None if found is None else found.xpath("string()").strip() or None  # skips &entity;


def _parse_text(body: bytes, url: str, source: str) -> ParsedSource:
    """A text sitemap: one absolute URL per line, nothing else."""
    lines = [line.strip() for line in body.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return ParsedSource(error="not a sitemap: empty document")
    if not all(line.lower().startswith(("http://", "https://")) for line in lines):
        return ParsedSource(error="not a sitemap: text that is not one URL per line")
    urls = (absolute_url(line, url) for line in lines[:MAX_SITEMAP_URLS])
    entries = [FeedEntry(url=u, source=source) for u in urls if u is not None]
    error = _capped(None, len(lines), "URLs")
    return ParsedSource(entries=dedupe_by_url(entries), error=error, kind="text-sitemap")
