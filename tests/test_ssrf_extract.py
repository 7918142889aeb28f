"""No library fetches on its own: extraction never hands htmldate or trafilatura a string they may
treat as a URL (issue 14). htmldate's `find_date` downloads a string that starts with "http" and has
no ASCII space; a page whose decoded text is such a string reached 127.0.0.2, localhost and [::1].

A trap HTTP server counts every request; each page below starts with the trap's URL, and the trap
must see none of them, on every path that calls into trafilatura/htmldate."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from newswatch.extract import ExtractJob, extract_article
from newswatch.models import FeedEntry

# ordinary HTML without an ASCII space (tabs and newlines only): htmldate's URL test is
# `startswith("http") and " " not in text`
BODY = (
    "\n<html>\n<head>\n<title>Trap</title>\n</head>\n<body>\n<article>\n"
    + "\n".join(f"<p>Paragraph\tnumber\t{i}\tof\tan\tordinary\tarticle\ttext\twith\tenough\twords.</p>" for i in range(30))
    + "\n</article>\n</body>\n</html>"
)


class _Trap(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, 0), _Handler)
        self.hits: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.hits.append(self.path)
        data = ("<html><body><p>" + "trapped " * 200 + "</p><time datetime='2020-01-01'>x</time></body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _bindable(host: str) -> bool:
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def trap_servers():
    servers = [_Trap(h) for h in ("127.0.0.1", "127.0.0.2", "::1") if _bindable(h)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    yield servers
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture
def traps(trap_servers):
    for s in trap_servers:
        s.hits.clear()  # each test counts its own requests
    return trap_servers


def _trap_urls(servers) -> list[str]:
    urls = []
    for s in servers:
        host, port = s.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        urls += [f"http://{host}:{port}/x", f"https://{host}:{port}/x"]
        if host == "127.0.0.1":
            urls.append(f"http://localhost:{port}/x")
    return urls


def _pages(servers) -> list[bytes]:
    pages = []
    for url in _trap_urls(servers):
        for prefix in ("", " \n\t", "\ufeff"):
            pages.append((prefix + url + BODY).encode("utf-8"))
        pages.append(b"\xef\xbb\xbf" + (url + BODY).encode("utf-8"))  # a UTF-8 BOM, decoded away
        pages.append((url + BODY).encode("utf-16-le").join((b"\xff\xfe", b"")))  # a UTF-16 BOM
    return pages


def test_the_trap_pages_make_htmldate_fetch_when_given_the_text(traps):
    """The control: the pages really are the hostile kind. htmldate handed the decoded text (what
    extract did before) requests the trap on every address, 127.0.0.2 and [::1] included."""
    from htmldate import find_date

    from newswatch.extract import decode_html

    for s in traps:
        host, port = s.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        text = decode_html((f"http://{host}:{port}/x" + BODY).encode())
        assert text.startswith("http") and " " not in text
        find_date(text, extensive_search=True)
        assert s.hits, f"htmldate did not fetch {host}"


@pytest.mark.parametrize("dated", [False, True], ids=["undated", "dated-feed-item"])
def test_extract_article_never_requests_a_url_found_in_the_page(traps, dated):
    from datetime import datetime, timezone

    entry = FeedEntry(url="http://127.0.0.1:9/a", title="t", published_at=datetime(2026, 1, 1, tzinfo=timezone.utc)) if dated else None
    results = [extract_article(ExtractJob(html=page, fetched_url="http://127.0.0.1:9/a", source="s", entry=entry))
               for page in _pages(traps)]
    assert all(s.hits == [] for s in traps), [s.hits for s in traps]
    assert results  # and extraction itself ran on every page


def test_no_page_text_reaches_a_library_as_a_string(traps, monkeypatch):
    """Every call into htmldate/trafilatura's page entry points gets a parsed tree."""
    import htmldate
    import trafilatura
    from lxml.html import HtmlElement

    seen = []

    def spy(module, name):
        real = getattr(module, name)

        def wrapper(obj, *a, **kw):
            seen.append((name, type(obj)))
            return real(obj, *a, **kw)

        monkeypatch.setattr(module, name, wrapper)

    spy(htmldate, "find_date")
    spy(trafilatura, "bare_extraction")
    spy(trafilatura, "extract")
    for page in _pages(traps)[:4]:
        extract_article(ExtractJob(html=page, fetched_url="http://127.0.0.1:9/a", source="s"))
    assert seen, "the spies saw no call"
    assert all(issubclass(t, HtmlElement) for _, t in seen), seen
    assert all(s.hits == [] for s in traps)
