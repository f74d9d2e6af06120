import numpy as np
import pytest
from empulse.metrics import empc_score
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kpiml.errors import KpimlError
from kpiml.kpi.emp import emp_churn, emp_score, roc_convex_hull

TOL = 1e-6
Y8 = [0, 1, 0, 1, 0, 1, 0, 1]
S8 = [0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.8, 0.9]


def reference(y: object, s: object, clv: float = 200, incentive: float = 10, contact: float = 1, alpha: float = 6, beta: float = 14) -> tuple[float, float]:
    terms = {"clv": clv, "incentive_cost": incentive, "contact_cost": contact, "alpha": alpha, "beta": beta}
    return float(empc_score(y, s, **terms)), float(empc_score.optimal_rate(y, s, **terms))


def test_issue_vector_matches_empulse() -> None:
    """Check the issue's vector: EMP 23.8756 with the paper's defaults, as empulse computes it."""
    ours = emp_churn(Y8, S8)
    emp, share = reference(Y8, S8)
    assert ours.emp == pytest.approx(23.875593418348124, abs=TOL)
    assert abs(ours.emp - emp) < TOL and abs(ours.share - share) < TOL


@pytest.mark.parametrize(
    ("y", "s"),
    [
        ([0, 1, 0, 1, 1, 0], [0.5, 0.5, 0.5, 0.2, 0.9, 0.2]),  # ties
        ([1, 1, 0, 0], [0.7, 0.7, 0.7, 0.7]),  # one big tie
        ([1, 1, 1], [0.1, 0.2, 0.3]),  # only churners
        ([0, 0, 0], [0.1, 0.2, 0.3]),  # no churner
        ([1, 0, 1, 0, 0, 0], [0.9, 0.8, 0.7, 0.3, 0.2, 0.1]),
        ([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]),  # worse than random
    ],
)
def test_fixed_vectors_match_empulse(y: list[int], s: list[float]) -> None:
    """Check EMP and the share to target against empulse on ties and one-class vectors."""
    ours = emp_churn(y, s)
    emp, share = reference(y, s)
    assert abs(ours.emp - emp) < TOL and abs(ours.share - share) < TOL


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=200).flatmap(
        lambda n: st.tuples(arrays(np.int64, n, elements=st.integers(0, 1)), arrays(np.float64, n, elements=st.sampled_from([0.1, 0.3, 0.5, 0.9]) | st.floats(0, 1)))
    ),
    st.floats(20, 500), st.floats(0, 19), st.floats(0, 5), st.floats(0.5, 20), st.floats(0.5, 30),
)
def test_random_vectors_match_empulse(data: tuple[np.ndarray, np.ndarray], clv: float, d: float, f: float, a: float, b: float) -> None:
    """Check EMP and its share against empulse on random labels, scores and business terms."""
    y, s = data
    ours = emp_churn(y, s, clv=clv, incentive=d, contact=f, alpha=a, beta=b)
    emp, share = reference(y, s, clv, d, f, a, b)
    assert abs(ours.emp - emp) < TOL * max(1.0, abs(emp))
    assert abs(ours.share - share) < TOL


def test_incentive_above_clv_is_zero() -> None:
    """Check that EMP is 0 (target no one) when the incentive is at least the CLV, as in empulse."""
    assert emp_churn(Y8, S8, clv=10, incentive=10).emp == 0.0 == reference(Y8, S8, clv=10, incentive=10)[0]


def test_convex_hull_drops_collinear_points() -> None:
    """Check that the ROC hull keeps only vertices: collinear and under-hull points go."""
    neg, pos = roc_convex_hull(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.7, 0.6]))
    assert list(zip(neg, pos, strict=True)) == [(0, 0), (0, 2), (2, 2)]
    neg, pos = roc_convex_hull(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.6]))
    assert list(zip(neg, pos, strict=True)) == [(0, 0), (0, 1), (1, 2), (2, 2)]
    neg, pos = roc_convex_hull(np.array([1, 0, 1, 0]), np.array([0.9, 0.9, 0.5, 0.5]))
    assert list(zip(neg, pos, strict=True)) == [(0, 0), (2, 2)]


def test_emp_score_is_emp() -> None:
    """Check that the metric form returns the EMP per customer alone."""
    assert emp_score(Y8, S8) == emp_churn(Y8, S8).emp


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y": [], "score": []}, "No rows"),
        ({"y": [0, 2], "score": [0.1, 0.2]}, "must be 0 and 1"),
        ({"y": [0, 1], "score": [0.1, 0.2], "clv": -1.0}, "positive CLV"),
        ({"y": [0, 1], "score": [0.1, 0.2], "alpha": 0.0}, "Beta parameters"),
        ({"y": [0, 1], "score": [0.1, np.nan]}, "missing or infinite"),
    ],
)
def test_emp_errors(kwargs: dict, message: str) -> None:
    """Check that empty input, bad labels, bad terms and NaN scores raise a KpimlError."""
    with pytest.raises(KpimlError, match=message):
        emp_churn(**kwargs)
