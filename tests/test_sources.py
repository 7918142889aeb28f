"""newswatch.sources against the real feeds and sitemaps in ../shared/corpus.

Expectations are computed from the files at test time (regex counts, decoded titles) so that no
corpus text is copied into the repository; synthetic documents cover what the corpus lacks
(sitemap indexes, hostile XML, index pages).
"""

from __future__ import annotations

import gzip
import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from newswatch.models import ParsedSource
from newswatch.sources import discover_links, parse_feed, parse_sitemap
from newswatch.urls import host_of

SHARED = Path(__file__).resolve().parents[2] / "shared"
FEEDS = SHARED / "corpus" / "feeds"
SITEMAPS = SHARED / "corpus" / "sitemaps"
PAGES = SHARED / "corpus" / "extraction"
FEED_FILES = sorted(p for p in FEEDS.glob("*/*") if p.suffix in {".xml", ".rss", ".atom"})
FEED_URL = "https://feeds.example.org/news/rss.xml"
SITEMAP_URL = "https://www.example.org/sitemap.xml"


def corpus_file(path: Path) -> bytes:
    if not path.is_file():
        pytest.skip(f"corpus file {path} absent: ../shared/corpus is not next to the repository")
    return path.read_bytes()


def item_titles(body: bytes, encoding: str) -> list[str]:
    """Item titles straight from the XML text (CDATA unwrapped, whitespace collapsed)."""
    items = re.findall(r"<item[ >].*?</item>", body.decode(encoding), re.S)
    titles = [re.search(r"<title>(.*?)</title>", item, re.S).group(1) for item in items]
    unwrapped = (t.replace("<![CDATA[", "").replace("]]>", "") for t in titles)
    return [" ".join(html.unescape(t).split()) for t in unwrapped]


def rss(items: str, prolog: str = "") -> bytes:
    return (f'<?xml version="1.0"?>{prolog}<rss version="2.0"><channel><title>t</title>'
            f"<link>https://example.org/</link>{items}</channel></rss>").encode()


def is_absolute_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# --- feeds: every corpus file ---------------------------------------------------------------


@pytest.mark.parametrize("path", FEED_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_corpus_feed_gives_unique_absolute_entries_with_utc_dates(path: Path) -> None:
    body = corpus_file(path)
    parsed = parse_feed(body, FEED_URL, source="corpus")
    items = len(re.findall(rb"<(?:item|entry)[\s>]", body))
    assert parsed.kind in {"rss", "atom", "rdf"}
    assert len(parsed.entries) <= items
    assert len({e.url for e in parsed.entries}) == len(parsed.entries)
    for entry in parsed.entries:
        assert is_absolute_http(entry.url) and entry.source == "corpus"
        assert entry.published_at is None or entry.published_at.utcoffset() == timedelta(0)
        assert entry.title is None or entry.title == " ".join(entry.title.split())
        for text in (entry.summary, entry.content):
            assert text is None or not re.search(r"</?(?:p|a|div|img|br|em|strong)\b", text)


def test_guardian_feed_gives_every_item_with_author_and_language() -> None:
    body = corpus_file(FEEDS / "rss-parser/guardian.rss")
    parsed = parse_feed(body, FEED_URL)
    first_creator = re.search(rb"<dc:creator>(.*?)</dc:creator>", body).group(1).decode()
    assert len(parsed.entries) == len(re.findall(rb"<item>", body)) == 55
    assert parsed.error is None and parsed.kind == "rss"
    assert parsed.entries[0].author == first_creator
    assert {e.lang for e in parsed.entries} == {"en"}
    assert parsed.entries[0].published_at == datetime(2018, 1, 31, 7, 26, 5, tzinfo=UTC)
    assert all(e.summary and not e.content for e in parsed.entries)  # HTML summaries only


def test_gb2312_feed_decodes_chinese_titles() -> None:
    body = corpus_file(FEEDS / "rss-parser/encoding-gb2312.xml")
    parsed = parse_feed(body, FEED_URL)
    titles = [e.title for e in parsed.entries]
    assert titles == item_titles(body, "gb18030")
    assert len(titles) == 20 and all(re.search(r"[\u4e00-\u9fff]", t) for t in titles)
    assert parsed.entries[0].lang == "zh"


def test_lying_charset_header_does_not_garble_gb2312_feed() -> None:
    body = corpus_file(FEEDS / "rss-parser/encoding-gb2312.xml")
    honest = parse_feed(body, FEED_URL)
    lied_to = parse_feed(body, FEED_URL, content_type="text/xml; charset=utf-8")
    assert [e.title for e in lied_to.entries] == [e.title for e in honest.entries]
    assert lied_to.error is None  # a wrong charset is something feedparser copes with


def test_zoneless_dates_of_a_chinese_feed_are_beijing_time() -> None:
    """`<language>zh-cn</language>`, `2018-09-18 14:38:10`: +08:00 (every zh locale is), not UTC."""
    parsed = parse_feed(corpus_file(FEEDS / "rss-parser/encoding-gb2312.xml"), FEED_URL)
    assert parsed.entries[0].published_at == datetime(2018, 9, 18, 6, 38, 10, tzinfo=UTC)


def test_zoneless_dates_take_the_sources_tz_else_utc() -> None:
    feed = rss('<item><link>https://example.org/a</link><pubDate>2019-07-01 12:00:00</pubDate></item>')
    assert parse_feed(feed, FEED_URL).entries[0].published_at == datetime(2019, 7, 1, 12, tzinfo=UTC)
    berlin = parse_feed(feed, FEED_URL, tz="Europe/Berlin").entries[0]
    assert berlin.published_at == datetime(2019, 7, 1, 10, tzinfo=UTC)
    assert parse_feed(feed, FEED_URL, lang="ja").entries[0].published_at == datetime(2019, 7, 1, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    "name", ["rss-parser/uolNoticias.rss", "miniflux/no_encoding_ISO-8859-1.xml"]
)
def test_undeclared_latin1_feed_decodes_accents(name: str) -> None:
    body = corpus_file(FEEDS / name)
    parsed = parse_feed(body, FEED_URL)
    titles = [e.title for e in parsed.entries]
    assert set(titles) <= set(item_titles(body, "cp1252"))
    assert any(re.search("[àáâãçéêèíóôõúü]", t) for t in titles)
    assert not any("\ufffd" in t or "Ã" in t for t in titles)


def test_declared_iso_8859_1_feed_with_crlf_dates() -> None:
    body = corpus_file(FEEDS / "rss-parser/encoding.rss")
    parsed = parse_feed(body, FEED_URL)
    assert [e.title for e in parsed.entries] == item_titles(body, "iso-8859-1")
    assert len(parsed.entries) == 40 and {e.lang for e in parsed.entries} == {"pt"}
    assert all(e.published_at is not None for e in parsed.entries)


def test_portuguese_day_and_month_names_are_parsed() -> None:
    body = corpus_file(FEEDS / "rss-parser/uolNoticias.rss")
    parsed = parse_feed(body, FEED_URL)
    assert len(parsed.entries) == len(re.findall(rb"<item>", body))
    assert all(e.published_at is not None for e in parsed.entries)
    # Seg, 24 Set 2018 19:42:40 -0300
    assert parsed.entries[0].published_at == datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)


def test_italian_date_and_language_tag_are_normalised() -> None:
    parsed = parse_feed(corpus_file(FEEDS / "feed-rs/rss_2.0_ilmessaggero.xml"), FEED_URL)
    (entry,) = parsed.entries
    assert entry.published_at == datetime(2022, 11, 15, 23, 38, 15, tzinfo=UTC)  # mer, 16 nov +0100
    assert entry.lang == "it"  # declared as IT-it
    assert entry.title.startswith("Missili Polonia") and "\n" not in entry.title


def test_bare_z_zone_date_is_utc() -> None:
    parsed = parse_feed(corpus_file(FEEDS / "feed-rs/rss_2.0_ilgiornale.xml"), FEED_URL)
    assert parsed.entries[0].published_at == datetime(2022, 11, 15, 20, 15, 4, tzinfo=UTC)
    assert parsed.entries[0].author == "Angela Leucci"  # from "redazione@… (Angela Leucci)"


def test_truncated_feed_reports_malformed_error() -> None:
    parsed = parse_feed(corpus_file(FEEDS / "feed-rs/rss_2.0_invalid_1.xml"), FEED_URL)
    assert parsed.error is not None and parsed.error.startswith("malformed feed: ")
    assert parsed.entries == ()


def test_truncated_feed_keeps_the_items_before_the_cut() -> None:
    body = corpus_file(FEEDS / "rss-parser/guardian.rss")
    cut = body[: body.index(b"<item>", len(body) // 2) + 200]
    parsed = parse_feed(cut, FEED_URL)
    full = parse_feed(body, FEED_URL)
    assert parsed.error is not None and parsed.error.startswith("malformed feed: ")
    salvaged = [e.url for e in parsed.entries]
    assert 10 < len(salvaged) < len(full.entries)
    assert salvaged == [e.url for e in full.entries][: len(salvaged)]


def test_html_page_instead_of_feed_reports_malformed_error() -> None:
    page = gzip.decompress(corpus_file(min((PAGES / "html").glob("*.html.gz"), default=PAGES / "html" / "absent")))
    parsed = parse_feed(page, FEED_URL, content_type="text/html; charset=utf-8")
    assert parsed.error == "malformed feed: not a feed (an HTML page)"


def test_empty_body_is_not_a_feed() -> None:
    assert parse_feed(b"", FEED_URL).error == "malformed feed: not a feed (empty document)"


def test_relative_links_resolved_against_xml_base() -> None:
    feed = b"""<rss version="2.0"><channel><title>t</title><link>https://blog.example.org/</link>
      <item xml:base="https://blog.example.org/posts/2024/">
        <title>a</title><link>first-post/</link></item>
      <item><title>b</title><link>/articles/second-post</link></item>
      <item xml:base="/other/"><title>c</title><link>third</link></item>
    </channel></rss>"""
    urls = [e.url for e in parse_feed(feed, FEED_URL).entries]
    assert urls == [
        "https://blog.example.org/posts/2024/first-post/",
        "https://feeds.example.org/articles/second-post",
        "https://feeds.example.org/other/third",
    ]


def test_corpus_item_xml_base_matches_resolved_links() -> None:
    body = corpus_file(FEEDS / "feed-rs/rss_2.0_relurl_1.xml")
    bases = [b.decode() for b in re.findall(rb'<item xml:base="([^"]+)"', body)]
    parsed = parse_feed(body, FEED_URL)
    assert [e.url for e in parsed.entries] == bases
    assert parsed.entries[1].content.endswith("...")  # content:encoded, CDATA, plain text
    assert parsed.entries[0].author == "Jonas Große Sundrup"  # "email (Name)" split


def test_atom_xml_lang_and_typed_text_become_plain_fields() -> None:
    feed = b"""<feed xmlns="http://www.w3.org/2005/Atom"
      xml:base="https://ex.jp/blog/" xml:lang="ja-JP">
      <title>t</title><entry><title type="html">&lt;b&gt;Bold&lt;/b&gt;   title</title>
      <link href="2020/01/post"/><updated>2020-01-02T03:04:05+09:00</updated>
      <summary type="text">a &lt; b</summary>
      <content type="xhtml">
        <div xmlns="http://www.w3.org/1999/xhtml"><p>One</p><p>Two</p></div></content>
      <author><name>Taro</name></author></entry></feed>"""
    parsed = parse_feed(feed, FEED_URL)
    (entry,) = parsed.entries
    assert parsed.kind == "atom"
    assert entry.url == "https://ex.jp/blog/2020/01/post"
    assert (entry.title, entry.summary, entry.content) == ("Bold title", "a < b", "One\nTwo")
    assert (entry.lang, entry.author) == ("ja", "Taro")
    assert entry.published_at == datetime(2020, 1, 1, 18, 4, 5, tzinfo=UTC)


def test_atom_corpus_feed_has_content_and_published_dates() -> None:
    body = corpus_file(FEEDS / "rss-parser/heise.atom")
    parsed = parse_feed(body, FEED_URL)
    first_published = re.search(rb"<published>(.*?)</published>", body).group(1).decode()
    assert parsed.kind == "atom" and len(parsed.entries) == len(re.findall(rb"<entry>", body))
    assert parsed.entries[0].published_at == datetime.fromisoformat(first_published)
    assert all(e.content and e.summary for e in parsed.entries)


def test_entries_without_http_link_are_dropped() -> None:
    feed = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>js</title><link>javascript:alert(1)</link></item>
      <item><title>mail</title><link>mailto:a@example.org</link></item>
      <item><title>none</title></item>
      <item><title>ok</title><link>https://example.org/ok-story</link></item>
    </channel></rss>"""
    assert [e.title for e in parse_feed(feed, FEED_URL).entries] == ["ok"]


def test_corpus_item_with_empty_link_is_dropped() -> None:
    body = corpus_file(FEEDS / "miniflux/no_encoding_ISO-8859-1.xml")
    parsed = parse_feed(body, FEED_URL)
    assert len(re.findall(rb"<item>", body)) == 10
    assert len(parsed.entries) == 10 - body.count(b"<link></link>") == 9


def test_duplicate_links_are_kept_once_first_wins() -> None:
    body = corpus_file(FEEDS / "RSParser/DaringFireball.atom")
    alternates = re.findall(rb'<link rel="alternate" type="text/html" href="([^"]+)"', body)[1:]
    parsed = parse_feed(body, FEED_URL)
    assert len(alternates) == 48 and len(set(alternates)) == 47
    assert [e.url.encode() for e in parsed.entries] == list(dict.fromkeys(alternates))


def test_content_encoded_becomes_plain_text_content() -> None:
    body = corpus_file(FEEDS / "RSParser/natasha.xml")
    parsed = parse_feed(body, FEED_URL)
    assert len(parsed.entries) == body.count(b"<content:encoded>") == 10
    for entry in parsed.entries:
        assert len(entry.content) > len(entry.summary) > 0
        assert "<p>" not in entry.content and "&amp;" not in entry.content


@pytest.mark.parametrize(
    ("name", "kind", "count", "first_date"),
    [
        ("miniflux/rdf_UTF8.xml", "rdf", 60, None),
        ("feed-rs/rss_1.0_iso8859.xml", "rdf", 1, datetime(2023, 1, 25, 18, 3, 2, tzinfo=UTC)),
    ],
)
def test_rdf_feeds(name: str, kind: str, count: int, first_date: datetime | None) -> None:
    parsed = parse_feed(corpus_file(FEEDS / name), FEED_URL)
    assert (parsed.kind, len(parsed.entries), parsed.entries[0].published_at) == (
        kind,
        count,
        first_date,
    )


@pytest.mark.parametrize(
    ("name", "lang"),
    [
        ("RSParser/phpxml.rss", "nl"),
        ("RSParser/aktuality.rss", "sk"),  # dc:language
        ("miniflux/urdu_UTF8.xml", "ur"),
        ("miniflux/encoding_ISO-8859-1.xml", "de"),
        ("rss-parser/heise.atom", None),  # German, but nothing declares it
    ],
)
def test_feed_language_is_normalised_primary_subtag(name: str, lang: str | None) -> None:
    parsed = parse_feed(corpus_file(FEEDS / name), FEED_URL)
    assert {e.lang for e in parsed.entries} == {lang}


def test_billion_laughs_in_feed_is_harmless() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    feed = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel>'
        "<item><title>&lol9;</title><link>https://example.org/a-b-c-d</link></item>"
        "</channel></rss>"
    ).encode()
    parsed = parse_feed(feed, FEED_URL)
    assert parsed.error is not None
    assert all(len(e.title or "") < 100 for e in parsed.entries)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("<![CDATA[Caf&eacute; &amp; bar]]>", "Café & bar"),  # the example
        ("<![CDATA[L&#39;&eacute;t&eacute; &ndash; 2019]]>", "L'été – 2019"),
        ("Fish &amp;amp; chips", "Fish & chips"),  # escaped once for XML, once for HTML
        ("<![CDATA[AT&T &lt;3]]>", "AT&T <3"),
    ],
)
def test_rss_html_text_with_entities_but_no_tags_is_decoded(raw: str, text: str) -> None:
    feed = rss(f"<item><title>{raw}</title><link>https://example.org/a</link><description>{raw}</description></item>")
    entry = parse_feed(feed, FEED_URL).entries[0]
    assert (entry.title, entry.summary) == (text, text)


def test_atom_html_is_decoded_once_and_text_is_not_decoded_at_all() -> None:
    feed = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title><entry>'
            b'<title type="html">AT&amp;amp;T</title><link href="https://example.org/a"/>'
            b'<summary type="text">AT&amp;amp;T</summary></entry></feed>')
    entry = parse_feed(feed, FEED_URL).entries[0]
    assert entry.title == "AT&T"  # html: XML gives `AT&amp;T`, HTML gives `AT&T`
    assert entry.summary == "AT&amp;T"  # text: XML's decoding is the only one


def test_image_title_nested_in_an_item_does_not_replace_the_items_title() -> None:
    feed = rss(
        "<image><title>Channel logo</title><url>https://example.org/logo.png</url></image>"
        "<item><title>Real headline</title><link>https://example.org/a</link>"
        "<image><title>Photo caption</title><url>https://example.org/i.png</url></image></item>"
        "<item><link>https://example.org/b</link><image><title>Only a caption</title></image>"
        "<description>d</description></item>"
        '<item><title>Third</title><link>https://example.org/c</link><media:thumbnail url="x"/></item>'
    )
    assert [e.title for e in parse_feed(feed, FEED_URL).entries] == ["Real headline", None, "Third"]


@pytest.mark.parametrize("empty", ["<item/>", "<item />", '<item rdf:about="x"/>', "<item></item>"])
def test_self_closing_items_count_towards_the_cap_and_parsing_stops(empty: str) -> None:
    real = "<item><title>after the cap</title><link>https://example.org/late</link></item>"
    first = "<item><title>first</title><link>https://example.org/first</link></item>"
    parsed = parse_feed(rss(first + empty * 200_000 + real), FEED_URL)
    assert [e.title for e in parsed.entries] == ["first"]
    assert parsed.error.startswith("feed lists more than 1,000 entries")


def test_self_closing_atom_entries_count_towards_the_cap() -> None:
    feed = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title>' + b"<entry/>" * 50_000
            + b'<entry><title>late</title><link href="https://example.org/late"/></entry></feed>')
    parsed = parse_feed(feed, FEED_URL)
    assert parsed.entries == () and parsed.error.startswith("feed lists more than 1,000 entries")
    assert parsed.kind == "atom"  # the closing tags survived the cut: still well-formed Atom


def test_feed_at_the_cap_is_read_whole_without_error() -> None:
    items = "".join(f"<item><link>https://example.org/{i}</link></item>" for i in range(1_000))
    parsed = parse_feed(rss(items), FEED_URL)
    assert len(parsed.entries) == 1_000 and parsed.error is None


def test_quadratic_entity_expansion_is_refused_before_parsing() -> None:
    """One 100 kB entity referenced 3,000 times would expand to 300 MB; it is not expanded at all."""
    prolog = f'<!DOCTYPE rss [<!ENTITY big "{"x" * 100_000}">]>'
    feed = rss("<item><title>t</title><link>https://example.org/a</link>"
               f"<description>{'&big;' * 3_000}</description></item>", prolog)
    parsed = parse_feed(feed, FEED_URL)
    assert "DTD internal subset" in parsed.error
    assert [e.url for e in parsed.entries] == ["https://example.org/a"]
    assert "x" * 100 not in repr(parsed)  # the reference stays a reference


def test_feed_whose_dtd_never_ends_is_refused() -> None:
    parsed = parse_feed(b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + b"x" * 1000, FEED_URL)
    assert parsed.entries == () and parsed.error == "malformed feed: its DTD never ends"


@pytest.mark.parametrize("ref", ["&#xD800;", "&#xdfff;", "&#55296;", "&#0;", "&#x110000;", "&#1114112;", "&#xFFFE;"])
def test_one_forbidden_character_reference_costs_one_character_not_the_feed(ref: str) -> None:
    items = "".join(f"<item><title>{t}</title><link>https://example.org/{t}</link></item>"
                    for t in ("one", f"tw{ref}o", "three"))
    parsed = parse_feed(rss(items), FEED_URL)
    assert [e.title for e in parsed.entries] == ["one", "two", "three"]


def test_allowed_character_references_are_kept() -> None:
    feed = rss("<item><title>&#x1F600; &#233; &#9;x</title><link>https://example.org/a</link></item>")
    assert parse_feed(feed, FEED_URL).entries[0].title == "\U0001f600 é x"


@pytest.mark.parametrize(
    ("pub_date", "published_at"),
    [
        ("Sat, 23 Nov 2019 20:30:45 CEST", datetime(2019, 11, 23, 18, 30, 45, tzinfo=UTC)),
        ("Sat, 23 Nov 2019 20:30:45 +02:00", datetime(2019, 11, 23, 18, 30, 45, tzinfo=UTC)),
        ("Sat, 23 Nov 2019 8:30:45 PM JST", datetime(2019, 11, 23, 11, 30, 45, tzinfo=UTC)),
    ],
)
def test_feed_dates_are_read_by_our_parser_not_feedparsers(pub_date: str, published_at: datetime) -> None:
    feed = rss(f"<item><link>https://example.org/a</link><pubDate>{pub_date}</pubDate></item>")
    assert parse_feed(feed, FEED_URL).entries[0].published_at == published_at


@pytest.mark.parametrize("pub_date", ["Wed, 01 Jan 2031 10:00:00 GMT", "Fri, 01 Jan 1993 10:00:00 GMT", "soon 2019"])
def test_implausible_feed_date_is_unknown_with_the_raw_string_kept(pub_date: str) -> None:
    feed = rss(f"<item><link>https://example.org/a</link><pubDate>{pub_date}</pubDate></item>")
    entry = parse_feed(feed, FEED_URL, now=datetime(2026, 12, 1, tzinfo=UTC)).entries[0]
    assert entry.published_at is None and entry.date_raw == pub_date


def test_a_date_ahead_of_one_clock_is_fine_for_a_later_clock() -> None:
    feed = rss("<item><link>https://example.org/a</link><pubDate>Wed, 01 Jan 2031 10:00:00 GMT</pubDate></item>")
    entry = parse_feed(feed, FEED_URL, now=datetime(2031, 1, 1, 9, tzinfo=UTC)).entries[0]
    assert entry.published_at == datetime(2031, 1, 1, 10, tzinfo=UTC) and entry.date_raw is None


# --- sitemaps -------------------------------------------------------------------------------


def test_plain_sitemap_lists_every_url_with_lastmod() -> None:
    body = corpus_file(SITEMAPS / "trafilatura/sitemap.xml")
    parsed = parse_sitemap(body, SITEMAP_URL, source="corpus")
    locs = [loc.decode() for loc in re.findall(rb"<loc>(.*?)</loc>", body)]
    assert parsed.kind == "sitemap" and parsed.error is None
    assert [e.url for e in parsed.entries] == locs and len(locs) == 84
    assert parsed.entries[0].published_at == datetime(2016, 11, 21, tzinfo=UTC)
    assert {e.source for e in parsed.entries} == {"corpus"}


def test_gzipped_sitemap_equals_plain() -> None:
    plain = parse_sitemap(corpus_file(SITEMAPS / "trafilatura/sitemap.xml"), SITEMAP_URL)
    gzipped = parse_sitemap(corpus_file(SITEMAPS / "trafilatura/sitemap.xml.gz"), SITEMAP_URL)
    assert gzipped == plain and len(gzipped.entries) == 84


def test_google_news_sitemap_gives_title_date_language() -> None:
    body = corpus_file(SITEMAPS / "crawler-commons/shinpaideshou-news-sitemap.xml")
    parsed = parse_sitemap(body, SITEMAP_URL)
    titles = [t.decode() for t in re.findall(rb"<news:title>(.*?)</news:title>", body)]
    dates = re.findall(rb"<news:publication_date>(.*?)</news:publication_date>", body)
    assert parsed.kind == "news-sitemap" and len(parsed.entries) == 3
    assert [e.title for e in parsed.entries] == titles
    assert [e.published_at for e in parsed.entries] == [
        datetime.fromisoformat(d.decode()) for d in dates
    ]
    assert parsed.entries[0].published_at == datetime(2017, 4, 25, 10, 0, 36, tzinfo=UTC)
    assert {e.lang for e in parsed.entries} == {"en"}


def test_extension_sitemap_uses_lastmod_and_ignores_image_and_video_titles() -> None:
    body = corpus_file(SITEMAPS / "crawler-commons/hebdenbridgetimes-articles-sitemap.xml")
    parsed = parse_sitemap(body, SITEMAP_URL)
    assert parsed.kind == "sitemap" and len(parsed.entries) == body.count(b"<url>") == 74
    assert all(e.title is None for e in parsed.entries)
    first_lastmod = re.search(rb"<lastmod>(.*?)</lastmod>", body).group(1).decode()
    assert parsed.entries[0].published_at == datetime.fromisoformat(first_lastmod)
    assert parsed.entries[0].published_at.tzinfo == UTC


def test_since_window_drops_old_entries() -> None:
    body = corpus_file(SITEMAPS / "crawler-commons/hebdenbridgetimes-articles-sitemap.xml")
    dates = re.findall(rb"<lastmod>(.*?)</lastmod>", body)
    lastmods = sorted(datetime.fromisoformat(d.decode()) for d in dates)
    since = lastmods[len(lastmods) // 2]
    parsed = parse_sitemap(body, SITEMAP_URL, since=since)
    assert len(parsed.entries) == sum(d >= since for d in lastmods)
    assert 0 < len(parsed.entries) < 74
    assert all(e.published_at >= since for e in parsed.entries)


def test_since_window_keeps_undated_entries_and_accepts_naive_since() -> None:
    sitemap = b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <url><loc>https://www.example.org/old</loc><lastmod>2019-12-31</lastmod></url>
      <url><loc>https://www.example.org/undated</loc></url>
      <url><loc>https://www.example.org/new</loc><lastmod>2020-01-01T00:30:00+01:00</lastmod></url>
    </urlset>"""
    parsed = parse_sitemap(sitemap, SITEMAP_URL, since=datetime(2019, 12, 31, 23, 0))
    assert [urlsplit(e.url).path for e in parsed.entries] == ["/undated", "/new"]


def test_sitemap_index_lists_children_newest_first() -> None:
    index = b"""<?xml version="1.0" encoding="UTF-8"?>
    <sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc>/sitemaps/undated.xml</loc></sitemap>
      <sitemap><loc>https://www.example.org/sitemaps/2020.xml.gz</loc>
        <lastmod>2020-12-31</lastmod></sitemap>
      <sitemap><loc>https://www.example.org/sitemaps/2021.xml</loc>
        <lastmod>2021-06-01T10:00:00+02:00</lastmod></sitemap>
      <sitemap><loc>javascript:void(0)</loc></sitemap>
      <sitemap><loc>https://www.example.org/sitemaps/2019.xml</loc>
        <lastmod>2019-01-01</lastmod></sitemap>
    </sitemapindex>"""
    parsed = parse_sitemap(index, SITEMAP_URL)
    assert parsed.kind == "sitemapindex" and parsed.entries == () and parsed.error is None
    assert [urlsplit(u).path for u in parsed.child_sitemaps] == [
        "/sitemaps/2021.xml",
        "/sitemaps/2020.xml.gz",
        "/sitemaps/2019.xml",
        "/sitemaps/undated.xml",
    ]
    recent = parse_sitemap(index, SITEMAP_URL, since=datetime(2020, 6, 1, tzinfo=UTC))
    assert [urlsplit(u).path for u in recent.child_sitemaps] == [
        "/sitemaps/2021.xml",
        "/sitemaps/2020.xml.gz",
        "/sitemaps/undated.xml",
    ]


URLSET = '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
INDEX = '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'


@pytest.mark.parametrize("stray", ["# generated by WordPress", "<br>", "www.example.org/c", "\ufeffjunk"])
def test_text_sitemap_skips_a_stray_line_and_says_so(stray: str) -> None:
    text = f"https://www.example.org/a\n{stray}\nhttps://www.example.org/b\n".encode()
    parsed = parse_sitemap(text, "https://www.example.org/sitemap.txt")
    assert [urlsplit(e.url).path for e in parsed.entries] == ["/a", "/b"]
    assert parsed.error == "malformed sitemap: 1 of 3 lines are not URLs (skipped)"


def test_text_that_is_mostly_not_urls_is_still_not_a_sitemap() -> None:
    text = b"Hello\nThis page moved to\nhttps://www.example.org/a\n"
    assert parse_sitemap(text, SITEMAP_URL).error == "not a sitemap: text that is not one URL per line"


@pytest.mark.parametrize(
    "cut_after",
    ["<loc>https://www.example.org/page_", "<loc>https://www.example.org/page_2</loc>", "<url><lo"],
)
def test_truncated_sitemap_drops_the_incomplete_last_entry(cut_after: str) -> None:
    body = (URLSET + "<url><loc>https://www.example.org/page_1</loc></url><url>"
            + cut_after.removeprefix("<url>")).encode()
    parsed = parse_sitemap(body, SITEMAP_URL)
    assert [e.url for e in parsed.entries] == ["https://www.example.org/page_1"]
    assert parsed.error.startswith("malformed sitemap: ")


def test_sloppy_and_truncated_sitemap_keeps_the_complete_entries_only() -> None:
    """An unescaped `&` forces recovery; the cut-off last <loc> must not come out of it."""
    body = (URLSET + "<url><loc>https://www.example.org/a?x=1&y=2</loc></url>"
            "<url><loc>https://www.example.org/b</loc></url><url><loc>https://www.example.org/page_").encode()
    parsed = parse_sitemap(body, SITEMAP_URL)
    assert [e.url for e in parsed.entries] == ["https://www.example.org/a?x=1&y=2", "https://www.example.org/b"]
    assert parsed.error.startswith("malformed sitemap: ")


def test_sloppy_but_complete_sitemap_keeps_every_entry() -> None:
    body = (URLSET + "<url><loc>https://www.example.org/a?x=1&y=2</loc></url>"
            "<url><loc>https://www.example.org/b</loc></url></urlset>").encode()
    assert [urlsplit(e.url).path for e in parse_sitemap(body, SITEMAP_URL).entries] == ["/a", "/b"]


def test_truncated_sitemap_index_drops_the_cut_child() -> None:
    body = (INDEX + "<sitemap><loc>https://www.example.org/s1.xml</loc></sitemap>"
            "<sitemap><loc>https://www.example.org/s2.x").encode()
    parsed = parse_sitemap(body, SITEMAP_URL)
    assert parsed.child_sitemaps == ("https://www.example.org/s1.xml",)
    assert parsed.error.startswith("malformed sitemap: ")


def test_every_loc_of_a_sitemap_entry_is_kept() -> None:
    index = (INDEX + "<sitemap><loc>https://www.example.org/a.xml</loc><loc>https://www.example.org/b.xml</loc>"
             "</sitemap><sitemap><loc>https://www.example.org/c.xml</loc></sitemap></sitemapindex>").encode()
    assert parse_sitemap(index, SITEMAP_URL).child_sitemaps == tuple(
        f"https://www.example.org/{n}.xml" for n in "abc")
    urlset = (URLSET + "<url><loc>https://www.example.org/a</loc><loc>https://www.example.org/b</loc>"
              "<lastmod>2020-01-02</lastmod></url></urlset>").encode()
    entries = parse_sitemap(urlset, SITEMAP_URL).entries
    assert [(urlsplit(e.url).path, e.published_at) for e in entries] == [
        ("/a", datetime(2020, 1, 2, tzinfo=UTC)), ("/b", datetime(2020, 1, 2, tzinfo=UTC))]


@pytest.mark.parametrize(("head", "tag"), [(INDEX, "sitemap"), (URLSET, "url")])
def test_entries_without_loc_are_recorded_as_an_error(head: str, tag: str) -> None:
    body = (head + f"<{tag}><lastmod>2020-01-01</lastmod></{tag}><{tag}><location>https://www.example.org/x"
            f"</location></{tag}></{head.split('<')[2].split()[0]}>").encode()
    parsed = parse_sitemap(body, SITEMAP_URL)
    assert parsed.entries == () and parsed.child_sitemaps == ()
    assert parsed.error == f"malformed sitemap: 2 of 2 <{tag}> entries have no <loc>"


def test_sitemap_over_the_cap_stops_with_an_error() -> None:
    rows = "".join(f"<url><loc>https://www.example.org/{i}</loc></url>" for i in range(50_010))
    parsed = parse_sitemap((URLSET + rows + "</urlset>").encode(), SITEMAP_URL)
    assert len(parsed.entries) == 50_000 and parsed.entries[-1].url == "https://www.example.org/49999"
    assert parsed.error == "sitemap lists more than 50,000 URLs; the first 50,000 were read"


def test_sitemap_is_read_incrementally_and_each_entry_freed() -> None:
    """Bounded memory: after a 5,000-entry read the tree holds at most the last entry."""
    from newswatch.sources import sitemaps

    rows = "".join(f"<url><loc>https://www.example.org/{i}</loc><image:image xmlns:image='x'><image:loc>"
                   f"https://img.example.org/{i}.jpg</image:loc></image:image></url>" for i in range(5_000))
    body = (URLSET + rows + "</urlset>").encode()
    dating = sitemaps._Dating(None, None, None, None)
    reading = sitemaps._read(body, SITEMAP_URL, dating, "", recover=False)
    assert reading.elements == 5_000 and len(reading.entries) == 5_000 and reading.error is None
    assert len(reading.root_element) <= 1 and all(len(child) == 0 for child in reading.root_element)


def test_sitemap_dates_use_the_clock_and_zone_hints() -> None:
    body = (URLSET + "<url><loc>https://www.example.org/a</loc><lastmod>2031-01-01</lastmod></url>"
            "<url><loc>https://www.example.org/b</loc><lastmod>2020-05-01 08:00</lastmod></url></urlset>").encode()
    now = datetime(2026, 12, 1, tzinfo=UTC)
    a, b = parse_sitemap(body, SITEMAP_URL, now=now, tz="Asia/Tokyo").entries
    assert (a.published_at, a.date_raw) == (None, "2031-01-01")
    assert b.published_at == datetime(2020, 4, 30, 23, tzinfo=UTC)


def test_text_sitemap_lists_one_url_per_line() -> None:
    text = b"https://www.example.org/a\r\n\nhttps://www.example.org/b\nhttps://www.example.org/a\n"
    parsed = parse_sitemap(text, "https://www.example.org/sitemap.txt")
    assert parsed.kind == "text-sitemap"
    assert [urlsplit(e.url).path for e in parsed.entries] == ["/a", "/b"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "not a sitemap: empty document"),
        (b"User-agent: *\nDisallow: /\n", "not a sitemap: text that is not one URL per line"),
        (b"<html><body><p>Not found</body></html>", "not a sitemap: looks like an HTML page"),
        (b'<?xml version="1.0"?><config/>', "not a sitemap: root element <config>"),
    ],
)
def test_documents_that_are_not_sitemaps_say_what_they_looked_like(body: bytes, error: str) -> None:
    assert parse_sitemap(body, SITEMAP_URL).error == error


def test_feed_given_as_sitemap_is_reported() -> None:
    parsed = parse_sitemap(corpus_file(FEEDS / "rss-parser/guardian.rss"), SITEMAP_URL)
    assert parsed.error == "not a sitemap: looks like an RSS/Atom feed (<rss>)"


def test_truncated_sitemap_salvages_entries_with_error() -> None:
    body = corpus_file(SITEMAPS / "trafilatura/sitemap.xml")
    full = [e.url for e in parse_sitemap(body, SITEMAP_URL).entries]
    parsed = parse_sitemap(body[: len(body) // 2], SITEMAP_URL)
    assert parsed.error.startswith("malformed sitemap: ")
    salvaged = [e.url for e in parsed.entries]
    assert 30 < len(salvaged) < 84 and salvaged == full[: len(salvaged)]


def test_truncated_gzip_sitemap_salvages_entries_with_error() -> None:
    body = corpus_file(SITEMAPS / "trafilatura/sitemap.xml.gz")
    parsed = parse_sitemap(body[:300], SITEMAP_URL)
    assert parsed.error.startswith("malformed sitemap: ")
    assert 0 < len(parsed.entries) < 84


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"\0" * 60_000_000, compresslevel=9)  # ~58 kB on the wire
    assert len(bomb) < 100_000
    assert parse_sitemap(bomb, SITEMAP_URL) == ParsedSource(error="decompressed sitemap too large")


def test_billion_laughs_is_harmless() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    sitemap = (
        f'<?xml version="1.0"?><!DOCTYPE urlset [{entities}]>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<url><loc>https://www.example.org/&lol9;</loc></url></urlset>"
    ).encode()
    parsed = parse_sitemap(sitemap, SITEMAP_URL)
    assert all(len(e.url) < 100 for e in parsed.entries)
    assert "lollol" not in repr(parsed)


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-MARKER")
    sitemap = f"""<?xml version="1.0"?>
    <!DOCTYPE urlset [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>
    <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
            xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
      <url><loc>https://www.example.org/a-&xxe;</loc>
        <news:news><news:title>&xxe;</news:title></news:news></url>
    </urlset>""".encode()
    parsed = parse_sitemap(sitemap, SITEMAP_URL)
    assert "TOPSECRET" not in repr(parsed)
    feed = parse_feed(sitemap.replace(b"urlset", b"rss"), FEED_URL)
    assert "TOPSECRET" not in repr(feed)


# --- index pages ----------------------------------------------------------------------------

INDEX_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>News</title>
<base href="https://www.example.org/news/"></head><body>
<nav><a href="/">Home</a> <a href="/sport/">Sport</a> <a href="/latin-america-news">Region</a></nav>
<a href="2024/05/01/council-votes-on-new-budget"><img src="x.jpg" alt=""></a>
<h2><a href="2024/05/01/council-votes-on-new-budget#comments">Council votes on  new
    budget</a></h2>
<a href="/world/floods-hit-northern-towns-after-record-rain">Floods hit towns</a>
<a href="https://m.example.org/story/1234567">Mobile story</a>
<a href="https://www.other.com/2024/05/01/some-other-site-story">Elsewhere</a>
<a href="/tag/budget-and-council-votes">Tag</a> <a href="/category/world-news-today">Cat</a>
<a href="/author/jane-doe-the-reporter">Author</a> <a href="/login">Log in</a>
<a href="/search?q=budget">Search</a> <a href="/feed/">RSS</a> <a href="/page/2">More</a>
<a href="/files/annual-report-2023-final-version.pdf">PDF</a>
<a href="/images/flood-photo-from-the-north.jpg">Photo</a>
<a href="mailto:desk@example.org">Mail</a> <a href="javascript:void(0)">JS</a>
<a href="/world/floods-hit-northern-towns-after-record-rain">Floods again</a>
<a href="https://www.example.org/news/">This page</a>
</body></html>"""


def test_index_page_links_same_site_articles_only() -> None:
    parsed = discover_links(INDEX_PAGE, "https://www.example.org/news/", source="site")
    assert parsed.kind == "html" and parsed.error is None
    assert [(e.url, e.title) for e in parsed.entries] == [
        (
            "https://www.example.org/news/2024/05/01/council-votes-on-new-budget",
            "Council votes on new budget",
        ),
        (
            "https://www.example.org/world/floods-hit-northern-towns-after-record-rain",
            "Floods hit towns",
        ),
        ("https://m.example.org/story/1234567", "Mobile story"),  # same registered domain
    ]
    assert {e.source for e in parsed.entries} == {"site"}


def test_link_pattern_replaces_the_article_shape_test() -> None:
    page = INDEX_PAGE.replace("</body>", '<a href="/story/42">Short id</a></body>')
    parsed = discover_links(page, "https://www.example.org/news/", link_pattern=r"/(story|world)/")
    assert [e.title for e in parsed.entries] == ["Floods hit towns", "Mobile story", "Short id"]
    tags = discover_links(INDEX_PAGE, "https://www.example.org/news/", link_pattern="/tag/")
    assert tags.entries == ()  # navigation pages stay out whatever the pattern says


def test_invalid_link_pattern_is_reported() -> None:
    parsed = discover_links(INDEX_PAGE, "https://www.example.org/news/", link_pattern="(")
    assert parsed.error.startswith("invalid link_pattern '(': ") and parsed.entries == ()


def test_legacy_charset_page_bytes_are_decoded() -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        '</head><body><a href="/2024/01/02/caf\xe9-ouvre-ses-portes">Le caf\xe9 ouvre</a>'
        "</body></html>"
    ).encode("latin-1")
    (entry,) = discover_links(page, "http://www.example.fr/").entries
    assert entry.title == "Le café ouvre"
    assert urlsplit(entry.url).hostname == "www.example.fr"


def test_empty_page_reports_error() -> None:
    parsed = discover_links(b"", "https://www.example.org/")
    assert parsed.error.startswith("not an HTML page: ") and parsed.entries == ()


def test_real_pages_yield_only_same_site_article_links() -> None:
    truth_file = PAGES / "ground-truth.json"
    truth = json.loads(corpus_file(truth_file))
    pages = sorted((PAGES / "html").glob("*.html.gz"))[:30]
    found = 0
    for path in pages:
        page_url = truth[path.name.split(".")[0]]["url"]
        parsed = discover_links(gzip.decompress(path.read_bytes()), page_url)
        assert parsed.error is None
        site = ".".join(host_of(page_url).split(".")[-2:])
        for entry in parsed.entries:
            assert is_absolute_http(entry.url) and "#" not in entry.url
            assert host_of(entry.url).endswith(site)
            assert entry.url != page_url.split("#")[0]
            assert not re.search(r"/(tag|tags|category|author|login|search|feed)/", entry.url)
        found += len(parsed.entries)
    assert found > 100
