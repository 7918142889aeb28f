"""`newswatch serve` as an operator sees it: one line per flow run it starts and finishes, and a
clean stop on SIGTERM (no "coroutine 'Runner.astop' was never awaited", exit 0, server stopped).
Real console script, its own Prefect server on a free 127.0.0.1 port, a run triggered by the API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, local_source, write_config
from servers import free_port

BIN = Path(sys.executable).parent


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout_s: float = 400) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return content
        assert proc.poll() is None, f"serve exited early ({proc.returncode}): {content[-3000:]}"
        time.sleep(0.5)
    raise AssertionError(f"never saw {text!r}: {content[-3000:]}")


def children(pid: int) -> list[int]:
    pids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(c) for c in (task / "children").read_text().split()]
    return pids


def wait_completed(proc: subprocess.Popen, before: set[int], timeout_s: float = 120) -> None:
    """Until the flow-run process serve started for the run has exited (its final state reported)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not set(children(proc.pid)) - before:
            return
        assert proc.poll() is None
        time.sleep(0.5)
    raise AssertionError("the flow-run process never exited")


@pytest.mark.flow
def test_serve_prints_a_line_per_run_and_stops_cleanly(site, corpus_server, tmp_path):
    cfg = write_config(tmp_path / "cfg", "sources:\n" + local_source(
        "golem", "rss", f"{corpus_server.base}/feeds/golem.rss", lang="de", max_items=3),
        topics_yaml=(REPO / "config" / "topics.yaml").read_text(encoding="utf-8"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), NEWSWATCH_PREFECT_PORT=str(port))
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen([str(BIN / "newswatch"), "serve", "--config-dir", str(cfg),
                                 "--db", str(tmp_path / "s.duckdb")], stdout=o, stderr=e, env=env,
                                stdin=subprocess.DEVNULL)
    try:
        wait_for(out, "serving ingest/ingest", proc)
        before = set(children(proc.pid))  # the Prefect server serve started
        api = {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
        subprocess.run([str(BIN / "prefect"), "deployment", "run", "ingest/ingest"], env=api, check=True,
                       capture_output=True, timeout=120)
        text = wait_for(out, ": finished in ", proc)
        started = [line for line in text.splitlines() if line.startswith("ingest run ") and line.endswith(": started")]
        finished = [line for line in text.splitlines() if line.startswith("ingest run ") and ": finished in " in line]
        assert len(started) == 1 and len(finished) == 1, text
        assert finished[0].endswith(": 3 new articles, 0 failures"), finished[0]
        # the run prints its line, then reports its final state: stop serve once that is done
        # (stopping cancels runs still going, whose engine then prints its own traceback)
        wait_completed(proc, before)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:  # a failed check: stop it the graceful way first, so its server stops too
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    errors = err.read_text(errors="replace")
    assert "never awaited" not in errors and "Traceback" not in errors, errors[-3000:]
    assert out.read_text().rstrip().endswith("stopped")
