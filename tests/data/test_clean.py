"""Repairs of exported tables: text numbers, text dates, infinities, codes that must stay text."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from kpiml.data.clean import clean_frame


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).map(lambda v: round(v, 2)), min_size=5, max_size=40), st.sampled_from(["${:,.2f}", "{:,.2f}", "€{:,.2f}", "{:,.2f} %"]))
def test_text_numbers_round_trip(values: list[float], fmt: str) -> None:
    """Check that numbers written with thousands separators, currency or percent signs parse back to their values."""
    text = [fmt.format(v) if v >= 0 else "-" + fmt.format(-v) for v in values]
    out, report = clean_frame(pd.DataFrame({"x": text}))
    assert report.text_numbers == ["x"]
    np.testing.assert_allclose(out["x"].to_numpy(), values, rtol=0, atol=1e-6)


def test_codes_with_leading_zeros_stay_text() -> None:
    """Check that zip codes and account numbers with leading zeros are not turned into numbers."""
    out, report = clean_frame(pd.DataFrame({"zip": ["01234", "02134", "90210", "00501"] * 5}))
    assert report.text_numbers == [] and out["zip"].iloc[0] == "01234"


def test_dates_mixed_formats_and_infinities() -> None:
    """Check that text dates become dates, mixed formats are reported, and infinities become missing."""
    df = pd.DataFrame({
        "iso": ["2024-01-05", "2024-02-10", None, "2024-03-01"],
        "mixed": ["2024-01-05", "05/02/2024", "2024-03-01", "07/04/2024"],
        "v": [1.0, np.inf, -np.inf, 2.0],
    })
    out, report = clean_frame(df)
    assert pd.api.types.is_datetime64_any_dtype(out["iso"]) and out["iso"].isna().sum() == 1
    assert report.mixed_date_formats == ["mixed"] and report.text_dates == ["iso", "mixed"]
    assert report.infinities == {"v": 2} and out["v"].isna().sum() == 2
