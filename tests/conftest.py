"""Fixtures that start real components: an HTTP server over the shared corpus, temp DuckDB files,
config folders pointing at the local server. Nothing here reaches beyond 127.0.0.1."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

# The suite never touches the user's own ~/.prefect: flow runs (crashed ones included) go to a
# Prefect home of its own, removed at the end. Set before anything imports prefect, which reads
# its settings once. A busy 2-core machine can take longer than Prefect's 20 s default to start
# the temporary API server.
_PREFECT_HOME = tempfile.mkdtemp(prefix="newswatch-tests-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)

# NEWSWATCH_TEST_SHIFT_DAYS=N runs the session with the clock N days ahead (tests/test_clock.py
# uses it to prove the suite does not depend on the date it runs on).
_SHIFT_DAYS = os.environ.get("NEWSWATCH_TEST_SHIFT_DAYS")
if _SHIFT_DAYS:
    import time_machine

    _TRAVEL = time_machine.travel(
        datetime.now(timezone.utc) + timedelta(days=float(_SHIFT_DAYS)), tick=True
    )
    _TRAVEL.start()

from servers import CorpusServer, build_site, corpus_available  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def require_corpus() -> None:
    if not corpus_available():
        pytest.skip(f"shared corpus not found at {SHARED} (tests that serve real pages need ../shared/)")


@pytest.fixture(scope="session")
def corpus_server():
    """A real HTTP server on 127.0.0.1 serving the 181 corpus pages behind rewritten real feeds."""
    require_corpus()
    with CorpusServer(build_site) as srv:
        yield srv


@pytest.fixture()
def site(corpus_server):
    corpus_server.site.clear_log()
    corpus_server.site.extra.clear()
    yield corpus_server.site
    corpus_server.site.extra.clear()


def write_config(directory: Path, sources_yaml: str, settings_yaml: str = "", topics_yaml: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sources.yaml").write_text(sources_yaml, encoding="utf-8")
    # fast, test-sized timeouts: a stuck request must not hold the suite for a minute
    (directory / "settings.yaml").write_text(
        settings_yaml or "read_timeout_s: 1.5\nconnect_timeout_s: 2\ntotal_timeout_s: 10\nbackoff_s: 0.05\n",
        encoding="utf-8",
    )
    if topics_yaml is not None:
        (directory / "topics.yaml").write_text(topics_yaml, encoding="utf-8")
    return directory


def local_source(name: str, kind: str, url: str, **extra) -> str:
    fields = {"name": name, "kind": kind, "url": url, "allow_private_addresses": True, **extra}
    inner = ", ".join(f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {str(v).lower() if isinstance(v, bool) else v}"
                      for k, v in fields.items())
    return f"  - {{{inner}}}\n"
