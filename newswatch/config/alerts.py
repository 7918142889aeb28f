"""alerts.yaml — placeholder model; the digest work replaces it with the real schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class AlertsFile(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    subscribers: Any = ()
