"""Prefect flows: the only code in newswatch that imports prefect.

Importing this package first sets the environment so nothing leaves loopback (no analytics) and
the ephemeral API is used unless PREFECT_API_URL points at a server.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
