"""Prefect flows: the only code in newswatch that imports prefect.

Importing this package first sets the environment so nothing leaves loopback (no analytics) and
the ephemeral API is used unless PREFECT_API_URL points at a server.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Prefect's temporary API server gets 20 s to start by default; on a busy 2-core machine (another
# run extracting in two worker processes) it can need more, and a run that finds the database
# busy must reach the writer lock's wait, not die in Prefect's start-up
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
