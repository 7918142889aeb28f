"""Classifier behaviour on short synthetic articles, plus storage and the CLI.

The sentences here are written for these tests; real articles are only read from ../shared/.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newswatch.classify import (
    CLASSIFIER_VERSION,
    classify_article,
    classify_batch,
    compile_topics,
    detect_script,
    topic_version,
)
from newswatch.classify.rescore import score_stored_articles
from newswatch.classify.text import build_sentences, split_sentences
from newswatch.cli import app
from newswatch.config import load_config
from newswatch.store import connect

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compiled():
    return compile_topics(load_config(REPO / "config").topics)


def result(compiled, title, text, lang=None):
    return {m.topic: m for m in classify_article(compiled, title, text, lang)}


def test_one_match_per_topic_with_scores_in_0_1(compiled):
    matches = classify_article(compiled, "Weather", "It rained in Lisbon today.")
    assert [m.topic for m in matches] == ["japan-benelux", "japan-china", "uk-japan-biotech"]
    assert all(0.0 <= m.score <= 1.0 and not m.matched for m in matches)


def test_bilateral_story_matches_with_terms_and_evidence_sentences(compiled):
    text = (
        "Japanese drugmaker Shionogi will open a research laboratory in Leiden, the Netherlands. "
        "The Dutch site will employ forty scientists working on antibiotics. "
        "Shionogi said the Dutch investment strengthens its European research."
    )
    m = result(compiled, "Shionogi opens Dutch laboratory", text)["japan-benelux"]
    assert m.matched and m.score >= 0.5
    assert 1 <= len(m.evidence) <= 3
    assert all(e in " ".join(text.split()) or e == "Shionogi opens Dutch laboratory" for e in m.evidence)
    assert {"Japanese", "Shionogi", "Leiden"} <= set(m.terms)
    assert m.details["anchors"]


def test_japanese_text_is_detected_as_japanese_and_matches(compiled):
    text = "武田薬品は上海に新しい研究開発センターを開設し、中国の患者向けの新薬の臨床開発を進めると発表した。中国市場での製薬事業を強化する。"
    assert detect_script(text) == "ja"
    m = result(compiled, "武田薬品、中国に開発拠点", text)["japan-china"]
    assert m.matched
    assert "中国" in m.terms


def test_chinese_text_is_not_taken_for_japanese(compiled):
    zh = "日中医药合作论坛在北京举行，两国企业讨论了生物医药研发和临床试验。"
    assert detect_script(zh) == "zh"
    assert detect_script("日中の製薬企業が共同研究で合意した。") == "ja"


def test_japanese_only_abbreviation_is_ignored_in_chinese_text(tmp_path):
    cfg = tmp_path / "topics.yaml"
    cfg.write_text(
        "groups:\n"
        "  pair: {terms: [{term: 日中, lang: [ja]}]}\n"
        "  drug: {terms: [医薬, 医药]}\n"
        "topics:\n  - name: t\n    rules: [{together: [pair], with: [drug]}]\n",
        encoding="utf-8",
    )
    c = compile_topics(load_config(tmp_path).topics)
    ja = "日中の医薬品企業が提携した。日中の医薬協力が進む。"
    zh = "日中医药企业签署合作协议。日中医药合作继续推进。"
    assert classify_article(c, None, ja)[0].score > 0
    assert classify_article(c, None, zh)[0].score == 0


def test_dutch_compounds_and_stems_match(compiled):
    text = (
        "De Japans-Chinese samenwerking in de biofarmacie groeit snel. "
        "Japanse en Chinese bedrijven sluiten licentieakkoorden voor nieuwe geneesmiddelen."
    )
    m = result(compiled, "Japans-Chinese biofarmacie", text, "nl")["japan-china"]
    assert m.matched
    assert {"Japans", "Chinese", "biofarmacie"} <= set(m.terms)


def test_case_and_accents_do_not_matter(compiled):
    text = (
        "LA BELGIQUE ET LE JAPON ONT SIGNÉ UN ACCORD DE COOPÉRATION SPATIALE. "
        "Une mission économique belge au Japon a visité des entreprises japonaises."
    )
    m = result(compiled, None, text, "fr")["japan-benelux"]
    assert m.matched
    assert "BELGIQUE" in m.terms and "JAPON" in m.terms


def test_country_named_once_in_a_list_is_not_a_bilateral_story(compiled):
    text = (
        "Belgian biotech firms raised record funding this year. "
        "Investors from Flanders and Wallonia backed new drug programmes. "
        "Belgian drugmakers export medicines to the United States, Germany, France, Japan, China and India. "
        "Local universities expect more spin-offs."
    )
    listed = result(compiled, "Belgian biotech funding hits record", text)["japan-benelux"]
    assert listed.details["anchors"] and not listed.matched  # the pair meets, but in a list
    bilateral = text.replace("the United States, Germany, France, Japan, China and India", "Japan")
    assert result(compiled, "Belgian biotech funding hits record", bilateral)["japan-benelux"].matched


def test_title_pairing_the_body_never_repeats_is_not_enough(compiled):
    text = "The government eased quarantine rules for travellers. Vaccination rates keep rising."
    title = "Weekly update: news on Japan and the Netherlands"
    m = result(compiled, title, text)["japan-benelux"]
    assert not m.matched


def test_football_between_the_countries_is_excluded(compiled):
    text = (
        "Belgium beat Japan 3-2 in the World Cup round of 16, watched by the Belgian prime minister. "
        "Japan led 2-0 before Belgium scored three goals in the second half. "
        "The Belgian king visited the Japanese and Belgian players after the match."
    )
    bare = "Japan and Belgium signed a cooperation agreement. Belgian and Japanese ministers met again."
    football = result(compiled, "Belgium beat Japan at the World Cup", text)["japan-benelux"]
    assert not football.matched and football.details["exclusion"]["penalty"] > 0
    assert result(compiled, None, bare)["japan-benelux"].score > 0


def test_uk_japan_needs_life_sciences(compiled):
    strategy = (
        "The United Kingdom and Japan agreed a new defence and security partnership. "
        "British and Japanese forces will hold joint exercises."
    )
    biotech = (
        "British regenerative medicine company Oxbridge Cells licensed its cell therapy to Japan's Astellas. "
        "Astellas will run clinical trials of the therapy in Japan."
    )
    assert not result(compiled, "UK and Japan sign defence pact", strategy)["uk-japan-biotech"].matched
    assert result(compiled, "UK cell therapy licensed to Astellas", biotech)["uk-japan-biotech"].matched


def test_address_lines_weigh_less_than_sentences(compiled):
    article = "Astellas opened a laboratory in Belgium to research new medicines for patients."
    address = "Contact: Astellas Pharma Europe, Tel. +32 2 555 1234, Brussels, Belgium, www.example.com"
    good = result(compiled, None, article)["japan-benelux"].score
    noisy = result(compiled, None, address)["japan-benelux"].score
    assert noisy < good


def test_sentence_splitting_keeps_abbreviations_and_joins_wrapped_lines():
    parts = [s for _, s in split_sentences("Talks with the U.S. and Japan ended. A new one began.")]
    assert parts[0].startswith("Talks with the U.S. and Japan")
    wrapped = "A Japanese pharmaceuticals company is to spend fifty million\non a research centre in Britain.\n"
    assert len(split_sentences(wrapped)) == 1


def test_folded_text_keeps_offsets_so_terms_are_quoted_as_written():
    s = build_sentences("Belgïë én Japón", "")[0]
    assert len(s.folded) == len(s.text) and s.lower.startswith("belgie en japon")


def test_batch_equals_one_by_one(compiled):
    items = [
        {"title": "Takeda opens a Shanghai development centre", "text": "Takeda said China is a key drug market."},
        {"title": "Rain", "text": "Nothing happened."},
    ]
    assert classify_batch(compiled, items) == [classify_article(compiled, i["title"], i["text"]) for i in items]


def test_versions_carry_code_and_topic_config(compiled):
    versions = {topic_version(compiled, t.spec.name) for t in compiled.topics}
    assert len(versions) == 3 and all(v.startswith(CLASSIFIER_VERSION + "+") for v in versions)


# --- storage: reclassify on a real DuckDB file -------------------------------------------------

ARTICLES = [
    ("a1", "Takeda opens Shanghai drug development centre",
     "Japan's Takeda opened a development centre in Shanghai to run clinical trials for China. "
     "Takeda expects Chinese patients to get its new medicines sooner."),
    ("a2", "Astellas buys Belgian biotech",
     "Japanese drugmaker Astellas agreed to acquire a Belgian biotech company for 500 million euros. "
     "The Belgian firm develops drugs for women's health."),
    ("a3", "Tulip season opens", "Tourists crowd the flower fields near Lisse."),
]


def insert_articles(conn):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for aid, title, text in ARTICLES:
        conn.execute(
            "insert into articles (article_id, url, fetched_url, source, title, fetched_at, text,"
            " content_hash, extraction_method) values (?, ?, ?, 'test', ?, ?, ?, ?, 'feed_content')",
            [aid, f"https://example.org/{aid}", f"https://example.org/{aid}", title, now, text, aid],
        )


def test_reclassify_counts_changes_and_is_idempotent(tmp_path, compiled):
    conn = connect(tmp_path / "nw.duckdb")
    insert_articles(conn)
    first = score_stored_articles(conn, compiled)
    assert (first.articles, first.rows, first.changed) == (3, 9, 9)
    stored = conn.execute(
        "select article_id, topic, is_match, classifier_version from article_topics where is_match order by 1"
    ).fetchall()
    assert [(a, t) for a, t, _, _ in stored] == [("a1", "japan-china"), ("a2", "japan-benelux")]
    assert all(v == topic_version(compiled, t) for _, t, _, v in stored)

    again = score_stored_articles(conn, compiled)
    assert again.changed == 0
    assert conn.execute("select count(*) from article_topics").fetchone()[0] == 9
    conn.close()


def test_reclassify_after_a_topic_change_rescores_only_that_topic(tmp_path, compiled):
    conn = connect(tmp_path / "nw.duckdb")
    insert_articles(conn)
    score_stored_articles(conn, compiled)
    raw = (REPO / "config" / "topics.yaml").read_text(encoding="utf-8")
    changed_cfg = tmp_path / "cfg"
    changed_cfg.mkdir()
    # raise japan-china's bar above any score: its version changes and a1 stops matching
    marker = "  - name: japan-china\n"
    head, tail = raw.split(marker)
    tail = tail.replace("    threshold: 0.5\n", "    threshold: 1.0\n", 1)
    (changed_cfg / "topics.yaml").write_text(head + marker + tail, encoding="utf-8")
    edited = compile_topics(load_config(changed_cfg).topics)
    summary = score_stored_articles(conn, edited, topic="japan-china")
    assert (summary.rows, summary.changed, summary.no_longer_matching) == (3, 3, 1)
    assert score_stored_articles(conn, edited, topic="japan-china").changed == 0
    assert score_stored_articles(conn, edited, topic="japan-benelux").changed == 0
    conn.close()


# --- CLI -----------------------------------------------------------------------------------------

def test_cli_classify_and_eval(tmp_path):
    lines = [
        {"id": i, "title": t, "text": x, "labels": ["none"] if i == "a3" else []} for i, t, x in ARTICLES
    ]
    lines[0]["labels"] = ["japan-china"]
    lines[1]["labels"] = ["japan-benelux"]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["classify", str(path), "--config-dir", str(REPO / "config")])
    assert out.exit_code == 0, out.output
    rows = [json.loads(x) for x in out.output.splitlines()]
    assert [r["topics"] for r in rows] == [["japan-china"], ["japan-benelux"], []]
    assert rows[0]["evidence"]["japan-china"] and set(rows[0]["scores"]) == {
        "japan-benelux", "japan-china", "uk-japan-biotech"}

    ev = runner.invoke(app, ["eval", str(path), "--config-dir", str(REPO / "config")])
    assert ev.exit_code == 0
    assert "macro-F1" in ev.output and "misclassified: 0" in ev.output


def test_cli_reclassify_reports_changes(tmp_path):
    db = tmp_path / "nw.duckdb"
    conn = connect(db)
    insert_articles(conn)
    conn.close()
    runner = CliRunner()
    args = ["reclassify", "--db", str(db), "--config-dir", str(REPO / "config")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "9 changed" in first.output
    assert "0 changed" in runner.invoke(app, args).output
    bad = runner.invoke(app, [*args, "--topic", "nope"])
    assert bad.exit_code != 0


@pytest.mark.parametrize("command", ["classify", "eval", "reclassify"])
def test_help_has_an_example(command):
    out = CliRunner().invoke(app, [command, "--help"])
    assert out.exit_code == 0 and "Example: newswatch" in out.output
