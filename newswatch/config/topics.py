"""topics.yaml — placeholder model; the classifier work replaces it with the real schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class TopicsFile(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    topics: Any = ()
