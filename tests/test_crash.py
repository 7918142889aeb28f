"""Crash safety: `python flows/ingest.py` is SIGKILLed at seeded random points (while the database
is created, and after a random number of article pages were served), then run to completion.

After every kill and at the end: the database opens (and migrates), no article is stored twice,
every article seen after an earlier kill is still there, every article has its topic scores, and
no successful article fetch is recorded without its article (a batch commits whole or not at all).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, local_source, require_corpus, write_config
from servers import CorpusServer, build_site

pytestmark = pytest.mark.flow

SEED = 20261123
COPIES = 2  # 362 pages: a run stores them in ~5 s, time enough to be killed mid-way
ARTICLE_KILLS = 2  # kills after a random number of pages were served, besides one during set-up
START_TIMEOUT_S = 120  # a run that neither finishes nor reaches its kill point by then fails the test
SETTINGS = ("read_timeout_s: 2\nconnect_timeout_s: 2\ntotal_timeout_s: 10\nbackoff_s: 0.05\nbatch_size: 25\n"
            "lock_wait_s: 30\nfeed_revalidate_hours: 0\n")  # 0: every run re-reads the feeds (see test below)


@pytest.fixture(scope="module")
def big_site():
    require_corpus()
    with CorpusServer(lambda base: build_site(base, copies=COPIES)) as srv:
        srv.httpd.handle_error = lambda request, address: None  # killed clients reset their connections
        yield srv


def config(tmp_path: Path, base: str, settings: str = SETTINGS) -> Path:
    return write_config(
        tmp_path / "cfg",
        "sources:\n"
        + local_source("guardian", "rss", f"{base}/feeds/guardian.rss", lang="en")
        + local_source("daringfireball", "rss", f"{base}/feeds/daringfireball.atom")
        + local_source("golem", "rss", f"{base}/feeds/golem.rss", lang="de")
        + local_source("sitemap", "sitemap", f"{base}/sitemap.xml", max_items=1000),
        settings,
        topics_yaml=(REPO / "config" / "topics.yaml").read_text(encoding="utf-8"),
    )


def start(cfg: Path, db: Path, log: Path) -> subprocess.Popen:
    out = log.open("ab")
    return subprocess.Popen([sys.executable, str(REPO / "flows" / "ingest.py"), "--config-dir", str(cfg), "--db", str(db)],
                            stdout=out, stderr=out, start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the ingest process, then whatever it started (its workers, Prefect's server)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_until(proc: subprocess.Popen, ready) -> bool:
    """True once `ready()` holds; False when the process ended first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    kill(proc)
    raise AssertionError(f"run neither finished nor reached its kill point in {START_TIMEOUT_S} s")


def check_invariants(db: Path, seen_before: set[str]) -> set[str]:
    from newswatch.store import connect

    connect(db).close()  # opens for writing and migrates: the file is usable after the crash
    conn = duckdb.connect(str(db), read_only=True)
    try:
        ids = {r[0] for r in conn.execute("select article_id from articles").fetchall()}
        n, distinct = conn.execute("select count(*), count(distinct article_id) from articles").fetchone()
        assert n == distinct, "an article is stored twice"
        assert seen_before <= ids, f"{len(seen_before - ids)} committed articles were lost"
        unscored = conn.execute("select count(*) from articles a where not exists "
                                "(select 1 from article_topics t where t.article_id = a.article_id)").fetchone()[0]
        assert unscored == 0, f"{unscored} articles without their topic scores (half a batch)"
        orphans = conn.execute("select count(*) from fetches f where purpose = 'article' and error is null "
                               "and not exists (select 1 from article_urls u where u.url = f.url)").fetchone()[0]
        assert orphans == 0, f"{orphans} successful article fetches without their article (half a batch)"
        urls = conn.execute("select count(*), count(distinct url_id) from article_urls").fetchone()
        assert urls[0] == urls[1]
        return ids
    finally:
        conn.close()


def test_kill_9_at_random_points_loses_nothing_committed(big_site, tmp_path):
    rng = random.Random(SEED)
    site = big_site.site
    cfg, db, log = config(tmp_path, big_site.base), tmp_path / "news.duckdb", tmp_path / "runs.log"
    total = len(site.pages)
    seen: set[str] = set()
    kills = []

    # 1. while the database is being created and migrated
    proc = start(cfg, db, log)
    if wait_until(proc, db.exists):
        time.sleep(rng.uniform(0.0, 0.3))
        kill(proc)
        kills.append("set-up")
    if db.exists():
        seen = check_invariants(db, seen)

    # 2. after a random number of article pages were served
    for _ in range(ARTICLE_KILLS):
        site.clear_log()
        target = rng.randint(1, max(1, (total - len(seen)) * 3 // 4))
        proc = start(cfg, db, log)
        if wait_until(proc, lambda t=target: len(site.requests_to("/articles/")) >= t):
            kill(proc)
            kills.append(target)
        seen = check_invariants(db, seen)
        print(f"killed after {target} pages: {len(seen)} articles stored")

    # 3. the next run completes and the set is whole
    proc = start(cfg, db, log)
    assert proc.wait(timeout=START_TIMEOUT_S) == 0, log.read_text(errors="replace")[-3000:]
    check_invariants(db, seen)
    assert len(kills) == 1 + ARTICLE_KILLS, f"a run ended before its kill point: {kills}"
    conn = duckdb.connect(str(db), read_only=True)
    stored_urls = {u for u, in conn.execute("select url from article_urls").fetchall()}
    statuses = dict(conn.execute("select status, count(*) from runs group by status").fetchall())
    conn.close()
    missing = {f"{big_site.base}/articles/{pid}.html" for pid in site.pages} - stored_urls
    assert not missing, f"{len(missing)} of {total} pages never stored after the crashes"
    assert statuses.get("completed") == 1
    assert "running" not in statuses  # a killed run's row is marked abandoned by the next run


def test_entries_of_a_killed_run_are_fetched_by_the_next_run_although_the_feed_answers_304(big_site, tmp_path):
    site = big_site.site
    settings = "read_timeout_s: 2\nconnect_timeout_s: 2\ntotal_timeout_s: 10\nbackoff_s: 0.05\nbatch_size: 10\n"
    cfg = write_config(tmp_path / "cfg", "sources:\n" + local_source("golem", "rss", f"{big_site.base}/feeds/golem.rss"),
                       settings)
    db, log = tmp_path / "news.duckdb", tmp_path / "runs.log"
    site.clear_log()
    proc = start(cfg, db, log)
    assert wait_until(proc, lambda: len(site.requests_to("/articles/")) >= 1), "the run ended before its kill point"
    kill(proc)
    proc = start(cfg, db, log)
    assert proc.wait(timeout=START_TIMEOUT_S) == 0, log.read_text(errors="replace")[-3000:]
    conn = duckdb.connect(str(db), read_only=True)
    stored = {u for u, in conn.execute("select url from article_urls").fetchall()}
    conn.close()
    missing = {f"{big_site.base}/articles/{pid}.html" for pid in site.feed_pages["golem.rss"]} - stored
    assert not missing, f"{len(missing)} entries of the killed run's feed were never fetched"
