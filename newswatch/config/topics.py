"""topics.yaml: shared term groups, other places, and the topics that combine them.

A topic is a list item with `name:` (its id), a threshold and rules saying which groups must meet
in one sentence (or a small window of sentences) and which context must stand nearby. Term
syntax (documented in config/topics.yaml): `word` (also matches common inflections), `stem*`,
`*infix*`, `multi word phrase`, CJK substrings, `re:<regex>`, or a mapping
`{term: ..., lang: [ja], case: true}`.

Unknown group names and missing exemplar files are reported with the file, the topic and the key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

_GROUPS_KEY = "_topics_group_names"  # validation-context slot: the group names this file defines
NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TermSpec(_Strict):
    term: str = Field(min_length=1, max_length=200)
    lang: tuple[str, ...] = ()  # only in texts of these languages/scripts (e.g. [ja]); () = all
    case: bool = False  # match case-sensitively (acronyms that are also words: US, IT)

    @field_validator("term")
    @classmethod
    def _check_term(cls, v: str) -> str:
        v = v.strip()
        if v.startswith("re:"):
            try:
                re.compile(v[3:])
            except re.error as exc:
                raise PydanticCustomError("bad_regex", "invalid regular expression: {err}", {"err": str(exc)})
        elif not v.strip("*"):
            raise PydanticCustomError("bad_term", "a term needs letters besides `*`")
        return v


def _terms_before(v: Any) -> Any:
    """Accept plain strings for terms: `- japan*` is `- {term: japan*}`."""
    if isinstance(v, list | tuple):
        return [{"term": t} if isinstance(t, str) else t for t in v]
    return v


class GroupSpec(_Strict):
    description: str = ""
    place: bool = False  # a country/region: counts as one place when spotting list-like sentences
    terms: tuple[TermSpec, ...]

    @field_validator("terms")
    @classmethod
    def _some_terms(cls, v: tuple[TermSpec, ...]) -> tuple[TermSpec, ...]:
        return _non_empty(v)

    @field_validator("terms", mode="before")
    @classmethod
    def _plain_terms(cls, v: Any) -> Any:
        return _terms_before(v)


class RuleSpec(_Strict):
    together: tuple[str, ...] = Field(min_length=1)  # groups that must all appear ...
    window: int = Field(0, ge=0, le=5)  # ... within this many sentences of each other (0: same one)
    with_: tuple[str, ...] = Field((), alias="with")  # groups that must appear near that anchor ...
    with_window: int = Field(2, ge=0, le=20)  # ... within this many sentences (the title always counts)
    weight: float = Field(1.0, gt=0, le=5)

    @field_validator("together", "with_")
    @classmethod
    def _known_groups(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return _check_groups(v, info)


class ExcludeSpec(_Strict):
    groups: tuple[str, ...] = Field(min_length=1)
    penalty: float = Field(0.8, ge=0, le=1)  # share of the score removed when the exclusion dominates

    @field_validator("groups")
    @classmethod
    def _known_groups(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return _check_groups(v, info)


class WeightsSpec(_Strict):
    """How much a piece of evidence counts, by where and how it stands (defaults suit news)."""

    title: float = Field(2.0, ge=0)  # an anchor in the title, when the body also carries one
    title_alone: float = Field(0.4, ge=0)  # an anchor in the title that the body never repeats
    lead: float = Field(1.5, ge=0)  # an anchor in the first `lead_sentences` body sentences
    body: float = Field(1.0, ge=0)
    lead_sentences: int = Field(3, ge=0, le=20)
    sidebar: float = Field(0.25, ge=0)  # after a "Related articles"-style marker
    noise: float = Field(0.15, ge=0)  # address, cookie, menu or copyright lines
    list3: float = Field(0.5, ge=0)  # a sentence naming 3 places
    list4: float = Field(0.2, ge=0)  # a sentence naming 4 or more places
    enumeration: float = Field(0.3, ge=0)  # a sentence of many short comma/slash-separated items
    support: float = Field(0.1, ge=0)  # per other sentence with one side plus the context ...
    support_cap: float = Field(0.5, ge=0)  # ... up to this much: the article is about the domain
    # score = 1 - exp(-evidence / scale): with 1.6 and threshold 0.5, evidence 1.1 matches, i.e. a lead
    # anchor alone, or a body anchor with a supporting sentence; a lone body anchor (1.0) does not
    scale: float = Field(1.6, gt=0)
    exemplar: float = Field(1.0, ge=0)  # evidence added per unit of cosine similarity to exemplars


class ExemplarSpec(_Strict):
    path: str | None = None  # relative to the config folder
    url: AnyHttpUrl | None = None  # used only if the caller supplies a fetcher; never fetched implicitly

    @model_validator(mode="after")
    def _one_source(self) -> ExemplarSpec:
        if (self.path is None) == (self.url is None):
            raise PydanticCustomError("exemplar_source", "give exactly one of `path:` or `url:`")
        return self

    @field_validator("path")
    @classmethod
    def _exists(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        base = Path((info.context or {}).get("base_dir") or ".")
        p = Path(v) if Path(v).is_absolute() else base / v
        if not p.is_file():
            raise PydanticCustomError("exemplar_missing", "exemplar file not found: {p}", {"p": str(p)})
        return str(p)


class TopicSpec(_Strict):
    name: str = Field(min_length=1, max_length=80, pattern=NAME_PATTERN)
    title: str | None = Field(None, min_length=1, max_length=80)  # shown in digests ("Japan – Benelux"); default: name
    description: str = ""
    threshold: float = Field(0.5, gt=0, le=1)
    rules: tuple[RuleSpec, ...]
    exclude: ExcludeSpec | None = None
    exemplars: tuple[ExemplarSpec, ...] = ()
    weights: WeightsSpec = WeightsSpec()

    @field_validator("rules")
    @classmethod
    def _some_rules(cls, v: tuple[RuleSpec, ...]) -> tuple[RuleSpec, ...]:
        return _non_empty(v)

    @field_validator("exemplars", mode="before")
    @classmethod
    def _exemplar_strings(cls, v: Any) -> Any:
        """`- docs/x.txt` and `- https://...` are shorthand for `{path: ...}` / `{url: ...}`."""
        if isinstance(v, list | tuple):
            return [_exemplar_item(x) for x in v]
        return v

    def group_names(self) -> tuple[str, ...]:
        names: list[str] = []
        for rule in self.rules:
            names += [*rule.together, *rule.with_]
        if self.exclude:
            names += self.exclude.groups
        return tuple(dict.fromkeys(names))


def _non_empty(v: tuple) -> tuple:
    # a validator rather than min_length: runs only when every item is valid, so a bad item is
    # reported once, not also as "too short"
    if not v:
        raise PydanticCustomError("too_short", "needs at least one entry")
    return v


def _exemplar_item(x: Any) -> Any:
    if isinstance(x, str):
        return {"url": x} if x.startswith(("http://", "https://")) else {"path": x}
    return x


def _check_groups(v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
    known = (info.context or {}).get(_GROUPS_KEY)
    if known is None:  # validated without a context: TopicsFile._references checks instead
        return v
    for g in v:
        if g not in known:
            raise PydanticCustomError(
                "unknown_group",
                "unknown group '{group}' (defined under groups: {known})",
                {"group": g, "known": ", ".join(sorted(known)) or "none"},
            )
    return v


class TopicsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: dict[str, GroupSpec] = {}
    places: dict[str, tuple[TermSpec, ...]] = {}  # other countries/blocs: list detection only
    topics: tuple[TopicSpec, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _remember_group_names(cls, data: Any, info: ValidationInfo) -> Any:
        # rules are validated before this model exists; the context lets them check names in place
        # so the error carries its exact key (topics[0].rules[1].together)
        if isinstance(data, dict) and isinstance(info.context, dict):
            groups = data.get("groups")
            info.context[_GROUPS_KEY] = set(groups) if isinstance(groups, dict) else set()
        if isinstance(data, dict) and isinstance(data.get("places"), dict):
            data = {**data, "places": {k: _terms_before(v) for k, v in data["places"].items()}}
        return data

    @field_validator("groups", "places")
    @classmethod
    def _group_names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            if not re.match(NAME_PATTERN, name):
                raise PydanticCustomError(
                    "bad_name", "name '{name}' must be lowercase letters, digits, - or _", {"name": name}
                )
        return v

    @model_validator(mode="after")
    def _references(self) -> TopicsFile:
        seen: set[str] = set()
        for i, topic in enumerate(self.topics):
            if topic.name in seen:
                raise ValueError(f"topics[{i}].name: duplicate topic name {topic.name!r} (fix: rename one)")
            seen.add(topic.name)
            for g in topic.group_names():
                if g not in self.groups:
                    raise ValueError(f"topics[{i}] ({topic.name}): unknown group {g!r} (fix: define it under groups:)")
        return self

    def topic(self, name: str) -> TopicSpec:
        for t in self.topics:
            if t.name == name:
                return t
        raise KeyError(name)
