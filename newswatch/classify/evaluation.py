"""Reading JSONL articles and scoring the classifier against labelled ones."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from newswatch.classify.scoring import CompiledTopics, classify_batch
from newswatch.models import TopicMatch

NO_TOPIC = "none"


class InputError(ValueError):
    """A JSONL line that is not an article object; the message names the file and line."""


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as fh:
        return list(iter_jsonl(fh, str(path)))


def iter_jsonl(fh: TextIO, name: str = "<stdin>") -> Iterator[dict[str, Any]]:
    for n, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}:{n}: not JSON: {exc.msg} (fix: one JSON object per line)") from None
        if not isinstance(item, dict) or "id" not in item or not isinstance(item.get("text", ""), str):
            raise InputError(f'{name}:{n}: expected an object with "id" and "text" (fix: see `newswatch classify --help`)')
        yield item


def to_output(item_id: Any, matches: tuple[TopicMatch, ...]) -> dict[str, Any]:
    """The `classify` command's line for one article."""
    return {
        "id": item_id,
        "topics": [m.topic for m in matches if m.matched],
        "scores": {m.topic: m.score for m in matches},
        "evidence": {m.topic: list(m.evidence) for m in matches if m.evidence},
    }


def gold_labels(item: dict[str, Any]) -> frozenset[str]:
    """`[]` and `["none"]` both mean: no topic."""
    labels = item.get("labels") or []
    if isinstance(labels, str):
        labels = [labels]
    return frozenset(label for label in labels if label != NO_TOPIC)


@dataclass(frozen=True)
class TopicScores:
    topic: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Miss:
    item_id: Any
    gold: frozenset[str]
    predicted: frozenset[str]
    matches: tuple[TopicMatch, ...]


@dataclass(frozen=True)
class EvalReport:
    topics: tuple[TopicScores, ...]
    misses: tuple[Miss, ...]
    n_items: int

    @property
    def macro_f1(self) -> float:
        return sum(t.f1 for t in self.topics) / len(self.topics) if self.topics else 0.0


def evaluate(compiled: CompiledTopics, items: Iterable[dict[str, Any]]) -> EvalReport:
    items = list(items)
    results = classify_batch(compiled, items)
    names = [t.spec.name for t in compiled.topics]
    counts = {n: [0, 0, 0] for n in names}
    misses = []
    for item, matches in zip(items, results, strict=True):
        gold = gold_labels(item)
        predicted = frozenset(m.topic for m in matches if m.matched)
        for n in names:
            if n in predicted and n in gold:
                counts[n][0] += 1
            elif n in predicted:
                counts[n][1] += 1
            elif n in gold:
                counts[n][2] += 1
        if gold & set(names) != predicted:
            misses.append(Miss(item.get("id"), gold, predicted, matches))
    topics = tuple(TopicScores(n, *counts[n]) for n in names)
    return EvalReport(topics, tuple(misses), len(items))


def format_report(report: EvalReport) -> str:
    lines = [f"{report.n_items} articles", f"{'topic':<24} {'P':>6} {'R':>6} {'F1':>6}   tp fp fn"]
    for t in report.topics:
        lines.append(f"{t.topic:<24} {t.precision:6.3f} {t.recall:6.3f} {t.f1:6.3f}  {t.tp:3} {t.fp:2} {t.fn:2}")
    lines.append(f"{'macro-F1':<24} {'':>6} {'':>6} {report.macro_f1:6.3f}")
    lines.append(f"misclassified: {len(report.misses)}")
    for miss in report.misses:
        gold = ",".join(sorted(miss.gold)) or NO_TOPIC
        pred = ",".join(sorted(miss.predicted)) or NO_TOPIC
        lines.append(f"- {miss.item_id}: gold {gold}, predicted {pred}")
        for m in miss.matches:
            if m.topic in miss.gold | miss.predicted or m.evidence:
                lines.append(f"    {m.topic} score {m.score:.3f} terms {', '.join(m.terms[:8])}")
                lines.extend(f"      > {e}" for e in m.evidence)
    return "\n".join(lines)
