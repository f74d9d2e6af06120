"""Repair the everyday defects of exported tables before profiling or training.

Business exports store numbers as text ("1,234.50", "$12", "45 %"), write dates in
several formats in one column, and carry infinities from spreadsheet formulas. These are
repaired here, once, for every stage, and each repair is reported as a warning so the plan
can count it. Nothing here drops rows or columns: that is the plan's decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Share of non-missing values that must parse for a text column to be converted.
PARSE_SHARE = 0.95
_SAMPLE = 5_000
_CURRENCY = "$€£¥₹"
_NUMBER_RE = re.compile(
    rf"^\s*[({_CURRENCY}]*\s*[-+]?[{_CURRENCY}]?\s*(\d{{1,3}}([,' \u00a0]\d{{3}})+|\d+)(\.\d+)?\s*%?\s*[)]?\s*$"
)
_EURO_NUMBER_RE = re.compile(rf"^\s*[{_CURRENCY}]?\s*[-+]?\d{{1,3}}(\.\d{{3}})*(,\d+)?\s*[{_CURRENCY}]?\s*$")
_DATE_HINT_RE = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*$")


@dataclass
class CleaningReport:
    """What was repaired, per kind, so the profile and the plan can count and explain it."""

    text_numbers: list[str] = field(default_factory=list)
    text_dates: list[str] = field(default_factory=list)
    mixed_date_formats: list[str] = field(default_factory=list)
    infinities: dict[str, int] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        out = [f"Column '{c}' held numbers stored as text (thousands separators, currency or % signs); converted to numbers." for c in self.text_numbers]
        out += [f"Column '{c}' held dates stored as text; parsed as dates." for c in self.text_dates if c not in self.mixed_date_formats]
        out += [f"Column '{c}' mixes several date formats; each value was parsed on its own — check a few rows." for c in self.mixed_date_formats]
        out += [f"Column '{c}' held {n} infinite value(s); treated as missing." for c, n in self.infinities.items()]
        return out


def _non_missing_text(s: pd.Series) -> pd.Series:
    return s.dropna().astype(str)


def _sample(values: pd.Series) -> pd.Series:
    """A fixed random subset by position: much cheaper than Series.sample on a million rows."""
    if len(values) <= _SAMPLE:
        return values
    positions = np.sort(np.random.default_rng(0).choice(len(values), _SAMPLE, replace=False))
    return values.iloc[positions]


def _sample_text(s: pd.Series) -> pd.Series:
    """Non-missing values of a sample, as text: what the parsers' format checks look at."""
    return _non_missing_text(_sample(s.dropna()))


def _parse_numbers(s: pd.Series) -> pd.Series | None:
    """Parse a text column of numbers with separators/currency/percent, or return None."""
    sample = _sample_text(s)
    if sample.empty:
        return None
    if sample.str.match(_NUMBER_RE).mean() >= PARSE_SHARE:
        text = s.astype("string")
        negative = text.str.contains(r"^\s*\(.*\)\s*$", regex=True)
        stripped = text.str.replace(rf"[\s,'\u00a0%(){_CURRENCY}]", "", regex=True)
        out = pd.to_numeric(stripped, errors="coerce").astype("float64")
        out = out.where(~negative.fillna(False).astype(bool), -out)
    elif sample.str.match(_EURO_NUMBER_RE).mean() >= PARSE_SHARE and sample.str.contains(",").any():
        text = s.astype("string").str.replace(rf"[\s.{_CURRENCY}]", "", regex=True).str.replace(",", ".")
        out = pd.to_numeric(text, errors="coerce").astype("float64")
    else:
        return None
    return out if out.notna().sum() >= PARSE_SHARE * s.notna().sum() else None


def _date_shapes(values: pd.Series) -> int:
    """How many distinct layouts (digits masked) the date strings use, e.g. dd/dd/dddd vs dddd-dd-dd."""
    shapes = values.str.replace(r"\d", "d", regex=True).str.replace(r"[A-Za-z]+", "a", regex=True)
    separators = shapes.str.replace("d", "", regex=False).str.strip()
    return int(separators.nunique())


def _parse_dates(s: pd.Series) -> tuple[pd.Series, bool] | None:
    """Parse a text column of dates; returns (parsed, mixed_formats) or None."""
    sample = _sample_text(s)
    if sample.empty:
        return None
    if sample.str.match(_DATE_HINT_RE).mean() < PARSE_SHARE:
        return None
    mixed = _date_shapes(sample) > 1
    try:
        parsed = pd.to_datetime(s, errors="coerce", format="ISO8601" if not mixed else "mixed")
    except (ValueError, TypeError):
        return None
    present = s.notna().sum()
    if parsed.notna().sum() < PARSE_SHARE * present:
        parsed = pd.to_datetime(s, errors="coerce", format="mixed")
        if parsed.notna().sum() < PARSE_SHARE * present:
            return None
        mixed = True
    return parsed, mixed


def _is_text(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)


def clean_frame(df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningReport]:
    """Return a repaired copy of `df` and what was repaired (text numbers, text dates, infinities)."""
    out = df.copy(deep=False)
    report = CleaningReport()
    for name in out.columns:
        col = out[name]
        if _is_text(col):
            if _sample_text(col).str.strip().eq("").any():
                col = col.where(col.astype("string").str.strip() != "", pd.NA)
                out[name] = col
            numbers = _parse_numbers(col)
            if numbers is not None and not _looks_like_code(col):
                out[name] = numbers
                report.text_numbers.append(str(name))
                continue
            dates = _parse_dates(col)
            if dates is not None:
                out[name], mixed = dates
                report.text_dates.append(str(name))
                if mixed:
                    report.mixed_date_formats.append(str(name))
        elif pd.api.types.is_float_dtype(col):
            n_inf = int(np.isinf(col.to_numpy(dtype="float64", na_value=np.nan)).sum())
            if n_inf:
                out[name] = col.replace([np.inf, -np.inf], np.nan)
                report.infinities[str(name)] = n_inf
    return out, report


def _looks_like_code(s: pd.Series) -> bool:
    """Codes with leading zeros (zip codes, account numbers) must stay text, not become numbers."""
    return bool(_sample_text(s).str.match(r"^0\d+$").mean() > 0.05)
