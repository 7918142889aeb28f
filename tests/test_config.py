"""config: strict YAML with errors that name file, key and fix; env overrides; defaults."""

from __future__ import annotations

import pytest

from newswatch.config import ConfigError, load_config, resolve_db_path

REPO_CONFIG = __import__("pathlib").Path(__file__).resolve().parents[1] / "config"


def test_repository_config_is_valid():
    cfg = load_config(REPO_CONFIG)
    assert len(cfg.sources.sources) >= 10
    kinds = {s.kind for s in cfg.sources.sources}
    assert kinds == {"rss", "sitemap", "html_index"}
    langs = {s.lang for s in cfg.sources.sources}
    assert {"en", "nl", "de", "ja"} <= langs


def test_missing_optional_files_mean_defaults(tmp_path):
    cfg = load_config(tmp_path)
    assert cfg.sources.sources == () and cfg.settings.retries == 2


def test_missing_config_dir_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="--config-dir"):
        load_config(tmp_path / "nope")


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("sources:\n  - {name: a, kind: rss, url: 'http://x.org/f', colour: red}\n",
         "sources.yaml: sources[0].colour (name: a): unknown key (fix: remove it"),
        ("sources:\n  - {name: a, kind: atom, url: 'http://x.org/f'}\n", "sources[0] (name: a):"),
        ("sources:\n  - {name: a, kind: rss, url: 'ftp://x.org/f'}\n", "sources[0].url (name: a):"),
        ("sources:\n  - {name: a, kind: rss}\n", "sources[0].url (name: a): Field required (fix: add this key)"),
        ("sources:\n  - {name: a, kind: rss, url: 'http://x.org/1'}\n  - {name: a, kind: rss, url: 'http://x.org/2'}\n",
         "duplicate source name 'a'"),
        ("sources: [\n", "invalid YAML"),
        ("sources:\n  - {name: a, kind: rss, url: 'https://bob:s3cret@x.org/f'}\n",
         "sources[0].url (name: a): Value error, a source URL must not carry a user name or password"),
    ],
)
def test_invalid_sources_name_file_key_and_fix(tmp_path, yaml_text, expected):
    (tmp_path / "sources.yaml").write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(tmp_path / "sources.yaml") in str(info.value)
    assert expected in str(info.value)


def test_settings_env_override(tmp_path, monkeypatch):
    (tmp_path / "settings.yaml").write_text("retries: 4\n")
    monkeypatch.setenv("NEWSWATCH_RETRIES", "7")
    assert load_config(tmp_path).settings.retries == 7


def test_invalid_setting_is_named(tmp_path):
    (tmp_path / "settings.yaml").write_text("max_per_host: 0\n")
    with pytest.raises(ConfigError, match=r"settings.yaml: max_per_host: Input should be greater than or equal to 1"):
        load_config(tmp_path)


def test_db_path_precedence(tmp_path, monkeypatch):
    (tmp_path / "settings.yaml").write_text("db_path: from-settings.duckdb\n")
    settings = load_config(tmp_path).settings
    monkeypatch.delenv("NEWSWATCH_DB", raising=False)
    assert str(resolve_db_path(None, settings)) == "from-settings.duckdb"
    monkeypatch.setenv("NEWSWATCH_DB", "from-env.duckdb")
    assert str(resolve_db_path(None, settings)) == "from-env.duckdb"
    assert str(resolve_db_path("cli.duckdb", settings)) == "cli.duckdb"


def test_commented_example_subscriber_in_alerts_yaml_is_valid(tmp_path):
    """config/alerts.yaml ships its example commented out (so a fresh `newswatch run` ends cleanly);
    uncommenting it, as the file says to, must give a valid subscriber."""
    text = (REPO_CONFIG / "alerts.yaml").read_text(encoding="utf-8")
    example = text.split("# subscribers:\n", 1)[1]
    uncommented = "subscribers:\n" + "\n".join(line[2:] if line.startswith("# ") else line
                                                for line in example.splitlines())
    (tmp_path / "alerts.yaml").write_text(uncommented, encoding="utf-8")
    subs = load_config(tmp_path).alerts.subscribers
    assert [s.name for s in subs] == ["japan-desk"] and subs[0].url_env == ("NEWSWATCH_ALERT_EMAIL_URL",)
    assert load_config(REPO_CONFIG).alerts.subscribers == ()
