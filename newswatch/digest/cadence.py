"""When a subscriber's next digest is due (scheduled runs; `newswatch digest` ignores this)."""

from __future__ import annotations

from datetime import datetime, timedelta

from newswatch.config.alerts import (
    WEEKDAYS,
    DailyCadence,
    HourlyCadence,
    InstantCadence,
    WeeklyCadence,
)


def last_slot(cadence: InstantCadence | HourlyCadence | DailyCadence | WeeklyCadence, now: datetime) -> datetime:
    """The most recent scheduled moment at or before `now` (aware; DST handled by zoneinfo)."""
    if isinstance(cadence, InstantCadence):
        return now
    if isinstance(cadence, HourlyCadence):
        slot = now.replace(minute=cadence.minute, second=0, microsecond=0)
        return slot if slot <= now else slot - timedelta(hours=1)
    local = now.astimezone(cadence.zone)
    slot = datetime.combine(local.date(), cadence.at, tzinfo=cadence.zone)
    if isinstance(cadence, WeeklyCadence):
        slot -= timedelta(days=(local.weekday() - WEEKDAYS.index(cadence.day)) % 7)
        step = timedelta(days=7)
    else:
        step = timedelta(days=1)
    return slot if slot <= local else slot - step


def is_due(cadence, last_digest_at: datetime | None, now: datetime) -> bool:
    """Instant: always. Others: when no digest was made since the last scheduled moment."""
    if isinstance(cadence, InstantCadence) or last_digest_at is None:
        return True
    return last_digest_at < last_slot(cadence, now)


def describe(cadence) -> str:
    if isinstance(cadence, InstantCadence):
        return "instant"
    if isinstance(cadence, HourlyCadence):
        return f"hourly at :{cadence.minute:02d}"
    if isinstance(cadence, DailyCadence):
        return f"daily {cadence.at:%H:%M} {cadence.tz}"
    return f"weekly {cadence.day} {cadence.at:%H:%M} {cadence.tz}"
