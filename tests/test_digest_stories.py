"""One story, once: stored stories folded across digests, update lines, never folding two stories,
and items beyond max_items left pending (issue 16, and issue 13's "…and 14 more").

Every run uses a fixed clock (NOW, NOW + 1 day); nothing depends on the date the tests run on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from newswatch.config.alerts import AlertsFile
from newswatch.digest import run_digests
from newswatch.digest.fold import fold_duplicates
from newswatch.digest.model import DigestItem
from newswatch.notify import SendResult
from newswatch.store import connect
from newswatch.store.status import SubscriberRow, save_subscribers

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ENV = {"NW_TEST_URL": "json://127.0.0.1:9/hook"}

# The same news, reported by a wire service and (a day later) a Dutch paper: different text,
# the same names and figures.
EN_TITLE = "Shionogi opens antibiotics laboratory in Leiden with 40 scientists"
EN_TEXT = (
    "Japanese drugmaker Shionogi has opened a research laboratory in Leiden, the Netherlands, where "
    "40 scientists will work on new antibiotics, the company said on Tuesday.\n"
    "The site at the Leiden Bio Science Park cost 25 million euros and is Shionogi's first European lab.\n"
    "Shionogi said Dutch universities and hospitals were the main reason for choosing Leiden."
)
NL_TITLE = "Shionogi opent antibioticalab in Leiden met 40 onderzoekers"
NL_TEXT = (
    "Het Japanse farmabedrijf Shionogi heeft in Leiden een onderzoekslaboratorium geopend waar "
    "40 wetenschappers aan nieuwe antibiotica gaan werken, zo meldde het bedrijf dinsdag.\n"
    "Het lab op het Leiden Bio Science Park kostte 25 miljoen euro en is het eerste van Shionogi in Europa.\n"
    "Volgens Shionogi gaven de Nederlandse universiteiten en ziekenhuizen de doorslag voor Leiden."
)


@pytest.fixture
def conn(tmp_path):
    c = connect(tmp_path / "nw.duckdb")
    yield c
    c.close()


def add(conn, article_id, title, text, *, source="wire", lang="en", published_at=NOW - timedelta(hours=2),
        topic="japan-benelux", score=0.8, evidence=None, terms=("Shionogi", "Leiden")):
    url = f"https://{source}.example/{article_id}"
    conn.execute(
        "insert into articles (article_id, url, fetched_url, source, title, published_at, fetched_at,"
        " lang, text, content_hash, extraction_method) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'feed_content')",
        [article_id, url, url, source, title, published_at, published_at, lang, text, f"h-{article_id}"],
    )
    conn.execute(
        "insert into article_topics (article_id, topic, score, is_match, terms, evidence, classifier_version)"
        " values (?, ?, ?, true, ?, ?, 'test')",
        [article_id, topic, score, json.dumps(list(terms)), json.dumps(evidence or [text.split("\n")[0]])],
    )


def alerts(**overrides) -> AlertsFile:
    sub = {"name": "desk", "url_env": "NW_TEST_URL", "topics": ["japan-benelux", "japan-china"],
           "cadence": "instant"}
    sub.update(overrides)
    return AlertsFile.model_validate({"subscribers": [sub]})


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, urls, subject, bodies):
        self.calls.append((list(urls), subject, bodies))
        return SendResult(True, ("json://***@127.0.0.1",))


# --- one story, once, across digests ----------------------------------------------------------

def two_runs(conn, **sub):
    add(conn, "en1", EN_TITLE, EN_TEXT)
    first, second = Recorder(), Recorder()
    r1 = run_digests(conn, alerts(**sub), now=NOW, send=first, env=ENV)[0]
    add(conn, "nl1", NL_TITLE, NL_TEXT, source="nrc", lang="nl", published_at=NOW + timedelta(hours=20))
    r2 = run_digests(conn, alerts(**sub), now=NOW + timedelta(days=1), send=second, env=ENV)[0]
    return r1, r2, first, second


def test_later_report_of_a_sent_story_is_not_resent_and_shows_one_update_line(conn):
    r1, r2, first, second = two_runs(conn, updates=True)
    assert r1.status == "sent" and EN_TITLE in first.calls[0][2].html
    assert r2.status == "sent" and len(second.calls) == 1
    bodies = second.calls[0][2]
    # not listed again as new: the Dutch report is not an item, the story appears once as an update
    assert r2.n_items == 0 and r2.n_updates == 1
    assert NL_TITLE not in bodies.html and NL_TITLE not in bodies.text
    for form in (bodies.html, bodies.text):
        assert form.count("also reported by") == 1
        assert "nrc" in form and "first sent 20 Nov 2026" in form and EN_TITLE in form
    assert "first sent 20 Nov 2026" in bodies.chat
    assert "0 new" not in second.calls[0][1] and "1 update" in second.calls[0][1]
    stories = conn.execute("select story_id, n_articles, sources, languages from stories").fetchall()
    assert stories == [("en1", 2, ["nrc", "wire"], ["en", "nl"])]
    log = conn.execute("select article_id, kind, story_id from digest_log order by sent_at, article_id").fetchall()
    assert log == [("en1", "listed", "en1"), ("nl1", "update", "en1")]


def test_with_updates_false_a_later_report_is_recorded_and_nothing_is_sent(conn):
    r1, r2, _, second = two_runs(conn, updates=False)
    assert r1.status == "sent"
    assert r2.status == "skipped_empty" and second.calls == []
    # handled: it does not come back in the next digest either
    third = Recorder()
    assert run_digests(conn, alerts(updates=False), now=NOW + timedelta(days=2), send=third, env=ENV)[0].status \
        == "skipped_empty"
    assert conn.execute("select kind, story_id from digest_item_stories where article_id = 'nl1'").fetchall() == [
        ("known", "en1")]


def test_a_report_adding_no_new_source_or_language_is_no_update(conn):
    add(conn, "en1", EN_TITLE, EN_TEXT)
    run_digests(conn, alerts(), now=NOW, send=Recorder(), env=ENV)
    # the same wire re-files the story with a light edit: same source, same language
    add(conn, "en2", EN_TITLE + " (updated)", EN_TEXT.replace("Tuesday", "Tuesday morning"),
        published_at=NOW + timedelta(hours=3))
    second = Recorder()
    assert run_digests(conn, alerts(), now=NOW + timedelta(days=1), send=second, env=ENV)[0].status == "skipped_empty"
    assert second.calls == []


def test_a_different_story_in_the_second_run_is_new(conn):
    add(conn, "en1", EN_TITLE, EN_TEXT)
    run_digests(conn, alerts(), now=NOW, send=Recorder(), env=ENV)
    add(conn, "other", "Astellas buys Belgian biotech Ogeda for 500 million euros",
        "Japanese drugmaker Astellas will buy Ogeda, a biotech based in Gosselies, Belgium, for 500 million "
        "euros up front, the companies said.\nOgeda's lead drug fezolinetant treats menopausal hot flashes.",
        source="wire", published_at=NOW + timedelta(hours=20))
    second = Recorder()
    r2 = run_digests(conn, alerts(), now=NOW + timedelta(days=1), send=second, env=ENV)[0]
    assert r2.status == "sent" and r2.n_items == 1 and r2.n_updates == 0
    assert "Astellas buys Belgian biotech Ogeda" in second.calls[0][2].html


# --- never fold two different stories ------------------------------------------------------------

# one site's template (navigation, share buttons, byline format, a long "about" footer) around
# two different stories published the same day
FURNITURE_TOP = "Global EditionASIA 中文雙語Français\nBusiness\nHome / Business / Companies\n"
FURNITURE_SHARE = "Share\nShare - WeChat\n"
FOOTER = (
    "Copyright 1995 - 2026. All rights reserved. The content (including but not limited to text, photo, "
    "multimedia information, etc) published in this site belongs to China Daily Information Co (CDIC). "
    "Without written authorization from CDIC, such content shall not be republished or used in any form."
)


def page(title, byline, body):
    return f"{FURNITURE_TOP}\n{title}\n\n{byline}\n{FURNITURE_SHARE}\n{body}\n\n{FOOTER}"


TAKEDA = page(
    "Takeda Pharma doubles down on China play", "By ZHENG YIRAN | China Daily | Updated: 2026-11-20 09:27",
    "Takeda Pharmaceutical Co Ltd, a Japanese drugmaker, will introduce more than 15 innovative drugs in the "
    "Chinese market in the coming five years, company executives said.\n"
    "Takeda is seeking to further tap into China's healthcare sector and take more advantage of the "
    "country's opening-up policies, they said.",
)
ASTELLAS = page(
    "Astellas eyes Chinese R&D for global edge", "By LIU ZHIHUA | China Daily | Updated: 2026-11-20 09:31",
    "男女羞羞视频在线观看,国产精品黄色免费,麻豆91在线视频,美女被羞羞免费软件下载,国产的一级片,亚洲熟色妇\n"
    "China has emerged as a key player in Astellas Pharma's global research and development strategy, and "
    "the multinational pharmaceutical company is actively investing in China's R&D capabilities, including "
    "partnerships with local biotech companies and fostering talent, a senior executive said.",
)


def test_two_different_stories_from_one_site_sharing_its_furniture_are_never_folded(conn):
    add(conn, "takeda", "Takeda Pharma doubles down on China play", TAKEDA, source="chinadaily",
        topic="japan-china", score=0.9)
    # the spam line made the page's language `wuu`; the digest shows the article's real language
    add(conn, "astellas", "Astellas eyes Chinese R&D for global edge", ASTELLAS, source="chinadaily",
        lang="wuu", topic="japan-china", score=0.8, published_at=NOW - timedelta(hours=1))
    sender = Recorder()
    result = run_digests(conn, alerts(), now=NOW, send=sender, env=ENV)[0]
    assert (result.n_items, result.n_folded) == (2, 0)
    html = sender.calls[0][2].html
    assert "Also reported by" not in html
    assert "wuu" not in html and "(wuu)" not in sender.calls[0][2].text
    assert conn.execute("select count(*) from stories").fetchone()[0] == 2
    assert dict(conn.execute("select article_id, lang from story_articles").fetchall())["astellas"] == "en"


def test_reports_months_apart_are_separate_stories_unless_their_text_is_the_same():
    def item(aid, title, text, days, source):
        return DigestItem(aid, f"https://{source}.example/{aid}", source, title, "japan-china", 0.8,
                          published_at=NOW - timedelta(days=days), lang="en", text_sample=text)

    # same site, same company, same template, four years apart: two stories
    old = item("old", "Takeda Pharma doubles down on China play", TAKEDA, 4 * 365, "chinadaily")
    new = item("new", "Astellas eyes Chinese R&D for global edge", ASTELLAS, 0, "chinadaily")
    assert len(fold_duplicates([new, old])) == 2
    # similar titles, same day, a different place: two stories
    a = item("a", "Takeda opens new drug development center in China", "Takeda opens a centre in Shanghai.", 0, "x")
    b = item("b", "Takeda opens new drug development center in Singapore", "Takeda opens a centre there.", 0, "y")
    assert len(fold_duplicates([a, b])) == 2
    # a republished copy of the same text a year later is still the same story
    copy = item("copy", "Takeda's China play, revisited", TAKEDA.replace("Updated: 2026", "Updated: 2027"), -365,
                "mirror")
    assert len(fold_duplicates([old, copy])) == 1


# --- items beyond max_items stay pending (issue 13) ----------------------------------------------

def test_items_beyond_max_items_stay_pending_and_raising_it_shows_them(conn):
    titles = ["Japan and Belgium sign space pact", "Dutch port signs Japanese hydrogen deal",
              "Takeda expands Lessines plant", "Astellas buys Ogeda", "Kyowa Kirin opens lab in Ghent"]
    for i, title in enumerate(titles):
        add(conn, f"a{i}", title, f"{title} — the full report number {i} with its own details {i * 7}.",
            source=f"s{i}", score=0.9 - i / 20)
    save_subscribers(conn, [SubscriberRow("desk", ("japan-benelux",), None, 36500.0, "instant")])
    first = Recorder()
    r1 = run_digests(conn, alerts(max_items=2), now=NOW, send=first, env=ENV)[0]
    assert (r1.n_items, r1.n_more) == (2, 3)
    assert first.calls[0][1] == "newswatch digest: japan-benelux 2 · 5 new, 2 listed"
    assert "5 new, 2 listed" in first.calls[0][2].text and "and 3 more" in first.calls[0][2].text
    backlog = conn.execute("select pending_items from subscriber_backlog where subscriber = 'desk'").fetchone()
    assert backlog == (3,)
    second = Recorder()
    r2 = run_digests(conn, alerts(max_items=10), now=NOW + timedelta(minutes=5), send=second, env=ENV)[0]
    assert r2.status == "sent" and r2.n_items == 3 and r2.n_more == 0
    assert all(t in second.calls[0][2].text for t in titles[2:])
    assert conn.execute("select pending_items from subscriber_backlog").fetchone() == (0,)


def test_subject_names_topic_titles_and_counts(conn):
    add(conn, "b1", "Japan and Belgium sign space pact", "Japan and Belgium signed a space pact in Brussels today.")
    add(conn, "c1", "Takeda opens Shanghai R&D centre", "Takeda opened its research centre in Shanghai today, "
        "with 200 staff.", topic="japan-china", source="other")
    sender = Recorder()
    run_digests(conn, alerts(), now=NOW, send=sender, env=ENV,
                topic_titles={"japan-benelux": "Japan – Benelux", "japan-china": "Japan – China"})
    assert sender.calls[0][1] == "newswatch digest: Japan – Benelux 1, Japan – China 1 · 2 new"
    html = sender.calls[0][2].html
    assert ">Japan – Benelux <" in html and ">Japan – China <" in html and ">japan-china <" not in html
