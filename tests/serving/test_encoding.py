"""The column-wise JSON of answers and log lines equals what json.dumps / encode_rows write."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kpiml.serving.decision_log import encode_rows
from kpiml.serving.encoding import BatchText, json_texts


def _columns(n: int, seed: int) -> dict[str, list[object]]:
    rng = np.random.default_rng(seed)
    words = ["basic", "pro", "Ünïcode ✓", 'quote " and \\ slash', "%s %d", ""]
    return {
        "tenure": [None if rng.random() < 0.2 else float(x) for x in rng.normal(0, 1e6, n) * rng.choice([1e-9, 1.0, 1e12], n)],
        "plan": [None if rng.random() < 0.1 else words[i] for i in rng.integers(0, len(words), n)],
        "flag": [[True, False, 0, 1, "yes", None][i] for i in rng.integers(0, 6, n)],
        "count": [int(x) for x in rng.integers(-(2**40), 2**40, n)],
        "100% key": [float(i) for i in range(n)],
    }


def test_log_lines_and_answers_equal_json_dumps() -> None:
    """Check that the text built column by column is byte for byte what the row-wise encoders
    write: log lines as encode_rows, answers as json.dumps with compact separators."""
    n = 300
    inputs = _columns(n, 0)
    rng = np.random.default_rng(1)
    ids = {"customer_id": [f"C{i}" if i % 3 else i for i in range(n)]}
    score = rng.random(n).tolist()
    decision = rng.integers(0, 2, n).tolist()
    expected = (rng.normal(size=n) * 100).tolist()
    control = (rng.random(n) < 0.1).tolist()
    reasons = [[{"feature": "tenure", "value": 3, "effect": 0.25, "text": "tenure = 3 raised it"}] if i % 2 else [] for i in range(n)]
    notes = [["plan=\"x\" was not seen"] if i % 5 == 0 else [] for i in range(n)]
    text = BatchText(ids, score, decision, expected, control, n)
    rids = ["req-a"] * 100 + ["req-b"] * 200
    rows = [*range(100), *range(200)]
    stamp = "2026-01-01T00:00:00.000001+00:00"
    records = [{"request_id": rids[i], "row": rows[i], "time": stamp, "model_version": "v1", "score": score[i], "decision": decision[i], "expected_value": expected[i], "control": control[i], "identifiers": {"customer_id": ids["customer_id"][i]}} for i in range(n)]
    row_inputs = [{k: v[i] for k, v in inputs.items()} for i in range(n)]
    assert text.log_lines(rids, rows, stamp, "v1", inputs) == encode_rows(records, row_inputs)
    preds = [{"row": i - 100, "identifiers": {"customer_id": ids["customer_id"][i]}, "score": score[i], "decision": decision[i], "expected_value": expected[i], "control": control[i], "reasons": reasons[i], "notes": notes[i], "model_version": "v1"} for i in range(100, n)]
    want = json.dumps({"request_id": "req-b", "model_version": "v1", "predictions": preds}, separators=(",", ":"), allow_nan=False).encode()
    assert text.body("req-b", "v1", 100, n, reasons, notes) == want


def test_non_finite_numbers_are_refused_like_json_dumps() -> None:
    """Check that NaN or infinity never reaches an answer or the log as invalid JSON."""
    for values in ([0.5, float("nan")], [1, float("inf")], [None, float("-inf")]):
        with pytest.raises(ValueError, match="not JSON compliant"):
            json_texts(values)
    assert json_texts([1, None, True, "a", 2.5]) == ["1", "null", "true", '"a"', "2.5"]


def test_reasons_with_unencodable_or_non_finite_values_are_refused() -> None:
    """Check that the shared encoder of reasons refuses what json.dumps(allow_nan=False) refuses."""
    text = BatchText({}, [0.5], [1], None, [False], 1)
    with pytest.raises(ValueError, match="not JSON compliant"):
        text.body("r", "v", 0, 1, [[{"effect": float("nan")}]], [[]])
    with pytest.raises(TypeError, match="not JSON serializable"):
        text.body("r", "v", 0, 1, [[{"value": object()}]], [[]])
    assert json.loads(text.body("r", "v", 0, 1, [[{"feature": "x", "effect": -0.5}]], [["n"]]))["predictions"][0]["reasons"] == [{"feature": "x", "effect": -0.5}]
