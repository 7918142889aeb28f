"""Article links on an HTML index page (a section front or blog list) of a site without a feed."""

from __future__ import annotations

import re
from itertools import islice
from urllib.parse import urldefrag, urlsplit

import lxml.etree
import lxml.html
from courlan import is_navigation_page, is_not_crawlable
from courlan.filters import extension_filter, type_filter
from courlan.urlutils import get_tldinfo

from newswatch.models import FeedEntry, ParsedSource
from newswatch.sources.links import absolute_url
from newswatch.sources.text import one_line
from newswatch.urls import host_of

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w:.-]+)""", re.IGNORECASE)
_SNIFF_BYTES = 4096  # browsers look for <meta charset> in the first 1024 bytes; be generous
# Pages that list, describe or gate articles rather than being one (courlan misses these).
_NOT_ARTICLE_PATH = re.compile(
    r"/(?:tags?|topics?|themen|categor(?:y|ies)|sections?|authors?|autor(?:en)?|profiles?|users?"
    r"|log-?in|log-?out|sign-?in|sign-?up|register|subscribe|subscriptions?|newsletters?|account"
    r"|search|suche|feeds?|rss|atom|page|seite|archives?|print|share|comments?|wp-(?:admin|login)"
    r"|about|contact|privacy|terms|impressum|imprint|cookies?)(?:/|$|\.)",
    re.IGNORECASE,
)
_NOT_ARTICLE_QUERY = re.compile(r"(?:^|&)(?:page|paged|s|q|query|search|replytocom|share)=", re.I)
_DATED_SLUG = re.compile(r"/(?:19|20)\d\d/[01]?\d/(?:[0-3]?\d/)?[^/]*[^\W\d_]")  # /2020/01/slug
_ISO_DATE = re.compile(r"(?:19|20)\d\d-?[01]\d-?[0-3]\d")
_LONG_ID = re.compile(r"\d{5,}")  # CMS article ids: 7242564, 3088438
_MIN_SLUG_WORDS = 4
_WORDS = re.compile(r"[^\W_]+")
_EXTENSION = re.compile(r"\.(?:s?html?|php|aspx?|jsp|cms)$", re.IGNORECASE)
# A front page has 100-1,000 links; each costs ~50 us to judge, so a 10 MB page of 150,000 links
# took 7.8 s (measured). Only the first 5,000 <a> elements are looked at.
MAX_INDEX_ANCHORS = 5_000


def discover_links(
    html: str | bytes, url: str, link_pattern: str | None = None, source: str = ""
) -> ParsedSource:
    """Same-site article links in document order, the anchor text as title.

    `link_pattern` (a regex searched in the absolute URL) replaces the built-in "looks like an
    article" test for sites whose article URLs are neither slugs, dates nor long ids; links to
    tag, author, search, login, feed or media pages are dropped either way.
    """
    try:
        pattern = re.compile(link_pattern) if link_pattern else None
    except re.error as exc:
        return ParsedSource(error=f"invalid link_pattern {link_pattern!r}: {exc}", kind="html")
    try:
        page = lxml.html.document_fromstring(_decode(html).encode("utf-8"), _html_parser())
    except (lxml.etree.ParserError, ValueError) as exc:
        return ParsedSource(error=f"not an HTML page: {exc}", kind="html")
    base = absolute_url(page.xpath("string(//base/@href)"), url) or url
    page_url = urldefrag(url).url
    titles: dict[str, str | None] = {}
    for anchor in islice(page.iter("a"), MAX_INDEX_ANCHORS):
        link = absolute_url(anchor.get("href"), base, drop_fragment=True)
        if link is None or link == page_url or not _wanted(link, url, pattern):
            continue
        titles[link] = titles.get(link) or _anchor_text(anchor)
    entries = (FeedEntry(url=link, source=source, title=title) for link, title in titles.items())
    return ParsedSource(entries=tuple(entries), kind="html")


def _html_parser() -> lxml.html.HTMLParser:
    return lxml.html.HTMLParser(encoding="utf-8", no_network=True, remove_comments=True)


def _decode(html: str | bytes) -> str:
    """Text of the page: UTF-8, else the charset its <meta> declares, else Windows-1252."""
    if isinstance(html, str):
        return html
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _META_CHARSET.search(html[:_SNIFF_BYTES])
    try:
        return html.decode(declared.group(1).decode("ascii") if declared else "cp1252", "replace")
    except LookupError:
        return html.decode("cp1252", "replace")


def _wanted(link: str, page_url: str, pattern: re.Pattern[str] | None) -> bool:
    if not _same_site(link, page_url) or _is_not_article(link):
        return False
    return bool(pattern.search(link)) if pattern is not None else _looks_like_article(link)


def _same_site(link: str, page_url: str) -> bool:
    """Same host (www. ignored) or, for names, the same registered domain (public suffix list)."""
    host, page_host = host_of(link).removeprefix("www."), host_of(page_url).removeprefix("www.")
    if host == page_host:
        return True
    domain, page_domain = get_tldinfo(link, fast=False)[1], get_tldinfo(page_url, fast=False)[1]
    return domain is not None and domain == page_domain


def _is_not_article(link: str) -> bool:
    parts = urlsplit(link)
    return (
        is_navigation_page(link)
        or is_not_crawlable(link)
        or not type_filter(link, strict=True)  # feeds, wp-admin, media and archive files
        or not extension_filter(parts.path)
        or bool(_NOT_ARTICLE_PATH.search(parts.path))
        or bool(_NOT_ARTICLE_QUERY.search(parts.query))
    )


def _looks_like_article(link: str) -> bool:
    """A slug of four or more words, a dated path ending in a name, or a long numeric id.

    Four, because section fronts often have three-word names (`latin-america-news`).
    """
    path = urlsplit(link).path
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return False
    last = _EXTENSION.sub("", segments[-1])
    is_slug = len(_WORDS.findall(last)) >= _MIN_SLUG_WORDS and bool(re.search(r"[^\W\d_]", last))
    is_dated = bool(_DATED_SLUG.search(path) or _ISO_DATE.search(path))
    return is_slug or is_dated or bool(_LONG_ID.search(path))


def _anchor_text(anchor: lxml.html.HtmlElement) -> str | None:
    text = one_line(anchor.text_content()) or one_line(anchor.get("title"))
    images = anchor.xpath(".//img/@alt")
    return text or one_line(images[0] if images else None)
