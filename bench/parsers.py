"""Parser figures for issue 15: sitemap time/memory at 50,000 URLs, feed caps, entity bombs, dates.

Each measurement runs in a fresh subprocess (peak RSS is per process), against the working tree
and, with `--old REV`, against the parsers of an older commit checked out with `git archive`.
Prints a table and writes bench/parsers.json. Usage: .venv/bin/python bench/parsers.py [--old REV]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "parsers.json"

# One child process per case: reads its input file, parses it, reports CPU seconds and peak RSS
# (the input is built here, in the parent, so the child's peak is the parser's, not the builder's).
CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
case = sys.argv[2]
body = open(sys.argv[4], "rb").read() if len(sys.argv) > 4 else b""

if case != "dates":
    from newswatch.sources import parse_feed, parse_sitemap
    parse = parse_sitemap if case == "sitemap50k" else parse_feed
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.process_time()
    parsed = parse(body, "https://www.example.org/source.xml")
    out = dict(input_mb=round(len(body) / 1e6, 1), entries=len(parsed.entries), error=(parsed.error or "")[:100])
elif case == "dates":
    import ast
    from datetime import UTC, datetime
    source = open(sys.argv[3] + "/test_dates.py").read()
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.Assign) and n.targets[0].id == "CASES")
    utc = lambda *parts: datetime(*parts, tzinfo=UTC)
    CASES = eval(compile(ast.Expression(node.value), "test_dates.py", "eval"), {"utc": utc, "datetime": datetime, "UTC": UTC})
    from newswatch.sources.dates import parse_date
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.process_time()
    right = sum(parse_date(text) == expected for text, expected in CASES)
    out = dict(cases=len(CASES), right=right, accuracy=round(right / len(CASES), 3))
out["cpu_s"] = round(time.process_time() - t, 2)
out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
out["rss_before_parse_mib"] = round(base / 1024, 1)
out["parse_growth_mib"] = round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024, 1)
print(json.dumps(out))
"""
CASES = ("dates", "sitemap50k", "selfclosing", "quadratic")


def sitemap(n: int) -> bytes:
    """A Google News sitemap of `n` URLs, ~910 bytes each (news block, three images)."""
    imgs = "".join(f"<image:image><image:loc>https://img.example.org/{{i}}/{k}.jpg</image:loc>"
                   f"<image:caption>A caption long enough to look like a real one, number {k}</image:caption></image:image>"
                   for k in range(3))
    row = ("<url><loc>https://www.example.org/news/2026/11/{i}/a-fairly-long-article-slug-{i}</loc>"
           "<lastmod>2026-11-30T10:{m:02d}:00+01:00</lastmod><news:news><news:publication><news:name>Example"
           "</news:name><news:language>en</news:language></news:publication><news:publication_date>"
           "2026-11-30T10:{m:02d}:00+01:00</news:publication_date><news:title>Headline number {i} about "
           "something</news:title></news:news>" + imgs + "</url>\n")
    body = "".join(row.format(i=i, m=i % 60) for i in range(n))
    return ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9" '
            'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">' + body + "</urlset>").encode()

def rss(items: str, prolog: str = "") -> bytes:
    return (f'<?xml version="1.0"?>{prolog}<rss version="2.0"><channel><title>t</title>'
            f'<link>https://example.org/</link>{items}</channel></rss>').encode()


def quadratic() -> bytes:
    """8 MB of references to one 200 kB entity: 312 GB if expanded."""
    refs = "&big;" * 1_560_000
    return rss(f"<item><title>t</title><link>https://example.org/a</link><description>{refs}</description></item>",
               f'<!DOCTYPE rss [<!ENTITY big "{"x" * 200_000}">]>')


INPUTS = {"sitemap50k": lambda: sitemap(50_000), "selfclosing": lambda: rss("<item/>" * 1_400_000),
          "quadratic": quadratic}


def write_inputs(into: Path) -> None:
    for case, build in INPUTS.items():
        (into / f"{case}.xml").write_bytes(build())


def measure(tree: Path, case: str, inputs: dict[str, Path]) -> dict:
    extra = [str(inputs[case])] if case in inputs else []
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tree), case, str(ROOT / "tests"), *extra],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        return {"failed": proc.stderr.strip().splitlines()[-1][:200] if proc.stderr else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def old_tree(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "newswatch"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", help="a commit whose parsers to measure too, e.g. the one before issue 15")
    ap.add_argument("--write-inputs", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write_inputs:  # in its own process: Linux children inherit the parent's peak RSS
        write_inputs(args.write_inputs)
        return
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, "--write-inputs", tmp], check=True)
        inputs = {case: Path(tmp) / f"{case}.xml" for case in INPUTS}
        trees = {"now": ROOT}
        if args.old:
            (Path(tmp) / "old").mkdir()
            trees[f"old ({args.old})"] = old_tree(args.old, Path(tmp) / "old")
        for label, tree in trees.items():
            results[label] = {case: measure(tree, case, inputs) for case in CASES}
    for label, cases in results.items():
        print(f"== {label}")
        for case, figures in cases.items():
            print(f"  {case:12} " + "  ".join(f"{k}={v}" for k, v in figures.items()))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
