"""Score reliability on the development set: score band -> share of (article, topic) pairs relevant.

    python bench/calibration.py [--out bench/results-calibration.json]

Every dev-set page is scored against every topic (72 x 3 pairs); a pair is relevant when the
page's hand label is that topic. A calibrated score rises with the share relevant; within the
matched bands it should also spread (a score that reads 1.00 for everything cannot rank).
Caveat: the classifier was tuned on this set (macro-F1 1.0), so the table is optimistic; it
shows the shape of the scale, not its accuracy on unseen news.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from newswatch.classify import classify_article, compile_topics, read_jsonl  # noqa: E402
from newswatch.config.errors import load_yaml_model  # noqa: E402
from newswatch.config.topics import TopicsFile  # noqa: E402

DEV_SET = REPO.parent / "shared" / "eval" / "classify-dev.jsonl"
BANDS = (0.0, 0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def scored() -> list[dict]:
    compiled = compile_topics(load_yaml_model(REPO / "config" / "topics.yaml", TopicsFile))
    out = []
    for row in read_jsonl(DEV_SET):
        for m in classify_article(compiled, row["title"], row["text"], row.get("lang")):
            out.append({"id": row["id"], "topic": m.topic, "score": m.score, "matched": m.matched,
                        "relevant": m.topic in row["labels"]})
    return out


def reliability(rows: list[dict]) -> list[dict]:
    table = []
    for lo, hi in zip(BANDS, BANDS[1:], strict=False):
        sel = [r for r in rows if lo <= r["score"] < hi or (hi == 1.0 and r["score"] == 1.0)]
        n = len(sel)
        rel = sum(r["relevant"] for r in sel)
        table.append({"band": f"{lo:.2f}-{hi:.2f}", "pairs": n, "relevant": rel,
                      "share_relevant": round(rel / n, 3) if n else None})
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results-calibration.json")
    args = parser.parse_args()
    if not DEV_SET.exists():
        print(f"skipped: {DEV_SET} is absent")
        return 0
    rows = scored()
    table = reliability(rows)
    matched = [r for r in rows if r["matched"]]
    shown = [f"{r['score']:.2f}" for r in matched]
    summary = {"pairs": len(rows), "matched": len(matched), "table": table,
               "matched_showing_1.00": shown.count("1.00"), "distinct_matched_scores": len(set(shown))}
    print("| score band | pairs | relevant | share relevant |\n|---|---:|---:|---:|")
    for t in table:
        share = "–" if t["share_relevant"] is None else f"{t['share_relevant']:.2f}"
        print(f"| {t['band']} | {t['pairs']} | {t['relevant']} | {share} |")
    print(f"matched {len(matched)}: {summary['distinct_matched_scores']} distinct scores shown, "
          f"{summary['matched_showing_1.00']} show 1.00")
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
