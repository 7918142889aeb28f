"""HTTP fetching: the only module that talks to the network.

One shared `httpx.Client` per run, driven from asyncio on a pool of I/O threads, with a global
and a per-host concurrency limit. Each
`fetch()` follows redirects itself (bounded, loop-checked), checks every hop's address after DNS
resolution (no private/loopback/link-local/multicast targets unless the source allows its own
host), honours robots.txt, retries transient failures with back-off and Retry-After, streams the
body under a byte cap and a total deadline, and never raises: every outcome is a `FetchResult`
with `error_kind`/`error` set on failure, ready to be recorded.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import random
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from newswatch.config.settings import Settings
from newswatch.models import FetchRequest, FetchResult
from newswatch.urls import InvalidURL, canonicalize_url, host_of, is_public_address

# error_kind values recorded in fetches.error_kind
ERROR_KINDS = (
    "blocked_address", "robots", "invalid_url", "timeout", "connect", "network", "http_status",
    "rate_limited", "redirect_loop", "too_many_redirects", "too_large", "content_type", "binary",
)
TRANSIENT_STATUS = frozenset({500, 502, 504, 408})
RETRY_AFTER_STATUS = frozenset({429, 503})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
ARTICLE_TYPES = ("text/html", "application/xhtml+xml")
ROBOTS_MAX_BYTES = 512_000
REDIRECT_BODY_MAX_BYTES = 64_000  # a redirect's or 304's body is a courtesy page at most  # robots.txt files are small; Google reads only the first 500 KiB
BINARY_MAGIC = (b"%PDF", b"PK\x03\x04", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x7fELF", b"ID3")


class FetchError(Exception):
    """A failure with its recorded kind; raised inside this module, returned as a FetchResult."""

    def __init__(self, kind: str, message: str, status_code: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.status_code = status_code


class Transient(FetchError):
    """Worth another attempt (after `delay_s` when the server said so)."""

    def __init__(self, kind: str, message: str, status_code: int | None = None, delay_s: float | None = None):
        super().__init__(kind, message, status_code)
        self.delay_s = delay_s


@dataclass(frozen=True, slots=True)
class _Response:
    url: str
    status_code: int
    headers: httpx.Headers
    body: bytes


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def sniff_binary(head: bytes) -> str | None:
    """Name what a body really is when it is not text (whatever its Content-Type says)."""
    for magic in BINARY_MAGIC:
        if head.startswith(magic):
            return {b"%PDF": "PDF"}.get(magic, "binary file")
    if b"\x00" in head[:2048] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary data (NUL bytes)"
    return None


class Fetcher:
    """Holds the shared client, limits and robots cache for one run. Use `open_fetcher()`."""

    def __init__(self, settings: Settings, client: httpx.Client, resolver=None, io: ThreadPoolExecutor | None = None):
        self.settings = settings
        self.client = client
        self._io = io  # the threads blocking requests run on (None: asyncio's default executor)
        self._global = asyncio.Semaphore(settings.max_connections)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._robots: dict[str, asyncio.Future] = {}
        self._resolver = resolver or _resolve
        self.robots_results: list[FetchResult] = []  # robots.txt fetches, to be recorded too

    def _host_sem(self, host: str) -> asyncio.Semaphore:
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.settings.max_per_host)
        return self._hosts[host]

    async def fetch_many(self, requests: Iterable[FetchRequest], max_bytes: int | None = None) -> list[FetchResult]:
        return list(await asyncio.gather(*(self.fetch(r, max_bytes) for r in requests)))

    async def fetch(self, req: FetchRequest, max_bytes: int | None = None) -> FetchResult:
        """Fetch one URL; never raises (except cancellation)."""
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        attempts = 0
        redirects: list[str] = []
        fail: FetchError | None = None
        resp: _Response | None = None
        cap = max_bytes or self.settings.max_response_bytes
        try:
            url = canonicalize_url(req.url) if req.purpose == "article" else req.url
            await self._check_address(url, req)  # before robots.txt: a refused host gets no request at all
            if req.purpose != "robots" and self.settings.respect_robots_txt:
                await self._check_robots(url, req)
            while True:
                attempts += 1
                try:
                    resp, redirects = await self._follow(url, req, cap)
                    break
                except Transient as exc:
                    err = exc
                if attempts > self.settings.retries:
                    raise err
                await asyncio.sleep(self._delay(err, attempts))
        except FetchError as exc:
            fail = exc
        except InvalidURL as exc:
            fail = FetchError("invalid_url", str(exc))
        elapsed = (time.perf_counter() - t0) * 1000
        if fail is not None:
            return FetchResult(
                fetch_id=uuid.uuid4().hex, request=req, final_url=redirects[-1] if redirects else req.url,
                status_code=fail.status_code, started_at=started, elapsed_ms=elapsed, attempts=attempts,
                error_kind=fail.kind, error=str(fail), redirects=tuple(redirects),
            )
        assert resp is not None
        ctype, charset = _content_type(resp.headers.get("content-type"))
        result = FetchResult(
            fetch_id=uuid.uuid4().hex, request=req, final_url=resp.url, status_code=resp.status_code,
            started_at=started, elapsed_ms=elapsed, attempts=attempts, body=resp.body,
            content_type=ctype, charset=charset, etag=resp.headers.get("etag"),
            last_modified=resp.headers.get("last-modified"), redirects=tuple(redirects),
        )
        return _check_content(result)

    def _delay(self, err: FetchError, attempt: int) -> float:
        if isinstance(err, Transient) and err.delay_s is not None:
            return err.delay_s
        base = self.settings.backoff_s * (2 ** (attempt - 1))
        return base + random.uniform(0, base / 2)  # jitter: don't retry in lock-step

    async def _follow(self, url: str, req: FetchRequest, cap: int) -> tuple[_Response, list[str]]:
        seen = {url}
        hops: list[str] = []
        while True:
            resp = await self._get_once(url, req, cap)
            if resp.status_code not in REDIRECT_STATUS or "location" not in resp.headers:
                return resp, hops
            nxt = urljoin(url, resp.headers["location"])
            if urlsplit(nxt).scheme not in ("http", "https"):
                raise FetchError("invalid_url", f"redirect to a non-http URL refused: {nxt[:200]}", resp.status_code)
            if nxt in seen:
                raise FetchError("redirect_loop", f"redirect loop: {' -> '.join([*hops, nxt])[:500]}", resp.status_code)
            if len(hops) >= self.settings.max_redirects:
                raise FetchError(
                    "too_many_redirects", f"more than {self.settings.max_redirects} redirects", resp.status_code
                )
            hops.append(nxt)
            seen.add(nxt)
            await self._check_address(nxt, req)  # every hop, after DNS: a redirect may point inside
            url = nxt

    async def _get_once(self, url: str, req: FetchRequest, cap: int) -> _Response:
        """One GET of a URL whose address was checked (by `fetch` or, for a redirect, `_follow`).

        The request runs on the run's I/O threads with httpx's blocking client: half the CPU of
        its asyncio client per request (anyio's cancel scopes around every read; measured in
        docs/performance.md), and the CPU is what a run is short of. The deadline is kept twice:
        here (the coroutine returns on time) and in the thread (it stops reading at the next chunk).
        """
        host = host_of(url)
        headers = {"User-Agent": self.settings.user_agent}
        if req.etag:
            headers["If-None-Match"] = req.etag
        if req.last_modified:
            headers["If-Modified-Since"] = req.last_modified
        async with self._global, self._host_sem(host):
            # the deadline starts once a connection slot is ours, and covers a trickled body
            total = self.settings.total_timeout_s
            stop = threading.Event()
            call = functools.partial(self._get_blocking, url, host, headers, cap, time.monotonic() + total, stop)
            try:
                async with asyncio.timeout(total):
                    return await asyncio.get_running_loop().run_in_executor(self._io, call)
            except TimeoutError as exc:
                raise Transient("timeout", f"no complete response within {total:g} s") from exc
            finally:
                stop.set()  # a thread still reading (timeout, cancellation) gives up at its next chunk

    def _get_blocking(self, url: str, host: str, headers: dict, cap: int, deadline: float,
                      stop: threading.Event) -> _Response:
        try:
            with self.client.stream("GET", url, headers=headers) as r:
                status = r.status_code
                if status in RETRY_AFTER_STATUS:
                    self._raise_retry_after(r)
                if status in TRANSIENT_STATUS:
                    raise Transient("http_status", f"HTTP {status} {r.reason_phrase}", status)
                if status >= 400:
                    raise FetchError("http_status", f"HTTP {status} {r.reason_phrase}", status)
                if status in REDIRECT_STATUS or status == 304:
                    # drain the (empty or tiny) body so the connection goes back to the pool:
                    # an unread response closes it, and 200 no-change polls became 200 TCP handshakes
                    _read_capped(r, REDIRECT_BODY_MAX_BYTES, deadline, stop, self.settings.total_timeout_s)
                    return _Response(str(r.url), status, r.headers, b"")
                body = _read_capped(r, cap, deadline, stop, self.settings.total_timeout_s)
                return _Response(str(r.url), status, r.headers, body)
        except httpx.TimeoutException as exc:
            raise Transient("timeout", f"{type(exc).__name__}: the server did not answer in time") from exc
        except httpx.ConnectError as exc:
            raise Transient("connect", f"cannot connect to {host}: {exc}") from exc
        except httpx.DecodingError as exc:
            raise FetchError("network", f"undecodable response: {exc}") from exc
        except (httpx.TransportError, httpx.StreamError) as exc:
            # a TCP reset gives a ReadError with an empty message: say what it means
            reason = str(exc) or "connection reset or closed by the server"
            raise Transient("network", f"{type(exc).__name__}: {reason}") from exc

    def _raise_retry_after(self, r: httpx.Response) -> None:
        wait = parse_retry_after(r.headers.get("retry-after"))
        msg = f"HTTP {r.status_code} {r.reason_phrase}" + (f", Retry-After {wait:g} s" if wait is not None else "")
        if wait is not None and wait > self.settings.max_retry_after_s:
            raise FetchError(
                "rate_limited", f"{msg} exceeds the {self.settings.max_retry_after_s:g} s cap; left for the next run",
                r.status_code,
            )
        kind = "rate_limited" if r.status_code == 429 else "http_status"
        raise Transient(kind, msg, r.status_code, delay_s=wait)

    async def _check_address(self, url: str, req: FetchRequest) -> None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if req.allow_private_host and host == req.allow_private_host.lower():
            return  # the source itself is on a private host, and says so in its config
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await self._resolver(host, port)
        except OSError as exc:
            raise Transient("connect", f"cannot resolve {host}: {exc}") from exc
        bad = [a for a in addresses if not is_public_address(a)]
        if bad or not addresses:
            raise FetchError(
                "blocked_address",
                f"{host} resolves to non-public address {bad[0] if bad else '(none)'}; refused "
                "(private, loopback, link-local and multicast targets need allow_private_addresses "
                "on the source, and then only its own host)",
            )

    async def _check_robots(self, url: str, req: FetchRequest) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        fut = self._robots.get(origin)
        if fut is None:
            fut = asyncio.ensure_future(self._load_robots(origin, req))
            self._robots[origin] = fut
        parser = await fut
        if parser is not None and not parser.can_fetch(self.settings.user_agent, url):
            raise FetchError("robots", f"disallowed by {origin}/robots.txt")

    async def _load_robots(self, origin: str, req: FetchRequest) -> RobotFileParser | None:
        rreq = FetchRequest(origin + "/robots.txt", req.source, "robots", req.allow_private_host)
        res = await self.fetch(rreq, max_bytes=ROBOTS_MAX_BYTES)
        self.robots_results.append(res)
        parser = RobotFileParser()
        if res.ok:
            parser.parse(res.body.decode("utf-8", "replace").splitlines())
            return parser
        if res.status_code is not None and 400 <= res.status_code < 500:
            return None  # RFC 9309: an unavailable (4xx) robots.txt allows everything
        parser.disallow_all = True  # RFC 9309: unreachable (5xx, network) means disallow for now
        return parser


async def _resolve(host: str, port: int) -> list[str]:
    try:
        return [host] if _is_literal(host) else await _getaddrinfo(host, port)
    except socket.gaierror as exc:
        raise OSError(exc.strerror or str(exc)) from exc


def _is_literal(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.strip("[]"))
    except OSError:
        return False
    return True


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def _read_capped(r: httpx.Response, cap: int, deadline: float, stop: threading.Event, total_s: float) -> bytes:
    declared = r.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise FetchError("too_large", f"Content-Length {int(declared):,} bytes exceeds the {cap:,}-byte cap", r.status_code)
    chunks: list[bytes] = []
    size = 0
    for chunk in r.iter_bytes():  # decoded: a gzip bomb is counted as it inflates
        size += len(chunk)
        if size > cap:
            raise FetchError("too_large", f"body exceeds the {cap:,}-byte cap", r.status_code)
        if stop.is_set() or time.monotonic() > deadline:  # a trickled body: each read is quick, the whole is not
            raise Transient("timeout", f"no complete response within {total_s:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


def _content_type(header: str | None) -> tuple[str | None, str | None]:
    if not header:
        return None, None
    parts = [p.strip() for p in header.split(";")]
    charset = None
    for p in parts[1:]:
        if p.lower().startswith("charset="):
            charset = p.split("=", 1)[1].strip("\"' ").lower() or None
    return parts[0].lower() or None, charset


def _check_content(res: FetchResult) -> FetchResult:
    """Article pages must be HTML; nothing may be binary in disguise."""
    if not res.ok or res.not_modified:
        return res
    what = sniff_binary(res.body[:4096])
    if what and not (res.request.purpose == "sitemap" and res.body[:2] == b"\x1f\x8b"):
        return replace(res, body=b"", error_kind="binary",
                       error=f"body is {what} (Content-Type said {res.content_type or 'nothing'})")
    if res.request.purpose in ("article", "index") and res.content_type and not res.content_type.startswith(ARTICLE_TYPES):
        return replace(res, body=b"", error_kind="content_type",
                       error=f"Content-Type {res.content_type} is not HTML; articles must be HTML pages")
    return res


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """Loading the CA bundle costs ~20 ms; a long-running `serve` process does it once."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class open_fetcher:  # noqa: N801 - used as `async with open_fetcher(settings) as f`
    """Create the run's shared client, I/O threads and Fetcher; closes them on exit."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None, resolver=None):
        self.settings = settings
        self.transport = transport
        self.resolver = resolver

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        timeout = httpx.Timeout(s.read_timeout_s, connect=s.connect_timeout_s, pool=s.total_timeout_s)
        limits = httpx.Limits(max_connections=s.max_connections, max_keepalive_connections=s.max_connections)
        self.client = httpx.Client(
            timeout=timeout, limits=limits, follow_redirects=False, transport=self.transport, verify=_ssl_context(),
            headers={"Accept-Encoding": "gzip, deflate", "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
            trust_env=False,  # no proxies from the environment: requests go where the checks say
        )
        self.io = ThreadPoolExecutor(s.max_connections, thread_name_prefix="newswatch-fetch")
        return Fetcher(s, self.client, self.resolver, self.io)

    async def __aexit__(self, *exc) -> None:
        # threads still reading after a timeout stop at their next chunk; closing the client ends them
        self.io.shutdown(wait=False, cancel_futures=True)
        self.client.close()
