"""The classifier's whole-text prefilter must not change any decision: same score, match, terms and
evidence as the full sentence-by-sentence path, on real articles of many kinds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newswatch.classify import classify_article, compile_topics
from newswatch.config import load_config

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def real_texts() -> list[tuple[str, str, str | None]]:
    out = []
    dev = SHARED / "eval" / "classify-dev.jsonl"
    truth = SHARED / "corpus" / "extraction" / "ground-truth.json"
    if not dev.exists() or not truth.exists():
        pytest.skip(f"shared corpus not found at {SHARED}: the prefilter is checked on real articles")
    for line in dev.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        out.append((row["title"], row["text"], row.get("lang")))
    for item in json.loads(truth.read_text(encoding="utf-8")).values():
        body = item["articleBody"]
        out.append((body.split("\n", 1)[0][:200], body, None))
    return out


def test_prefilter_gives_the_same_decisions_as_the_full_path():
    compiled = compile_topics(load_config(REPO / "config").topics)
    texts = real_texts()
    skipped = 0
    for title, text, lang in texts:
        fast = classify_article(compiled, title, text, lang, prefilter=True)
        full = classify_article(compiled, title, text, lang, prefilter=False)
        for f, g in zip(fast, full, strict=True):
            assert (f.topic, f.score, f.matched, f.terms, f.evidence) == (g.topic, g.score, g.matched, g.terms, g.evidence)
            skipped += "prefilter" in f.details
    assert skipped > len(texts)  # it does skip work: most corpus articles name no Japan at all
