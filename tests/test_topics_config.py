"""topics.yaml: the strict model, errors that name file/topic/key, and edits that change results."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.classify import classify_article, compile_topics, topic_version
from newswatch.classify.scoring import CLASSIFIER_VERSION
from newswatch.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]

BASE_YAML = """
groups:
  japan: {place: true, terms: [japan*, 日本]}
  belgium: {place: true, terms: [belgi*]}
  pharma: {terms: [pharma*, drug*]}
topics:
  - name: jb
    threshold: 0.5
    rules:
      - together: [japan, belgium]
        with: [pharma]
"""


def write_config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "topics.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(write_config(tmp_path, text))
    return str(exc.value)


def test_shipped_config_defines_the_three_seed_topics():
    topics = load_config(REPO / "config").topics
    assert [t.name for t in topics.topics] == ["japan-benelux", "japan-china", "uk-japan-biotech"]


def test_unknown_group_in_a_rule_names_file_topic_and_key(tmp_path):
    msg = load_error(tmp_path, BASE_YAML.replace("with: [pharma]", "with: [farma]"))
    assert "topics.yaml" in msg
    assert "topics[0].rules[0].with" in msg
    assert "(name: jb)" in msg
    assert "farma" in msg


def test_unknown_key_names_the_topic(tmp_path):
    msg = load_error(tmp_path, BASE_YAML.replace("threshold: 0.5", "treshold: 0.5"))
    assert "topics[0].treshold (name: jb): unknown key" in msg


def test_threshold_outside_0_1_is_refused(tmp_path):
    msg = load_error(tmp_path, BASE_YAML.replace("threshold: 0.5", "threshold: 1.5"))
    assert "topics[0].threshold (name: jb)" in msg


def test_missing_exemplar_file_names_the_path_key(tmp_path):
    msg = load_error(tmp_path, BASE_YAML + "    exemplars: [examples/missing.txt]\n")
    assert "topics[0].exemplars[0].path (name: jb)" in msg
    assert "missing.txt" in msg


def test_invalid_regex_term_names_the_group_and_term(tmp_path):
    msg = load_error(tmp_path, BASE_YAML.replace("terms: [pharma*, drug*]", "terms: [pharma*, 're:(unclosed']"))
    assert "groups.pharma.terms[1].term" in msg
    assert "regular expression" in msg


def test_duplicate_topic_names_are_refused(tmp_path):
    dup = BASE_YAML + "  - name: jb\n    rules: [{together: [japan]}]\n"
    assert "duplicate topic name 'jb'" in load_error(tmp_path, dup)


def test_exemplar_file_is_read_relative_to_the_config_folder(tmp_path):
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "one.txt").write_text("Japanese drugmaker buys Belgian biotech.", encoding="utf-8")
    topics = load_config(write_config(tmp_path, BASE_YAML + "    exemplars: [ex/one.txt]\n")).topics
    compiled = compile_topics(topics)
    assert compiled.by_name["jb"].exemplar_vector


def test_editing_the_yaml_changes_the_result_and_the_version(tmp_path):
    text = "Japanese drugmaker Kyowa opens a plant in Belgium to make drugs for Europe."
    before = compile_topics(load_config(write_config(tmp_path, BASE_YAML)).topics)
    assert classify_article(before, "Kyowa in Belgium", text)[0].matched

    # require a term the article lacks: the same article no longer matches
    stricter = BASE_YAML.replace("with: [pharma]", "with: [pharma, space]").replace(
        "  pharma: {terms: [pharma*, drug*]}", "  pharma: {terms: [pharma*, drug*]}\n  space: {terms: [satellite*]}"
    )
    after = compile_topics(load_config(write_config(tmp_path, stricter)).topics)
    assert not classify_article(after, "Kyowa in Belgium", text)[0].matched
    assert topic_version(before, "jb") != topic_version(after, "jb")


def test_version_is_stable_for_the_same_config(tmp_path):
    cfg = write_config(tmp_path, BASE_YAML)
    a = compile_topics(load_config(cfg).topics)
    b = compile_topics(load_config(cfg).topics)
    assert topic_version(a, "jb") == topic_version(b, "jb")
    assert topic_version(a, "jb").startswith(f"{CLASSIFIER_VERSION}+")  # code version + config hash
