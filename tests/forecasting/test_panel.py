"""Input checks of `kpiml forecast`: frequency, gaps, duplicates, exogenous rows and user mistakes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpiml.errors import KpimlError
from kpiml.forecasting.panel import build_panel
from kpiml.forecasting.timeindex import infer_frequency, to_ordinals


def monthly(n: int = 48, series: tuple[str, ...] = ("a", "b"), start: str = "2018-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(0)
    dates = pd.date_range(start, periods=n, freq="MS")
    return pd.concat([pd.DataFrame({"store": s, "month": dates, "sales": 100 + rng.normal(0, 5, n).round(2)}) for s in series], ignore_index=True)


def build(df: pd.DataFrame, **kw: object) -> object:
    args: dict[str, object] = {"time": "month", "target": "sales", "series": ["store"], "horizon": 6}
    args.update(kw)
    return build_panel(df, **args)  # type: ignore[arg-type]


def _bad_dates() -> pd.DataFrame:
    df = monthly()
    df["month"] = df["month"].astype(str)
    df.loc[3, "month"] = "not a date"
    return df


def _text_target() -> pd.DataFrame:
    df = monthly()
    df["sales"] = df["sales"].astype(str)
    df.loc[5, "sales"] = "1,234 EUR"
    return df


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (monthly(), {"time": "Month"}, r"Column 'Month' given to --time is not in the data.*did you mean 'month'"),
        (monthly(), {"target": "sale"}, r"Column 'sale' given to --target.*did you mean 'sales'"),
        (monthly(), {"series": ["shop"]}, r"Column 'shop' given to --series"),
        (_bad_dates(), {}, r"Time column 'month' has 1 values that are not dates.*'not a date'"),
        (_text_target(), {}, r"Target column 'sales' has 1 values that are not numbers.*'1,234 EUR'.*thousands separators"),
        (monthly(), {"horizon": 0}, r"--horizon must be at least 1"),
        (monthly(n=20), {"horizon": 6}, r"2 series are too short for --horizon 6 \(monthly data\).*at least 22.*lower --horizon to 4"),
        (monthly(), {"series": None}, r"periods in 1 series have more than one row.*no --series was given.*--duplicates sum"),
        (monthly(), {"duplicates": "median"}, r"Unknown --duplicates policy"),
        (monthly(), {"exog": ["sales_plan"]}, r"Column 'sales_plan' given to --exog"),
    ],
)
def test_user_mistakes_raise_clear_errors(frame: pd.DataFrame, kwargs: dict[str, object], message: str) -> None:
    """Check that each user mistake raises a KpimlError naming the column or value and the fix."""
    with pytest.raises(KpimlError, match=message):
        build(frame, **kwargs)


def test_duplicates_aggregated_on_request_and_reported() -> None:
    """Check that --duplicates sum adds up rows of the same series and period and reports it."""
    df = monthly(series=("a",))
    df = pd.concat([df, df.iloc[[10]].assign(sales=1.0)], ignore_index=True)
    panel = build(df, duplicates="sum")
    row = panel.data.loc[panel.data["ds"] == panel.data["ds"].iloc[10], "y"]  # type: ignore[attr-defined]
    assert row.iloc[0] == pytest.approx(df["sales"].iloc[10] + 1.0)
    assert [i.kind for i in panel.issues] == ["duplicates"]  # type: ignore[attr-defined]


def test_gaps_filled_reported_and_not_observed() -> None:
    """Check that missing periods are interpolated, reported per series and marked as not observed."""
    df = monthly().drop(index=[5, 6, 60]).reset_index(drop=True)
    panel = build(df)
    issues = {(i.series, i.kind): i.count for i in panel.issues}  # type: ignore[attr-defined]
    assert issues == {("a", "gaps"): 2, ("b", "gaps"): 1}
    assert len(panel.data) == 96 and panel.data["y"].notna().all()  # type: ignore[attr-defined]
    assert int((~panel.observed).sum()) == 3  # type: ignore[attr-defined]


def test_leading_and_trailing_empty_targets_trimmed() -> None:
    """Check that a series starting later (empty targets before) keeps only its observed span."""
    df = monthly()
    df.loc[(df["store"] == "b") & (df.index < 60), "sales"] = np.nan
    panel = build(df)
    assert panel.lengths().to_dict() == {"a": 48, "b": 36}  # type: ignore[attr-defined]
    assert any(i.kind == "leading empty rows" and i.count == 12 for i in panel.issues)  # type: ignore[attr-defined]


def test_future_exogenous_rows_are_read_and_required() -> None:
    """Check that rows after the last target carry future exogenous values, and missing ones are refused."""
    df = monthly(n=54)
    df["promo"] = (df.index % 3 == 0).astype(float)
    df.loc[df.groupby("store").cumcount() >= 48, "sales"] = np.nan
    panel = build(df, exog=["promo"])
    assert panel.future.shape == (12, 3) and panel.future["promo"].notna().all()  # type: ignore[attr-defined]
    with pytest.raises(KpimlError, match=r"no future values for 1 forecast periods, e.g. series 'b'.*append those future rows"):
        build(df.iloc[:-1], exog=["promo"])


def test_decimal_years_read_as_months() -> None:
    """Check that R-style decimal years (1982.25, ...) become monthly periods."""
    df = pd.DataFrame({"t": 1982.25 + np.arange(40) / 12, "v": np.arange(40.0)})
    panel = build_panel(df, time="t", target="v", horizon=3)
    assert panel.freq.name == "monthly" and panel.freq.season_length == 12
    assert panel.freq.to_timestamps(panel.data["ds"].to_numpy()[:1])[0] == pd.Timestamp("1982-04-01")


@settings(max_examples=40, deadline=None)
@given(
    freq=st.sampled_from([("D", "daily"), ("W-WED", "weekly"), ("MS", "monthly"), ("ME", "monthly"), ("QS", "quarterly"), ("YS", "yearly"), ("h", "hourly")]),
    start=st.dates(min_value=pd.Timestamp("1990-01-01").date(), max_value=pd.Timestamp("2030-01-01").date()),
    n=st.integers(min_value=3, max_value=60),
)
def test_frequency_inferred_and_times_round_trip(freq: tuple[str, str], start: object, n: int) -> None:
    """Check that the frequency is inferred and period numbers map back to the user's timestamps."""
    times = pd.Series(pd.date_range(pd.Timestamp(start), periods=n, freq=freq[0]))  # type: ignore[arg-type]
    f = infer_frequency(times, pd.Series(np.zeros(n)))
    ordinals = to_ordinals(times, f)
    assert f.name == freq[1]
    assert (np.diff(ordinals) == 1).all()
    assert (f.to_timestamps(ordinals) == pd.DatetimeIndex(times)).all()
