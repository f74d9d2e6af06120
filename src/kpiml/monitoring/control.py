"""Deterministic control-group assignment from an identifier's hash.

A control group must be the same set of rows whichever process, machine or day scores them
(batch today, REST tomorrow, a re-run after a crash), or the comparison of treated and control
rows mixes customers who were held out once and treated another time. Python's `hash()` is
salted per process, so the assignment hashes the identifier's text with SHA-256 and a salt
(one salt per campaign, so different campaigns hold out different customers) and maps the
first 8 bytes of the digest to a number in [0, 1): a row is in the control group when that
number is below the share. SHA-256 is uniform enough that the realised share is binomial
around the requested one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from kpiml.errors import KpimlError

DEFAULT_SALT = "kpiml-control"
_SCALE = float(2**64)


def id_text(value: object) -> str:
    """The identifier as text, so 123, 123.0 (an int column read with missing values) and
    '123' all hash alike; other values use `str`."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def hash_unit(ids: Iterable[object], salt: str = DEFAULT_SALT) -> np.ndarray:
    """Map each identifier to a number in [0, 1) that is stable across processes and machines."""
    prefix = f"{salt}\x1f".encode()
    out = [
        int.from_bytes(hashlib.sha256(prefix + id_text(v).encode("utf-8")).digest()[:8], "big")
        for v in ids
    ]
    return np.asarray(out, dtype=np.float64) / _SCALE


def in_control(ids: Iterable[object] | pd.Series, share: float, salt: str = DEFAULT_SALT) -> np.ndarray:
    """True for rows held out as control: their identifier's hash falls below `share`.

    Missing identifiers are refused: a row without an identifier cannot be found again when
    its outcome arrives, so it cannot be part of a measured control group.
    """
    if not 0.0 <= share < 1.0:
        raise KpimlError(
            f"Control share {share} is out of range",
            expected="a share in [0, 1), e.g. --holdout 0.1",
            got=str(share),
            fix="pass a share such as 0.05 or 0.1",
        )
    values = pd.Series(ids) if not isinstance(ids, pd.Series) else ids
    if values.isna().any():
        raise KpimlError(
            "Some rows have no identifier, so they cannot be assigned to a control group",
            expected="an identifier on every row",
            got=f"{int(values.isna().sum())} missing identifier(s)",
            fix="fill or drop the rows without an identifier before scoring with --holdout",
        )
    if share == 0.0:
        return np.zeros(len(values), dtype=bool)
    return hash_unit(values.tolist(), salt) < share


def control_among_actions(
    ids: Iterable[object] | pd.Series, act: np.ndarray, share: float, salt: str = DEFAULT_SALT
) -> np.ndarray:
    """Control only among rows the model would act on: rows not acted on are never control,
    so the comparison is treated versus untreated among the customers the model picked."""
    return in_control(ids, share, salt) & np.asarray(act, dtype=bool)
