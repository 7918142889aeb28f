"""End to end: real Prefect flow runs (ephemeral API) against the local corpus server, into a
temp DuckDB file. One module-scoped corpus ingest serves several assertions (flow runs are slow
to start); fault and duplicate runs use their own config and database."""

from __future__ import annotations

import asyncio
import json
from email.utils import format_datetime
from datetime import datetime, timezone
from html import escape

import duckdb
import pytest

from conftest import REPO, local_source, write_config
from newswatch.quality import score
from servers import ground_truth

pytestmark = pytest.mark.flow


def run_flow(config_dir, db):
    from flows.ingest import ingest_flow

    return asyncio.run(ingest_flow(str(config_dir), str(db)))


def rss(items: list[tuple[str, str]]) -> bytes:
    now = format_datetime(datetime.now(timezone.utc))
    body = "".join(f"<item><title>{escape(t)}</title><link>{escape(u)}</link><pubDate>{now}</pubDate></item>"
                   for t, u in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
            f"<link>http://example.org/</link>{body}</channel></rss>").encode()


@pytest.fixture(scope="module")
def corpus_run(corpus_server, tmp_path_factory):
    site = corpus_server.site
    site.clear_log()
    base = corpus_server.base
    cfg = write_config(
        tmp_path_factory.mktemp("cfg"),
        "sources:\n"
        + local_source("guardian", "rss", f"{base}/feeds/guardian.rss", lang="en")
        + local_source("daringfireball", "rss", f"{base}/feeds/daringfireball.atom")
        + local_source("golem", "rss", f"{base}/feeds/golem.rss", lang="de")
        + local_source("sitemap", "sitemap", f"{base}/sitemap.xml", max_items=500),
        topics_yaml=(REPO / "config" / "topics.yaml").read_text(encoding="utf-8"),
    )
    db = tmp_path_factory.mktemp("db") / "news.duckdb"
    first = run_flow(cfg, db)
    first_log = list(site.log)
    site.clear_log()
    second = run_flow(cfg, db)
    second_log = list(site.log)
    return {"db": db, "site": site, "first": first, "second": second, "first_log": first_log,
            "second_log": second_log, "base": base}


def stored(db, sql, params=()):
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_every_corpus_page_is_stored_once(corpus_run):
    rows = stored(corpus_run["db"], "select fetched_url from articles")
    ids = [u.rsplit("/", 1)[1].removesuffix(".html") for u, in rows]
    assert len(ids) == len(set(ids)) == len(corpus_run["site"].pages) == 181


def test_extracted_text_matches_ground_truth_f1_at_least_095(corpus_run):
    truth = ground_truth()
    got = {u.rsplit("/", 1)[1].removesuffix(".html"): t
           for u, t in stored(corpus_run["db"], "select fetched_url, text from articles")}
    result = score((got.get(pid, ""), body) for pid, body in truth.items())
    print(f"corpus extraction: F1 {result.f1:.3f} P {result.precision:.3f} R {result.recall:.3f}")
    assert result.pages == 181
    assert result.f1 >= 0.95


def test_articles_carry_metadata_and_detected_language(corpus_run):
    rows = stored(corpus_run["db"], "select title, lang, content_hash, extraction_method, source from articles")
    assert all(r[0] for r in rows), "every corpus page has a title"
    langs = {r[1] for r in rows}
    assert {"en", "ja", "de"} <= langs  # detected on the text: the corpus has Japanese and German pages
    assert all(len(r[2]) == 32 for r in rows)
    from newswatch.extract.ensemble import METHODS

    methods = {r[3] for r in rows}  # which extractor path produced each text (the ensemble's names)
    assert "trafilatura" in methods and methods <= set(METHODS) | {"feed_content", "feed_summary"}
    assert {r[4] for r in rows} == {"guardian", "daringfireball", "golem", "sitemap"}


def test_every_article_is_scored_against_every_topic_with_version(corpus_run):
    rows = stored(corpus_run["db"], "select count(*), count(distinct article_id), count(distinct topic), "
                  "min(score), max(score), count(distinct classifier_version) from article_topics")
    n, articles, topics, lo, hi, versions = rows[0]
    assert (articles, topics) == (181, 3) and n == 181 * 3
    assert 0.0 <= lo <= hi <= 1.0 and versions == 3


def test_second_run_fetches_no_article_and_feeds_answer_304(corpus_run):
    first_articles = [r for r in corpus_run["first_log"] if r[1].startswith("/articles/")]
    assert len(first_articles) == 181
    second = corpus_run["second_log"]
    assert [r for r in second if r[1].startswith("/articles/")] == []
    feeds = [r for r in second if r[1].startswith("/feeds/")]
    assert len(feeds) == 3 and all(status == 304 for _, _, status in feeds)
    assert corpus_run["second"].new == 0


def test_feed_items_that_404_are_recorded_with_reason(corpus_run):
    # guardian.rss has 15 items beyond the 40 corpus pages it links: they point at pages that 404
    rows = stored(corpus_run["db"], "select url, status_code, error_kind, error from fetches where error is not null")
    assert len(rows) == 15 and all("/gone/" in u for u, _, _, _ in rows)
    assert all(code == 404 and kind == "http_status" and "404" in err for _, code, kind, err in rows)


def test_run_is_recorded_with_counts(corpus_run):
    rows = stored(corpus_run["db"], "select status, stats from runs order by started_at")
    assert [r[0] for r in rows] == ["completed", "completed"]
    assert json.loads(rows[0][1])["new"] == 181 and json.loads(rows[1][1])["new"] == 0


def test_views_and_examples_run_on_a_real_database(corpus_run):
    from pathlib import Path

    conn = duckdb.connect(str(corpus_run["db"]), read_only=True)
    health = conn.execute("select source, status, articles_7d from source_health order by source").fetchall()
    assert {h[0] for h in health} == {"guardian", "daringfireball", "golem", "sitemap"}
    assert all(h[1] == "ok" for h in health)
    for sql in sorted((Path(__file__).resolve().parents[1] / "sql" / "examples").glob("*.sql")):
        conn.execute(sql.read_text()).fetchall()
    conn.close()


FAULTS = ["404", "500", "429-once", "429-long", "slow", "loop-a", "huge", "binary", "pdf", "to-private"]


def test_faults_are_recorded_and_the_rest_of_the_run_completes(site, corpus_server, tmp_path):
    base = corpus_server.base
    good = list(site.pages)[:2]
    items = [(f"fault {f}", f"{base}/fault/{f}") for f in FAULTS] + [(p, f"{base}/articles/{p}.html") for p in good]
    site.extra["/feeds/faults.rss"] = (200, {"Content-Type": "application/rss+xml"}, rss(items))
    site.extra["/feeds/broken.rss"] = (200, {"Content-Type": "application/rss+xml"}, _truncated_feed())
    site.extra["/feeds/down.rss"] = (503, {"Content-Type": "text/plain"}, b"down")
    cfg = write_config(
        tmp_path / "cfg",
        "sources:\n"
        + local_source("faults", "rss", f"{base}/feeds/faults.rss")
        + local_source("broken", "rss", f"{base}/feeds/broken.rss")
        + local_source("down", "rss", f"{base}/feeds/down.rss"),
        "read_timeout_s: 1\nconnect_timeout_s: 2\ntotal_timeout_s: 5\nbackoff_s: 0.05\nretries: 1\n"
        "max_response_bytes: 5000000\n",
    )
    db = tmp_path / "faults.duckdb"
    summary = run_flow(cfg, db)
    rows = {u.rsplit("/", 1)[1]: (s, k, e) for u, s, k, e in
            stored(db, "select url, status_code, error_kind, error from fetches where purpose = 'article'")}
    expect = {"404": "http_status", "500": "http_status", "429-long": "rate_limited", "slow": "timeout",
              "loop-a": "redirect_loop", "huge": "too_large", "binary": "binary", "pdf": "binary",
              "to-private": "blocked_address"}
    for name, kind in expect.items():
        assert rows[name][1] == kind, (name, rows[name])
        assert rows[name][2], f"{name}: a reason is recorded"
    assert rows["429-once"][1] is None  # retried after Retry-After, then stored
    feeds = {s: (k, e) for s, k, e in stored(db, "select source, error_kind, error from fetches where purpose = 'feed'")}
    assert feeds["broken"][0] == "malformed" and "malformed" in feeds["broken"][1]
    assert feeds["down"][0] == "http_status" and "503" in feeds["down"][1]
    titles = {t for t, in stored(db, "select fetched_url from articles")}
    assert {f"{base}/articles/{p}.html" for p in good} <= titles
    assert summary.new == 3  # the two good pages and the 429-once page
    state = dict(stored(db, "select source, consecutive_failures from source_state"))
    assert state == {"faults": 0, "broken": 1, "down": 1}


def _truncated_feed() -> bytes:
    from conftest import SHARED

    return (SHARED / "corpus" / "feeds" / "feed-rs" / "rss_2.0_invalid_1.xml").read_bytes()


def test_duplicate_urls_are_stored_once(site, corpus_server, tmp_path):
    base = corpus_server.base
    pid = list(site.pages)[5]
    url = f"{base}/articles/{pid}.html"
    variants = [url, url + "?utm_source=twitter&utm_medium=social", url + "#comments",
                url.replace("http://", "HTTP://") + "?fbclid=abc"]
    site.extra["/feeds/a.rss"] = (200, {"Content-Type": "application/rss+xml"}, rss([("a", u) for u in variants[:2]]))
    site.extra["/feeds/b.rss"] = (200, {"Content-Type": "application/rss+xml"}, rss([("b", u) for u in variants[2:]]))
    cfg = write_config(tmp_path / "cfg", "sources:\n" + local_source("a", "rss", f"{base}/feeds/a.rss")
                       + local_source("b", "rss", f"{base}/feeds/b.rss"))
    db = tmp_path / "dup.duckdb"
    run_flow(cfg, db)
    run_flow(cfg, db)
    assert stored(db, "select count(*) from articles") == [(1,)]
    assert len(site.requests_to(f"/articles/{pid}.html")) == 1


def test_html_index_page_links_are_discovered_and_capped(site, corpus_server, tmp_path):
    base = corpus_server.base
    cfg = write_config(tmp_path / "cfg", "sources:\n" + local_source("front", "html_index", f"{base}/index.html", max_items=5))
    db = tmp_path / "idx.duckdb"
    summary = run_flow(cfg, db)
    front = next(s for s in summary.sources if s.source == "front")
    assert front.entries == 12  # the 12 story links; nav, tag, login, off-site and PDF links dropped
    assert stored(db, "select count(*) from articles where source = 'front'") == [(5,)]  # max_items per run
    fetched = {p for _, p, _ in site.log}
    assert not any(p.startswith(("/tag/", "/login", "/files/")) for p in fetched)
    run_flow(cfg, db)  # the next run takes the next five
    assert stored(db, "select count(*) from articles where source = 'front'") == [(10,)]


def test_gzipped_sitemap_behind_a_self_listing_index(site, corpus_server, tmp_path):
    base = corpus_server.base
    cfg = write_config(tmp_path / "cfg", "sources:\n"
                       + local_source("front", "html_index", f"{base}/index.html")
                       + local_source("smi", "sitemap", f"{base}/sitemap-index.xml", max_items=500))
    db = tmp_path / "smi.duckdb"
    summary = run_flow(cfg, db)
    paths = [p for _, p, _ in site.log]
    assert "/sitemap.xml.gz" in paths
    assert paths.count("/sitemap-index.xml") == 1  # it lists itself; read once
    assert summary.new == len(site.sitemap_pages) + 12  # the front page's 12 slug URLs are other URLs
    assert stored(db, "select count(distinct fetched_url), count(*) from articles") == [(74, 74)]
    assert len([p for p in paths if p.startswith("/articles/")]) == 62


def test_run_without_network_records_each_source_failure_and_ends_cleanly(tmp_path):
    # .invalid never resolves (RFC 2606): this is what a machine without network sees
    cfg = write_config(tmp_path / "cfg", "sources:\n"
                       "  - {name: a, kind: rss, url: 'https://feeds.example.invalid/rss'}\n"
                       "  - {name: b, kind: sitemap, url: 'https://news.example.invalid/sitemap.xml'}\n"
                       "  - {name: c, kind: html_index, url: 'https://www.example.invalid/news/'}\n")
    db = tmp_path / "offline.duckdb"
    summary = run_flow(cfg, db)
    assert summary.new == 0 and {s.source for s in summary.sources} == {"a", "b", "c"}
    assert all(s.error for s in summary.sources)
    rows = stored(db, "select source, error_kind, error from fetches where purpose <> 'robots'")
    assert {r[0] for r in rows} == {"a", "b", "c"}
    assert all(r[1] == "connect" and "cannot resolve" in r[2] for r in rows)
    assert stored(db, "select status from runs") == [("completed",)]
    health = dict(stored(db, "select source, status from source_health"))
    assert health == {"a": "failing since first run", "b": "failing since first run", "c": "failing since first run"}


def test_entries_left_by_max_items_are_taken_next_run_although_the_feed_is_unchanged(site, corpus_server, tmp_path):
    base = corpus_server.base
    cfg = write_config(tmp_path / "cfg", "sources:\n" + local_source("golem", "rss", f"{base}/feeds/golem.rss", max_items=15))
    db = tmp_path / "cap.duckdb"
    counts = []
    for _ in range(3):
        run_flow(cfg, db)
        counts.append(stored(db, "select count(*) from articles")[0][0])
    assert counts == [15, 30, 40]  # the unchanged feed is re-read (not 304) while entries are left
    site.clear_log()
    run_flow(cfg, db)
    assert [s for _, p, s in site.log if p == "/feeds/golem.rss"] == [304]  # all taken: validators kept


def test_article_failing_transiently_is_retried_next_run(site, corpus_server, tmp_path):
    base = corpus_server.base
    site.extra["/feeds/flaky.rss"] = (200, {"Content-Type": "application/rss+xml"},
                                      rss([("flaky", f"{base}/fault/500"), ("gone", f"{base}/fault/404")]))
    cfg = write_config(tmp_path / "cfg", "sources:\n" + local_source("flaky", "rss", f"{base}/feeds/flaky.rss"),
                       "read_timeout_s: 1\ntotal_timeout_s: 5\nbackoff_s: 0.01\nretries: 0\n")
    db = tmp_path / "flaky.duckdb"
    run_flow(cfg, db)
    site.clear_log()
    run_flow(cfg, db)
    paths = [p for _, p, _ in site.log]
    assert "/fault/500" in paths  # a 5xx is worth another try next run
    assert "/fault/404" not in paths  # a 404 is not, for a week
