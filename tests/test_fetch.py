"""fetch: real requests to the local corpus server, one behaviour per test."""

from __future__ import annotations

import asyncio

import pytest

from newswatch.config.settings import Settings
from newswatch.extract import decode_html
from newswatch.fetch import open_fetcher, parse_retry_after, sniff_binary
from newswatch.models import FetchRequest

FAST = Settings(read_timeout_s=0.5, connect_timeout_s=1, total_timeout_s=5, backoff_s=0.01, retries=2)


def fetch(url: str, settings: Settings = FAST, **kw):
    async def go():
        async with open_fetcher(settings) as f:
            return await f.fetch(FetchRequest(url, "test", kw.pop("purpose", "article"), **kw))

    return asyncio.run(go())


def own(site) -> str:
    return site.base.split("//")[1].split(":")[0]


def test_page_is_fetched_with_body_and_content_type(site):
    pid = next(iter(site.pages))
    res = fetch(f"{site.base}/articles/{pid}.html", allow_private_host=own(site))
    assert res.ok and res.status_code == 200 and res.error is None
    assert res.body == site.pages[pid]
    assert res.content_type == "text/html" and res.charset == "utf-8"


def test_404_is_recorded_without_retry(site):
    res = fetch(f"{site.base}/fault/404", allow_private_host=own(site))
    assert (res.status_code, res.error_kind, res.attempts) == (404, "http_status", 1)
    assert "404" in res.error


def test_500_is_retried_then_recorded(site):
    res = fetch(f"{site.base}/fault/500", allow_private_host=own(site))
    assert res.error_kind == "http_status" and res.status_code == 500
    assert res.attempts == FAST.retries + 1
    assert len(site.requests_to("/fault/500")) == FAST.retries + 1


def test_retry_after_header_is_honoured(site):
    res = fetch(f"{site.base}/fault/429-once", allow_private_host=own(site))
    assert res.ok and res.attempts == 2
    assert res.elapsed_ms >= 900  # it waited the 1 s the server asked for before asking again


def test_retry_after_http_date_is_honoured(site):
    res = fetch(f"{site.base}/fault/503-date", allow_private_host=own(site))
    assert res.ok and res.attempts == 2


def test_retry_after_beyond_cap_gives_up_until_next_run(site):
    res = fetch(f"{site.base}/fault/429-long", allow_private_host=own(site))
    assert res.error_kind == "rate_limited" and res.attempts == 1
    assert "3600" in res.error and "next run" in res.error


def test_read_timeout_is_recorded(site):
    res = fetch(f"{site.base}/fault/slow", Settings(read_timeout_s=0.3, retries=0), allow_private_host=own(site))
    assert res.error_kind == "timeout" and not res.ok


def test_redirect_loop_is_detected(site):
    res = fetch(f"{site.base}/fault/loop-a", allow_private_host=own(site))
    assert res.error_kind == "redirect_loop"
    assert "loop-b" in res.error


def test_redirect_to_other_private_host_is_refused(site):
    res = fetch(f"{site.base}/fault/to-private", allow_private_host=own(site))
    assert res.error_kind == "blocked_address" and "10.255.255.1" in res.error


def test_redirect_to_cloud_metadata_address_is_refused(site):
    res = fetch(f"{site.base}/fault/to-metadata", allow_private_host=own(site))
    assert res.error_kind == "blocked_address" and "169.254.169.254" in res.error


def test_loopback_refused_without_allow_private_addresses(site):
    res = fetch(f"{site.base}/fault/private")
    assert res.error_kind == "blocked_address"
    assert site.requests_to("/fault/private") == []  # refused before any connection


def test_huge_body_is_cut_at_the_cap(site):
    res = fetch(f"{site.base}/fault/huge", allow_private_host=own(site))
    assert res.error_kind == "too_large" and res.body == b""


def test_gzip_bomb_is_cut_at_the_cap_while_inflating(site):
    from servers import _gzip_bomb

    _gzip_bomb()  # built now, not while the client waits (0.5 s read timeout, and timeouts are not retried)
    res = fetch(f"{site.base}/fault/gzip-bomb", allow_private_host=own(site))
    assert res.error_kind == "too_large"


def test_binary_body_claiming_html_is_refused(site):
    res = fetch(f"{site.base}/fault/binary", allow_private_host=own(site))
    assert res.error_kind == "binary" and "PDF" in res.error


def test_robots_txt_disallow_is_honoured(site):
    res = fetch(f"{site.base}/private/page.html", allow_private_host=own(site))
    assert res.error_kind == "robots"
    assert site.requests_to("/private/") == []


def test_conditional_get_gives_304(site):
    url = f"{site.base}/feeds/guardian.rss"
    first = fetch(url, purpose="feed", allow_private_host=own(site))
    second = fetch(url, purpose="feed", allow_private_host=own(site), etag=first.etag)
    assert first.status_code == 200 and first.etag
    assert second.not_modified and second.body == b""


def test_page_lying_about_its_charset_is_decoded(site):
    res = fetch(f"{site.base}/fault/latin1-lie", allow_private_host=own(site))
    assert res.ok and res.charset == "utf-8"
    text = decode_html(res.body, res.charset)
    assert "Café crème à Bruxelles" in text and "\ufffd" not in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), ("0", 0.0), ("soon", None), (None, None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_future_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)


def test_sniff_binary_names_pdf_and_passes_html():
    assert sniff_binary(b"%PDF-1.4 ...") == "PDF"
    assert sniff_binary(b"<!doctype html><html>") is None
