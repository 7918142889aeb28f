"""The suite does not depend on the date it runs on: the digest tests run again, in a fresh
pytest process, with the clock a year ahead (and the shift is checked to be in force there)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SHIFT_DAYS = 365


def test_shift_is_in_force_when_requested():
    """Inside the shifted run this proves the clock really moved; in a normal run it checks nothing
    else could have set the variable by accident."""
    shift = os.environ.get("NEWSWATCH_TEST_SHIFT_DAYS")
    real = os.environ.get("NEWSWATCH_TEST_REAL_NOW")
    if not shift:
        assert real is None
        return
    assert datetime.now(timezone.utc) >= datetime.fromisoformat(real) + timedelta(days=float(shift) - 1)


@pytest.mark.skipif(os.environ.get("NEWSWATCH_TEST_SHIFT_DAYS") is not None, reason="already the shifted run")
def test_digest_suite_passes_a_year_from_now(tmp_path):
    files = sorted(str(p) for p in TESTS.glob("test_digest*.py")) + [str(TESTS / "test_notify.py"), __file__]
    env = {**os.environ, "NEWSWATCH_TEST_SHIFT_DAYS": str(SHIFT_DAYS),
           "NEWSWATCH_TEST_REAL_NOW": datetime.now(timezone.utc).isoformat()}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *files],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and "test_shift_is_in_force_when_requested" not in tail
