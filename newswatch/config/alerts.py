"""alerts.yaml: `subscribers:` who gets which topics, where, and how often.

A subscriber's apprise URL is never written in the repository: `url_env` names the environment
variable(s) that hold it, `url_secret` the Prefect Secret block(s) (resolved by the flow). The
cadence is a typed value; in YAML either a bare word (`hourly`) or a mapping with `kind:`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from datetime import time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from newswatch.config.errors import check_unique_names

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ALL_TOPICS = "*"


class _Cadence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstantCadence(_Cadence):
    """Every run that finds new items above the subscriber's `min_score` sends at once."""

    kind: Literal["instant"]

    def cron(self) -> str | None:
        return None  # follows the ingest runs, not a clock


class HourlyCadence(_Cadence):
    kind: Literal["hourly"]
    minute: int = Field(0, ge=0, le=59)

    def cron(self) -> str:
        return f"{self.minute} * * * *"


class _ClockCadence(_Cadence):
    at: time = time(7, 0)  # local wall-clock time in `tz`, "HH:MM"
    tz: str = "UTC"

    @field_validator("at", mode="before")
    @classmethod
    def _parse_at(cls, v: object) -> object:
        if isinstance(v, int):  # YAML 1.1 reads an unquoted 07:30 as sexagesimal 450
            return time(v // 60, v % 60) if 0 <= v < 24 * 60 else v
        if isinstance(v, str) and not re.fullmatch(r"\d{1,2}:\d{2}", v.strip()):
            raise ValueError('use "HH:MM", e.g. at: "07:30"')
        return v

    @field_validator("tz")
    @classmethod
    def _check_tz(cls, v: str) -> str:
        if v not in available_timezones() and v != "UTC":
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Europe/Amsterdam")
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


class DailyCadence(_ClockCadence):
    kind: Literal["daily"]

    def cron(self) -> str:
        return f"{self.at.minute} {self.at.hour} * * *"


class WeeklyCadence(_ClockCadence):
    kind: Literal["weekly"]
    day: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"

    @field_validator("day", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    def cron(self) -> str:
        return f"{self.at.minute} {self.at.hour} * * {(WEEKDAYS.index(self.day) + 1) % 7}"


Cadence = Annotated[
    InstantCadence | HourlyCadence | DailyCadence | WeeklyCadence, Field(discriminator="kind")
]


class Subscriber(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    url_env: tuple[str, ...] = ()  # env vars holding apprise URL(s); never the URL itself
    url_secret: tuple[str, ...] = ()  # Prefect Secret block names holding apprise URL(s)
    topics: tuple[str, ...] = Field(min_length=1)  # topic names from topics.yaml, or "*" for all
    cadence: Cadence
    max_items: int = Field(30, ge=1, le=500)  # listed items; the rest are counted ("and N more")
    send_empty: bool = False  # send "nothing new" instead of skipping an empty digest
    min_score: float | None = Field(None, ge=0, le=1)  # None: the topic's own match threshold
    # articles published (or, undated, fetched) more than this many days before the run are
    # never sent: a new subscriber does not get the archive. Counted from the run's clock.
    max_age_days: float = Field(7.0, gt=0)
    # a later report of a story already sent is never sent again as new; with `updates: true` a
    # report that adds a source or a language appears once as an update line of the earlier item
    updates: bool = True
    # chat digests list what fits the target's size limit; this link (http/https) points to the rest
    more_url: str | None = Field(None, pattern=r"^https?://\S+$", max_length=500)
    subject: str = Field("newswatch digest", min_length=1, max_length=120)

    @field_validator("url_env", "url_secret", "topics", mode="before")
    @classmethod
    def _listify(cls, v: object) -> object:
        return (v,) if isinstance(v, str) else v

    @field_validator("url_env")
    @classmethod
    def _env_names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            # The message must not echo the value: if it is a URL, it may carry a token.
            if not ENV_NAME_RE.match(name):
                raise ValueError(
                    "url_env must name an environment variable (e.g. NEWSWATCH_ALERT_EMAIL_URL), "
                    "never contain the URL itself"
                )
        return v

    @field_validator("subject")
    @classmethod
    def _one_line(cls, v: str) -> str:
        return " ".join(v.split())  # a header: no newlines (header injection)

    @model_validator(mode="after")
    def _has_target(self) -> Subscriber:
        if not self.url_env and not self.url_secret:
            raise ValueError("give url_env (an environment variable name) or url_secret")
        return self

    @property
    def all_topics(self) -> bool:
        return ALL_TOPICS in self.topics


class AlertsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subscribers: tuple[Subscriber, ...] = ()

    @field_validator("subscribers", mode="before")
    @classmethod
    def _cadence_shorthand(cls, v: object) -> object:
        """`cadence: hourly` is short for `cadence: {kind: hourly}`."""
        if not isinstance(v, list | tuple):
            return v
        out = []
        for item in v:
            if isinstance(item, dict) and isinstance(item.get("cadence"), str):
                item = {**item, "cadence": {"kind": item["cadence"].strip().lower()}}
            out.append(item)
        return out

    @model_validator(mode="after")
    def _unique_names(self) -> AlertsFile:
        check_unique_names(self.subscribers, "subscribers", "subscriber", "; it keys what was sent to whom")
        return self

    def get(self, name: str) -> Subscriber:
        for sub in self.subscribers:
            if sub.name == name:
                return sub
        raise KeyError(name)


def unknown_topic_errors(alerts: AlertsFile, topic_names: Sequence[str]) -> list[str]:
    """`subscribers[i].topics[j] (name: ...): unknown topic ...` for every subscriber topic that
    topics.yaml does not define (`*` means all). Checked across files, so by `load_config`: a
    subscriber of a misspelt topic would otherwise get "Nothing new" forever."""
    known = set(topic_names)
    out = []
    for i, sub in enumerate(alerts.subscribers):
        for j, name in enumerate(sub.topics):
            if name == ALL_TOPICS or name in known:
                continue
            close = difflib.get_close_matches(name, topic_names, n=1)
            if close:
                hint = f"; did you mean {close[0]!r}?"
            else:
                hint = f" (topics.yaml defines {', '.join(topic_names)})" if topic_names else \
                    " (topics.yaml defines no topics)"
            out.append(f"subscribers[{i}].topics[{j}] (name: {sub.name}): unknown topic {name!r}{hint} "
                       f"(fix: use a topic name from topics.yaml, or '{ALL_TOPICS}' for all topics)")
    return out
