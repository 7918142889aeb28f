"""Typed, strict configuration from a config directory of YAML files.

`load_config(dir)` reads settings.yaml, sources.yaml, topics.yaml and alerts.yaml (each optional:
a missing file means defaults), applies `NEWSWATCH_*` environment overrides to settings, and
raises `ConfigError` whose message names the file, the key and a fix.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from newswatch.config.alerts import AlertsFile, unknown_topic_errors
from newswatch.config.errors import ConfigError, load_yaml_model
from newswatch.config.settings import LakeTarget, Settings
from newswatch.config.sources import SourceConfig, SourcesFile
from newswatch.config.topics import TopicsFile

DEFAULT_CONFIG_DIR = "config"
DEFAULT_DB_PATH = "data/newswatch.duckdb"
CONFIG_FILES = ("settings.yaml", "sources.yaml", "topics.yaml", "alerts.yaml")

__all__ = [
    "AppConfig",
    "ConfigError",
    "LakeTarget",
    "SourceConfig",
    "Settings",
    "load_config",
    "resolve_config_dir",
    "resolve_db_path",
]


@dataclass(frozen=True)
class AppConfig:
    config_dir: Path
    settings: Settings
    sources: SourcesFile
    topics: TopicsFile
    alerts: AlertsFile

    @property
    def topic_titles(self) -> dict[str, str]:
        """Each topic's human title (`title:` in topics.yaml) for digest headings; slugs otherwise."""
        return {t.name: t.title for t in self.topics.topics if getattr(t, "title", None)}


def resolve_config_dir(value: str | Path | None = None) -> Path:
    """--config-dir beats NEWSWATCH_CONFIG_DIR beats ./config; where none of them is given and
    there is no ./config, an installed package's example config (see setup.py) is used."""
    chosen = value or os.environ.get("NEWSWATCH_CONFIG_DIR")
    if chosen:
        return Path(chosen)
    here = Path(DEFAULT_CONFIG_DIR)
    packaged = Path(__file__).resolve().parents[1] / "default_config"
    return packaged if not here.exists() and packaged.is_dir() else here


def resolve_db_path(value: str | Path | None = None, settings: Settings | None = None) -> Path | LakeTarget:
    """--db beats NEWSWATCH_DB beats settings.yaml's storage/db_path beats the default.

    With `storage: ducklake` (and no --db or NEWSWATCH_DB naming a file) the answer is the lake;
    `store.connect` and `store.writer_lock` take either.
    """
    if value:
        return Path(value)
    if os.environ.get("NEWSWATCH_DB"):
        return Path(os.environ["NEWSWATCH_DB"])
    if settings is not None and settings.storage == "ducklake":
        return LakeTarget(settings.lake_catalog or "", settings.lake_data_path or "")
    if settings is not None and settings.db_path:
        return Path(settings.db_path)
    return Path(DEFAULT_DB_PATH)


def load_config(config_dir: str | Path | None = None) -> AppConfig:
    directory = resolve_config_dir(config_dir)
    if not directory.is_dir():
        raise ConfigError(
            f"{directory}: config directory not found "
            "(fix: pass --config-dir DIR or set NEWSWATCH_CONFIG_DIR to a folder with sources.yaml)"
        )
    _check_file_names(directory)
    settings = load_yaml_model(directory / "settings.yaml", Settings, env_prefix="NEWSWATCH_")
    sources = load_yaml_model(directory / "sources.yaml", SourcesFile)
    topics = load_yaml_model(directory / "topics.yaml", TopicsFile, base_dir=directory)
    alerts = load_yaml_model(directory / "alerts.yaml", AlertsFile)
    problems = unknown_topic_errors(alerts, [t.name for t in topics.topics])
    if problems:
        raise ConfigError("\n".join(f"{directory / 'alerts.yaml'}: {p}" for p in problems))
    return AppConfig(directory, settings, sources, topics, alerts)


def _check_file_names(directory: Path) -> None:
    """A YAML file the loader would not read is a mistake (`sources.yml` used to mean: no sources).

    Only *.yaml / *.yml entries that are not folders and not hidden are checked: a README, notes,
    editor backups (`sources.yaml~`, `.sources.yaml.swp`) and exemplar folders may live here.
    """
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name in CONFIG_FILES or name.startswith(".") or entry.suffix.lower() not in (".yaml", ".yml"):
            continue
        if entry.is_dir():
            continue
        guess = difflib.get_close_matches(name.lower().removesuffix(".yml").removesuffix(".yaml") + ".yaml",
                                          CONFIG_FILES, n=1, cutoff=0.7)
        expected = ", ".join(CONFIG_FILES)
        hint = f"did you mean {guess[0]}? " if guess else ""
        fix = f"rename it to {guess[0]}" if guess else "rename it to one of those, or move it out of this folder"
        raise ConfigError(f"{entry}: unknown config file, not read: {hint}newswatch reads only {expected} "
                          f"here (fix: {fix})")
