"""urls: canonical form for the already-seen check, stable ids, address classes."""

from __future__ import annotations

import pytest

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
