"""Optional exemplar documents: a bag-of-words centroid a topic's article can be compared with.

Exemplars only add to evidence that the topic's rules already found (they never make a match on
their own), so the explanation is always the rule's sentences. Nothing is fetched implicitly: a
`url:` exemplar is read through the `fetch_text` callable the caller passes, or skipped.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from newswatch.classify.text import fold, lower_same_length
from newswatch.config.topics import ExemplarSpec

_WORD_RE = re.compile(r"[0-9a-z\u00df-\u024f]{3,}")
_CJK_RUN_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]+")
FetchText = Callable[[str], str]


def text_vector(text: str) -> dict[str, float]:
    """Sub-linear term frequencies of words and CJK character bigrams, L2-normalised."""
    low = lower_same_length(fold(text))
    counts: Counter[str] = Counter(_WORD_RE.findall(low))
    for run in _CJK_RUN_RE.findall(low):
        counts.update(run[i : i + 2] for i in range(len(run) - 1))
    vec = {k: 1.0 + math.log(v) for k, v in counts.items()}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {k: v / norm for k, v in vec.items()}


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(k, 0.0) for k, v in a.items())


def centroid(texts: list[str]) -> dict[str, float] | None:
    if not texts:
        return None
    total: Counter[str] = Counter()
    for t in texts:
        total.update(text_vector(t))
    norm = math.sqrt(sum(v * v for v in total.values())) or 1.0
    return {k: v / norm for k, v in total.items()}


def read_exemplars(specs: tuple[ExemplarSpec, ...], fetch_text: FetchText | None = None) -> tuple[list[str], list[str]]:
    """(texts, skipped): file exemplars are read; URL exemplars only through `fetch_text`."""
    texts, skipped = [], []
    for spec in specs:
        if spec.path is not None:
            texts.append(Path(spec.path).read_text(encoding="utf-8", errors="replace"))
        elif fetch_text is not None:
            texts.append(fetch_text(str(spec.url)))
        else:
            skipped.append(str(spec.url))
    return texts, skipped
