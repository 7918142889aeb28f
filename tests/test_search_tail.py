"""Search = fts index + tail, one scorer: articles added or changed since the last index build are
tokenised at query time exactly as the index tokenises, and BM25 runs over both with statistics of
all articles, so the answer does not depend on the index state; `should_rebuild` decides when ingest
rebuilds (which changes the cost of a search, not its answer). Real DuckDB files in tmp_path."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import write_config
from newswatch.cli import app
from newswatch.config import load_config
from newswatch.status import collect_status, refresh_after_ingest
from newswatch.store import connect
from newswatch.store import fts

NOW = datetime.now(timezone.utc)


def add(conn, aid: str, title: str | None, text: str, days_old: float = 1.0,
        updated_at: datetime | None = None) -> None:
    at = NOW - timedelta(days=days_old)
    conn.execute(
        "insert into articles (article_id, url, fetched_url, source, title, fetched_at, published_at, lang, text,"
        " content_hash, extraction_method, updated_at) values (?, ?, ?, 'wire', ?, ?, ?, 'en', ?, ?, 'trafilatura',"
        " coalesce(?, now()))",
        [aid, f"http://127.0.0.1/{aid}", f"http://127.0.0.1/{aid}", title, at, at, text, aid, updated_at])


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


# --- search: index + tail, one scorer ------------------------------------------------------------

def test_an_article_inserted_after_the_build_is_found_and_ranked_from_the_tail(indexed):
    add(indexed, "new1", "Hydrogen ferry launched", "A ferry that runs on hydrogen.", 0.5)
    hits = fts.search_articles(indexed, "HYDROGEN ferry")
    assert ids(hits) == ["new1"] and hits[0].score is not None and hits[0].score > 0
    assert fts.index_state(indexed).tail == 1


def test_without_an_index_search_is_ranked_with_case_and_accents_folded(tmp_path):
    conn = connect(tmp_path / "news.duckdb")
    add(conn, "a1", "Tanker rates fall", "Oil tanker rates fell.", 2)
    add(conn, "a2", "Wind farm", "Offshore wind; no tanker here? yes: tanker, tanker.", 1)
    add(conn, "a3", "Mission économique", "Une mission économique au Japon.", 1)
    state = fts.index_state(conn)
    assert state.built_at is None and state.indexed == 0 and state.tail == 3
    hits = fts.search_articles(conn, "tanker")
    assert ids(hits) == ["a2", "a1"] and all(h.score is not None for h in hits)  # tanker x3 beats x2
    assert hits[0].score > hits[1].score
    assert ids(fts.search_articles(conn, "ECONOMIQUE")) == ["a3"]  # accents and case folded, as in the index
    assert ids(fts.search_articles(conn, "missions japon")) == ["a3"]  # stemmed, as in the index
    assert fts.search_articles(conn, "tanker nowhere") == []  # every term must appear
    assert fts.search_articles(conn, "!!!") == []  # no words: nothing, not everything
    assert ids(fts.search_articles(conn, "...économique,")) == ["a3"]  # punctuation around a word is no word
    conn.close()


def test_an_article_changed_after_the_build_appears_once_with_its_new_text(indexed):
    indexed.execute("update articles set title = 'Tanker rates recover', text = 'Tanker rates rose again.',"
                    " updated_at = now() where article_id = 'old1'")
    hits = fts.search_articles(indexed, "tanker")
    assert ids(hits).count("old1") == 1 and set(ids(hits)) == {"old1", "old2", "old3"}
    assert next(h for h in hits if h.article_id == "old1").title == "Tanker rates recover"
    # the stale indexed text ("fell") no longer matches; the new text does
    assert fts.search_articles(indexed, "fell") == []
    assert ids(fts.search_articles(indexed, "rose")) == ["old1"]


def test_tail_and_indexed_hits_are_ranked_together_best_first_and_limit_holds(indexed):
    add(indexed, "new1", "Tanker seized", "A tanker was seized.", 0.5)
    add(indexed, "new2", "Tanker tanker", "The tanker tanker tanker tanker was freed.", 0.1)
    hits = fts.search_articles(indexed, "tanker")
    assert all(h.score is not None for h in hits) and len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert ids(hits)[0] == "new2"  # "tanker" six times in a short article: best, though it is in the tail
    assert ids(fts.search_articles(indexed, "tanker", limit=2)) == ids(hits)[:2]
    fts.rebuild_search_index(indexed)
    assert fts.search_articles(indexed, "tanker") == hits  # same hits, same scores, same order


def test_cjk_queries_match_substrings_over_indexed_and_new_articles(indexed):
    add(indexed, "ja1", "日中首脳会談", "東京で日中首脳会談が開かれた。", 3)
    fts.rebuild_search_index(indexed)
    add(indexed, "ja2", "首脳会談の続報", "首脳会談は続く。", 0.5)
    hits = fts.search_articles(indexed, "首脳会談")
    assert ids(hits) == ["ja2", "ja1"] and all(h.score is None for h in hits)


def test_the_sql_macro_gives_the_same_answer_as_search_articles(indexed, tmp_path):
    add(indexed, "new1", "Tanker seized", "A tanker was seized.", 0.5)
    indexed.execute("update articles set text = 'Tanker rates rose.', updated_at = now() where article_id = 'old1'")
    for query in ("tanker", "tanker rates", "seized", "fell", "首脳会談", "!!"):
        macro = indexed.execute("select article_id, score from search_articles(?)", [query]).fetchall()
        assert macro == [(h.article_id, h.score) for h in fts.search_articles(indexed, query, limit=100)], query


def test_the_sql_macro_exists_before_any_index_is_built(tmp_path):
    cfg = write_config(tmp_path / "cfg", "sources: []\n")
    conn = connect(tmp_path / "news.duckdb")
    add(conn, "a1", "Tanker rates fall", "Oil tanker rates fell.", 2)
    assert refresh_after_ingest(conn, load_config(cfg)) is False  # 1 article: no index
    expected = [(h.article_id, h.score) for h in fts.search_articles(conn, "TANKER fell")]
    conn.close()
    res = CliRunner().invoke(app, ["query", "select article_id, score from search_articles('TANKER fell')",
                                   "--db", str(tmp_path / "news.duckdb"), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert [(r["article_id"], r["score"]) for r in json.loads(res.stdout)] == expected
    assert expected and expected[0][0] == "a1" and expected[0][1] is not None


def test_with_a_full_index_the_scores_are_the_extension_s_own_bm25(indexed):
    add(indexed, "new1", "Tanker seized off Japan", "A tanker was seized; rates rose.", 0.5)
    fts.rebuild_search_index(indexed)
    for query in ("tanker", "tanker rates", "Japan tanker", "strike"):
        ours = {h.article_id: h.score for h in fts.search_articles(indexed, query, limit=100)}
        theirs = dict(indexed.execute(
            "select article_id, score from (select article_id, fts_main_articles.match_bm25(article_id, ?,"
            " conjunctive := 1) as score from articles) where score is not null", [query]).fetchall())
        assert ours.keys() == theirs.keys() and ours, query
        assert all(ours[k] == pytest.approx(theirs[k], rel=1e-12) for k in ours), query


# --- the tail is tokenised exactly as the index is ------------------------------------------------

WORDS = ["tanker", "Tankers", "TANKER's", "mission", "missions", "économie", "Economique", "ÉCONOMIQUE",
         "japan", "Japan", "japon", "naïve", "straße", "café", "50%", "off_", "a\\b", "x.y", "2026", "ｆｕｌｌ",
         "首脳", "会談", "running", "runs", "ran", "relational", "sensibility", "hoping", "–", "...", "«oui»"]
text_st = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), max_size=30).map(" ".join)


def _index_tokens(conn) -> dict[str, tuple[int, list[tuple[str, int]]]]:
    rows = conn.execute("select d.name, d.len, dict.term, count(t.termid) from fts_main_articles.docs d"
                        " left join fts_main_articles.terms t using (docid)"
                        " left join fts_main_articles.dict dict using (termid) group by all").fetchall()
    out: dict[str, tuple[int, list]] = {}
    for name, length, term, n in rows:
        out.setdefault(name, (length, []))[1].extend([(term, n)] if term is not None else [])
    return {k: (v[0], sorted(v[1])) for k, v in out.items()}


def _tail_tokens(conn) -> dict[str, tuple[int, list[tuple[str, int]]]]:
    rows = conn.execute(f"""
        with w as (select article_id, unnest({fts._article_words_sql("articles")}) as t from articles)
        select a.article_id, (select count(*) from w where w.article_id = a.article_id),
               list((s.term, s.n) order by s.term) filter (where s.term is not null)
        from articles a left join (select article_id, stem(t, 'porter') as term, count(*) as n from w group by all) s
          using (article_id) group by all""").fetchall()
    return {aid: (n, sorted(tuple(x) for x in (terms or []))) for aid, n, terms in rows}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=st.lists(st.tuples(st.one_of(st.none(), text_st), text_st), min_size=1, max_size=6))
def test_the_tail_tokeniser_gives_the_index_s_tokens_and_lengths(scratch, docs):
    conn = _fresh(scratch)
    for i, (title, text) in enumerate(docs):
        add(conn, f"d{i}", title, text)
    fts.rebuild_search_index(conn)
    assert _tail_tokens(conn) == _index_tokens(conn)


# --- the property: the answer does not depend on the index state ----------------------------------

VOCAB = ["tanker", "tankers", "Tanker", "mission", "missions", "japan", "Japan's", "économie", "economie",
         "ECONOMIQUE", "économique", "lng", "port", "strike", "the", "of", "wind", "farm"]
doc_st = st.tuples(st.lists(st.sampled_from(VOCAB), max_size=4).map(" ".join),
                   st.lists(st.sampled_from(VOCAB), max_size=25).map(" ".join))
QUERIES = ["mission japan", "economique", "Tankers port strike"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """One migrated store for every example of a property test (a fresh file per example costs ~1 s)."""
    conn = connect(tmp_path_factory.mktemp("prop") / "news.duckdb")
    yield conn
    conn.close()


def _fresh(conn):
    """Back to an empty store without an index."""
    conn.execute("drop schema if exists fts_main_articles cascade")
    conn.execute("delete from search_index")
    conn.execute("delete from articles")
    return conn


def _answers(conn, queries, limit: int = 50) -> dict[str, list[tuple[str, float | None]]]:
    return {q: [(h.article_id, h.score) for h in fts.search_articles(conn, q, limit)] for q in queries}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=st.lists(doc_st, min_size=1, max_size=12), data=st.data())
def test_results_are_the_same_whatever_the_index_state(scratch, docs, data):
    """An index over a prefix, the rest in the tail (plus some indexed articles changed since the
    build) gives exactly the hits, scores and order of a full reindex, and of no index at all."""
    split = data.draw(st.integers(0, len(docs)), label="split")
    changed = data.draw(st.lists(st.integers(0, max(split - 1, 0)), max_size=2), label="changed") if split else []
    new_text = data.draw(doc_st, label="new_text")
    final = [new_text if i in changed else doc for i, doc in enumerate(docs)]
    words = [w for title, text in final for w in (title + " " + text).split()]
    queries = [*QUERIES, *words[:1], *words[-2:]]  # the last: a word that is surely in some article
    conn = _fresh(scratch)
    t0 = NOW - timedelta(days=30)
    for i, (title, text) in enumerate(docs[:split]):
        add(conn, f"d{i:02d}", title, text, days_old=30 - i * 0.1, updated_at=t0 + timedelta(minutes=i))
    if split:
        fts.rebuild_search_index(conn)
    for i, (title, text) in enumerate(docs[split:], start=split):
        add(conn, f"d{i:02d}", title, text, days_old=30 - i * 0.1, updated_at=t0 + timedelta(days=1, minutes=i))
    for j, i in enumerate(changed):
        conn.execute("update articles set title = ?, text = ?, updated_at = ? where article_id = ?",
                     [*new_text, t0 + timedelta(days=2, minutes=j), f"d{i:02d}"])
    fts.ensure_search_macro(conn)
    before = _answers(conn, queries)
    macro = {q: conn.execute("select article_id, score from search_articles(?)", [q]).fetchall() for q in queries}
    fts.rebuild_search_index(conn)
    assert fts.index_state(conn).tail == 0
    after = _answers(conn, queries)
    conn.execute("drop schema fts_main_articles cascade")
    conn.execute("delete from search_index")
    fts.ensure_search_macro(conn)
    no_index = _answers(conn, queries)
    assert before == after == no_index
    assert macro == before
    assert not words or before[words[-1]]  # not vacuous: a word that is in an article finds it


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
    assert refresh_after_ingest(conn, config) is False  # tail 2 <= 2, no index: each search tokenises it
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
    assert any("covers 3 articles; 1 added or changed" in n and "tokenised by each search" in n
               and "substring" not in n for n in report.notes), report.notes


def test_status_without_an_index_says_everything_is_searched_by_substring(tmp_path):
    conn = connect(tmp_path / "news.duckdb")
    add(conn, "a1", "Tanker rates fall", "Oil tanker rates fell.", 2)
    report = collect_status(conn, None)
    conn.close()
    assert report.index.built_at is None and report.index.tail == 1
    assert any("no search index yet: each search tokenises all 1 articles" in n for n in report.notes)
