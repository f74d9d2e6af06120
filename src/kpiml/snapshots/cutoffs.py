"""Cutoff dates: the moments at which a snapshot looks back (features) and ahead (label).

`monthly` picks the first day of each month for which both sides are fully observed: the
longest feature window lies after the first event (so early snapshots are not starved of
history, which would make counts look low for reasons that have nothing to do with the
entity), and the label horizon ends before the last event (so a 0 label means "did not
churn", not "we have not seen it yet"). Explicit dates are taken as given; rows whose
horizon reaches past the data get an empty label and are meant for scoring.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from kpiml.errors import KpimlError

Cutoffs = Literal["monthly"] | list[date]


def parse_cutoffs(text: str) -> Cutoffs:
    """Read `--cutoffs`: the word 'monthly' or ISO dates separated by commas."""
    if text.strip().lower() == "monthly":
        return "monthly"
    parts = [p.strip() for p in text.split(",") if p.strip()]
    dates, bad = [], []
    for part in parts:
        try:
            dates.append(date.fromisoformat(part))
        except ValueError:
            bad.append(part)
    if bad or not dates:
        raise KpimlError(
            "Option --cutoffs holds values that are not dates",
            expected="'monthly' or ISO dates separated by commas, e.g. 2024-02-01,2024-03-01",
            got=", ".join(repr(b) for b in bad) if bad else repr(text),
            fix="write each cutoff as YYYY-MM-DD",
        )
    return sorted(set(dates))


def first_of_months(start: date, end: date) -> list[date]:
    """First days of the months from `start` (rounded up to a month start) to `end` inclusive."""
    current = start if start.day == 1 else _next_month(start)
    out = []
    while current <= end:
        out.append(current)
        current = _next_month(current)
    return out


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def resolve_cutoffs(cutoffs: Cutoffs, first_day: date, last_day: date, history_days: int, horizon_days: int) -> tuple[list[date], list[str]]:
    """Turn the option into concrete dates given the data's first and last event days.

    Returns the dates and warnings for the user. `last_day` is the day of the last event:
    a horizon is fully observed when cutoff + horizon <= last_day.
    """
    if cutoffs != "monthly":
        warnings = []
        late = [c for c in cutoffs if c + timedelta(days=horizon_days) > last_day]
        if late:
            warnings.append(f"{len(late)} cutoff(s) ({late[0]}...) have a horizon past the last event ({last_day}); their label is empty, use them for scoring only")
        early = [c for c in cutoffs if c - timedelta(days=history_days) < first_day]
        if early:
            warnings.append(f"{len(early)} cutoff(s) ({early[0]}...) have less than {history_days} days of events before them; long-window features are truncated there")
        return list(cutoffs), warnings
    end = last_day - timedelta(days=horizon_days)
    dates = first_of_months(first_day + timedelta(days=history_days), end)
    if dates:
        return dates, []
    dates = first_of_months(first_day + timedelta(days=1), end)
    if not dates:
        raise KpimlError(
            "Monthly cutoffs do not fit the data",
            expected=f"events spanning more than the {horizon_days}-day horizon plus a month",
            got=f"events from {first_day} to {last_day}",
            fix="shorten --horizon-days or give explicit --cutoffs dates",
        )
    return dates, [f"the events span less than the {history_days}-day history window before the first monthly cutoff; long-window features are truncated at the early cutoffs"]
