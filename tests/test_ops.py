"""Operations: full-text search, read-only `query`, `status` and its views, `sources check`,
readers and writers that overlap. Real DuckDB files in tmp_path, real processes holding them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from conftest import REPO, local_source, write_config
from newswatch.cli import app
from newswatch.config import load_config
from newswatch.status import collect_status, connect_reader, refresh_after_ingest, summarise_poll
from newswatch.store import DatabaseBusyError, connect
from newswatch.store import fts
from newswatch.store.digests import select_pending

NEWSWATCH = str(Path(sys.executable).parent / "newswatch")  # the console script of this venv
NOW = datetime.now(timezone.utc)
ARTICLES = [
    # id, source, lang, title, text, days old
    ("a1", "wire", "en", "LNG tanker diverted", "A liquefied natural gas tanker was diverted to Japan.", 1),
    ("a2", "wire", "fr", "Énergie nucléaire", "La centrale nucléaire de Flamanville redémarre.", 2),
    ("a3", "nikkei", "ja", "日中首脳会談", "東京で日中首脳会談が開かれた。エネルギー協力を確認。", 1),
    ("a4", "wire", "en", "Tanker rates fall", "Oil tanker rates fell this week.", 3),
    ("a5", "quiet", "en", "Old news", "Something from three weeks ago about gas.", 20),
]
ALERTS = """subscribers:
  - name: desk
    url_env: NEWSWATCH_TEST_URL
    topics: ["energy"]
    cadence: {kind: daily, at: "07:30", tz: Asia/Tokyo}
  - name: all
    url_env: NEWSWATCH_TEST_URL
    topics: ["*"]
    cadence: instant
"""
# a subscriber's topics must exist (config/alerts.yaml is checked against topics.yaml)
TOPICS = """groups:
  energy: {terms: [lng, tanker*]}
topics:
  - name: energy
    rules: [{together: [energy]}]
"""


def seed(db: Path) -> None:
    conn = connect(db)
    for source in ("wire", "nikkei", "quiet"):
        conn.execute("insert into sources (source, kind, url) values (?, 'rss', 'http://127.0.0.1/x')", [source])
    conn.execute("insert into source_state (source, last_polled_at, last_success_at, consecutive_failures)"
                 " values ('wire', now(), now(), 0), ('nikkei', now(), now() - interval 2 day, 4),"
                 " ('quiet', now(), now(), 0)")
    for aid, src, lang, title, text, days in ARTICLES:
        at = NOW - timedelta(days=days)
        conn.execute(
            "insert into articles (article_id, url, fetched_url, source, title, fetched_at, published_at, lang,"
            " text, content_hash, extraction_method) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'trafilatura')",
            [aid, f"http://127.0.0.1/{aid}", f"http://127.0.0.1/{aid}", src, title, at, at, lang, text, aid])
    for aid, topic in (("a1", "energy"), ("a2", "energy"), ("a3", "energy"), ("a3", "japan-china"), ("a4", "shipping")):
        conn.execute("insert into article_topics (article_id, topic, score, is_match, classifier_version)"
                     " values (?, ?, 0.8, true, 'v1')", [aid, topic])
    conn.execute("insert into runs (run_id, flow, started_at, finished_at, status, stats) values"
                 " ('r1', 'ingest', now() - interval 1 hour, now() - interval 59 minute, 'completed', '{\"new\": 5}')")
    conn.close()


@pytest.fixture()
def seeded(tmp_path):
    # search_tail_max 0: the run after seeding builds the search index (BM25 tests need one)
    cfg = write_config(tmp_path / "cfg", "sources: []\n", "read_timeout_s: 1.5\nconnect_timeout_s: 2\n"
                       "total_timeout_s: 10\nbackoff_s: 0.05\nsearch_tail_max: 0\n")
    (cfg / "alerts.yaml").write_text(ALERTS, encoding="utf-8")
    (cfg / "topics.yaml").write_text(TOPICS, encoding="utf-8")
    db = tmp_path / "news.duckdb"
    seed(db)
    conn = connect(db)
    refresh_after_ingest(conn, load_config(cfg))
    conn.close()
    return cfg, db


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


# --- full-text search -------------------------------------------------------------------------

def test_search_ignores_case_and_accents_and_needs_every_term(seeded):
    _, db = seeded
    conn = connect(db, read_only=True)
    assert [h.article_id for h in fts.search_articles(conn, "NUCLEAIRE flamanville")] == ["a2"]
    assert {h.article_id for h in fts.search_articles(conn, "tanker")} == {"a1", "a4"}
    assert [h.article_id for h in fts.search_articles(conn, "tanker japan")] == ["a1"]
    conn.close()


def test_japanese_query_falls_back_to_substring_match(seeded):
    _, db = seeded
    conn = connect(db, read_only=True)
    hits = fts.search_articles(conn, "首脳会談")
    assert [h.article_id for h in hits] == ["a3"] and hits[0].score is None
    conn.close()


def test_an_insert_after_the_build_is_ranked_from_the_tail_and_a_rebuild_changes_nothing(seeded):
    _, db = seeded
    conn = connect(db)
    assert fts.index_state(conn).tail == 0 and not fts.index_state(conn).is_stale
    conn.execute("insert into articles (article_id, url, fetched_url, source, title, fetched_at, text, content_hash,"
                 " extraction_method) values ('a6', 'u6', 'u6', 'wire', 'Hydrogen ferry', now(), 'ferry', 'h6', 'x')")
    state = fts.index_state(conn)
    assert state.is_stale and state.tail == 1 and state.indexed == len(ARTICLES)
    from_tail = [(h.article_id, h.score) for h in fts.search_articles(conn, "hydrogen")]
    assert [aid for aid, _ in from_tail] == ["a6"] and from_tail[0][1] is not None  # ranked by BM25 already
    assert fts.rebuild_search_index(conn) == len(ARTICLES) + 1
    assert fts.index_state(conn).tail == 0
    assert [(h.article_id, h.score) for h in fts.search_articles(conn, "hydrogen")] == from_tail  # same answer
    conn.close()


def _search_index_built_at(db: Path):
    conn = connect(db, read_only=True)
    try:
        return conn.execute("select built_at from search_index").fetchall()
    finally:
        conn.close()


def test_search_command_finds_new_articles_without_rebuilding_and_reindex_rebuilds(seeded):
    cfg, db = seeded
    built = _search_index_built_at(db)
    conn = connect(db)
    conn.execute("insert into articles (article_id, url, fetched_url, source, title, fetched_at, text, content_hash,"
                 " extraction_method) values ('a7', 'u7', 'u7', 'wire', 'Geothermal plant', now(), 'heat', 'h7', 'x')")
    conn.close()
    res = invoke("search", "geothermal", "--db", str(db), "--config-dir", str(cfg), "--format", "json")
    assert res.exit_code == 0, res.output
    from_tail = [(h["article_id"], h["score"]) for h in json.loads(res.stdout)]
    assert [aid for aid, _ in from_tail] == ["a7"] and from_tail[0][1] is not None  # ranked from the tail
    assert _search_index_built_at(db) == built  # plain search did not rebuild
    table = invoke("search", "geothermal", "--db", str(db), "--config-dir", str(cfg))
    assert table.exit_code == 0 and f"{from_tail[0][1]:.2f}" in table.stdout and "Geothermal plant" in table.stdout

    res = invoke("search", "geothermal", "--reindex", "--db", str(db), "--config-dir", str(cfg), "--format", "json")
    assert res.exit_code == 0, res.output
    hits = json.loads(res.stdout)
    assert [(h["article_id"], h["score"]) for h in hits] == from_tail  # indexed now: the same answer
    assert _search_index_built_at(db) != built
    conn = connect(db, read_only=True)
    state = fts.index_state(conn)
    conn.close()
    assert state.tail == 0 and state.indexed == len(ARTICLES) + 1


def test_search_reindex_while_a_run_writes_says_so_and_still_answers(seeded):
    cfg, db = seeded
    proc = hold_database(db, 3)
    try:
        res = invoke("search", "tanker", "--reindex", "--db", str(db), "--config-dir", str(cfg), "--format", "json")
    finally:
        proc.kill()
        proc.wait()
    assert res.exit_code == 0, res.output
    assert "the index was not rebuilt" in res.stderr
    assert {h["article_id"] for h in json.loads(res.stdout)} == {"a1", "a4"}


def test_analysts_search_macro_works_through_query(seeded):
    cfg, db = seeded
    res = invoke("query", "select article_id from search_articles('tanker diverted')", "--db", str(db),
                 "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [{"article_id": "a1"}]


def test_extension_loads_from_the_installed_package_not_the_network():
    assert fts.extension_path().is_file()
    conn = duckdb.connect()
    fts.load_fts(conn)
    assert conn.execute("select current_setting('autoinstall_known_extensions')").fetchone()[0] is False


# --- query ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "delete from articles",
    "insert into runs (run_id, flow, started_at, status) values ('x', 'y', now(), 'z')",
    "copy (select 1) to '/tmp/newswatch-should-not-exist.csv'",
    "attach ':memory:' as scratch",
    "select 1; drop table articles",
    "create table t (x int)",
])
def test_query_refuses_writes_with_a_clear_message(seeded, sql):
    _, db = seeded
    res = invoke("query", sql, "--db", str(db))
    assert res.exit_code == 2
    assert "query refuses writes" in res.output
    conn = connect(db, read_only=True)
    assert conn.execute("select count(*) from articles").fetchone()[0] == len(ARTICLES)
    conn.close()


def test_query_reads_sql_from_a_file_and_writes_parquet(seeded, tmp_path):
    _, db = seeded
    sql = tmp_path / "x.sql"
    sql.write_text("-- per source\nselect source, count(*) as n from articles group by source order by source;\n")
    out = tmp_path / "x.parquet"
    res = invoke("query", "-f", str(sql), "--format", "parquet", "--out", str(out), "--db", str(db))
    assert res.exit_code == 0, res.output
    rows = duckdb.sql(f"select * from read_parquet('{out}') order by source").fetchall()
    assert rows == [("nikkei", 1), ("quiet", 1), ("wire", 3)]


def test_parquet_without_out_is_refused(seeded):
    _, db = seeded
    res = invoke("query", "select 1", "--format", "parquet", "--db", str(db))
    assert res.exit_code == 2 and "--out" in res.output


def test_every_example_query_runs(seeded):
    _, db = seeded
    for path in sorted((REPO / "sql" / "examples").glob("*.sql")):
        res = invoke("query", "-f", str(path), "--db", str(db), "--format", "json")
        assert res.exit_code == 0, (path.name, res.output)


# --- status -----------------------------------------------------------------------------------

def test_pending_view_counts_what_a_digest_would_select(seeded):
    cfg, db = seeded
    conn = connect(db, read_only=True)
    backlog = {r[0]: r[1] for r in conn.execute("select subscriber, pending_items from subscriber_backlog").fetchall()}
    for name, topics, every in (("desk", ["energy"], False), ("all", ["*"], True)):
        rows = select_pending(conn, name, topics, every, 0.0, NOW - timedelta(days=7))
        assert backlog[name] == len({r.article_id for r in rows})
    assert backlog == {"all": 4, "desk": 3}
    conn.close()


def test_status_shows_runs_sources_and_backlog(seeded):
    cfg, db = seeded
    res = invoke("status", "--db", str(db), "--config-dir", str(cfg), "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["runs"][0]["status"] == "completed"
    health = {s["source"]: s for s in report["sources"]}
    assert health["nikkei"]["status"] == "failing" and health["nikkei"]["consecutive_failures"] == 4
    assert health["quiet"]["status"] == "ok"  # one article in 28 days is below the "silent" floor
    assert {b["subscriber"]: b["pending_items"] for b in report["backlog"]} == {"all": 4, "desk": 3}
    assert report["notes"] == []
    table = invoke("status", "--db", str(db), "--config-dir", str(cfg))
    assert "Pending digest items" in table.output and "nikkei" in table.output


def test_status_notes_when_alerts_changed_since_the_last_run(seeded):
    cfg, db = seeded
    (cfg / "alerts.yaml").write_text(ALERTS.replace("name: all", "name: everything"), encoding="utf-8")
    conn = connect(db, read_only=True)
    report = collect_status(conn, load_config(cfg))
    conn.close()
    assert any("alerts.yaml changed" in n for n in report.notes)


HOLD = textwrap.dedent("""
    import sys, time
    from newswatch.store import connect, writer_lock
    with writer_lock(sys.argv[1]):
        conn = connect(sys.argv[1])
        print("holding", flush=True)
        time.sleep(float(sys.argv[2]))
        conn.close()
""")


def hold_database(db: Path, seconds: float) -> subprocess.Popen:
    """Another process that writes to the database the way a run does (lock + open file)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(db), str(seconds)], stdout=subprocess.PIPE,
                            text=True, cwd=REPO)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_readers_wait_for_a_run_then_say_clearly_it_is_writing(seeded):
    cfg, db = seeded
    proc = hold_database(db, 30)
    try:
        with pytest.raises(DatabaseBusyError, match="a newswatch run is writing"):
            connect_reader(db, wait_s=0.5)
        res = invoke("query", "select 1", "--db", str(db))
        assert res.exit_code == 2 and "writing to this database" in res.output
    finally:
        proc.kill()
        proc.wait()
    connect_reader(db, wait_s=5).close()


def test_reader_gets_in_once_a_short_run_finishes(seeded):
    _, db = seeded
    proc = hold_database(db, 1.0)
    started = time.monotonic()
    conn = connect_reader(db, wait_s=15)
    assert conn.execute("select count(*) from articles").fetchone()[0] == len(ARTICLES)
    conn.close()
    proc.wait()
    assert time.monotonic() - started >= 0.5


# --- sources check ----------------------------------------------------------------------------

def test_sources_check_reports_kind_items_and_errors_without_storing(corpus_server, tmp_path):
    base = corpus_server.base
    cfg = write_config(tmp_path / "cfg", "sources:\n"
                       + local_source("guardian", "rss", f"{base}/feeds/guardian.rss")
                       + local_source("daringfireball", "rss", f"{base}/feeds/daringfireball.atom")
                       + local_source("sitemap", "sitemap", f"{base}/sitemap.xml")
                       + local_source("gone", "rss", f"{base}/fault/404"))
    db = tmp_path / "untouched.duckdb"
    res = CliRunner().invoke(app, ["sources", "check", "--config-dir", str(cfg), "--json"],
                             env={"NEWSWATCH_DB": str(db)})
    assert res.exit_code == 1, res.output  # one source failed
    checks = {c["source"]: c for c in json.loads(res.stdout)}
    assert checks["guardian"]["detected_kind"] == "rss" and checks["guardian"]["items"] == 55
    assert checks["daringfireball"]["detected_kind"] == "atom" and checks["daringfireball"]["last_item_at"]
    assert checks["sitemap"]["detected_kind"].startswith("sitemap") and checks["sitemap"]["items"] > 0
    assert checks["gone"]["ok"] is False and checks["gone"]["status_code"] == 404 and checks["gone"]["errors"]
    assert not db.exists()


def test_unknown_source_name_is_refused(tmp_path):
    cfg = write_config(tmp_path / "cfg", "sources:\n" + local_source("a", "rss", "http://127.0.0.1:9/feed"))
    res = invoke("sources", "check", "nope", "--config-dir", str(cfg))
    assert res.exit_code == 2 and "unknown source" in res.output


# --- overlapping runs -------------------------------------------------------------------------

@pytest.mark.flow
def test_second_ingest_waits_for_the_first_and_nothing_corrupts(corpus_server, tmp_path):
    base = corpus_server.base
    cfg = write_config(tmp_path / "cfg", "sources:\n"
                       + local_source("guardian", "rss", f"{base}/feeds/guardian.rss", lang="en")
                       + local_source("golem", "rss", f"{base}/feeds/golem.rss", lang="de"))
    db = tmp_path / "news.duckdb"
    cli = [NEWSWATCH, "ingest", "--config-dir", str(cfg), "--db", str(db)]
    env = {**os.environ, "NEWSWATCH_LOCK_WAIT_S": "120"}
    first = subprocess.Popen(cli, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(cli, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outs = [p.communicate(timeout=240)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outs
    conn = connect(db, read_only=True)
    runs = conn.execute("select status, count(*) from runs group by status").fetchall()
    dupes = conn.execute("select count(*) - count(distinct url) from articles").fetchone()[0]
    n = conn.execute("select count(*) from articles").fetchone()[0]
    conn.close()
    assert runs == [("completed", 2)] and dupes == 0 and n >= 60


@pytest.mark.flow
def test_second_ingest_gives_up_clearly_when_the_first_runs_too_long(seeded):
    cfg, db = seeded
    proc = hold_database(db, 60)
    try:
        env = {**os.environ, "NEWSWATCH_LOCK_WAIT_S": "1"}
        res = subprocess.run([NEWSWATCH, "ingest", "--config-dir", str(cfg), "--db", str(db)],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert res.returncode == 2, res.stdout + res.stderr
    assert "another newswatch run is writing" in res.stderr
    conn = connect(db, read_only=True)
    assert conn.execute("select count(*) from articles").fetchone()[0] == len(ARTICLES)
    conn.close()


def test_summarise_poll_dedupes_errors():
    from newswatch.config.sources import RssSource
    from newswatch.ingest import SourcePoll

    src = RssSource(name="x", kind="rss", url="http://127.0.0.1:9/feed")
    check = summarise_poll(SourcePoll(src, (), error="boom"))
    assert check.errors == ("boom",) and not check.ok and check.detected_kind == ""
