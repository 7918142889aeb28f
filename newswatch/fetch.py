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
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx

from newswatch.config.settings import Settings
from newswatch.models import FetchRequest, FetchResult
from newswatch.urls import InvalidURL, canonicalize_url, host_of, is_public_address

# error_kind values recorded in fetches.error_kind
ERROR_KINDS = (
    "blocked_address", "robots", "invalid_url", "timeout", "connect", "network", "http_status",
    "rate_limited", "redirect_loop", "too_many_redirects", "too_large", "content_type", "binary",
    "deferred",  # not tried, or cut short, because the run's deadline (run_deadline_s) came first
    "bad_encoding",  # a stacked, unknown or undecodable Content-Encoding: refused, never inflated
)
TRANSIENT_STATUS = frozenset({500, 502, 504, 408})
RETRY_AFTER_STATUS = frozenset({429, 503})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
ARTICLE_TYPES = ("text/html", "application/xhtml+xml")
ROBOTS_MAX_BYTES = 512_000
REDIRECT_BODY_MAX_BYTES = 64_000  # a redirect's or 304's body is a courtesy page at most  # robots.txt files are small; Google reads only the first 500 KiB
# the one Content-Encoding layer we accept (Accept-Encoding asks for these) -> zlib's wbits. Two
# layers are refused, not inflated: httpx inflates every layer with no limit (a 3.5 KB `gzip, gzip`
# response became 5.9 GB), so the body is read raw and inflated here, at most to the cap.
ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
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
        self.slow = False  # it failed only after read_timeout_s or more: a stalling server, not a flaky one


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

    def __init__(self, settings: Settings, client: httpx.Client, resolver=None, io: ThreadPoolExecutor | None = None,
                 deadline: float | None = None):
        self.settings = settings
        self.client = client
        self._io = io  # the threads blocking requests run on (None: asyncio's default executor)
        # time.monotonic() by which the run must be done: no request starts after it, none runs past it
        self.deadline = deadline
        # circuit breaker: host:port -> why; a host that timed out `breaker_timeouts` times in a row
        # (no answer in between) is not tried again this run: a slow or stalled server would
        # otherwise cost every later request to it a full timeout; one slow page on a busy host does not
        # take its other pages down
        self.broken_hosts: dict[str, str] = {}
        self._timeouts: dict[str, int] = {}  # host:port -> timeouts since its last answer
        self._trips: dict[str, asyncio.Future] = {}  # host:port -> resolved when the breaker takes it out
        self._global = asyncio.Semaphore(settings.max_connections)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._robots: dict[str, asyncio.Future] = {}
        self._resolver = resolver or _resolve
        # (host, is the source's own private host) -> the addresses its last check passed (None:
        # an allowed private host, connected to by name); a connection goes to these, not to a
        # second resolution of the name (which DNS rebinding could point inside)
        self._checked: dict[tuple[str, bool], tuple[str, ...] | None] = {}
        self.robots_results: list[FetchResult] = []  # robots.txt fetches, to be recorded too

    def _host_sem(self, host: str) -> asyncio.Semaphore:
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.settings.max_per_host)
        return self._hosts[host]

    async def fetch_many(self, requests: Iterable[FetchRequest], max_bytes: int | None = None) -> list[FetchResult]:
        return list(await asyncio.gather(*(self.fetch(r, max_bytes) for r in requests)))

    def time_left(self) -> float:
        """Seconds until the run's deadline (infinite without one)."""
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def deferred(self, req: FetchRequest, why: str = "") -> FetchResult:
        """The result of a request the run's deadline left for the next run (nothing was sent)."""
        return FetchResult(
            fetch_id=uuid.uuid4().hex, request=req, final_url=req.url, status_code=None,
            started_at=datetime.now(timezone.utc), elapsed_ms=0.0, attempts=0, error_kind="deferred",
            error=why or f"the run's deadline (run_deadline_s {self.settings.run_deadline_s:g} s) passed "
                         "before this request; left for the next run",
        )

    async def fetch(self, req: FetchRequest, max_bytes: int | None = None) -> FetchResult:
        """Fetch one URL; never raises (except cancellation): whatever the network sends back,
        malformed or not, becomes this request's recorded failure."""
        if self.time_left() <= 0:
            return self.deferred(req)
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
                # a timeout is never retried: a trickling or stalled server would cost another full
                # total_timeout_s (and its host is broken for the run anyway, see _get_once)
                # nor is a failure that came after a long stall (headers trickled for 30 s, then a close)
                if attempts > self.settings.retries or err.kind == "timeout" or err.slow:
                    raise err
                delay = self._delay(err, attempts)
                if delay >= self.time_left():
                    raise FetchError(err.kind, f"{err}; no retry: the run's deadline comes first", err.status_code)
                await asyncio.sleep(delay)
        except FetchError as exc:
            fail = exc
        except InvalidURL as exc:
            fail = FetchError("invalid_url", str(exc))
        except (ValueError, UnicodeError, httpx.InvalidURL) as exc:  # last line of defence: a URL from the network
            fail = FetchError("invalid_url", f"malformed URL: {type(exc).__name__}: {exc}"[:500])
        except Exception as exc:  # noqa: BLE001 - fetch() promises never to raise: record it instead
            fail = FetchError("network", f"unexpected {type(exc).__name__}: {exc}"[:500])
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
            location = resp.headers["location"]
            try:
                nxt = urljoin(url, location)
                urlsplit(nxt).port  # noqa: B018 - raises ValueError for a port out of range
            except ValueError as exc:  # a port over 65535, a host that NFKC turns into "a/c" (℀), ...
                raise FetchError("invalid_url", f"malformed redirect Location {location[:200]!r}: {exc}",
                                 resp.status_code) from exc
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
        key = _host_key(url)
        self._check_breaker(key)
        # the host's slot first, then a global one: a request queued behind its host's other requests
        # must not hold one of the max_connections slots every other host needs (40 links to one
        # stalled host held all 16 for a full timeout, and a healthy source's pages waited behind them)
        async with self._host_sem(key), self._global:  # max_per_host per host:port, as the breaker counts
            self._check_breaker(key)  # the host may have timed out while this request waited for a slot
            # the deadline starts once a connection slot is ours, and covers a trickled body; the
            # run's deadline cuts it shorter
            total = min(self.settings.total_timeout_s, self.time_left())
            cut = total < self.settings.total_timeout_s
            if total <= 0:
                raise FetchError("deferred", "the run's deadline passed before this request; left for the next run")
            guard = _Guard()
            call = functools.partial(self._get_blocking, url, host, headers, cap, time.monotonic() + total, guard)
            call = functools.partial(_connecting_to, self._checked.get(_address_key(url, req), ()), call)
            began = time.monotonic()
            try:
                resp = await self._run_until_tripped(key, call, total)
            except _Tripped:
                raise FetchError("timeout", f"{key} was taken out of this run while this request waited for it "
                                            f"({self.broken_hosts[key]})") from None
            except TimeoutError as exc:
                err = Transient("timeout", f"no complete response within {total:g} s")
                raise self._timed_out(key, err, cut) from exc
            except Transient as exc:
                if exc.kind == "timeout":
                    raise self._timed_out(key, exc, cut) from exc
                if exc.kind == "network" and time.monotonic() - began >= self.settings.read_timeout_s:
                    # stalled, then dropped: as costly as a timeout, and counted like one by the breaker
                    exc.slow = True
                    exc.args = (f"{exc} (after {time.monotonic() - began:.0f} s of a stalled response)",)
                    self._count_timeout(key, exc)
                    raise
                self._timeouts.pop(key, None)  # the host answered (an error, but an answer)
                raise
            except FetchError:
                self._timeouts.pop(key, None)
                raise
            else:
                self._timeouts.pop(key, None)
                return resp
            finally:
                # a thread still blocked (timeout, cancellation) loses its socket now: it returns at once
                # instead of reading a trickle of headers or body for minutes, holding a thread and a
                # connection that every later request needs
                guard.cancel()

    async def _run_until_tripped(self, key: str, call, total: float):
        """Run the blocking request on an I/O thread; TimeoutError after `total` seconds, _Tripped as
        soon as the breaker takes its host out of the run (its other requests timed out meanwhile)."""
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._io, call)
        fut.add_done_callback(_retrieve)  # a result nobody waits for any more is not an error to log
        trip = self._trips.get(key)
        if trip is None:
            trip = self._trips[key] = loop.create_future()
        done, _ = await asyncio.wait({fut, trip}, timeout=total, return_when=asyncio.FIRST_COMPLETED)
        if fut in done:
            return fut.result()
        if trip in done:
            raise _Tripped
        raise TimeoutError

    def _check_breaker(self, key: str) -> None:
        if key in self.broken_hosts:
            raise FetchError("timeout", f"{key} timed out earlier in this run ({self.broken_hosts[key]}); "
                                        "not tried again before the next run")

    def _timed_out(self, key: str, err: Transient, cut_by_deadline: bool) -> FetchError:
        if cut_by_deadline:
            return FetchError("deferred", f"{err}: the run's deadline (run_deadline_s) cut it short; "
                                          "left for the next run")
        self._count_timeout(key, err)
        return err

    def _count_timeout(self, key: str, err: FetchError) -> None:
        self._timeouts[key] = self._timeouts.get(key, 0) + 1
        if self._timeouts[key] >= self.settings.breaker_timeouts:
            self.broken_hosts.setdefault(key, f"{self._timeouts[key]} timeouts in a row, the last: {err}")
            trip = self._trips.get(key)
            if trip is not None and not trip.done():
                trip.set_result(None)  # requests to it still running give up now

    def _get_blocking(self, url: str, host: str, headers: dict, cap: int, deadline: float,
                      stop: _Guard) -> _Response:
        _current.guard = stop
        try:
            with self.client.stream("GET", url, headers=headers) as r:
                try:
                    return self._answer(r, cap, deadline, stop)
                finally:
                    stop.release()  # before the connection goes back to the pool: a late cancel must not touch it
        except httpx.TimeoutException as exc:
            raise Transient("timeout", f"{type(exc).__name__}: the server did not answer in time") from exc
        except httpx.ConnectError as exc:
            raise Transient("connect", f"cannot connect to {host}: {exc}") from exc
        except httpx.DecodingError as exc:
            raise FetchError("network", f"undecodable response: {exc}") from exc
        except httpx.RemoteProtocolError as exc:
            if "location header" in str(exc):  # httpx itself refused the Location (℀ in a host, ...)
                raise FetchError("invalid_url", f"malformed redirect: {exc}"[:500]) from exc
            raise Transient("network", f"{type(exc).__name__}: {exc or 'connection closed by the server'}") from exc
        except (httpx.TransportError, httpx.StreamError) as exc:
            # a TCP reset gives a ReadError with an empty message: say what it means
            reason = str(exc) or "connection reset or closed by the server"
            if stop.is_set():
                raise Transient("timeout", "request abandoned: its deadline passed") from exc
            raise Transient("network", f"{type(exc).__name__}: {reason}") from exc
        except httpx.InvalidURL as exc:
            raise FetchError("invalid_url", f"malformed URL: {exc}") from exc
        finally:
            _current.guard = None

    def _answer(self, r: httpx.Response, cap: int, deadline: float, stop: _Guard) -> _Response:
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
        host, own_private_host = _address_key(url, req)
        if own_private_host:
            self._checked[host, True] = None
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
        self._checked[host, False] = tuple(addresses)

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


def _address_key(url: str, req: FetchRequest) -> tuple[str, bool]:
    """(host, whether it is the source's own private host): what _check_address records under."""
    host = (urlsplit(url).hostname or "").lower()
    return host, bool(req.allow_private_host) and host == req.allow_private_host.lower()


def _connecting_to(addresses: tuple[str, ...] | None, call):
    """Run `call` (a blocking request) with its connections going to `addresses` (_PinnedBackend)."""
    _current.addresses = addresses
    try:
        return call()
    finally:
        _current.addresses = _UNPINNED


class _Tripped(Exception):
    """The breaker took the request's host out of the run while the request ran."""


def _retrieve(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


def _host_key(url: str) -> str:
    """What the circuit breaker counts timeouts by: host and port (another port is another server)."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


_current = threading.local()  # .guard: the _Guard of the request this I/O thread is running
_UNPINNED = ()  # _current.addresses outside a Fetcher request: httpcore connects by name


class _Guard:
    """One request's link between its coroutine and the I/O thread running it.

    httpx's blocking client has per-read timeouts only: a server that sends a header byte every
    second keeps its thread reading for ever. When the coroutine gives up (deadline, cancellation)
    it calls `cancel()`, which shuts the socket down under the thread (a blocked recv() returns at
    once); once the thread is done with the response it calls `release()`, after which the
    connection is the pool's again and a late `cancel()` leaves it alone.
    """

    __slots__ = ("_lock", "_stream", "_cancelled", "_done")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stream: _GuardedStream | None = None
        self._cancelled = False
        self._done = False

    def is_set(self) -> bool:  # the thread's "stop reading" flag (_read_capped)
        return self._cancelled

    def enter(self, stream: _GuardedStream) -> None:
        """Called by the thread before each read or write on `stream`."""
        with self._lock:
            self._stream = stream
            if self._cancelled:
                raise httpcore.ReadError("request abandoned: its deadline passed")

    def release(self) -> None:
        """Called by the thread when it is done with the connection (answer read, or failed)."""
        with self._lock:
            self._done = True

    def cancel(self) -> None:
        with self._lock:
            if self._done or self._cancelled:
                return
            self._cancelled = True
            stream = self._stream
        if stream is not None:
            stream.abort()


class _GuardedStream(httpcore.NetworkStream):
    """httpcore's socket stream, reporting itself to the running request's _Guard."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def _enter(self) -> None:
        guard = getattr(_current, "guard", None)
        if guard is not None:
            guard.enter(self)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._enter()
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._enter()
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> _GuardedStream:
        return _GuardedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)

    def abort(self) -> None:
        """Shut the socket down from another thread: a recv() blocked on it returns at once."""
        sock = self._inner.get_extra_info("socket")
        if sock is not None:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the fd itself, TLS or not
            except OSError:
                pass


class _GuardedBackend(httpcore.NetworkBackend):
    """Every socket reachable by its request's _Guard, and connected to the addresses its request's
    check passed (`_current.addresses`, set by _connecting_to): httpcore would resolve the name
    again, and a DNS server that answered the check with a public address could answer this second
    lookup with 127.0.0.1 (DNS rebinding). The name still goes in the Host header and TLS SNI."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> _GuardedStream:
        addresses = getattr(_current, "addresses", _UNPINNED) or (host,)  # None (allowed private host): by name
        error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                 socket_options=socket_options)
            except httpcore.ConnectError as exc:  # the next address (getaddrinfo's order), as httpcore would
                error = httpcore.ConnectError(f"{address}: {exc}")
                continue
            return _GuardedStream(stream)
        assert error is not None
        raise error

    def connect_unix_socket(self, *args, **kwargs) -> _GuardedStream:
        return _GuardedStream(self._inner.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def guarded_transport(settings: Settings, limits: httpx.Limits) -> httpx.HTTPTransport:
    """httpx's transport with every connection's socket reachable by the request's _Guard."""
    transport = httpx.HTTPTransport(verify=_ssl_context(), limits=limits, trust_env=False)
    pool = transport._pool  # httpcore.ConnectionPool; httpx has no public way to set its network backend
    pool._network_backend = _GuardedBackend(pool._network_backend)
    return transport


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


def _read_capped(r: httpx.Response, cap: int, deadline: float, stop: _Guard, total_s: float) -> bytes:
    """The body, inflated here (never by httpx) and cut at `cap` decoded bytes as it streams: a
    gzip bomb stops at the cap, holding at most the cap plus one network read."""
    declared = r.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise FetchError("too_large", f"Content-Length {int(declared):,} bytes exceeds the {cap:,}-byte cap", r.status_code)
    inflater = _Inflater.for_response(r)
    chunks: list[bytes] = []
    size = 0
    for raw in r.iter_raw():
        if stop.is_set() or time.monotonic() > deadline:  # a trickled body: each read is quick, the whole is not
            raise Transient("timeout", f"no complete response within {total_s:g} s")
        chunk = raw if inflater is None else inflater.inflate(raw, cap - size + 1)
        size += len(chunk)
        if size > cap:
            raise FetchError("too_large", f"body exceeds the {cap:,}-byte cap"
                             + (" once inflated" if inflater else ""), r.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


class _Inflater:
    """One gzip or deflate layer, inflated at most `limit` bytes per call (zlib's max_length)."""

    def __init__(self, encoding: str, status: int) -> None:
        self.encoding, self.status = encoding, status
        self._z = zlib.decompressobj(ENCODINGS[encoding])
        self._started = False

    @classmethod
    def for_response(cls, r: httpx.Response) -> _Inflater | None:
        header = r.headers.get("content-encoding", "")  # repeated headers arrive joined by ", "
        layers = [e.strip().lower() for e in header.split(",") if e.strip().lower() not in ("", "identity")]
        if not layers:
            return None
        if len(layers) > 1:
            raise FetchError("bad_encoding", f"Content-Encoding {header[:100]!r} refused: more than one layer "
                             "(each would inflate past every cap)", r.status_code)
        if layers[0] not in ENCODINGS:
            raise FetchError("bad_encoding", f"Content-Encoding {layers[0][:50]!r} refused: only gzip or deflate "
                             "(what Accept-Encoding asks for)", r.status_code)
        return cls(layers[0], r.status_code)

    def inflate(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._inflate(data, limit)
        except zlib.error as exc:
            if self._started or self.encoding != "deflate":
                raise FetchError("bad_encoding", f"undecodable {self.encoding} body: {exc}", self.status) from exc
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent raw, without zlib's header
            out = self._inflate(data, limit)
        self._started = self._started or bool(data)
        return out

    def _inflate(self, data: bytes, limit: int) -> bytes:
        out = self._z.decompress(data, limit)
        # a full `limit` is the caller's "over the cap"; short of it, zlib has used all the input
        while self._z.unconsumed_tail and len(out) < limit:
            out += self._z.decompress(self._z.unconsumed_tail, limit - len(out))
        return out


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

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None, resolver=None,
                 deadline: float | None = None):
        self.settings = settings
        self.transport = transport
        self.resolver = resolver
        self.deadline = deadline  # time.monotonic(); default: run_deadline_s from now

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        timeout = httpx.Timeout(s.read_timeout_s, connect=s.connect_timeout_s, pool=s.total_timeout_s)
        limits = httpx.Limits(max_connections=s.max_connections, max_keepalive_connections=s.max_connections)
        transport = self.transport or guarded_transport(s, limits)
        self.client = httpx.Client(
            timeout=timeout, limits=limits, follow_redirects=False, transport=transport, verify=_ssl_context(),
            headers={"Accept-Encoding": "gzip, deflate", "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
            trust_env=False,  # no proxies from the environment: requests go where the checks say
        )
        self.io = ThreadPoolExecutor(s.max_connections, thread_name_prefix="newswatch-fetch")
        deadline = self.deadline if self.deadline is not None else time.monotonic() + s.run_deadline_s
        return Fetcher(s, self.client, self.resolver, self.io, deadline)

    async def __aexit__(self, *exc) -> None:
        # threads still reading after a timeout stop at their next chunk; closing the client ends them
        self.io.shutdown(wait=False, cancel_futures=True)
        self.client.close()
