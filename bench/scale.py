"""DuckDB at scale: synthetic articles (10k, 100k, 1M) with URLs and topic scores; times the
already-seen check for a batch of 1,000 URLs and a subscriber's digest selection; file size."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newswatch.store import connect  # noqa: E402
from newswatch.store.digests import select_pending  # noqa: E402
from newswatch.store.ingest import known_url_ids  # noqa: E402
from newswatch.urls import url_id  # noqa: E402

REPEATS = 5
TOPICS = ("japan-benelux", "japan-china", "uk-japan-biotech")


def populate(conn, n: int) -> None:
    """n articles over the last 60 days, 3 topic rows each (about 2 % matching), one URL each."""
    conn.execute("begin")
    conn.execute(f"""
        insert into articles (article_id, url, fetched_url, source, title, published_at, fetched_at, lang, text,
                              content_hash, extraction_method, word_count, run_id)
        select left(sha256('u' || i::varchar), 32), 'https://news' || (i % 97) || '.example/a/' || i,
               'https://news' || (i % 97) || '.example/a/' || i, 'source-' || (i % 97), 'Title ' || i,
               now() - to_seconds((i * 5184000 // {n})::bigint), now(), 'en',
               repeat('Lorem ipsum dolor sit amet. ', 20), md5(i::varchar), 'trafilatura', 100, 'bench'
        from range({n}) t(i)""")
    conn.execute("insert into article_urls select article_id, url, article_id from articles")
    conn.execute(f"""
        insert into article_topics (article_id, topic, score, is_match, terms, evidence, details, classifier_version)
        select a.article_id, t.topic, (hash(a.article_id || t.topic) % 1000) / 1000.0,
               (hash(a.article_id || t.topic) % 1000) >= 980, '["Japan"]', '["A sentence."]', '{{}}', 'bench'
        from articles a cross join (select unnest({list(TOPICS)}) as topic) t""")
    conn.execute("commit")
    conn.execute("checkpoint")


def median_ms(fn) -> float:
    fn()  # warm
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def measure_scale(sizes: list[int]) -> dict:
    out = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="nwscale-") as tmp:
            db = Path(tmp) / "scale.duckdb"
            conn = connect(db)
            t0 = time.perf_counter()
            populate(conn, n)
            load_s = time.perf_counter() - t0
            # half the batch is known, half new: what an ingest run asks
            urls = [f"https://news{i % 97}.example/a/{i}" for i in range(0, n, max(1, n // 500))][:500]
            urls += [f"https://new.example/x/{i}" for i in range(1000 - len(urls))]
            ids = [url_id(u) for u in urls]
            seen = median_ms(lambda: known_url_ids(conn, ids))
            since = datetime.now(timezone.utc) - timedelta(days=7)
            digest = median_ms(lambda: select_pending(conn, "analyst", TOPICS, False, 0.5, since))
            conn.close()
            out[str(n)] = {"seen_check_ms": seen, "digest_query_ms": digest, "load_s": round(load_s, 1),
                           "file_mib": round(db.stat().st_size / 2**20, 1)}
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(measure_scale([int(x) for x in (sys.argv[1:] or ["10000", "100000"])]), indent=2))
