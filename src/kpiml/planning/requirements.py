"""What data a KPI usually needs, and whether the table has it.

A churn model without usage or billing history, or a credit model without payment
history, will underperform whatever the algorithm; the plan says so before training. The
lists are domain knowledge (kept here as data, one entry per need), matched against column
names, so a missing need is a question to the data owner, not a verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kpiml.spec import KpiTemplate


@dataclass(frozen=True)
class Need:
    name: str
    pattern: str
    why: str


NEEDS: dict[str, list[Need]] = {
    "churn": [
        Need("tenure or contract length", r"tenure|since|contract|account_length|months|age_days|signup", "how long a customer has stayed is the strongest single churn driver in most subscription businesses"),
        Need("usage history", r"usage|minutes|calls|login|session|data|gb|visits|streaming|activity|messages", "falling usage usually precedes cancellation"),
        Need("billing and payment history", r"charge|bill|payment|price|fee|amount|spend|revenue|paperless", "price rises and failed payments trigger churn"),
        Need("support interactions", r"support|ticket|complaint|service_calls|customer_service|care|tech", "repeated support contacts signal dissatisfaction"),
        Need("recency of last activity", r"last_|recency|days_since|inactive", "days since last activity separates leaving customers early"),
        Need("product or plan held", r"plan|contract|product|service|package|tier|internet|phone", "plan type changes both churn risk and the value of retaining"),
    ],
    "credit": [
        Need("income", r"income|salary|earning", "repayment capacity starts with income"),
        Need("debt and obligations", r"debt|liabilit|expenses|obligation|loan_balance", "debt-to-income drives default risk"),
        Need("payment history", r"records|delinq|late|arrears|history|default_hist|past_due", "past repayment behaviour is the best predictor of future default"),
        Need("employment", r"job|employ|seniority|occupation|work", "employment stability affects repayment"),
        Need("loan terms", r"amount|term|time|rate|price|duration|installment", "loan size and term set the exposure"),
        Need("assets or collateral", r"asset|home|collateral|property|house", "collateral lowers the loss given default"),
    ],
    "conversion": [
        Need("acquisition channel", r"channel|source|campaign|medium|referr", "conversion rates differ sharply by channel"),
        Need("past interactions", r"previous|past|visits|sessions|pages|contacts|clicks|opens", "engagement before the offer predicts response"),
        Need("recency", r"last_|recency|days_since|pdays", "recent interest converts better"),
        Need("offer and price", r"price|offer|discount|amount|product", "the offer itself changes the response"),
        Need("customer profile", r"age|segment|job|region|country|type", "segments respond differently"),
    ],
    "custom": [
        Need("history of the target", r"previous|past|historical|lag|last_|prior", "past values of the KPI are usually its best predictor"),
        Need("time or seasonality", r"date|month|week|season|year|holiday|christmas", "KPIs like revenue and volume move with the calendar"),
        Need("price or value drivers", r"price|amount|value|cost|rate", "price and value drivers explain most of a revenue KPI"),
        Need("segment", r"segment|type|channel|country|region|category|market", "levels differ by segment"),
    ],
}


@dataclass(frozen=True)
class NeedStatus:
    need: Need
    columns: list[str]

    @property
    def present(self) -> bool:
        return bool(self.columns)


def check_needs(template: KpiTemplate, columns: list[str]) -> list[NeedStatus]:
    """Match each need of the KPI's template against the column names."""
    needs = NEEDS.get(template if template != "none" else "custom", NEEDS["custom"])
    out = []
    for need in needs:
        rx = re.compile(need.pattern, re.I)
        out.append(NeedStatus(need, [c for c in columns if rx.search(c)]))
    return out
