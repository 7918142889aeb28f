"""store: migrations recorded and forward-only; idempotent, transactional writes; writer lock."""

from __future__ import annotations

import shutil
import threading
from datetime import datetime, timezone

import duckdb
import pytest

from newswatch.models import Article
from newswatch.store import DatabaseBusyError, connect, migrate, writer_lock
from newswatch.store.db import SQL_DIR, MigrationError
from newswatch.store.ingest import known_url_ids, upsert_articles
from newswatch.urls import canonicalize_url, url_id


def article(url: str, text: str = "Body text of the article.", aliases=()) -> Article:
    canon = canonicalize_url(url)
    return Article(url_id(canon), canon, "src", url, "Title", text, "trafilatura", "h-" + text[:20],
                   datetime.now(timezone.utc), aliases=tuple(aliases))


def test_migrations_are_recorded_once(tmp_path):
    db = tmp_path / "a.duckdb"
    conn = connect(db)
    versions = [v for v, in conn.execute("select version from schema_migrations order by version").fetchall()]
    assert versions == sorted(int(p.name[:4]) for p in (SQL_DIR / "migrations").glob("*.sql"))
    assert migrate(conn) == []  # nothing pending the second time
    conn.close()


def test_edited_applied_migration_is_refused(tmp_path):
    sql = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql)
    conn = duckdb.connect(str(tmp_path / "b.duckdb"))
    migrate(conn, sql)
    first = sorted((sql / "migrations").glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(conn, sql)


def test_failed_migration_leaves_no_record(tmp_path):
    sql = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql)
    (sql / "migrations" / "0999_broken.sql").write_text("create table ok_table (x int);\nthis is not sql;\n")
    conn = duckdb.connect(str(tmp_path / "c.duckdb"))
    with pytest.raises(duckdb.Error):
        migrate(conn, sql)
    assert conn.execute("select count(*) from schema_migrations where version = 999").fetchone() == (0,)
    tables = {t for t, in conn.execute("select table_name from information_schema.tables").fetchall()}
    assert "ok_table" not in tables  # the migration and its record commit together or not at all


def test_upsert_is_idempotent_and_counts(tmp_path):
    conn = connect(tmp_path / "d.duckdb")
    batch = [article("https://example.com/a"), article("https://example.com/b"), article("https://example.com/a")]
    assert upsert_articles(conn, batch, "run1") == (2, 0)
    assert upsert_articles(conn, batch, "run2") == (0, 0)
    changed = article("https://example.com/a", text="A corrected body.")
    assert upsert_articles(conn, [changed], "run3") == (0, 1)
    assert conn.execute("select count(*) from articles").fetchone() == (2,)
    assert conn.execute("select text from articles where url = 'https://example.com/a'").fetchone() == ("A corrected body.",)


def test_aliases_make_other_urls_known(tmp_path):
    conn = connect(tmp_path / "e.duckdb")
    a = article("https://example.com/canonical", aliases=["https://example.com/story?id=1"])
    upsert_articles(conn, [a], "r")
    ids = [url_id("https://example.com/story?id=1"), url_id("https://example.com/canonical"), url_id("https://x.org/")]
    assert known_url_ids(conn, ids) == set(ids[:2])


def test_writer_lock_refuses_a_second_writer_clearly(tmp_path):
    db = tmp_path / "f.duckdb"
    held = threading.Event()
    release = threading.Event()

    def holder():
        with writer_lock(db):
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    messages = []
    with pytest.raises(DatabaseBusyError, match="another newswatch run is writing"):
        with writer_lock(db, wait_s=0.3, on_wait=messages.append):
            pass
    assert messages and "waiting up to 0.3 s" in messages[0]
    release.set()
    t.join()
    with writer_lock(db, wait_s=0):  # free again once the first run ends
        pass


def test_read_only_connection_refuses_writes(tmp_path):
    db = tmp_path / "g.duckdb"
    connect(db).close()
    ro = connect(db, read_only=True)
    with pytest.raises(duckdb.Error, match="read-only"):
        ro.execute("delete from articles")
    ro.close()


def test_every_view_file_creates_a_view(tmp_path):
    conn = connect(tmp_path / "h.duckdb")
    views = {v for v, in conn.execute("select view_name from duckdb_views() where not internal").fetchall()}
    for p in (SQL_DIR / "views").glob("*.sql"):
        name = p.read_text().split("create or replace view", 1)[1].split()[0]
        assert name in views
        conn.execute(f"select * from {name} limit 1").fetchall()


def test_a_killed_runs_row_is_marked_abandoned_by_the_next_run(tmp_path):
    from newswatch.store.ingest import finish_run, start_run

    conn = connect(tmp_path / "runs.duckdb")
    start_run(conn, "killed", "ingest")  # never finished: the process was killed
    start_run(conn, "next", "ingest")
    finish_run(conn, "next", "completed", {})
    rows = dict(conn.execute("select run_id, status from runs").fetchall())
    assert rows == {"killed": "abandoned", "next": "completed"}
    assert "killed or crashed" in conn.execute("select error from runs where run_id = 'killed'").fetchone()[0]


def test_sync_sources_rewrites_only_changed_sources_and_disables_removed_ones(tmp_path):
    from newswatch.config.sources import SourcesFile
    from newswatch.store.ingest import sync_sources

    def sources(*specs):
        return SourcesFile.model_validate({"sources": [{"name": n, "kind": "rss", "url": u} for n, u in specs]}).sources

    conn = connect(tmp_path / "src.duckdb")
    sync_sources(conn, sources(("a", "https://a.example/f"), ("b", "https://b.example/f")))
    before = dict(conn.execute("select source, updated_at from sources").fetchall())
    sync_sources(conn, sources(("a", "https://a.example/f"), ("b", "https://b.example/f")))
    assert dict(conn.execute("select source, updated_at from sources").fetchall()) == before
    sync_sources(conn, sources(("a", "https://a.example/new")))
    rows = {s: (url, on, at) for s, url, on, at in conn.execute("select source, url, is_enabled, updated_at from sources").fetchall()}
    assert rows["a"][:2] == ("https://a.example/new", True) and rows["a"][2] > before["a"]
    assert rows["b"][1] is False  # gone from sources.yaml: kept, disabled
    disabled_at = rows["b"][2]
    sync_sources(conn, sources(("a", "https://a.example/new")))
    assert conn.execute("select updated_at from sources where source = 'b'").fetchone()[0] == disabled_at


def test_bulk_insert_round_trips_every_column_type(tmp_path):
    """Rows travel as one JSON text cast to each column's declared type: values come back exactly
    (unicode, quotes, newlines, NULLs, aware timestamps with microseconds, doubles, booleans, JSON)."""
    from newswatch.store.db import bulk_insert

    conn = connect(tmp_path / "rt.duckdb")
    conn.execute("create table rt (k varchar primary key, t timestamptz, d double, i bigint, b boolean, j json, s varchar)")
    when = datetime(2026, 11, 23, 11, 58, 33, 609397, tzinfo=timezone.utc)
    rows = [
        ("a", when, 0.1 + 0.2, 2**53 + 1, True, '{"x": [1, "é"]}', 'quote " back\\slash\nnew line é あ 😀'),
        ("b", None, None, None, None, None, None),
    ]
    assert bulk_insert(conn, "rt", ("k", "t", "d", "i", "b", "j", "s"), rows) == 2
    got = conn.execute("select k, t, d, i, b, j::varchar, s from rt order by k").fetchall()
    assert got[0][:5] == rows[0][:5] and got[0][6] == rows[0][6]
    assert got[0][5].replace(" ", "") == '{"x":[1,"é"]}'  # a JSON column keeps the document, not a string
    assert got[1] == rows[1]
    # the on-conflict clause applies as before
    bulk_insert(conn, "rt", ("k", "s"), [("a", "new")], "on conflict (k) do update set s = excluded.s")
    assert conn.execute("select s, d from rt where k = 'a'").fetchone() == ("new", 0.1 + 0.2)
    conn.close()
