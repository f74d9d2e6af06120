"""A columnar check of big request bodies: what pydantic certainly accepts, checked per column.

pydantic validates a 10,000-row request row by row (a model instance per row), about a tenth
of a second of CPU, and the scorer then reads the rows back into columns. Here each column of
the row model is read once and checked as a whole (types as a set, numbers against their
bounds with numpy, categories as a set against the allowed ones), giving the values pydantic
would give, already as columns. The check is conservative: it accepts only values whose
pydantic outcome is certain (exact JSON types: a JSON number for a number, true/false, 0/1 or
a listed word for a flag, a listed category, text for text). Anything else, including every
request pydantic would refuse, returns None and goes through pydantic, so the 422 answers stay
pydantic's word for word. Dates always go through pydantic (ISO text parsing). A test compares
both on random valid and invalid rows.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

import numpy as np

from kpiml.serving.schema import BOOL_WORDS, numeric_bounds

_NONE = type(None)
Check = Callable[[list[Any]], list[Any] | None]


class FastRows:
    """Validated rows held as one list per row-model field (`f0`.., `id0`.., `v0`)."""

    __slots__ = ("fields", "n")

    def __init__(self, fields: dict[str, list[Any]], n: int) -> None:
        self.fields, self.n = fields, n

    def __len__(self) -> int:
        return self.n


def field_lists(parts: list[Any], names: list[str]) -> tuple[dict[str, list[Any]], int]:
    """The fields of several requests' rows (FastRows, or lists of pydantic rows) as one list
    per field, in order; a field a row does not have reads as None (an optional identifier)."""
    out: dict[str, list[Any]] = {f: [] for f in names}
    n = 0
    dicts: list[dict[str, Any]] = []  # pydantic rows of consecutive parts, read together
    for rows in parts:
        if isinstance(rows, FastRows):
            _add_dicts(out, dicts, names)
            dicts = []
            for f in names:
                out[f] += rows.fields.get(f) or [None] * rows.n
        else:
            dicts += [r.__dict__ for r in rows]
        n += len(rows)
    _add_dicts(out, dicts, names)
    return out, n


def _add_dicts(out: dict[str, list[Any]], dicts: list[dict[str, Any]], names: list[str]) -> None:
    """Append the fields of rows (pydantic `__dict__`s) to `out`, one pass per field: a micro-
    batch of single-row requests has one part per request, and a pass per part and field cost
    more than scoring the batch."""
    if dicts:
        for f in names:
            out[f] += [d.get(f) for d in dicts]


def _numbers(lo: float | None, hi: float | None, nullable: bool) -> Check:
    allowed = {float, int, _NONE} if nullable else {float, int}

    def check(values: list[Any]) -> list[Any] | None:
        kinds = set(map(type, values))
        if not kinds <= allowed:
            return None
        try:
            out = values if kinds <= {float, _NONE} else [v if v is None else float(v) for v in values]
            x = np.array([v for v in out if v is not None] if _NONE in kinds else out, dtype="float64")
        except OverflowError:  # an integer beyond float range: pydantic's word
            return None
        if not np.isfinite(x).all() or (lo is not None and x.size and (x.min() < lo or x.max() > hi)):  # type: ignore[operator]
            return None
        return out

    return check


def _members(strings: set[str], ints: set[int] | None, any_string: bool, nullable: bool, bools: bool = False) -> Check:
    """Text (any, or one of `strings`), integers (any when `ints` is empty, else one of them;
    none when None), true/false when `bools`, and null where allowed. Types are compared
    exactly, so a bool is never taken for an integer."""
    allowed: set[type] = {str} | ({int} if ints is not None else set()) | ({bool} if bools else set()) | ({_NONE} if nullable else set())

    def check(values: list[Any]) -> list[Any] | None:
        distinct = set(values)
        kinds = {v.__class__ for v in distinct}
        if kinds & {int, bool, float}:  # True == 1 == 1.0: one member of a set hides the others
            kinds = set(map(type, values))
        if not kinds <= allowed:
            return None
        for v in distinct:  # (a hidden True or 1 is an allowed flag whenever its twin is)
            t = v.__class__
            if (t is str and not any_string and v not in strings) or (t is int and ints and v not in ints):
                return None
        return values

    return check


def _feature(entry: dict[str, Any], tolerance: float | None, unseen: str, nullable: bool) -> Check | None:
    """The check of one feature, mirroring `schema.feature_type`; None where only pydantic can
    tell (dates)."""
    kind = entry.get("kind", "numeric")
    nullable = nullable and bool(entry.get("missing_in_training"))
    if kind == "numeric":
        return _numbers(*numeric_bounds(entry, tolerance), nullable)
    if kind == "boolean":
        return _members(set(BOOL_WORDS), {0, 1}, False, nullable, bools=True)
    if kind == "categorical":
        cats = [str(c) for c in entry.get("categories", [])]
        as_int = {int(c) for c in cats if c.lstrip("-").isdigit() and str(int(c)) == c}
        if unseen == "accept" or not entry.get("categories_complete", False) or not cats:
            return _members(set(), set() if as_int else None, True, nullable)
        return _members(set(cats), as_int or None, False, nullable)
    if kind == "text":
        return _members(set(), None, True, nullable)
    return None


class ColumnCheck:
    """The columnar check of one row model (same arguments as `schema.row_model`)."""

    def __init__(self, contract: dict[str, Any], *, tolerance: float | None, unseen: str, ids_required: bool, value_column: str | None = None) -> None:
        self.columns: list[tuple[str, str, Check]] = []
        self.optional: list[tuple[str, str, Check]] = []  # absent means None
        self.usable = True
        names = {e["name"] for e in contract["features"]}
        for i, entry in enumerate(contract["features"]):
            check = _feature(entry, tolerance, unseen, entry["name"] != value_column)
            if check is None:
                self.usable = False
            else:
                self.columns.append((f"f{i}", entry["name"], check))
        ids = _members(set(), set(), True, not ids_required)
        for j, name in enumerate(contract.get("identifiers", [])):
            (self.columns if ids_required else self.optional).append((f"id{j}", name, ids))
        if value_column is not None and value_column not in names:
            self.columns.append(("v0", value_column, _numbers(None, None, False)))

    def __call__(self, rows: list[Any]) -> FastRows | None:
        """The rows as columns when every value is certainly valid, else None (ask pydantic)."""
        if not self.usable or not all(r.__class__ is dict for r in rows):
            return None
        fields: dict[str, list[Any]] = {}
        if self.columns:
            get = itemgetter(*(name for _, name, _ in self.columns))
            try:  # rows to columns in C: one tuple per row, then transposed
                table = list(map(get, rows)) if len(self.columns) > 1 else [(v,) for v in map(get, rows)]
            except KeyError:  # a missing column: pydantic names it
                return None
            for (field, _, check), values in zip(self.columns, zip(*table, strict=True), strict=True):
                found = check(list(values))
                if found is None:
                    return None
                fields[field] = found
        for field, name, check in self.optional:
            found = check([r.get(name) for r in rows])
            if found is None:
                return None
            fields[field] = found
        return FastRows(fields, len(rows))
