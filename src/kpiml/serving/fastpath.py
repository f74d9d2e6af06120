"""Placeholder: the compiled numpy scoring path (filled in below)."""

from __future__ import annotations

from typing import Any


def compile_model(bundle: Any) -> tuple[Any | None, str]:
    return None, "sklearn pipeline"
