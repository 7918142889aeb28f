"""Extraction quality and CPU per page, side by side, on both dev sets (issue 17).

    .venv/bin/python bench/extraction.py [--rounds 3] [--no-peers] [--out bench/extraction.json]

Candidates, each on the same decompressed pages in memory, one process:
  newswatch-undated  extract_article(job) with no feed entry: the sitemap/index-page case, where the
                     body-date search runs when the page's head has no date
  newswatch-dated    the same page as a feed item with a date (no body-date search)
  trafilatura        bare trafilatura.extract(html, include_comments=False) (the baseline: 1.0 x)
  readability-lxml   Document(html).summary(), as text with a line per block
  newspaper4k        Article(url, fetch_images=False), download(input_html=html), parse(); in
                     bench/.peers-venv (its dependencies clash with ours), skipped with the reason
                     if it cannot be installed
F1 is the 4-shingle score of newswatch.quality. CPU is time.process_time per page; the machine is
shared, so the candidates are interleaved round by round and each ratio to trafilatura is the median
of the per-round ratios. A breakdown shows where newswatch's undated time goes, and the
extraction_method counts show which path produced each text.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "corpus"
SETS = ("extraction", "extraction-readability")
PEERS_VENV = REPO / "bench" / ".peers-venv"
DATED = datetime(2026, 1, 1, tzinfo=timezone.utc)


def load_set(name: str) -> list[dict]:
    root = CORPUS / name
    truth = json.loads((root / "ground-truth.json").read_text())
    return [{"id": k, "html": gzip.decompress((root / "html" / f"{k}.html.gz").read_bytes()), "truth": v["articleBody"],
             "url": v.get("url") or f"https://example.org/{name}/{k}", "file": str(root / "html" / f"{k}.html.gz")}
            for k, v in sorted(truth.items())]


# ---------------------------------------------------------------- candidates: page -> text
def newswatch(dated: bool):
    from newswatch.extract import ExtractFailure, ExtractJob, extract_article
    from newswatch.models import FeedEntry

    def run(page: dict) -> str:
        entry = FeedEntry(url=page["url"], published_at=DATED) if dated else None
        art = extract_article(ExtractJob(html=page["html"], fetched_url=page["url"], source="bench", entry=entry))
        page["method"] = "failed" if isinstance(art, ExtractFailure) else art.extraction_method
        return "" if isinstance(art, ExtractFailure) else art.text

    return run


def bare_trafilatura(page: dict) -> str:
    import trafilatura

    return trafilatura.extract(page["html"], include_comments=False) or ""


def readability_lxml(page: dict) -> str:
    from lxml.html import fromstring
    from readability import Document

    from newswatch.extract.ensemble import _block_text

    try:
        return _block_text(fromstring(Document(page["html"].decode("utf-8", "replace")).summary(html_partial=True)))
    except Exception:  # noqa: BLE001 - a page a peer cannot handle scores 0
        return ""


CANDIDATES = {
    "newswatch-undated": newswatch(dated=False),
    "newswatch-dated": newswatch(dated=True),
    "trafilatura": bare_trafilatura,
    "readability-lxml": readability_lxml,
}


def timed(fn, pages: list[dict]) -> tuple[float, list[str]]:
    t0 = time.process_time()
    texts = [fn(p) for p in pages]
    return (time.process_time() - t0) / len(pages), texts


# ---------------------------------------------------------------- where newswatch's time goes
def breakdown(pages: list[dict]) -> dict:
    """CPU per page of each step of the undated extract_article, run step by step."""
    from newswatch.extract import (_body_date, content_hash, decode_html, detect_language, page_metadata, parse_head,
                                   parse_page)
    from newswatch.extract import ensemble

    steps: Counter = Counter()
    triggered = 0

    def clock(name, fn, *args):
        t0 = time.process_time()
        out = fn(*args)
        steps[name] += time.process_time() - t0
        return out

    for p in pages:
        html = clock("decode", decode_html, p["html"])
        head = clock("head parse", parse_head, html)
        meta = clock("head metadata (meta, JSON-LD, htmldate fast)", page_metadata, head, p["url"]) if head is not None else None
        tree = clock("page parse (lxml)", parse_page, html)
        if tree is None:
            continue
        text = clock("trafilatura (fast mode)", ensemble._trafilatura, tree, True)
        if clock("suspicion test (<p> text)", ensemble._suspicious, text, tree):
            triggered += 1
            alt = clock("readability-lxml (suspicious pages)", ensemble._readability, tree)
            text = clock("comparison (+ jusText if disjoint)", ensemble._second_opinion, text, alt, tree).text
        if meta is not None and meta.date is None:
            clock("body date (htmldate extensive, undated pages)", _body_date, tree, p["url"])
        clock("language", detect_language, text)
        clock("content hash", content_hash, text)
    n = len(pages)
    return {"ms_per_page": {k: round(v / n * 1e3, 3) for k, v in steps.items()}, "readability_share": round(triggered / n, 3)}


# ---------------------------------------------------------------- newspaper4k (own venv)
PEER_SCRIPT = r"""
import json, sys, time, gzip
from newspaper import Article
jobs = json.load(open(sys.argv[1]))
texts, t0 = [], time.process_time()
for url, path in jobs:
    try:
        a = Article(url, fetch_images=False)  # without it parse() downloads images (no network here)
        a.download(input_html=gzip.decompress(open(path, "rb").read()).decode("utf-8", "replace"))
        a.parse()
        texts.append(a.text or "")
    except Exception:
        texts.append("")
print(json.dumps({"cpu": (time.process_time() - t0) / max(1, len(jobs)), "texts": texts}))
"""


def newspaper4k(pages: list[dict], workdir: Path) -> dict:
    py = PEERS_VENV / "bin" / "python"
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", "newspaper4k==0.9.6", "lxml_html_clean"], check=True)
        jobs = workdir / "np4k-jobs.json"
        jobs.write_text(json.dumps([(p["url"], p["file"]) for p in pages]))
        script = workdir / "np4k.py"
        script.write_text(PEER_SCRIPT)
        out = subprocess.run([str(py), str(script), str(jobs)], capture_output=True, text=True, timeout=1800, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as exc:  # noqa: BLE001 - a peer that cannot run here is reported, not fatal
        return {"skipped": f"{type(exc).__name__}: {exc}"[:300]}


# ---------------------------------------------------------------- main
def run_set(name: str, rounds: int, peers: bool, workdir: Path) -> dict:
    from newswatch.quality import score

    pages = load_set(name)
    cpu: dict[str, list[float]] = {k: [] for k in CANDIDATES}
    texts: dict[str, list[str]] = {}
    methods: Counter = Counter()
    for r in range(rounds):
        order = list(CANDIDATES)[r % len(CANDIDATES):] + list(CANDIDATES)[: r % len(CANDIDATES)]  # rotate
        for cand in order:
            secs, out = timed(CANDIDATES[cand], pages)
            cpu[cand].append(secs)
            texts[cand] = out
            if cand == "newswatch-undated" and r == 0:
                methods = Counter(p["method"] for p in pages)
    rows = {}
    for cand in CANDIDATES:
        s = score(zip(texts[cand], (p["truth"] for p in pages)))
        ratios = [a / b for a, b in zip(cpu[cand], cpu["trafilatura"])]
        rows[cand] = {"f1": round(s.f1, 4), "precision": round(s.precision, 4), "recall": round(s.recall, 4),
                      "cpu_ms_per_page": round(statistics.median(cpu[cand]) * 1e3, 2),
                      "cpu_ratio_to_trafilatura": round(statistics.median(ratios), 3),
                      "cpu_ratio_per_round": [round(x, 3) for x in ratios],
                      "empty": sum(1 for t in texts[cand] if not t.strip())}
    rows["empty_where_trafilatura_has_text"] = sum(
        1 for a, b in zip(texts["newswatch-undated"], texts["trafilatura"]) if b.strip() and not a.strip())
    if peers:
        np4k = newspaper4k(pages, workdir)
        if "texts" in np4k:
            s = score(zip(np4k["texts"], (p["truth"] for p in pages)))
            rows["newspaper4k"] = {"f1": round(s.f1, 4), "precision": round(s.precision, 4), "recall": round(s.recall, 4),
                                   "cpu_ms_per_page": round(np4k["cpu"] * 1e3, 2),
                                   "cpu_ratio_to_trafilatura": round(np4k["cpu"] / statistics.median(cpu["trafilatura"]), 3),
                                   "empty": sum(1 for t in np4k["texts"] if not t.strip()),
                                   "note": "one run, own process (not interleaved)"}
        else:
            rows["newspaper4k"] = np4k
    return {"pages": len(pages), "candidates": rows, "extraction_method": dict(methods.most_common()),
            "breakdown_undated": breakdown(pages)}


def print_table(results: dict) -> None:
    names = [*CANDIDATES, "newspaper4k"]
    print(f"\n{'candidate':<20}" + "".join(f"| {s:<34}" for s in SETS))
    print(f"{'':<20}" + "".join(f"| {'F1':>6} {'P':>6} {'R':>6} {'ms/pg':>6} {'x traf':>6} " for _ in SETS))
    for n in names:
        line = f"{n:<20}"
        for s in SETS:
            row = results["sets"][s]["candidates"].get(n, {})
            if "f1" in row:
                line += (f"| {row['f1']:>6.4f} {row['precision']:>6.3f} {row['recall']:>6.3f} "
                         f"{row['cpu_ms_per_page']:>6.1f} {row['cpu_ratio_to_trafilatura']:>6.2f} ")
            else:
                line += f"| {('skipped: ' + row.get('skipped', 'n/a'))[:34]:<34}"
        print(line)
    for s in SETS:
        r = results["sets"][s]
        print(f"\n{s}: extraction_method {r['extraction_method']}; "
              f"empty where trafilatura has text: {r['candidates']['empty_where_trafilatura_has_text']}")
        b = r["breakdown_undated"]
        print(f"  undated breakdown (ms/page; readability asked on {b['readability_share']:.0%} of pages):")
        for k, v in sorted(b["ms_per_page"].items(), key=lambda kv: -kv[1]):
            print(f"    {k:<48} {v:7.2f}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (medians are reported)")
    ap.add_argument("--no-peers", action="store_true", help="skip newspaper4k")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--out", default=str(REPO / "bench" / "extraction.json"))
    args = ap.parse_args(argv)
    from newswatch.extract import warm_up

    warm_up()
    workdir = REPO / "bench" / "out"
    workdir.mkdir(parents=True, exist_ok=True)
    results = {"taken_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rounds": args.rounds,
               "sets": {s: run_set(s, args.rounds, not args.no_peers, workdir) for s in args.sets.split(",")}}
    if set(results["sets"]) == set(SETS):
        print_table(results)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
