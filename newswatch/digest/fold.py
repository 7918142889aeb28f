"""Selecting what a digest lists: one topic per article, sorted, duplicates folded, capped.

Two articles are the same story only on evidence from *their own text*: page furniture is set
aside first (short lines — navigation, share buttons, bylines — and lines that several articles
of the same source carry with different titles: cookie banners, "about us" blurbs, sidebars).
Then, checked in this order:
1. same content hash (a syndicated copy);
2. their own text shares at least TEXT_JACCARD_STRONG of its word 4-shingles: a copy, whenever
   it was published;
3. beyond this point both must be published within STORY_WINDOW_DAYS (reports months apart are
   separate stories unless their text says so, rule 2): own-text shingle Jaccard at least
   TEXT_JACCARD_MIN (a lightly edited copy);
4. published within TITLE_WINDOW_H, same real language, titles sharing REPORT_TITLE_JACCARD_MIN
   of their words and leads sharing REPORT_SHARED_MIN names/figures (at least ANCHOR_OVERLAP_MIN
   of the smaller set): an independent report of the same news;
5. published within TITLE_WINDOW_H, same real language, and normalised titles nearly equal
   (SequenceMatcher ratio >= TITLE_RATIO_MIN, or token Jaccard >= TITLE_JACCARD_MIN with at
   least 4 tokens), and every name or figure in either title is in the other's title or lead
   ("... centre in China" is not "... centre in Singapore");
6. published within TITLE_WINDOW_H, different real languages, and their anchors — numbers and
   capitalised words inside sentences (names) of the title and own lead — overlap in at least
   ANCHOR_SHARED_MIN items and ANCHOR_OVERLAP_MIN of the smaller set.
The language compared (and shown) is the one detected on the title and own text, not a label a
spam line or a page's `lang` attribute gave the whole page.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import timedelta
from difflib import SequenceMatcher
from urllib.parse import urlsplit

from newswatch.digest.model import DigestItem, DigestSection

TEXT_JACCARD_STRONG = 0.85  # near-identical own text: one story even if dated months apart
TEXT_JACCARD_MIN = 0.5  # syndicated copies measured ~0.7-1.0; unrelated articles < 0.05
TITLE_RATIO_MIN = 0.85
TITLE_JACCARD_MIN = 0.7
TITLE_WINDOW_H = 48  # the same story is re-reported within two days; later it is a follow-up
STORY_WINDOW_DAYS = 7  # beyond this, only (near-)identical text makes two reports one story
ANCHOR_SHARED_MIN = 3
REPORT_TITLE_JACCARD_MIN = 0.4  # independent reports in one language: titles share this many words ...
REPORT_SHARED_MIN = 5  # ... and leads this many names/figures (chosen on bench/fold_pairs.py: 0 wrong folds)
ANCHOR_OVERLAP_MIN = 0.5
SAMPLE_CHARS = 3000  # shingles from the lead: enough to tell copies apart, cheap to compare
SHINGLE_WORDS = 4
OWN_LINE_MIN_WORDS = 8  # shorter lines are navigation, buttons, bylines, captions of icons
OWN_LINE_MIN_CJK = 25  # CJK lines have no spaces: count characters instead
FURNITURE_MIN_ARTICLES = 3  # a line in this many differently titled articles of one source
LANG_MIN_CHARS = 200  # shorter own text: keep the stored language
LANG_SAMPLE_CHARS = 600  # of the title and own text (py3langid's cost grows with length; a spam line is short)

_WORD_RE = re.compile(r"\w+", re.UNICODE)
_SITE_SUFFIX_RE = re.compile(r"\s+[|\-–—:]\s+[^|\-–—:]{2,40}$")  # "Title - Site Name"
_NUMBER_RE = re.compile(r"\d[\d.,]*\d|\d")
_SENTENCE_END = ".!?:;\"'“”«»()[]"
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def normalize_title(title: str | None) -> str:
    t = unicodedata.normalize("NFKC", title or "")
    t = _SITE_SUFFIX_RE.sub("", t.strip())
    return " ".join(_WORD_RE.findall(t.casefold()))


def _line_key(line: str) -> int:
    return zlib.crc32(" ".join(_WORD_RE.findall(unicodedata.normalize("NFKC", line).casefold())).encode())


def _is_content_line(line: str) -> bool:
    if len(_CJK_RE.findall(line)) >= OWN_LINE_MIN_CJK:
        return True
    return len(line.split()) >= OWN_LINE_MIN_WORDS


def site_of(item: DigestItem) -> str:
    try:
        host = (urlsplit(item.url).hostname or "").lower()
    except ValueError:
        host = ""
    return item.source or host.removeprefix("www.")


def furniture_lines(items: Iterable[DigestItem]) -> dict[str, frozenset[int]]:
    """Per source: lines that FURNITURE_MIN_ARTICLES differently titled articles all carry."""
    seen: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for item in items:
        title = normalize_title(item.title)
        for line in (item.text_sample or "")[:SAMPLE_CHARS].splitlines():
            if line.strip():
                seen[site_of(item)][_line_key(line)].add(title)
    return {
        site: frozenset(k for k, titles in lines.items() if len(titles) >= FURNITURE_MIN_ARTICLES)
        for site, lines in seen.items()
    }


def own_text(item: DigestItem, furniture: frozenset[int] = frozenset()) -> str:
    """The article's own text: its content lines, without the source's shared furniture."""
    lines = [ln.strip() for ln in (item.text_sample or "")[:SAMPLE_CHARS].splitlines() if ln.strip()]
    lines = [ln for ln in lines if _line_key(ln) not in furniture]
    kept = [ln for ln in lines if _is_content_line(ln)]
    return "\n".join(kept)


def shingles(text: str, k: int = SHINGLE_WORDS) -> frozenset[int]:
    words = _WORD_RE.findall(unicodedata.normalize("NFKC", text[:SAMPLE_CHARS]).casefold())
    return frozenset(zlib.crc32(" ".join(words[i : i + k]).encode()) for i in range(len(words) - k + 1))


def _name_tokens(text: str) -> list[tuple[str, str]]:
    """(previous token, word) for each token, punctuation stripped."""
    tokens = re.findall(r"\S+", text)
    return [(prev, tok.strip(_SENTENCE_END + ",")) for prev, tok in zip(["."] + tokens, tokens, strict=False)]


def _norm_name(word: str) -> str:
    w = unicodedata.normalize("NFKC", word).casefold()
    return re.sub(r"['’]s$", "", w)


def anchors(title: str | None, text: str) -> frozenset[str]:
    """Numbers (separators dropped: 2.9 == 2,9) and capitalised words not opening a sentence."""
    lead = f"{title or ''}. {text[:600]}"
    out = {_num(n) for n in _NUMBER_RE.findall(lead)}
    for prev, word in _name_tokens(lead):
        if len(word) >= 3 and word[0].isupper() and not prev.endswith(tuple(".!?:")):
            out.add(_norm_name(word))
    return frozenset(out)


def _num(n: str) -> str:
    return n.replace(".", "").replace(",", "")


def title_names(title: str | None) -> frozenset[str]:
    """Names and figures in a title (words of capitalised tokens after the first, and numbers)."""
    t = _SITE_SUFFIX_RE.sub("", unicodedata.normalize("NFKC", title or "").strip())
    out = {_num(n) for n in _NUMBER_RE.findall(t)}
    for i, (_, word) in enumerate(_name_tokens(t)):
        if i and word[:1].isupper():
            out |= {w for w in _WORD_RE.findall(_norm_name(word)) if len(w) >= 2 and not w.isdigit()}
    return frozenset(out)


def lead_tokens(title: str | None, text: str) -> frozenset[str]:
    lead = unicodedata.normalize("NFKC", f"{title or ''} {text[:600]}")
    out = {_num(n) for n in _NUMBER_RE.findall(lead)}
    out |= set(_WORD_RE.findall(re.sub(r"['’]s\b", "", lead.casefold())))
    return frozenset(out)


def detect_language(title: str | None, text: str, fallback: str | None) -> str | None:
    """The language of the title and own text (py3langid); the stored one when text is short."""
    sample = f"{title or ''}\n{text}"[:LANG_SAMPLE_CHARS]
    if len(text) < LANG_MIN_CHARS:
        return fallback
    try:
        import py3langid
    except ImportError:  # pragma: no cover - installed with the package
        return fallback
    lang, _ = py3langid.classify(sample)
    return lang or fallback


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _hours_apart(a: DigestItem, b: DigestItem) -> float | None:
    if a.date is None or b.date is None:
        return None
    return abs(a.date - b.date) / timedelta(hours=1)


class Fingerprint:
    __slots__ = ("anchors", "item", "lang", "lead", "names", "shingles", "title", "title_tokens")

    def __init__(self, item: DigestItem, furniture: frozenset[int] = frozenset(), detect: bool = True) -> None:
        self.item = item
        text = own_text(item, furniture)
        self.title = normalize_title(item.title)
        self.title_tokens = frozenset(self.title.split())
        self.shingles = shingles(text)
        self.anchors = anchors(item.title, text)
        self.names = title_names(item.title)
        self.lead = lead_tokens(item.title, text)
        # a stored story member's language was detected when it joined: not again
        self.lang = detect_language(item.title, text, item.lang) if detect else item.lang


def fingerprints(items: Sequence[DigestItem], background: Iterable[DigestItem] = ()) -> list[Fingerprint]:
    """Fingerprints of `items`, furniture estimated over them and `background` (same sources)."""
    furniture = furniture_lines([*items, *background])
    return [Fingerprint(i, furniture.get(site_of(i), frozenset()), detect=not i.story_id) for i in items]


def _names_agree(a: Fingerprint, b: Fingerprint) -> bool:
    return all(n in b.lead for n in a.names) and all(n in a.lead for n in b.names)


def same_story(a: Fingerprint, b: Fingerprint) -> str | None:
    """How a and b are one story (content_hash | text | report | title | translation), or None."""
    x, y = a.item, b.item
    if x.content_hash and x.content_hash == y.content_hash:
        return "content_hash"
    j = _jaccard(a.shingles, b.shingles)
    if j >= TEXT_JACCARD_STRONG:
        return "text"
    hours = _hours_apart(x, y)
    if hours is not None and hours > STORY_WINDOW_DAYS * 24:
        return None
    if j >= TEXT_JACCARD_MIN:
        return "text"
    if hours is not None and hours > TITLE_WINDOW_H:
        return None
    if a.lang and b.lang and a.lang != b.lang:
        shared = a.anchors & b.anchors
        smaller = min(len(a.anchors), len(b.anchors)) or 1
        ok = len(shared) >= ANCHOR_SHARED_MIN and len(shared) / smaller >= ANCHOR_OVERLAP_MIN
        return "translation" if ok else None
    shared = a.anchors & b.anchors
    smaller = min(len(a.anchors), len(b.anchors)) or 1
    if (_jaccard(a.title_tokens, b.title_tokens) >= REPORT_TITLE_JACCARD_MIN and len(shared) >= REPORT_SHARED_MIN
            and len(shared) / smaller >= ANCHOR_OVERLAP_MIN):
        return "report"  # an independent report: related title, the same names and figures in the lead
    if not _names_agree(a, b):
        return None
    if len(a.title_tokens) < 4 or len(b.title_tokens) < 4:
        return "title" if a.title == b.title and len(a.title) >= 20 else None
    if _jaccard(a.title_tokens, b.title_tokens) >= TITLE_JACCARD_MIN:
        return "title"
    return "title" if SequenceMatcher(None, a.title, b.title).ratio() >= TITLE_RATIO_MIN else None


def is_same_story(a: Fingerprint, b: Fingerprint) -> bool:
    return same_story(a, b) is not None


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
    """Keep the first (best-ranked) item of each story; the others go into its `also`.

    Items with a stored `story_id` fold by it (the story was decided once, across runs); the
    others are compared pairwise with `same_story`.
    """
    if items and all(i.story_id for i in items):  # stories decided (and languages detected) when stored
        return _fold_by_story(items)
    fps = fingerprints(items)
    kept: list[Fingerprint] = []
    folded: dict[str, list[DigestItem]] = {}
    for fp in fps:
        item = replace(fp.item, lang=fp.lang or fp.item.lang)
        if fp.item.story_id:
            home = next((k for k in kept if k.item.story_id == fp.item.story_id), None)
        else:
            home = next((k for k in kept if not k.item.story_id and is_same_story(k, fp)), None)
        if home is None:
            fp.item = item
            kept.append(fp)
            folded[item.article_id] = []
        else:
            folded[home.item.article_id].append(item)
    return [replace(k.item, also=tuple(folded[k.item.article_id])) for k in kept]


def _fold_by_story(items: Sequence[DigestItem]) -> list[DigestItem]:
    kept: dict[str, DigestItem] = {}
    folded: dict[str, list[DigestItem]] = {}
    for item in items:
        if item.story_id in kept:
            folded[item.story_id].append(item)
        else:
            kept[item.story_id] = item
            folded[item.story_id] = []
    return [replace(k, also=tuple(folded[sid])) for sid, k in kept.items()]


def group_by_topic(items: Sequence[DigestItem], topic_order: Sequence[str],
                   titles: dict[str, str] | None = None) -> tuple[DigestSection, ...]:
    """Sections in the subscriber's topic order (others alphabetically), items by score, date."""
    topics = {i.topic for i in items}
    order = [t for t in topic_order if t in topics] + sorted(topics - set(topic_order))
    titles = titles or {}
    return tuple(
        DigestSection(t, tuple(sorted((i for i in items if i.topic == t), key=sort_key)), titles.get(t) or t)
        for t in order
    )


def select_items(
    rows: Iterable[DigestItem], topic_order: Sequence[str], max_items: int, titles: dict[str, str] | None = None
) -> tuple[tuple[DigestSection, ...], tuple[DigestItem, ...]]:
    """rows (one per article and topic) -> (sections listed, items beyond the cap)."""
    stories = fold_duplicates(best_topic_per_article(rows, topic_order))
    listed, more = stories[:max_items], stories[max_items:]
    return group_by_topic(listed, topic_order, titles), tuple(more)

