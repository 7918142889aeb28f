"""Scores that rank: the classifier's score spreads above the match threshold (the match decision is
unchanged), a story whose partner country stands in the title and lead outranks a passing mention,
and a digest orders each topic by score, then date (newest first)."""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.classify import classify_article, compile_topics
from newswatch.classify.scoring import calibrated_score
from newswatch.config.errors import load_yaml_model
from newswatch.config.topics import TopicsFile
from newswatch.digest.fold import select_items
from newswatch.digest.model import DigestItem

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import calibration  # noqa: E402

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def compiled():
    return compile_topics(load_yaml_model(REPO / "config" / "topics.yaml", TopicsFile))


def test_calibrated_score_keeps_every_match_decision_and_is_monotone():
    for scale in (0.8, 1.6, 3.0):
        for threshold in (0.3, 0.5, 0.8):
            prev = -1.0
            for i in range(0, 4000):
                e = i / 100
                s = calibrated_score(e, scale, threshold)
                raw = 1 - math.exp(-e / scale)
                assert (s >= threshold) == (round(raw, 4) >= threshold) or abs(raw - threshold) < 1e-4
                assert 0.0 <= s <= 1.0 and s >= prev - 1e-9
                prev = s
    # the top is no longer flat: strong and very strong evidence read differently
    assert f"{calibrated_score(6.0, 1.6, 0.5):.2f}" != f"{calibrated_score(10.0, 1.6, 0.5):.2f}"
    assert calibrated_score(10.0, 1.6, 0.5) < 0.97


def test_partner_country_in_title_and_lead_outranks_a_passing_mention(compiled):
    central = classify_article(compiled, "Japanese drugmaker Eisai opens research lab in Leiden, the Netherlands", (
        "Japanese drugmaker Eisai has opened a research laboratory in Leiden, the Netherlands. "
        "The Dutch lab will work on dementia drugs with Leiden University. "
        "Eisai said the Netherlands offered the best pharma research environment in Europe."), "en")
    passing = classify_article(compiled, "Leiden Bio Science Park reports a record year", (
        "The Leiden Bio Science Park welcomed twelve new companies this year. "
        "Its hospitals and university labs hired four hundred researchers. "
        "Among the newcomers, a Japanese drugmaker opened a small pharma research office in the Dutch park. "
        "The park expects more growth in biotech next year."), "en")
    c = next(m for m in central if m.topic == "japan-benelux")
    p = next(m for m in passing if m.topic == "japan-benelux")
    assert c.matched and c.score > p.score + 0.1


@pytest.mark.skipif(not calibration.DEV_SET.exists(), reason=f"needs the development set at {calibration.DEV_SET}")
def test_dev_set_reliability_rises_with_the_score_and_matched_scores_spread():
    rows = calibration.scored()
    table = [t for t in calibration.reliability(rows) if t["pairs"]]
    shares = [t["share_relevant"] for t in table]
    assert shares == sorted(shares)  # a higher band is never less likely relevant
    matched = [f"{r['score']:.2f}" for r in rows if r["matched"]]
    assert len(matched) >= 35
    assert matched.count("1.00") == 0 and len(set(matched)) >= 0.6 * len(matched)


def test_within_a_topic_items_are_ordered_by_score_then_newest_first():
    def item(aid, title, score, hours):
        return DigestItem(aid, f"https://n.example/{aid}", f"s{aid}", title, "t", score,
                          published_at=NOW - timedelta(hours=hours), text_sample=f"text {aid}")

    sections, _ = select_items([item("old", "Port of Rotterdam signs hydrogen deal", 0.7, 30),
                                item("top", "Astellas buys Belgian biotech Ogeda", 0.9, 40),
                                item("new", "Eisai opens dementia lab in Leiden", 0.7, 1)], ["t"], 10)
    assert [i.article_id for i in sections[0].items] == ["top", "new", "old"]
