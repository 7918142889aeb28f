"""Issue 15: a slow or broken host must not stall the run or cost other sources' articles.

The scenario of the issue, as a fixture: one healthy feed (4 articles) and hostile sources, each on a
server of its own on 127.0.0.1 (tests/faults.py HostileScenario): trickled bodies, trickled headers
behind 40 article links, 50 MB bodies, gzip bombs (one layer and stacked), entity bombs, 429 and
500, a PDF, garbage bytes, a 100,000-entry feed, a redirect loop, a self-listing sitemap index, a
redirect to a private address and redirects to malformed URLs. The real ingest flow runs against it
(`python flows/ingest.py`, with test-sized timeouts); the assertions are about outcomes only (what
is stored and recorded), never about time: bench/hostile.py measures wall time and peak RSS.

Below it, each defence at function level: the fetcher's watchdog (a request past its deadline gives
its thread back), the circuit breaker, malformed redirects, committing pages as they finish, the
worker pool's per-page time limit and crash replacement, and the run deadline (deferred pages are
taken up by the next run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import duckdb
import pytest

from conftest import REPO, local_source, write_config
from faults import (
    HEALTHY, HOSTILE_ARTICLES, HOSTILE_SALVAGED, HOSTILE_SOURCES, FaultServer, HostileScenario, bare_site,
    run_measured,
)

pytestmark = pytest.mark.flow

SETTINGS = """\
read_timeout_s: 1
connect_timeout_s: 1
total_timeout_s: 2
retries: 1
backoff_s: 0.05
max_retry_after_s: 2
max_connections: 4
max_per_host: 4
batch_size: 5
lock_wait_s: 5
run_deadline_s: 240
"""
RUN_TIMEOUT_S = 400  # the subprocess is killed past this: a hung run fails the test, never the suite


def rows(db, sql, params=()):
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def ingest(cfg, db, timeout_s: float = RUN_TIMEOUT_S) -> dict:
    return run_measured([sys.executable, str(REPO / "flows" / "ingest.py"), "--config-dir", str(cfg), "--db", str(db)],
                        timeout_s)


@pytest.fixture(scope="module")
def scenario():
    with HostileScenario() as sc:
        yield sc


@pytest.fixture(scope="module")
def hostile(scenario, tmp_path_factory):
    cfg = write_config(tmp_path_factory.mktemp("hostile-cfg"), scenario.sources_yaml(), SETTINGS,
                       topics_yaml=(REPO / "config" / "topics.yaml").read_text(encoding="utf-8"))
    db = tmp_path_factory.mktemp("hostile-db") / "news.duckdb"
    result = ingest(cfg, db)
    return {"db": db, "result": result}


def test_the_run_finishes_and_is_recorded_as_completed(hostile):
    assert hostile["result"]["rc"] == 0, hostile["result"]["err"][-3000:]
    assert [s for s, in rows(hostile["db"], "select status from runs")] == ["completed"]


def test_all_four_healthy_articles_are_stored(hostile, scenario):
    base = scenario.servers[HEALTHY[0]].base
    got = {u for u, in rows(hostile["db"], "select fetched_url from articles where source = ?", [HEALTHY[0]])}
    assert got == {f"{base}/hostile/page/healthy-{i}" for i in range(4)}


def test_each_hostile_source_is_recorded_with_its_reason(hostile):
    first: dict[str, tuple] = {}
    for source, kind, err in rows(hostile["db"], "select source, error_kind, error from fetches "
                                  "where purpose in ('feed', 'sitemap', 'index') order by started_at"):
        first.setdefault(source, (kind, err))
    for name, (_, _, _, kind, words) in HOSTILE_SOURCES.items():
        assert name in first, f"{name} was never polled"
        assert first[name][0] == kind, (name, first[name])
        assert kind is None or first[name][1], f"{name}: a reason is recorded"
        assert words is None or words in first[name][1], (name, first[name])


def test_each_hostile_article_is_recorded_with_its_reason(hostile, scenario):
    for source, (paths, kind) in HOSTILE_ARTICLES.items():
        got = rows(hostile["db"], "select url, error_kind, error from fetches where source = ? and purpose = 'article'",
                   [source])
        assert got, f"{source}: no article was tried"
        paths = (paths,) if isinstance(paths, str) else paths
        for url, k, err in got:
            assert urlsplit(url).path.startswith(paths), (source, url)
            assert k == kind and err, (source, url, k, err)
    # all 40 header-trickling links are accounted for: a few timed out, the rest met the breaker
    slow = rows(hostile["db"], "select count(distinct url) from fetches where source = 'slowheaders' "
                "and purpose = 'article' and error_kind = 'timeout'")
    assert slow == [(40,)]


def test_salvaged_entries_of_hostile_documents_are_stored(hostile):
    stored = {s for s, in rows(hostile["db"], "select distinct source from articles")}
    assert set(HOSTILE_SALVAGED) <= stored


def test_no_private_target_is_requested_and_no_url_is_left_unrecorded(hostile, scenario):
    assert scenario.canary_hits() == []
    unexplained = rows(hostile["db"], "select url from fetches where error_kind is null and status_code is null")
    assert unexplained == []


# --- the fetcher -----------------------------------------------------------------------------


def _settings(**kw):
    from newswatch.config.settings import Settings

    return Settings(**{"read_timeout_s": 5, "connect_timeout_s": 2, "total_timeout_s": 1.0, "retries": 2,
                       "respect_robots_txt": False, "backoff_s": 0.01, **kw})


def _fetch_all(settings, urls: list[str], **kw):
    from newswatch.fetch import open_fetcher
    from newswatch.models import FetchRequest

    async def go():
        async with open_fetcher(settings, **kw) as f:
            res = await f.fetch_many([FetchRequest(u, "t", "article", "127.0.0.1") for u in urls])
            return res, f

    return asyncio.run(go())


def test_header_trickling_servers_do_not_starve_other_hosts_of_threads():
    """More header-trickling requests than I/O threads (each on its own host, so the breaker does not
    stop them), then pages of a healthy host: the stalled requests give their threads and
    connections back when their deadline passes, and the healthy pages are fetched."""
    with contextlib.ExitStack() as stack:
        slow = [stack.enter_context(FaultServer(bare_site)) for _ in range(4)]
        good = stack.enter_context(FaultServer(bare_site))
        urls = [f"{s.base}/hostile/slow-headers" for s in slow] + [f"{good.base}/hostile/page/{i}" for i in range(4)]
        results, _ = _fetch_all(_settings(max_connections=2), urls)
    assert [r.error_kind for r in results[:4]] == ["timeout"] * 4
    assert [r.error_kind for r in results[4:]] == [None] * 4
    assert all(b"Good page" in r.body for r in results[4:])


def test_a_stalled_request_leaves_no_thread_reading_after_its_deadline():
    with FaultServer(bare_site) as srv:
        results, _ = _fetch_all(_settings(), [f"{srv.base}/hostile/slow-headers"])
        assert results[0].error_kind == "timeout"
        # the watchdog shut the socket: the server's handler sees the connection gone and ends
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and [t for t in threading.enumerate() if t.name.startswith("newswatch-fetch")]:
            time.sleep(0.05)
        assert not [t.name for t in threading.enumerate() if t.name.startswith("newswatch-fetch")]


def test_a_host_that_timed_out_twice_in_a_row_is_not_tried_again_and_timeouts_are_not_retried():
    with FaultServer(bare_site) as srv, FaultServer(bare_site) as other:
        results, f = _fetch_all(_settings(max_per_host=1), [f"{srv.base}/hostile/trickle?n=1",
                                                            f"{srv.base}/hostile/trickle?n=2",
                                                            f"{srv.base}/hostile/page/after",
                                                            f"{other.base}/hostile/page/elsewhere"])
        served = [p.split("?")[0] for _, p, _ in srv.site.log]
    first, second, after, elsewhere = results
    assert first.error_kind == second.error_kind == "timeout" and first.attempts == second.attempts == 1
    assert after.error_kind == "timeout" and "timed out earlier in this run" in after.error
    assert elsewhere.ok  # another host:port is another server
    assert served == ["/hostile/trickle", "/hostile/trickle"]  # the page after them was never requested
    assert f"127.0.0.1:{urlsplit(srv.base).port}" in f.broken_hosts


def test_one_slow_page_does_not_take_its_host_out_of_the_run():
    with FaultServer(bare_site) as srv:
        results, f = _fetch_all(_settings(max_per_host=1), [f"{srv.base}/hostile/slow-headers?n=1",
                                                            f"{srv.base}/hostile/page/a",
                                                            f"{srv.base}/hostile/slow-headers?n=2",
                                                            f"{srv.base}/hostile/page/b"])
    assert [r.error_kind for r in results] == ["timeout", None, "timeout", None]
    assert f.broken_hosts == {}


def test_retry_after_is_honoured_only_within_the_run_deadline():
    from newswatch.fetch import open_fetcher
    from newswatch.models import FetchRequest

    with FaultServer(bare_site) as srv:
        async def go(deadline_in: float):
            async with open_fetcher(_settings(max_retry_after_s=5), deadline=time.monotonic() + deadline_in) as f:
                return await f.fetch(FetchRequest(f"{srv.base}/hostile/503-retry-after", "t", "article", "127.0.0.1"))

        near = asyncio.run(go(0.5))  # Retry-After 1 s: past the deadline, so no second attempt
        far = asyncio.run(go(60))  # within it: every retry is made, each after the server's 1 s
    assert near.error_kind == "http_status" and near.attempts == 1 and "deadline" in near.error
    assert far.error_kind == "http_status" and far.attempts == 3


def test_nothing_is_requested_after_the_run_deadline():
    from newswatch.fetch import open_fetcher
    from newswatch.models import FetchRequest

    with FaultServer(bare_site) as srv:
        async def go():
            async with open_fetcher(_settings(), deadline=time.monotonic() - 1) as f:
                return await f.fetch(FetchRequest(f"{srv.base}/hostile/page/late", "t", "article", "127.0.0.1"))

        res = asyncio.run(go())
        assert srv.site.log == []
    assert res.error_kind == "deferred" and "next run" in res.error


@pytest.mark.parametrize("route", ["bad-port", "bad-host"])
def test_a_malformed_redirect_is_that_request_s_failure(route):
    with FaultServer(bare_site) as srv:
        results, _ = _fetch_all(_settings(), [f"{srv.base}/hostile/{route}"])
    assert results[0].error_kind == "invalid_url" and results[0].attempts == 1
    assert "redirect" in results[0].error


def test_fetch_never_raises_whatever_goes_wrong_inside(monkeypatch):
    """The last line of defence: an exception nobody foresaw becomes the request's failure."""
    from newswatch import fetch as fetch_mod

    def boom(*a, **k):
        raise ValueError("something no check foresaw")

    monkeypatch.setattr(fetch_mod, "canonicalize_url", boom)
    results, _ = _fetch_all(_settings(), ["http://127.0.0.1:9/x"])
    assert results[0].error_kind == "invalid_url" and "no check foresaw" in results[0].error

    monkeypatch.setattr(fetch_mod, "canonicalize_url", lambda u: u)
    monkeypatch.setattr(fetch_mod.Fetcher, "_check_address", lambda *a: (_ for _ in ()).throw(KeyError("odd")))
    results, _ = _fetch_all(_settings(), ["http://127.0.0.1:9/x"])
    assert results[0].error_kind == "network" and "KeyError" in results[0].error


# --- committing pages as they finish ---------------------------------------------------------


def test_finished_pages_are_handed_to_the_writer_while_another_page_is_stalled():
    """A stalled request (20 s deadline) and three quick pages: the quick ones come out as a batch
    of their own while the stalled one is still in flight (the old batch waited for all)."""
    from newswatch.fetch import open_fetcher
    from newswatch.ingest import stream_batches
    from newswatch.models import FetchRequest

    with FaultServer(bare_site) as slow, FaultServer(bare_site) as good:
        reqs = [FetchRequest(f"{slow.base}/hostile/slow-headers", "slow", "article", "127.0.0.1")]
        reqs += [FetchRequest(f"{good.base}/hostile/page/{i}", "good", "article", "127.0.0.1") for i in range(3)]
        settings = _settings(total_timeout_s=20)

        async def go():
            async with open_fetcher(settings) as f:
                stream = stream_batches(f, None, reqs, settings, group=10, interval_s=0.2)
                async with contextlib.aclosing(stream):
                    first = await anext(stream)
                    in_flight = "slow" not in {r.request.source for r in first.results}
                    return first, in_flight

        first, stalled_one_still_running = asyncio.run(go())
    assert stalled_one_still_running
    assert {a.fetched_url for a in first.articles} == {r.url for r in reqs[1:]}


def test_a_killed_run_keeps_the_pages_that_finished_before_it(tmp_path):
    """A run whose other source stalls for two minutes (40 header-trickling pages) commits the
    healthy pages as they finish: once the flow has logged their commit, it is killed while still
    stalled, and those articles are in the database (the old batch was still waiting)."""
    with FaultServer(bare_site) as slow, FaultServer(bare_site) as good:
        cfg = write_config(tmp_path / "cfg", "sources:\n"
                           + local_source("slow", "rss", f"{slow.base}/hostile/slow-links.rss")
                           + local_source("good", "rss", f"{good.base}/hostile/healthy.rss"),
                           SETTINGS.replace("total_timeout_s: 2", "total_timeout_s: 120")
                           .replace("batch_size: 5", "batch_size: 200"))
        db = tmp_path / "news.duckdb"
        log_path = tmp_path / "run.log"
        log = log_path.open("wb")
        proc = subprocess.Popen([sys.executable, str(REPO / "flows" / "ingest.py"), "--config-dir", str(cfg),
                                 "--db", str(db)], stdout=log, stderr=log, start_new_session=True,
                                env={**os.environ, "PREFECT_LOGGING_LEVEL": "INFO"})
        try:
            deadline = time.monotonic() + 300  # a hung run fails the test, never the suite
            while _committed_articles(log_path) < 4 and time.monotonic() < deadline:
                assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
                time.sleep(0.2)
            assert _committed_articles(log_path) == 4, log_path.read_text(errors="replace")[-3000:]
            assert proc.poll() is None  # still waiting for the stalled source's pages
            assert slow.site.requests_to("/hostile/slow-headers")  # which were requested, and hang
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            log.close()
    got = {u for u, in rows(db, "select fetched_url from articles where source = 'good'")}
    assert got == {f"{good.base}/hostile/page/healthy-{i}" for i in range(4)}


def _committed_articles(log_path) -> int:
    import re

    text = log_path.read_text(errors="replace")
    return sum(int(n) for n in re.findall(r"committed \d+ pages: (\d+) articles", text))


# --- the run deadline ------------------------------------------------------------------------


def test_what_the_deadline_leaves_is_recorded_as_deferred_and_taken_up_next_run(tmp_path):
    with FaultServer(bare_site) as srv:
        srv.site.extra["/slow.rss"] = (200, {"Content-Type": "application/rss+xml"}, _slow_feed(srv.base, 6))
        srv.site.counters["slow_page_s"] = 2
        settings = SETTINGS.replace("total_timeout_s: 2", "total_timeout_s: 10").replace(
            "read_timeout_s: 1", "read_timeout_s: 5").replace(
            "max_per_host: 4", "max_per_host: 1").replace("run_deadline_s: 240", "run_deadline_s: 5")
        cfg = write_config(tmp_path / "cfg", "sources:\n" + local_source("slow", "rss", f"{srv.base}/slow.rss"),
                           settings)
        db = tmp_path / "news.duckdb"
        first = ingest(cfg, db)
        assert first["rc"] == 0, first["err"][-3000:]
        urls = {f"{srv.base}/hostile/slow-page/{i}" for i in range(6)}
        stored = {u for u, in rows(db, "select fetched_url from articles")}
        deferred = {u for u, in rows(db, "select url from fetches where error_kind = 'deferred'")}
        assert deferred, "six 2-second pages, one at a time, cannot all fit in a 5-second run"
        assert deferred <= urls | {f"{srv.base}/slow.rss"} and not (deferred & stored)
        assert stored | deferred >= urls or f"{srv.base}/slow.rss" in deferred  # nothing lost without a record
        assert [s for s, in rows(db, "select status from runs")] == ["completed"]

        (cfg / "settings.yaml").write_text(settings.replace("run_deadline_s: 5", "run_deadline_s: 240"),
                                           encoding="utf-8")
        second = ingest(cfg, db)
        assert second["rc"] == 0, second["err"][-3000:]
    assert {u for u, in rows(db, "select fetched_url from articles")} == urls
    assert rows(db, "select count(*) = count(distinct article_id) from articles") == [(True,)]


def _slow_feed(base: str, n: int) -> bytes:
    from faults import rss

    return rss([(f"slow {i}", f"{base}/hostile/slow-page/{i}") for i in range(n)])


# --- the worker pool -------------------------------------------------------------------------


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _die(*_args) -> None:
    os._exit(7)


def test_a_page_past_its_time_limit_fails_alone_and_its_worker_is_replaced():
    from newswatch.extract import ExtractJob
    from newswatch.pipeline import PagePool, WorkerLost

    with PagePool(1, None, timeout_s=2) as pool:
        stuck = pool.call(_sleep, 60)
        after = pool.submit(ExtractJob(b"<html><body><p>" + b"Words here. " * 40 + b"</p></body></html>",
                                       "http://news.example/a", "s"))
        with pytest.raises(WorkerLost, match="extract_timeout_s"):
            stuck.result(timeout=300)
        assert after.result(timeout=300).outcome.text.startswith("Words here.")
        assert pool.replaced == 1


def test_a_crashed_worker_is_that_page_s_failure_and_is_replaced():
    from newswatch.extract import ExtractFailure, ExtractJob
    from newswatch.pipeline import PagePool

    with PagePool(1, None, timeout_s=60) as pool:
        crash = pool.call(_die)
        with pytest.raises(Exception, match="died"):
            crash.result(timeout=300)
        page = pool.submit(ExtractJob(b"<html><body><p>" + b"Words here. " * 40 + b"</p></body></html>",
                                      "http://news.example/b", "s"))
        assert not isinstance(page.result(timeout=300).outcome, ExtractFailure)
        assert pool.replaced == 1


def test_a_page_whose_worker_dies_is_recorded_as_that_page_s_extract_failure():
    from newswatch.extract import ExtractFailure, ExtractJob
    from newswatch.ingest import as_batch
    from newswatch.pipeline import PagePool

    job = ExtractJob(b"<html></html>", "http://news.example/c", "s")
    with PagePool(1, None, timeout_s=60) as pool:
        res = pool.submit(job, page_fn=_die).result(timeout=300)
    assert isinstance(res.outcome, ExtractFailure) and "died" in res.outcome.reason
    from datetime import datetime, timezone

    from newswatch.models import FetchRequest, FetchResult

    fetched = FetchResult("f1", FetchRequest(job.fetched_url, "s", "article"), job.fetched_url, 200,
                          datetime.now(timezone.utc), 1.0, body=b"<html></html>")
    batch = as_batch([(fetched, res)])
    assert batch.results[0].error_kind == "extract" and "died" in batch.results[0].error
    assert batch.failures == (("s", job.fetched_url, batch.results[0].error),)


def test_a_response_that_stalls_then_drops_is_not_retried_and_counts_for_the_breaker(monkeypatch):
    """Headers trickled until the server gives up and closes (here after 1.5 s, past the 1 s read
    timeout but inside the 10 s total): a network error, but after a stall: not retried (it would
    cost the stall again), and two of them in a row take the host out of the run."""
    import faults

    monkeypatch.setattr(faults, "HANG_S", 1.5)
    with FaultServer(bare_site) as srv:
        results, f = _fetch_all(_settings(total_timeout_s=10, read_timeout_s=1, max_per_host=1),
                                [f"{srv.base}/hostile/slow-headers?n={i}" for i in range(3)])
        served = len(srv.site.requests_to("/hostile/slow-headers"))
    assert [r.error_kind for r in results[:2]] == ["network", "network"]
    assert all(r.attempts == 1 and "stalled" in r.error for r in results[:2])
    assert results[2].error_kind == "timeout" and "timed out earlier in this run" in results[2].error
    assert served == 2


def test_requests_queued_behind_a_stalled_host_do_not_hold_other_hosts_slots():
    """Ten requests to a header-trickling server (2 at a time per host:port) and a healthy page on
    another port of the same address, with 3 connections in all: the eight queued for the stalled
    server wait for its slots, not the global ones (nor the other port's), so the healthy page is
    fetched while all ten stalled requests are still unfinished."""
    from newswatch.fetch import open_fetcher
    from newswatch.models import FetchRequest

    with FaultServer(bare_site) as slow, FaultServer(bare_site) as good:
        settings = _settings(max_connections=3, max_per_host=2, total_timeout_s=20)

        async def go():
            async with open_fetcher(settings) as f:
                stalled = [asyncio.ensure_future(f.fetch(FetchRequest(f"{slow.base}/hostile/slow-headers?n={i}", "t",
                                                                      "article", "127.0.0.1"))) for i in range(10)]
                await asyncio.sleep(0)  # they queue first
                healthy = await f.fetch(FetchRequest(f"{good.base}/hostile/page/x", "t", "article", "127.0.0.1"))
                unfinished = sum(not t.done() for t in stalled)
                for t in stalled:
                    t.cancel()
                await asyncio.gather(*stalled, return_exceptions=True)
                return healthy, unfinished

        healthy, unfinished = asyncio.run(go())
    assert healthy.ok and unfinished == 10


def test_requests_running_when_their_host_is_taken_out_give_up_at_once():
    """Two stalls time out (breaker_timeouts 2) while a third request to the same server, started
    a little later, is still running: it is ended when the breaker trips, not left to run out its
    own full timeout (its own deadline comes 1 s after theirs)."""
    from newswatch.fetch import open_fetcher
    from newswatch.models import FetchRequest

    with FaultServer(bare_site) as srv:
        def req(i):
            return FetchRequest(f"{srv.base}/hostile/slow-headers?n={i}", "t", "article", "127.0.0.1")

        async def go():
            async with open_fetcher(_settings(max_per_host=3, total_timeout_s=3)) as f:
                first = [asyncio.ensure_future(f.fetch(req(i))) for i in range(2)]
                await asyncio.sleep(1)
                late = await f.fetch(req(2))
                return [*(await asyncio.gather(*first)), late]

        results = asyncio.run(go())
        served = len(srv.site.requests_to("/hostile/slow-headers"))
    assert [r.error_kind for r in results] == ["timeout"] * 3
    assert served == 3  # the late one was running ...
    assert "taken out of this run while this request waited" in results[2].error  # ... when the breaker tripped
