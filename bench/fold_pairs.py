"""Fold precision and recall on a labelled set of article pairs (newswatch.digest.fold.same_story).

    python bench/fold_pairs.py [--out bench/results-fold.json]

The pairs come from ../shared (skipped when it is absent):
- the development set (eval/classify-dev.jsonl, 72 real pages): every pair of its pages. Same story
  (hand-labelled, SAME_STORY below): one news item reported by two sources or in two languages.
  Everything else is a different story, among them the hard ones: same company, different news
  (Takeda x 12 pages, Astellas x 7), and different stories on one site's template (the China Daily
  pages dev-008 / dev-051 / dev-062, with the spam line that made a detector say `wuu`).
- the extraction corpus (corpus/extraction, 181 real article pages on 126 hosts): every pair of
  different articles is a different story (same-host pairs counted apart), except seven news items
  several of its sites reported (CORPUS_SAME, hand-labelled: 18 same-story pairs); each article's
  trafilatura extraction and its ground-truth body, titled "<title>" and "<title> | Syndicated",
  are the same story (one article as two extractions / a syndicated copy).
- one site's furniture around different stories: the China Daily template (header, share buttons,
  copyright footer) wrapped around each dev-set japan-china article; every pair is a different story.

All items are dated the same day: time cannot help, so the figures measure the text rules alone
(in a digest, reports more than STORY_WINDOW_DAYS apart are further kept apart by time).
Precision comes first: a wrong fold hides news.
"""

from __future__ import annotations

import argparse
import gzip
import html
import itertools
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from newswatch.digest.fold import fingerprints, same_story  # noqa: E402
from newswatch.digest.model import DigestItem  # noqa: E402

SHARED = REPO.parent / "shared"
DEV_SET = SHARED / "eval" / "classify-dev.jsonl"
CORPUS = SHARED / "corpus" / "extraction"
DAY = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

# Hand-labelled: pages of the development set that report the same news item.
SAME_STORY = {
    ("dev-020", "dev-040"): "Takeda invests EUR 300m in its Lessines (BE) plant: Belga vs a blog copy of Endpoints",
    ("dev-061", "dev-066"): "Takeda's Shanghai development centre, Feb 2012: news item vs the press release (one site)",
    ("dev-005", "dev-068"): "Netherlands restricts ASML exports to China, 8-9 Mar 2023: NL Times vs The Verge",
    ("dev-038", "dev-047"): "Rutte and Kamp visit Japan with 120 companies: De Telegraaf (nl) vs government.nl (en)",
}
# Left out: related but arguably different news (announcement vs completion a month later).
AMBIGUOUS = {("dev-069", "dev-070")}
# Hand-labelled: the extraction corpus holds a few news items reported by several of its sites.
CORPUS_SAME = {
    "WeWork under investigation by the New York attorney general": ("c-06e5123e4e", "c-1ace8c85aa"),
    "NASA confirms water plumes on Europa": ("c-14cc2a0ca5", "c-686bb170ef"),
    "South Dakota governor defends the 'Meth. We're on it' campaign": ("c-156770d676", "c-3f65af7b6b",
                                                                       "c-776a1c0467"),
    "New York man pleads guilty to threatening Rep. Ilhan Omar": ("c-6ebac05f63", "c-7a457a4f71"),
    "Doobie Brothers tour with Michael McDonald in 2020": ("c-35b158918c", "c-ac1bfdd4c5", "c-9cb8224b66"),
    "A man's new duvet caused 'feather duvet lung'": ("c-7bb1ca9035", "c-a078b3656a", "c-bd673bd798",
                                                      "c-9eef8162bb"),
    "Sweden drops the Assange rape investigation": ("c-c7e39ac49f", "c-dc7ccccc1f"),
}
# Left out: the same controversy from another angle (Spokane ad agencies on the Meth campaign).
CORPUS_AMBIGUOUS = {"c-c13b9c0e04": "c-156770d676 c-3f65af7b6b c-776a1c0467"}
WRAP_TOPIC = "japan-china"


def item(aid: str, url: str, title: str, text: str, lang: str | None, source: str | None = None) -> DigestItem:
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return DigestItem(aid, url, source or host, title, "t", 0.5, published_at=DAY, lang=lang, text_sample=text)


def dev_items() -> list[DigestItem]:
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [item(r["id"], r["url"], r["title"], r["text"], r["lang"]) for r in rows], rows


def corpus_items() -> list[tuple[DigestItem, DigestItem]]:
    """(trafilatura extraction, ground-truth body as a syndicated copy) per corpus article."""
    truth = json.loads((CORPUS / "ground-truth.json").read_text(encoding="utf-8"))
    traf = json.loads((CORPUS / "output" / "trafilatura.json").read_text(encoding="utf-8"))["output"]
    out = []
    for aid, t in sorted(truth.items()):
        page = gzip.open(CORPUS / "html" / f"{aid}.html.gz", "rt", encoding="utf-8", errors="replace").read()
        m = re.search(r"<title[^>]*>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
        title = " ".join(html.unescape(m.group(1)).split()) if m else ""
        extracted = (traf.get(aid) or {}).get("articleBody") or ""
        if not title or not extracted:
            continue
        a = item(f"c-{aid[:10]}", t["url"], title, extracted, None)
        b = item(f"s-{aid[:10]}", "https://syndicated.example/" + aid[:10], f"{title} | Syndicated",
                 t["articleBody"], None, source="syndicated.example")
        out.append((a, b))
    return out


def wrapped(rows: list[dict]) -> list[DigestItem]:
    """Each japan-china dev article inside the China Daily template of dev-008 (one site)."""
    template = next(r for r in rows if r["id"] == "dev-008")["text"]
    head = template.split("Takeda Pharma doubles down on China play")[0]
    footer = ("Copyright 1995 - 2026. All rights reserved. The content (including but not limited to text, photo, "
              "multimedia information, etc) published in this site belongs to China Daily Information Co (CDIC). "
              "Without written authorization from CDIC, such content shall not be republished or used in any form.")
    out = []
    for r in rows:
        if r["labels"] == [WRAP_TOPIC] and r["id"] != "dev-008":
            text = f"{head}{r['title']}\n\nBy STAFF | China Daily | Updated: 2026-11-20\nShare\nShare - WeChat\n" \
                   f"{r['text']}\n\n{footer}"
            out.append(item(f"w-{r['id']}", f"https://www.chinadaily.com.cn/a/{r['id']}.html", r["title"], text,
                            r["lang"], source="chinadaily.com.cn"))
    return out


def judge(pool: list[DigestItem], pairs: list[tuple[str, str, bool, str]]) -> list[dict]:
    """Fingerprints over the whole pool (furniture is estimated per source, as a digest run does)."""
    fps = {fp.item.article_id: fp for fp in fingerprints(pool)}
    out = []
    for a, b, same, kind in pairs:
        how = same_story(fps[a], fps[b])
        out.append({"a": a, "b": b, "same": same, "folded": how is not None, "how": how, "kind": kind})
    return out


def build() -> list[dict]:
    devs, rows = dev_items()
    by_id = {i.article_id: i for i in devs}
    pairs = []
    for a, b in itertools.combinations(sorted(by_id), 2):
        if (a, b) in AMBIGUOUS:
            continue
        same = (a, b) in SAME_STORY
        ia, ib = by_id[a], by_id[b]
        if same:
            kind = "dev: same story" + (" (two languages)" if ia.lang != ib.lang else "")
        elif ia.source == ib.source or {a, b} <= {"dev-008", "dev-051", "dev-062"}:
            kind = "dev: different stories, one site or template"
        else:
            companies = ("takeda", "astellas", "shionogi", "eisai", "daiichi", "asml")
            shared = [c for c in companies if c in ia.title.casefold() + ia.text_sample[:600].casefold()
                      and c in ib.title.casefold() + ib.text_sample[:600].casefold()]
            kind = "dev: same company, different news" if shared else "dev: different stories"
        pairs.append((a, b, same, kind))
    results = judge(devs, pairs)

    corpus = corpus_items()
    pool = [x for pair in corpus for x in pair]
    cpairs = [(a.article_id, b.article_id, True, "corpus: one article, two extractions / syndicated copy")
              for a, b in corpus]
    originals = [a for a, _ in corpus]
    cluster = {aid: name for name, ids in CORPUS_SAME.items() for aid in ids}
    for x, y in itertools.combinations(originals, 2):
        a, b = x.article_id, y.article_id
        if b in CORPUS_AMBIGUOUS.get(a, "") or a in CORPUS_AMBIGUOUS.get(b, ""):
            continue
        if a in cluster and cluster.get(b) == cluster[a]:
            cpairs.append((a, b, True, "corpus: same story, two sites"))
            continue
        kind = "corpus: different stories, one site" if x.source == y.source else "corpus: different stories"
        cpairs.append((a, b, False, kind))
    results += judge(pool, cpairs)

    wraps = wrapped(rows)
    results += judge(wraps, [(x.article_id, y.article_id, False, "template: different stories, one site's furniture")
                             for x, y in itertools.combinations(wraps, 2)])
    return results


def summarize(results: list[dict]) -> dict:
    tp = sum(r["same"] and r["folded"] for r in results)
    fp = sum(not r["same"] and r["folded"] for r in results)
    fn = sum(r["same"] and not r["folded"] for r in results)
    kinds = {}
    for r in results:
        k = kinds.setdefault(r["kind"], {"pairs": 0, "folded": 0})
        k["pairs"] += 1
        k["folded"] += r["folded"]
    return {
        "pairs": len(results),
        "same_story_pairs": tp + fn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "true_folds": tp, "wrong_folds": fp, "missed_folds": fn,
        "by_kind": dict(sorted(kinds.items())),
        "wrong": [r for r in results if r["folded"] and not r["same"]],
        "missed": [r for r in results if r["same"] and not r["folded"]],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results-fold.json")
    args = parser.parse_args()
    if not DEV_SET.exists() or not CORPUS.exists():
        print(f"skipped: {SHARED} is absent")
        return 0
    summary = summarize(build())
    print(f"pairs {summary['pairs']} (same story {summary['same_story_pairs']}): precision {summary['precision']}, "
          f"recall {summary['recall']} (wrong folds {summary['wrong_folds']}, missed {summary['missed_folds']})")
    print("| kind | pairs | folded |\n|---|---:|---:|")
    for kind, k in summary["by_kind"].items():
        print(f"| {kind} | {k['pairs']} | {k['folded']} |")
    for r in summary["wrong"] + summary["missed"]:
        print(("WRONG " if r in summary["wrong"] else "MISSED ") + f"{r['a']} {r['b']} ({r['kind']}, how={r['how']})")
    args.out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
