"""The fetcher against hostile encodings and DNS: real HTTP servers on 127.0.0.1.

- `Content-Encoding: gzip, gzip` / `deflate, deflate` bombs of a few KB that inflate to 2 GiB: httpx
  would inflate every layer before any cap saw a byte; the fetch is a recorded `bad_encoding` and
  the fetching process stays far below 1 GB (measured with getrusage in a child process).
- a one-layer gzip bomb stops at the byte cap while it inflates (`too_large`).
- DNS rebinding: the connection goes to the address the check passed, never to a second lookup.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import REPO
from newswatch.config.settings import Settings
from newswatch.fetch import ERROR_KINDS, open_fetcher
from newswatch.models import FetchRequest

MIB = 1 << 20
BOMB_MIB = 2048  # what each stacked bomb inflates to: 2 GiB
PEAK_RSS_LIMIT_KB = 1 << 20  # 1 GiB
PAGE = b"<html><body><p>" + b"A perfectly ordinary page. " * 200 + b"</p></body></html>"


def zeros_stream(mib: int, kind: str) -> bytes:
    """A valid gzip or zlib stream of `mib` MiB of zeros, built without compressing them all:
    after a full flush, every further MiB of zeros compresses to the same bytes."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31 if kind == "gzip" else 15)
    zero = b"\0" * MIB
    first = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    segment = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    if kind == "gzip":
        crc = 0
        for _ in range(mib):
            crc = zlib.crc32(zero, crc)
        trailer = crc.to_bytes(4, "little") + (mib * MIB % (1 << 32)).to_bytes(4, "little")
    else:  # adler32 of n zeros: a stays 1, b grows by 1 a byte
        trailer = (((mib * MIB) % 65521) << 16 | 1).to_bytes(4, "big")
    return first + segment * (mib - 1) + b"\x03\x00" + trailer  # \x03\x00: an empty final block


ROUTES: dict[str, tuple[bytes, dict[str, str]]] = {}


def build_routes() -> None:
    if ROUTES:
        return
    inner_gzip, inner_zlib = zeros_stream(BOMB_MIB, "gzip"), zeros_stream(BOMB_MIB, "deflate")
    html = {"Content-Type": "text/html"}
    ROUTES.update({
        "/gzip-gzip": (gzip.compress(inner_gzip, 9), {**html, "Content-Encoding": "gzip, gzip"}),
        "/gzip-twice-headers": (gzip.compress(inner_gzip, 9), {**html, "Content-Encoding": ["gzip", "gzip"]}),
        "/deflate-deflate": (zlib.compress(inner_zlib, 9), {**html, "Content-Encoding": "deflate, deflate"}),
        "/gzip-bomb": (inner_gzip, {**html, "Content-Encoding": "gzip"}),
        "/deflate-bomb": (inner_zlib, {**html, "Content-Encoding": "deflate"}),
        "/br": (PAGE, {**html, "Content-Encoding": "br"}),
        "/garbage-gzip": (b"\x1f\x8b\x08\x00" + b"not gzip at all" * 10, {**html, "Content-Encoding": "gzip"}),
        "/ok-gzip": (gzip.compress(PAGE), {**html, "Content-Encoding": "gzip"}),
        "/ok-deflate": (zlib.compress(PAGE), {**html, "Content-Encoding": "deflate"}),
        "/ok-raw-deflate": (zlib.compress(PAGE, wbits=-15), {**html, "Content-Encoding": "deflate"}),
        "/ok-identity": (PAGE, {**html, "Content-Encoding": "identity"}),
        "/ok": (PAGE, html),
    })


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        type(self).hits.append(self.path)
        if self.path == "/to-localhost":  # a hop to a name the test's resolver answers for
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.server.server_address[1]}/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, headers = ROUTES.get(self.path, (b"not found", {}))
        self.send_response(200 if self.path in ROUTES else 404)
        for name, value in headers.items():
            for v in (value if isinstance(value, list) else [value]):
                self.send_header(name, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading at its cap

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    build_routes()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


SETTINGS = dict(read_timeout_s=5, connect_timeout_s=2, total_timeout_s=30, retries=0, respect_robots_txt=False)


def fetch(url: str, resolver=None, allow: str | None = "127.0.0.1", **settings):
    async def go():
        async with open_fetcher(Settings(**{**SETTINGS, **settings}), resolver=resolver) as f:
            return await f.fetch(FetchRequest(url, "t", "article", allow))

    return asyncio.run(go())


CHILD = """
import asyncio, json, resource, sys
from newswatch.config.settings import Settings
from newswatch.fetch import open_fetcher
from newswatch.models import FetchRequest

async def go():
    async with open_fetcher(Settings(**json.loads(sys.argv[2]))) as f:
        return await f.fetch(FetchRequest(sys.argv[1], "t", "article", "127.0.0.1"))

res = asyncio.run(go())
print(json.dumps({"kind": res.error_kind, "error": res.error, "body": len(res.body),
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def fetch_in_child(url: str) -> dict:
    """Fetch in a fresh process: its peak RSS is the fetch's, not this test process's."""
    out = subprocess.run([sys.executable, "-c", CHILD, url, json.dumps(SETTINGS)], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_the_bombs_really_inflate_to_two_gib():
    """The fixtures are what they claim (checked a layer at a time, with a streaming count)."""
    build_routes()
    for path, inner_wbits in (("/gzip-gzip", 31), ("/deflate-deflate", 15)):
        body, _ = ROUTES[path]
        assert len(body) < 8_000, (path, len(body))
        inner = zlib.decompress(body, 31 if path.startswith("/gzip") else 15)
        z, n = zlib.decompressobj(inner_wbits), 0
        for i in range(0, len(inner), 64_000):
            n += len(z.decompress(inner[i:i + 64_000]))
        n += len(z.flush())
        assert z.eof and n == BOMB_MIB * MIB


@pytest.mark.parametrize("path", ["/gzip-gzip", "/gzip-twice-headers", "/deflate-deflate"])
def test_a_stacked_encoding_bomb_is_refused_and_memory_stays_bounded(server, path):
    got = fetch_in_child(server + path)
    assert got["kind"] == "bad_encoding" and "more than one layer" in got["error"], got
    assert got["body"] == 0
    assert got["maxrss_kb"] < PEAK_RSS_LIMIT_KB, got
    print(f"{path}: {len(ROUTES[path][0]):,} bytes on the wire, peak RSS {got['maxrss_kb'] / 1024:.0f} MiB")


@pytest.mark.parametrize("path", ["/gzip-bomb", "/deflate-bomb"])
def test_a_one_layer_bomb_stops_at_the_cap_while_it_inflates(server, path):
    got = fetch_in_child(server + path)
    assert got["kind"] == "too_large" and "once inflated" in got["error"], got
    assert got["maxrss_kb"] < PEAK_RSS_LIMIT_KB, got
    print(f"{path}: peak RSS {got['maxrss_kb'] / 1024:.0f} MiB")


def test_an_unknown_or_undecodable_encoding_is_a_recorded_failure(server):
    assert "bad_encoding" in ERROR_KINDS
    res = fetch(server + "/br")
    assert res.error_kind == "bad_encoding" and "'br'" in res.error and res.body == b""
    res = fetch(server + "/garbage-gzip")
    assert res.error_kind == "bad_encoding" and "undecodable gzip" in res.error


@pytest.mark.parametrize("path", ["/ok-gzip", "/ok-deflate", "/ok-raw-deflate", "/ok-identity", "/ok"])
def test_ordinary_encodings_are_decoded(server, path):
    res = fetch(server + path)
    assert res.ok, res.error
    assert res.body == PAGE


# --- DNS rebinding ----------------------------------------------------------------------------


PUBLIC = "93.184.216.34"  # a public address (nothing answers it from here: no network but loopback)


class Rebinding:
    """A DNS answer that changes: public for the first lookup, 127.0.0.1 for every later one."""

    def __init__(self, public: str = PUBLIC):
        self.public, self.calls = public, []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return [self.public] if len(self.calls) == 1 else ["127.0.0.1"]


def test_the_connection_goes_to_the_address_that_was_checked(server):
    """`localhost` passes the check as a public address; the system's resolver would then say
    127.0.0.1, where the trap listens. The connection must go to the checked address instead."""
    _Handler.hits.clear()
    port = server.rsplit(":", 1)[1]
    resolver = Rebinding()
    res = fetch(f"http://localhost:{port}/ok", resolver, allow=None, connect_timeout_s=1)
    assert _Handler.hits == []  # nothing reached 127.0.0.1
    assert resolver.calls == ["localhost"]  # one lookup: the one that was checked
    assert res.error_kind in ("connect", "timeout"), (res.error_kind, res.error)
    if res.error_kind == "connect":
        assert resolver.public in res.error  # it dialled the checked address


def test_a_redirect_hop_connects_to_its_own_checked_address(server):
    """The same for a hop: its check, not a later lookup, decides where it connects."""
    _Handler.hits.clear()
    resolver = Rebinding()
    res = fetch(server + "/to-localhost", resolver, connect_timeout_s=1)  # the source's own host: 127.0.0.1
    assert _Handler.hits == ["/to-localhost"]  # the hop to localhost/ok never reached 127.0.0.1
    assert resolver.calls == ["localhost"]
    assert res.error_kind in ("connect", "timeout"), (res.error_kind, res.error)


def test_allowed_private_hosts_and_literal_addresses_still_connect(server):
    _Handler.hits.clear()
    port = server.rsplit(":", 1)[1]

    async def resolver(host, port_):
        return {"localhost": ["127.0.0.1"]}.get(host, [host])

    res = fetch(f"http://localhost:{port}/ok", resolver, allow="localhost")
    assert res.ok and _Handler.hits == ["/ok"]  # an allowed private host is still reached by name
    _Handler.hits.clear()
    res = fetch(f"http://127.0.0.1:{port}/ok", resolver)
    assert res.ok and _Handler.hits == ["/ok"]  # a literal address is its own check
