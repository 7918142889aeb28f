"""CLI: query formats and read-only refusal, clear config errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.models import Article
from newswatch.store import connect
from newswatch.store.ingest import upsert_articles

runner = CliRunner()


def seeded_db(tmp_path):
    db = tmp_path / "q.duckdb"
    conn = connect(db)
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    upsert_articles(conn, [
        Article("id1", "https://example.com/1", "src", "https://example.com/1", "Café, \"quoted\"", "Text one.",
                "trafilatura", "h1", now, published_at=now, lang="fr"),
        Article("id2", "https://example.com/2", "src", "https://example.com/2", "日本とベルギー", "Text two.",
                "feed_summary", "h2", now, lang="ja"),
    ], "run")
    conn.close()
    return db


def test_query_json_is_one_array_of_objects(tmp_path):
    db = seeded_db(tmp_path)
    res = runner.invoke(app, ["query", "select url, title, lang, published_at from articles order by url",
                              "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [d["title"] for d in data] == ["Café, \"quoted\"", "日本とベルギー"]
    assert data[0]["published_at"].startswith("2026-11-01")


def test_query_csv_quotes_properly(tmp_path):
    db = seeded_db(tmp_path)
    res = runner.invoke(app, ["query", "select title from articles order by url", "--db", str(db), "--format", "csv"])
    assert res.exit_code == 0
    assert res.stdout.splitlines() == ["title", '"Café, ""quoted"""', "日本とベルギー"]


def test_query_table_format_shows_rows(tmp_path):
    db = seeded_db(tmp_path)
    res = runner.invoke(app, ["query", "select count(*) as n from articles", "--db", str(db)])
    assert res.exit_code == 0 and "2" in res.stdout and "n" in res.stdout


def test_query_refuses_writes(tmp_path):
    db = seeded_db(tmp_path)
    for sql in ("delete from articles", "drop table articles", "insert into runs values ('x','y',now(),null,'s',null,null)"):
        res = runner.invoke(app, ["query", sql, "--db", str(db)])
        assert res.exit_code == 2
        assert "refuses writes" in res.output
    conn = connect(db, read_only=True)
    assert conn.execute("select count(*) from articles").fetchone() == (2,)


def test_query_on_missing_database_says_what_to_do(tmp_path):
    res = runner.invoke(app, ["query", "select 1", "--db", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 2 and "newswatch ingest" in res.output


def test_ingest_with_invalid_config_names_file_and_key(tmp_path):
    (tmp_path / "sources.yaml").write_text("sources:\n  - {name: x, kind: rss, url: 'http://example.org/f', every: 5}\n")
    res = runner.invoke(app, ["ingest", "--config-dir", str(tmp_path), "--db", str(tmp_path / "x.duckdb")])
    assert res.exit_code == 2
    assert "sources.yaml: sources[0].every (name: x): unknown key" in res.output


def test_search_in_lake_mode_says_why_it_cannot(tmp_path, monkeypatch):
    """fts cannot index DuckLake tables: `search` on a lake config fails with a reason and a fix
    instead of a traceback (the lake is never contacted: the DSN points nowhere)."""
    (tmp_path / "settings.yaml").write_text(f"storage: ducklake\nlake_data_path: {tmp_path / 'lake'}/\n")
    monkeypatch.setenv("NEWSWATCH_LAKE_CATALOG", "dbname=nowhere host=127.0.0.1 port=1")
    monkeypatch.delenv("NEWSWATCH_DB", raising=False)
    res = runner.invoke(app, ["search", "tanker", "--config-dir", str(tmp_path)])
    assert res.exit_code != 0
    assert "DuckLake" in res.output and "fix:" in res.output
    assert "Traceback" not in res.output
