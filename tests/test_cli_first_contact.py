"""What a newcomer meets first: commands that refuse a database that is not there instead of
creating an empty one, config errors and busy databases reported in one line before Prefect
starts, and Prefect's own start-up failure said plainly. Real console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO, write_config
from newswatch.cli import app
from newswatch.store import connect, writer_lock

NEWSWATCH = str(Path(sys.executable).parent / "newswatch")
RUNNER = CliRunner()
ALERTS = "subscribers:\n  - {name: desk, url_env: NW_FC_URL, topics: ['*'], cadence: instant}\n"


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([NEWSWATCH, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture()
def cfg(tmp_path):
    c = write_config(tmp_path / "cfg", "sources: []\n",
                     topics_yaml=(REPO / "config" / "topics.yaml").read_text(encoding="utf-8"))
    (c / "alerts.yaml").write_text(ALERTS, encoding="utf-8")
    return c


@pytest.mark.parametrize("args", [
    ["digest"], ["digest", "--preview", "PREVIEW"], ["reclassify"], ["query", "select 1"], ["status"],
    ["search", "japan"],
])
def test_commands_on_a_mistyped_db_refuse_and_create_nothing(cfg, tmp_path, args):
    missing = tmp_path / "typo" / "newswtch.duckdb"
    args = [str(tmp_path / "p.html") if a == "PREVIEW" else a for a in args]
    result = RUNNER.invoke(app, [*args, "--config-dir", str(cfg), "--db", str(missing)])
    assert result.exit_code == 2, result.output
    assert str(missing) in result.output and "no such database" in result.output
    assert not missing.exists() and not missing.parent.exists()
    assert not (tmp_path / "p.html").exists()


def test_reading_commands_do_not_fall_back_to_the_default_db_when_the_config_is_broken(tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "settings.yaml").write_text("lock_wait_s: [\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # a default data/newswatch.duckdb here would be found by a fallback
    connect(tmp_path / "data" / "newswatch.duckdb").close()
    monkeypatch.delenv("NEWSWATCH_DB", raising=False)
    for args in (["query", "select 1"], ["status"], ["search", "x"]):
        result = RUNNER.invoke(app, [*args, "--config-dir", str(bad)])
        assert result.exit_code == 2 and "settings.yaml" in result.output, (args, result.output)


def test_a_named_db_is_read_with_a_warning_when_the_config_is_broken(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "settings.yaml").write_text("lock_wait_s: [\n", encoding="utf-8")
    db = tmp_path / "n.duckdb"
    connect(db).close()
    result = RUNNER.invoke(app, ["query", "select 41 + 1 as answer", "--config-dir", str(bad), "--db", str(db)])
    assert result.exit_code == 0 and "42" in result.output and "warning: config not loaded" in result.output


@pytest.mark.flow
def test_config_error_is_one_line_before_prefect_starts(tmp_path):
    bad = write_config(tmp_path / "cfg", "sources:\n  - {name: a, kind: rss}\n")
    proc = run_cli("ingest", "--config-dir", str(bad), "--db", str(tmp_path / "x.duckdb"))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "sources.yaml" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and "temporary server" not in proc.stderr
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.flow
def test_a_second_run_gives_up_on_the_lock_in_one_line_without_starting_prefect(tmp_path):
    cfg = write_config(tmp_path / "cfg", "sources: []\n",
                       "read_timeout_s: 1.5\nconnect_timeout_s: 2\ntotal_timeout_s: 10\nlock_wait_s: 0\n")
    db = tmp_path / "busy.duckdb"
    with writer_lock(db):  # another run is writing
        proc = run_cli("ingest", "--config-dir", str(cfg), "--db", str(db))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "another newswatch run is writing" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "temporary server" not in proc.stderr


@pytest.mark.flow
def test_prefect_failing_to_start_is_one_clear_line(tmp_path):
    cfg = write_config(tmp_path / "cfg", "sources: []\n")
    # a zero start-up allowance is what a machine too busy for Prefect's server looks like
    proc = run_cli("ingest", "--prefect", "always", "--config-dir", str(cfg), "--db", str(tmp_path / "x.duckdb"),
                   env={"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0",
                        "PREFECT_HOME": str(tmp_path / "prefect")})
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "temporary API server did not start" in proc.stderr
