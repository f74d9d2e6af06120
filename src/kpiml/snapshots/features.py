"""The feature catalogue: which columns a snapshot gets, the SQL for each, and why.

Per cutoff, one scan of the events in the lookback period computes filtered aggregates
(`n_<kind>_<days>`: events of a kind in the last `days` days; `s_<kind>_<days>`: sum of
their values); the history table adds all-time recency per kind. Every output column is
then an expression over those few aggregates, so adding a derived feature costs nothing
at scan time. Each feature carries the reason it exists, for the plan.

Windows (default 7, 30, 90, 180 days): a week catches sudden change, 30 days is one
billing month, 90 days is a quarter that steadies rare events (tickets, failures), 180 days
is the entity's normal level. Trends compare a window with the one before it, which needs
twice its length of history, so only windows at most half the longest get a trend. Durations
(tenure, days since an event) are marked as such: the plan gives linear models bends in
them (planning.decide).
"""

from __future__ import annotations

from dataclasses import dataclass

from kpiml.snapshots.events import EventKind

MAX_RATIO_KINDS = 5  # derived ratios between the most frequent kinds only (k*(k-1)/2 columns)


@dataclass(frozen=True)
class Feature:
    """One output column: its name, the SQL that computes it, and why it is there."""

    name: str
    sql: str
    reason: str
    #: A duration (days since signup or since an event): its effect tends to change most in
    #: the first weeks, so the plan lets linear models bend it; trees need nothing.
    duration: bool = False


def trend_windows(windows: list[int]) -> list[int]:
    """Windows short enough that the window before them is inside the longest one."""
    return [w for w in windows if 2 * w <= max(windows)]


def count_windows(windows: list[int]) -> list[int]:
    """Windows whose counts are aggregated: the feature windows and the trend spans (2w)."""
    return sorted(set(windows) | {2 * w for w in trend_windows(windows)})


def lookback_days(windows: list[int]) -> int:
    """Days of events each cutoff's scan reads (the longest counted window)."""
    return max(count_windows(windows))


def share_window(windows: list[int]) -> int:
    """Window for shares and ratios: 90 days when offered (a quarter), else the longest."""
    return 90 if 90 in windows else max(windows)


def window_aggregates(kinds: list[EventKind], windows: list[int]) -> list[str]:
    """Conditional aggregates over `age` (days before the cutoff, 1 = the day before).

    `count_if` and `sum(CASE ...)` rather than `FILTER (WHERE ...)`: measured here, DuckDB
    runs 32 FILTER aggregates about three times slower than the same conditional sums.
    """
    aggs = []
    for kind in kinds:
        for w in count_windows(windows):
            aggs.append(f"count_if(tk = {kind.key} AND age <= {w}) AS n_{kind.key}_{w}")
        if kind.has_value:
            for w in windows:
                aggs.append(f"sum(CASE WHEN tk = {kind.key} AND age <= {w} THEN val END) AS s_{kind.key}_{w}")
    return aggs


def history_aggregates(kinds: list[EventKind]) -> list[str]:
    """Per-segment aggregates kept for all-time recency and the first event day."""
    aggs = ["min(day) AS first_day", "max(day) AS last_day"]
    aggs += [f"max(CASE WHEN tk = {k.key} THEN day END) AS last_{k.key}" for k in kinds]
    return aggs


def features(kinds: list[EventKind], windows: list[int], has_signup: bool) -> list[Feature]:
    """All output features in column order, as SQL over `w` (window), `h` (history), `b` (base)."""
    out: list[Feature] = []
    for kind in kinds:
        out += _kind_features(kind, windows)
    out += _total_features(kinds, windows)
    out += _ratio_features(kinds, windows)
    tenure = "(epoch(b.cutoff) - epoch(b.start_ts)) / 86400.0" if has_signup else "CAST(b.cd - h.first_day AS DOUBLE)"
    out.append(Feature("tenure_days", tenure, "days since signup (or first event): new entities leave more often than settled ones", duration=True))
    return _unique(out)


def _unique(out: list[Feature]) -> list[Feature]:
    """Rename an all-kinds column that collides with a kind's own (a kind called 'events')."""
    seen: set[str] = set()
    unique = []
    for feature in out:
        name = feature.name if feature.name not in seen else f"all_{feature.name}"
        seen.add(name)
        unique.append(Feature(name, feature.sql, feature.reason, feature.duration))
    return unique


def _n(kind: EventKind, w: int) -> str:
    return f"coalesce(w.n_{kind.key}_{w}, 0)"


def _kind_features(kind: EventKind, windows: list[int]) -> list[Feature]:
    """Counts, sums, means, recency, trend and share of one event kind."""
    k = kind.name
    out = [Feature(f"{k}_count_{w}d", f"CAST({_n(kind, w)} AS INTEGER)", f"how often '{k}' happened in the last {w} days: the level of this behaviour") for w in windows]
    if kind.has_value:
        for w in windows:
            total = f"coalesce(w.s_{kind.key}_{w}, 0)"
            out.append(Feature(f"{k}_sum_{w}d", total, f"total value of '{k}' in the last {w} days (money or volume at stake)"))
            out.append(Feature(f"{k}_mean_{w}d", f"{total} / nullif({_n(kind, w)}, 0)", f"typical value of one '{k}' in the last {w} days; empty without events"))
    out.append(Feature(f"{k}_days_since_last", f"b.cd - h.last_{kind.key}", f"days since the last '{k}' (all history): lapsing entities stop acting before they leave; empty if never", duration=True))
    for w in trend_windows(windows):
        prev = f"({_n(kind, 2 * w)} - {_n(kind, w)})"
        out.append(Feature(f"{k}_trend_{w}d", f"ln(CAST({_n(kind, w)} + 1 AS DOUBLE) / ({prev} + 1))", f"log ratio of '{k}' in the last {w} days to the {w} days before: a falling trend flags disengagement before the level is low"))
    return out


def _total_features(kinds: list[EventKind], windows: list[int]) -> list[Feature]:
    """All-kind activity counts, overall recency and per-kind shares of activity."""
    out = []
    for w in windows if len(kinds) > 1 else []:  # one kind: its own counts say it all
        total = " + ".join(_n(k, w) for k in kinds)
        out.append(Feature(f"events_count_{w}d", f"CAST({total} AS INTEGER)", f"all events in the last {w} days: overall activity"))
    out.append(Feature("days_since_last_event", "b.cd - h.last_day", "days since any event: the plainest sign of lapsing; empty if never", duration=True))
    sw = share_window(windows)
    total = " + ".join(_n(k, sw) for k in kinds)
    if len(kinds) > 1:
        for kind in kinds:
            out.append(Feature(f"{kind.name}_share_{sw}d", f"{_n(kind, sw)} / nullif({total}, 0)", f"share of '{kind.name}' among all events in {sw} days: the mix of behaviour, independent of volume"))
    return out


def _ratio_features(kinds: list[EventKind], windows: list[int]) -> list[Feature]:
    """Rarer kind per more frequent kind (e.g. tickets per login) among the top kinds."""
    sw = share_window(windows)
    top = kinds[:MAX_RATIO_KINDS]  # kinds arrive sorted by volume, most frequent first
    out = []
    for i, common in enumerate(top):
        for rare in top[i + 1 :]:
            out.append(
                Feature(
                    f"{rare.name}_per_{common.name}_{sw}d",
                    f"{_n(rare, sw)} / nullif({_n(common, sw)}, 0)",
                    f"'{rare.name}' per '{common.name}' in {sw} days: problems relative to use separate heavy users from troubled ones",
                )
            )
    return out
