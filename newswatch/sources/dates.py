"""Dates from feeds and sitemaps -> aware UTC, or None when the string cannot be trusted.

python-dateutil reads the string; this module decides what it may not guess:
- the zone: numeric offsets win (`+02:00`, `-05` are hours), then the named-zone table below
  (an unknown name makes the date unknown rather than UTC), then the caller's `zone` hint for
  strings without any zone, then UTC;
- missing parts are never taken from the clock: a bare `2003` is 2003-01-01T00:00Z (the start of
  the period it names, as ISO 8601's reduced precision reads), a date without a year is unknown;
- plausibility: before 1995 or more than a day after `now` is unknown. `now` is the caller's
  clock, passed in; without it only the 1995 floor applies.
`email.utils.parsedate_to_datetime` is not used: it reads `+02:00` and `CEST` as offset 0.
"""

from __future__ import annotations

import re
import time
import unicodedata
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateutil_parser
from dateutil.tz import tzoffset

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

# Named zones seen in feeds, hours east of UTC. RFC 822 fixes UT/GMT/Z and the US names; the rest
# follow the IANA database's abbreviations. Ambiguous names, decided here (docs/reliability.md):
# IST = India (+05:30; Indian outlets are the big users, not Ireland or Israel), BST = British
# Summer Time (+01:00), AST = Atlantic (-04:00, as in RFC 822's neighbours), CST = US Central
# (-06:00, RFC 822) except in a Chinese-language source, where it is China Standard Time (+08:00).
_ZONE_HOURS = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEZ": 0,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "AKST": -9, "AKDT": -8, "HST": -10, "AST": -4, "ADT": -3, "NST": -3.5, "NDT": -2.5,
    "BRT": -3, "BRST": -2, "ART": -3, "CLT": -4, "CLST": -3,
    "BST": 1, "IST": 5.5, "WEST": 1, "WESZ": 1, "CET": 1, "MET": 1, "MEZ": 1, "WAT": 1,
    "CEST": 2, "MEST": 2, "MESZ": 2, "EET": 2, "CAT": 2, "SAST": 2, "IDT": 3,
    "EEST": 3, "MSK": 3, "EAT": 3, "TRT": 3, "GST": 4, "PKT": 5, "NPT": 5.75,
    "ICT": 7, "WIB": 7, "HKT": 8, "SGT": 8, "PHT": 8, "AWST": 8, "JST": 9, "KST": 9,
    "ACST": 9.5, "ACDT": 10.5, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
}  # fmt: skip
_ZONE_HOURS_BY_LANG = {"zh": {"CST": 8}}
# Languages spoken (almost) only within one UTC offset without daylight saving: a zoneless date
# in such a source is local time there (zh: mainland, Taiwan, Hong Kong, Macau, Singapore are all
# +08:00). Other languages span zones, so their zoneless dates stay UTC unless `tz` is configured.
_LANG_HOURS = {"zh": 8, "ja": 9, "ko": 9}
EARLIEST_YEAR = 1995  # no news feed or sitemap predates the web's first news sites
MAX_AHEAD = timedelta(days=1)  # further ahead is a wrong clock or a scheduled embargo, not a date
_LEADING_WORD = re.compile(r"^\s*([^\W\d_]{2,12})\.?\s*,?\s*(?=\d)")
# Day names (their first two or three letters, accents stripped) in en, pt, it, es, fr, de, nl:
# only these are dropped before a date, so `soon 2019` stays unreadable instead of becoming 2019.
_DAY_PREFIXES = frozenset(
    "mon tue wed thu fri sat sun seg ter qua qui sex sab dom lun mar mer gio ven mie jue vie "
    "jeu sam dim die mit don fre son maa din woe vri zat zon mo di mi do fr sa so ma wo vr za zo".split()
)
_WORD = re.compile(r"[^\W\d_]+")
_YEAR = re.compile(r"\b\d{4}\b")
_COMMENT = re.compile(r"\([^()]*\)")  # RFC 822 comments, JavaScript's `(Central European ...)`
# dateutil reads `GMT+3` the POSIX way (3 h *behind*); people who write it mean +03:00.
_UTC_PLUS = re.compile(r"\b(?:GMT|UTC|UT)\s*(?=[+-]\d)", re.IGNORECASE)
# W3C-DTF / RFC 3339 with a full date, which datetime.fromisoformat reads exactly
_W3C = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?\Z")
_NO_YEAR = datetime(1, 1, 1)  # dateutil's defaults: year 1 fails the floor, so no year -> None


class _UnknownZone(ValueError):
    pass


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


def zone_hint(tz: str | None = None, lang: str | None = None) -> tzinfo | None:
    """The zone for a source's zoneless dates: its configured IANA `tz`, else one its language implies."""
    if tz:
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    hours = _LANG_HOURS.get(re.split(r"[-_]", lang.strip().lower(), maxsplit=1)[0]) if lang else None
    return None if hours is None else timezone(timedelta(hours=hours))


def parse_date(
    text: str | None,
    *,
    now: datetime | None = None,
    zone: tzinfo | None = None,
    lang: str | None = None,
) -> datetime | None:
    """RFC 822 (also with Portuguese/Italian/... names), ISO 8601/W3C and looser forms -> UTC.

    `zone` applies to strings without a zone (else UTC); `lang` disambiguates zone names (CST);
    `now` rejects dates more than a day ahead of it. None: empty, unreadable or implausible.
    """
    text = " ".join(_COMMENT.sub(" ", text or "").split())
    if not text or not _YEAR.search(text) or len(text) > 100:
        return None
    text = _UTC_PLUS.sub("", text)
    lang = re.split(r"[-_]", lang.strip().lower(), maxsplit=1)[0] if lang else None  # zh-TW -> zh
    for candidate in (text, _translate_months(_without_day_name(text))):
        parsed = _parse_one(candidate, zone, lang)
        if parsed is not None:
            return parsed if _is_plausible(parsed, now) else None
    return None


def _parse_one(text: str, zone: tzinfo | None, lang: str | None) -> datetime | None:
    if _W3C.match(text):  # sitemaps' and Atom's form: 5 us here instead of dateutil's ~300 us
        try:
            parsed = datetime.fromisoformat(text)
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone or UTC)).astimezone(UTC)
        except (ValueError, OverflowError):  # 2019-13-45: not a date, and dateutil would not know better
            return None
    return _parse_loose(text, zone, lang)


def _parse_loose(text: str, zone: tzinfo | None, lang: str | None) -> datetime | None:
    def zone_of(name: str | None, offset: int | None) -> tzinfo | None:
        if offset is not None:
            return tzoffset(name, offset)
        if name is None:
            return None
        hours = _ZONE_HOURS_BY_LANG.get(lang or "", {}).get(name.upper(), _ZONE_HOURS.get(name.upper()))
        if hours is None:
            raise _UnknownZone(name)  # a zone we cannot place: unknown, not UTC
        return tzoffset(name, int(hours * 3600))

    try:
        # a callable tzinfos decides every case, so the machine's own zone names never leak in
        parsed = dateutil_parser.parse(text, default=_NO_YEAR, tzinfos=zone_of)
    except (ValueError, OverflowError, TypeError, IndexError):  # ParserError and _UnknownZone too
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone or UTC)
    try:
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # year 1 shifted west of UTC
        return None


def _is_plausible(value: datetime, now: datetime | None) -> bool:
    if value.year < EARLIEST_YEAR:
        return False
    return now is None or value <= as_utc(now) + MAX_AHEAD


def _without_day_name(text: str) -> str:
    match = _LEADING_WORD.match(text)
    if match is None:
        return text
    word = _strip_accents(match.group(1)).lower()
    is_day = word[:3] in _DAY_PREFIXES if len(word) > 2 else word in _DAY_PREFIXES
    return text[match.end() :] if is_day else text


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
