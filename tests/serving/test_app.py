"""Tests of the live service: a real `kpiml serve` process on loopback, every endpoint and refusal."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from kpiml.monitoring.control import control_among_actions
from kpiml.serving import read_decision_log

from .conftest import Server, request_rows

pytestmark = pytest.mark.slow


def _post(server: Server, body: Any, key: str | None, **kw: Any) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    headers.update(kw.pop("headers", {}))
    if isinstance(body, bytes | str):
        return httpx.post(f"{server.url}/predict", content=body, headers={"Content-Type": "application/json", **headers}, timeout=30, **kw)
    return httpx.post(f"{server.url}/predict", json=body, headers=headers, timeout=30, **kw)


def test_one_row_gets_score_decision_value_reasons_and_version(server: Server, api_key: str) -> None:
    """Check that a single row is answered with every promised field and echoes its request id."""
    row = request_rows(1)[0]
    res = _post(server, row, api_key, headers={"X-Request-ID": "req-one-1"})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["request_id"] == "req-one-1" == res.headers["x-request-id"]
    (pred,) = body["predictions"]
    assert set(pred) >= {"score", "decision", "expected_value", "reasons", "model_version", "control", "identifiers"}
    assert 0.0 <= pred["score"] <= 1.0 and pred["decision"] in (0, 1)
    assert pred["identifiers"] == {"customer_id": row["customer_id"]}
    assert pred["model_version"] == body["model_version"] == httpx.get(f"{server.url}/health").json()["model_version"]


def test_a_list_of_rows_is_answered_in_order(server: Server, api_key: str) -> None:
    """Check that a list of rows gets one prediction per row, in the order sent."""
    rows = request_rows(25, seed=2)
    preds = _post(server, rows, api_key).json()["predictions"]
    assert [p["row"] for p in preds] == list(range(25))
    assert [p["identifiers"]["customer_id"] for p in preds] == [r["customer_id"] for r in rows]


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/predict", {}),
        ("POST", "/predict", {"X-API-Key": "wrong-key-wrong-key-wrong"}),
        ("POST", "/predict", {"Authorization": "Bearer wrong-key-wrong-key"}),
        ("GET", "/model", {}),
        ("GET", "/metrics", {"X-API-Key": ""}),
    ],
)
def test_missing_or_wrong_api_key_gets_401(server: Server, method: str, path: str, headers: dict[str, str]) -> None:
    """Check that guarded endpoints refuse a missing or wrong key with 401 and a JSON reason."""
    res = httpx.request(method, f"{server.url}{path}", headers=headers, json=request_rows(1)[0] if method == "POST" else None)
    assert res.status_code == 401 and "API key" in res.json()["detail"]


def test_bearer_token_and_open_health(server: Server, api_key: str) -> None:
    """Check that the key also works as a bearer token and /health needs none."""
    assert _post(server, request_rows(1)[0], None, headers={"Authorization": f"Bearer {api_key}"}).status_code == 200
    assert httpx.get(f"{server.url}/health").status_code == 200


def _without(name: str) -> Any:
    return lambda row: {k: v for k, v in row.items() if k != name}


def _with(name: str, value: Any) -> Any:
    return lambda row: {**row, name: value}


@pytest.mark.parametrize(
    ("damage", "loc", "kind"),
    [
        (_without("tenure"), ["body", "tenure"], "missing"),
        (_with("tenure", "twelve"), ["body", "tenure"], "float_type"),
        (_with("tenure", "12"), ["body", "tenure"], "float_type"),
        (_with("tenure", None), ["body", "tenure"], "float_type"),
        (_with("tenure", 5000), ["body", "tenure"], "less_than_equal"),
        (_with("plan", "platinum"), ["body", "plan"], "literal_error"),
        (_with("paperless", "maybe"), ["body", "paperless"], "literal_error"),
        (_with("signup", "next tuesday"), ["body", "signup"], "datetime_from_date_parsing"),
        (_with("signup", 1700000000), ["body", "signup"], "value_error"),
        (_without("customer_id"), ["body", "customer_id"], "missing"),
    ],
)
def test_bad_fields_get_422_naming_the_field(server: Server, api_key: str, damage: Any, loc: list[Any], kind: str) -> None:
    """Check that each kind of bad field is refused with a 422 whose loc names the column."""
    res = _post(server, damage(request_rows(1)[0]), api_key)
    assert res.status_code == 422, res.text
    items = res.json()["detail"]
    assert any(i["loc"] == loc and i["type"] == kind for i in items), items


def test_bad_field_in_a_list_names_its_row(server: Server, api_key: str) -> None:
    """Check that an error inside a list says which row and which column."""
    rows = request_rows(5)
    rows[3]["plan"] = "gold"
    items = _post(server, rows, api_key).json()["detail"]
    assert items[0]["loc"] == ["body", 3, "plan"]


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"{not json", "json_invalid"), (b"42", "model_type"), (b"[]", "too_short"), (b'{"tenure": NaN}', "json_invalid")],
)
def test_malformed_bodies_get_422(server: Server, api_key: str, body: bytes, kind: str) -> None:
    """Check that non-JSON (NaN included), non-object and empty bodies are refused with a 422."""
    res = _post(server, body, api_key)
    assert res.status_code == 422 and res.json()["detail"][0]["type"] == kind


def test_null_is_accepted_where_training_saw_missing_values(server: Server, api_key: str) -> None:
    """Check that monthly_charges (missing in training) takes null, and a value beyond the
    training range but within the tolerance is scored with a note."""
    row = {**request_rows(1)[0], "monthly_charges": None}
    assert _post(server, row, api_key).status_code == 200
    pred = _post(server, {**row, "tenure": 80}, api_key).json()["predictions"][0]
    assert any("tenure=80 is outside the training range" in n for n in pred["notes"])


def test_body_and_row_limits_give_413(server: Server, api_key: str) -> None:
    """Check 413 above the row limit, above the byte limit, and for a chunked body that grows past it."""
    row = request_rows(1)[0]
    assert _post(server, [row] * 10_001, api_key).status_code == 413
    assert _post(server, b" " * (9 * 1024 * 1024) + b"{}", api_key).status_code == 413

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * (1024 * 1024)

    res = httpx.post(f"{server.url}/predict", content=chunks(), headers={"X-API-Key": api_key, "Content-Type": "application/json"}, timeout=30)
    assert res.status_code == 413


def test_ten_thousand_rows_in_one_request(server: Server, api_key: str) -> None:
    """Check that a 10,000-row request is answered whole (its latency is measured by make bench)."""
    res = _post(server, request_rows(10_000, seed=7), api_key)
    assert res.status_code == 200 and len(res.json()["predictions"]) == 10_000


def test_control_group_is_the_hashed_share_of_would_act_rows(server: Server, api_key: str) -> None:
    """Check that control rows are exactly the identifier-hash share among rows the model would
    act on, that they get decision 0, and that the same rows are control again on a re-send."""
    rows = request_rows(400, seed=3)
    preds = _post(server, rows, api_key).json()["predictions"]
    point = httpx.get(f"{server.url}/model", headers={"X-API-Key": api_key}).json()["operating_point"]
    score = np.array([p["score"] for p in preds])
    act = score >= point["threshold"]
    control = np.array([p["control"] for p in preds])
    expected = control_among_actions([r["customer_id"] for r in rows], act, 0.3)
    assert (control == expected).all() and control.any()
    assert all(p["decision"] == (0 if c else int(a)) for p, c, a in zip(preds, control, act, strict=True))
    again = _post(server, rows, api_key).json()["predictions"]
    assert [p["control"] for p in again] == control.tolist()


def test_every_answered_row_is_in_the_decision_log(server: Server, api_key: str) -> None:
    """Check that the log holds each answered row with its inputs, fingerprint and outcome."""
    rows = request_rows(12, seed=4)
    body = _post(server, rows, api_key, headers={"X-Request-ID": "log-check-1"}).json()
    log = read_decision_log(server.log_dir)
    mine = log[log["request_id"] == "log-check-1"].sort_values("row")
    assert len(mine) == 12
    assert mine["score"].tolist() == [p["score"] for p in body["predictions"]]
    assert mine["control"].tolist() == [p["control"] for p in body["predictions"]]
    assert mine["customer_id"].tolist() == [r["customer_id"] for r in rows]
    assert mine["plan"].tolist() == [r["plan"] for r in rows] and mine["fingerprint"].str.len().eq(16).all()
    assert (mine["model_version"] == body["model_version"]).all()


def test_model_endpoint_describes_the_bundle(server: Server, api_key: str, bundle: Path) -> None:
    """Check that /model gives version, KPI, operating point, training metrics and the contract."""
    info = httpx.get(f"{server.url}/model", headers={"X-API-Key": api_key}).json()
    assert info["input_contract"] == json.loads((bundle / "contract.json").read_text())
    assert info["training_metrics"] == json.loads((bundle / "metadata.json").read_text())["metrics"]
    assert info["kpi"]["name"] and info["operating_point"]["kind"] == "threshold" and info["holdout"] == 0.3
    assert "act (decision 1)" in info["decision_rule"]


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}{re.escape('{' + want + '}') if want else ''} (\S+)$"
    found = re.search(pattern, text, flags=re.M)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_requests_latencies_decisions_and_errors(server: Server, api_key: str) -> None:
    """Check the Prometheus text: request counters, latency histogram, decisions and errors."""
    _post(server, request_rows(3, seed=5), api_key)
    _post(server, {}, None)
    text = httpx.get(f"{server.url}/metrics", headers={"X-API-Key": api_key}).text
    assert "# TYPE kpiml_http_request_duration_seconds histogram" in text
    assert _metric(text, "kpiml_http_requests_total", endpoint="/predict", status="200") >= 1
    assert _metric(text, "kpiml_http_request_duration_seconds_count", endpoint="/predict") >= 2
    assert _metric(text, "kpiml_errors_total", kind="unauthorized") >= 1
    assert _metric(text, "kpiml_decisions_total", decision="0") + _metric(text, "kpiml_decisions_total", decision="1") >= 3
    assert _metric(text, "kpiml_predicted_rows_total") >= 3


def test_docs_and_openapi_show_the_contract_schema(server: Server) -> None:
    """Check /docs and that /openapi.json carries the row schema built from the contract."""
    assert "swagger" in httpx.get(f"{server.url}/docs").text.lower()
    spec = httpx.get(f"{server.url}/openapi.json").json()
    row = spec["components"]["schemas"]["Row"]
    assert row["properties"]["plan"]["enum"] == ["basic", "plus", "pro"]
    assert {"type": "null"} in row["properties"]["monthly_charges"]["anyOf"]
    assert set(row["required"]) >= {"tenure", "plan", "monthly_charges", "paperless", "signup", "customer_id"}
    assert spec["paths"]["/predict"]["post"]["security"] == [{"ApiKey": []}]


def test_unknown_routes_and_methods_answer_json_without_traces(server: Server) -> None:
    """Check that 404 and 405 answers are short JSON messages."""
    for res in (httpx.get(f"{server.url}/nope"), httpx.get(f"{server.url}/predict")):
        assert res.status_code in (404, 405) and "detail" in res.json() and "Traceback" not in res.text


def test_the_api_key_never_reaches_logs(server: Server, api_key: str) -> None:
    """Check that neither the server output nor the decision log contains the key."""
    _post(server, request_rows(1)[0], api_key)
    _post(server, request_rows(1)[0], api_key + "x")
    assert api_key not in server.text()
    assert all(api_key not in p.read_text(errors="replace") for p in server.log_dir.iterdir())
