"""Selecting what a digest lists: one topic per article, sorted, duplicates folded, capped.

Two articles are the same story when (checked in this order):
1. their extracted text has the same content hash (a syndicated copy);
2. their text shares at least TEXT_JACCARD_MIN of its word 4-shingles (a lightly edited copy);
3. same language, published within TITLE_WINDOW_H, and their normalised titles are nearly equal
   (SequenceMatcher ratio >= TITLE_RATIO_MIN, or token Jaccard >= TITLE_JACCARD_MIN with at
   least 4 tokens) — the window keeps recurring titles ("Morning briefing") apart;
4. different languages, published within TITLE_WINDOW_H, and their anchors — numbers and
   capitalised words inside sentences (names) of the title and lead — overlap in at least
   ANCHOR_SHARED_MIN items and ANCHOR_OVERLAP_MIN of the smaller set. Translations keep names
   and figures; a different story about the same company shares the name but not the figures.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import timedelta
from difflib import SequenceMatcher

from newswatch.digest.model import DigestItem, DigestSection

TEXT_JACCARD_MIN = 0.5  # syndicated copies measured ~0.7-1.0; unrelated articles < 0.05
TITLE_RATIO_MIN = 0.85
TITLE_JACCARD_MIN = 0.7
TITLE_WINDOW_H = 48  # the same story is re-reported within two days; later it is a follow-up
ANCHOR_SHARED_MIN = 3
ANCHOR_OVERLAP_MIN = 0.5
SAMPLE_CHARS = 3000  # shingles from the lead: enough to tell copies apart, cheap to compare
SHINGLE_WORDS = 4

_WORD_RE = re.compile(r"\w+", re.UNICODE)
_SITE_SUFFIX_RE = re.compile(r"\s+[|\-–—:]\s+[^|\-–—:]{2,40}$")  # "Title - Site Name"
_NUMBER_RE = re.compile(r"\d[\d.,]*\d|\d")
_SENTENCE_END = ".!?:;\"'“”«»()[]"


def normalize_title(title: str | None) -> str:
    t = unicodedata.normalize("NFKC", title or "")
    t = _SITE_SUFFIX_RE.sub("", t.strip())
    return " ".join(_WORD_RE.findall(t.casefold()))


def shingles(text: str, k: int = SHINGLE_WORDS) -> frozenset[int]:
    words = _WORD_RE.findall(unicodedata.normalize("NFKC", text[:SAMPLE_CHARS]).casefold())
    return frozenset(zlib.crc32(" ".join(words[i : i + k]).encode()) for i in range(len(words) - k + 1))


def anchors(title: str | None, text: str) -> frozenset[str]:
    """Numbers (separators dropped: 2.9 == 2,9) and capitalised words not opening a sentence."""
    lead = f"{title or ''}. {text[:600]}"
    out = {n.replace(".", "").replace(",", "") for n in _NUMBER_RE.findall(lead)}
    tokens = re.findall(r"\S+", lead)
    for prev, tok in zip(["."] + tokens, tokens, strict=False):
        word = tok.strip(_SENTENCE_END + ",")
        if len(word) >= 3 and word[0].isupper() and not prev.endswith(tuple(".!?:")):
            out.add(unicodedata.normalize("NFKC", word).casefold())
    return frozenset(out)


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _close_in_time(a: DigestItem, b: DigestItem) -> bool:
    if a.date is None or b.date is None:
        return True
    return abs(a.date - b.date) <= timedelta(hours=TITLE_WINDOW_H)


class _Fingerprint:
    __slots__ = ("anchors", "item", "shingles", "title", "title_tokens")

    def __init__(self, item: DigestItem) -> None:
        self.item = item
        self.title = normalize_title(item.title)
        self.title_tokens = frozenset(self.title.split())
        self.shingles = shingles(item.text_sample)
        self.anchors = anchors(item.title, item.text_sample)


def is_same_story(a: _Fingerprint, b: _Fingerprint) -> bool:
    x, y = a.item, b.item
    if x.content_hash and x.content_hash == y.content_hash:
        return True
    if _jaccard(a.shingles, b.shingles) >= TEXT_JACCARD_MIN:
        return True
    if not _close_in_time(x, y):
        return False
    if x.lang and y.lang and x.lang != y.lang:
        shared = a.anchors & b.anchors
        smaller = min(len(a.anchors), len(b.anchors)) or 1
        return len(shared) >= ANCHOR_SHARED_MIN and len(shared) / smaller >= ANCHOR_OVERLAP_MIN
    if len(a.title_tokens) < 4 or len(b.title_tokens) < 4:
        return a.title == b.title and len(a.title) >= 20
    if _jaccard(a.title_tokens, b.title_tokens) >= TITLE_JACCARD_MIN:
        return True
    return SequenceMatcher(None, a.title, b.title).ratio() >= TITLE_RATIO_MIN


def sort_key(item: DigestItem) -> tuple:
    """Score first, then newest first, then id (a stable order for equal items)."""
    ts = item.date.timestamp() if item.date else 0.0
    return (-round(item.score, 6), -ts, item.article_id)


def best_topic_per_article(rows: Iterable[DigestItem], topic_order: Sequence[str]) -> list[DigestItem]:
    """An article matching several of the subscriber's topics is listed once, under its best."""
    by_article: dict[str, list[DigestItem]] = {}
    for row in rows:
        by_article.setdefault(row.article_id, []).append(row)
    rank = {t: i for i, t in enumerate(topic_order)}
    out = []
    for group in by_article.values():
        group.sort(key=lambda r: (-r.score, rank.get(r.topic, len(rank)), r.topic))
        others = tuple(r.topic for r in group[1:])
        out.append(replace(group[0], other_topics=others))
    return sorted(out, key=sort_key)


def fold_duplicates(items: Sequence[DigestItem]) -> list[DigestItem]:
    """Keep the first (best-ranked) item of each story; the others go into its `also`."""
    kept: list[_Fingerprint] = []
    folded: dict[str, list[DigestItem]] = {}
    for item in items:
        fp = _Fingerprint(item)
        home = next((k for k in kept if is_same_story(k, fp)), None)
        if home is None:
            kept.append(fp)
            folded[item.article_id] = []
        else:
            folded[home.item.article_id].append(item)
    return [replace(k.item, also=tuple(folded[k.item.article_id])) for k in kept]


def group_by_topic(items: Sequence[DigestItem], topic_order: Sequence[str]) -> tuple[DigestSection, ...]:
    """Sections in the subscriber's topic order (others alphabetically), items by score, date."""
    topics = {i.topic for i in items}
    order = [t for t in topic_order if t in topics] + sorted(topics - set(topic_order))
    return tuple(
        DigestSection(t, tuple(sorted((i for i in items if i.topic == t), key=sort_key))) for t in order
    )


def select_items(
    rows: Iterable[DigestItem], topic_order: Sequence[str], max_items: int
) -> tuple[tuple[DigestSection, ...], tuple[DigestItem, ...]]:
    """rows (one per article and topic) -> (sections listed, items beyond the cap)."""
    stories = fold_duplicates(best_topic_per_article(rows, topic_order))
    listed, more = stories[:max_items], stories[max_items:]
    return group_by_topic(listed, topic_order), tuple(more)

