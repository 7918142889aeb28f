"""A built wheel works from any folder: it carries sql/ (migrations, views) and the example
config, and `newswatch run` in a fresh virtualenv, run from an empty folder, migrates a new
database and ends cleanly with the source's failure recorded (no network: a closed local port)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # a copy of the tree, so the build leaves no build/ or egg-info in the working copy
    src = out / "src"
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO / name).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(src)], check=True, capture_output=True, timeout=600)
    (whl,) = out.glob("newswatch-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed; its dependencies are borrowed from this
    environment's site-packages (a path entry: the editable newswatch there is not activated)."""
    root = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    purelib = Path(subprocess.run([str(root / "bin" / "python"), "-c",
                                   "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    (purelib / "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install", "-q",
                    "--no-deps", str(wheel)], check=True, capture_output=True, timeout=300)
    return root


def in_venv(venv: Path, args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "PYTHONPATH", "VIRTUAL_ENV"))}
    env["PREFECT_HOME"] = str(cwd / ".prefect")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_wheel_carries_sql_and_the_example_config(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("newswatch/sql/migrations/0001_") for n in names)
    assert "newswatch/sql/views/10_articles_latest.sql" in names
    assert "newswatch/default_config/topics.yaml" in names
    assert any(n.startswith("newswatch/templates/") for n in names)


def test_installed_package_reads_its_own_sql_and_config_from_any_folder(venv, tmp_path):
    probe = ("import newswatch, newswatch.store.db as d; from newswatch.config import load_config; "
             "c = load_config(); print(newswatch.__file__); print(d.SQL_DIR); print(c.config_dir); "
             "print(len(c.topics.topics))")
    proc = in_venv(venv, [str(venv / "bin" / "python"), "-c", probe], tmp_path)
    assert proc.returncode == 0, proc.stderr
    module, sql_dir, config_dir, n_topics = proc.stdout.split("\n")[:4]
    assert str(REPO) not in module and module.startswith(str(venv))
    assert sql_dir.startswith(str(venv)) and (Path(sql_dir) / "migrations").is_dir()
    assert config_dir.startswith(str(venv)) and int(n_topics) >= 3


@pytest.mark.flow
def test_newswatch_run_from_the_wheel_migrates_and_ends_cleanly_offline(venv, tmp_path):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "sources.yaml").write_text(
        f"sources:\n  - {{name: local, kind: rss, url: 'http://127.0.0.1:{closed_port()}/rss', "
        "allow_private_addresses: true}\n", encoding="utf-8")
    (cfg / "settings.yaml").write_text("connect_timeout_s: 2\nread_timeout_s: 2\ntotal_timeout_s: 5\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc = in_venv(venv, [str(venv / "bin" / "newswatch"), "run", "--config-dir", str(cfg)], work)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    conn = duckdb.connect(str(work / "data" / "newswatch.duckdb"), read_only=True)
    try:
        assert conn.execute("select count(*) from schema_migrations").fetchone()[0] >= 4
        assert conn.execute("select status from runs").fetchall() == [("completed",)]
        failures = conn.execute("select source, error_kind, error from fetches where purpose <> 'robots'").fetchall()
        assert len(failures) == 1 and failures[0][0] == "local" and failures[0][1] and failures[0][2]
        assert conn.execute("select count(*) from source_health").fetchone() == (1,)
    finally:
        conn.close()
