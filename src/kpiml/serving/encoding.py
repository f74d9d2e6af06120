"""Response bodies and decision-log lines of a scored batch, built column by column.

A 10,000-row request spent most of its time turning rows into JSON: a dict per row, then
`json.dumps` of each dict (twice: the answer and the log line). Here every column is turned
into JSON text once (floats by `float.__repr__`, which is what `json` writes; repeated strings
memoised), and each row is one `%`-format of its columns' texts. The bytes are those
`json.dumps(..., separators=(",", ":"))` and `decision_log.encode_rows` would write (the tests
compare them), and a non-finite number is refused as `json.dumps(allow_nan=False)` would.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

_FLOAT = float.__repr__
_INT = int.__repr__
_COMPACT = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_LOG_LINE = '{"request_id":%s,"row":%d,"time":%s,"model_version":%s,"score":%s,"decision":%s,"expected_value":%s,"control":%s,"identifiers":%s,"fingerprint":"%s","inputs":%s}\n'
_PREDICTION = '{"row":%d,"identifiers":%s,"score":%s,"decision":%s,"expected_value":%s,"control":%s,"reasons":%s,"notes":%s,"model_version":%s}'


def _finite(values: Sequence[float]) -> None:
    if not all(map(math.isfinite, values)):
        raise ValueError("Out of range float values are not JSON compliant")


def json_texts(values: Sequence[Any]) -> list[str]:
    """The JSON text of each value of one column (None, bool, int, float, str, or anything
    `json` can encode)."""
    kinds = set(map(type, values))
    if kinds <= {float, type(None)}:
        _finite([v for v in values if v is not None] if None.__class__ in kinds else values)
        return list(map(_FLOAT, values)) if kinds == {float} else [("null" if v is None else _FLOAT(v)) for v in values]
    if kinds <= {str, type(None)}:  # categories repeat: encode each distinct value once
        memo = {v: _COMPACT(v) for v in set(values)}
        return list(map(memo.__getitem__, values))
    if kinds <= {int, type(None)}:
        return [("null" if v is None else _INT(v)) for v in values]
    return [_one(v) for v in values]  # mixed (e.g. True, 1 and "yes" in one flag column)


def _one(v: Any) -> str:
    t = type(v)
    if t is float:
        _finite([v])
        return _FLOAT(v)
    if t is int:
        return _INT(v)
    return "null" if v is None else ("true" if v is True else "false" if v is False else _COMPACT(v))


def _reasons(row: Any) -> str:
    if row.__class__ is str:
        return row  # type: ignore[no-any-return]
    return _ENCODE(row) if row else "[]"  # type: ignore[no-any-return]


def _compact_encoder() -> Any:
    """`json`'s own C encoder with the settings of `_COMPACT`, made once: `json.dumps` builds
    one per call, which is most of the cost of encoding a small list (a row's reasons)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return lambda value: _COMPACT(value)

    def refuse(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    encode = make(None, refuse, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False)
    return lambda value: "".join(encode(value, 0))


_ENCODE = _compact_encoder()
_STR = json.encoder.encode_basestring_ascii  # what the encoders above write for a str
_REASON = '{"feature":%s,"value":%s,"effect":%s,"text":%s}'


def reasons_json(names: Sequence[str], order: Any, values: Any, texts: Any, effects: Any) -> list[str]:
    """Each row's reasons list as JSON text, from (rows x k) arrays of column positions,
    values, texts and effects: the bytes `_ENCODE` writes for the row's list of
    {feature, value, effect, text} dicts, built rank by rank with each distinct value encoded
    once (a 10,000-row answer has 30,000 reasons; a dict and an encoder call each cost more
    than the text)."""
    n, k = order.shape
    if k == 0:
        return ["[]"] * n
    _finite(effects.ravel().tolist())
    features = [_STR(str(name)) for name in names]
    memo: dict[tuple[type, Any], str] = {}
    ranks = []
    for q in range(k):
        cells = []
        for j, v, e, t in zip(order[:, q].tolist(), values[:, q].tolist(), effects[:, q].tolist(), texts[:, q].tolist(), strict=True):
            key = (v.__class__, v)
            value = memo.get(key)
            if value is None:
                value = memo[key] = _one(v)
            cells.append(_REASON % (features[j], value, _FLOAT(e), _STR(t) if t.__class__ is str else _one(t)))
        ranks.append(cells)
    return ["[" + ",".join(row) + "]" for row in zip(*ranks, strict=True)]


def _objects(keys: Sequence[str], columns: Sequence[list[str]], n: int) -> list[str]:
    """One JSON object per row from the columns' JSON texts (keys in the order given)."""
    if not keys:
        return ["{}"] * n
    template = "{" + ",".join(_COMPACT(k).replace("%", "%%") + ":%s" for k in keys) + "}"
    return [template % row for row in zip(*columns, strict=True)]


def input_objects(inputs: dict[str, list[Any]], n: int) -> list[str]:
    """Canonical JSON of each row's inputs (keys sorted), as `fingerprint_and_json` writes it."""
    keys = sorted(inputs)
    return _objects(keys, [json_texts(inputs[k]) for k in keys], n)


def fingerprints(objects: list[str]) -> list[str]:
    sha = hashlib.sha256
    return [sha(text.encode("utf-8")).hexdigest()[:16] for text in objects]


class BatchText:
    """The per-row JSON texts the answers and the log share."""

    def __init__(self, ids: dict[str, list[Any]], score: list[float], decision: list[Any], expected: list[float | None] | None, control: list[bool], n: int) -> None:
        self.n = n
        self.ids = _objects(list(ids), [json_texts(v) for v in ids.values()], n)
        self.score = json_texts(score)
        self.decision = json_texts(decision)
        self.expected = ["null"] * n if expected is None else json_texts(expected)
        self.control = ["true" if c else "false" for c in control]

    def log_lines(self, request_ids: list[str], rows: list[int], stamp: str, version: str, inputs: dict[str, list[Any]]) -> bytes:
        """Decision-log lines of every row (same bytes as `decision_log.encode_rows`)."""
        objects = input_objects(inputs, self.n)
        rid_text = {rid: _COMPACT(rid) for rid in set(request_ids)}
        head = (_COMPACT(stamp), _COMPACT(version))
        lines = [
            _LOG_LINE % (rid_text[request_ids[i]], rows[i], head[0], head[1], self.score[i], self.decision[i], self.expected[i], self.control[i], self.ids[i], digest, objects[i])
            for i, digest in enumerate(fingerprints(objects))
        ]
        return "".join(lines).encode("utf-8")

    def body(self, request_id: str, version: str, start: int, stop: int, reasons: list[Any], notes: list[list[str]]) -> bytes:
        """One request's answer: its rows `start:stop` of the batch. A row's reasons are a list
        of dicts or already their JSON text (`reasons_json`)."""
        v = _COMPACT(version)
        preds = [
            _PREDICTION % (i - start, self.ids[i], self.score[i], self.decision[i], self.expected[i], self.control[i], _reasons(reasons[i]), _ENCODE(notes[i]) if notes[i] else "[]", v)
            for i in range(start, stop)
        ]
        return f'{{"request_id":{_COMPACT(request_id)},"model_version":{v},"predictions":[{",".join(preds)}]}}'.encode()
