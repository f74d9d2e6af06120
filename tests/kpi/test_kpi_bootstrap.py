import numpy as np
import pytest

from kpiml.errors import KpimlError
from kpiml.kpi.bootstrap import bootstrap_ci, bootstrap_mean_ci, resample_blocks


def test_mean_interval_is_reproducible_and_brackets_the_estimate() -> None:
    """Check that a fixed seed gives the same interval and it contains the sample mean."""
    v = np.random.default_rng(0).normal(10, 2, 2000)
    a, b = bootstrap_mean_ci(v), bootstrap_mean_ci(v)
    assert a == b and a.low < a.estimate < a.high
    assert a.high - a.low == pytest.approx(2 * 1.96 * 2 / np.sqrt(2000), rel=0.15)


def test_vectorised_mean_equals_metric_loop() -> None:
    """Check that the vectorised mean and the generic loop give the same interval for one seed."""
    v = np.random.default_rng(1).exponential(3, 500)
    fast = bootstrap_mean_ci(v, n_boot=300, seed=4)
    slow = bootstrap_ci(np.mean, v, n_boot=300, seed=4)
    assert fast.low == pytest.approx(slow.low) and fast.high == pytest.approx(slow.high)


def test_stratified_resamples_keep_class_counts() -> None:
    """Check that stratified resamples keep the number of rows of each class."""
    y = np.array([0] * 7 + [1] * 3)
    for block in resample_blocks(10, 20, seed=0, stratify=y):
        assert (y[block].sum(axis=1) == 3).all()


def test_metric_on_several_arrays() -> None:
    """Check that all arrays are resampled with the same rows (a ratio of sums)."""
    profit = np.array([5.0, -1.0, 3.0, 0.0])
    spend = np.array([1.0, 1.0, 1.0, 0.0])
    ci = bootstrap_ci(lambda a, b: a.sum() / b.sum() if b.sum() else np.nan, profit, spend, n_boot=200)
    assert ci.estimate == pytest.approx(7 / 3) and ci.low <= ci.estimate <= ci.high


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_mean_ci(np.array([])), "at least one row"),
        (lambda: bootstrap_mean_ci(np.ones(3), level=1.5), "out of range"),
        (lambda: bootstrap_ci(np.mean, np.ones(3), np.ones(4)), "differ in length"),
        (lambda: bootstrap_ci(lambda v: np.nan, np.ones(3), n_boot=10), "undefined on most"),
    ],
)
def test_bootstrap_errors(call: object, message: str) -> None:
    """Check that empty data, bad settings, mismatched arrays and undefined metrics raise."""
    with pytest.raises(KpimlError, match=message):
        call()  # type: ignore[operator]
