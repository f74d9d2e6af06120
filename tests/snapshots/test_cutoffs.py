"""Cutoff parsing and the monthly rule."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpiml.errors import KpimlError
from kpiml.snapshots.cutoffs import first_of_months, parse_cutoffs, resolve_cutoffs


def test_parse_monthly_and_dates() -> None:
    """Check that 'monthly' and comma-separated ISO dates parse, sorted and deduplicated."""
    assert parse_cutoffs(" Monthly ") == "monthly"
    assert parse_cutoffs("2024-03-01, 2024-02-01,2024-03-01") == [date(2024, 2, 1), date(2024, 3, 1)]


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("2024-02-30", KpimlError, "not dates.*'2024-02-30'"),
        ("weekly", KpimlError, "not dates.*'weekly'"),
        (",", KpimlError, "not dates"),
    ],
)
def test_parse_rejects_non_dates(text: str, error: type, message: str) -> None:
    """Check that values that are not dates raise a KpimlError quoting them."""
    with pytest.raises(error, match=message):
        parse_cutoffs(text)


@given(st.lists(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)), min_size=1, max_size=20))
def test_parse_round_trips_any_dates(dates: list[date]) -> None:
    """Check that any list of dates written as ISO text parses back to the sorted distinct dates."""
    assert parse_cutoffs(",".join(d.isoformat() for d in dates)) == sorted(set(dates))


def test_first_of_months_rounds_up_to_a_month_start() -> None:
    """Check that month starts begin at the next first of a month and include the end date."""
    assert first_of_months(date(2023, 12, 28), date(2024, 3, 1)) == [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
    assert first_of_months(date(2024, 1, 1), date(2024, 1, 31)) == [date(2024, 1, 1)]


def test_monthly_leaves_room_for_history_and_horizon() -> None:
    """Check that monthly cutoffs start after the longest window and end a horizon before the last event."""
    dates, warnings = resolve_cutoffs("monthly", date(2023, 7, 1), date(2024, 12, 31), 180, 30)
    assert dates[0] == date(2024, 1, 1) and dates[-1] == date(2024, 12, 1) and not warnings


def test_monthly_on_short_data_warns_then_fails() -> None:
    """Check that short data gives early cutoffs with a warning, and too short data a KpimlError."""
    dates, warnings = resolve_cutoffs("monthly", date(2024, 1, 1), date(2024, 6, 30), 180, 30)
    assert dates[0] == date(2024, 2, 1) and "truncated" in warnings[0]
    with pytest.raises(KpimlError, match="shorten --horizon-days"):
        resolve_cutoffs("monthly", date(2024, 1, 1), date(2024, 1, 20), 180, 30)


def test_explicit_cutoffs_warn_about_unobserved_horizons() -> None:
    """Check that explicit cutoffs are kept as given, with a warning when their horizon passes the data."""
    dates, warnings = resolve_cutoffs([date(2024, 6, 1), date(2024, 12, 15)], date(2023, 1, 1), date(2024, 12, 31), 180, 30)
    assert dates == [date(2024, 6, 1), date(2024, 12, 15)]
    assert "label is empty" in warnings[0]
