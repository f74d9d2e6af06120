"""Prometheus metrics in the text exposition format, kept by hand (no client library needed).

Each worker process counts in memory (a lock, a dict update: cheap on the hot path). With
several uvicorn workers a scrape reaches one of them at random, so every worker publishes a
snapshot of its counters to a shared folder once a second and the one that answers a scrape
adds the others' snapshots to its own: counters and histograms are summed, gauges are shown
per worker (label `worker`).
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import threading
from pathlib import Path
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

HELP: dict[str, tuple[str, str]] = {
    "kpiml_http_requests_total": ("counter", "HTTP requests answered, by endpoint and status code."),
    "kpiml_http_request_duration_seconds": ("histogram", "Time from request start to the end of the response, by endpoint."),
    "kpiml_predicted_rows_total": ("counter", "Rows scored and logged."),
    "kpiml_decisions_total": ("counter", "Decisions returned, by decision (control rows counted as 'control')."),
    "kpiml_errors_total": ("counter", "Refused or failed requests, by kind."),
    "kpiml_batch_rows": ("histogram", "Rows per micro-batch (rows of concurrent requests scored together)."),
    "kpiml_model_reloads_total": ("counter", "Model source checks that found a new version, by result."),
    "kpiml_model_info": ("gauge", "The model version a worker serves (value 1)."),
}

Labels = tuple[tuple[str, str], ...]


def _key(labels: dict[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


def _fmt_labels(labels: Labels | list[list[str]]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Counters, histograms and gauges of one process, rendered with those of its siblings."""

    def __init__(self, share_dir: Path | None = None) -> None:
        self.share_dir = Path(share_dir) if share_dir else None
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = {}
        self._hists: dict[str, dict[Labels, list[float]]] = {}
        self._gauges: dict[str, dict[Labels, float]] = {}
        self._buckets: dict[str, tuple[float, ...]] = {"kpiml_http_request_duration_seconds": LATENCY_BUCKETS, "kpiml_batch_rows": BATCH_BUCKETS}

    def inc(self, name: str, labels: dict[str, str] | None = None, value: float = 1.0) -> None:
        key = _key(labels)
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value

    def observe(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        """Add one observation to a histogram: the count of the first bucket that holds it (made
        cumulative in `snapshot`, so each request touches one bucket), then sum and count."""
        buckets = self._buckets[name]
        key = _key(labels)
        at = bisect.bisect_left(buckets, value)  # the first bound >= value
        with self._lock:
            cell = self._hists.setdefault(name, {}).setdefault(key, [0.0] * (len(buckets) + 2))
            if at < len(buckets):
                cell[at] += 1
            cell[-2] += value
            cell[-1] += 1

    def set_gauge(self, name: str, value: float, labels: dict[str, str] | None = None, *, only: bool = False) -> None:
        """Set a gauge; `only` drops its other label sets (e.g. the previous model version)."""
        with self._lock:
            series = {} if only else self._gauges.get(name, {})
            series[_key(labels)] = value
            self._gauges[name] = series

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "counters": {n: [[list(map(list, k)), v] for k, v in s.items()] for n, s in self._counters.items()},
                "hists": {n: [[list(map(list, k)), [*itertools.accumulate(v[:-2]), *v[-2:]]] for k, v in s.items()] for n, s in self._hists.items()},
                "gauges": {n: [[list(map(list, k)), v] for k, v in s.items()] for n, s in self._gauges.items()},
            }

    def publish(self) -> None:
        """Write this worker's snapshot for its siblings (atomically: a reader never sees half)."""
        if self.share_dir is None:
            return
        self.share_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.share_dir / f".{os.getpid()}.tmp"
        tmp.write_text(json.dumps(self.snapshot()), encoding="utf-8")
        os.replace(tmp, self.share_dir / f"{os.getpid()}.json")

    def _snapshots(self) -> list[tuple[str, dict[str, Any]]]:
        own = (str(os.getpid()), self.snapshot())
        if self.share_dir is None or not self.share_dir.is_dir():
            return [own]
        out = [own]
        for file in sorted(self.share_dir.glob("*.json")):
            if file.stem != own[0]:
                try:
                    out.append((file.stem, json.loads(file.read_text(encoding="utf-8"))))
                except (OSError, ValueError):
                    continue
        return out

    def render(self) -> str:
        """The Prometheus text format (version 0.0.4) of all workers' metrics."""
        snaps = self._snapshots()
        counters: dict[str, dict[Labels, float]] = {}
        hists: dict[str, dict[Labels, list[float]]] = {}
        gauges: dict[str, dict[Labels, float]] = {}
        for worker, snap in snaps:
            _merge_sum(counters, snap["counters"])
            _merge_hist(hists, snap["hists"])
            for name, series in snap["gauges"].items():
                for labels, value in series:
                    key = (*(tuple(x) for x in labels), ("worker", worker)) if len(snaps) > 1 else tuple(tuple(x) for x in labels)
                    gauges.setdefault(name, {})[key] = value  # type: ignore[index]
        lines: list[str] = []
        for name, (kind, text) in HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            if kind == "counter":
                lines += [f"{name}{_fmt_labels(k)} {_num(v)}" for k, v in sorted(counters.get(name, {}).items())]
            elif kind == "gauge":
                lines += [f"{name}{_fmt_labels(k)} {_num(v)}" for k, v in sorted(gauges.get(name, {}).items())]
            else:
                lines += self._hist_lines(name, hists.get(name, {}))
        return "\n".join(lines) + "\n"

    def _hist_lines(self, name: str, series: dict[Labels, list[float]]) -> list[str]:
        out = []
        buckets = self._buckets[name]
        for labels, cell in sorted(series.items()):
            for bound, count in zip(buckets, cell, strict=False):
                out.append(f"{name}_bucket{_fmt_labels((*labels, ('le', _num(bound))))} {_num(count)}")
            out.append(f"{name}_bucket{_fmt_labels((*labels, ('le', '+Inf')))} {_num(cell[-1])}")
            out.append(f"{name}_sum{_fmt_labels(labels)} {_num(cell[-2])}")
            out.append(f"{name}_count{_fmt_labels(labels)} {_num(cell[-1])}")
        return out


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _merge_sum(into: dict[str, dict[Labels, float]], snap: dict[str, Any]) -> None:
    for name, series in snap.items():
        target = into.setdefault(name, {})
        for labels, value in series:
            key = tuple(tuple(x) for x in labels)
            target[key] = target.get(key, 0.0) + value  # type: ignore[index]


def _merge_hist(into: dict[str, dict[Labels, list[float]]], snap: dict[str, Any]) -> None:
    for name, series in snap.items():
        target = into.setdefault(name, {})
        for labels, cell in series:
            key = tuple(tuple(x) for x in labels)
            old = target.get(key)  # type: ignore[call-overload]
            target[key] = cell if old is None else [a + b for a, b in zip(old, cell, strict=True)]  # type: ignore[index]
