"""The search's sample of a large training part keeps the folds honest and the classes balanced."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from kpiml.clock import command_started, process_age
from kpiml.spec import SplitBlock
from kpiml.training import plan_splits
from kpiml.training._splits import search_sample
from kpiml.training._train import MAX_SEARCH_CELLS, search_rows_cap


def _grouped_time_frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"customer": [f"c{g}" for g in rng.integers(0, n // 4, n)],
                          "when": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")})
    return frame, (rng.random(n) < 0.1).astype(int)


def test_sampled_grouped_folds_never_share_a_customer() -> None:
    """Check that the sampled folds of a grouped split still keep every customer on one side."""
    frame, y = _grouped_time_frame(4_000, 1)
    plan = plan_splits(frame, y, SplitBlock(strategy="grouped", holdout=0.2, folds=4, group_column="customer", seed=0), "binary")
    sampled, note = search_sample(plan, y, 1_000, seed=0)
    assert note is not None and len(sampled.train) == 1_000 and np.isin(sampled.train, plan.train).all()
    customers = frame["customer"].to_numpy()[sampled.train]
    for fit, valid in sampled.folds:
        assert not set(customers[fit]) & set(customers[valid])
        assert len(fit) + len(valid) <= len(sampled.train) and fit.max() < 1_000 and valid.max() < 1_000
    assert np.array_equal(sampled.holdout, plan.holdout)


def test_sampled_time_folds_never_look_ahead_and_keep_the_positive_rate() -> None:
    """Check that sampled time-ordered folds validate only later rows and that the sample keeps the class shares."""
    frame, y = _grouped_time_frame(5_000, 2)
    plan = plan_splits(frame, y, SplitBlock(strategy="time", holdout=0.2, folds=3, time_column="when", seed=0), "binary")
    sampled, _ = search_sample(plan, y, 1_500, seed=3)
    when = frame["when"].to_numpy()[sampled.train]
    for fit, valid in sampled.folds:
        assert when[fit].max() < when[valid].min()
    assert abs(y[sampled.train].mean() - y[plan.train].mean()) < 0.005


def test_small_training_parts_are_not_sampled() -> None:
    """Check that the search sees every training row when they fit the cap, and that the cap grows
    with the budget up to a fixed number of matrix cells (memory)."""
    frame, y = _grouped_time_frame(2_000, 3)
    plan = plan_splits(frame, y, SplitBlock(strategy="stratified", holdout=0.2, folds=3, seed=0), "binary")
    same, note = search_sample(plan, y, 10_000, seed=0)
    assert same is plan and note is None
    assert search_rows_cap(300, 50) > search_rows_cap(60, 50) >= 10_000
    assert search_rows_cap(3_600, 50) == search_rows_cap(36_000, 50) == MAX_SEARCH_CELLS // 50


def test_command_clock_starts_with_the_process() -> None:
    """Check that the `kpiml` command's budget clock counts from its process start, and an in-process call from now."""
    import subprocess
    import sys
    from pathlib import Path

    assert process_age() > 0.0
    assert abs(time.monotonic() - command_started()) < 0.5  # pytest calling in-process: its past does not count
    kpiml = Path(sys.executable).with_name("kpiml")
    code = "import time; from kpiml.clock import command_started, process_age; print(time.monotonic() - command_started(), process_age())"
    out = subprocess.run([sys.executable, "-c", f"import sys; sys.argv[0] = {str(kpiml)!r}; {code}"], capture_output=True, text=True, check=True).stdout.split()
    assert abs(float(out[0]) - float(out[1])) < 0.5 and float(out[1]) > 0.0
