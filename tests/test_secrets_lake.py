"""The DuckLake catalog password, given in NEWSWATCH_LAKE_CATALOG in each of its forms (URI,
quoted keyword, plain keyword), never shows: not on the console of `ingest`, `status` or `query`
(working lake or unreachable catalog, whose DuckDB error repeats the DSN), not in any file under
Prefect's home (its database: log rows, flow-run states, artifacts), not in the lake's files or
its PostgreSQL catalog. The real CLI in subprocesses, a real PostgreSQL (trust auth: any password
is accepted, so the DSN with its password is really used to connect)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, local_source, write_config
from servers import free_port
from test_lake import PG_BIN_DIRS, _as_postgres, postgres  # noqa: F401 - postgres is a fixture

pytestmark = pytest.mark.flow

URI_PW = "Uri-Pw7%40q"  # percent-encoded in the URI; libpq and messages may show "Uri-Pw7@q"
QUOTED_PW = "Qu0ted pw-9Lx s3cr3tZ"
PLAIN_PW = "Pl4in-s3cr3t-Kw2"


def dsn(form: str, port: int, dbname: str) -> tuple[str, list[str]]:
    """The DSN in `form` and every spelling of its password that must never appear."""
    if form == "uri":
        return (f"postgresql://postgres:{URI_PW}@127.0.0.1:{port}/{dbname}", [URI_PW, "Uri-Pw7@q"])
    if form == "quoted":
        return (f"dbname={dbname} host=127.0.0.1 port={port} user=postgres password='{QUOTED_PW}'",
                [QUOTED_PW, "Qu0ted", "pw-9Lx", "s3cr3tZ"])
    return (f"dbname={dbname} host=127.0.0.1 port={port} password={PLAIN_PW} user=postgres", [PLAIN_PW])


def leaks(text: str | bytes, secrets: list[str]) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [s for s in secrets if s in text]


def files_text(root: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.parametrize("form", ["uri", "quoted", "plain"])
def test_the_catalog_password_appears_in_no_output_log_or_store(postgres, corpus_server, tmp_path, form):  # noqa: F811
    catalog_port = int(postgres(f"secrets_{form}").split("port=")[1].split()[0])
    catalog, secrets = dsn(form, catalog_port, f"secrets_{form}")
    down, _ = dsn(form, free_port(), "nowhere")  # nothing listens there: the catalog is unreachable
    lake = tmp_path / "lake"
    cfg = write_config(tmp_path / "cfg", "sources:\n" + local_source(
        "guardian", "rss", f"{corpus_server.base}/feeds/guardian.rss", lang="en", max_items=5),
        f"storage: ducklake\nlake_data_path: {lake}/\nread_timeout_s: 5\nconnect_timeout_s: 2\n"
        "total_timeout_s: 15\nbackoff_s: 0.05\n")
    home = tmp_path / "prefect"
    home.mkdir()
    base_env = {k: v for k, v in os.environ.items() if k not in ("NEWSWATCH_DB", "PGPASSWORD")}
    base_env.update(PYTHONPATH=str(REPO), PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                    DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="DEBUG", COLUMNS="200")

    def cli(catalog_dsn: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from newswatch.cli import main; main()", *args,
                               "--config-dir", str(cfg)], env={**base_env, "NEWSWATCH_LAKE_CATALOG": catalog_dsn},
                              cwd=REPO, capture_output=True, text=True, timeout=300)

    console = []
    ok = cli(catalog, "ingest", "--prefect", "always")  # a Prefect flow run: its logs and states are stored
    console.append(ok.stdout + ok.stderr)
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    status = cli(catalog, "status")
    console.append(status.stdout + status.stderr)
    assert status.returncode == 0 and "completed" in status.stdout, status.stdout + status.stderr
    query = cli(catalog, "query", "select count(*) as n from articles_latest", "--format", "json")
    console.append(query.stdout + query.stderr)
    assert query.returncode == 0 and json.loads(query.stdout)[0]["n"] > 0, query.stdout + query.stderr

    for args in (("status",), ("query", "select 1"), ("ingest", "--prefect", "always"), ("ingest", "--prefect", "never")):
        bad = cli(down, *args)
        out = bad.stdout + bad.stderr
        console.append(out)
        assert bad.returncode != 0, (args, out[-2000:])
        assert "cannot open the lake" in out and "nowhere" in out, (args, out[-3000:])  # the message is still useful

    assert leaks("\n".join(console), secrets) == [], "\n".join(console)[-5000:]
    prefect_files = files_text(home)
    assert "ingest" in prefect_files and "cannot open the lake" in prefect_files  # Prefect recorded both runs
    assert leaks(prefect_files, secrets) == []
    assert leaks(files_text(lake), secrets) == []
    pg_dump = next(d / "pg_dump" for d in PG_BIN_DIRS if (d / "pg_dump").exists())
    dump = _as_postgres([str(pg_dump), "-h", "127.0.0.1", "-p", str(catalog_port), "-U", "postgres", f"secrets_{form}"])
    assert dump.returncode == 0 and "ducklake" in dump.stdout, dump.stderr
    assert leaks(dump.stdout, secrets) == []


@pytest.mark.parametrize("form", ["uri", "quoted", "plain"])
def test_redaction_masks_every_form_in_logs_and_messages(form, monkeypatch):
    """Function level: the one redaction, and the log-record factory, with each form."""
    from newswatch.redaction import install_log_redaction, redact
    from newswatch.store.lake import describe
    from newswatch.config import LakeTarget

    catalog, secrets = dsn(form, 5432, "news")
    monkeypatch.setenv("NEWSWATCH_LAKE_CATALOG", catalog)
    duckdb_like = f'Unable to connect to Postgres at "{catalog}": connection refused'
    assert leaks(redact(duckdb_like), secrets) == []
    assert "127.0.0.1" in redact(duckdb_like)  # only the password goes
    target = LakeTarget(catalog, "/d/")
    assert leaks(describe(target), secrets) == []

    install_log_redaction()
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(self.format(record))

    logger = logging.getLogger("some.library")
    handler = Keep()
    logger.addHandler(handler)
    try:
        logger.warning("connecting with %s", catalog)
        try:
            raise RuntimeError(duckdb_like)
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert len(seen) == 2 and "RuntimeError" in seen[1]
    assert leaks("\n".join(seen), secrets) == []


def test_pgpassword_is_masked_too(monkeypatch):
    from newswatch.redaction import redact

    monkeypatch.setenv("PGPASSWORD", "env-Pw-Hq2 with space")
    assert redact("x env-Pw-Hq2 with space y") == "x *** y"
    assert "env-Pw-Hq2" not in redact("cut at the space: env-Pw-Hq2")
