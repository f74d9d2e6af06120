"""Turn a user's time column into integer periods of one inferred frequency.

Every later step (gaps, duplicates, backtest cutoffs, statsforecast, calendar features)
works on integer period ordinals, so irregular day-of-month anchors, month ends versus
month starts and decimal years (R `ts` exports such as 1982.25) all reduce to one
representation and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kpiml.errors import KpimlError

# Pandas period code, typical step in days, season length, human name.
_FREQS: tuple[tuple[str, float, int, str], ...] = (
    ("h", 1 / 24, 24, "hourly"),
    ("D", 1.0, 7, "daily"),
    ("W", 7.0, 52, "weekly"),
    ("M", 30.44, 12, "monthly"),
    ("Q", 91.31, 4, "quarterly"),
    ("Y", 365.25, 1, "yearly"),
)


@dataclass(frozen=True)
class Frequency:
    """The inferred sampling frequency: period code, season length and how times are anchored."""

    code: str
    season_length: int
    name: str
    anchor: str  # "start" or "end" of the period, as the user's timestamps were
    offset: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(0))  # e.g. weekly data stamped on Wednesdays

    def to_timestamps(self, ordinals: np.ndarray) -> pd.DatetimeIndex:
        """Map period ordinals back to timestamps shaped like the user's input."""
        periods = pd.PeriodIndex.from_ordinals(np.asarray(ordinals, dtype=np.int64), freq=self.code)
        if self.anchor == "end":
            return periods.to_timestamp(how="end").normalize()
        return periods.to_timestamp(how="start") + self.offset


def parse_times(values: pd.Series, column: str) -> pd.Series:
    """Parse a time column to datetimes; decimal years (1982.25) count as months/quarters/years."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values).dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
    if pd.api.types.is_numeric_dtype(values):
        return _decimal_years(values, column)
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    bad = values[parsed.isna() & values.notna()]
    if len(bad):
        examples = ", ".join(repr(v) for v in bad.astype(str).unique()[:3])
        raise KpimlError(
            f"Time column '{column}' has {len(bad):,} values that are not dates",
            expected="dates such as 2024-01-31 or 2024-01-31 08:00",
            got=examples,
            fix="fix or drop those rows, or point --time at the column that holds dates",
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return parsed


def _decimal_years(values: pd.Series, column: str) -> pd.Series:
    """Read R-style decimal years (year + fraction): the step decides months, quarters or years."""
    v = values.astype(float)
    ok = v.dropna()
    if ok.empty or ok.min() < 1000 or ok.max() > 3000:
        raise KpimlError(
            f"Time column '{column}' is numeric but does not look like years",
            expected="dates, or decimal years such as 1982.25",
            got=f"values from {ok.min() if len(ok) else 'nothing'} to {ok.max() if len(ok) else ''}",
            fix="convert the column to dates, or point --time at the column that holds dates",
        )
    for per_year in (1, 4, 12):
        steps = ok * per_year
        if np.allclose(steps, np.round(steps), atol=1e-3):
            ordinal = np.round(v * per_year).astype("Int64")
            years, rem = ordinal // per_year, ordinal % per_year
            months = rem * (12 // per_year) + 1
            frame = pd.DataFrame({"year": years, "month": months, "day": 1})
            return pd.to_datetime(frame, errors="coerce")
    raise KpimlError(
        f"Time column '{column}' holds decimal years whose fractions are not months or quarters",
        expected="steps of 1/12, 1/4 or whole years",
        got=", ".join(str(x) for x in ok.head(3)),
        fix="convert the column to dates",
    )


def infer_frequency(times: pd.Series, keys: pd.Series, season_length: int | None = None) -> Frequency:
    """Infer the frequency from the most common step within series (gaps do not fool it)."""
    frame = pd.DataFrame({"k": keys.to_numpy(), "t": times.to_numpy()}).dropna()
    if len(frame) > 200_000:  # the frequency is one for all series: a few hundred of them tell it
        frame = frame.loc[frame["k"].isin(pd.unique(frame["k"])[:500])]
    frame = frame.drop_duplicates()
    frame = frame.sort_values(["k", "t"])
    same = frame["k"].to_numpy()[1:] == frame["k"].to_numpy()[:-1]
    days = np.diff(frame["t"].to_numpy().astype("datetime64[s]").astype(np.int64))[same] / 86400
    if days.size == 0:
        raise KpimlError(
            "Cannot infer the frequency: no series has two distinct time points",
            expected="at least two time points per series",
            got=f"{frame['k'].nunique()} series",
            fix="check --series (one value per row makes every row its own series)",
        )
    step = float(np.median(days[days > 0])) if (days > 0).any() else 1.0
    code, _, season, name = min(_FREQS, key=lambda f: abs(np.log(step / f[1])))
    anchor, offset = _anchor(pd.DatetimeIndex(frame["t"]), code)
    return Frequency(code, season_length or season, name, anchor, offset)


def _anchor(t: pd.DatetimeIndex, code: str) -> tuple[str, pd.Timedelta]:
    """Tell how the user stamps a period: by its last day (2024-01-31) or start plus an offset."""
    periods = t.to_period(code)
    starts = periods.to_timestamp(how="start")
    if code not in ("h", "D"):
        ends = periods.to_timestamp(how="end").normalize()
        if (t == ends).mean() > (t == starts).mean():
            return "end", pd.Timedelta(0)
    offsets = pd.Series(t - starts)
    return "start", pd.Timedelta(offsets.mode().iloc[0])


def to_ordinals(times: pd.Series, freq: Frequency) -> np.ndarray:
    """Integer period numbers: consecutive periods differ by exactly one."""
    return pd.DatetimeIndex(times).to_period(freq.code).asi8.astype(np.int64)
