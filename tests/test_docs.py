"""Docs are checked: every CLI command is in the README and its --help carries an example;
the README's set-up and test commands are the ones .ci/run runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from newswatch.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(typer.main.get_command(app).commands)


def test_core_commands_exist():
    assert {"ingest", "run", "query"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_readme(name):
    assert f"`newswatch {name}" in README


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_an_example(name):
    res = CliRunner().invoke(app, [name, "--help"])
    assert res.exit_code == 0
    assert re.search(rf"Example:.*newswatch {name}", res.output, re.S), res.output


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    test_cmd = re.findall(r"```bash\n(.*?)\n```", README, re.S)[1].strip()
    assert test_cmd in ci
    assert "pytest" in test_cmd
