"""Serve the benchmark site on 127.0.0.1 until killed (for profiling ingest by hand).

    python bench/serve.py [PAGES] [CONFIG_DIR]  -> writes CONFIG_DIR/sources.yaml for all bench feeds
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import FEEDS, bench_site, write_config  # noqa: E402
from servers import CorpusServer  # noqa: E402

if __name__ == "__main__":
    pages = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    cfg = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp/nwbench-cfg")
    with CorpusServer(bench_site(pages)) as srv:
        write_config(cfg, srv.base, [f"bench-{f}.rss" for f in range(FEEDS)])
        print(srv.base, cfg, flush=True)
        while True:
            time.sleep(3600)
