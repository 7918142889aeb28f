"""A real HTTP server on 127.0.0.1 over the shared corpus, with fault routes.

- /articles/<id>.html       the corpus page <id> (utf-8 HTML, as captured)
- /feeds/<name>             real feeds from shared/corpus/feeds/ whose item links were rewritten
                            to local article URLs; ETag + Last-Modified, 304 on a match
- /sitemap.xml              a sitemap (fresh lastmod) of the pages no feed links to
- /robots.txt               allows everything except /private/
- /fault/...                404, 500, 429 (Retry-After), slow, redirect loop, huge, binary, ...
Every request is logged (method, path, status) so tests can count what the pipeline fetched.
Used by tests/ and bench/; it never reaches beyond loopback.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import html
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import feedparser

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
EXTRACTION = CORPUS / "extraction"
# real feeds whose items become the local articles: (file, local name)
FEEDS = (
    ("rss-parser/guardian.rss", "guardian.rss"),  # RSS 2.0, 55 items
    ("RSParser/DaringFireball.atom", "daringfireball.atom"),  # Atom 1.0, 48 entries
    ("miniflux/encoding_ISO-8859-1.xml", "golem.rss"),  # ISO-8859-1, 40 items
)
FEED_ITEMS_MAX = 40  # per feed: leaves pages over for the sitemap
LINK_RE = re.compile(rb"<link>\s*(?:<!\[CDATA\[)?\s*([^<\]\s]+)\s*(?:\]\]>)?\s*</link>")
ATOM_ALT_RE = re.compile(rb"<link[^>]*rel=\"alternate\"[^>]*href=\"([^\"]+)\"|<link[^>]*href=\"([^\"]+)\"[^>]*rel=\"alternate\"")


def corpus_available() -> bool:
    return (EXTRACTION / "ground-truth.json").exists()


def load_pages() -> dict[str, bytes]:
    return {p.name.split(".")[0]: gzip.decompress(p.read_bytes()) for p in sorted((EXTRACTION / "html").glob("*.html.gz"))}


def rewrite_feed(body: bytes, local_urls: list[str]) -> tuple[bytes, int]:
    """Point each item's link at a local URL, in document order; items beyond `local_urls` point at
    local pages that answer 404 (nothing links off this machine). Returns (feed, links rewritten)."""
    urls = iter(local_urls)
    base = local_urls[0].split("/articles/")[0] if local_urls else "http://127.0.0.1"
    count = 0
    surplus = 0
    is_atom = b"<feed" in body[:2000]

    def next_url() -> str | None:
        nonlocal count, surplus
        try:
            url = next(urls)
        except StopIteration:
            surplus += 1
            return None
        count += 1
        return url

    def sub_rss(m: re.Match) -> bytes:
        url = next_url() or f"{base}/gone/{surplus}.html"
        return b"<link>" + url.encode() + b"</link>"

    def sub_atom(m: re.Match) -> bytes:
        url = next_url() or f"{base}/gone/{surplus}.html"
        return b"<link rel=\"alternate\" type=\"text/html\" href=\"" + url.encode() + b"\"/>"

    if is_atom:
        return ATOM_ALT_RE.sub(sub_atom, body), count
    # the channel's own <link> comes first: keep it
    head, sep, rest = body.partition(b"<item")
    return head + sep + LINK_RE.sub(sub_rss, rest), count


@dataclass
class CorpusSite:
    """What the server serves; build it once per test session, mutate `faults` per test."""

    pages: dict[str, bytes] = field(default_factory=dict)
    feeds: dict[str, bytes] = field(default_factory=dict)
    feed_pages: dict[str, list[str]] = field(default_factory=dict)  # feed name -> page ids
    sitemap_pages: list[str] = field(default_factory=list)
    extra: dict[str, tuple[int, dict, bytes]] = field(default_factory=dict)  # path -> response
    log: list[tuple[str, str, int]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def requests_to(self, prefix: str) -> list[tuple[str, str, int]]:
        with self.lock:
            return [r for r in self.log if r[1].startswith(prefix)]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()
            self.counters.clear()


def build_site(base: str, pages: dict[str, bytes] | None = None, feeds=FEEDS, copies: int = 1) -> CorpusSite:
    """Assign corpus pages to rewritten real feeds; what is left goes in the sitemap.

    `copies` > 1 repeats every page under distinct URLs with distinct bytes (for benchmarks).
    """
    pages = pages if pages is not None else load_pages()
    site = CorpusSite(base=base)
    ids = []
    for c in range(copies):
        for pid, body in pages.items():
            key = pid if c == 0 else f"{pid}-{c}"
            site.pages[key] = body if c == 0 else body + f"\n<!-- copy {c} -->\n".encode()
            ids.append(key)
    pos = 0
    for rel, name in feeds:
        raw = (CORPUS / "feeds" / rel).read_bytes()
        want = FEED_ITEMS_MAX if copies == 1 else max(FEED_ITEMS_MAX, len(ids) // (len(feeds) + 1))
        chunk = ids[pos : pos + want]
        body, n = rewrite_feed(raw, [f"{base}/articles/{i}.html" for i in chunk])
        site.feeds[name] = body
        # what a feed reader sees as item links (an entry with two alternates uses one of them)
        linked = {e.get("link") for e in feedparser.parse(body).entries}
        site.feed_pages[name] = [i for i in chunk[:n] if f"{base}/articles/{i}.html" in linked]
        pos += n
    in_feeds = {i for v in site.feed_pages.values() for i in v}
    site.sitemap_pages = [i for i in ids if i not in in_feeds]
    return site


def sitemap_xml(site: CorpusSite) -> bytes:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    urls = "".join(
        f"<url><loc>{html.escape(site.base)}/articles/{i}.html</loc><lastmod>{now}</lastmod></url>"
        for i in site.sitemap_pages
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{urls}</urlset>").encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site: CorpusSite  # set on the subclass made per server

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        with self.site.lock:
            self.site.log.append(("GET", self.path, status))
        try:
            self.send_response(status)
            hdrs = {"Content-Length": str(len(body)), **(headers or {})}
            for k, v in hdrs.items():
                if v is not None:
                    self.send_header(k, v)
            self.end_headers()
            if body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _conditional(self, body: bytes, ctype: str) -> None:
        etag = '"' + hashlib.md5(body).hexdigest() + '"'
        lm = "Mon, 23 Nov 2026 08:00:00 GMT"
        if self.headers.get("If-None-Match") == etag:
            return self._send(304, b"", {"ETag": etag, "Last-Modified": lm})
        self._send(200, body, {"Content-Type": ctype, "ETag": etag, "Last-Modified": lm})

    def _count(self, key: str) -> int:
        with self.site.lock:
            self.site.counters[key] = self.site.counters.get(key, 0) + 1
            return self.site.counters[key]

    def do_GET(self) -> None:  # noqa: N802, C901 - one switch over routes reads best here
        path = self.path.split("?", 1)[0]
        site = self.site
        if path in site.extra:
            status, headers, body = site.extra[path]
            return self._send(status, body, headers)
        if path == "/robots.txt":
            return self._send(200, b"User-agent: *\nDisallow: /private/\n", {"Content-Type": "text/plain"})
        if path.startswith("/articles/") and path.endswith(".html"):
            body = site.pages.get(path[len("/articles/") : -len(".html")])
            if body is None:
                return self._send(404, b"not found", {"Content-Type": "text/plain"})
            return self._send(200, body, {"Content-Type": "text/html; charset=utf-8"})
        if path.startswith("/news/"):  # slug URLs of the front page: /news/<id>/<slug>
            body = site.pages.get(path.split("/")[2])
            if body is None:
                return self._send(404, b"not found", {"Content-Type": "text/plain"})
            return self._send(200, body, {"Content-Type": "text/html; charset=utf-8"})
        if path.startswith("/feeds/") and path[len("/feeds/"):] in site.feeds:
            return self._conditional(site.feeds[path[len("/feeds/"):]], "application/rss+xml")
        if path == "/sitemap.xml":
            return self._conditional(sitemap_xml(site), "application/xml")
        if path == "/sitemap-index.xml":  # lists the gzipped sitemap, and itself (a loop to survive)
            now = datetime.now(timezone.utc).strftime("%Y-%m-%d")
            body = ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                    f"<sitemap><loc>{site.base}/sitemap.xml.gz</loc><lastmod>{now}</lastmod></sitemap>"
                    f"<sitemap><loc>{site.base}/sitemap-index.xml</loc><lastmod>{now}</lastmod></sitemap>"
                    "</sitemapindex>").encode()
            return self._send(200, body, {"Content-Type": "application/xml"})
        if path == "/index.html":  # a news front page without a feed
            links = "".join(f'<li><a href="/news/{i}/japan-belgium-trade-story-{n}">Story {n}</a></li>'
                            for n, i in enumerate(site.sitemap_pages[:12]))
            nav = ('<a href="/">Home</a><a href="/tag/japan">Japan</a><a href="/login">Log in</a>'
                   '<a href="https://other.example/articles/x.html">elsewhere</a><a href="/files/report.pdf">PDF</a>')
            body = f"<html><body><nav>{nav}</nav><main><ul>{links}</ul></main></body></html>".encode()
            return self._send(200, body, {"Content-Type": "text/html; charset=utf-8"})
        if path == "/sitemap.xml.gz":
            return self._send(200, gzip.compress(sitemap_xml(site)), {"Content-Type": "application/gzip"})
        if path.startswith("/fault/"):
            return self._fault(path[len("/fault/"):])
        self._send(404, b"not found", {"Content-Type": "text/plain"})

    def _fault(self, name: str) -> None:  # noqa: C901
        page = next(iter(self.site.pages.values()), b"<html><body>x</body></html>")
        if name == "404":
            return self._send(404, b"gone", {"Content-Type": "text/html"})
        if name == "500":
            return self._send(500, b"boom", {"Content-Type": "text/html"})
        if name == "429-once":  # rate-limited once, then fine
            if self._count(name) == 1:
                return self._send(429, b"slow down", {"Retry-After": "1", "Content-Type": "text/plain"})
            return self._send(200, page, {"Content-Type": "text/html; charset=utf-8"})
        if name == "429-long":
            return self._send(429, b"slow down", {"Retry-After": "3600", "Content-Type": "text/plain"})
        if name == "503-date":  # Retry-After as an HTTP date, once
            if self._count(name) == 1:
                when = email.utils.format_datetime(datetime.fromtimestamp(time.time() + 1, timezone.utc), usegmt=True)
                return self._send(503, b"busy", {"Retry-After": when})
            return self._send(200, page, {"Content-Type": "text/html; charset=utf-8"})
        if name == "slow":  # headers only after a long pause: a read timeout
            time.sleep(float(self.site.counters.get("slow_s", 3)))
            return self._send(200, page, {"Content-Type": "text/html"})
        if name == "loop-a":
            return self._send(302, b"", {"Location": "/fault/loop-b"})
        if name == "loop-b":
            return self._send(302, b"", {"Location": "/fault/loop-a"})
        if name == "to-private":  # redirect to a private address that is not this source's host
            return self._send(302, b"", {"Location": "http://10.255.255.1/secret"})
        if name == "to-metadata":
            return self._send(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
        if name == "huge":  # 20 MB of HTML
            return self._send(200, b"<html><body>" + b"<p>lorem ipsum</p>" * 1_200_000, {"Content-Type": "text/html"})
        if name == "binary":  # a PDF that claims to be HTML
            return self._send(200, b"%PDF-1.7\n" + bytes(range(256)) * 40, {"Content-Type": "text/html"})
        if name == "pdf":
            return self._send(200, b"%PDF-1.7\n" + bytes(range(256)) * 40, {"Content-Type": "application/pdf"})
        if name == "latin1-lie":  # windows-1252 bytes served as utf-8
            body = ("<html><head><title>Café crème à Bruxelles</title></head><body><article>"
                    + "<p>Le café crème coûte très cher à Bruxelles, déclare le ministère. " * 20
                    + "</p></article></body></html>").encode("cp1252")
            return self._send(200, body, {"Content-Type": "text/html; charset=utf-8"})
        if name == "gzip-bomb":  # 60 KB on the wire, 60 MB inflated
            return self._send(200, _gzip_bomb(), {"Content-Type": "text/html", "Content-Encoding": "gzip"})
        if name == "private":
            return self._send(200, page, {"Content-Type": "text/html"})
        self._send(404, b"no such fault", {"Content-Type": "text/plain"})


_BOMB: list[bytes] = []


def _gzip_bomb() -> bytes:
    if not _BOMB:
        _BOMB.append(gzip.compress(b"<p>" + b"a" * 60_000_000, compresslevel=9))
    return _BOMB[0]


class _QuietServer(ThreadingHTTPServer):
    """A client that drops its keep-alive connection (the peers' clients do, at exit) is no error."""

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class CorpusServer:
    """Start/stop a threaded server on a free 127.0.0.1 port."""

    def __init__(self, site_factory):
        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.site: CorpusSite = site_factory(self.base)
        self.httpd.RequestHandlerClass = type("BoundHandler", (Handler,), {"site": self.site})
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> CorpusServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def ground_truth() -> dict[str, str]:
    data = json.loads((EXTRACTION / "ground-truth.json").read_text(encoding="utf-8"))
    return {k: v["articleBody"] for k, v in data.items()}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers started later, or never: a 'down' target)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict
    body: bytes

    @property
    def payload(self):
        return json.loads(self.body or b"null")


class _HookHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append(Post(self.path, dict(self.headers), body))
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


class WebhookReceiver:
    """A chat/webhook target on 127.0.0.1 (apprise's json:// and mmost:// reach it): keeps every
    POST in `received`; answers `status` (set it to 500 to play a failing receiver)."""

    def __init__(self, port: int = 0, status: int = 200):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _HookHandler)
        self.httpd.daemon_threads = True
        self.httpd.received, self.httpd.status = [], status
        self.port = self.httpd.server_address[1]

    @property
    def received(self) -> list[Post]:
        return self.httpd.received

    @property
    def status(self) -> int:
        return self.httpd.status

    @status.setter
    def status(self, value: int) -> None:
        self.httpd.status = value

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
