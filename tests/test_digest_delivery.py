"""Exactly once per delivery target, through real receivers on 127.0.0.1 (aiosmtpd, a webhook).

A subscriber with a working mailbox and a webhook that is down; an email URL with two
recipients of which the server rejects one (550); apprise's own `?to=a@x,b@x` form.
Fixed clocks only.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from servers import WebhookReceiver, free_port
from test_digest_stories import EN_TEXT, EN_TITLE, add, alerts

from newswatch.digest import run_digests
from newswatch.notify import expand_targets
from newswatch.store import connect

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class _Mailbox:
    def __init__(self, reject=()):
        self.reject = set(reject)
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.reject:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for rcpts, m in self.messages if address in rcpts]


def _smtp(reject=()):
    box = _Mailbox(reject)
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    return box, controller


@pytest.fixture
def smtp():
    box, controller = _smtp()
    yield box
    controller.stop()


@pytest.fixture
def smtp_rejecting_bad():
    box, controller = _smtp(reject={"bad@example.com"})
    yield box
    controller.stop()


@pytest.fixture
def conn(tmp_path):
    c = connect(tmp_path / "nw.duckdb")
    yield c
    c.close()


def mailto(port: int, to: str) -> str:
    return f"mailto://example.com:{port}?smtp=127.0.0.1&from=nw@example.com&to={to}"


def test_a_working_mailbox_gets_the_digest_once_while_a_down_webhook_is_retried(conn, smtp):
    add(conn, "en1", EN_TITLE, EN_TEXT)
    down_port = free_port()  # nothing listens here yet
    sub = alerts(url_env=["NW_MAIL", "NW_HOOK"])
    env = {"NW_MAIL": mailto(smtp.port, "desk@example.com"), "NW_HOOK": f"json://127.0.0.1:{down_port}/hook"}
    for i in range(3):
        result = run_digests(conn, sub, now=NOW + timedelta(minutes=i), env=env)[0]
        assert result.status == "failed" and "delivered to 1 of 2 targets" in result.error
    assert len(smtp.to("desk@example.com")) == 1  # not 3
    assert conn.execute("select count(*) from sent_items where status = 'sent'").fetchone() == (0,)
    statuses = conn.execute("select status from digests order by created_at").fetchall()
    assert statuses == [("partial",)] * 3
    per_target = conn.execute(
        "select target like 'mailto%', status, count(*) from digest_deliveries group by all order by all").fetchall()
    assert per_target == [(False, "failed", 3), (True, "sent", 1), (True, "skipped", 2)]
    with WebhookReceiver(port=down_port) as hook:  # the webhook comes back
        result = run_digests(conn, sub, now=NOW + timedelta(minutes=10), env=env)[0]
        assert result.status == "sent"
        assert len(hook.received) == 1 and EN_TITLE.split()[0] in hook.received[0].payload["message"]
        assert run_digests(conn, sub, now=NOW + timedelta(minutes=11), env=env)[0].status == "skipped_empty"
        assert len(hook.received) == 1
    assert len(smtp.to("desk@example.com")) == 1
    assert conn.execute("select article_id from sent_items where status = 'sent'").fetchall() == [("en1",)]


def test_apprise_to_list_reaches_every_recipient_and_a_rejected_one_alone_is_retried(conn, smtp_rejecting_bad):
    box = smtp_rejecting_bad
    add(conn, "en1", EN_TITLE, EN_TEXT)
    env = {"NW_TEST_URL": mailto(box.port, "good@example.com,bad@example.com,other@example.com")}
    for i in range(3):
        result = run_digests(conn, alerts(), now=NOW + timedelta(minutes=i), env=env)[0]
        assert result.status == "failed" and "could not parse" not in (result.error or "")
    assert len(box.to("good@example.com")) == 1 and len(box.to("other@example.com")) == 1
    assert box.to("bad@example.com") == []
    labels = dict(conn.execute(
        "select target, count(*) filter (where status = 'failed') from digest_deliveries group by target").fetchall())
    assert labels == {"mailto://***@example.com:%d to=%s" % (box.port, a): n for a, n in
                      [("good@example.com", 0), ("bad@example.com", 3), ("other@example.com", 0)]}
    # the rejected address is fixed: it alone receives the digest
    box.reject.clear()
    assert run_digests(conn, alerts(), now=NOW + timedelta(minutes=5), env=env)[0].status == "sent"
    assert [len(box.to(a)) for a in ("good@example.com", "bad@example.com", "other@example.com")] == [1, 1, 1]


def test_email_url_with_several_recipients_is_one_target_per_recipient():
    url = "mailtos://user:pw@mail.example.com?from=nw@example.com&to=a@example.com,b@example.com"
    targets = expand_targets([url, "json://127.0.0.1/hook"])
    assert [t.label for t in targets] == [
        "mailtos://***@mail.example.com to=a@example.com", "mailtos://***@mail.example.com to=b@example.com",
        "json://***@127.0.0.1"]
    assert "to=a%40example.com" not in targets[0].url and "to=a@example.com" in targets[0].url
    assert "from=nw@example.com" in targets[1].url and "pw" not in "".join(t.label + t.key for t in targets)
    assert len({t.key for t in targets}) == 3
