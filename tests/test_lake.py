"""Lake mode (storage: ducklake): the DDL translation, then a real PostgreSQL catalog started here
on 127.0.0.1 (Debian's `postgresql` package, a temp data directory): concurrent writers through
the store, and real ingest flow runs over two source shards in parallel processes, then an
overlapping run, read back with `newswatch query` and `newswatch status`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import REPO, local_source, write_config
from servers import WebhookReceiver, free_port
from newswatch.config import LakeTarget, Settings, resolve_db_path
from newswatch.models import Article
from newswatch.store import connect, writer_lock
from newswatch.store import ingest as store_ingest
from newswatch.store.db import SQL_DIR
from newswatch.store.lake import translate_ddl, upsert_statements

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # Debian's layout


# --- no server needed ---------------------------------------------------------------------------

@pytest.mark.parametrize("migration", sorted((SQL_DIR / "migrations").glob("*.sql")), ids=lambda p: p.name)
def test_translated_migrations_keep_every_column_and_drop_keys_and_indexes(migration):
    import duckdb

    original, lake_sql = migration.read_text(encoding="utf-8"), translate_ddl(migration.read_text(encoding="utf-8"))
    assert "primary key" not in lake_sql.lower() and "create index" not in lake_sql.lower()
    a, b = duckdb.connect(), duckdb.connect()
    a.execute(original)
    b.execute(lake_sql)
    columns = "select table_name, column_name, data_type from information_schema.columns order by all"
    assert a.execute(columns).fetchall() == b.execute(columns).fetchall()


def test_a_column_key_becomes_not_null_and_a_table_key_goes():
    sql = "create table t (\n  id varchar primary key, -- the key\n  b int,\n  primary key (id, b)\n);\ncreate index i on t (b);"
    assert translate_ddl(sql).split() == ["create", "table", "t", "(", "id", "varchar", "not", "null,", "b", "int", ");"]


def test_on_conflict_update_becomes_update_then_insert_of_the_rest():
    update, insert = upsert_statements("sources", ("source", "url"),
                                       "on conflict (source) do update set url = excluded.url, updated_at = now()")
    assert update.startswith("update sources set url = excluded.url, updated_at = now() from (select unnest($1) as source")
    assert update.endswith("where sources.source = excluded.source")
    assert insert.endswith("where not exists (select 1 from sources as t where t.source = excluded.source)")
    assert upsert_statements("f", ("a",), "on conflict (a) do nothing") == [insert.replace("sources", "f").replace(
        "(source, url) select source, url", "(a) select a").replace("unnest($1) as source, unnest($2) as url", "unnest($1) as a")
        .replace("t.source = excluded.source", "t.a = excluded.a")]


def test_storage_ducklake_needs_a_catalog_and_resolves_to_the_lake(monkeypatch):
    monkeypatch.delenv("NEWSWATCH_DB", raising=False)
    with pytest.raises(ValueError, match="lake_catalog and lake_data_path"):
        Settings(storage="ducklake")
    s = Settings(storage="ducklake", lake_catalog="dbname=n host=127.0.0.1 password=hunter2", lake_data_path="/d/")
    target = resolve_db_path(None, s)
    assert target == LakeTarget("dbname=n host=127.0.0.1 password=hunter2", "/d/")
    assert "hunter2" not in str(target)
    assert resolve_db_path("x.duckdb", s) == Path("x.duckdb")  # an explicit --db file still wins


def test_a_lake_takes_no_writer_lock(tmp_path):
    target = LakeTarget("dbname=n", str(tmp_path))
    with writer_lock(target), writer_lock(target, 0):  # a file would refuse the second one
        pass


# --- a real PostgreSQL --------------------------------------------------------------------------


def _as_postgres(args: list[str], **kw) -> subprocess.CompletedProcess:
    """initdb refuses root: run the server's tools as the `postgres` user when we are root."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kw)


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server on 127.0.0.1 with a temp data directory; yields a DSN maker."""
    bin_dir = next((d for d in PG_BIN_DIRS if (d / "initdb").exists()), None)
    if bin_dir is None and shutil.which("initdb"):
        bin_dir = Path(shutil.which("initdb")).resolve().parent
    if bin_dir is None:
        pytest.skip("PostgreSQL not installed: no initdb (fix: apt-get install -y postgresql)")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("running as root without runuser: initdb refuses root")
    # not under pytest's tmp dir: that one is private to our user, and the server runs as postgres
    root = Path(tempfile.mkdtemp(prefix="newswatch-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    init = _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
    if init.returncode:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100"
    start = _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"])
    assert start.returncode == 0, start.stderr
    created: set[str] = set()

    def database(name: str) -> str:
        if name not in created:
            made = _as_postgres([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", name])
            assert made.returncode == 0, made.stderr
            created.add(name)
        return f"dbname={name} host=127.0.0.1 port={port} user=postgres"

    try:
        yield database
    finally:
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(root, ignore_errors=True)


def _article(i: int, source: str) -> Article:
    url = f"https://news.example/{i}"
    return Article(article_id=f"{i:032x}", url=url, source=source, fetched_url=url, title=f"t{i}",
                   text=f"text of article {i} " * 20, extraction_method="trafilatura", content_hash=f"h{i}",
                   fetched_at=datetime.now(timezone.utc))


def test_concurrent_writers_of_overlapping_articles_store_each_once(postgres, tmp_path):
    target = LakeTarget(postgres("overlap"), str(tmp_path / "lake"))
    connect(target).close()  # migrate once; the writers below then race only on data
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        conn = connect(target)
        try:
            for batch in range(4):  # ids 0-79 are written by both, in different batches
                start = offset + batch * 20
                store_ingest.upsert_articles(conn, [_article(i, f"s{offset}") for i in range(start, start + 40)], f"r{offset}")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(o,)) for o in (0, 20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    conn = connect(target, read_only=True)
    n, distinct = conn.execute("select count(*), count(distinct article_id) from articles").fetchone()
    urls, distinct_urls = conn.execute("select count(*), count(distinct url_id) from article_urls").fetchone()
    conn.close()
    assert (n, distinct, urls, distinct_urls) == (120, 120, 120, 120)


# --- real flow runs: two shards in parallel processes, then an overlapping run ------------------

def _lake_env(tmp_path: Path, catalog: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NEWSWATCH_DB"}
    env.update(NEWSWATCH_LAKE_CATALOG=catalog, PYTHONPATH=str(REPO), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="WARNING")
    return env


def _ingest(config: Path, env: dict[str, str], home: Path) -> subprocess.Popen:
    """`python flows/ingest.py` as a worker would run it; each with its own Prefect home (two
    ephemeral API servers on one SQLite file would lock each other)."""
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, str(REPO / "flows" / "ingest.py"), "--config-dir", str(config)],
                            env={**env, "PREFECT_HOME": str(home)}, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]
    return out


@pytest.mark.flow
def test_sharded_ingest_in_parallel_then_an_overlapping_run(postgres, corpus_server, tmp_path):
    base = corpus_server.base
    catalog = postgres("flows")
    settings = (f"storage: ducklake\nlake_data_path: {tmp_path / 'lake'}/\nread_timeout_s: 5\n"
                "connect_timeout_s: 2\ntotal_timeout_s: 15\nbackoff_s: 0.05\n")
    sources = {
        "guardian": local_source("guardian", "rss", f"{base}/feeds/guardian.rss", lang="en"),
        "daringfireball": local_source("daringfireball", "rss", f"{base}/feeds/daringfireball.atom"),
        "golem": local_source("golem", "rss", f"{base}/feeds/golem.rss", lang="de"),
        "sitemap": local_source("sitemap", "sitemap", f"{base}/sitemap.xml", max_items=500),
    }
    # a catch-all topic (English and German function words) so that the digest below has items
    topics = ("groups:\n  common: {terms: [the, und, der, die]}\n"
              "topics:\n  - {name: everything, threshold: 0.05, rules: [{together: [common]}]}\n")

    def config(name: str, names: list[str]) -> Path:
        return write_config(tmp_path / name, "sources:\n" + "".join(sources[n] for n in names), settings, topics)

    shard_a, shard_b = config("a", ["guardian", "daringfireball"]), config("b", ["golem", "sitemap"])
    overlap = config("all", list(sources))
    env = _lake_env(tmp_path, catalog)
    target = LakeTarget(catalog, f"{tmp_path / 'lake'}/")
    connect(target).close()  # migrate first: the parallel runs below race on data, not on DDL

    started = time.monotonic()
    runs = [_ingest(shard_a, env, tmp_path / "home-a"), _ingest(shard_b, env, tmp_path / "home-b")]
    for proc in runs:
        _finish(proc)
    parallel_s = time.monotonic() - started

    conn = connect(target, read_only=True)
    n, distinct = conn.execute("select count(*), count(distinct article_id) from articles").fetchone()
    by_source = dict(conn.execute("select source, count(*) from articles group by source").fetchall())
    reported = conn.execute("select sum((stats->>'new')::int), count(*) from runs where status = 'completed'").fetchone()
    disabled = conn.execute("select count(*) from sources where not is_enabled").fetchone()[0]
    conn.close()
    assert n == distinct and n > 100, (n, distinct)
    assert set(by_source) == set(sources), by_source
    assert reported == (n, 2)  # what the two runs said they stored is what the lake holds: nothing lost
    assert disabled == 0  # a shard does not disable the other shard's sources

    _finish(_ingest(overlap, env, tmp_path / "home-a"))  # every source again: all seen, none added
    conn = connect(target, read_only=True)
    assert conn.execute("select count(*), count(distinct article_id) from articles").fetchone() == (n, n)
    assert conn.execute("select count(*) - count(distinct url_id) from article_urls").fetchone()[0] == 0
    assert conn.execute("select count(*) - count(distinct fetch_id) from fetches").fetchone()[0] == 0
    assert conn.execute("select count(*) - count(distinct (article_id, topic)) from article_topics").fetchone()[0] == 0
    last = conn.execute("select status, (stats->>'new')::int from runs_latest limit 1").fetchone()
    conn.close()
    assert last == ("completed", 0)

    # the CLI reads the lake through the same config: query (views included) and status
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from newswatch.cli import main; main()", *args, "--config-dir",
                               str(overlap)], env={**env, "COLUMNS": "200"}, cwd=REPO, capture_output=True, text=True,
                              timeout=120)

    out = cli("query", "select count(*) as n, count(distinct article_id) as d from articles_latest", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"n": n, "d": n}]
    out = cli("query", "select source, status from source_health order by source", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert {r["source"]: r["status"] for r in json.loads(out.stdout)} == dict.fromkeys(sorted(sources), "ok")
    status = cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Last runs" in status.stdout and "completed" in status.stdout, status.stdout

    # the digest flow reads the lake and records its claims there: every matched article once
    (overlap / "alerts.yaml").write_text(
        "subscribers:\n  - {name: desk, url_env: NEWSWATCH_TEST_HOOK, topics: ['*'], max_age_days: 100000,"
        " max_items: 500, cadence: {kind: instant}}\n", encoding="utf-8")
    with WebhookReceiver() as hook:
        digest = subprocess.run([sys.executable, str(REPO / "flows" / "digest.py"), "--config-dir", str(overlap)],
                                env={**env, "PREFECT_HOME": str(tmp_path / "home-a"),
                                     "NEWSWATCH_TEST_HOOK": f"json://127.0.0.1:{hook.port}/hook"},
                                cwd=REPO, capture_output=True, text=True, timeout=240)
    assert digest.returncode == 0, digest.stdout[-2000:] + digest.stderr[-3000:]
    conn = connect(target, read_only=True)
    sent, distinct_sent = conn.execute("select count(*), count(distinct article_id) from sent_items"
                                       " where status = 'sent'").fetchone()
    matched = conn.execute("select count(distinct article_id) from article_topics where is_match").fetchone()[0]
    conn.close()
    assert len(hook.received) == 1 and sent == distinct_sent == matched > 0, (len(hook.received), sent, matched, digest.stdout)
    print(f"two shards in parallel: {n} articles in {parallel_s:.1f} s")
