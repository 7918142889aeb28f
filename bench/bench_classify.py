"""Classifier speed: articles per second on the dev set's real articles (or synthetic ones), and
CPU ms per article on the extraction corpus's article bodies (a news stream's mix: most name no
Japan, so the whole-text prefilter settles them; the dev set is mostly articles it cannot settle).

    python bench/bench_classify.py [--rounds 20] [--out bench/results-classify.json]

Prints a table and writes the results as JSON. Compare with extraction: trafilatura takes ~13 ms
per article here, so classification should stay well under that.
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

from newswatch.classify import classify_article, classify_batch, compile_topics, read_jsonl  # noqa: E402
from newswatch.config import load_config  # noqa: E402

DEV_SET = REPO.parent / "shared" / "eval" / "classify-dev.jsonl"
CORPUS_TRUTH = REPO.parent / "shared" / "corpus" / "extraction" / "ground-truth.json"
EXTRACTION_MS_PER_ARTICLE = 13.0  # trafilatura on these machines (../shared/STACK.md)


def articles() -> tuple[list[dict], str]:
    if DEV_SET.exists():
        return read_jsonl(DEV_SET), str(DEV_SET.relative_to(REPO.parent))
    body = "Japanese drugmaker Eisai opened a research centre in London with British scientists. " * 20
    return [{"title": "Eisai in London", "text": body}] * 50, "synthetic"


def corpus_ms_per_article(compiled, rounds: int) -> tuple[int, float, float] | None:
    """(articles, best CPU ms per article, share settled by the prefilter) over the corpus bodies."""
    if not CORPUS_TRUTH.exists():
        return None
    bodies = [item["articleBody"] for item in json.loads(CORPUS_TRUTH.read_text(encoding="utf-8")).values()]
    items = [(body.split("\n", 1)[0][:200], body) for body in bodies]
    settled = sum(all("prefilter" in m.details for m in classify_article(compiled, t, b)) for t, b in items)
    best = float("inf")
    for _ in range(max(3, rounds // 4)):
        start = time.process_time()
        for title, body in items:
            classify_article(compiled, title, body)
        best = min(best, time.process_time() - start)
    return len(items), best / len(items) * 1000, settled / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results-classify.json")
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
    corpus = corpus_ms_per_article(compiled, args.rounds)
    if corpus is not None:
        result["corpus_articles"], ms, settled = corpus
        result["corpus_cpu_ms_per_article_best"] = round(ms, 3)
        result["corpus_settled_by_prefilter"] = round(settled, 3)
    print(f"{'articles':<28}{result['articles']} ({source}, {result['mean_chars']} chars mean)")
    print(f"{'topics':<28}{result['topics']}")
    print(f"{'compile (ms)':<28}{result['compile_ms']}")
    print(f"{'articles/s (median)':<28}{result['articles_per_s_median']}")
    print(f"{'ms/article (median)':<28}{result['ms_per_article_median']}")
    print(f"{'vs extraction (13 ms)':<28}{result['share_of_extraction_cost']:.1%}")
    if corpus is not None:
        print(f"{'corpus CPU ms/article':<28}{result['corpus_cpu_ms_per_article_best']} "
              f"({result['corpus_articles']} bodies, {result['corpus_settled_by_prefilter']:.0%} settled by the prefilter)")
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
