"""Label definitions: when an entity churns, and which entities are in each snapshot.

Both kinds reduce to one churn time per entity (`churn(eid, churn_ts)`):

* a terminal event (`--label-event cancel`): the first such event;
* inactivity (`--label-inactive-days N`): the first moment N days pass without any event
  (signup counts as activity), i.e. the earliest ``t + N`` over events t whose next event
  comes later than ``t + N`` (or never). Nothing is known before the first event in the
  data, so an entity that signed up earlier counts as active at that moment instead: a
  silence before the data starts is not a churn.

An entity is in the snapshot at cutoff c when it started before c and has not churned by c
(churned entities never come back). Its label is 1 when the churn time falls in
(c, c + horizon], 0 otherwise, and empty when the horizon reaches past the last event,
because a 0 there would only mean "not seen yet".
"""

from __future__ import annotations

import duckdb

from kpiml.errors import KpimlError
from kpiml.snapshots.options import LabelDefinition


def build_churn(con: duckdb.DuckDBPyConnection, label: LabelDefinition) -> None:
    """Create `churn(eid, churn_ts)` from `label_ev` (terminal event) or `act` (inactivity)."""
    if label.event is not None:
        con.execute("CREATE TABLE churn AS SELECT eid, min(ts) AS churn_ts FROM label_ev GROUP BY eid")
        return
    con.execute(
        """
        CREATE TABLE churn AS
        WITH a AS (
            SELECT eid, ts FROM act
            UNION ALL SELECT eid, greatest(signup_ts, (SELECT min(ts) FROM act)) FROM ent WHERE signup_ts IS NOT NULL
        ), g AS (
            SELECT eid, ts, lead(ts) OVER (PARTITION BY eid ORDER BY ts) AS nxt FROM a
        )
        SELECT eid, min(ts + to_days($n)) AS churn_ts
        FROM g WHERE nxt IS NULL OR nxt > ts + to_days($n) GROUP BY eid
        """,
        {"n": label.inactive_days},
    )


def build_base(con: duckdb.DuckDBPyConnection, horizon_days: int, last_day: int) -> int:
    """Create `base(eid, k, cutoff, cd, start_ts, label)`: one row per active (entity, cutoff).

    Returns the number of rows, and refuses an empty population: a table without rows
    would only fail later, far from the cause.
    """
    con.execute(
        """
        CREATE TABLE base AS
        SELECT e.eid, c.k, c.cutoff, c.cd, e.start_ts,
               CAST(CASE WHEN c.cd + $h > $last THEN NULL
                         WHEN ch.churn_ts <= c.cutoff + to_days($h) THEN 1 ELSE 0 END AS TINYINT) AS label
        FROM ent e JOIN cutoffs c ON e.start_ts < c.cutoff
        LEFT JOIN churn ch ON ch.eid = e.eid
        WHERE ch.churn_ts IS NULL OR ch.churn_ts > c.cutoff
        """,
        {"h": horizon_days, "last": last_day},
    )
    rows = con.execute("SELECT count(*) FROM base").fetchone()
    count = int(rows[0]) if rows else 0
    if count == 0:
        span = con.execute("SELECT min(start_ts), max(start_ts), (SELECT count(*) FROM churn) FROM ent").fetchone()
        first, last, churned = span if span else (None, None, 0)
        cutoffs = [str(r[0].date()) for r in con.execute("SELECT cutoff FROM cutoffs ORDER BY k").fetchall()]
        raise KpimlError(
            "No entity is active at any cutoff",
            expected="entities that started (signup or first event) before a cutoff and had not churned by it",
            got=f"entities starting {first} to {last}, {churned} churned; cutoffs {', '.join(cutoffs[:6])}",
            fix="choose cutoffs inside the period the entities were active, and check --entity-time and the label definition",
        )
    return count
