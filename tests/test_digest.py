"""Digests: config, cadence, folding, rendering, and the exactly-once protocol (plain functions).

Delivery through real receivers is in test_notify.py; here the sender is a plain function
that records what it was given (or reports failure), so the store protocol is tested directly.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch.config import ConfigError
from newswatch.config.alerts import AlertsFile, DailyCadence, HourlyCadence, WeeklyCadence
from newswatch.config.errors import load_yaml_model
from newswatch.digest import (
    Digest,
    DigestItem,
    DigestSection,
    SourceProblem,
    build_digest,
    fold_duplicates,
    preview_digests,
    render_chat,
    render_html,
    render_text,
    run_digests,
)
from newswatch.digest.cadence import is_due
from newswatch.notify import SendResult
from newswatch.store import connect
from newswatch.store import digests as store

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
HOSTILE_TITLE = '<script>alert("x")</script> Wind & "solar" @channel [x](javascript:alert(1))'


# --- fixtures: a migrated DuckDB in tmp_path and rows inserted with SQL ----------------------

@pytest.fixture
def conn(tmp_path):
    c = connect(tmp_path / "nw.duckdb")
    yield c
    c.close()


def add_article(conn, article_id, *, title="Offshore wind farm approved", topic="energy", score=0.8,
                url=None, source="example", lang="en", text=None, published_at=None, content_hash=None,
                terms=("wind",), evidence=None, is_match=True):
    """Insert one article and its topic score, as ingest and the classifier would."""
    text = text or f"{title}. Body of article {article_id} with its own unique words {article_id} here."
    published_at = published_at or NOW - timedelta(hours=2)
    conn.execute(
        "insert into articles (article_id, url, fetched_url, source, title, published_at, fetched_at,"
        " lang, text, content_hash, extraction_method) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'feed_content')"
        " on conflict do nothing",
        [article_id, url or f"https://news.example/{article_id}", url or f"https://news.example/{article_id}",
         source, title, published_at, published_at, lang, text, content_hash or f"h-{article_id}"],
    )
    conn.execute(
        "insert into article_topics (article_id, topic, score, is_match, terms, evidence, classifier_version)"
        " values (?, ?, ?, ?, ?, ?, 'test')",
        [article_id, topic, score, is_match, json.dumps(list(terms)),
         json.dumps(list(evidence or [f"The wind farm {article_id} was approved on Tuesday."]))],
    )


def alerts(**overrides) -> AlertsFile:
    sub = {"name": "desk", "url_env": "NW_TEST_URL", "topics": ["energy", "climate"], "cadence": "instant"}
    sub.update(overrides)
    return AlertsFile.model_validate({"subscribers": [sub]})


class Recorder:
    """A sender that keeps what it was asked to deliver and answers ok (or not)."""

    def __init__(self, ok: bool = True):
        self.ok = ok
        self.calls: list[tuple[list[str], str, object]] = []

    def __call__(self, urls, subject, bodies):
        self.calls.append((list(urls), subject, bodies))
        return SendResult(self.ok, ("json://***@127.0.0.1",), None if self.ok else "receiver said no")


ENV = {"NW_TEST_URL": "json://127.0.0.1:9/hook"}


def sent_ids(conn, subscriber="desk"):
    return {r[0] for r in conn.execute(
        "select article_id from sent_items where subscriber = ? and status = 'sent'", [subscriber]).fetchall()}


# --- config ---------------------------------------------------------------------------------

def test_alerts_yaml_in_repo_is_valid_and_sends_nothing_until_configured():
    # its example subscriber is commented out (test_config checks the example itself)
    config = load_yaml_model(Path(__file__).resolve().parents[1] / "config" / "alerts.yaml", AlertsFile)
    assert config.subscribers == ()


def test_cadence_forms_parse_to_typed_values():
    a = AlertsFile.model_validate({"subscribers": [
        {"name": "a", "url_env": "X", "topics": "energy", "cadence": "hourly"},
        {"name": "b", "url_env": ["X", "Y"], "topics": ["*"],
         "cadence": {"kind": "daily", "at": "07:30", "tz": "Asia/Tokyo"}},
        {"name": "c", "url_env": "X", "topics": ["energy"], "cadence": {"kind": "weekly", "day": "Friday", "at": 450}},
    ]})
    assert isinstance(a.subscribers[0].cadence, HourlyCadence)
    daily = a.subscribers[1].cadence
    assert isinstance(daily, DailyCadence) and daily.at.hour == 7 and daily.tz == "Asia/Tokyo"
    weekly = a.subscribers[2].cadence
    assert isinstance(weekly, WeeklyCadence) and weekly.day == "friday" and weekly.at.minute == 30
    assert a.subscribers[1].url_env == ("X", "Y") and a.subscribers[1].all_topics


def write_alerts(tmp_path, text):
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    return path


def test_unknown_time_zone_error_names_file_key_and_subscriber(tmp_path):
    path = write_alerts(tmp_path, "subscribers:\n  - name: tokyo\n    url_env: X\n    topics: [a]\n"
                        "    cadence: {kind: daily, at: '07:30', tz: Mars/Olympus}\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml_model(path, AlertsFile)
    msg = str(exc.value)
    assert str(path) in msg and "tz" in msg and "(name: tokyo)" in msg and "Mars/Olympus" in msg


def test_url_written_in_url_env_is_refused_without_echoing_it(tmp_path):
    secret_url = "mailto://user:hunter2secret@mail.example.com"
    path = write_alerts(tmp_path, f"subscribers:\n  - name: s\n    url_env: '{secret_url}'\n"
                        "    topics: [a]\n    cadence: hourly\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml_model(path, AlertsFile)
    assert "url_env" in str(exc.value) and "hunter2secret" not in str(exc.value)


def test_unknown_key_and_duplicate_names_are_refused(tmp_path):
    path = write_alerts(tmp_path, "subscribers:\n  - {name: s, url_env: X, topics: [a], cadence: hourly, colour: red}\n")
    with pytest.raises(ConfigError, match="colour.*unknown key"):
        load_yaml_model(path, AlertsFile)
    path = write_alerts(tmp_path, "subscribers:\n  - {name: s, url_env: X, topics: [a], cadence: hourly}\n"
                        "  - {name: s, url_env: Y, topics: [b], cadence: hourly}\n")
    with pytest.raises(ConfigError, match="duplicate subscriber name"):
        load_yaml_model(path, AlertsFile)


# --- cadence --------------------------------------------------------------------------------

def test_daily_cadence_is_due_after_the_local_time_in_its_zone():
    cadence = DailyCadence(kind="daily", at="07:30", tz="Asia/Tokyo")  # 07:30 JST = 22:30 UTC
    yesterday_run = datetime(2026, 11, 19, 23, 0, tzinfo=UTC)  # after the 19th's 22:30 UTC slot
    assert not is_due(cadence, yesterday_run, datetime(2026, 11, 20, 22, 0, tzinfo=UTC))
    assert is_due(cadence, yesterday_run, datetime(2026, 11, 20, 22, 31, tzinfo=UTC))


def test_weekly_and_hourly_cadence_due_once_per_slot():
    weekly = WeeklyCadence(kind="weekly", day="monday", at="08:00", tz="Europe/Amsterdam")
    monday_sent = datetime(2026, 11, 16, 7, 5, tzinfo=UTC)  # Mon 08:05 CET
    assert not is_due(weekly, monday_sent, datetime(2026, 11, 22, 12, 0, tzinfo=UTC))  # Sunday
    assert is_due(weekly, monday_sent, datetime(2026, 11, 23, 7, 1, tzinfo=UTC))  # next Mon 08:01
    hourly = HourlyCadence(kind="hourly", minute=15)
    assert not is_due(hourly, datetime(2026, 11, 20, 9, 16, tzinfo=UTC), datetime(2026, 11, 20, 10, 10, tzinfo=UTC))
    assert is_due(hourly, datetime(2026, 11, 20, 9, 16, tzinfo=UTC), datetime(2026, 11, 20, 10, 15, tzinfo=UTC))


# --- folding --------------------------------------------------------------------------------

def item(aid, title, *, text="", lang="en", score=0.5, hours=0, content_hash="", source="src", topic="energy"):
    return DigestItem(article_id=aid, url=f"https://{source}.example/{aid}", source=source, title=title,
                      topic=topic, score=score, published_at=NOW - timedelta(hours=hours), lang=lang,
                      content_hash=content_hash or f"h{aid}", text_sample=text)


def test_same_content_hash_folds_under_the_best_scored():
    out = fold_duplicates([item("a", "Alpha one", score=0.9, content_hash="X"),
                           item("b", "Totally different headline", score=0.5, content_hash="X", source="b")])
    assert [i.article_id for i in out] == ["a"] and [d.article_id for d in out[0].also] == ["b"]


def test_near_identical_titles_fold_but_recurring_titles_days_apart_do_not():
    out = fold_duplicates([
        item("a", "Denmark approves 2.9 GW offshore wind farm near Thor", score=0.9),
        item("b", "Denmark approves 2.9 GW offshore wind farm near Thor - Reuters", score=0.8, source="b"),
        item("c", "Morning briefing: energy markets today", score=0.7),
        item("d", "Morning briefing: energy markets today", score=0.6, hours=72),
    ])
    assert [i.article_id for i in out] == ["a", "c", "d"]
    assert [d.article_id for d in out[0].also] == ["b"]


def test_syndicated_text_with_different_titles_folds():
    body = " ".join(f"word{i}" for i in range(300))
    out = fold_duplicates([item("a", "Title one here today", text=body), item("b", "Other words for it now", text=body + " extra")])
    assert len(out) == 1


def test_translation_with_shared_names_and_figures_folds_but_other_story_on_same_company_does_not():
    en = item("en", "Ørsted wins Hornsea 4 contract", lang="en", score=0.9, text=(
        "The Danish developer Ørsted has won a contract for Hornsea 4, a 2.4 GW wind farm off Yorkshire, "
        "the UK government said on Tuesday. Construction starts in 2027."))
    nl = item("nl", "Ørsted krijgt contract voor Hornsea 4", lang="nl", score=0.7, source="nos", text=(
        "Het Deense Ørsted heeft een contract gekregen voor Hornsea 4, een windpark van 2,4 GW voor de kust van "
        "Yorkshire, meldt de Britse regering. De bouw begint in 2027."))
    other = item("de", "Ørsted streicht Stellen", lang="de", score=0.6, source="faz", text=(
        "Der Energiekonzern Ørsted streicht 800 Stellen in Dänemark, teilte das Unternehmen mit. "
        "Die Aktie fiel um 3 Prozent."))
    out = fold_duplicates([en, nl, other])
    assert [i.article_id for i in out] == ["en", "de"]
    assert [d.article_id for d in out[0].also] == ["nl"]


# --- rendering ------------------------------------------------------------------------------

def sample_digest(*, n=2, title=HOSTILE_TITLE, url="javascript:alert(1)") -> Digest:
    hostile = DigestItem(article_id="evil", url=url, source="evil<src>", title=title, topic="energy", score=0.95,
                         published_at=NOW, lang="en", terms=("wind", "<b>"),
                         evidence=("Wind <img src=x onerror=alert(1)> power rose \x1b[31m sharply.",))
    others = tuple(DigestItem(article_id=f"a{i}", url=f"https://news.example/a{i}?x=1&y=2", source="example",
                              title=f"Climate story {i}", topic="climate", score=0.5, published_at=NOW, lang="nl",
                              terms=("klimaat",), evidence=(f"Het klimaat verandert {i}.",)) for i in range(n))
    return Digest(subscriber="desk", subject="newswatch digest: 3 new", created_at=NOW,
                  sections=(DigestSection("energy", (hostile,)), DigestSection("climate", others)),
                  problems=(SourceProblem("broken<feed>", "failing", "2 failed polls in a row: HTTP 503"),))


def test_html_escapes_hostile_title_evidence_and_drops_javascript_links():
    html = render_html(sample_digest())
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "onerror=alert(1)&gt;" in html
    assert "javascript:" not in html.split("<body", 1)[1].replace("[x](javascript:alert(1))", "")
    assert 'href="javascript' not in html and "\x1b" not in html
    assert 'href="https://news.example/a0?x=1&amp;y=2"' in html
    assert re.search(r"<mark[^>]*>Wind</mark>", html)
    assert "broken&lt;feed&gt;" in html and "HTTP 503" in html
    assert html.index(">energy <") < html.index(">climate <")  # per-topic sections, in order


def test_plain_text_has_no_control_characters_and_no_javascript_link():
    text = render_text(sample_digest())
    assert "\x1b" not in text and "javascript:alert(1)\n" not in text
    assert "https://news.example/a0?x=1&y=2" in text
    assert "== ENERGY (1) ==" in text and "== CLIMATE (2) ==" in text


def test_chat_form_escapes_markdown_defuses_mentions_and_stays_within_the_limit():
    chat = render_chat(sample_digest())
    assert "\\<script\\>" in chat and "@\u200bchannel" in chat and "](javascript" not in chat
    assert "[Climate story 0](https://news.example/a0?x=1&y=2)" in chat.replace("\\ ", " ")
    long = render_chat(sample_digest(n=80), max_chars=1500)
    assert len(long) <= 1500
    shown = long.count("[Climate story")
    assert 0 < shown < 80 and f"and {80 - shown} more" in long


def test_terms_highlight_whole_words_except_in_cjk():
    from newswatch.digest.render import split_terms

    assert [t for t, hit in split_terms("Der Netzbetreiber warnt: Netz.", ["Netz"]) if hit] == ["Netz"]
    assert split_terms("Der Netzbetreiber warnt: Netz.", ["Netz"])[0] == ("Der Netzbetreiber warnt: ", False)
    assert [t for t, hit in split_terms("秋田沖の洋上風力発電", ["洋上風力"]) if hit] == ["洋上風力"]


# --- selection, exactly once, failures ------------------------------------------------------

def test_digest_groups_by_topic_sorts_by_score_and_skips_unmatched_and_other_topics(conn):
    add_article(conn, "low", title="Grid operator warns of winter shortfall", score=0.6)
    add_article(conn, "high", title="Offshore wind auction breaks records", score=0.9)
    add_article(conn, "clim", title="Glaciers retreat faster than modelled", topic="climate", score=0.95)
    add_article(conn, "nomatch", title="Minor pipeline maintenance notice", score=0.3, is_match=False)
    add_article(conn, "sport", title="Football final goes to penalties", topic="sport", score=0.99)
    d = build_digest(conn, alerts().subscribers[0], NOW)
    assert [(s.topic, [i.article_id for i in s.items]) for s in d.sections] == [
        ("energy", ["high", "low"]), ("climate", ["clim"])]


def test_second_run_sends_nothing_new_and_items_are_recorded_once(conn):
    add_article(conn, "a1")
    add_article(conn, "a2", title="Solar tariff cut in Spain", score=0.7)
    sender = Recorder()
    first = run_digests(conn, alerts(), now=NOW, send=sender, env=ENV)
    second = run_digests(conn, alerts(), now=NOW + timedelta(minutes=5), send=sender, env=ENV)
    assert [r.status for r in first] == ["sent"] and first[0].n_items == 2
    assert [r.status for r in second] == ["skipped_empty"] and len(sender.calls) == 1
    assert sent_ids(conn) == {"a1", "a2"}
    rows = conn.execute("select subscriber, title from digest_log order by title").fetchall()
    assert rows == [("desk", "Offshore wind farm approved"), ("desk", "Solar tariff cut in Spain")]


def test_failed_send_leaves_items_pending_and_records_the_failure(conn):
    add_article(conn, "a1")
    failed = run_digests(conn, alerts(), now=NOW, send=Recorder(ok=False), env=ENV)
    assert failed[0].status == "failed" and sent_ids(conn) == set()
    assert conn.execute("select count(*) from sent_items").fetchone()[0] == 0
    assert conn.execute("select status, error from digests").fetchall() == [("failed", "receiver said no")]
    retry = Recorder()
    assert run_digests(conn, alerts(), now=NOW, send=retry, env=ENV)[0].status == "sent"
    assert sent_ids(conn) == {"a1"} and len(retry.calls) == 1


def test_missing_env_var_is_a_recorded_failure_naming_the_variable(conn):
    add_article(conn, "a1")
    result = run_digests(conn, alerts(), now=NOW, send=Recorder(), env={})[0]
    assert result.status == "failed" and "NW_TEST_URL" in result.error
    assert conn.execute("select count(*) from sent_items").fetchone()[0] == 0


def test_overlapping_run_skips_items_claimed_by_a_run_still_sending(conn, tmp_path):
    add_article(conn, "a1")
    sub = alerts().subscribers[0]
    digest = build_digest(conn, sub, NOW)
    record = store.DigestRecord("run-a", "desk", "t", "instant", NOW)
    store.claim(conn, record, digest)  # run A is now sending
    other = duckdb.connect(str(tmp_path / "nw.duckdb"))  # run B: its own connection
    other.execute("set timezone = 'UTC'")
    sender = Recorder()
    result = run_digests(other, alerts(), now=NOW, send=sender, env=ENV)
    assert result[0].status == "skipped_empty" and sender.calls == []
    store.mark_sent(conn, "run-a", NOW)
    assert sent_ids(conn) == {"a1"}
    other.close()


def test_concurrent_claims_of_the_same_item_let_only_one_commit(conn, tmp_path):
    add_article(conn, "a1")
    other = duckdb.connect(str(tmp_path / "nw.duckdb"))
    digest = build_digest(conn, alerts().subscribers[0], NOW)
    for c in (conn, other):
        c.execute("begin transaction")
    for c, name in ((conn, "A"), (other, "B")):
        c.execute("insert into sent_items values ('desk', 'a1', ?, 'claimed', ?, null)", [name, NOW])
    conn.execute("commit")
    with pytest.raises(duckdb.TransactionException):
        other.execute("commit")
    # and claim() turns that race into ClaimConflict instead of a second send
    with pytest.raises(store.ClaimConflict):
        store.claim(other, store.DigestRecord("run-b", "desk", "t", "instant", NOW), digest)
    other.close()


def test_claims_of_a_run_that_died_are_released_after_the_lease(conn):
    add_article(conn, "a1")
    digest = build_digest(conn, alerts().subscribers[0], NOW)
    store.claim(conn, store.DigestRecord("dead", "desk", "t", "instant", NOW - timedelta(hours=2)), digest)
    sender = Recorder()
    assert run_digests(conn, alerts(), now=NOW, send=sender, env=ENV)[0].status == "sent"
    statuses = dict(conn.execute("select digest_id, status from digests").fetchall())
    assert statuses["dead"] == "interrupted" and len(sender.calls) == 1


def test_cap_lists_max_items_and_leaves_the_rest_pending(conn):
    titles = ["Wind auction breaks records", "Grid warns of shortfall", "Solar tariff cut in Spain",
              "Hydrogen plant delayed again", "Coal plant closes early"]
    for i, title in enumerate(titles):
        add_article(conn, f"a{i}", title=title, score=0.9 - i / 10)
    sender = Recorder()
    result = run_digests(conn, alerts(max_items=2), now=NOW, send=sender, env=ENV)[0]
    assert (result.n_items, result.n_more) == (2, 3)
    assert "and 3 more" in sender.calls[0][2].text
    listed = dict(conn.execute("select article_id, is_listed from digest_items").fetchall())
    assert listed == {"a0": True, "a1": True}  # a2-a4 were not listed: not recorded, still pending
    assert sent_ids(conn) == {"a0", "a1"}


def test_duplicates_are_listed_under_the_first_and_recorded_as_folded(conn):
    add_article(conn, "a", title="Denmark approves huge offshore wind farm near Thor", score=0.9, source="dr")
    add_article(conn, "b", title="Denmark approves huge offshore wind farm near Thor", score=0.6, source="tv2")
    sender = Recorder()
    run_digests(conn, alerts(), now=NOW, send=sender, env=ENV)
    assert "Also reported by" in sender.calls[0][2].html and ">tv2</a>" in sender.calls[0][2].html
    assert conn.execute("select folded_into from digest_items where article_id = 'b'").fetchone() == ("a",)
    assert sent_ids(conn) == {"a", "b"}


def test_empty_digest_is_sent_only_when_asked(conn):
    sender = Recorder()
    assert run_digests(conn, alerts(send_empty=True), now=NOW, send=sender, env=ENV)[0].status == "empty"
    assert "Nothing new" in sender.calls[0][2].text
    sender = Recorder()
    assert run_digests(conn, alerts(cadence="hourly"), now=NOW, send=sender, env=ENV)[0].status == "skipped_empty"
    assert sender.calls == []


def test_only_due_skips_subscribers_whose_slot_has_not_come(conn):
    add_article(conn, "a1")
    daily = {"kind": "daily", "at": "07:30", "tz": "UTC"}
    run_digests(conn, alerts(cadence=daily), now=NOW, send=Recorder(), env=ENV)  # 09:00: first digest
    add_article(conn, "a2", title="Another distinct story entirely", score=0.7)
    later = run_digests(conn, alerts(cadence=daily), now=NOW + timedelta(hours=3), send=Recorder(),
                        env=ENV, only_due=True)
    assert later[0].status == "not_due"
    next_day = run_digests(conn, alerts(cadence=daily), now=NOW + timedelta(hours=23), send=Recorder(),
                           env=ENV, only_due=True)
    assert next_day[0].status == "sent" and next_day[0].n_items == 1


def test_footer_lists_failing_and_silent_sources(conn):
    old = NOW - timedelta(days=10)
    conn.execute("insert into sources (source, kind, url, first_seen_at) values"
                 " ('quiet', 'rss', 'https://q.example/feed', ?), ('broken', 'rss', 'https://b.example/f', ?)", [old, old])
    conn.execute("insert into source_state (source, consecutive_failures, last_error, last_polled_at)"
                 " values ('broken', 3, 'HTTP 503', ?)", [NOW - timedelta(hours=1)])
    add_article(conn, "a1", source="broken")
    conn.execute("update articles set first_seen_at = ? where source = 'broken'", [NOW])
    d = build_digest(conn, alerts().subscribers[0], NOW)
    assert {(p.source, p.kind) for p in d.problems} == {("broken", "failing"), ("quiet", "silent")}
    assert "HTTP 503" in render_html(d)


def test_preview_writes_html_and_records_nothing(conn, tmp_path):
    add_article(conn, "a1", title=HOSTILE_TITLE)
    out = tmp_path / "out.html"
    assert preview_digests(conn, alerts(), out, now=NOW) == [out]
    assert "&lt;script&gt;" in out.read_text() and out.with_suffix(".txt").exists()
    counts = [conn.execute(f"select count(*) from {t}").fetchone()[0] for t in ("digests", "digest_items", "sent_items")]
    assert counts == [0, 0, 0]


def test_what_we_sent_example_query_runs_and_answers(conn):
    add_article(conn, "a1")
    run_digests(conn, alerts(), now=NOW, send=Recorder(), env=ENV)
    rows = conn.execute((SQL_DIR / "examples" / "what_we_sent.sql").read_text()).fetchall()
    assert len(rows) == 1 and rows[0][1] == "desk" and rows[0][-1] == "https://news.example/a1"


def test_cli_preview_renders_without_sending(tmp_path):
    from typer.testing import CliRunner

    from newswatch.cli import app

    db = tmp_path / "cli.duckdb"
    c = connect(db)
    add_article(c, "a1", published_at=datetime.now(UTC))
    c.close()
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "alerts.yaml").write_text("subscribers:\n  - {name: desk, url_env: NW_UNSET_URL, topics: ['*'], cadence: instant}\n")
    out = tmp_path / "p.html"
    result = CliRunner().invoke(app, ["digest", "--config-dir", str(cfg), "--db", str(db), "--preview", str(out)])
    assert result.exit_code == 0, result.output
    assert "Offshore wind farm approved" in out.read_text()
    c = connect(db)
    assert c.execute("select count(*) from digests").fetchone()[0] == 0
    c.close()
