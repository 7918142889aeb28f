"""A hostile HTTP server on 127.0.0.1: the corpus site of servers.py plus `/hostile/<name>` routes.

Everything a bad or malicious source can do at the HTTP and document level, one route each:

transport   slowloris (headers, then silence) · trickle (1 byte / 0.1 s) · reset (RST instead of an
            answer) · reset-mid-body · big-50mb (declared) · big-50mb-unsized (close-delimited)
            · gzip bomb (/fault/gzip-bomb in servers.py: 60 kB -> 60 MB)
lies        html-as-pdf (HTML with Content-Type application/pdf) · pdf (/fault/binary: a PDF
            claiming text/html) · charset-lie (UTF-8 labelled Shift_JIS) · invalid-utf8
redirects   redirect-self · chain/<n> (endless) · to-<target> for 169.254.169.254, 10.x, 127.0.0.2,
            localhost, ::1, ::ffff:127.0.0.1, 2130706433 (decimal 127.0.0.1), 0.0.0.0,
            224.0.0.1 and file:///etc/passwd; each private target is a `/hostile/canary/...` path
            on this very server, so a request that got through would show in the log
rate limits 503-retry-after (always 503, Retry-After: 1) · /fault/429-once, /fault/429-long
documents   feed-100k.rss (100,000 items) · feed-laughs.rss / sitemap-laughs.xml / index-laughs.html
            (billion laughs) · sitemap-self.xml (an index listing itself and a child index that
            lists it back) · sitemap-bomb.xml.gz (200 MB of zeros, gzipped, as a file)
            · sitemap-700k.xml.gz (700,000 URLs, 45 MB inflated) · nested-10mb.html (10 MB of
            nested tags, as an article and as an index page) · feed-invalid-utf8.rss
            · feed-ctype-lie.rss (RSS served as text/html; charset=shift_jis) · links.rss (every
            hostile article URL above, plus direct links to private and non-http addresses)

Hanging routes end when the server stops, or after HANG_S at most. Used by tests/ only.
"""

from __future__ import annotations

import functools
import gzip
import socket
import struct
import threading
import time
import zlib
from html import escape
from urllib.parse import urlsplit

from servers import CorpusServer, CorpusSite, Handler, build_site

HANG_S = 30.0  # the longest any route keeps a connection open; a test's timeouts are far shorter
BIG_BYTES = 50_000_000
CHUNK = 64 * 1024
# redirect targets that must never be requested: name -> URL template ({port}: this server's)
PRIVATE_TARGETS = {
    "to-metadata": "http://169.254.169.254/latest/meta-data/",
    "to-rfc1918": "http://10.0.0.1/admin",
    "to-loopback2": "http://127.0.0.2:{port}/hostile/canary/loopback2",
    "to-localhost": "http://localhost:{port}/hostile/canary/localhost",
    "to-ipv6-loopback": "http://[::1]:{port}/hostile/canary/ipv6",
    "to-ipv4-mapped": "http://[::ffff:127.0.0.1]:{port}/hostile/canary/mapped",
    "to-decimal": "http://2130706433:{port}/hostile/canary/decimal",
    "to-unspecified": "http://0.0.0.0:{port}/hostile/canary/zero",
    "to-multicast": "http://224.0.0.1/hostile/canary/multicast",
}
NON_HTTP_TARGETS = {"to-file": "file:///etc/passwd"}
# article links a feed may carry that must never be requested (all dropped or refused)
DIRECT_LINKS = (
    "http://169.254.169.254/latest/meta-data/iam/",
    "http://10.1.2.3/internal/report-2026-01-01.html",
    "http://[::1]:{port}/hostile/canary/direct-ipv6",
    "http://localhost:{port}/hostile/canary/direct-localhost",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "ftp://127.0.0.1/hostile/canary/ftp",
    "data:text/html,<script>alert(1)</script>",
)
# article routes that time out, linked from timeout-links.rss: served by a server of their own in
# tests, as the fetcher's circuit breaker takes a timed-out host:port out of the run
TIMEOUT_ARTICLE_FAULTS = {
    "/hostile/slowloris": "timeout",
    "/hostile/trickle": "timeout",
}
# article routes linked from links.rss, with the error_kind the pipeline must record (None: stored)
ARTICLE_FAULTS = {
    "/hostile/reset": "network",
    "/hostile/reset-mid-body": "network",
    "/hostile/big-50mb": "too_large",
    "/hostile/big-50mb-unsized": "too_large",
    "/fault/gzip-bomb": "too_large",
    "/hostile/html-as-pdf": "content_type",
    "/fault/binary": "binary",
    "/fault/pdf": "binary",
    "/hostile/charset-lie": None,
    "/hostile/invalid-utf8": None,
    "/hostile/nested-10mb.html": "extract",
    "/hostile/redirect-self": "redirect_loop",
    "/hostile/chain/0": "too_many_redirects",
    "/fault/loop-a": "redirect_loop",
    "/hostile/503-retry-after": "http_status",
    "/fault/429-once": None,
    "/fault/429-long": "rate_limited",
    **{f"/hostile/{name}": "blocked_address" for name in PRIVATE_TARGETS},
    **{f"/hostile/{name}": "invalid_url" for name in NON_HTTP_TARGETS},
}
LAUGHS_DTD = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                         for i in range(1, 10)) + b"]>")
TEXT = ("<p>Le ministère de l'énergie a présenté mardi un plan pour les éoliennes en mer du Nord, "
        "avec trois nouveaux parcs et un réseau commun avec les Pays-Bas et le Danemark.</p>")


def rss(items: list[tuple[str, str]], title: str = "hostile") -> bytes:
    body = "".join(f"<item><title>{escape(t)}</title><link>{escape(u)}</link></item>" for t, u in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>http://example.org/</link>{body}</channel></rss>").encode()


def article_html(title: str, paragraphs: int = 12) -> str:
    return f"<html><head><title>{escape(title)}</title></head><body><article><h1>{escape(title)}</h1>" \
           f"{TEXT * paragraphs}</article></body></html>"


@functools.lru_cache(maxsize=None)
def feed_100k(base: str) -> bytes:
    items = "".join(f"<item><title>n{i}</title><link>{base}/hostile/none/{i}</link></item>" for i in range(100_000))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>{items}</channel></rss>'.encode()


@functools.lru_cache(maxsize=None)
def sitemap_700k(base: str) -> bytes:
    """700,000 URLs: ~45 MB inflated, just under the 50 MB a sitemap may have; 1.7 MB gzipped."""
    urls = "".join(f"<url><loc>{base}/hostile/none/s{i}</loc></url>" for i in range(700_000))
    doc = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    return gzip.compress(doc.encode(), compresslevel=6)


@functools.lru_cache(maxsize=None)
def zeros_bomb(megabytes: int = 200) -> bytes:
    """gzip of `megabytes` MB of zeros, built in 1 MB steps (never 200 MB in memory)."""
    z = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b"\0" * 1_000_000
    return b"".join([*(z.compress(block) for _ in range(megabytes)), z.flush()])


@functools.lru_cache(maxsize=None)
def stacked_bomb() -> bytes:
    """60 MB of text gzipped twice (~2 kB): a body sent with Content-Encoding: gzip, gzip."""
    return gzip.compress(gzip.compress(b"<rss>" + b"a" * 60_000_000, compresslevel=9), compresslevel=9)


@functools.lru_cache(maxsize=None)
def nested_10mb() -> bytes:
    head = b"<html><head><title>Nested</title></head><body>"
    body = b"<div><span>" * 910_000 + b"<p>deep</p>"  # 10 MB of open tags, never closed
    return head + body + b"</body></html>"


class FaultHandler(Handler):
    stop: threading.Event  # set on the subclass made per server

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path.startswith("/hostile/"):
            return self._hostile(path[len("/hostile/"):])
        return super().do_GET()

    def _log(self, status: int) -> None:
        with self.site.lock:
            self.site.log.append(("GET", self.path, status))

    def _head(self, status: int, headers: dict) -> None:
        self._log(status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

    def _reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0) instead of a proper close."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _stream(self, total: int, chunk: bytes, pause_s: float = 0.0) -> None:
        deadline = time.monotonic() + HANG_S
        sent = 0
        try:
            while sent < total and not self.stop.is_set() and time.monotonic() < deadline:
                self.wfile.write(chunk)
                sent += len(chunk)
                if pause_s:
                    self.wfile.flush()
                    self.stop.wait(pause_s)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _redirect(self, location: str) -> None:
        self._log(302)
        self.send_response(302)
        self.send_header("Content-Length", "0")
        # as UTF-8 bytes: send_header() would refuse a character outside latin-1 (℀)
        self._headers_buffer.append(f"Location: {location}\r\n".encode("utf-8"))
        self.end_headers()
        self.wfile.flush()

    def _hostile(self, name: str) -> None:  # noqa: C901, PLR0911, PLR0912 - one switch over routes
        site, port = self.site, self.server.server_address[1]
        html = {"Content-Type": "text/html; charset=utf-8"}
        if name == "slowloris":
            self._head(200, {**html, "Content-Length": "100000"})
            self.stop.wait(HANG_S)
            self.close_connection = True
            return None
        if name == "slow-headers":  # the status line, then one header byte every 0.2 s: never a complete head
            self._log(200)
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                self.wfile.flush()
                self._stream(100_000, b"x", pause_s=0.2)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return None
        if name.startswith("slow-page/"):  # a good page after `slow_page_s` (site.counters) seconds
            self.stop.wait(float(site.counters.get("slow_page_s", 1)))
            return self._send(200, article_html(f"Slow page {name[10:]}").encode(), html)
        if name == "bad-port":  # a redirect whose port is out of range
            return self._redirect("http://otherhost:99999/")
        if name == "bad-host":  # NFKC turns ℀ into "a/c": a host that is no host
            return self._redirect("http://a\u2100c.example/story")
        if name == "garbage":  # random bytes, labelled as a feed
            import random

            return self._send(200, random.Random(7).randbytes(200_000), {"Content-Type": "application/rss+xml"})
        if name == "trickle":
            self._head(200, {**html, "Connection": "close"})
            return self._stream(100_000, b"<", pause_s=0.1)
        if name == "reset":
            self._log(0)
            return self._reset()
        if name == "reset-mid-body":
            self._head(200, {**html, "Content-Length": "200000"})
            self.wfile.write(b"<html><body>" + b"x" * 10_000)
            self.wfile.flush()
            return self._reset()
        if name == "big-50mb":
            self._head(200, {**html, "Content-Length": str(BIG_BYTES)})
            return self._stream(BIG_BYTES, b"<p>" + b"a" * (CHUNK - 3))
        if name == "big-50mb-unsized":
            self._head(200, {**html, "Connection": "close"})
            return self._stream(BIG_BYTES, b"<p>" + b"a" * (CHUNK - 3))
        if name == "html-as-pdf":
            return self._send(200, article_html("An HTML page that says it is a PDF").encode(),
                              {"Content-Type": "application/pdf"})
        if name == "charset-lie":  # UTF-8 bytes, labelled Shift_JIS
            return self._send(200, article_html("Éoliennes en mer : le plan du ministère").encode(),
                              {"Content-Type": "text/html; charset=shift_jis"})
        if name == "invalid-utf8":  # labelled UTF-8; broken sequences scattered through the text
            body = article_html("Invalid UTF-8: café crème").encode().replace(b"mer", b"m\xff\xfer\xc0\xaf\x80")
            return self._send(200, body, html)
        if name == "nested-10mb.html":
            return self._send(200, nested_10mb(), html)
        if name == "redirect-self":
            return self._redirect(f"/hostile/{name}")
        if name.startswith("chain/"):
            return self._redirect(f"/hostile/chain/{int(name.split('/')[1]) + 1}")
        if name in PRIVATE_TARGETS:
            return self._redirect(PRIVATE_TARGETS[name].format(port=port))
        if name in NON_HTTP_TARGETS:
            return self._redirect(NON_HTTP_TARGETS[name])
        if name == "to-name":  # a host name; tests resolve it to a private address
            return self._redirect(f"http://private-name.example:{port}/hostile/canary/name")
        if name == "503-retry-after":
            return self._send(503, b"busy", {"Retry-After": "1", "Content-Type": "text/plain"})
        if name.startswith("page/"):  # a plain good article, distinct per name
            return self._send(200, article_html(f"Good page {name[5:]}").encode(), html)
        return self._documents(name, site, port)

    def _documents(self, name: str, site: CorpusSite, port: int) -> None:  # noqa: C901
        base = site.base
        xml = {"Content-Type": "application/xml"}
        feed = {"Content-Type": "application/rss+xml"}
        if name == "links.rss":
            items = [(path, f"{base}{path}") for path in ARTICLE_FAULTS]
            items += [("direct", link.format(port=port)) for link in DIRECT_LINKS]
            return self._send(200, rss(items), feed)
        if name == "timeout-links.rss":
            return self._send(200, rss([(path, f"{base}{path}") for path in TIMEOUT_ARTICLE_FAULTS]), feed)
        if name == "healthy.rss":  # four good articles
            return self._send(200, rss([(f"Healthy {i}", f"{base}/hostile/page/healthy-{i}") for i in range(4)]), feed)
        if name == "slow-links.rss":  # 40 article links whose server trickles its headers
            return self._send(200, rss([(f"slow {i}", f"{base}/hostile/slow-headers?n={i}") for i in range(40)]), feed)
        if name == "bad-redirects.rss":  # article links that redirect to malformed URLs
            return self._send(200, rss([("port", f"{base}/hostile/bad-port"), ("host", f"{base}/hostile/bad-host")]),
                              feed)
        if name == "gzip-stacked":  # Content-Encoding: gzip, gzip; 60 MB once both layers are undone
            return self._send(200, stacked_bomb(), {"Content-Type": "application/rss+xml",
                                                    "Content-Encoding": "gzip, gzip"})
        if name == "feed-100k.rss":
            return self._send(200, feed_100k(base), feed)
        if name == "feed-laughs.rss":
            body = LAUGHS_DTD + (f'<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title>'
                                 f"<link>{base}/hostile/page/laughs-feed</link></item></channel></rss>").encode()
            return self._send(200, body, feed)
        if name == "sitemap-laughs.xml":
            body = LAUGHS_DTD + ('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                 f"<url><loc>{base}/hostile/page/laughs-sitemap</loc></url>"
                                 f"<url><loc>{base}/hostile/&lol9;</loc></url></urlset>").encode()
            return self._send(200, body, xml)
        if name == "index-laughs.html":
            body = LAUGHS_DTD + (f"<html><body><h1>&lol9;</h1><a href='/news/1/{_slug('laughs')}'>a</a>"
                                 "</body></html>").encode()
            return self._send(200, body, {"Content-Type": "text/html"})
        sm = f"{base}/hostile/sitemap-"
        if name == "sitemap-self.xml":  # lists itself and a child index that lists it back
            return self._send(200, _sitemap_index([f"{sm}self.xml", f"{sm}child.xml"]), xml)
        if name == "sitemap-child.xml":
            return self._send(200, _sitemap_index([f"{sm}self.xml", f"{sm}urls.xml"]), xml)
        if name == "sitemap-urls.xml":
            urls = "".join(f"<url><loc>{base}/hostile/page/sitemap-{i}</loc></url>" for i in range(2))
            body = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
            return self._send(200, body.encode(), xml)
        if name == "sitemap-bomb.xml.gz":
            return self._send(200, zeros_bomb(), {"Content-Type": "application/x-gzip"})
        if name == "sitemap-700k.xml.gz":
            return self._send(200, sitemap_700k(base), {"Content-Type": "application/x-gzip"})
        if name == "feed-invalid-utf8.rss":
            body = rss([("Caf\xe9 cr\xe8me", f"{base}/hostile/page/invalid-utf8-feed")])
            body = body.replace(b"hostile<", b"ho\xff\xc0st<").replace("Caf\xe9".encode(), b"Caf\xe9\xff")
            return self._send(200, body, feed)
        if name == "feed-ctype-lie.rss":
            return self._send(200, rss([("lie", f"{base}/hostile/page/ctype-lie-feed")]),
                              {"Content-Type": "text/html; charset=shift_jis"})
        return self._send(404, b"no such hostile route", {"Content-Type": "text/plain"})


def _slug(word: str) -> str:
    return f"{word}-offshore-wind-plan-story"


def _sitemap_index(locs: list[str]) -> bytes:
    items = "".join(f"<sitemap><loc>{escape(u)}</loc></sitemap>" for u in locs)
    return f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'.encode()


def run_measured(argv: list[str], timeout_s: float, env: dict | None = None) -> dict:
    """Run a command to completion in its own session; report its exit code, output and the peak
    RSS of its largest process (ru_maxrss over all descendants, KiB on Linux).

    A wrapper process runs it, so RUSAGE_CHILDREN counts this command alone. On timeout the
    whole session (the command, its workers, Prefect's server) is killed by its group id.
    """
    import json
    import os
    import signal
    import subprocess
    import sys

    wrapper = ("import json, resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, "
               "text=True); print(json.dumps({'rc': p.returncode, 'out': p.stdout, 'err': p.stderr, "
               "'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    proc = subprocess.Popen([sys.executable, "-c", wrapper, *argv], stdout=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return json.loads(out)


class FaultServer(CorpusServer):
    """The corpus site (good feeds and pages) and the hostile routes, on a free 127.0.0.1 port.
    `FaultServer(bare_site)`: the hostile routes only (no corpus pages to load)."""

    def __init__(self, site_factory=build_site):
        super().__init__(site_factory)
        self.httpd.handle_error = lambda request, address: None  # resets and broken pipes are the point here
        self.httpd.socket.listen(256)  # the default backlog of 5 drops SYNs under 64 connections: connect timeouts
        self.stop = threading.Event()
        self.httpd.RequestHandlerClass = type("BoundFaultHandler", (FaultHandler,), {"site": self.site, "stop": self.stop})
        self.port = self.httpd.server_address[1]
        assert urlsplit(self.base).hostname == "127.0.0.1"

    def canary_hits(self) -> list[tuple[str, str, int]]:
        """Requests that reached a path only a refused redirect or link points at."""
        return self.site.requests_to("/hostile/canary/")

    def __exit__(self, *exc) -> None:
        self.stop.set()  # ends slowloris and trickle handlers at once
        super().__exit__(*exc)


def bare_site(base: str):
    from servers import CorpusSite

    return CorpusSite(base=base)


# --- issue 15's scenario: one healthy feed and hostile sources, each on a server of its own -------
# (the fetcher's circuit breaker is per host:port: a source that times out must not take the
# healthy one down with it; on the real web they are different hosts)
#
# name -> (kind, path, extra config, error_kind of its poll, words its recorded reason contains)
HOSTILE_SOURCES = {
    "slowheaders": ("rss", "/hostile/slow-links.rss", {}, None, None),  # its 40 articles trickle their headers
    "trickle": ("rss", "/hostile/trickle", {}, "timeout", "no complete response"),
    "big": ("rss", "/hostile/big-50mb", {}, "too_large", "cap"),
    "gzipbomb": ("rss", "/fault/gzip-bomb", {}, "too_large", "cap"),
    "gzipstacked": ("rss", "/hostile/gzip-stacked", {}, "bad_encoding", "Content-Encoding"),  # refused (issue 14)
    "entitybomb": ("rss", "/hostile/feed-laughs.rss", {}, "malformed", None),
    "entitysitemap": ("sitemap", "/hostile/sitemap-laughs.xml", {}, "malformed", None),
    "ratelimited": ("rss", "/fault/429-long", {}, "rate_limited", "Retry-After"),
    "servererror": ("rss", "/fault/500", {}, "http_status", "500"),
    "pdf": ("rss", "/fault/pdf", {}, "binary", "PDF"),
    "garbage": ("rss", "/hostile/garbage", {}, "binary", None),
    "feed100k": ("rss", "/hostile/feed-100k.rss", {"max_items": 3}, "malformed", "1,000 entries"),
    "redirectloop": ("rss", "/fault/loop-a", {}, "redirect_loop", "redirect loop"),
    "sitemapself": ("sitemap", "/hostile/sitemap-self.xml", {}, None, None),
    "toprivate": ("rss", "/hostile/to-metadata", {}, "blocked_address", "169.254.169.254"),
    "badredirects": ("rss", "/hostile/bad-redirects.rss", {}, None, None),  # its articles' redirects are malformed
}
HEALTHY = ("healthy", "rss", "/hostile/healthy.rss")
# sources whose articles fail: source -> (article paths, error_kind of each)
HOSTILE_ARTICLES = {
    "slowheaders": ("/hostile/slow-headers", "timeout"),
    "badredirects": (("/hostile/bad-port", "/hostile/bad-host"), "invalid_url"),
    "feed100k": ("/hostile/none/", "http_status"),
}
HOSTILE_SALVAGED = ("entitybomb", "entitysitemap", "sitemapself")  # sources whose real entries are stored anyway


class HostileScenario:
    """Start one FaultServer per source (the healthy one first); `sources_yaml()` for config."""

    def __init__(self, sources: dict = HOSTILE_SOURCES):
        import contextlib

        self._stack = contextlib.ExitStack()
        self.sources = sources
        self.servers: dict[str, FaultServer] = {}

    def __enter__(self) -> HostileScenario:
        for name in (HEALTHY[0], *self.sources):
            self.servers[name] = self._stack.enter_context(FaultServer(bare_site))
        # the big documents are built now, not inside a request the client is timing
        feed_100k(self.servers["feed100k"].base) if "feed100k" in self.servers else None
        stacked_bomb(), zeros_bomb()
        from servers import _gzip_bomb

        _gzip_bomb()
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def sources_yaml(self) -> str:
        from conftest import local_source

        # the slow-headers source first: its 40 links are the first article requests of the run
        names = sorted(self.servers, key=lambda n: n != "slowheaders")
        out = "sources:\n"
        for name in names:
            kind, path, extra = (HEALTHY[1], HEALTHY[2], {}) if name == HEALTHY[0] else self.sources[name][:3]
            out += local_source(name, kind, self.servers[name].base + path, **extra)
        return out

    def canary_hits(self) -> list:
        return [hit for srv in self.servers.values() for hit in srv.canary_hits()]
