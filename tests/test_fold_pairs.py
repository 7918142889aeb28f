"""Fold precision and recall on the labelled pair set (bench/fold_pairs.py, from ../shared).

Precision first: no pair of different stories may be folded (a wrong fold hides news). Recall
floors are the figures measured when the rules were set (docs/digests.md); a change that folds
fewer true pairs fails here and must say why.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import fold_pairs  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (fold_pairs.DEV_SET.exists() and fold_pairs.CORPUS.exists()),
    reason=f"the pair set is built from {fold_pairs.SHARED} (development set and extraction corpus), absent here",
)


@pytest.fixture(scope="module")
def summary():
    return fold_pairs.summarize(fold_pairs.build())


def test_no_two_different_stories_are_folded(summary):
    assert summary["pairs"] > 19000 and summary["same_story_pairs"] >= 200
    assert summary["wrong"] == [] and summary["precision"] == 1.0


def test_recall_stays_at_its_measured_floors(summary):
    kinds = summary["by_kind"]
    assert kinds["corpus: one article, two extractions / syndicated copy"]["folded"] >= 180
    assert kinds["corpus: same story, two sites"]["folded"] >= 5
    assert summary["recall"] >= 0.92


def test_the_one_site_template_pairs_of_the_issue_are_kept_apart(summary):
    one_site = [kinds for name, kinds in summary["by_kind"].items() if "one site" in name]
    assert sum(k["pairs"] for k in one_site) >= 100 and sum(k["folded"] for k in one_site) == 0
