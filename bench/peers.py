"""Peers on the same pages, run inside bench/.peers-venv (their dependencies clash with ours):
newspaper4k (download + parse) and news-please (download + from_html), 2 processes each, like
newswatch's two extraction workers. Prints one JSON line: pages/s per peer.

    bench/.peers-venv/bin/python bench/peers.py URLS.txt
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor

WORKERS = 2


def _download(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 - 127.0.0.1 only
        return r.read().decode("utf-8", "replace")


def newspaper_page(url: str) -> int:
    from newspaper import Article

    try:
        art = Article(url, fetch_images=False)  # without it parse() downloads images (no network here)
        art.download()
        art.parse()
    except Exception:  # noqa: BLE001 - e.g. Korean pages need nltk data, which would be downloaded
        return -1
    return len(art.text or "")


def newsplease_page(url: str) -> int:
    from newsplease import NewsPlease

    try:
        html = _download(url)
        # fetch_images=False: otherwise it fetches images to size them, which hangs without a network
        art = NewsPlease.from_html(html, url=url, fetch_images=False)
    except Exception:  # noqa: BLE001 - a page a peer cannot handle is counted, not fatal
        return -1
    return len(getattr(art, "maintext", None) or "")


def measure(fn, urls: list[str]) -> dict:
    with ProcessPoolExecutor(WORKERS) as pool:
        list(pool.map(fn, urls[:WORKERS * 2]))  # warm-up: imports in each worker
        t0 = time.perf_counter()
        chars = list(pool.map(fn, urls, chunksize=4))
        secs = time.perf_counter() - t0
    return {"pages_per_s": round(len(urls) / secs, 1), "seconds": round(secs, 2), "pages": len(urls),
            "empty": sum(1 for c in chars if c == 0), "failed": sum(1 for c in chars if c < 0)}


def main() -> None:
    urls = [u for u in open(sys.argv[1]).read().split() if u]
    out = {}
    for name, fn in (("newspaper4k", newspaper_page), ("news-please", newsplease_page)):
        try:
            out[name] = measure(fn, urls)
        except Exception as exc:  # noqa: BLE001 - a peer that cannot run here is reported, not fatal
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
