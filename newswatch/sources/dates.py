"""Lenient date parsing for feeds and sitemaps: anything readable becomes aware UTC, else None."""

from __future__ import annotations

import re
import time
import unicodedata
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from dateutil import parser as dateutil_parser

# Month abbreviations in the languages our feeds use (pt, it, es, fr, de, nl) -> English. Only
# months need translating: a leading day name is dropped because RFC 822 makes it optional.
_MONTHS = {
    "jan": "Jan", "gen": "Jan", "ene": "Jan", "janv": "Jan",
    "fev": "Feb", "feb": "Feb", "fevr": "Feb",
    "mar": "Mar", "mars": "Mar", "mrz": "Mar", "maer": "Mar", "mrt": "Mar",
    "abr": "Apr", "apr": "Apr", "avr": "Apr",
    "mai": "May", "mag": "May", "may": "May", "mei": "May",
    "jun": "Jun", "giu": "Jun", "juin": "Jun",
    "jul": "Jul", "lug": "Jul", "juil": "Jul",
    "ago": "Aug", "aug": "Aug", "aou": "Aug",
    "set": "Sep", "sep": "Sep", "sept": "Sep",
    "out": "Oct", "ott": "Oct", "oct": "Oct", "okt": "Oct",
    "nov": "Nov",
    "dez": "Dec", "dic": "Dec", "dec": "Dec",
}  # fmt: skip
_LEADING_DAY = re.compile(r"^\s*[^\W\d_]{2,12}\.?\s*,?\s*(?=\d)")
_WORD = re.compile(r"[^\W\d_]+")
_YEAR = re.compile(r"\b\d{4}\b")


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already (what feedparser assumes too)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def from_struct_time(value: time.struct_time | None) -> datetime | None:
    """feedparser's `*_parsed` fields are UTC struct_times."""
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def parse_date(text: str | None) -> datetime | None:
    """RFC 822 (also with Portuguese/Italian/... names), ISO 8601/W3C, or a zone-less timestamp."""
    text = " ".join((text or "").split())
    if not text or not _YEAR.search(text) or len(text) > 100:
        return None
    for candidate in (text, _translate_months(_LEADING_DAY.sub("", text))):
        parsed = _parse_strict(candidate)
        if parsed is not None:
            return parsed
    return None


def _parse_strict(text: str) -> datetime | None:
    for parse in (parsedate_to_datetime, datetime.fromisoformat, dateutil_parser.parse):
        try:
            return as_utc(parse(text))
        except (TypeError, ValueError, OverflowError, IndexError):
            continue
    return None


def _translate_months(text: str) -> str:
    def english(match: re.Match[str]) -> str:
        word = _strip_accents(match.group(0)).lower()
        if len(word) < 3:
            return match.group(0)
        return _MONTHS.get(word) or _MONTHS.get(word[:3]) or match.group(0)

    return _WORD.sub(english, text)


def _strip_accents(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
