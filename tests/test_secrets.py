"""Secrets: an apprise URL with a password and a token, given by environment variable, never shows
up in logs (ours, apprise's, Prefect's, the process's stdout/stderr), in Prefect artifacts or
flow-run logs, in exceptions or in the database (every table's text and the file's bytes),
whether its receiver is down (a recorded failure) or up (a sent digest).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from servers import WebhookReceiver, free_port
from test_digest import add_article

pytestmark = pytest.mark.flow

PASSWORD = "pw-Zq8Xv3Lm9Tk2"
TOKEN = "tok-Hn4Rb7Wc1Yd6"
USER = "nw-user-J5q"


class _Everything(logging.Handler):
    """Keeps every record of the loggers it is attached to, formatted with its exception."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def secrets_in(text: str, url: str) -> list[str]:
    return [s for s in (PASSWORD, TOKEN, url, f"{USER}:{PASSWORD}") if s in text]


def database_text(db: Path) -> str:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        tables = [t for t, in conn.execute("select table_name from information_schema.tables").fetchall()]
        return json.dumps({t: conn.execute(f'select * from "{t}"').fetchall() for t in tables}, default=str)
    finally:
        conn.close()


def prefect_records(flow_run_ids: list) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId,
    )

    async def read():
        async with get_client() as client:
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids)))
            logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids)))
            runs = [await client.read_flow_run(i) for i in flow_run_ids]
        return arts, logs, runs

    arts, logs, runs = asyncio.run(read())
    assert arts, "the digest flow publishes an artifact"
    return json.dumps([[a.model_dump(mode="json") for a in arts], [entry.message for entry in logs],
                       [r.model_dump(mode="json") for r in runs]])


def test_apprise_secrets_stay_out_of_logs_artifacts_and_database(tmp_path, monkeypatch, caplog, capfd):
    from flows.digest import digest_flow
    from newswatch.store import connect

    port = free_port()  # nothing listens here yet: the receiver is down
    url = f"json://{USER}:{PASSWORD}@127.0.0.1:{port}/hooks/{TOKEN}"
    monkeypatch.setenv("NW_SECRET_URL", url)
    db = tmp_path / "secret.duckdb"
    conn = connect(db)
    for i in range(3):
        # dated by the clock the flow reads (the real one): test_digest's fixed NOW is outside max_age_days
        add_article(conn, f"s{i}", title=f"Offshore wind secret test {i}", published_at=datetime.now(UTC))
    conn.close()
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "alerts.yaml").write_text("subscribers:\n  - {name: desk, url_env: NW_SECRET_URL, topics: ['*'], cadence: instant}\n")

    everything = _Everything()
    watched = [logging.getLogger(n) for n in ("", "prefect", "apprise", "newswatch", "urllib3", "httpx")]
    for lg in watched:
        lg.addHandler(everything)
    caplog.set_level(logging.DEBUG)
    try:
        down = digest_flow(config_dir=str(cfg), db_path=str(db), return_state=True)
        with WebhookReceiver(port) as server:
            up = digest_flow(config_dir=str(cfg), db_path=str(db), return_state=True)
    finally:
        for lg in watched:
            lg.removeHandler(everything)

    results_down, results_up = down.result(), up.result()
    assert [r.status for r in results_down] == ["failed"] and results_down[0].error
    assert [r.status for r in results_up] == ["sent"] and len(server.received) == 1
    path, auth = server.received[0].path, server.received[0].headers.get("Authorization")
    assert TOKEN in path and auth  # the secret did reach its receiver: the test is not vacuous
    out, err = capfd.readouterr()
    places = {
        "caplog": "\n".join(r.getMessage() + (str(r.exc_info) if r.exc_info else "") for r in caplog.records),
        "log records": "\n".join(everything.lines),
        "stdout/stderr": out + err,
        "results and exceptions": repr(results_down) + repr(results_up) + str(results_down[0].error),
        "database tables": database_text(db),
        "prefect artifacts, logs and runs": prefect_records([down.state_details.flow_run_id,
                                                             up.state_details.flow_run_id]),
    }
    assert "failed" in places["database tables"] and "sent" in places["database tables"]
    for where, text in places.items():
        assert secrets_in(text, url) == [], f"secret found in {where}"
    for f in tmp_path.glob("secret.duckdb*"):  # the file and its WAL, as bytes
        data = f.read_bytes()
        assert not any(s.encode() in data for s in (PASSWORD, TOKEN)), f"secret in the bytes of {f.name}"
