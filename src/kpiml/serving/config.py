"""Settings of one `kpiml serve` process, validated once and handed to every worker.

uvicorn starts extra workers as fresh processes that import the app factory by name, so the
settings travel in an environment variable as JSON. The API key itself never does: only the
*name* of the variable holding it is passed, and each worker reads the key from its own
environment, so the key cannot leak into a process listing, a log line or a crash report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ENV_VAR = "KPIML_SERVE_CONFIG"


class ServeConfig(BaseModel):
    """Everything the app factory needs; defaults are the safe choice for each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="Bundle folder (DIR/model) or an MLflow URI such as models:/churn@champion.")
    decision_log: Path = Field(default=Path("decision-log"), description="Folder of the append-only decision log.")
    holdout: float = Field(default=0.0, ge=0.0, lt=1.0, description="Share of would-act rows held out as control.")
    holdout_salt: str = "kpiml-control"
    api_key_env: str | None = Field(default=None, description="Name of the environment variable that holds the API key.")
    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    max_rows: int = Field(default=10_000, gt=0)
    range_tolerance: float | None = Field(default=0.5, ge=0.0, description="Numbers beyond the training range by more than this share of the range are refused (422); None turns the check off.")
    unseen_categories: Literal["reject", "accept"] = "reject"
    poll_seconds: float = Field(default=30.0, ge=0.0, description="How often the model source is checked for a new version; 0 turns reloading off.")
    tracking_uri: str | None = None
    batch_rows: int = Field(default=2048, gt=0, description="Most rows scored in one micro-batch of concurrent requests.")
    batch_window_ms: float = Field(default=2.0, ge=0.0, le=1000.0, description="Under concurrency, wait this long for more requests before scoring a micro-batch (0 = never wait).")
    metrics_dir: Path | None = Field(default=None, description="Folder where workers share their counters (several workers).")
    reasons: int = Field(default=3, ge=0, le=20, description="Top reasons per row in the answer (0 = none: explaining costs time per batch).")
    fast_path: bool = Field(default=True, description="Score through the compiled numpy path when it matches the sklearn pipeline.")

    def to_env(self) -> dict[str, str]:
        """The environment entry that carries these settings to uvicorn's worker processes."""
        return {ENV_VAR: self.model_dump_json()}

    @classmethod
    def from_env(cls) -> ServeConfig:
        """Settings written by `to_env` in the parent process (used by the worker factory)."""
        text = os.environ.get(ENV_VAR)
        if not text:
            raise RuntimeError(f"{ENV_VAR} is not set: start the service with `kpiml serve`")
        return cls.model_validate_json(text)

    def api_key(self) -> str | None:
        """The API key from the named environment variable (None when no key is required)."""
        if self.api_key_env is None:
            return None
        return os.environ.get(self.api_key_env) or None
