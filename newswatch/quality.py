"""Extraction quality, scored the way the article-extraction benchmark does.

Text is tokenised with the Unicode regex \\w+; each text becomes a multiset of 4-token shingles;
per page TP/FP/FN are multiset overlaps normalised so TP+FP+FN = 1; precision is the mean over
pages with TP+FP > 0, recall the mean over pages with TP+FN > 0; F1 is the harmonic mean of the two
means. `score` is used by the test gate and the benchmark, never at run time; `shingles` also by the
extraction ensemble (newswatch/extract/ensemble.py), which compares two extractors' texts by the
same 4-shingles the score counts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

TOKEN_RE = re.compile(r"\w+", re.UNICODE)
SHINGLE = 4


@dataclass(frozen=True, slots=True)
class Score:
    f1: float
    precision: float
    recall: float
    pages: int


def shingles(text: str) -> Counter:
    tokens = TOKEN_RE.findall(text or "")
    return Counter(tuple(tokens[i : i + SHINGLE]) for i in range(max(1, len(tokens) - SHINGLE + 1))) if tokens else Counter()


def page_counts(predicted: str, truth: str) -> tuple[float, float, float]:
    p, t = shingles(predicted), shingles(truth)
    tp = sum((p & t).values())
    fp = sum(p.values()) - tp
    fn = sum(t.values()) - tp
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def score(pairs: Iterable[tuple[str, str]]) -> Score:
    """pairs: (predicted text, ground-truth text) per page; a missing prediction is ''."""
    precisions, recalls = [], []
    n = 0
    for predicted, truth in pairs:
        n += 1
        tp, fp, fn = page_counts(predicted, truth)
        if fp == 0 and fn == 0:
            precisions.append(1.0)
            recalls.append(1.0)
            continue
        if tp + fp > 0:
            precisions.append(tp / (tp + fp))
        if tp + fn > 0:
            recalls.append(tp / (tp + fn))
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    return Score(2 * p * r / (p + r) if p + r else 0.0, p, r, n)
