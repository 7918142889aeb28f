"""Search = fts index + tail: articles added or changed since the last index build are matched by
substring, so search is complete without a rebuild; `should_rebuild` decides when ingest rebuilds.
Real DuckDB files in tmp_path."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from conftest import write_config
from newswatch.cli import app
from newswatch.config import load_config
from newswatch.status import collect_status, refresh_after_ingest
from newswatch.store import connect
from newswatch.store import fts

NOW = datetime.now(timezone.utc)


def add(conn, aid: str, title: str, text: str, days_old: float = 1.0) -> None:
    at = NOW - timedelta(days=days_old)
    conn.execute(
        "insert into articles (article_id, url, fetched_url, source, title, fetched_at, published_at, lang, text,"
        " content_hash, extraction_method) values (?, ?, ?, 'wire', ?, ?, ?, 'en', ?, ?, 'trafilatura')",
        [aid, f"http://127.0.0.1/{aid}", f"http://127.0.0.1/{aid}", title, at, at, text, aid])


def ids(hits) -> list[str]:
    return [h.article_id for h in hits]


@pytest.fixture()
def indexed(tmp_path):
    """Three tanker articles, indexed."""
    conn = connect(tmp_path / "news.duckdb")
    add(conn, "old1", "Tanker rates fall", "Oil tanker rates fell this week.", 3)
    add(conn, "old2", "LNG tanker diverted", "A tanker tanker tanker was diverted to Japan.", 2)
    add(conn, "old3", "Port strike", "Dockers strike; one tanker waits.", 4)
    fts.rebuild_search_index(conn)
    yield conn
    conn.close()


# --- search: index + tail ---------------------------------------------------------------------

def test_an_article_inserted_after_the_build_is_found_from_the_tail(indexed):
    add(indexed, "new1", "Hydrogen ferry launched", "A ferry that runs on hydrogen.", 0.5)
    hits = fts.search_articles(indexed, "HYDROGEN ferry")
    assert ids(hits) == ["new1"] and hits[0].score is None
    assert fts.index_state(indexed).tail == 1


def test_without_an_index_everything_is_searched_by_substring(tmp_path):
    conn = connect(tmp_path / "news.duckdb")
    add(conn, "a1", "Tanker rates fall", "Oil tanker rates fell.", 2)
    add(conn, "a2", "Wind farm", "Offshore wind; no tanker here? yes: tanker.", 1)
    add(conn, "a3", "50%_off", "A discount of 50%_off on nothing.", 1)
    add(conn, "a4", "50% off", "Not the literal underscore.", 1)
    state = fts.index_state(conn)
    assert state.built_at is None and state.indexed == 0 and state.tail == 4
    hits = fts.search_articles(conn, "tanker")
    assert ids(hits) == ["a2", "a1"] and all(h.score is None for h in hits)  # newest first
    assert ids(fts.search_articles(conn, "50%_off")) == ["a3"]  # LIKE wildcards are escaped
    assert fts.search_articles(conn, "tanker nowhere") == []  # every term must appear
    conn.close()


def test_an_article_changed_after_the_build_appears_once_from_the_tail(indexed):
    indexed.execute("update articles set title = 'Tanker rates recover', text = 'Tanker rates rose again.',"
                    " updated_at = now() where article_id = 'old1'")
    hits = fts.search_articles(indexed, "tanker")
    assert ids(hits).count("old1") == 1
    assert hits[0].article_id == "old1" and hits[0].score is None and hits[0].title == "Tanker rates recover"
    assert set(ids(hits)) == {"old1", "old2", "old3"}
    # the stale indexed text ("fell") no longer matches; the new text does
    assert fts.search_articles(indexed, "fell") == []
    assert ids(fts.search_articles(indexed, "rose")) == ["old1"]


def test_tail_hits_come_first_newest_first_then_ranked_hits_and_limit_holds(indexed):
    add(indexed, "new1", "Tanker seized", "A tanker was seized.", 0.5)
    add(indexed, "new2", "Tanker freed", "The tanker was freed.", 0.1)
    hits = fts.search_articles(indexed, "tanker")
    assert ids(hits)[:2] == ["new2", "new1"] and [h.score for h in hits[:2]] == [None, None]
    ranked = hits[2:]
    assert {h.article_id for h in ranked} == {"old1", "old2", "old3"} and all(h.score is not None for h in ranked)
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)
    assert ranked[0].article_id == "old2"  # "tanker" four times: the best BM25 score
    assert ids(fts.search_articles(indexed, "tanker", limit=3)) == ["new2", "new1", "old2"]
    assert ids(fts.search_articles(indexed, "tanker", limit=1)) == ["new2"]


def test_cjk_queries_match_substrings_over_indexed_and_new_articles(indexed):
    add(indexed, "ja1", "日中首脳会談", "東京で日中首脳会談が開かれた。", 3)
    fts.rebuild_search_index(indexed)
    add(indexed, "ja2", "首脳会談の続報", "首脳会談は続く。", 0.5)
    hits = fts.search_articles(indexed, "首脳会談")
    assert ids(hits) == ["ja2", "ja1"] and all(h.score is None for h in hits)


def test_the_sql_macro_gives_the_same_answer_as_search_articles(indexed, tmp_path):
    add(indexed, "new1", "Tanker seized", "A tanker was seized.", 0.5)
    indexed.execute("update articles set text = 'Tanker rates rose.', updated_at = now() where article_id = 'old1'")
    for query in ("tanker", "tanker rates", "seized", "fell"):
        macro = [r[0] for r in indexed.execute("select article_id from search_articles(?)", [query]).fetchall()]
        assert macro == ids(fts.search_articles(indexed, query, limit=100)), query


def test_the_sql_macro_exists_before_any_index_is_built(tmp_path):
    cfg = write_config(tmp_path / "cfg", "sources: []\n")
    conn = connect(tmp_path / "news.duckdb")
    add(conn, "a1", "Tanker rates fall", "Oil tanker rates fell.", 2)
    assert refresh_after_ingest(conn, load_config(cfg)) is False  # 1 article: no index
    conn.close()
    res = CliRunner().invoke(app, ["query", "select article_id, score from search_articles('TANKER fell')",
                                   "--db", str(tmp_path / "news.duckdb"), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [{"article_id": "a1", "score": None}]


# --- rebuild policy ---------------------------------------------------------------------------

def state(tail: int, built_minutes_ago: float | None) -> fts.IndexState:
    built = None if built_minutes_ago is None else NOW - timedelta(minutes=built_minutes_ago)
    indexed = 0 if built is None else 1000
    return fts.IndexState(articles=indexed + tail, indexed=indexed, built_at=built, is_stale=tail > 0, tail=tail)


def test_no_index_and_a_short_tail_is_not_rebuilt():
    assert not fts.should_rebuild(state(4999, None), tail_max=5000, reindex_minutes=60, now=NOW)
    assert not fts.should_rebuild(state(5000, None), tail_max=5000, reindex_minutes=60, now=NOW)


def test_a_tail_longer_than_the_maximum_is_rebuilt_with_or_without_an_index():
    assert fts.should_rebuild(state(5001, None), tail_max=5000, reindex_minutes=60, now=NOW)
    assert fts.should_rebuild(state(5001, 1), tail_max=5000, reindex_minutes=60, now=NOW)  # even a fresh build


def test_an_old_build_with_a_non_empty_tail_is_rebuilt():
    assert fts.should_rebuild(state(1, 61), tail_max=5000, reindex_minutes=60, now=NOW)
    assert not fts.should_rebuild(state(0, 600), tail_max=5000, reindex_minutes=60, now=NOW)  # nothing new


def test_a_fresh_build_is_not_rebuilt():
    assert not fts.should_rebuild(state(100, 59), tail_max=5000, reindex_minutes=60, now=NOW)


def test_lake_mode_never_rebuilds():
    for s in (state(10**6, None), state(10, 10**4)):
        assert not fts.should_rebuild(s, tail_max=0, reindex_minutes=0, now=NOW, dialect="ducklake")


def test_ingest_follows_the_policy_on_a_real_store(tmp_path):
    settings = "read_timeout_s: 1.5\nconnect_timeout_s: 2\ntotal_timeout_s: 10\nsearch_tail_max: 2\n"
    config = load_config(write_config(tmp_path / "cfg", "sources: []\n", settings))
    conn = connect(tmp_path / "news.duckdb")
    add(conn, "a1", "One tanker", "tanker", 3)
    add(conn, "a2", "Two tankers", "tanker", 2)
    assert refresh_after_ingest(conn, config) is False  # tail 2 <= 2, no index: substring only
    assert fts.index_state(conn).built_at is None
    add(conn, "a3", "Three tankers", "tanker", 1)
    assert refresh_after_ingest(conn, config) is True  # tail 3 > 2
    assert fts.index_state(conn).tail == 0
    add(conn, "a4", "Four tankers", "tanker", 0.5)
    assert refresh_after_ingest(conn, config) is False  # build is fresh, tail 1
    conn.execute("update search_index set built_at = now() - interval 2 hour")
    assert refresh_after_ingest(conn, config) is True  # index older than 60 min and a tail
    assert fts.index_state(conn).tail == 0
    conn.close()


def test_status_says_how_many_are_indexed_and_how_many_in_the_tail(indexed):
    add(indexed, "new1", "Tanker seized", "A tanker was seized.", 0.5)
    report = collect_status(indexed, None)
    assert report.index.indexed == 3 and report.index.tail == 1
    assert any("covers 3 articles; 1 added or changed" in n and "substring until the next rebuild" in n
               for n in report.notes), report.notes


def test_status_without_an_index_says_everything_is_searched_by_substring(tmp_path):
    conn = connect(tmp_path / "news.duckdb")
    add(conn, "a1", "Tanker rates fall", "Oil tanker rates fell.", 2)
    report = collect_status(conn, None)
    conn.close()
    assert report.index.built_at is None and report.index.tail == 1
    assert any("no search index yet: all 1 articles are searched by substring" in n for n in report.notes)
