"""Issue 15's hostile scenario, measured: wall time and peak RSS of one real ingest.

    .venv/bin/python bench/hostile.py [--settings default|test]

One healthy feed (4 articles) and the hostile sources of tests/faults.py HostileScenario, each on
a server of its own on 127.0.0.1: trickled bodies, 40 links whose server trickles its headers,
50 MB bodies, gzip bombs (one layer and stacked), entity bombs, 429 and 500, a PDF, garbage bytes, a
100,000-entry feed, a redirect loop, a self-listing sitemap index, a redirect to a private address
and redirects to malformed URLs. `python flows/ingest.py` runs once against them, with the
shipped default settings (total_timeout_s 60, retries 2, run_deadline_s 900) or the test-sized
ones of tests/test_hostile.py. Prints the figures and writes bench/hostile.json: wall time, peak
RSS of the largest process, healthy articles stored, the run's status and each hostile source's
recorded failure (error_kind and reason of its first fetch row, and of its articles).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from conftest import write_config  # noqa: E402
import faults  # noqa: E402
from faults import HEALTHY, HOSTILE_SOURCES, HostileScenario, run_measured  # noqa: E402

RUN_TIMEOUT_S = 600
# trickling and stalling routes hold their connection this long (tests: 30 s, past their 2 s
# timeouts); here past the default total_timeout_s (60 s), so they stall until the client gives up
# instead of closing first (a close after 30 s of trickle is a network error, retried)
HANG_S = 180.0


def rows(db: Path, sql: str, params=()):
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def measure(settings: str) -> dict:
    faults.HANG_S = HANG_S
    if settings == "test":
        from test_hostile import SETTINGS as settings_yaml
    else:
        settings_yaml = "lock_wait_s: 5\n"  # everything else as shipped (newswatch/config/settings.py)
    with HostileScenario() as sc, tempfile.TemporaryDirectory(prefix="nw-hostile-") as tmp:
        cfg = write_config(Path(tmp) / "cfg", sc.sources_yaml(), settings_yaml,
                           topics_yaml=(REPO / "config" / "topics.yaml").read_text(encoding="utf-8"))
        db = Path(tmp) / "news.duckdb"
        t0 = time.monotonic()
        result = run_measured([sys.executable, str(REPO / "flows" / "ingest.py"), "--config-dir", str(cfg),
                               "--db", str(db)], RUN_TIMEOUT_S)
        wall = time.monotonic() - t0
        healthy = rows(db, "select count(*) from articles where source = ?", [HEALTHY[0]])[0][0]
        status = [s for s, in rows(db, "select status from runs")]
        first: dict[str, tuple] = {}
        for source, kind, err in rows(db, "select source, error_kind, error from fetches where purpose in "
                                      "('feed', 'sitemap', 'index') order by started_at"):
            first.setdefault(source, (kind, err))
        articles = {}
        for source, kind, n, example in rows(db, "select source, error_kind, count(*), any_value(error) from fetches "
                                             "where purpose = 'article' group by all order by all"):
            articles.setdefault(source, []).append({"error_kind": kind, "count": n, "example": example})
        stored = dict(rows(db, "select source, count(*) from articles group by all"))
        canaries = sc.canary_hits()
        run_stats = rows(db, "select stats, error from runs")
        # where the wall time went: the run itself (start_run .. finish_run) and when the healthy
        # articles were stored, against the process's whole life (Prefect's start-up and exit)
        run_s, healthy_after_s = rows(db, "select epoch(max(r.finished_at) - max(r.started_at)), "
                                      "epoch(max(a.fetched_at) - max(r.started_at)) from runs r, articles a "
                                      "where a.source = ?", [HEALTHY[0]])[0]
        slowest = rows(db, "select source, url, round(elapsed_ms), error_kind from fetches "
                       "order by elapsed_ms desc limit 3")
    return {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "rc": result["rc"],
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(result["maxrss_kb"] / 1024),
        "healthy_articles_stored": healthy,
        "run_status": status,
        "run_stats": run_stats[0][0] if run_stats else None,
        "run_s": round(run_s, 1) if run_s is not None else None,
        "healthy_stored_after_s": round(healthy_after_s, 1) if healthy_after_s is not None else None,
        "startup_and_exit_s": round(wall - run_s, 1) if run_s is not None else None,
        "slowest_fetches": slowest,
        "requests_to_private_targets": len(canaries),
        "sources": {name: {"poll_error_kind": first.get(name, (None, None))[0],
                           "poll_error": (first.get(name, (None, None))[1] or "")[:200],
                           "articles_stored": stored.get(name, 0),
                           "article_fetches": articles.get(name, [])}
                    for name in HOSTILE_SOURCES},
        "stderr_tail": result["err"][-1500:] if result["rc"] else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", choices=("default", "test"), default="default")
    args = parser.parse_args()
    out = measure(args.settings)
    print(f"hostile scenario ({out['settings']} settings): exit {out['rc']}, wall {out['wall_s']} s, "
          f"peak RSS {out['peak_rss_mib']} MiB, healthy articles stored {out['healthy_articles_stored']}/4, "
          f"run status {out['run_status']}, requests to private targets {out['requests_to_private_targets']}")
    print(f"  the run itself {out['run_s']} s (healthy articles fetched {out['healthy_stored_after_s']} s into it); "
          f"process start-up and exit {out['startup_and_exit_s']} s; slowest fetches {out['slowest_fetches']}")
    for name, src in out["sources"].items():
        arts = ", ".join(f"{a['count']} {a['error_kind'] or 'ok'}" for a in src["article_fetches"])
        print(f"  {name:14} poll: {src['poll_error_kind'] or 'ok':16} {src['poll_error'][:90]}"
              + (f" | articles: {arts}" if arts else "") + (f" | stored {src['articles_stored']}"
                                                          if src["articles_stored"] else ""))
    path = REPO / "bench" / "hostile.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    previous[out["settings"]] = out
    path.write_text(json.dumps(previous, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"written to {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
