"""Long work shows progress: `newswatch ingest` prints one plain line per stage without a terminal
(cron, CI) and a live status line on one (a real pseudo-terminal here); the sinks themselves are
checked with an injected clock."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, local_source, write_config
from newswatch import progress

NEWSWATCH = str(Path(sys.executable).parent / "newswatch")


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_line_progress_prints_one_plain_line_per_stage():
    out, clock = io.StringIO(), FakeClock()
    sink = progress.LineProgress(out, clock)
    with progress.reporting(sink):
        progress.sources_due(3)
        progress.polled("a", 10, False, False)
        progress.polled("b\x1b[31m", 0, True, False)
        progress.polled("c", 0, False, True)
        clock.t += 2.0
        progress.polling_done()
        progress.stored(10, 8, 2)
        clock.t += 3.0
    lines = out.getvalue().splitlines()
    assert lines == [
        "ingest: polling 3 due sources",
        "ingest: 3 sources polled in 2.0 s (1 failed, 1 not modified); 10 new article URLs",
        "ingest: 10 pages fetched, 8 articles stored, 2 failed in 5.0 s (2.0 pages/s)",
    ]
    progress.stored(1, 1, 0)  # outside the block: nobody listens, nothing printed
    assert out.getvalue().count("\n") == 3


def _config(tmp_path, base) -> Path:
    return write_config(tmp_path / "cfg", "sources:\n" + local_source("golem", "rss", f"{base}/feeds/golem.rss",
                                                                       lang="de", max_items=4),
                        topics_yaml=(REPO / "config" / "topics.yaml").read_text(encoding="utf-8"))


@pytest.mark.flow
def test_ingest_without_a_terminal_prints_stage_lines_and_no_control_characters(site, corpus_server, tmp_path):
    cfg = _config(tmp_path, corpus_server.base)
    proc = subprocess.run([NEWSWATCH, "ingest", "--config-dir", str(cfg), "--db", str(tmp_path / "n.duckdb")],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours = [line for line in proc.stderr.splitlines() if line.startswith("ingest: ")]
    assert ours[0] == "ingest: polling 1 due source"
    assert ours[1].startswith("ingest: 1 sources polled in ") and "4 new article URLs" in ours[1]
    assert ours[2].startswith("ingest: 4 pages fetched, 4 articles stored, 0 failed in ")
    assert "\x1b" not in proc.stdout + proc.stderr and "\r" not in proc.stderr


@pytest.mark.flow
def test_ingest_on_a_terminal_shows_a_live_status_line(site, corpus_server, tmp_path):
    cfg = _config(tmp_path, corpus_server.base)
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm"}
    proc = subprocess.Popen([NEWSWATCH, "ingest", "--config-dir", str(cfg), "--db", str(tmp_path / "t.duckdb")],
                            stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    proc.stdout.read()
    assert proc.wait(timeout=60) == 0, seen[-3000:]
    os.close(master)
    text = seen.decode("utf-8", "replace")
    assert "sources 1/1 polled" in text and "pages/s" in text
    assert "pages 4 fetched, 4 stored, 0 failed" in text  # the final line, left on screen
    assert "ingest: polling" not in text  # the stage lines are for cron, not for a person
