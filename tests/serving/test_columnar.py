"""Tests of the columnar request check: it accepts only what pydantic accepts, with the same values."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from kpiml.serving.columnar import ColumnCheck, FastRows, field_lists
from kpiml.serving.schema import row_model

CONTRACT: dict[str, Any] = {
    "features": [
        {"name": "tenure", "kind": "numeric", "missing_in_training": False, "min": 0.0, "max": 72.0},
        {"name": "charges", "kind": "numeric", "missing_in_training": True, "min": 18.0, "max": 120.0},
        {"name": "plan", "kind": "categorical", "missing_in_training": True, "categories": ["basic", "pro", "3"], "categories_complete": True},
        {"name": "region", "kind": "categorical", "missing_in_training": False, "categories": ["north", "south"], "categories_complete": False},
        {"name": "paperless", "kind": "boolean", "missing_in_training": False},
        {"name": "note", "kind": "text", "missing_in_training": True},
        {"name": "amount", "kind": "numeric", "missing_in_training": True, "min": 0.0, "max": 500.0},
    ],
    "identifiers": ["customer_id"],
}
# per column: values pydantic accepts, then values it may refuse (the check must never pass them)
POOL: dict[str, list[Any]] = {
    "tenure": [0, 12, 72, 12.5, 108.0, -36.0, 108.5, -40, True, False, None, "12", 1e400, 10**400, [1]],
    "charges": [18.0, 50, 119.99, None, 180.0, 500.0, "x", True, 1e400],
    "plan": ["basic", "pro", "3", 3, None, "Pro", 4, True, 3.0, "", 1],
    "region": ["north", "west", "", 5, None, True],
    "paperless": [True, False, 0, 1, "Yes", "no", "T", 2, 1.0, None, "maybe", "YES"],
    "note": ["hi", "", None, 3, True],
    "amount": [0.0, 250, 499.5, 600.0, None, -1, False],
    "customer_id": ["C1", 7, "C2", None, True, 1.5, "MISSING"],
}


def _row(rng: random.Random, bad: float) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, values in POOL.items():
        pick = rng.choice(values if rng.random() < bad else values[:3])
        if pick != "MISSING" or rng.random() < bad:
            row[name] = pick
    if rng.random() < bad / 10:
        del row[rng.choice(list(row))]
    return row


def _fields(rows: Any, model: Any) -> dict[str, list[Any]]:
    return field_lists([rows], list(model.model_fields))[0]


def _typed(fields: dict[str, list[Any]]) -> dict[str, list[tuple[type, Any]]]:
    return {f: [(type(v), v) for v in values] for f, values in fields.items()}


@pytest.mark.parametrize(("unseen", "ids_required", "value_column"), [("reject", False, None), ("accept", True, "amount"), ("reject", False, "spend")])
def test_columnar_check_accepts_only_what_pydantic_accepts_with_the_same_values(unseen: str, ids_required: bool, value_column: str | None) -> None:
    """Check that on random requests (valid, and with invalid, missing or oddly typed values)
    every request the columnar check passes is accepted by pydantic with identical values and
    types, and that it passes most all-valid requests (else it would save nothing)."""
    pool = {**POOL, "spend": [10.0, 20, 3.5, None, "1", True]}
    model = row_model(CONTRACT, tolerance=0.5, unseen=unseen, ids_required=ids_required, value_column=value_column)
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
    check = ColumnCheck(CONTRACT, tolerance=0.5, unseen=unseen, ids_required=ids_required, value_column=value_column)
    rng = random.Random(7)
    passed_valid = valid = 0
    for trial in range(600):
        bad = 0.0 if trial % 3 == 0 else rng.choice([0.02, 0.1, 0.5])
        rows = [_row(rng, bad) | ({"spend": rng.choice(pool["spend"] if bad else pool["spend"][:3])} if value_column == "spend" else {}) for _ in range(rng.randint(1, 40))]
        fast = check(rows)
        try:
            slow = adapter.validate_python(rows)
        except ValidationError:
            assert fast is None, rows
            continue
        valid += 1
        if fast is not None:
            passed_valid += 1
            assert isinstance(fast, FastRows) and len(fast) == len(rows)
            assert _typed(_fields(fast, model)) == _typed(_fields(slow, model))
    assert valid > 100 and passed_valid > 0.8 * valid


def test_a_date_column_leaves_checking_to_pydantic() -> None:
    """Check that a contract with a date feature is not checked column-wise (ISO parsing is pydantic's)."""
    features: list[Any] = list(CONTRACT["features"])
    contract = {"features": [*features, {"name": "signup", "kind": "datetime", "missing_in_training": False}], "identifiers": []}
    assert not ColumnCheck(contract, tolerance=0.5, unseen="reject", ids_required=False).usable


def test_a_batch_of_many_requests_keeps_every_row_in_order() -> None:
    """Check that a micro-batch mixing one-row requests (pydantic rows) and a big columnar
    request reads every field of every row in request order."""
    model = row_model(CONTRACT, tolerance=0.5, unseen="reject", ids_required=False)
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
    check = ColumnCheck(CONTRACT, tolerance=0.5, unseen="reject", ids_required=False)
    rng = random.Random(3)
    requests = [[_row(rng, 0.0) for _ in range(size)] for size in (1, 1, 5, 1, 3, 1)]
    parts = [check(rows) if i == 2 else adapter.validate_python(rows) for i, rows in enumerate(requests)]
    assert isinstance(parts[2], FastRows)
    names = list(model.model_fields)
    fields, n = field_lists(parts, names)
    one_by_one = [field_lists([[row]], names)[0] for rows in requests for row in adapter.validate_python(rows)]
    assert n == 12 and _typed(fields) == _typed({f: [r[f][0] for r in one_by_one] for f in names})
