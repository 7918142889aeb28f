"""Secrets out of every output: one function, `redact(text)`, that knows the configured secret
values and replaces each of them, in every form it can take, with `***`.

The secrets are what the config names by environment variable (config/settings.py keeps them out
of YAML): the DuckLake catalog DSN in NEWSWATCH_LAKE_CATALOG and libpq's PGPASSWORD, plus any
value a module registers (`register_secret`, e.g. a catalog given in settings.yaml after all).
A DSN is a secret as a whole and through its password, which may be written
- in a URI: `postgresql://user:pw@host/db` (percent-encoded or not) or `...?password=pw`;
- as a libpq keyword: `password=pw` or quoted, `password='a b'` (with `\\'` escapes).
Whatever the form, the password's value itself is replaced wherever it appears (DuckDB's error
messages repeat the connection string in their own words), and so are the pieces of a password
with spaces in it (a message that cut the password at its first space still hides the rest). Any
`password=…` or `scheme://user:…@` left in a text after that is masked too, known or not.

Applied where text leaves the process: log records as they are created (`install_log_redaction`,
a record factory: every logger, ours, Prefect's, DuckDB's, apprise's, and the traceback of a logged
exception), messages of exceptions the store raises (store/lake.py), and what the CLI and the run
report show (`newswatch.literal.visible`). Prefect's flow-run state messages are made from those
exceptions, and its log rows from those records.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import traceback
from collections.abc import Iterable
from urllib.parse import parse_qs, unquote, urlsplit

# what each names: a DSN (its password is the secret; host and database stay visible for a
# useful message) or a password (all of it is)
SECRET_ENV_VARS = {"NEWSWATCH_LAKE_CATALOG": "dsn", "PGPASSWORD": "password"}
MASK = "***"
MIN_SECRET_CHARS = 3  # a shorter value ("a", "80") would mask ordinary text; the patterns still apply
MIN_PIECE_CHARS = 4  # the same for a piece of a password with spaces in it

_KEYWORD_RE = re.compile(r"""(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s'"]+)""", re.IGNORECASE)
_USERINFO_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)([^\s@/'\"]+)(@)", re.IGNORECASE)

_lock = threading.Lock()
_registered: set[tuple[str, bool]] = set()  # (value, is a DSN)
_cache: tuple[tuple, tuple[str, ...]] | None = None


def register_secret(value: str | None, dsn: bool = True) -> None:
    """A secret that did not come through SECRET_ENV_VARS (a DSN from settings.yaml, say)."""
    global _cache
    if value:
        with _lock:
            _registered.add((value, dsn))
            _cache = None


def secret_forms(value: str, dsn: bool = True) -> set[str]:
    """Every form of `value` worth masking: a password as it is; a DSN's password however written
    (the DSN itself, less its password, is no secret)."""
    if not dsn:
        pieces = {p for p in value.split() if len(p) >= MIN_PIECE_CHARS} if len(value.split()) > 1 else set()
        return ({value} if len(value) >= MIN_SECRET_CHARS else set()) | pieces
    forms: set[str] = set()
    for m in _KEYWORD_RE.finditer(value):
        raw = m.group(2)
        forms.add(raw)
        if raw[:1] in ("'", '"'):
            inner = raw[1:-1] if len(raw) > 1 and raw[-1] == raw[0] else raw[1:]
            forms.update({inner, re.sub(r"\\(.)", r"\1", inner)})
    try:
        parts = urlsplit(value.strip())
        password = parts.password if parts.scheme and parts.netloc else None
        query = parse_qs(parts.query) if parts.scheme else {}
    except ValueError:
        password, query = None, {}
    for pw in [password, *query.get("password", [])]:
        if pw:
            forms.update({pw, unquote(pw)})
    pieces = {p.strip("'\"") for f in forms if any(c.isspace() for c in f) for p in f.split()}
    return {f for f in forms if len(f) >= MIN_SECRET_CHARS} | {p for p in pieces if len(p) >= MIN_PIECE_CHARS}


def known_secrets(environ=None) -> tuple[str, ...]:
    """The configured secrets' forms, longest first (so a DSN goes before its password)."""
    global _cache
    env = os.environ if environ is None else environ
    key = (tuple(env.get(v) for v in SECRET_ENV_VARS), len(_registered))
    with _lock:
        if environ is None and _cache is not None and _cache[0] == key:
            return _cache[1]
        values = [(v, kind == "dsn") for v, kind in zip(key[0], SECRET_ENV_VARS.values()) if v] + sorted(_registered)
    forms: set[str] = set()
    for v, is_dsn in values:
        forms |= secret_forms(v, is_dsn)
    result = tuple(sorted(forms, key=lambda f: (-len(f), f)))
    if environ is None:
        with _lock:
            _cache = (key, result)
    return result


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every configured secret (and `extra` ones) masked, in every form."""
    if not text:
        return text
    secrets = known_secrets()
    if extra:
        secrets = tuple(sorted({*secrets, *(f for e in extra if e for f in secret_forms(e))}, key=lambda f: -len(f)))
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _USERINFO_RE.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    if "assword" in text or "ASSWORD" in text:
        text = _KEYWORD_RE.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """A log record with its message, arguments, traceback and stack redacted in place."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: keep what there is
        message = str(record.msg)
    record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        record.exc_info = None  # handlers would format the raw exception again
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """For a handler of its own: redacts each record that passes (and keeps it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed = False


def install_log_redaction() -> None:
    """Redact every log record of this process as it is created (idempotent). A record factory
    rather than logger filters: a logger's filter does not see records of its child loggers, and
    handlers (Prefect's API handler, which writes log rows) are added after us."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
