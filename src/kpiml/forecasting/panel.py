"""Input checks: from a user's long table to a regular panel every model can read.

A forecast is only as good as the time axis under it, so every repair made here (a gap
filled, duplicates aggregated, empty leading rows trimmed) is recorded as an `Issue` and
shown to the user, and every mistake they must fix raises a `KpimlError` that names the
column, the value and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from kpiml.errors import KpimlError, closest_names
from kpiml.forecasting.repairs import (
    Issue,
    check_future,
    check_lengths,
    fill_gaps,
    resolve_duplicates,
    split_future,
)
from kpiml.forecasting.timeindex import Frequency, infer_frequency, parse_times, to_ordinals


@dataclass
class Panel:
    """A regular long panel: `unique_id`, integer period `ds`, float `y`, then exogenous columns.

    `future` holds the exogenous values for the forecast periods (empty without exogenous).
    """

    data: pd.DataFrame
    future: pd.DataFrame
    freq: Frequency
    exog: list[str]
    issues: list[Issue] = field(default_factory=list)
    series_name: str = "series"
    observed: pd.Series | None = None  # False where a gap was interpolated, aligned with `data`

    @property
    def n_series(self) -> int:
        return int(self.data["unique_id"].nunique())

    def lengths(self) -> pd.Series:
        return self.data.groupby("unique_id", sort=False).size()


def check_columns(df: pd.DataFrame, wanted: dict[str, list[str]], source: str) -> None:
    """Refuse absent columns, suggesting the closest names (typos and case are the usual cause)."""
    columns = [str(c) for c in df.columns]
    for flag, names in wanted.items():
        for name in names:
            if name in columns:
                continue
            hints = closest_names(name, columns) or (date_like_columns(df) if flag == "--time" else [])
            fix = f"did you mean {', '.join(repr(h) for h in hints)}?" if hints else "pass one of the listed columns"
            raise KpimlError(
                f"Column '{name}' given to {flag} is not in {source}",
                expected=f"one of {', '.join(columns[:12])}{' ...' if len(columns) > 12 else ''}",
                got=repr(name),
                fix=fix.rstrip("?") + ("?" if hints else ""),
            )


def date_like_columns(df: pd.DataFrame, limit: int = 3) -> list[str]:
    """Columns whose first values read as dates: the likely --time when the name given is far off."""
    found = []
    for c in df.columns:
        v = df[c].dropna().head(20)
        if pd.api.types.is_datetime64_any_dtype(v) or (v.dtype == object and len(v) and pd.to_datetime(v.astype(str), errors="coerce", format="mixed").notna().all()):
            found.append(str(c))
    return found[:limit]


def series_keys(df: pd.DataFrame, series: list[str] | None, target: str) -> pd.Series:
    """One string key per row: the --series values joined by ' / ', or the target name for one series."""
    if not series:
        return pd.Series(target, index=df.index, dtype=object)
    parts = [df[c].astype(str).where(df[c].notna(), "(missing)") for c in series]
    key = parts[0]
    for p in parts[1:]:
        key = key + " / " + p
    return key.astype(object)


def numeric_target(values: pd.Series, column: str) -> pd.Series:
    """Refuse a target with text values (a thousands separator or a unit is the usual cause)."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    parsed = pd.to_numeric(values, errors="coerce")
    bad = values[parsed.isna() & values.notna() & (values.astype(str).str.strip() != "")]
    if len(bad):
        examples = ", ".join(repr(v) for v in bad.astype(str).unique()[:3])
        raise KpimlError(
            f"Target column '{column}' has {len(bad):,} values that are not numbers",
            expected="a numeric KPI (sales, revenue, visits ...)",
            got=examples,
            fix="remove units and thousands separators, or point --target at a numeric column",
        )
    return parsed.astype(float)


def build_panel(
    df: pd.DataFrame,
    *,
    time: str,
    target: str,
    series: list[str] | None = None,
    exog: list[str] | None = None,
    horizon: int = 1,
    duplicates: str = "refuse",
    season_length: int | None = None,
    source: str = "the data",
) -> Panel:
    """Check a long table and return a regular panel (see module docstring for why)."""
    series, exog = list(series or []), list(exog or [])
    check_horizon(horizon)
    check_columns(df, {"--time": [time], "--target": [target], "--series": series, "--exog": exog}, source)
    frame = pd.DataFrame({
        "unique_id": series_keys(df, series, target).to_numpy(),
        "time": parse_times(df[time], time).to_numpy(),
        "y": numeric_target(df[target], target).to_numpy(),
    })
    for c in exog:
        frame[c] = numeric_target(df[c], c).to_numpy()
    issues: list[Issue] = []
    frame = _drop_missing_times(frame, issues)
    freq = infer_frequency(frame["time"], frame["unique_id"], season_length)
    frame["ds"] = to_ordinals(frame["time"], freq)
    frame = resolve_duplicates(frame.drop(columns="time"), duplicates, series, list(df.columns), freq, issues)
    history, future = split_future(frame, exog, issues)
    history = fill_gaps(history, exog, issues)
    observed = history.pop("observed").astype(bool)
    check_lengths(history, horizon, freq)
    future = check_future(future, history, exog, horizon, freq)
    name = " / ".join(series) if series else "series"
    return Panel(history, future, freq, exog, issues, name, observed)


def check_horizon(horizon: int) -> None:
    """Refuse a horizon below one period."""
    if int(horizon) < 1:
        raise KpimlError("--horizon must be at least 1", expected="a whole number of periods >= 1", got=str(horizon), fix="e.g. --horizon 12 for a year of monthly data")


def _drop_missing_times(frame: pd.DataFrame, issues: list[Issue]) -> pd.DataFrame:
    """Rows without a time cannot be placed; drop and report them."""
    missing = frame["time"].isna()
    if missing.any():
        issues.append(Issue("(all)", "missing time", int(missing.sum()), "rows without a time were dropped"))
    return frame.loc[~missing].reset_index(drop=True)
