"""Story identity across digests: each matched article joins the stored story it reports, or founds one.

`assign` is pure (fingerprints from `fold`); the run stores its answer (`store.save_stories`)
so a later run, another subscriber and SQL all see the same stories. An article keeps its story.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from newswatch.digest.fold import Fingerprint, fingerprints, same_story
from newswatch.digest.model import DigestItem

Assignment = tuple[str, str, str | None]  # (story_id, how, real language)


def _keys(fp: Fingerprint) -> set:
    """Index keys, typed: two reports of one story share a content hash, an exact title, 3+ text
    shingles, 3+ names/figures or 2+ title words (candidate pruning for `same_story`)."""
    keys: set = {("h", fp.item.content_hash)} if fp.item.content_hash else set()
    keys.add(("T", fp.title))
    keys |= {("s", s) for s in fp.shingles}
    keys |= {("a", a) for a in fp.anchors}
    keys |= {("t", t) for t in fp.title_tokens if len(t) >= 4}
    return keys


_NEEDED = {"h": 1, "T": 1, "s": 3, "a": 3, "t": 2}


def _candidates(keys: set, index: dict) -> list[int]:
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for k in keys:
        for pos in index.get(k, ()):
            counts[(pos, k[0])] += 1
    return sorted({pos for (pos, kind), n in counts.items() if n >= _NEEDED[kind]})


def _date_key(item: DigestItem) -> tuple:
    d: datetime | None = item.date
    return (d is None, d.timestamp() if d else 0.0, item.article_id)


def assign(items: Sequence[DigestItem], members: Sequence[tuple[str, DigestItem]] = (),
           background: Iterable[DigestItem] = ()) -> dict[str, Assignment]:
    """{article_id: (story_id, how, lang)} for `items` (each article once), oldest first.

    An item joins the first stored story (or earlier item) `same_story` accepts; otherwise it
    founds a story named after itself. Stored stories are never merged.
    """
    unique = list({i.article_id: i for i in items}.values())
    stored = [m for _, m in members]
    fps = fingerprints([*stored, *unique], background)
    index: dict = defaultdict(list)
    pool: list[tuple[Fingerprint, str]] = []

    def add(fp: Fingerprint, story_id: str) -> None:
        pos = len(pool)
        pool.append((fp, story_id))
        for k in _keys(fp):
            index[k].append(pos)

    for fp, (story_id, _) in zip(fps[: len(stored)], members, strict=True):
        add(fp, story_id)
    out: dict[str, Assignment] = {}
    for fp in sorted(fps[len(stored):], key=lambda f: _date_key(f.item)):
        candidates = _candidates(_keys(fp), index)
        found = None
        for pos in candidates:
            other, story_id = pool[pos]
            how = same_story(other, fp)
            if how:
                found = (story_id, how)
                break
        story_id, how = found or (fp.item.article_id, "founded")
        out[fp.item.article_id] = (story_id, how, fp.lang)
        add(fp, story_id)
    return out
