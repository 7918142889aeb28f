"""Article extraction: fetched HTML → clean text and metadata (CPU-bound, no network).

`extract_article` is a pure function of (html bytes, URLs, feed entry); `pipeline.PagePool` runs it
(with classification) on all cores in worker processes, so extraction overlaps with fetching.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from newswatch.extract.ensemble import main_text
from newswatch.models import Article, FeedEntry
from newswatch.urls import InvalidURL, canonicalize_url, host_of, url_id

META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
MIN_LANG_CHARS = 40  # shorter texts give language detectors coin flips
# py3langid's cost grows with length (0.38 ms at 1,000 chars, 0.2 at 500); on the corpus, 300 chars
# already agree with 1,000 on all 181 pages
LANG_SAMPLE_CHARS = 500
MAX_HTML_CHARS = 3_000_000  # pathological pages beyond this are cut before parsing


@dataclass(frozen=True, slots=True)
class ExtractJob:
    html: bytes
    fetched_url: str  # final URL after redirects
    source: str
    charset: str | None = None  # from the Content-Type header (may lie)
    entry: FeedEntry | None = None
    lang_hint: str | None = None
    min_text_chars: int = 250
    requested_url: str | None = None  # canonical URL that was asked for (before redirects)


@dataclass(frozen=True, slots=True)
class ExtractFailure:
    fetched_url: str
    source: str
    reason: str


def decode_html(body: bytes, header_charset: str | None = None) -> str:
    """Decode a page whose declared charset may be wrong.

    Order: BOM; valid UTF-8 (a body that decodes as UTF-8 is almost never really Latin-1, the most
    common lie); the header charset; the <meta> charset; charset-normalizer's guess; UTF-8 with
    replacement characters as the last resort.
    """
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if body.startswith(bom):
            return body[len(bom):].decode(enc, "replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    meta = META_CHARSET_RE.search(body[:4096])
    for enc in (header_charset, meta.group(1).decode("ascii", "ignore") if meta else None):
        if enc and enc.lower() not in ("utf-8", "utf8"):
            try:
                return body.decode(_codec(enc))
            except (LookupError, UnicodeDecodeError):
                continue
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    if best is not None and best.encoding and not _single_byte(best.encoding):
        return body.decode(best.encoding, "replace")  # Shift_JIS, EUC-JP, GBK, ...
    try:
        # single-byte guesses on short texts are coin flips between code pages; windows-1252 is
        # the web's (and HTML5's) default for the Western languages newswatch reads
        return body.decode("cp1252")
    except UnicodeDecodeError:
        pass
    if best is not None and best.encoding:
        return body.decode(best.encoding, "replace")
    return body.decode("utf-8", "replace")


def _single_byte(encoding: str) -> bool:
    import codecs

    name = codecs.lookup(encoding).name
    return name.startswith(("cp125", "iso8859", "latin", "mac-", "cp8", "koi8", "tis-620", "cp437"))


def _codec(enc: str) -> str:
    # browsers treat these labels as windows-1252 / GBK supersets; so do we
    return {"iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252", "gb2312": "gbk"}.get(enc.lower(), enc)


def detect_language(text: str, hint: str | None = None) -> str | None:
    """Language of the text itself (ISO 639-1); the hint only when the text is too short."""
    sample = text[:LANG_SAMPLE_CHARS]
    if len(sample.strip()) < MIN_LANG_CHARS:
        return _norm_lang(hint)
    if _kana_share(sample) > 0.02:
        return "ja"  # kana are Japanese-only: never confuse Japanese with Chinese
    import py3langid

    lang, _ = py3langid.classify(sample)
    return lang


def _kana_share(text: str) -> float:
    kana = sum(1 for ch in text if "\u3040" <= ch <= "\u30ff")
    return kana / max(1, len(text))


def _norm_lang(value: str | None) -> str | None:
    if not value:
        return None
    return value.strip().lower().replace("_", "-").split("-")[0][:3] or None


def content_hash(text: str) -> str:
    if not unicodedata.is_normalized("NFKC", text):  # the check is a fast C scan; most texts pass
        text = unicodedata.normalize("NFKC", text)
    norm = " ".join(text.lower().split())
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:32]


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _canonical(doc_url: str | None, fetched: str) -> str:
    """The page's own canonical link when it stays on the fetched site, else the fetched URL.

    A canonical link to another host is not trusted: a page could otherwise claim any URL and
    shadow another site's article.
    """
    base = canonicalize_url(fetched)
    if not doc_url:
        return base
    try:
        canon = canonicalize_url(doc_url, base=fetched)
    except InvalidURL:
        return base
    return canon if host_of(canon) == host_of(base) else base


@dataclass(frozen=True, slots=True)
class PageMeta:
    title: str | None = None
    author: str | None = None
    sitename: str | None = None
    date: str | None = None
    url: str | None = None
    description: str | None = None
    language: str | None = None


H1_RE = re.compile(r"<h1[^>]*>(.*?)</h1\s*>", re.I | re.S)
TAG_RE = re.compile(r"<[^>]+>")


def _first_h1(html: str) -> str | None:
    """A page without a <title> or og:title usually still has its headline in the first <h1>."""
    import html as html_lib

    m = H1_RE.search(html, 0, MAX_HTML_CHARS)
    title = " ".join(html_lib.unescape(TAG_RE.sub(" ", m.group(1))).split()) if m else ""
    return title[:500] or None


def _body_date(tree, url: str) -> str | None:
    """htmldate's extensive search over the whole page: only when head and feed give no date.

    Always a parsed tree, never the page's text: htmldate downloads a string that starts with
    "http" and has no ASCII space itself (urllib3, no address check), an SSRF past the fetcher."""
    from htmldate import find_date

    try:
        return find_date(tree, url=url, original_date=True, extensive_search=True)
    except Exception:  # noqa: BLE001 - htmldate on hostile markup
        return None


def page_metadata(tree, url: str) -> PageMeta:
    """The metadata newswatch stores, read from a parsed page (in practice its `<head>`).

    trafilatura's own `with_metadata=True` also mines categories, tags, licence and bylines, and
    runs htmldate's extensive search on every page: ~45 % of the extraction time in our profile.
    We keep meta tags, JSON-LD, title, canonical URL and site name; the date comes from htmldate's
    fast path (`_body_date` runs the extensive search when neither head nor feed has a date).
    """
    from htmldate import find_date
    from trafilatura.metadata import examine_meta, extract_meta_json, extract_sitename, extract_title, extract_url

    meta = examine_meta(tree)
    try:
        meta = extract_meta_json(tree, meta)
    except Exception:  # noqa: BLE001 - malformed JSON-LD is common and never fatal
        pass
    page_url = meta.url or extract_url(tree, url)
    try:
        date = find_date(tree, url=page_url, original_date=True, extensive_search=False)
    except Exception:  # noqa: BLE001 - htmldate on hostile markup
        date = None
    author = meta.author if meta.author and " " in meta.author else None  # a bare handle is not a name
    return PageMeta(
        title=meta.title or extract_title(tree), author=author, sitename=meta.sitename or extract_sitename(tree),
        date=date, url=page_url, description=meta.description, language=getattr(meta, "language", None),
    )


HEAD_END_RE = re.compile(r"</head\s*>|<body[\s>]", re.I)
MAX_HEAD_CHARS = 200_000  # a <head> larger than this is not a real page's head


def parse_head(html: str):
    """Parse only the document's <head> (where meta tags, JSON-LD, canonical link and <title> live):
    ~10x cheaper than a second parse of the whole page next to trafilatura's own.

    lxml with trafilatura's parser settings, without trafilatura's `load_html` checks (made for
    whole documents): half the cost, the same metadata on every corpus page (measured)."""
    from lxml.etree import ParserError
    from lxml.html import document_fromstring

    m = HEAD_END_RE.search(html, 0, MAX_HEAD_CHARS)
    head = (html[: m.start()] if m else html[:MAX_HEAD_CHARS]) + "</head><body></body></html>"
    try:
        try:
            return document_fromstring(head, parser=_head_parser())
        except ValueError:  # a str with an XML encoding declaration: lxml wants bytes then
            return document_fromstring(head.encode("utf-8", "replace"), parser=_head_parser())
    except ParserError:  # nothing parseable in the head
        return None


def parse_page(html: str):
    """The whole page as an lxml tree, parsed once by us and handed to every library.

    trafilatura and htmldate accept trees; given a string, htmldate fetches it by itself when it
    looks like a URL (see `_body_date`), and trafilatura rejects a page whose first 50 characters
    lack "html" (a truncated doctype) although lxml parses the rest fine. Same parser settings and
    repairs as trafilatura's `load_html`, without that rejection."""
    from lxml.html import fromstring
    from trafilatura.utils import HTML_PARSER, repair_faulty_html

    html = repair_faulty_html(html, html[:50].lower())
    try:
        try:
            tree = fromstring(html, parser=HTML_PARSER)
        except ValueError:  # a str with an XML encoding declaration: lxml wants bytes then
            tree = fromstring(html.encode("utf-8", "surrogatepass"), parser=HTML_PARSER)
    except Exception:  # noqa: BLE001 - lxml's ParserError on empty or non-HTML input
        return None
    return tree


@functools.lru_cache(maxsize=1)
def _head_parser():
    from lxml.html import HTMLParser

    return HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True,
                      remove_pis=True)


def extract_article(job: ExtractJob) -> Article | ExtractFailure:
    """Extract one page. Falls back to the feed entry's text when the page yields too little."""
    entry = job.entry
    meta, text, error, html, method = PageMeta(), "", "no main text found", "", "trafilatura"
    try:
        html = decode_html(job.html, job.charset)[:MAX_HTML_CHARS]
        head = parse_head(html)
        if head is not None:
            meta = page_metadata(head, job.fetched_url)
        tree = parse_page(html)  # a tree, never the text: see parse_page
        if tree is not None:
            main = main_text(tree, (meta.title, entry.title if entry else None))
            text, method = main.text, main.method
        if meta.date is None and (entry is None or entry.published_at is None) and text:
            meta = replace(meta, date=_body_date(tree, meta.url or job.fetched_url))
    except Exception as exc:  # noqa: BLE001 - a bad page is a recorded failure, never a crash
        error = f"{type(exc).__name__}: {exc}"
    if len(text) < job.min_text_chars and entry is not None:
        for fallback, name in ((entry.content, "feed_content"), (entry.summary, "feed_summary")):
            if fallback and len(fallback.strip()) > len(text):
                text, method = fallback.strip(), name
                break
    if not text:
        return ExtractFailure(job.fetched_url, job.source, error)
    try:
        url = _canonical(meta.url, job.fetched_url)
    except InvalidURL as exc:
        return ExtractFailure(job.fetched_url, job.source, str(exc))
    title = meta.title or (entry.title if entry else None) or _first_h1(html)
    published = _parse_date(meta.date) or (entry.published_at if entry else None)
    aliases = {job.requested_url, canonicalize_url(job.fetched_url)} - {None, url}
    return Article(
        article_id=url_id(url),
        url=url,
        source=job.source,
        fetched_url=job.fetched_url,
        title=title,
        text=text,
        extraction_method=method,
        content_hash=content_hash(text),
        fetched_at=datetime.now(timezone.utc),
        published_at=published,
        author=meta.author or (entry.author if entry else None),
        sitename=meta.sitename,
        lang=detect_language(f"{title or ''}\n{text}", hint=meta.language or (entry.lang if entry else None) or job.lang_hint),
        summary=(entry.summary if entry else None) or meta.description,
        aliases=tuple(sorted(a for a in aliases if a)),
    )


def warm_up() -> None:
    """Import the extractors and load the language model once per worker process, not per page."""
    import py3langid
    import readability  # noqa: F401
    import trafilatura  # noqa: F401
    from trafilatura.external import jt_stoplist_init

    jt_stoplist_init()  # jusText's all-languages stoplist, built once (~0.1 s), used by the ensemble

    py3langid.classify("warm up the language model")
