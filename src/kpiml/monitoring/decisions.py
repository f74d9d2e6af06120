"""Decisions as monitoring reads them: a `kpiml serve` decision log or a `kpiml predict` output.

Both carry the identifier, the score, the decision and the control flag (a row the model
would act on but that was held out: decision 0, control 1 in `kpiml predict` output,
`control: true` in the decision log). Monitoring needs, per identifier, the score the model
gave, whether it would act (`act` = decision 1 or control) and whether the row was held out,
so this module turns either source into that one frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from kpiml.errors import KpimlError

TRUE_WORDS = ("1", "true", "yes", "t", "y")


def flags(values: pd.Series) -> np.ndarray:
    """0/1, booleans or true/false words as a boolean array (missing is False)."""
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).to_numpy(dtype=bool)
    text = values.astype("string").str.strip().str.lower()
    return text.isin(TRUE_WORDS).fillna(False).to_numpy(dtype=bool)


def _need(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise KpimlError(
            f"The decisions in {source} lack the column(s) {', '.join(repr(c) for c in absent)}",
            expected=f"columns {', '.join(columns)} (a `kpiml predict` output or a `kpiml serve` decision log)",
            got=f"columns {', '.join(map(str, list(frame.columns)[:12]))}",
            fix="pass the file written by `kpiml predict --out` or the folder given to `kpiml serve --decision-log`",
        )


def decisions_frame(log: pd.DataFrame, id_column: str, source: str) -> tuple[pd.DataFrame, int]:
    """Identifier, score, act, control and expected_value of each logged row, one row per
    identifier (the latest decision when a customer was scored more than once), and how many
    earlier duplicates were dropped."""
    _need(log, [id_column, "score", "decision"], source)
    if "time" in log.columns:
        log = log.sort_values("time", kind="stable")
    decision = pd.to_numeric(log["decision"], errors="coerce").fillna(0).to_numpy() == 1
    control = flags(log["control"]) if "control" in log.columns else np.zeros(len(log), dtype=bool)
    ev = pd.to_numeric(log["expected_value"], errors="coerce") if "expected_value" in log.columns else pd.Series(np.nan, index=log.index)
    out = pd.DataFrame({id_column: log[id_column].to_numpy(), "score": pd.to_numeric(log["score"], errors="coerce").to_numpy(),
                        "act": decision | control, "control": control, "expected_value": ev.to_numpy(dtype="float64")})
    out = out[out["score"].notna() & out[id_column].notna()]
    latest = out.drop_duplicates(subset=[id_column], keep="last").reset_index(drop=True)
    return latest, len(out) - len(latest)
