"""`newswatch query` reads and nothing else: every statement that would write a file, change a
setting, load an extension or read outside the database is refused, by the statement check and,
behind it, by DuckDB's own guards on the query's connection. Each test proves that the database
file is byte-for-byte unchanged and that no file appeared anywhere under the test's folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from newswatch.cli.query import open_readonly
from newswatch.store import connect, fts
from test_ops import ARTICLES, invoke, seed

PASSWD = "/etc/passwd"


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root with a hash of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def forms(db: Path, tmp: Path) -> list[str]:
    out = tmp / "written.csv"
    return [
        f"explain analyze copy (select 'oops') to '{db}' (format csv)",
        f"explain analyze copy (select 'oops') to '{out}' (format csv)",
        "explain analyze copy (select 'oops') to 'relative.csv' (format csv)",
        f"explain copy (select 'oops') to '{out}'",
        f"explain (analyze) copy (select 'oops') to '{out}'",
        f"explain /* hidden */ analyze copy (select 'oops') to '{out}'",
        f"copy (select 1) to '{out}'",
        f"copy articles to '{tmp / 'articles.parquet'}' (format parquet)",
        f"export database '{tmp / 'export'}'",
        f"attach '{tmp / 'new.duckdb'}' as scratch",
        f"explain analyze attach '{tmp / 'new.duckdb'}' as scratch",
        "install httpfs",
        "load httpfs",
        f"load '{fts.extension_path()}'",
        "set enable_external_access = true",
        "set autoinstall_known_extensions = true",
        "explain analyze set autoinstall_known_extensions = true",
        "explain analyze set enable_external_access = true",
        "pragma threads = 1",
        f"pragma profiling_output = '{tmp / 'profile.txt'}'",
        f"explain analyze pragma profiling_output = '{tmp / 'profile.txt'}'",
        "call checkpoint()",
        f"select 1; copy (select 1) to '{out}'",
        f"select 1 /* ; */ ; copy (select 1) to '{out}'",
        f"select 1 -- a comment\n; copy (select 1) to '{out}'",
        f"/* select */ copy (select 1) to '{out}'",
        "delete from articles",
    ]


READS_OUTSIDE = [
    f"select * from read_text('{PASSWD}')",
    f"select * from read_csv('{PASSWD}')",
    f"select * from read_blob('{PASSWD}')",
    f"explain analyze select * from read_text('{PASSWD}')",
    f"select * from '{PASSWD}'",
    "select * from glob('/etc/*')",
    f"select * from sniff_csv('{PASSWD}')",
]


@pytest.fixture()
def seeded(tmp_path):
    """test_ops's articles in a database with its search index built."""
    db = tmp_path / "news.duckdb"
    seed(db)
    conn = connect(db)
    fts.rebuild_search_index(conn)
    conn.close()
    return None, db


@pytest.fixture()
def guarded(seeded, tmp_path, monkeypatch):
    """The seeded database, the CLI's working directory in tmp_path, and a check for afterwards."""
    _, db = seeded
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    before = snapshot(tmp_path)
    yield db, tmp_path
    assert snapshot(tmp_path) == before  # the database unchanged, and no file written anywhere
    conn = duckdb.connect(str(db), read_only=True)
    assert conn.execute("select count(*) from articles").fetchone()[0] == len(ARTICLES)
    conn.close()


@pytest.mark.parametrize("index", range(len(forms(Path("d"), Path("t")))))
def test_query_refuses_every_form_of_write(guarded, index):
    db, tmp = guarded
    sql = forms(db, tmp)[index]
    res = invoke("query", sql, "--db", str(db))
    assert res.exit_code == 2, (sql, res.output)
    assert "query refuses" in res.output or "Parser Error" in res.output, res.output


@pytest.mark.parametrize("sql", READS_OUTSIDE)
def test_query_refuses_to_read_files_outside_the_database(guarded, sql):
    db, _ = guarded
    first_line = Path(PASSWD).read_text().splitlines()[0]
    res = invoke("query", sql, "--db", str(db), "--format", "json")
    assert res.exit_code == 2, res.output
    assert first_line not in res.output, res.output


@pytest.mark.parametrize("index", range(len(forms(Path("d"), Path("t")))))
def test_the_engine_refuses_what_the_statement_check_would_miss(guarded, index):
    """The statement check is bypassed: the query's connection itself must refuse."""
    db, tmp = guarded
    sql = forms(db, tmp)[index]
    conn = open_readonly(None, db)
    try:
        try:
            for statement in conn.extract_statements(sql):
                conn.execute(statement.query).fetchall()
        except duckdb.Error:
            pass
        else:  # a no-op on this connection: the fixture checks that nothing changed
            assert sql in ("call checkpoint()", f"load '{fts.extension_path()}'"), sql
        for read in READS_OUTSIDE:
            with pytest.raises(duckdb.Error):
                conn.execute(read).fetchall()
        assert conn.execute("select current_setting('enable_external_access'), current_setting('lock_configuration'),"
                            " current_setting('autoload_known_extensions')").fetchone() == (False, True, False)
    finally:
        conn.close()


def test_reads_still_work_search_explain_analyze_and_every_output_format(guarded):
    db, tmp = guarded
    res = invoke("query", "select article_id from search_articles('tanker diverted')", "--db", str(db),
                 "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [{"article_id": "a1"}]
    res = invoke("query", "explain analyze select count(*) from articles", "--db", str(db))
    assert res.exit_code == 0, res.output
    res = invoke("query", "select 1 as x; select count(*) as n from articles", "--db", str(db), "--format", "json")
    assert res.exit_code == 0 and json.loads(res.stdout) == [{"n": len(ARTICLES)}], res.output


def test_parquet_output_is_written_by_a_separate_connection_with_the_types_kept(seeded, tmp_path):
    _, db = seeded
    out = tmp_path / "o.parquet"
    sql = ("select article_id, fetched_at, [lang, source] as tags, {'t': title} as s, 1.5::decimal(4, 2) as d"
           " from articles order by article_id")
    res = invoke("query", sql, "--db", str(db), "--format", "parquet", "--out", str(out))
    assert res.exit_code == 0, res.output
    got = duckdb.connect()
    want = duckdb.connect(str(db), read_only=True)
    try:
        rel = got.sql(f"select * from read_parquet('{out}') order by article_id")
        assert [str(t) for t in rel.types] == ["VARCHAR", "TIMESTAMP WITH TIME ZONE", "VARCHAR[]",
                                                "STRUCT(t VARCHAR)", "DECIMAL(4,2)"]
        assert rel.fetchall() == want.execute(sql).fetchall()
    finally:
        got.close()
        want.close()
    res = invoke("query", "select 1 as x where false", "--db", str(db), "--format", "parquet", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert duckdb.sql(f"select count(*) from read_parquet('{out}')").fetchone() == (0,)
