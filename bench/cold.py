"""Cold starts, as cron and a shell pay them: every figure is a fresh process.

    python bench/cold.py [--sources 200] [--repeat 3] [--out bench/cold.json]

1. the no-change tick: `newswatch ingest` over N sources spread over 4 loopback hosts
   (127.0.0.1-4) that all answer 304 after a priming run; wall time and CPU (the process and all
   its children: worker processes, Prefect's server when one is started);
2. a cold empty Prefect flow run (`python -c` with one empty @flow), the floor of any command that
   runs a flow through Prefect's temporary API server;
3. each other command's cold start: --help, status, query, search, digest --preview.

Servers run in this process (their CPU is not counted); medians of --repeat runs. Prints a table
and writes JSON. Talks to 127.0.0.1-127.0.0.4 only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
ETAG = '"v1"'
PAGE = ("<html><head><title>Port news {n}</title></head><body><article><h1>Port news {n}</h1>"
        + "<p>The port authority reported steady container volumes this week, with shipping lines "
          "adding capacity on Asian routes and rail links carrying more freight inland.</p>" * 6
        + "</article></body></html>")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        host, port = self.server.server_address[:2]
        if self.path.startswith("/feed-"):
            if self.headers.get("If-None-Match") == ETAG:
                self.send_response(304)
                self.send_header("ETag", ETAG)
                self.end_headers()
                return
            n = self.path.split("-")[1].split(".")[0]
            body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>f{n}</title><link>http://{host}/</link>'
                    f"<item><title>Port news {n}</title><link>http://{host}:{port}/a/{n}.html</link>"
                    "<pubDate>Mon, 30 Nov 2026 09:00:00 +0000</pubDate></item></channel></rss>").encode()
            ctype = "application/rss+xml"
        elif self.path.startswith("/a/"):
            body, ctype = PAGE.format(n=self.path).encode(), "text/html; charset=utf-8"
        elif self.path == "/robots.txt":
            body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", ETAG)
        self.end_headers()
        self.wfile.write(body)


def start_servers() -> list[ThreadingHTTPServer]:
    servers = []
    for host in HOSTS:
        srv = ThreadingHTTPServer((host, 0), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    return servers


def write_config(directory: Path, servers, n_sources: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["sources:"]
    for i in range(n_sources):
        host, port = servers[i % len(servers)].server_address[:2]
        lines.append(f"  - {{name: s{i}, kind: rss, url: 'http://{host}:{port}/feed-{i}.rss', "
                     "allow_private_addresses: true}")
    (directory / "sources.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (directory / "settings.yaml").write_text("connect_timeout_s: 5\nread_timeout_s: 5\ntotal_timeout_s: 20\n",
                                             encoding="utf-8")
    (directory / "topics.yaml").write_text((REPO / "config" / "topics.yaml").read_text(encoding="utf-8"),
                                           encoding="utf-8")
    (directory / "alerts.yaml").write_text(
        "subscribers:\n  - {name: desk, url_env: NW_BENCH_UNSET, topics: ['*'], cadence: instant}\n", encoding="utf-8")
    return directory


def timed(cmd: list[str], env: dict, cwd: Path) -> dict:
    """Wall and CPU seconds (user+sys of the process and every child it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}


def median_of(runs: list[dict]) -> dict:
    return {"wall_s": round(statistics.median(r["wall_s"] for r in runs), 3),
            "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
            "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs]}


EMPTY_FLOW = """
import flows
from prefect import flow
@flow(name="empty")
def empty():
    return None
empty()
"""


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "cold.json")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="nw-cold-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "PREFECT_API_URL"))}
    env.update(PREFECT_HOME=str(work / "prefect"), PYTHONPATH=str(REPO),
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120")
    servers = start_servers()
    cfg = write_config(work / "cfg", servers, args.sources)
    db = work / "news.duckdb"
    nw = [str(BIN / "newswatch")]
    results: dict = {"sources": args.sources, "hosts": len(HOSTS), "repeat": args.repeat}

    prime = timed([*nw, "ingest", "--config-dir", str(cfg), "--db", str(db)], env, work)
    results["prime_run"] = {k: round(v, 3) for k, v in prime.items()}
    results["tick"] = median_of([timed([*nw, "ingest", "--config-dir", str(cfg), "--db", str(db)], env, work)
                                 for _ in range(args.repeat)])
    results["empty_prefect_flow"] = median_of([timed([sys.executable, "-c", EMPTY_FLOW], env, REPO)
                                               for _ in range(args.repeat)])
    preview = work / "preview.html"
    commands = {
        "--help": ["--help"],
        "status": ["status", "--config-dir", str(cfg), "--db", str(db)],
        "query": ["query", "select count(*) from articles", "--db", str(db)],
        "search": ["search", "port", "--db", str(db)],
        "digest --preview": ["digest", "--preview", str(preview), "--config-dir", str(cfg), "--db", str(db)],
    }
    results["commands"] = {name: median_of([timed([*nw, *a], env, work) for _ in range(args.repeat)])
                           for name, a in commands.items()}
    for srv in servers:
        srv.shutdown()
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_table(results)
    return results


def print_table(r: dict) -> None:
    rows = [(f"cold no-change tick, {r['sources']} sources on {r['hosts']} hosts (304)", r["tick"]),
            ("cold empty Prefect flow run", r["empty_prefect_flow"])]
    rows += [(f"cold `newswatch {name}`", v) for name, v in r["commands"].items()]
    width = max(len(name) for name, _ in rows)
    print(f"{'':{width}}  {'wall s':>8}  {'CPU s':>8}")
    for name, v in rows:
        print(f"{name:{width}}  {v['wall_s']:8.2f}  {v['cpu_s']:8.2f}")


if __name__ == "__main__":
    main()
