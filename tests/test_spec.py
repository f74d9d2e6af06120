"""The spec is the single source of truth: it round-trips through YAML and refuses bad edits clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kpiml.errors import KpimlError
from kpiml.spec import load_spec, spec_from_dict, spec_to_yaml


def minimal() -> dict:
    return {
        "project": {"name": "p"},
        "data": {"source": "x.csv", "rows": 10, "columns": 2, "fingerprint": "abc"},
        "target": {"column": "y", "problem": "binary", "positive": "1"},
        "columns": [{"name": "a", "role": "numeric", "use": "feature"}, {"name": "y", "role": "categorical", "use": "target"}],
        "kpi": {"name": "churn"},
        "split": {"strategy": "stratified", "holdout": 0.2, "folds": 5},
        "models": {"candidates": [{"name": "logistic"}], "search": {"budget_seconds": 60}},
        "metrics": {"primary": "roc_auc"},
        "deployment": {},
        "monitoring": {},
    }


def test_spec_round_trips_through_yaml(tmp_path: Path) -> None:
    """Check that a spec written to YAML loads back identical."""
    spec = spec_from_dict(minimal())
    path = tmp_path / "kpiml.yaml"
    path.write_text(spec_to_yaml(spec))
    assert load_spec(path) == spec


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.update(colums=[]), r"colums: unknown key"),
        (lambda r: r["target"].update(problem="ranking"), r"target\.problem: Input should be 'binary', 'multiclass' or 'regression'"),
        (lambda r: r["target"].update(positive=None), r"target\.positive must be set"),
        (lambda r: r["split"].update(strategy="grouped"), r"strategy 'grouped' needs group_column"),
        (lambda r: r["split"].update(strategy="time", time_column="when"), r"split\.time_column names 'when', which is not in columns"),
        (lambda r: r["kpi"].update(capacity={"share": 0.2, "count": 100}), r"set only one of share, count or budget"),
        (lambda r: r["models"]["candidates"].append({"name": "tabpfn"}), r"models\.candidates\.1\.name: Input should be 'logistic', 'linear'"),
        (lambda r: r["columns"][1].update(hinges=[30]), r"hinges bend a number; column 'y' has role 'categorical': remove its hinges"),
        (lambda r: r["columns"][0].update(hinges=[30, float("inf")]), r"hinges of column 'a' must be finite numbers"),
        (lambda r: r["columns"][0].update(hinges=[30], outliers="log1p"), r"column 'a': hinges are in the column's own units and log1p changes them"),
    ],
)
def test_spec_errors_name_the_key_and_allowed_values(edit, message: str) -> None:
    """Check that an invalid spec is refused with the key path and what is allowed."""
    raw = minimal()
    edit(raw)
    with pytest.raises(KpimlError, match=message):
        spec_from_dict(raw)


def test_spec_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """Check that a YAML syntax error points at its line."""
    path = tmp_path / "kpiml.yaml"
    path.write_text(yaml.safe_dump(minimal()) + "split: [unclosed\n")
    with pytest.raises(KpimlError, match=r"not valid YAML at line \d+"):
        load_spec(path)
