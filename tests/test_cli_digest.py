"""`newswatch digest --preview` through the real CLI: topic headings show the topic's human title
from topics.yaml, not its slug."""

from __future__ import annotations

from datetime import UTC, datetime

from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.store import connect
from test_digest import add_article

TOPICS = """groups:
  wind: {terms: [wind*]}
topics:
  - name: energy
    title: "Energy – Offshore wind"
    threshold: 0.5
    rules:
      - together: [wind]
"""

def test_preview_headings_use_the_topic_title(tmp_path):
    db = tmp_path / "d.duckdb"
    conn = connect(db)
    add_article(conn, "a1", topic="energy", published_at=datetime.now(UTC))
    conn.close()
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "topics.yaml").write_text(TOPICS, encoding="utf-8")
    (cfg / "alerts.yaml").write_text(
        "subscribers:\n  - {name: desk, url_env: NW_UNSET_URL, topics: [energy], cadence: instant}\n")
    out = tmp_path / "p.html"
    result = CliRunner().invoke(app, ["digest", "--config-dir", str(cfg), "--db", str(db), "--preview", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "Energy – Offshore wind" in html
    assert ">energy<" not in html
