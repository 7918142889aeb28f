"""The benchmark harness itself (cheap parts): distinct pages behind feeds, the limit, the scale
measurements. Figures are not asserted here: speed is measured by bench/run.py, not by tests."""

from __future__ import annotations

import sys
from pathlib import Path

import feedparser

from conftest import require_corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import run as bench_run  # noqa: E402
import scale as bench_scale  # noqa: E402


def test_bench_site_repeats_pages_with_distinct_bytes_behind_feeds():
    require_corpus()
    site = bench_run.bench_site(400, ticks=3)("http://127.0.0.1:9")
    assert len(site.pages) == 400
    assert len({body for body in site.pages.values()}) == 400  # no two copies share their bytes
    linked = [e.link for f in range(bench_run.FEEDS) for e in feedparser.parse(site.feeds[f"bench-{f}.rss"]).entries]
    assert sorted(linked) == sorted(f"http://127.0.0.1:9/articles/{i}.html" for i in site.pages)
    assert all(f"tick-{t}.rss" in site.feeds for t in range(3))


def test_limit_measurement_extracts_every_page():
    require_corpus()
    pages = list(bench_run.load_pages().values())[:6]
    out = bench_run.measure_limit(pages, workers=2)
    assert out["pages"] == 6 and out["chars"] > 1000 and out["pages_per_s"] > 0


def test_own_extraction_limit_runs_extract_article_and_counts_worker_cpu():
    require_corpus()
    pages = [(html, f"http://127.0.0.1:9/articles/{k}.html") for k, html in list(bench_run.load_pages().items())[:6]]
    ours = bench_run.measure_limit(pages, workers=2, fn=bench_run._extract_ours, warm=bench_run._warm_ours)
    bare = bench_run.measure_limit([html for html, _ in pages], workers=2)
    assert ours["pages"] == 6 and ours["chars"] > 1000 and ours["cpu_ms_per_page"] > 0
    assert abs(ours["chars"] - bare["chars"]) < bare["chars"]  # the same pages' text, give or take


def test_scale_measurement_reports_each_size():
    out = bench_scale.measure_scale([2000])
    assert set(out["2000"]) == {"seen_check_ms", "digest_query_ms", "load_s", "file_mib"}
    assert out["2000"]["file_mib"] > 0
