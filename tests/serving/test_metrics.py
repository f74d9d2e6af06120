"""Tests of the hand-written Prometheus metrics: text format, histograms, several workers."""

from __future__ import annotations

import re
from pathlib import Path

from kpiml.serving.metrics import Metrics


def test_text_format_has_help_type_and_cumulative_buckets() -> None:
    """Check HELP/TYPE lines, cumulative histogram buckets with +Inf, sum and count."""
    m = Metrics()
    for seconds in (0.002, 0.02, 0.2):
        m.observe("kpiml_http_request_duration_seconds", seconds, {"endpoint": "/predict"})
    m.inc("kpiml_http_requests_total", {"endpoint": "/predict", "status": "200"}, 3)
    text = m.render()
    assert "# TYPE kpiml_http_requests_total counter" in text and "# HELP kpiml_errors_total" in text
    assert 'kpiml_http_requests_total{endpoint="/predict",status="200"} 3' in text
    buckets = [float(v) for v in re.findall(r'duration_seconds_bucket\{endpoint="/predict",le="[^"]+"\} (\S+)', text)]
    assert buckets == sorted(buckets) and buckets[-1] == 3
    assert 'le="0.0025"} 1' in text and 'le="+Inf"} 3' in text
    assert 'kpiml_http_request_duration_seconds_count{endpoint="/predict"} 3' in text


def test_label_values_are_escaped() -> None:
    """Check that quotes, backslashes and newlines in a label cannot break the format."""
    m = Metrics()
    m.set_gauge("kpiml_model_info", 1, {"version": 'a"b\\c\nd'})
    assert 'kpiml_model_info{version="a\\"b\\\\c\\nd"} 1' in m.render()


def test_workers_share_counters_through_a_folder(tmp_path: Path) -> None:
    """Check that a scrape sums sibling workers' published counters and labels their gauges."""
    sibling = Metrics(tmp_path)
    sibling.inc("kpiml_predicted_rows_total", value=5)
    sibling.set_gauge("kpiml_model_info", 1, {"version": "v1"})
    sibling.snapshot()
    (tmp_path / "999999.json").write_text(__import__("json").dumps(sibling.snapshot()))
    me = Metrics(tmp_path)
    me.inc("kpiml_predicted_rows_total", value=2)
    me.set_gauge("kpiml_model_info", 1, {"version": "v1"})
    text = me.render()
    assert "kpiml_predicted_rows_total 7" in text
    assert 'kpiml_model_info{version="v1",worker="999999"} 1' in text


def test_workers_histograms_are_summed_bucket_by_bucket(tmp_path: Path) -> None:
    """Check that a scrape adds a sibling worker's latency histogram to its own, cumulatively."""
    sibling = Metrics(tmp_path)
    sibling.observe("kpiml_http_request_duration_seconds", 0.002, {"endpoint": "/predict"})
    sibling.observe("kpiml_http_request_duration_seconds", 30.0, {"endpoint": "/predict"})
    (tmp_path / "999999.json").write_text(__import__("json").dumps(sibling.snapshot()))
    me = Metrics(tmp_path)
    me.observe("kpiml_http_request_duration_seconds", 0.02, {"endpoint": "/predict"})
    text = me.render()
    assert 'le="0.001"} 0' in text and 'le="0.0025"} 1' in text and 'le="0.025"} 2' in text
    assert 'le="10"} 2' in text and 'le="+Inf"} 3' in text and 'duration_seconds_count{endpoint="/predict"} 3' in text
