"""Which way `newswatch ingest` runs: directly (no Prefect server to talk to: no temporary API
server is started, the run is recorded in DuckDB) or as a Prefect flow (PREFECT_API_URL set,
`newswatch serve`'s server answering, or --prefect always). Real console script and servers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, local_source, write_config
from newswatch.cli.ingest import prefect_api_url
from servers import free_port

NEWSWATCH = str(Path(sys.executable).parent / "newswatch")


def run_ingest(cfg: Path, db: Path, home: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), NEWSWATCH_PREFECT_PORT=str(free_port()))  # nothing listens there
    return subprocess.run([NEWSWATCH, "ingest", "--config-dir", str(cfg), "--db", str(db), *extra],
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture()
def cfg(site, corpus_server, tmp_path):
    return write_config(tmp_path / "cfg", "sources:\n" + local_source(
        "golem", "rss", f"{corpus_server.base}/feeds/golem.rss", lang="de", max_items=2),
        topics_yaml=(REPO / "config" / "topics.yaml").read_text(encoding="utf-8"))


def runs(db: Path) -> list[tuple]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute("select flow, status from runs").fetchall()
    finally:
        conn.close()


def test_without_a_server_ingest_runs_directly_and_starts_no_prefect(cfg, tmp_path):
    home = tmp_path / "prefect-home"
    proc = run_ingest(cfg, tmp_path / "d.duckdb", home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert runs(tmp_path / "d.duckdb") == [("ingest", "completed")]
    assert "2 articles stored" in proc.stderr
    assert not (home / "prefect.db").exists()  # no temporary API server, no Prefect database
    assert "temporary server" not in proc.stderr


@pytest.mark.flow
def test_prefect_always_records_the_run_in_prefect_too(cfg, tmp_path):
    home = tmp_path / "prefect-home"
    proc = run_ingest(cfg, tmp_path / "p.duckdb", home, "--prefect", "always")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert runs(tmp_path / "p.duckdb") == [("ingest", "completed")]
    db = sqlite3.connect(home / "prefect.db")
    try:
        names = db.execute("select f.name, r.state_type from flow_run r join flow f on f.id = r.flow_id").fetchall()
    finally:
        db.close()
    assert names == [("ingest", "COMPLETED")]


class _Health(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")


def test_serve_server_on_loopback_is_found_and_nothing_else(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("NEWSWATCH_PREFECT_PORT", str(free_port()))
    assert prefect_api_url() is None  # nothing listens: run directly
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("NEWSWATCH_PREFECT_PORT", str(srv.server_address[1]))
        assert prefect_api_url() == f"http://127.0.0.1:{srv.server_address[1]}/api"
        monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")  # an explicit server wins
        assert prefect_api_url() == "http://127.0.0.1:1/api"
    finally:
        srv.shutdown()
        srv.server_close()
