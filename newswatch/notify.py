"""Sending a rendered digest through apprise, and keeping its URLs secret.

An apprise URL carries credentials (SMTP passwords, webhook tokens), so it never leaves this
module unredacted: `redact(url)` gives `scheme://***@host` for records and logs, and apprise's
own log records are captured while it sends (not propagated) and re-logged with every secret
fragment of the URLs replaced by `***`.

One Apprise object per subscriber; each URL is tagged by the form it gets: email schemes get the
HTML body (apprise adds a text/plain alternative converted from it), chat schemes the short
markdown form, anything else the plain text.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import apprise

if TYPE_CHECKING:  # notify must not import the digest package at run time (it imports notify)
    from newswatch.digest.model import RenderedDigest

log = logging.getLogger("newswatch.notify")

EMAIL_SCHEMES = frozenset({
    "mailto", "mailtos", "ses", "sendgrid", "mailgun", "sparkpost", "resend", "smtp2go", "postmark",
    "brevo", "sendpulse", "mailersend", "azure", "o365",
})
CHAT_SCHEMES = frozenset({
    "json", "jsons", "form", "forms", "xml", "xmls", "mmost", "mmosts", "slack", "workflow", "workflows",
    "discord", "rocket", "rockets", "matrix", "matrixs", "zulip", "gchat", "tgram", "guilded", "ryver",
    "flock", "wxteams", "webex", "nctalk", "nctalks", "revolt", "lark", "feishu", "dingtalk",
})
# Loggers that see target URLs while apprise sends: apprise's own (every plugin logs through
# it) and the HTTP stack under it (urllib3 logs request paths, where webhook tokens live).
CAPTURED_LOGGERS = ("apprise", "urllib3", "requests")
MIN_SECRET_CHARS = 3  # shorter URL fragments ("a", "80") would redact ordinary words
_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.\-]*)://", re.IGNORECASE)
_URLISH_RE = re.compile(r"\b[a-z][a-z0-9+.\-]*://\S+", re.IGNORECASE)
_HOST_RE = re.compile(r"^(localhost|[0-9.]+|\[[0-9a-f:]+\]|[a-z0-9\-]+(\.[a-z0-9\-]+)+)$", re.IGNORECASE)
_apprise_lock = threading.Lock()  # loggers are process-wide; one send rewires them at a time


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    targets: tuple[str, ...]  # redacted
    error: str | None = None  # redacted


@dataclass(frozen=True, slots=True)
class Target:
    """One place a digest is delivered to, with its own delivery state.

    `key` identifies it in the database without revealing it (a hash of the URL); `label` is
    the redacted form shown in records (`mailto://***@host to=desk@example.com`).
    """

    key: str
    url: str
    label: str


def target_key(url: str) -> str:
    return hashlib.sha256(url.strip().encode()).hexdigest()[:20]


_RECIPIENT_SPLIT_RE = re.compile(r"[\s,;]+")


def expand_targets(urls: Sequence[str]) -> list[Target]:
    """One Target per URL, and per recipient of an email URL (`mailto://…?to=a@x,b@x`).

    apprise reports one result per URL, so a rejected recipient would otherwise make the good
    one receive every retry: split into one URL per `to` address, each with its own state.
    """
    out: list[Target] = []
    seen: set[str] = set()
    for url in urls:
        for one in _per_recipient(url):
            key = target_key(one)
            if key in seen:
                continue
            seen.add(key)
            out.append(Target(key, one, _label(one)))
    return out


def _per_recipient(url: str) -> list[str]:
    if channel_for(url) != "email":
        return [url]
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return [url]
    query = parse_qsl(parts.query, keep_blank_values=True)
    to = [v for k, v in query if k.lower() == "to"]
    recipients = [r for v in to for r in _RECIPIENT_SPLIT_RE.split(v) if r]
    if len(recipients) <= 1:
        return [url]
    rest = [(k, v) for k, v in query if k.lower() != "to"]
    return [
        urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode([*rest, ("to", r)], quote_via=quote, safe="@"),
                    parts.fragment))
        for r in recipients
    ]


def _label(url: str) -> str:
    base = redact(url)
    if channel_for(url) == "email":
        try:
            to = [v for k, v in parse_qsl(urlsplit(url.strip()).query) if k.lower() == "to"]
        except ValueError:
            to = []
        if len(to) == 1 and "@" in to[0] and len(to[0]) <= 120:
            return f"{base} to={to[0]}"
    return base


CHAT_LIMIT_MARGIN = 200  # apprise adds its own framing; stay this far below a service's limit


def chat_limit(url: str, default: int) -> int:
    """The chat form's size for this target: its apprise service's message limit (Discord 2,000,
    Mattermost 4,000, ...) less a margin, never more than `default`."""
    if channel_for(url) != "chat":
        return default
    loggers = [logging.getLogger(name) for name in CAPTURED_LOGGERS]
    with _apprise_lock:  # apprise may log the URL while parsing it: nothing of it may leave here
        saved = [lg.disabled for lg in loggers]
        for lg in loggers:
            lg.disabled = True
        try:
            plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        except Exception:  # noqa: BLE001  (an unparsable URL fails when it is sent, with its reason)
            plugin = None
        finally:
            for lg, was in zip(loggers, saved, strict=True):
                lg.disabled = was
    maxlen = getattr(plugin, "body_maxlen", 0) or 0
    return max(500, min(default, maxlen - CHAT_LIMIT_MARGIN)) if maxlen > 0 else default


def scheme_of(url: str) -> str:
    m = _SCHEME_RE.match(url.strip())
    return m.group(1).lower() if m else ""


def channel_for(url: str) -> str:
    """email | chat | text — which rendering a target gets."""
    scheme = scheme_of(url)
    if scheme in EMAIL_SCHEMES:
        return "email"
    if scheme in CHAT_SCHEMES:
        return "chat"
    return "text"


def redact(url: str) -> str:
    """`scheme://***@host:port` when the host is a real host name, else `scheme://***`.

    Users, passwords, paths and queries are dropped: webhook tokens live there (slack://T/B/C,
    mmost://host/token, json://host/path?token=). A host that is not a dotted name or an IP may
    itself be a token (discord://webhook_id/...), so it is dropped too.
    """
    scheme = scheme_of(url) or "unknown"
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return f"{scheme}://***"
    if not host or not _HOST_RE.match(host):
        return f"{scheme}://***"
    return f"{scheme}://***@{host}{f':{port}' if port else ''}"


def secret_fragments(url: str) -> set[str]:
    """Every piece of a URL that may be a credential, raw and percent-decoded."""
    out = {url, url.strip()}
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return out
    pieces = [parts.username or "", parts.password or "", parts.netloc.rpartition("@")[0]]
    pieces += parts.path.split("/")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if not _HOST_RE.match(value):  # smtp=127.0.0.1 names a server, it is no secret
            pieces += [value, f"{key}={value}"]
    if parts.hostname and not _HOST_RE.match(parts.hostname):
        pieces.append(parts.hostname)
    for p in pieces:
        for variant in (p, unquote(p)):
            if len(variant) >= MIN_SECRET_CHARS:
                out.add(variant)
    return out


def redact_text(text: str, urls: Iterable[str]) -> str:
    """`text` with every secret fragment of `urls`, and anything URL-shaped, made harmless."""
    secrets = sorted({f for u in urls for f in secret_fragments(u)}, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return _URLISH_RE.sub(lambda m: redact(m.group(0)), text)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _add_targets(obj: apprise.Apprise, urls: Sequence[str]) -> list[str]:
    """Add each URL tagged with its channel; returns redacted forms of URLs apprise rejected."""
    bad = []
    for url in urls:
        if not obj.add(url, tag=channel_for(url)):
            bad.append(redact(url))
    return bad


def _notify_all(obj: apprise.Apprise, urls: Sequence[str], subject: str, bodies: RenderedDigest) -> bool:
    channels = {channel_for(u) for u in urls}
    ok = True
    if "email" in channels:
        ok &= bool(obj.notify(body=bodies.html, title=subject, body_format=apprise.NotifyFormat.HTML, tag="email"))
    if "chat" in channels:
        # the subject is already the chat message's first line; a title would cost size
        ok &= bool(obj.notify(body=bodies.chat, title="", body_format=apprise.NotifyFormat.MARKDOWN, tag="chat"))
    if "text" in channels:
        ok &= bool(obj.notify(body=bodies.text, title=subject, body_format=apprise.NotifyFormat.TEXT, tag="text"))
    return ok


def send(urls: Sequence[str], subject: str, bodies: RenderedDigest) -> SendResult:
    """Deliver to every URL of one subscriber; ok only if apprise reports success for all."""
    targets = tuple(redact(u) for u in urls)
    if not urls:
        return SendResult(False, targets, "no notification URL configured")
    capture = _Capture()
    loggers = [logging.getLogger(name) for name in CAPTURED_LOGGERS]
    with _apprise_lock:
        saved = [(lg.propagate, lg.level) for lg in loggers]
        for lg in loggers:
            lg.propagate, lg.level = False, logging.INFO
            lg.addHandler(capture)
        try:
            obj = apprise.Apprise()
            bad = _add_targets(obj, urls)
            ok = not bad and _notify_all(obj, urls, subject, bodies)
            crash = None
        except Exception as exc:  # noqa: BLE001  (apprise catches its own; a plugin bug must not lose the claim)
            ok, bad, crash = False, [], f"{type(exc).__name__}: {exc}"
        finally:
            for lg, (propagate, level) in zip(loggers, saved, strict=True):
                lg.removeHandler(capture)
                lg.propagate, lg.level = propagate, level
    problems = [redact_text(r.getMessage(), urls) for r in capture.records if r.levelno >= logging.WARNING]
    for message in problems:
        log.warning("apprise: %s", message)
    if ok:
        return SendResult(True, targets)
    if bad:
        reason = f"apprise could not parse {', '.join(bad)} (fix: check the URL in its environment variable)"
    else:
        reason = "; ".join(problems[-3:]) or "apprise reported failure"
    if crash:
        reason = redact_text(crash, urls) + (f"; {reason}" if problems else "")
    return SendResult(False, targets, redact_text(reason, urls)[:1000])


def resolve_urls(
    url_env: Sequence[str],
    url_secret: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    load_secret=None,
) -> tuple[list[str], list[str]]:
    """(urls, problems): URLs from env vars (and Prefect Secrets through `load_secret`).

    An env var (or secret) may hold several URLs separated by whitespace (or use a YAML list of
    variables). Commas are NOT separators: they belong to apprise URLs themselves
    (`mailto://…?to=a@x,b@x`). Problems name the variable or secret, never its value.
    """
    env = os.environ if env is None else env
    urls, problems = [], []
    for name in url_env:
        value = (env.get(name) or "").strip()
        if value:
            urls += value.split()
        else:
            problems.append(f"environment variable {name} is not set")
    for name in url_secret:
        if load_secret is None:
            problems.append(f"secret {name}: Prefect Secrets are read only by the digest flow")
            continue
        try:
            value = (load_secret(name) or "").strip()
        except Exception as exc:  # noqa: BLE001  (a missing block is a config problem, not a crash)
            problems.append(f"secret {name} could not be loaded ({type(exc).__name__})")
            continue
        urls += value.split()
    return urls, problems


def describe_target(url_env: Sequence[str], url_secret: Sequence[str], urls: Sequence[str]) -> str:
    """What `digests.target` stores: variable names and redacted URLs only."""
    names = [f"env:{n}" for n in url_env] + [f"secret:{n}" for n in url_secret]
    return " ".join(names + [redact(u) for u in urls])
