"""Classifier speed: articles per second on the dev set's real articles (or synthetic ones).

    python bench/bench_classify.py [--rounds 20]

Prints a table and writes bench/results-classify.json. Compare with extraction: trafilatura
takes ~13 ms per article here, so classification should stay well under that.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from newswatch.classify import classify_batch, compile_topics, read_jsonl  # noqa: E402
from newswatch.config import load_config  # noqa: E402

DEV_SET = REPO.parent / "shared" / "eval" / "classify-dev.jsonl"
EXTRACTION_MS_PER_ARTICLE = 13.0  # trafilatura on these machines (../shared/STACK.md)


def articles() -> tuple[list[dict], str]:
    if DEV_SET.exists():
        return read_jsonl(DEV_SET), str(DEV_SET.relative_to(REPO.parent))
    body = "Japanese drugmaker Eisai opened a research centre in London with British scientists. " * 20
    return [{"title": "Eisai in London", "text": body}] * 50, "synthetic"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    t0 = time.perf_counter()
    compiled = compile_topics(load_config(REPO / "config").topics)
    compile_ms = (time.perf_counter() - t0) * 1000
    items, source = articles()
    classify_batch(compiled, items)  # warm caches
    per_round = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        classify_batch(compiled, items)
        per_round.append(time.perf_counter() - start)
    best, median = min(per_round), statistics.median(per_round)
    chars = sum(len(i.get("text") or "") for i in items) / len(items)
    result = {
        "articles": len(items),
        "source": source,
        "mean_chars": round(chars),
        "topics": len(compiled.topics),
        "rounds": args.rounds,
        "compile_ms": round(compile_ms, 1),
        "articles_per_s_median": round(len(items) / median, 1),
        "articles_per_s_best": round(len(items) / best, 1),
        "ms_per_article_median": round(median / len(items) * 1000, 3),
        "share_of_extraction_cost": round(median / len(items) * 1000 / EXTRACTION_MS_PER_ARTICLE, 3),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(f"{'articles':<28}{result['articles']} ({source}, {result['mean_chars']} chars mean)")
    print(f"{'topics':<28}{result['topics']}")
    print(f"{'compile (ms)':<28}{result['compile_ms']}")
    print(f"{'articles/s (median)':<28}{result['articles_per_s_median']}")
    print(f"{'ms/article (median)':<28}{result['ms_per_article_median']}")
    print(f"{'vs extraction (13 ms)':<28}{result['share_of_extraction_cost']:.1%}")
    out = REPO / "bench" / "results-classify.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
