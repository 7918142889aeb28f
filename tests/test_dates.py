"""sources.dates: named zones, offsets, AM/PM, no completion from the clock, plausibility window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.sources.dates import parse_date, zone_hint

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
A_YEAR_AHEAD = NOW + timedelta(days=365)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# (string, expected UTC) for the parser with no hints; bench/parsers.py scores old and new on these.
CASES = [
    # named zones outside RFC 822's US set
    ("Sat, 23 Nov 2019 20:30:45 CEST", utc(2019, 11, 23, 18, 30, 45)),
    ("Sat, 23 Nov 2019 20:30:45 CEST +0200", utc(2019, 11, 23, 18, 30, 45)),
    ("Sat, 23 Nov 2019 20:30:45 CET", utc(2019, 11, 23, 19, 30, 45)),
    ("Sat, 23 Nov 2019 20:30:45 MET", utc(2019, 11, 23, 19, 30, 45)),
    ("Sat, 23 Nov 2019 20:30:45 MEST", utc(2019, 11, 23, 18, 30, 45)),
    ("Sat, 23 Nov 2019 20:30:45 BST", utc(2019, 11, 23, 19, 30, 45)),
    ("Sat, 23 Nov 2019 20:30:45 JST", utc(2019, 11, 23, 11, 30, 45)),
    ("2019-11-23 20:30:45 EST", utc(2019, 11, 24, 1, 30, 45)),
    ("23 November 2019 20:30 IST", utc(2019, 11, 23, 15, 0)),
    ("Sat, 23 Nov 2019 20:30:45 AEDT", utc(2019, 11, 23, 9, 30, 45)),
    ("Sat, 23 Nov 2019 20:30:45 EST", utc(2019, 11, 24, 1, 30, 45)),
    ("Sat, 23 Nov 2019 20:30:45 PDT", utc(2019, 11, 24, 3, 30, 45)),
    ("Sat, 23 Nov 2019 20:30:45 GMT", utc(2019, 11, 23, 20, 30, 45)),
    # AM / PM
    ("23 Nov 2019 8:30 PM", utc(2019, 11, 23, 20, 30)),
    ("Nov 23, 2019 8:30 PM EST", utc(2019, 11, 24, 1, 30)),
    ("23 Nov 2019 12:15 AM", utc(2019, 11, 23, 0, 15)),
    # offsets: with a colon, hours only, with a name before them
    ("Sat, 23 Nov 2019 20:30:45 +02:00", utc(2019, 11, 23, 18, 30, 45)),
    ("Sat, 23 Nov 2019 20:30:45 -05", utc(2019, 11, 24, 1, 30, 45)),
    ("2019-11-23T20:30:45-05", utc(2019, 11, 24, 1, 30, 45)),
    ("2019-11-23T20:30:45+05:30", utc(2019, 11, 23, 15, 0, 45)),
    ("Sat Nov 23 2019 20:30:45 GMT+0200 (Central European Summer Time)", utc(2019, 11, 23, 18, 30, 45)),
    ("2019-11-23 20:30:45 UTC+3", utc(2019, 11, 23, 17, 30, 45)),
    ("Sat, 23 Nov 2019 20:30:45 +0000", utc(2019, 11, 23, 20, 30, 45)),
    ("2019-11-23T20:30:45Z", utc(2019, 11, 23, 20, 30, 45)),
    ("2019-11-23T20:30:45.123456+01:00", datetime(2019, 11, 23, 19, 30, 45, 123456, tzinfo=UTC)),
    # reduced precision: the start of the period, never today's month and day
    ("2003", utc(2003, 1, 1)),
    ("2003-12", utc(2003, 12, 1)),
    ("2003-12-13", utc(2003, 12, 13)),
    ("December 2003", utc(2003, 12, 1)),
    # zoneless: UTC without a hint
    ("2018-09-18 14:38:10", utc(2018, 9, 18, 14, 38, 10)),
    # other languages' month and day names
    ("Sáb, 23 Nov 2019 20:30:45 -0300", utc(2019, 11, 23, 23, 30, 45)),
    ("sab, 23 ott 2019 20:30:45 +0200", utc(2019, 10, 23, 18, 30, 45)),
    ("Sonntag, 24 Nov 2019 10:00 MEZ", utc(2019, 11, 24, 9, 0)),
    ("Dinsdag 26 Nov 2019 10:00 +0100", utc(2019, 11, 26, 9, 0)),
    ("soon 2019", None),  # a word that is not a day name is not dropped
    # unknown: no year, unknown zone name, nonsense
    ("23 Nov 20:30", None),
    ("Sat, 23 Nov 2019 20:30:45 XYZT", None),
    ("not a date 2019 at all", None),
    ("2019-13-45", None),
    ("2019-02-30T10:00:00Z", None),
    ("0001-01-01T00:00:00+01:00", None),
    ("", None),
    # before 1995
    ("Fri, 01 Jan 1993 10:00:00 GMT", None),
    ("1970-01-01T00:00:00Z", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_published_date_strings(text: str, expected: datetime | None) -> None:
    assert parse_date(text, now=NOW) == expected


def test_a_bare_year_does_not_depend_on_the_clock() -> None:
    assert parse_date("2003", now=NOW) == parse_date("2003", now=A_YEAR_AHEAD) == utc(2003, 1, 1)


def test_more_than_a_day_ahead_of_now_is_unknown() -> None:
    assert parse_date("2026-12-02T11:00:00Z", now=NOW) == utc(2026, 12, 2, 11)  # within a day: kept
    assert parse_date("2026-12-02T13:00:00Z", now=NOW) is None
    assert parse_date("2027-06-01T00:00:00Z", now=NOW) is None
    assert parse_date("2027-06-01T00:00:00Z", now=A_YEAR_AHEAD) == utc(2027, 6, 1)  # the caller's clock decides


def test_zoneless_date_takes_the_zone_hint() -> None:
    beijing = zone_hint(lang="zh")
    assert parse_date("2018-09-18 14:38:10", zone=beijing) == utc(2018, 9, 18, 6, 38, 10)
    assert parse_date("2018-09-18 14:38:10 +0000", zone=beijing) == utc(2018, 9, 18, 14, 38, 10)  # stated zone wins


def test_configured_iana_zone_follows_daylight_saving() -> None:
    berlin = zone_hint(tz="Europe/Berlin", lang="de")
    assert parse_date("2019-07-01 12:00", zone=berlin) == utc(2019, 7, 1, 10)
    assert parse_date("2019-12-01 12:00", zone=berlin) == utc(2019, 12, 1, 11)


@pytest.mark.parametrize(("tz", "lang", "offset_h"), [(None, "zh", 8), (None, "ja", 9), (None, "ko", 9),
                                                      (None, "en", None), (None, None, None), ("Nowhere/Else", None, None)])
def test_zone_hint_only_for_single_offset_languages(tz: str | None, lang: str | None, offset_h: int | None) -> None:
    hint = zone_hint(tz=tz, lang=lang)
    assert (None if hint is None else hint.utcoffset(None)) == (None if offset_h is None else timedelta(hours=offset_h))


def test_cst_is_china_standard_time_in_a_chinese_source() -> None:
    assert parse_date("2019-11-23 20:30 CST") == utc(2019, 11, 24, 2, 30)
    assert parse_date("2019-11-23 20:30 CST", lang="zh") == utc(2019, 11, 23, 12, 30)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1995, 1, 2), max_value=datetime(2026, 11, 30)),
       st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
       st.sampled_from(["%a, %d %b %Y %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%z", "%d %b %Y %I:%M:%S %p %z",
                        "%Y-%m-%dT%H:%M:%S{colon}", "%a, %d %b %Y %H:%M:%S {hours}"]))
def test_any_written_instant_reads_back_exactly(moment: datetime, zone: timezone, fmt: str) -> None:
    local = moment.replace(microsecond=0, tzinfo=zone)
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60)
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    fmt = fmt.replace("{colon}", f"{sign}{minutes // 60:02d}:{minutes % 60:02d}")
    if "{hours}" in fmt:
        if minutes % 60:
            local = local.replace(tzinfo=timezone(timedelta(hours=int(offset.total_seconds() // 3600))))
            minutes = abs(int(local.utcoffset().total_seconds() // 60))
            sign = "+" if local.utcoffset() >= timedelta(0) else "-"
        fmt = fmt.replace("{hours}", f"{sign}{minutes // 60:02d}")
    assert parse_date(local.strftime(fmt), now=NOW) == local.astimezone(UTC)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_utc_or_none(text: str) -> None:
    parsed = parse_date(text, now=NOW)
    assert parsed is None or (parsed.utcoffset() == timedelta(0) and 1995 <= parsed.year and parsed <= NOW + timedelta(days=1))


def test_a_sources_tz_must_be_an_iana_zone() -> None:
    from pydantic import TypeAdapter, ValidationError

    from newswatch.config.sources import SourceConfig

    adapter = TypeAdapter(SourceConfig)
    source = {"kind": "rss", "name": "xinhua", "url": "https://example.org/feed"}
    assert adapter.validate_python({**source, "tz": "Asia/Shanghai"}).tz == "Asia/Shanghai"
    assert adapter.validate_python(source).tz is None
    with pytest.raises(ValidationError, match="unknown time zone 'CEST'"):
        adapter.validate_python({**source, "tz": "CEST"})


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from([text for text, _ in CASES]),
                 st.datetimes(min_value=datetime(1995, 1, 2), max_value=datetime(2026, 11, 30)).map(
                     lambda d: d.strftime("%a, %d %b %Y %I:%M:%S %p")),
                 st.text(alphabet="0123456789-:TZ +APMESTCJGU", max_size=30)))
def test_reading_is_idempotent(text: str) -> None:
    """What a date string reads as, its ISO form reads as too (and RFC 822's form of it)."""
    parsed = parse_date(text, now=NOW)
    if parsed is not None:
        assert parse_date(parsed.isoformat(), now=NOW) == parsed
        assert parse_date(parsed.strftime("%a, %d %b %Y %H:%M:%S +0000"), now=NOW) == parsed.replace(microsecond=0)
