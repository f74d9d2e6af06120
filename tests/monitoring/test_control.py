"""Tests of kpiml.monitoring.control: deterministic hashed control groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kpiml.errors import KpimlError
from kpiml.monitoring.control import control_among_actions, hash_unit, id_text, in_control


def test_hash_is_pinned() -> None:
    """Check that the mapping is pinned (SHA-256, not the per-process hash()), so other processes and machines agree."""
    assert hash_unit(["cust-42"], "kpiml-control")[0] == pytest.approx(0.6373002134673712, abs=1e-15)


def test_share_is_close_to_requested() -> None:
    """Check that the realised control share is within binomial noise of the requested share."""
    ids = pd.Series(np.arange(100_000))
    share = in_control(ids, 0.1).mean()
    assert abs(share - 0.1) < 4 * np.sqrt(0.1 * 0.9 / 100_000)


def test_assignment_is_deterministic_and_salted() -> None:
    """Check that the same ids give the same control rows, and another salt other rows."""
    ids = [f"c{i}" for i in range(5_000)]
    a, b = in_control(ids, 0.2), in_control(list(reversed(ids)), 0.2)[::-1]
    assert (a == b).all()
    other = in_control(ids, 0.2, salt="campaign-2")
    assert 0.1 < (a != other).mean() < 0.5


def test_ids_hash_alike_whatever_their_type() -> None:
    """Check that 123, 123.0 and '123' are one identifier (an int column read with missing values)."""
    assert id_text(123) == id_text(123.0) == id_text("123") == id_text(np.float64(123.0))
    assert len(set(hash_unit([123, 123.0, "123"]).tolist())) == 1


def test_control_only_among_actions() -> None:
    """Check that rows the model would not act on are never control."""
    ids = np.arange(10_000)
    act = ids % 2 == 0
    ctl = control_among_actions(ids, act, 0.5)
    assert not ctl[~act].any() and 0.4 < ctl[act].mean() < 0.6


@pytest.mark.parametrize(
    ("ids", "share", "message"),
    [([1, 2], 1.5, "out of range"), ([1, 2], -0.1, "out of range"), (pd.Series([1, None]), 0.1, "no identifier")],
)
def test_bad_input_is_refused(ids: object, share: float, message: str) -> None:
    """Check that a share outside [0, 1) and missing identifiers raise a KpimlError."""
    with pytest.raises(KpimlError, match=message):
        in_control(ids, share)  # type: ignore[arg-type]
