"""Quality gate on the labelled development set in ../shared/eval (read at run time, never copied).

The floor is pinned from the score reached when the classifier was tuned: macro-F1 may not fall
more than 0.03 below it. Re-pin only upwards.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newswatch.classify import compile_topics, evaluate, read_jsonl
from newswatch.config import load_config

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
DEV_SET = SHARED / "eval" / "classify-dev.jsonl"
REACHED_MACRO_F1 = 1.0  # dev-set macro-F1 when tuned (terms-1); see the classifier's report
ALLOWED_DROP = 0.03
# the targets for unseen articles; the dev set must at least meet them
MIN_PRECISION = 0.92
MIN_RECALL = 0.85


@pytest.fixture(scope="module")
def report():
    if not DEV_SET.exists():
        pytest.skip(f"{DEV_SET}: ../shared/ not found next to the repository (dev set is not shipped)")
    compiled = compile_topics(load_config(REPO / "config").topics)
    return evaluate(compiled, read_jsonl(DEV_SET))


def test_dev_macro_f1_does_not_fall_below_the_pinned_floor(report):
    assert report.macro_f1 >= REACHED_MACRO_F1 - ALLOWED_DROP, report.macro_f1


@pytest.mark.parametrize("topic", ["japan-benelux", "japan-china", "uk-japan-biotech"])
def test_dev_precision_and_recall_meet_the_targets(report, topic):
    scores = {t.topic: t for t in report.topics}[topic]
    assert scores.precision >= MIN_PRECISION and scores.recall >= MIN_RECALL, scores


def test_config_holds_no_sentence_of_the_dev_set():
    """Tuning the method, not pasting phrases: no 6-word run of a dev article is in topics.yaml."""
    if not DEV_SET.exists():
        pytest.skip(f"{DEV_SET}: ../shared/ not found next to the repository")
    config = _words((REPO / "config" / "topics.yaml").read_text(encoding="utf-8"))
    config_runs = {tuple(config[i : i + 6]) for i in range(len(config) - 5)}
    for item in read_jsonl(DEV_SET):
        words = _words(item["text"])
        runs = {tuple(words[i : i + 6]) for i in range(len(words) - 5)}
        assert not runs & config_runs, item["id"]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())
