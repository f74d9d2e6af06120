"""Tests of kpiml.monitoring.decisions, kpiml.monitoring.retrain and predict's control writer (fast, no training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpiml.errors import KpimlError
from kpiml.monitoring.challenger import compare_challenger
from kpiml.monitoring.control import control_among_actions
from kpiml.monitoring.decisions import decisions_frame, flags
from kpiml.monitoring.retrain import RetrainRecord, append_history, read_history, recent_window


@pytest.mark.parametrize(("values", "expected"), [
    (pd.Series([True, False, None], dtype="boolean"), [True, False, False]),
    (pd.Series([1, 0, 1]), [True, False, True]),
    (pd.Series(["True", "false", None]), [True, False, False]),
    (pd.Series(["yes", "no", "1"]), [True, False, True]),
])
def test_flags_read_every_spelling(values: pd.Series, expected: list[bool]) -> None:
    """Check that control flags from a predict CSV (0/1) or a decision log (booleans, words) read alike."""
    assert flags(values).tolist() == expected


def test_decisions_frame_counts_control_as_would_act_and_keeps_latest() -> None:
    """Check that control rows count as would-act, and that a customer scored twice keeps the later decision."""
    log = pd.DataFrame({"id": ["a", "b", "c", "a"], "score": [0.9, 0.8, 0.1, 0.2], "decision": [1, 0, 0, 0],
                        "control": [False, True, False, False], "time": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01", "2024-02-01"])})
    out, dropped = decisions_frame(log, "id", "log")
    assert dropped == 1
    got = out.set_index("id")
    assert got.loc["a", "score"] == 0.2 and not got.loc["a", "act"]
    assert got.loc["b", "act"] and got.loc["b", "control"] and not got.loc["c", "act"]


def test_decisions_frame_names_missing_columns() -> None:
    """Check that a file without score or decision is refused, naming the columns and the expected sources."""
    with pytest.raises(KpimlError, match=r"lack the column\(s\) 'score', 'decision'.*kpiml predict"):
        decisions_frame(pd.DataFrame({"id": [1]}), "id", "x.csv")


def test_predict_control_matches_serve_rule(tmp_path: Path) -> None:
    """Check that predict's control writer holds out exactly serve's rows (same hash, salt and
    would-act restriction) and sets their decision to 0."""
    from kpiml.predicting import _ControlWriter, _Writer

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"cid": [f"C{i:05d}" for i in range(5000)], "score": rng.random(5000)})
    frame["decision"] = (frame["score"] > 0.5).astype(int)
    writer = _ControlWriter(_Writer(tmp_path / "o.csv", "csv"), "cid", 0.1, "kpiml-control")
    writer.write(frame.iloc[:2000])
    writer.write(frame.iloc[2000:])
    writer.close()
    out = pd.read_csv(tmp_path / "o.csv")
    expected = control_among_actions(frame["cid"], frame["decision"].to_numpy() == 1, 0.1, "kpiml-control")
    np.testing.assert_array_equal(out["control"].to_numpy() == 1, expected)
    assert (out.loc[out["control"] == 1, "decision"] == 0).all() and writer.held == int(expected.sum())
    assert 0.07 < writer.held / writer.acted < 0.13


def test_recent_window_by_time_column_and_by_file_order() -> None:
    """Check that the window is the latest rows by the time column when there is one, else the last rows."""
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=1000, freq="D")[::-1], "x": range(1000)})
    older, recent, how = recent_window(frame, 0.2, "t")
    assert len(recent) == 200 and recent["t"].min() > older["t"].max() and "'t'" in how
    older, recent, _ = recent_window(frame, 0.2, None)
    assert recent["x"].tolist() == list(range(800, 1000)) and len(older) == 800


def test_recent_window_refuses_too_few_rows() -> None:
    """Check that a window under 100 rows is refused with the fix."""
    with pytest.raises(KpimlError, match="too few for a comparison window"):
        recent_window(pd.DataFrame({"x": range(300)}), 0.2, None)


def test_history_appends_records(tmp_path: Path) -> None:
    """Check that the retrain history keeps every decision in order, readable back."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    cmp = compare_challenger(y, rng.random(300), rng.random(300), lambda a, b: float(np.mean((b > 0.5) == a)), n_boot=100)
    for promoted in (True, False):
        append_history(tmp_path, RetrainRecord(data="d.csv", champion="a", challenger="b", train_rows=1, window="w",
                                               comparison=cmp, promoted=promoted, champion_after="b" if promoted else "a"))
    assert [r.promoted for r in read_history(tmp_path)] == [True, False]


def test_serve_decision_log_reads_as_decisions(tmp_path: Path) -> None:
    """Check that a real `kpiml serve` decision-log folder gives the same decisions frame as
    the predict output would: identifier, score, would-act and control per customer."""
    from kpiml.monitor_cli import read_decisions
    from kpiml.serving.decision_log import DecisionLogWriter, encode_rows

    rows = [("C1", 0.9, 1, False), ("C2", 0.8, 0, True), ("C3", 0.1, 0, False)]
    records = [{"request_id": "r1", "row": i, "time": "2024-05-01T10:00:00+00:00", "model_version": "v1", "score": s,
                "decision": d, "expected_value": 5.0, "control": c, "identifiers": {"customer_id": cid}}
               for i, (cid, s, d, c) in enumerate(rows)]
    writer = DecisionLogWriter(tmp_path / "log")
    writer.append(encode_rows(records, [{"tenure": 3}] * len(rows)))
    writer.close()
    out, dropped = decisions_frame(read_decisions(tmp_path / "log"), "customer_id", "log")
    got = out.set_index("customer_id")
    assert dropped == 0 and got["act"].tolist() == [True, True, False] and got["control"].tolist() == [False, True, False]
    assert got["score"].tolist() == [0.9, 0.8, 0.1]
