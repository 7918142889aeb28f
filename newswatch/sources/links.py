"""Turning the hrefs found in source documents into absolute http(s) URLs."""

from __future__ import annotations

import re
import ada_url

from newswatch.models import FeedEntry
from newswatch.urls import InvalidURL, canonicalize_url

_WHITESPACE = "".join(chr(c) for c in range(0x21)) + "\x7f"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def absolute_url(href: str | None, base: str, drop_fragment: bool = False) -> str | None:
    """`href` resolved against `base` as a browser would (WHATWG URL standard), or None unless
    that is an http(s) URL `urls` accepts."""
    href = (href or "").strip(_WHITESPACE)
    if not href:
        return None
    try:
        parsed = ada_url.URL(href, base) if base else ada_url.URL(href)
        if drop_fragment:
            parsed.hash = ""
        resolved = parsed.href
        canonicalize_url(resolved)  # validity check only: the pipeline canonicalises later
    except (ValueError, InvalidURL):
        return None
    return None if _CONTROL.search(resolved) else resolved


def dedupe_by_url(entries: list[FeedEntry]) -> tuple[FeedEntry, ...]:
    """Keep the first entry for each URL, in document order."""
    seen: set[str] = set()
    kept = []
    for entry in entries:
        if entry.url not in seen:
            seen.add(entry.url)
            kept.append(entry)
    return tuple(kept)
