"""The layout's promises, checked: Prefect only in flows/, only `fetch` imports httpx, only
`store` runs SQL (the CLI's query command aside)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "newswatch"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


MODULES = sorted(PKG.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_no_prefect_under_the_package(path):
    assert "prefect" not in imports(path)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_only_fetch_and_notify_talk_to_the_network(path):
    rel = path.relative_to(PKG).as_posix()
    if rel in ("fetch.py",):
        return
    assert not ({"httpx", "requests", "urllib3", "aiohttp"} & imports(path)), rel


def sql_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr in ("execute", "executemany", "sql", "query") and n.args]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_only_store_runs_sql(path):
    """Other stages may pass a connection through (type hints), but SQL lives in store/."""
    rel = path.relative_to(PKG).as_posix()
    if rel.startswith("store/") or rel == "cli/query.py":
        return
    assert sql_calls(path) == [], f"{rel} runs SQL at lines {sql_calls(path)}: move it into newswatch/store/"
