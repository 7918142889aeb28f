"""Overlap: ingest and digest processes started at once against one DuckDB file.

DuckDB allows one writer process per file, so every run takes `<db>.lock` first
(`newswatch.store.writer_lock`): a run that finds it taken waits up to `lock_wait_s` with a
message, or gives up with `DatabaseBusyError` and a message saying why. Digests claim their
items before sending, so overlapping digest runs never send an article twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, local_source, require_corpus, write_config
from servers import CorpusServer, WebhookReceiver, build_site

pytestmark = pytest.mark.flow

RUN_TIMEOUT_S = 150
WAIT_MESSAGE = "another newswatch run is writing to"
SKIP_MESSAGE = "gave up after waiting 0 s"


@pytest.fixture
def receiver():
    with WebhookReceiver() as hook:
        yield hook


@pytest.fixture(scope="module")
def site_server():
    require_corpus()
    with CorpusServer(build_site) as srv:
        yield srv


SEED_TITLES = ("Offshore wind auction in Denmark", "Grid operator approves North Sea cable",
               "Hydrogen plant opens in Rotterdam", "Solar tariff cut announced in Spain")


def seed(db: Path, n: int = len(SEED_TITLES)) -> set[str]:
    """Articles already scored as matching, so the digests have something to send at once."""
    from newswatch.store import connect

    now = datetime.now(timezone.utc) - timedelta(hours=1)
    conn = connect(db)
    for i in range(n):
        aid = f"seed{i:028d}"
        conn.execute("insert into articles (article_id, url, fetched_url, source, title, published_at, fetched_at, "
                     "lang, text, content_hash, extraction_method) values (?, ?, ?, 'seed', ?, ?, ?, 'en', ?, ?, "
                     "'feed_content')", [aid, f"https://seed.example/{i}", f"https://seed.example/{i}",
                                         SEED_TITLES[i], now, now, f"{SEED_TITLES[i]}. " * (i + 3), f"h{i}"])
        conn.execute("insert into article_topics (article_id, topic, score, is_match, terms, evidence, "
                     "classifier_version) values (?, 'energy', 0.9, true, '[\"wind\"]', '[\"wind\"]', 'test')", [aid])
    conn.close()
    return {f"seed{i:028d}" for i in range(n)}


def start(argv: list[str], log: Path, env: dict) -> subprocess.Popen:
    out = log.open("wb")
    return subprocess.Popen([sys.executable, *argv], stdout=out, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def finish(proc: subprocess.Popen) -> int:
    try:
        return proc.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        raise


def wait_for_text(path: Path, text: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while text not in path.read_text(errors="replace"):
        assert proc.poll() is None, f"{path.name} ended before saying {text!r}: {path.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"{path.name} never said {text!r}"
        time.sleep(0.1)


def test_two_ingests_and_two_digests_at_once_wait_in_turn_and_send_each_article_once(
    site_server, receiver, tmp_path
):
    from newswatch.store import writer_lock

    base = site_server.base
    sources = ("sources:\n" + local_source("guardian", "rss", f"{base}/feeds/guardian.rss", lang="en")
               + local_source("sitemap", "sitemap", f"{base}/sitemap.xml", max_items=500))
    topics = (REPO / "config" / "topics.yaml").read_text(encoding="utf-8")
    timeouts = "read_timeout_s: 2\nconnect_timeout_s: 2\ntotal_timeout_s: 10\nbackoff_s: 0.05\n"
    cfg = write_config(tmp_path / "cfg", sources, timeouts + "lock_wait_s: 120\n", topics)
    impatient = write_config(tmp_path / "cfg0", sources, timeouts + "lock_wait_s: 0\n", topics)
    for c in (cfg, impatient):
        (c / "alerts.yaml").write_text("subscribers:\n  - {name: desk, url_env: NW_OVERLAP_URL, topics: ['*'], "
                                       "cadence: instant, max_items: 500}\n")
    db = tmp_path / "news.duckdb"
    seeded = seed(db)
    env = {**os.environ, "NW_OVERLAP_URL": f"json://127.0.0.1:{receiver.port}/hook"}
    ingest = [str(REPO / "flows" / "ingest.py"), "--db", str(db), "--config-dir"]
    digest = [str(REPO / "flows" / "digest.py"), "--db", str(db), "--config-dir", str(cfg)]
    logs = {name: tmp_path / f"{name}.log" for name in ("skip", "a", "b", "d1", "d2")}

    # while another process holds the database: an impatient run gives up, a patient one waits
    with writer_lock(db):
        skip = start([*ingest, str(impatient)], logs["skip"], env)
        a = start([*ingest, str(cfg)], logs["a"], env)
        assert finish(skip) != 0
        wait_for_text(logs["a"], WAIT_MESSAGE, a)
        # then everything at once: a second ingest and two digests join the first
        others = [start([*ingest, str(cfg)], logs["b"], env), start(digest, logs["d1"], env),
                  start(digest, logs["d2"], env)]
    codes = [finish(p) for p in (a, *others)]
    text = {name: path.read_text(errors="replace") for name, path in logs.items()}
    assert codes == [0, 0, 0, 0], {n: t[-2000:] for n, t in text.items()}
    assert "DatabaseBusyError" in text["skip"] and SKIP_MESSAGE in text["skip"]
    assert "waiting up to 120 s" in text["a"]

    conn = duckdb.connect(str(db), read_only=True)
    try:
        runs = conn.execute("select flow, status from runs order by started_at").fetchall()
        assert runs.count(("ingest", "completed")) == 2 and ("ingest", "running") not in runs
        assert conn.execute("select count(*) = count(distinct article_id) from articles").fetchone() == (True,)
        assert conn.execute("select count(*) from articles where source <> 'seed'").fetchone()[0] > 0
        sent = conn.execute("select article_id, status from sent_items where subscriber = 'desk' and status = 'sent'"
                            ).fetchall()
        digests = conn.execute("select status, count(*) from digests group by status").fetchall()
    finally:
        conn.close()
    assert seeded <= {aid for aid, _ in sent}
    assert len(receiver.received) == dict(digests).get("sent", 0) >= 1
    messages = [json.dumps(m.payload) for m in receiver.received]
    for title in SEED_TITLES:  # each seeded article reached the receiver exactly once
        assert sum(title in m for m in messages) == 1, (title, messages)
