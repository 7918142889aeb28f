"""sources.yaml: `sources:` a list of sources, one kind each."""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from newswatch.config.errors import check_unique_names


class _SourceBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    url: AnyHttpUrl
    lang: str | None = Field(None, pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")  # hint, e.g. nl, ja
    tz: str | None = None  # IANA zone for the source's dates written without one, e.g. Asia/Shanghai
    interval: float | None = Field(None, ge=0)  # minutes between polls; None: settings default
    max_items: int | None = Field(None, ge=1, le=10_000)  # new articles per run
    enabled: bool = True
    allow_private_addresses: bool = False  # lets this source's own host be private (tests, intranet)
    topic: str | None = None  # optional topic hint
    topics: tuple[str, ...] = ()  # optional topic hints (list form)

    @field_validator("url", mode="before")
    @classmethod
    def _strip(cls, v: object) -> object:
        return v.strip() if isinstance(v, str) else v

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, v: AnyHttpUrl) -> AnyHttpUrl:
        if v.username or v.password:
            raise ValueError("a source URL must not carry a user name or password: it would be stored in "
                             "the database and logs (fix: remove user:password@ from the URL)")
        return v

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (fix: an IANA name such as Europe/Berlin or Asia/Tokyo)") from None
        return v

    @property
    def url_str(self) -> str:
        return str(self.url)


class RssSource(_SourceBase):
    kind: Literal["rss"]


class SitemapSource(_SourceBase):
    kind: Literal["sitemap"]
    window_days: float | None = Field(None, gt=0)  # only entries newer than this; None: settings


class HtmlIndexSource(_SourceBase):
    kind: Literal["html_index"]
    link_pattern: str | None = None  # optional regex an article URL must match


SourceConfig = Annotated[RssSource | SitemapSource | HtmlIndexSource, Field(discriminator="kind")]


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: tuple[SourceConfig, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> SourcesFile:
        check_unique_names(self.sources, "sources", "source")
        return self

    @property
    def enabled(self) -> tuple[SourceConfig, ...]:
        return tuple(s for s in self.sources if s.enabled)
