"""Tests of the request schema built from an input contract."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from kpiml.serving.schema import feature_type, numeric_bounds, row_model

NUMERIC = {"name": "tenure", "kind": "numeric", "missing_in_training": False, "min": 0.0, "max": 72.0}
CATEGORY = {"name": "plan", "kind": "categorical", "missing_in_training": True, "categories": ["basic", "pro", "3"], "categories_complete": True}
CONTRACT = {"features": [NUMERIC, CATEGORY, {"name": "model_config", "kind": "boolean", "missing_in_training": False}], "identifiers": ["id"]}


@pytest.mark.parametrize(
    ("entry", "value", "ok"),
    [
        (NUMERIC, 12, True),
        (NUMERIC, 12.5, True),
        (NUMERIC, "12", False),
        (NUMERIC, True, False),
        (NUMERIC, None, False),
        (NUMERIC, 108.0, True),
        (NUMERIC, 108.5, False),
        (NUMERIC, -36.5, False),
        (NUMERIC, float("inf"), False),
        (CATEGORY, "pro", True),
        (CATEGORY, "Pro", False),
        (CATEGORY, None, True),
        (CATEGORY, 3, True),
        (CATEGORY, "3", True),
        (CATEGORY, 4, False),
        ({"kind": "boolean"}, "Yes", True),
        ({"kind": "boolean"}, 0, True),
        ({"kind": "boolean"}, 2, False),
        ({"kind": "boolean"}, "maybe", False),
        ({"kind": "datetime"}, "2024-05-31", True),
        ({"kind": "datetime"}, "2024-05-31T10:00:00+02:00", True),
        ({"kind": "datetime"}, 1717000000, False),
        ({"kind": "datetime"}, "0622-01-01T00:00:00", False),
        ({"kind": "text"}, "free words", True),
    ],
)
def test_feature_types_check_json_types_categories_and_ranges(entry: dict[str, Any], value: Any, ok: bool) -> None:
    """Check each feature kind's accepted and refused values (tolerance 0.5 of the range)."""
    adapter = TypeAdapter(feature_type(entry, 0.5, "reject"))
    if ok:
        adapter.validate_python(value)
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_range_check_can_be_turned_off_and_unseen_categories_accepted() -> None:
    """Check that tolerance None drops the bounds and 'accept' lets new categories through."""
    assert numeric_bounds(NUMERIC, None) == (None, None)
    assert numeric_bounds({**NUMERIC, "min": 5.0, "max": 5.0}, 1.0) == (0.0, 10.0)
    TypeAdapter(feature_type(NUMERIC, None, "reject")).validate_python(1e9)
    TypeAdapter(feature_type(CATEGORY, 0.5, "accept")).validate_python("platinum")


def test_row_model_requires_every_feature_under_its_column_name() -> None:
    """Check required fields by column name (even names pydantic reserves), optional identifiers,
    required identifiers with a control group, and the value column as an extra field."""
    model = row_model(CONTRACT, tolerance=0.5, unseen="reject", ids_required=False)
    row = model.model_validate({"tenure": 3, "plan": None, "model_config": True})
    assert row.__dict__["id0"] is None
    with pytest.raises(ValidationError, match="tenure"):
        model.model_validate({"plan": "pro", "model_config": 1})
    strict = row_model(CONTRACT, tolerance=0.5, unseen="reject", ids_required=True, value_column="clv")
    with pytest.raises(ValidationError) as info:
        strict.model_validate({"tenure": 3, "plan": "pro", "model_config": 0})
    assert {e["loc"][0] for e in info.value.errors()} == {"id", "clv"}
    schema = strict.model_json_schema(by_alias=True)
    assert set(schema["required"]) == {"tenure", "plan", "model_config", "id", "clv"}
