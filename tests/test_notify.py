"""Delivery through apprise to real receivers the tests start on free 127.0.0.1 ports:
aiosmtpd for email (mailto://), a small HTTP server for chat webhooks (json://, mmost://).
Also: URLs and tokens never reach logs, the database, results or Prefect artifacts.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from servers import WebhookReceiver, free_port
from test_digest import HOSTILE_TITLE, add_article, alerts, sent_ids

from newswatch.digest import run_digests
from newswatch.notify import channel_for, redact, redact_text, resolve_urls

NOW = datetime.now(UTC)
SMTP_PASSWORD = "Sup3rS3cretPw"
WEBHOOK_TOKEN = "tok9f8e7d6c5b4a3"


class _Mailbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver


def mailto(port: int, password: str | None = None) -> str:
    user = f"newswatch:{password}@" if password else ""
    return f"mailto://{user}example.com:{port}?smtp=127.0.0.1&from=nw@example.com&to=desk@example.com"


def populate(conn):
    add_article(conn, "e1", title=HOSTILE_TITLE, url="javascript:alert(1)", score=0.95, published_at=NOW)
    add_article(conn, "e2", title="Offshore wind auction breaks records", score=0.8, published_at=NOW,
                url="https://wind.example/auction?a=1&b=2")
    add_article(conn, "c1", title="Glaciers retreat faster than modelled", topic="climate", score=0.7,
                published_at=NOW, terms=("glaciers",), evidence=["The glaciers retreat faster than modelled.",
                          "Alpine glaciers lost twice the ice the models predicted, the survey found."])


def all_text_in_db(conn) -> str:
    rows = conn.execute("select * from digests").fetchall() + conn.execute("select * from digest_items").fetchall()
    return json.dumps(rows, default=str)


def test_email_digest_arrives_once_with_sections_links_escaping_and_plain_part(conn, smtp):
    populate(conn)
    env = {"NW_TEST_URL": mailto(smtp.port)}
    first = run_digests(conn, alerts(), env=env)
    assert [r.status for r in first] == ["sent"], first
    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    assert msg["Subject"] == "newswatch digest: energy 2, climate 1 · 3 new"
    html = msg.get_body(("html",)).get_content()
    plain = msg.get_body(("plain",)).get_content()
    assert ">energy <" in html and ">climate <" in html and html.index(">energy <") < html.index(">climate <")
    assert 'href="https://wind.example/auction?a=1&amp;b=2"' in html
    assert "<script>" not in html and "&lt;script&gt;" in html and 'href="javascript' not in html
    assert "Offshore wind auction breaks records" in plain and "Glaciers retreat" in plain
    # the plain part shows the hostile title as inert text (no entities), and keeps real links
    assert '<script>alert("x")</script> Wind & "solar"' in plain and "&lt;" not in plain
    assert "https://wind.example/auction?a=1&b=2" in plain and "javascript:alert(1)\n" not in plain
    second = run_digests(conn, alerts(), env=env)
    assert [r.status for r in second] == ["skipped_empty"] and len(smtp.messages) == 1
    assert sent_ids(conn) == {"e1", "e2", "c1"}


def test_chat_form_reaches_a_json_webhook_as_short_markdown(conn, webhook):
    populate(conn)
    env = {"NW_TEST_URL": f"json://127.0.0.1:{webhook.port}/hooks/{WEBHOOK_TOKEN}"}
    assert run_digests(conn, alerts(), env=env)[0].status == "sent"
    (post,) = webhook.received
    path, payload = post.path, post.payload
    assert path == f"/hooks/{WEBHOOK_TOKEN}"
    message = payload["message"]
    assert message.startswith("**newswatch digest: energy 2, climate 1 · 3 new")
    assert "[Offshore wind auction breaks records](https://wind.example/auction?a=1&b=2)" in message.replace("\\ ", " ")
    assert "\\<script\\>" in message and "](javascript" not in message and "<script>" not in message
    assert "**glaciers**" in message.lower()


def test_mattermost_url_can_target_a_local_receiver(conn, webhook):
    populate(conn)
    env = {"NW_TEST_URL": f"mmost://127.0.0.1:{webhook.port}/{WEBHOOK_TOKEN}"}
    assert run_digests(conn, alerts(), env=env)[0].status == "sent"
    (post,) = webhook.received
    path, payload = post.path, post.payload
    assert path.endswith(WEBHOOK_TOKEN) and "Glaciers retreat" in payload["text"]
    assert len(payload["text"]) <= 4000


def test_receiver_down_records_failure_without_secrets_and_next_run_delivers(conn, smtp, caplog):
    populate(conn)
    dead = free_port()  # nothing listens here
    caplog.set_level(logging.DEBUG)
    down = run_digests(conn, alerts(), env={"NW_TEST_URL": mailto(dead, SMTP_PASSWORD)})
    assert down[0].status == "failed" and down[0].error
    assert conn.execute("select count(*) from sent_items").fetchone()[0] == 0
    assert conn.execute("select status from digests").fetchall() == [("failed",)]
    assert conn.execute("select target from digests").fetchone()[0] == f"env:NW_TEST_URL mailto://***@example.com:{dead}"
    leaked = [SMTP_PASSWORD in all_text_in_db(conn), SMTP_PASSWORD in caplog.text,
              SMTP_PASSWORD in repr(down)]
    assert leaked == [False, False, False]
    up = run_digests(conn, alerts(), env={"NW_TEST_URL": mailto(smtp.port)})
    assert up[0].status == "sent" and len(smtp.messages) == 1
    assert sent_ids(conn) == {"e1", "e2", "c1"}


def test_webhook_error_status_is_a_failure_and_tokens_stay_out_of_records(conn, webhook, caplog):
    populate(conn)
    webhook.status = 500
    caplog.set_level(logging.DEBUG)
    url = f"json://127.0.0.1:{webhook.port}/hooks/{WEBHOOK_TOKEN}?token={WEBHOOK_TOKEN}x"
    result = run_digests(conn, alerts(), env={"NW_TEST_URL": url})[0]
    assert result.status == "failed" and len(webhook.received) == 1
    assert WEBHOOK_TOKEN not in all_text_in_db(conn) + caplog.text + repr(result)
    assert sent_ids(conn) == set()


def test_redact_keeps_scheme_and_host_only():
    assert redact(mailto(25, SMTP_PASSWORD)) == "mailto://***@example.com:25"
    assert redact("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ") == "slack://***"
    assert redact(f"mmost://chat.example.com/{WEBHOOK_TOKEN}") == "mmost://***@chat.example.com"
    text = f"failed to send to mmost://chat.example.com/{WEBHOOK_TOKEN}: 403"
    assert WEBHOOK_TOKEN not in redact_text(text, [f"mmost://chat.example.com/{WEBHOOK_TOKEN}"])
    assert WEBHOOK_TOKEN not in redact_text(f"token {WEBHOOK_TOKEN} rejected", [f"json://h.example/{WEBHOOK_TOKEN}"])


def test_channels_and_url_resolution_from_env():
    assert [channel_for(u) for u in ("mailto://x", "mmost://h/t", "slack://a/b/c", "pover://u@t")] == [
        "email", "chat", "chat", "text"]
    urls, problems = resolve_urls(["A", "B"], env={"A": "json://h/1\n  mmost://h/2"})
    assert urls == ["json://h/1", "mmost://h/2"] and problems == ["environment variable B is not set"]
    # commas belong to apprise URLs (several recipients): never a separator
    two = "mailto://example.com:25?smtp=127.0.0.1&from=nw@example.com&to=a@example.com,b@example.com"
    assert resolve_urls(["A"], env={"A": two}) == ([two], [])


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    import flows  # noqa: F401  (no analytics)

    with prefect_test_harness():
        yield


@pytest.mark.flow
def test_digest_flow_reads_url_from_a_prefect_secret_and_publishes_a_redacted_artifact(
    prefect_harness, tmp_path, webhook
):
    from prefect.artifacts import Artifact
    from prefect.blocks.system import Secret

    from flows.digest import digest_flow
    from newswatch.store import connect

    db = tmp_path / "flow.duckdb"
    conn = connect(db)
    populate(conn)
    conn.close()
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "alerts.yaml").write_text(
        "subscribers:\n  - {name: desk, url_secret: desk-hook, topics: ['*'], cadence: instant}\n")
    Secret(value=f"json://127.0.0.1:{webhook.port}/hooks/{WEBHOOK_TOKEN}").save("desk-hook", overwrite=True)
    results = digest_flow(config_dir=str(cfg), db_path=str(db))
    assert [r.status for r in results] == ["sent"] and len(webhook.received) == 1
    artifact = Artifact.get("digest-summary")
    assert "| desk | sent | 3 |" in artifact.data and "json://***@127.0.0.1" in artifact.data
    assert WEBHOOK_TOKEN not in artifact.data
    assert digest_flow(config_dir=str(cfg), db_path=str(db))[0].status == "skipped_empty"
    assert len(webhook.received) == 1


@pytest.fixture
def conn(tmp_path):
    from newswatch.store import connect

    c = connect(tmp_path / "nw.duckdb")
    yield c
    c.close()


def test_articles_older_than_max_age_are_not_sent(conn, webhook):
    add_article(conn, "old", title="A story from last month", published_at=NOW - timedelta(days=30))
    env = {"NW_TEST_URL": f"json://127.0.0.1:{webhook.port}/h"}
    assert run_digests(conn, alerts(), env=env)[0].status == "skipped_empty" and webhook.received == []
