"""Property tests: the source parsers never raise and only ever return absolute http(s) URLs;
canonicalize_url either raises InvalidURL or returns its own fixed point.

Inputs are random bytes and real corpus documents that have been truncated, spliced or had bytes
flipped. The corpus is read from ../shared/corpus; without it the mutation tests are skipped.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswatch.models import ParsedSource
from newswatch.sources import discover_links, parse_feed, parse_sitemap
from newswatch.urls import InvalidURL, canonicalize_url

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
MAX_SEED_BYTES = 40_000  # bigger corpus files are cut: feedparser needs ~0.3 ms per kB
SEEDS = [
    path.read_bytes()[:MAX_SEED_BYTES]
    for path in sorted(CORPUS.glob("feeds/*/*")) + sorted(CORPUS.glob("sitemaps/*/*"))
    if path.suffix in {".xml", ".rss", ".atom", ".gz"}
]
SEEDS += [
    gzip.decompress(path.read_bytes())[:MAX_SEED_BYTES]
    for path in sorted(CORPUS.glob("extraction/html/*.html.gz"))[:5]
]
needs_corpus = pytest.mark.skipif(not SEEDS, reason=f"corpus absent: no {CORPUS} next to the repo")

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE_URL = "https://www.example.org/section/index.xml"
SINCE = datetime(2018, 1, 1, tzinfo=UTC)
# Fragments that trip XML and HTML parsers: entities, CDATA ends, stray markup, NUL, bad UTF-8.
NASTY = [b"<", b"&", b"&amp", b"]]>", b"<![CDATA[", b"\x00", b"\xff\xfe", b"\xc3",
         b"<!ENTITY a 'x'>", b"</item>", b"<item>", b"<url><loc>", b"xml:base=\"javascript:\"",
         b"\x1f\x8b"]  # fmt: skip
PATTERNS = [None, r"/20\d\d/", r"article", r"(", r"[a-z]+-[a-z]+"]


@st.composite
def mutated_seed(draw: st.DrawFn) -> bytes:
    doc = draw(st.sampled_from(SEEDS))
    operation = draw(st.sampled_from(["truncate", "flip", "splice", "insert", "gzip"]))
    at = draw(st.integers(0, len(doc)))
    if operation == "truncate":
        return doc[:at]
    if operation == "flip":
        mutable = bytearray(doc)
        for position in draw(st.lists(st.integers(0, max(len(doc) - 1, 0)), max_size=8)):
            if mutable:
                mutable[position] ^= draw(st.integers(1, 255))
        return bytes(mutable)
    if operation == "splice":
        other = draw(st.sampled_from(SEEDS))
        return doc[:at] + other[draw(st.integers(0, len(other))) :]
    if operation == "insert":
        return doc[:at] + draw(st.sampled_from(NASTY)) + doc[at:]
    return gzip.compress(doc[:at], compresslevel=1)


def assert_well_formed(parsed: ParsedSource) -> None:
    assert isinstance(parsed, ParsedSource)
    assert parsed.error is None or isinstance(parsed.error, str)
    for url in [e.url for e in parsed.entries] + list(parsed.child_sitemaps):
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.hostname, url
    for entry in parsed.entries:
        assert entry.published_at is None or entry.published_at.utcoffset() == timedelta(0)
    assert len({e.url for e in parsed.entries}) == len(parsed.entries)


@FAST
@given(st.binary(max_size=3000), st.sampled_from([None, "text/xml", "text/html; charset=utf-8"]))
def test_parse_feed_survives_random_bytes(body: bytes, content_type: str | None) -> None:
    assert_well_formed(parse_feed(body, BASE_URL, content_type=content_type))


@needs_corpus
@FAST
@given(mutated_seed())
def test_parse_feed_survives_mutated_corpus(body: bytes) -> None:
    assert_well_formed(parse_feed(body, BASE_URL))


@FAST
@given(st.binary(max_size=3000), st.sampled_from([None, SINCE]))
def test_parse_sitemap_survives_random_bytes(body: bytes, since: datetime | None) -> None:
    assert_well_formed(parse_sitemap(body, BASE_URL, since=since))


@needs_corpus
@FAST
@given(mutated_seed(), st.sampled_from([None, SINCE]))
def test_parse_sitemap_survives_mutated_corpus(body: bytes, since: datetime | None) -> None:
    assert_well_formed(parse_sitemap(body, BASE_URL, since=since))


@FAST
@given(st.one_of(st.binary(max_size=3000), st.text(max_size=3000)), st.sampled_from(PATTERNS))
def test_discover_links_survives_random_input(html: bytes | str, pattern: str | None) -> None:
    assert_well_formed(discover_links(html, BASE_URL, link_pattern=pattern))


@needs_corpus
@FAST
@given(mutated_seed(), st.sampled_from(PATTERNS))
def test_discover_links_survives_mutated_corpus(html: bytes, pattern: str | None) -> None:
    assert_well_formed(discover_links(html, BASE_URL, link_pattern=pattern))


@FAST
@given(
    st.lists(
        st.sampled_from(
            ['<a href="', '">', "</a>", "<base href=", "https://", "//", "www.example.org",
             "m.example.org", "/2024/05/01/", "a-b-c-d-e", "#x", "?page=2", "javascript:",
             "\x00", "\ud800", "é", " ", "1234567", "/tag/", ".pdf", "[::1]", ":99999"]
        ),
        max_size=40,
    ).map("".join)
)  # fmt: skip
def test_discover_links_survives_link_soup(html: str) -> None:
    assert_well_formed(discover_links(html, BASE_URL))


URL_PIECES = st.tuples(
    st.sampled_from(["http", "https", "HTTPS", "ftp", "javascript", "", "http:"]),
    st.sampled_from(["example.org", "EXAMPLE.org.", "bücher.de", "xn--bcher-kva.de", "[::1]",
                     "127.0.0.1", "a..b", "", "user:pw@example.org", "ex ample.org", "[v1.x]",
                     "xn--", "example.org:0", "example.org:443", "example.org:99999", "ß.de"]),
    st.lists(st.sampled_from(["/", "a", "é", " ", ";", "+", ":", "@", "..", ".", "~", "\t", "?", "%",
                              "%25", "%41", "%2F", "%2f", "%7E", "%C3%A9", "%E9", "%00"]),
             max_size=8).map("".join),
    st.lists(st.sampled_from(["a", "=", "&", "%25", "%26", "%3D", "+", " ", "utm_x", "é", "%", ";",
                              "%20", "#", "%2B", "%41", "?", "fbclid"]), max_size=8).map("".join),
)  # fmt: skip


def check_canonical(url: str) -> None:
    try:
        canonical = canonicalize_url(url)
    except InvalidURL:
        return
    assert urlsplit(canonical).scheme in ("http", "https")
    assert canonicalize_url(canonical) == canonical


@FAST
@given(URL_PIECES.map(lambda p: f"{p[0]}://{p[1]}{p[2]}?{p[3]}"))
def test_canonicalize_url_is_idempotent_or_raises_invalid_url(url: str) -> None:
    check_canonical(url)


@FAST
@given(st.text(max_size=80))
def test_canonicalize_url_of_any_text_is_idempotent_or_raises_invalid_url(url: str) -> None:
    check_canonical(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://a.org/%2541",  # found by this suite: %2541 -> %41 -> A before urls.py was fixed
        "http://a.org/%",
        "http://a.org/%%41a",  # found by this suite: a bare '%' before an escape made a new escape
        "http://a.org/%%414",
    ],
)
def test_percent_escapes_in_path_are_a_fixed_point(url: str) -> None:
    check_canonical(url)


# --- the prefilters in front of feedparser and the incremental sitemap reader -----------------

FEED_PIECES = [
    "<item><title>t</title><link>https://example.org/{n}</link></item>", "<item/>", "<entry/>",
    "<image><title>img</title></image>", "&#xD800;", "&#0;", "&#x1F600;", "&big;", "&amp;", "<![CDATA[a&eacute;]]>",
    "<item><image><title>x</title></image><link>https://example.org/i{n}</link></item>", "</item>", "<item>",
]  # fmt: skip


@FAST
@given(st.sampled_from(["", '<!DOCTYPE rss [<!ENTITY big "xxxx">]>', "<!DOCTYPE rss [", "<!DOCTYPE rss>"]),
       st.lists(st.sampled_from(FEED_PIECES), max_size=20))
def test_parse_feed_survives_hostile_prologs_and_items(prolog: str, pieces: list[str]) -> None:
    items = "".join(p.format(n=i) for i, p in enumerate(pieces))
    body = f'<?xml version="1.0"?>{prolog}<rss version="2.0"><channel><title>c</title>{items}</channel></rss>'
    parsed = parse_feed(body.encode(), BASE_URL)
    assert_well_formed(parsed)
    assert all(e.title != "img" and e.title != "x" for e in parsed.entries)  # never an image's title


SITEMAP_URLS = [f"https://www.example.org/news/page_{i}?a=1&amp;b={i}" for i in range(12)]
FULL_SITEMAP = (
    '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    + "".join(f"<url><loc>{u}</loc><lastmod>2020-01-{i + 1:02d}</lastmod></url>" for i, u in enumerate(SITEMAP_URLS))
    + "</urlset>"
).encode()


@FAST
@given(st.integers(0, len(FULL_SITEMAP)))
def test_a_sitemap_cut_anywhere_gives_a_prefix_of_its_entries_and_no_partial_url(cut: int) -> None:
    full = [e.url for e in parse_sitemap(FULL_SITEMAP, BASE_URL).entries]
    assert full == [u.replace("&amp;", "&") for u in SITEMAP_URLS]
    salvaged = [e.url for e in parse_sitemap(FULL_SITEMAP[:cut], BASE_URL).entries]
    assert salvaged == full[: len(salvaged)]  # in order, nothing invented, nothing cut short
