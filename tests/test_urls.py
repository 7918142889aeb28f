"""urls: canonical form for the already-seen check, stable ids, address classes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.urls import InvalidURL, canonicalize_url, is_public_address, url_id


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTP://Example.COM/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/a?utm_source=x&utm_medium=y&id=5", "https://example.com/a?id=5"),
        ("https://example.com/a?b=2&a=1&fbclid=zz&gclid=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/caf%C3%A9", "https://example.com/caf%C3%A9"),
        ("https://example.com/café", "https://example.com/caf%C3%A9"),
        ("https://ÉXAMPLE.be/x", "https://xn--xample-9ua.be/x"),
    ],
)
def test_canonical_form(raw, canonical):
    assert canonicalize_url(raw) == canonical
    assert canonicalize_url(canonical) == canonical  # a fixed point


def test_variants_of_one_article_share_one_id():
    variants = ["https://News.example.com/a/b?utm_campaign=rss", "https://news.example.com:443/a/b#top",
                "HTTPS://NEWS.EXAMPLE.COM/a/b"]
    assert len({url_id(canonicalize_url(v)) for v in variants}) == 1


def test_relative_url_resolved_against_base():
    assert canonicalize_url("/x/y?utm_source=a", base="https://example.com/feed") == "https://example.com/x/y"


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "mailto:a@b.c", "ftp://example.com/f", "http://", "", "http://[::1"])
def test_non_http_urls_are_refused(bad):
    with pytest.raises(InvalidURL):
        canonicalize_url(bad)


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2001:4860:4860::8888", True), ("127.0.0.1", False), ("10.1.2.3", False),
     ("192.168.0.1", False), ("172.16.5.4", False), ("169.254.169.254", False), ("::1", False),
     ("fe80::1", False), ("224.0.0.1", False), ("0.0.0.0", False), ("::ffff:127.0.0.1", False),
     ("100.64.0.1", False), ("fc00::1", False)],
)
def test_address_classes(address, public):
    assert is_public_address(address) is public


# --- the WHATWG URL standard (cases modelled on its urltestdata.json; no installed package ships
# that file, so these are written here in its shape: input, base, expected canonical form) -------

WHATWG_PARSES = [
    # hosts: UTS-46 non-transitional, as browsers do (ß, ς, ZWJ are kept, not mapped away)
    ("https://faß.example/", None, "https://xn--fa-hia.example/"),
    ("https://FASS.example/", None, "https://fass.example/"),
    ("http://βόλος.com/", None, "http://xn--nxasmm1c.com/"),
    ("http://Ｅｘａｍｐｌｅ.com/", None, "http://example.com/"),  # full-width letters are mapped
    ("http://example.com./x", None, "http://example.com/x"),
    # numeric host forms become dotted quads
    ("http://0x7f000001/", None, "http://127.0.0.1/"),
    ("http://2130706433/", None, "http://127.0.0.1/"),
    ("http://0177.0.0.1/", None, "http://127.0.0.1/"),
    ("http://127.1/", None, "http://127.0.0.1/"),
    ("http://[0:0:0:0:0:0:0:1]/", None, "http://[::1]/"),
    ("http://[::ffff:7f00:1]:8080/a", None, "http://[::ffff:7f00:1]:8080/a"),
    # dot segments, backslashes, default ports, tabs and newlines removed
    ("http://example.com/a/../b", None, "http://example.com/b"),
    ("http://example.com/a/./b/", None, "http://example.com/a/b/"),
    ("http://example.com/a/%2e%2E/b", None, "http://example.com/b"),
    ("http://example.com/../../x", None, "http://example.com/x"),
    ("http:\\\\example.com\\a\\..\\b", None, "http://example.com/b"),
    ("https://example.com:443/", None, "https://example.com/"),
    ("http://example.com:80/", None, "http://example.com/"),
    ("http://ex\tample.com/a\nb", None, "http://example.com/ab"),
    ("  http://example.com/  ", None, "http://example.com/"),
    # relative references against a base
    ("../c?x=1", "http://example.com/a/b/", "http://example.com/a/c?x=1"),
    ("//other.example/p", "https://example.com/feed", "https://other.example/p"),
    ("?page=2", "https://example.com/list?page=1", "https://example.com/list?page=2"),
    ("\\x", "https://example.com/a/b", "https://example.com/x"),
    # credentials never reach the canonical form
    ("http://user:pass@example.com/a", None, "http://example.com/a"),
    # the path's spaces and non-ASCII are percent-encoded; unreserved escapes decoded
    ("http://example.com/a b", None, "http://example.com/a%20b"),
    ("http://example.com/%7Euser/%41", None, "http://example.com/~user/A"),
    ("http://example.com/caf%c3%a9", None, "http://example.com/caf%C3%A9"),
]

WHATWG_REJECTS = [
    "http://exa mple.com/", "http://a<b.com/", "http://a>b.com/", "http://a|b.com/", "http://a^b.com/",
    "http://a%00b.com/", "http://a\x01b.com/", "http://a\x7fb.com/", "http://a%20b.com/",
    "http://[::1", "http://[::1]x/", "http://[1:2:3]/", "http://[::1::2]/", "http://1.2.3.4.5.6/x",
    "http://0x100000000/", "http://256.256.256.256.256/", "http://example.com:99999/",
    "http://example.com:-1/", "http://example.com:8a/", "http://℀.com/", "http://a%zzb.com/",
    "http://xn--/", "http://xn--zz-/", "http://#/", "http://?x", "https://", "http:///",
    "http://a@/", "http://[www.example.com]/",
]


@pytest.mark.parametrize(("raw", "base", "canonical"), WHATWG_PARSES)
def test_whatwg_parsing(raw: str, base: str | None, canonical: str) -> None:
    assert canonicalize_url(raw, base=base) == canonical
    assert canonicalize_url(canonical) == canonical


@pytest.mark.parametrize("bad", WHATWG_REJECTS)
def test_what_whatwg_rejects_is_invalid_url(bad: str) -> None:
    with pytest.raises(InvalidURL):
        canonicalize_url(bad)


@pytest.mark.parametrize("base", ["http://[::1", "not a url", "http://a b/"])
def test_a_malformed_base_is_invalid_url_not_value_error(base: str) -> None:
    with pytest.raises(InvalidURL):
        canonicalize_url("/x", base=base)
    with pytest.raises(InvalidURL):
        canonicalize_url("http://[::1", base="https://example.com/")


def test_sharp_s_host_is_not_merged_with_ss() -> None:
    assert canonicalize_url("https://faß.example/") != canonicalize_url("https://fass.example/")


# --- tracking parameters -------------------------------------------------------------------------

TRACKERS = [
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id", "gclid", "gclsrc",
    "dclid", "gbraid", "wbraid", "srsltid", "_ga", "_gl", "fbclid", "fb_source", "fb_ref", "fb_action_ids",
    "fb_action_types", "igshid", "msclkid", "yclid", "twclid", "ttclid", "mc_cid", "mc_eid", "_hsenc",
    "_hsmi", "mkt_tok", "itm_source", "itm_medium", "itm_campaign", "s_cid", "s_kwcid", "pk_campaign",
    "mtm_source", "ocid", "cmpid", "smid", "xtor", "ns_campaign", "wt_mc", "at_medium", "vero_id",
    "oly_anon_id", "_branch_match_id", "guccounter", "ref_src", "spm", "hsa_cam", "otm_source",
    "ga_source", "ncid", "sc_cid", "li_fat_id", "__s", "_kx", "ml_subscriber", "rb_clickid", "echobox",
    "stm_source", "__twitter_impression", "ito", "sr_share", "soc_src", "UTM_Source",
]
ARTICLE_SELECTORS = ["id", "p", "story_fbid", "article", "page_id", "a", "s", "cid", "ref", "story", "v", "page"]


@pytest.mark.parametrize("name", TRACKERS)
def test_tracking_parameter_is_stripped(name: str) -> None:
    assert canonicalize_url(f"https://example.com/a?id=7&{name}=x") == "https://example.com/a?id=7"


@pytest.mark.parametrize("name", ARTICLE_SELECTORS)
def test_parameter_that_selects_the_article_is_kept(name: str) -> None:
    one, two = (canonicalize_url(f"https://example.com/a?{name}={n}&utm_source=rss") for n in (1, 2))
    assert one == f"https://example.com/a?{name}=1" and one != two


def test_query_values_are_not_decoded_into_one_another() -> None:
    forms = ["?q=%FF", "?q=%FE", "?q=a+b", "?q=a%2Bb", "?q=a%26b=c", "?q=a&b=c", "?a=1&a=2", "?a=2&a=1"]
    canon = [canonicalize_url(f"https://example.com/s{f}") for f in forms]
    assert len(set(canon)) == len(forms)


def test_query_is_sorted_by_name_and_unreserved_escapes_decoded() -> None:
    assert canonicalize_url("https://example.com/?b=%7e&a=%2f") == "https://example.com/?a=%2F&b=~"


# --- properties ----------------------------------------------------------------------------------

LABEL = st.text(alphabet=st.sampled_from("abcxyz019-ßéσ"), min_size=1, max_size=8).filter(
    lambda s: not s.startswith("-") and not s.endswith("-"))
HOST = st.lists(LABEL, min_size=1, max_size=3).map(lambda ls: ".".join([*ls, "example"]))
SEGMENT = st.text(alphabet=st.sampled_from("ab09-_.~%é!$'()*+,;=:@ 2Fe"), max_size=6)
PATH = st.lists(st.one_of(SEGMENT, st.sampled_from([".", "..", "%2e", "%2E%2e"])), max_size=5).map(
    lambda segs: "/" + "/".join(segs))
NAME = st.text(alphabet=st.sampled_from("abpidz_"), min_size=1, max_size=5)
VALUE = st.text(alphabet=st.sampled_from("ab1%+=é ~2F"), max_size=5)
QUERY = st.lists(st.tuples(NAME, VALUE), max_size=4).map(lambda ps: "&".join(f"{k}={v}" for k, v in ps))
URLS = st.builds(lambda s, h, p, q, f: f"{s}://{h}{p}?{q}#{f}", st.sampled_from(["http", "https", "HTTPS"]),
                 HOST, PATH, QUERY, st.text(max_size=3))
PROPS = settings(max_examples=300, deadline=None)


@PROPS
@given(URLS)
def test_canonical_form_is_a_fixed_point(url: str) -> None:
    try:
        canonical = canonicalize_url(url)
    except InvalidURL:
        return
    assert canonicalize_url(canonical) == canonical


@PROPS
@given(HOST, PATH, st.text(alphabet=st.sampled_from("abz09"), min_size=1, max_size=6), SEGMENT)
def test_different_articles_never_share_a_canonical_url(host: str, path: str, slug: str, other: str) -> None:
    """Another last path segment, or another value of a non-tracking parameter, is another page."""
    try:
        base = canonicalize_url(f"https://{host}{path}")
    except InvalidURL:
        return
    stem = base.rstrip("/")
    if other not in ("", ".", "..", slug) and "%2" not in other.lower():
        assert canonicalize_url(f"{stem}/{slug}") != canonicalize_url(f"{stem}/{other}")
    assert canonicalize_url(f"{stem}?id={slug}") != canonicalize_url(f"{stem}?id={slug}0")
    assert canonicalize_url(f"{stem}?p={slug}&utm_source=x") != canonicalize_url(f"{stem}?p={slug}x")


@PROPS
@given(st.text(max_size=40), st.sampled_from([None, "https://example.com/a/b?c=d", "http://[::1]/"]))
def test_any_text_against_any_base_is_canonical_or_invalid_url(text: str, base: str | None) -> None:
    try:
        canonical = canonicalize_url(text, base=base)
    except InvalidURL:
        return
    assert canonicalize_url(canonical) == canonical


@PROPS
@given(HOST, st.sampled_from(list(" <>|^\x00\x01\x1f\x7f[]") + ["%00", "%20", "%3C", "%7C"]), st.data())
def test_a_forbidden_host_character_is_always_invalid_url(host: str, bad: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=1, max_value=len(host) - 1))
    with pytest.raises(InvalidURL):
        canonicalize_url(f"http://{host[:cut]}{bad}{host[cut:]}/")
