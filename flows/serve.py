"""Serve both flows on their schedules from one process: `newswatch serve` / `python flows/serve.py`.

The schedules here are the ones `prefect.yaml` declares for `prefect deploy --all` (a test holds
them equal). Prefect's ephemeral API has no scheduler ("Cannot schedule flows on an ephemeral
server"), so unless PREFECT_API_URL names a server this starts Prefect's own server as a child
process on 127.0.0.1 (SQLite under PREFECT_HOME; nothing extra to install), points the runner at
it, and stops it on exit. The runner executes one flow run at a time (`limit=1`), so ingest and
digest never write to the DuckDB file at once; each deployment also has a concurrency limit of 1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # `python flows/serve.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flows  # noqa: F401,E402 - sets Prefect's environment; prefect itself is imported later

SCHEDULE_TZ = "Asia/Tokyo"
SERVER_START_TIMEOUT_S = 90.0  # measured ~9 s on a fresh Prefect database, ~3 s after
DEFAULT_PORT = 4200  # Prefect's usual port: the UI is then at http://127.0.0.1:4200


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str
    slug: str


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment as `prefect.yaml` declares it."""

    name: str
    entrypoint: str  # module path, importable wherever the package is installed
    schedules: tuple[Schedule, ...]
    parameters: dict = field(default_factory=dict)
    collision_strategy: str = "ENQUEUE"  # ENQUEUE waits; CANCEL_NEW drops a run while one is active


DEPLOYMENTS = (
    # A tick that finds the previous ingest still running is dropped: the next one, 30 minutes
    # later, picks up whatever is new, so runs never pile up behind a slow source.
    DeploymentSpec("ingest", "flows.ingest.ingest_flow",
                   (Schedule("*/30 * * * *", SCHEDULE_TZ, "every-30-minutes"),),
                   collision_strategy="CANCEL_NEW"),
    # only_due: each subscriber's own cadence decides; these runs are when it is checked. Weekly
    # at 08:00 Monday matches alerts.yaml's example weekly cadence (and a daily run already at 07:30).
    DeploymentSpec("digest", "flows.digest.digest_flow",
                   (Schedule("30 7 * * *", SCHEDULE_TZ, "daily-0730"),
                    Schedule("0 8 * * 1", SCHEDULE_TZ, "weekly-monday-0800")),
                   parameters={"only_due": True}),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(api_url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with code {proc.returncode} before it was ready "
                               "(is the port in use? set NEWSWATCH_PREFECT_PORT)")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"prefect server at {api_url} not healthy after {timeout_s:g} s")


def start_local_server(port: int | None = None, host: str | None = None) -> tuple[subprocess.Popen, str]:
    """`prefect server start` as a child process; returns it and its API URL once healthy.

    Loopback only unless NEWSWATCH_PREFECT_HOST says otherwise (in a container, 0.0.0.0 with the
    port published to the host's 127.0.0.1 shows the UI): the API has no authentication.
    """
    port = port or int(os.environ.get("NEWSWATCH_PREFECT_PORT", DEFAULT_PORT))
    host = host or os.environ.get("NEWSWATCH_PREFECT_HOST", "127.0.0.1")
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)  # noqa: S603 - its errors go to our stderr
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(api_url, SERVER_START_TIMEOUT_S, proc)
    except BaseException:
        stop_process(proc)
        raise
    return proc, api_url


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def build_deployments(config_dir: str | None = None, db_path: str | None = None) -> list:
    """RunnerDeployments for `prefect.serve`, from DEPLOYMENTS (imports prefect and the flows)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from flows.digest import digest_flow
    from flows.ingest import ingest_flow

    flows_by_entry = {"flows.ingest.ingest_flow": ingest_flow, "flows.digest.digest_flow": digest_flow}
    common = {k: v for k, v in {"config_dir": config_dir, "db_path": db_path}.items() if v}
    out = []
    for spec in DEPLOYMENTS:
        out.append(flows_by_entry[spec.entrypoint].to_deployment(
            name=spec.name,
            schedules=[Cron(s.cron, timezone=s.timezone, slug=s.slug) for s in spec.schedules],
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy(spec.collision_strategy)),
            parameters={**spec.parameters, **common},
            tags=["newswatch"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ))
    return out


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


async def _serve_deployments(deployments: list) -> None:
    """Prefect's Runner, one flow run at a time, stopped cleanly by Ctrl-C or SIGTERM.

    `prefect.serve` installs the Runner's own SIGTERM handler, which in prefect 3.8.8 calls the
    async `stop()` without awaiting it ("coroutine 'Runner.astop' was never awaited") and exits
    from inside the handler, and Ctrl-C lands a KeyboardInterrupt in whatever callback runs. Here
    both signals only set an event; the runner is then stopped with `astop()` (child runs
    cancelled, schedules paused) and its `start()` returns through its own exit stack.
    """
    import asyncio  # noqa: PLC0415
    import signal  # noqa: PLC0415

    from prefect.runner import Runner  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def request_stop(*_args) -> None:
        loop.call_soon_threadsafe(stop.set)

    runner = Runner(pause_on_shutdown=True, limit=1)
    runner.handle_sigterm = request_stop  # read by Runner.start when it installs its handler
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for deployment in deployments:
        await runner.add_deployment(deployment)
    names = ", ".join(f"{d.flow_name}/{d.name}" for d in deployments)
    print(f"serving {names}: one line per flow run below; stop with Ctrl-C", flush=True)
    running = asyncio.ensure_future(runner.start())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not running.done():
        await runner.astop()
        await running
    stopping.cancel()
    running.result()  # an error that ended the runner by itself is raised here


def serve(config_dir: str | None = None, db_path: str | None = None) -> None:
    """Register both deployments with their schedules and run them until stopped (Ctrl-C/SIGTERM)."""
    import asyncio
    import signal

    from newswatch.progress import RUN_LINES_ENV

    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server, api_url = start_local_server()
        os.environ["PREFECT_API_URL"] = api_url  # before prefect is imported: the runner and its
        # flow-run subprocesses read it from the environment
        print(f"prefect server started at {api_url.removesuffix('/api')} (UI); stopping it on exit", flush=True)
    os.environ[RUN_LINES_ENV] = "1"  # each flow run (a child process) prints its start and end line
    signal.signal(signal.SIGTERM, _interrupt)  # `docker stop`: shut down like Ctrl-C, server included
    try:
        asyncio.run(_serve_deployments(build_deployments(config_dir, db_path)))
        print("stopped", flush=True)
    except KeyboardInterrupt:  # a signal before the runner was listening
        print("stopped", flush=True)
    finally:
        if server is not None:
            stop_process(server)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Serve newswatch's ingest and digest flows on their schedules.")
    parser.add_argument("--config-dir")
    parser.add_argument("--db")
    args = parser.parse_args()
    serve(args.config_dir, args.db)
