"""Commands import only what they need: `newswatch --help`, `status`, `query` and `search` start
without Prefect, trafilatura, apprise or httpx (a fresh interpreter per command, as from a shell)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from newswatch.store import connect

HEAVY = ("prefect", "trafilatura", "apprise", "httpx", "htmldate", "jinja2")
PROBE = """
import atexit, sys
atexit.register(lambda: print("LOADED", *sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr))
sys.argv = ["newswatch", *{args!r}]
from newswatch.cli import main
main()
"""


def loaded(args: list[str]) -> tuple[int, list[str]]:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY, args=args)], capture_output=True,
                          text=True, timeout=300)
    line = next(line for line in proc.stderr.splitlines() if line.startswith("LOADED"))
    return proc.returncode, line.split()[1:]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("cold") / "c.duckdb"
    connect(path).close()
    return str(path)


@pytest.mark.parametrize("args", [["--help"], ["status", "--db", "DB"], ["query", "select 1", "--db", "DB"],
                                  ["search", "japan", "--db", "DB"]], ids=lambda a: a[0])
def test_command_starts_without_the_heavy_libraries(db, args):
    code, modules = loaded([db if a == "DB" else a for a in args])
    assert code == 0
    assert modules == []
