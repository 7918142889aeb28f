"""`newswatch classify FILE.jsonl`: each JSON line explains its scores exactly as the database does
(article_topics: score, is_match, terms, evidence, details, classifier_version). The real CLI on a
small JSONL file; the stored rows come from the ingest's own store function into a real DuckDB."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from newswatch.classify import classify_batch
from newswatch.cli import app
from newswatch.config import load_config
from newswatch.pipeline import compile_run_topics, store_topic_matches
from newswatch.store import connect

TOPICS = """
groups:
  japan: {place: true, terms: [japan*]}
  belgium: {place: true, terms: [belgi*]}
  pharma: {terms: [pharma*, biotech*]}
topics:
  - name: jb-pharma
    threshold: 0.5
    rules:
      - together: [japan, belgium]
        with: [pharma]
  - name: japan
    rules: [{together: [japan]}]
"""
ITEMS = [
    {"id": "hit", "lang": "en", "title": "Japan and Belgium sign biotech pact",
     "text": "Japan and Belgium signed a pact on biotech research on Monday. The pharma industry welcomed "
             "the agreement between the two countries. Japanese and Belgian companies will share labs."},
    {"id": "miss", "lang": "en", "title": "Weather", "text": "Rain is expected in Brussels tomorrow."},
]


def run_classify(tmp_path):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "topics.yaml").write_text(TOPICS, encoding="utf-8")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(i) + "\n" for i in ITEMS), encoding="utf-8")
    res = CliRunner().invoke(app, ["classify", str(src), "--config-dir", str(cfg)])
    assert res.exit_code == 0, res.output
    return cfg, [json.loads(line) for line in res.stdout.splitlines()]


def stored_rows(tmp_path, cfg) -> dict[tuple[str, str], dict]:
    """What an ingest stores for ITEMS: the pipeline's store function, read back from DuckDB."""
    compiled = compile_run_topics(load_config(cfg))
    conn = connect(tmp_path / "news.duckdb")
    for item in ITEMS:
        conn.execute("insert into articles (article_id, url, fetched_url, source, title, fetched_at, lang, text,"
                     " content_hash, extraction_method) values (?, ?, ?, 'wire', ?, now(), 'en', ?, ?, 'feed')",
                     [item["id"], f"http://127.0.0.1/{item['id']}", f"http://127.0.0.1/{item['id']}",
                      item["title"], item["text"], item["id"]])
    store_topic_matches(conn, compiled, list(zip([i["id"] for i in ITEMS], classify_batch(compiled, ITEMS))))
    rows = conn.execute("select article_id, topic, score, is_match, terms, evidence, details, classifier_version"
                        " from article_topics").fetchall()
    conn.close()
    load = lambda v: json.loads(v) if isinstance(v, str) else v  # noqa: E731 - JSON columns come back as text
    return {(r[0], r[1]): {"topic": r[1], "score": r[2], "is_match": r[3], "terms": load(r[4]),
                           "evidence": load(r[5]), "details": load(r[6]), "classifier_version": r[7]}
            for r in rows}


def test_classify_lines_carry_terms_and_evidence_for_a_match(tmp_path):
    _, lines = run_classify(tmp_path)
    hit = next(line for line in lines if line["id"] == "hit")
    assert "jb-pharma" in hit["topics"]
    terms = {t.lower() for t in hit["terms"]["jb-pharma"]}
    assert {"japan", "belgium", "biotech"} <= terms
    assert hit["evidence"]["jb-pharma"] and all(s in ITEMS[0]["title"] + " " + ITEMS[0]["text"]
                                                for s in hit["evidence"]["jb-pharma"])


def test_classify_lines_carry_what_the_database_stores_for_every_topic(tmp_path):
    cfg, lines = run_classify(tmp_path)
    stored = stored_rows(tmp_path, cfg)
    printed = {(line["id"], rec["topic"]): rec for line in lines for rec in line["article_topics"]}
    assert printed.keys() == stored.keys() == {(i["id"], t) for i in ITEMS for t in ("jb-pharma", "japan")}
    for key, row in stored.items():
        assert printed[key] == row, key
    assert stored[("hit", "jb-pharma")]["terms"] and stored[("hit", "jb-pharma")]["evidence"]  # not vacuous
