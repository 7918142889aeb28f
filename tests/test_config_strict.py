"""config is strict everywhere: every mistake below used to pass silently (or end in a traceback) and
is now a ConfigError that reads `<file>: <key>: <problem> (fix: ...)`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from newswatch.config import ConfigError, load_config

SOURCE = "sources:\n  - {name: wire, kind: rss, url: 'http://127.0.0.1/feed'}\n"
TOPICS = """
groups:
  japan: {terms: [japan]}
  china: {terms: [china]}
topics:
  - name: japan-china
    rules: [{together: [japan, china]}]
  - name: japan-only
    rules: [{together: [japan]}]
"""


def subscriber(topics: str) -> str:
    return f"subscribers:\n  - {{name: desk, url_env: [DESK_URL], cadence: hourly, topics: {topics}}}\n"


def error(directory: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(directory)
    return str(info.value)


# --- a subscriber's topics must exist -----------------------------------------------------------

def test_a_subscriber_naming_an_unknown_topic_is_an_error_with_the_closest_name(tmp_path):
    (tmp_path / "topics.yaml").write_text(TOPICS)
    (tmp_path / "alerts.yaml").write_text(subscriber("[japan-only, japan-chna]"))
    msg = error(tmp_path)
    assert msg.startswith(f"{tmp_path / 'alerts.yaml'}: subscribers[0].topics[1] (name: desk): ")
    assert "unknown topic 'japan-chna'" in msg and "did you mean 'japan-china'?" in msg and "(fix: " in msg


def test_an_unknown_topic_far_from_any_name_lists_the_defined_ones(tmp_path):
    (tmp_path / "topics.yaml").write_text(TOPICS)
    (tmp_path / "alerts.yaml").write_text(subscriber("[biotech]"))
    msg = error(tmp_path)
    assert "subscribers[0].topics[0]" in msg and "unknown topic 'biotech'" in msg
    assert "japan-china, japan-only" in msg


def test_a_subscriber_naming_a_topic_when_none_is_defined_is_an_error(tmp_path):
    (tmp_path / "alerts.yaml").write_text(subscriber("[japan-china]"))
    assert "unknown topic 'japan-china'" in error(tmp_path)


def test_known_topics_and_the_star_are_valid(tmp_path):
    (tmp_path / "topics.yaml").write_text(TOPICS)
    (tmp_path / "alerts.yaml").write_text(subscriber("[japan-china]") + subscriber("['*']").replace(
        "subscribers:\n", "").replace("name: desk", "name: all"))
    subs = load_config(tmp_path).alerts.subscribers
    assert [s.topics for s in subs] == [("japan-china",), ("*",)]


# --- unknown files in the config folder ---------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("sources.yml", "did you mean sources.yaml?"),
    ("topic.yaml", "did you mean topics.yaml?"),
    ("Settings.YAML", "did you mean settings.yaml?"),
    ("feeds.yaml", "settings.yaml, sources.yaml, topics.yaml, alerts.yaml"),
])
def test_an_unknown_yaml_file_in_the_config_folder_is_an_error_naming_the_expected_file(tmp_path, name, expected):
    (tmp_path / name).write_text(SOURCE)
    msg = error(tmp_path)
    assert msg.startswith(f"{tmp_path / name}: ") and expected in msg and "(fix: " in msg


def test_other_files_and_folders_in_the_config_folder_are_ignored(tmp_path):
    (tmp_path / "sources.yaml").write_text(SOURCE)
    (tmp_path / "README.md").write_text("# my config\n")
    (tmp_path / ".sources.yaml.swp").write_text("binary junk")
    (tmp_path / "sources.yaml~").write_text("an editor backup")
    (tmp_path / "exemplars").mkdir()
    (tmp_path / "exemplars" / "other.yaml").write_text("not config: exemplars and notes may live here")
    assert [s.name for s in load_config(tmp_path).sources.sources] == ["wire"]


# --- environment overrides ----------------------------------------------------------------------

def test_a_bad_environment_override_names_the_variable_not_settings_yaml(tmp_path, monkeypatch):
    (tmp_path / "settings.yaml").write_text("max_per_host: 4\n")
    monkeypatch.setenv("NEWSWATCH_MAX_PER_HOST", "abc")
    msg = error(tmp_path)
    assert msg.startswith("environment variable NEWSWATCH_MAX_PER_HOST (overrides max_per_host in ")
    assert "valid integer" in msg and "(fix: " in msg and "NEWSWATCH_MAX_PER_HOST" in msg.split("(fix: ")[1]
    assert "abc" not in msg  # an environment value may be a secret: never echoed


def test_a_bad_value_in_settings_yaml_is_still_blamed_on_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("NEWSWATCH_MAX_PER_HOST", raising=False)
    (tmp_path / "settings.yaml").write_text("max_per_host: abc\n")
    assert error(tmp_path).startswith(f"{tmp_path / 'settings.yaml'}: max_per_host: ")


# --- the files themselves -----------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_a_dangling_sources_symlink_is_an_error(tmp_path):
    (tmp_path / "sources.yaml").symlink_to(tmp_path / "shared" / "sources.yaml")
    msg = error(tmp_path)
    assert msg.startswith(f"{tmp_path / 'sources.yaml'}: ") and "symbolic link" in msg
    assert str(tmp_path / "shared" / "sources.yaml") in msg and "(fix: " in msg


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_a_looping_sources_symlink_is_an_error(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "sources.yaml").symlink_to(tmp_path / "elsewhere" / "partner")
    (tmp_path / "elsewhere" / "partner").symlink_to(tmp_path / "sources.yaml")
    msg = error(tmp_path)
    assert msg.startswith(f"{tmp_path / 'sources.yaml'}: symbolic link loop") and "(fix: " in msg


def test_a_working_sources_symlink_is_followed(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "sources.yaml").write_text(SOURCE)
    (tmp_path / "sources.yaml").symlink_to(tmp_path / "real" / "sources.yaml")
    assert [s.name for s in load_config(tmp_path).sources.sources] == ["wire"]


def test_a_directory_in_place_of_sources_yaml_is_an_error_not_a_traceback(tmp_path):
    (tmp_path / "sources.yaml").mkdir()
    msg = error(tmp_path)
    assert msg.startswith(f"{tmp_path / 'sources.yaml'}: ") and "is a directory" in msg and "(fix: " in msg


@pytest.mark.parametrize(("text", "key", "line"), [
    ("sources:\n  - {name: a, kind: rss, url: 'http://x.org/1', url: 'http://x.org/2'}\n", "sources[0].url", 2),
    ("retries: 2\nmax_per_host: 4\nretries: 3\n", "retries", 3),
    ("sources:\n  - name: a\n    kind: rss\n    url: 'http://x.org/1'\n  - name: b\n    kind: rss\n"
     "    url: 'http://x.org/2'\n    kind: sitemap\n", "sources[1].kind", 8),
])
def test_duplicate_yaml_keys_are_an_error_naming_file_key_and_line(tmp_path, text, key, line):
    name = "settings.yaml" if text.startswith("retries") else "sources.yaml"
    (tmp_path / name).write_text(text)
    msg = error(tmp_path)
    assert msg.startswith(f"{tmp_path / name}: line {line}: {key}: duplicate key"), msg
    assert "(fix: " in msg


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - &a {name: a, kind: rss, url: 'http://x.org/1'}\n  - {<<: *a, name: b}\n")
    assert [s.name for s in load_config(tmp_path).sources.sources] == ["a", "b"]


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN", "+.Inf"])
@pytest.mark.parametrize("key", ["read_timeout_s", "total_timeout_s", "connect_timeout_s", "lock_wait_s"])
def test_non_finite_numbers_are_rejected_in_settings(tmp_path, key, value):
    (tmp_path / "settings.yaml").write_text(f"{key}: {value}\n")
    msg = error(tmp_path)
    assert msg.startswith(f"{tmp_path / 'settings.yaml'}: {key}: ")
    assert "should be a finite number" in msg and "(fix: " in msg


def test_non_finite_numbers_are_rejected_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSWATCH_LOCK_WAIT_S", "inf")
    msg = error(tmp_path)
    assert msg.startswith("environment variable NEWSWATCH_LOCK_WAIT_S") and "should be a finite number" in msg


def test_non_finite_numbers_are_rejected_in_every_file(tmp_path):
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - {name: a, kind: rss, url: 'http://x.org/1', interval: .inf}\n")
    msg = error(tmp_path)
    assert msg.startswith(f"{tmp_path / 'sources.yaml'}: sources[0].interval (name: a): ")
    assert "should be a finite number" in msg
