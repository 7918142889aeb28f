"""The no-change tick, in one process so Prefect's one-off start-up is excluded from both sides:
median wall time of an empty async flow run vs an ingest run where every source answers 304.

    python bench/tick.py CONFIG_DIR DB   -> prints one JSON line
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flows  # noqa: E402,F401
from prefect import flow  # noqa: E402

from flows.ingest import ingest_flow  # noqa: E402

REPEATS = 5


@flow(name="empty")
async def empty_flow() -> None:
    return None


def timed(fn) -> float:
    t0 = time.perf_counter()
    asyncio.run(fn())
    return time.perf_counter() - t0


def main() -> None:
    cfg, db = sys.argv[1], sys.argv[2]
    timed(empty_flow)  # Prefect's start-up: ephemeral API, database, first flow
    empty = statistics.median(timed(empty_flow) for _ in range(REPEATS))
    summary = asyncio.run(ingest_flow(cfg, db))  # prime: every feed fetched, validators stored
    primed = sum(1 for s in summary.sources if not s.error)
    ticks = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        s = asyncio.run(ingest_flow(cfg, db))
        ticks.append(time.perf_counter() - t0)
        assert all(x.not_modified for x in s.sources), "every source should answer 304"
    print(json.dumps({"sources": len(summary.sources), "primed_ok": primed, "empty_flow_s": round(empty, 3),
                      "tick_s": round(statistics.median(ticks), 3), "tick_runs_s": [round(t, 3) for t in ticks]}))


if __name__ == "__main__":
    main()
