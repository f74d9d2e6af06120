"""Repairs of the time axis: duplicates, future rows, gaps, and the length and exogenous checks.

Each repair is recorded as an `Issue` so the user sees what was changed; anything that would
change the meaning of the data (duplicate timestamps without an aggregation rule, a series
too short for the horizon, missing future values of an exogenous column) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpiml.errors import KpimlError
from kpiml.forecasting.timeindex import Frequency

DUPLICATE_POLICIES = ("refuse", "sum", "mean", "last")


@dataclass(frozen=True)
class Issue:
    """One repair or oddity found in the input, reported rather than silently fixed."""

    series: str
    kind: str
    count: int
    detail: str


def min_train_length(season_length: int) -> int:
    """Shortest history a backtest window may train on: a season plus a few points for a scale."""
    return max(season_length + 4, 8)


def _issue(series: str, kind: str, count: int, detail: str) -> Issue:
    return Issue(series, kind, count, detail)


def resolve_duplicates(frame: pd.DataFrame, policy: str, series: list[str], columns: list[str], freq: Frequency, issues: list[Issue]) -> pd.DataFrame:
    """Refuse or aggregate rows sharing a series and a period; a forgotten --series is the usual cause."""
    if policy not in DUPLICATE_POLICIES:
        raise KpimlError("Unknown --duplicates policy", expected=" | ".join(DUPLICATE_POLICIES), got=repr(policy), fix="pick one of the expected values")
    dup = frame.duplicated(["unique_id", "ds"], keep=False)
    if not dup.any():
        return frame
    counts = frame.loc[dup].groupby("unique_id", sort=False)["ds"].nunique()
    if policy == "refuse":
        raise _duplicate_error(frame.loc[dup], counts, series, columns, freq)
    for uid, n in counts.items():
        issues.append(_issue(str(uid), "duplicates", int(n), f"periods with several rows were aggregated by {policy}"))
    how = {"sum": "sum", "mean": "mean", "last": "last"}[policy]
    agg = {c: (how if c == "y" else "last") for c in frame.columns if c not in ("unique_id", "ds")}
    out = frame.groupby(["unique_id", "ds"], sort=False, as_index=False).agg(agg)
    if policy == "sum":  # a period whose rows are all empty stays empty rather than becoming 0
        empty = frame.assign(n=frame["y"].notna()).groupby(["unique_id", "ds"], sort=False)["n"].sum().to_numpy() == 0
        out.loc[empty, "y"] = np.nan
    return out


def _duplicate_error(rows: pd.DataFrame, counts: pd.Series, series: list[str], columns: list[str], freq: Frequency) -> KpimlError:
    """Name the series and a period with duplicates, and say which fix fits."""
    uid = str(counts.index[0])
    first = rows.loc[rows["unique_id"] == uid].iloc[0]
    when = freq.to_timestamps(np.array([first["ds"]]))[0].date()
    n_rows = int((rows["unique_id"].eq(uid) & rows["ds"].eq(first["ds"])).sum())
    hint = "" if series else " (no --series was given: if the table holds several series, name their id column with --series)"
    return KpimlError(
        f"{int(counts.sum()):,} {freq.name} periods in {len(counts):,} series have more than one row, e.g. series '{uid}' has {n_rows} rows in the period of {when}{hint}",
        expected="one row per series and period",
        got=f"duplicates in {len(counts):,} of the series",
        fix="add the missing --series column(s), or aggregate with --duplicates sum (or mean, last)",
    )


def split_future(frame: pd.DataFrame, exog: list[str], issues: list[Issue]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cut each series at its last observed target: later rows carry future exogenous values."""
    frame = frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    has_y = frame["y"].notna()
    ds_obs = frame["ds"].where(has_y)
    grp = ds_obs.groupby(frame["unique_id"], sort=False)
    first, last = grp.transform("min"), grp.transform("max")
    empty = frame.loc[last.isna(), "unique_id"].unique()
    for uid in empty[:20]:
        issues.append(_issue(str(uid), "no values", 0, "series without any target value was dropped"))
    future = frame.loc[frame["ds"] > last, ["unique_id", "ds", *exog]]
    lead = frame["ds"] < first
    for uid, n in frame.loc[lead].groupby("unique_id", sort=False).size().items():
        issues.append(_issue(str(uid), "leading empty rows", int(n), "rows before the first target value were dropped"))
    if not exog and len(future):
        for uid, n in future.groupby("unique_id", sort=False).size().items():
            issues.append(_issue(str(uid), "trailing empty rows", int(n), "rows after the last target value were dropped"))
    history = frame.loc[(frame["ds"] >= first) & (frame["ds"] <= last)]
    return history.reset_index(drop=True), future.reset_index(drop=True)


def fill_gaps(frame: pd.DataFrame, exog: list[str], issues: list[Issue]) -> pd.DataFrame:
    """Reindex every series to consecutive periods and interpolate missing targets (reported).

    The `observed` column tells real values from interpolated ones (anomaly detection skips those).
    """
    span = frame.groupby("unique_id", sort=False)["ds"].agg(["min", "max", "size"])
    holes = frame.loc[frame["y"].isna(), "unique_id"].unique()
    gappy = set(span.index[span["max"] - span["min"] + 1 != span["size"]]) | set(holes)
    parts = [frame.loc[~frame["unique_id"].isin(gappy)].assign(observed=True)]
    for uid, g in frame.loc[frame["unique_id"].isin(gappy)].groupby("unique_id", sort=False):
        full = np.arange(g["ds"].iloc[0], g["ds"].iloc[-1] + 1, dtype=np.int64)
        g = g.set_index("ds").reindex(full)
        g["observed"] = g["y"].notna()
        issues.append(_issue(str(uid), "gaps", int(g["y"].isna().sum()), "missing periods or empty targets were interpolated linearly"))
        g["y"] = g["y"].interpolate(method="linear", limit_direction="both")
        for c in exog:
            g[c] = g[c].ffill().bfill()
        g["unique_id"] = uid
        parts.append(g.rename_axis("ds").reset_index())
    cols = ["unique_id", "ds", "y", *exog, "observed"]
    out = pd.concat(parts, ignore_index=True)[cols].sort_values(["unique_id", "ds"], kind="stable")
    out["unique_id"] = out["unique_id"].astype(str)
    return out.reset_index(drop=True)


def check_lengths(frame: pd.DataFrame, horizon: int, freq: Frequency) -> None:
    """Refuse series too short to hold out one horizon and still train on a season."""
    if frame.empty:
        raise KpimlError("No series has any target value", expected="numbers in the target column", got="only empty values", fix="check --target")
    need = horizon + min_train_length(freq.season_length)
    lengths = frame.groupby("unique_id", sort=False).size()
    short = lengths[lengths < need]
    if len(short):
        shown = ", ".join(f"'{k}' ({v})" for k, v in short.head(5).items())
        raise KpimlError(
            f"{len(short):,} series are too short for --horizon {horizon} ({freq.name} data): {shown}",
            expected=f"at least {need} {freq.name} points per series (the horizon plus {need - horizon} to train a backtest on)",
            got=f"the shortest has {int(short.min())}",
            fix=f"lower --horizon to {max(1, int(short.min()) - (need - horizon))} or leave those series out of the table",
        )


def check_future(future: pd.DataFrame, history: pd.DataFrame, exog: list[str], horizon: int, freq: Frequency) -> pd.DataFrame:
    """Exogenous columns must be known for every forecast period of every series."""
    last = history.groupby("unique_id", sort=False)["ds"].max()
    grid = pd.DataFrame({
        "unique_id": np.repeat(last.index.to_numpy(), horizon),
        "ds": (last.to_numpy()[:, None] + np.arange(1, horizon + 1)).ravel(),
    })
    if not exog:
        return grid
    merged = grid.merge(future, on=["unique_id", "ds"], how="left")
    missing = merged[exog].isna().any(axis=1)
    if missing.any():
        row = merged.loc[missing].iloc[0]
        when = freq.to_timestamps(np.array([row["ds"]]))[0].date()
        raise KpimlError(
            f"Exogenous columns {', '.join(exog)} have no future values for {int(missing.sum()):,} forecast periods, e.g. series '{row['unique_id']}' at {when}",
            expected=f"a row per series for each of the {horizon} periods after its last target value, with the target left empty and the exogenous columns filled",
            got=f"{int((~missing).sum()):,} of {len(merged):,} future periods filled",
            fix="append those future rows to the table, or drop --exog",
        )
    return merged
