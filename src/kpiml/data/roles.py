"""Infer what each column is (identifier, numeric, categorical, date, free text, personal data).

The role decides how the plan treats a column, so the rules favour safety: anything that
looks like personal data is excluded from features by default, and an identifier is never
used as a feature even when it is numeric.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from kpiml.spec import ColumnRole

_SAMPLE = 5_000
_ID_NAME = re.compile(r"(^|[_\s.-])(id|ids|uuid|guid|key|rownames|row_?id|index|idx)$|^id[_\s]|_id_|(^|_)(account|customer|client|user|member)_?(no|num|number)$", re.I)
_EMAIL = re.compile(r"^[\w.+'-]+@[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?\(?\d[\d\s().-]{5,18}\d$")
_PHONE_NAME = re.compile(r"phone|mobile|cell|(^|_)tel($|_)|fax", re.I)
_NAME_NAME = re.compile(r"(^|_)(first_?name|last_?name|full_?name|sur_?name|given_?name|family_?name|name|customer_?name|client_?name|contact_?name|person)($|_)", re.I)
_OTHER_PII_NAME = re.compile(r"(^|_)(ssn|social_security|passport|iban|credit_?card|card_?number|street|address|postcode_full|national_id|tax_id|ip_?address)($|_)", re.I)
_PERSON_NAME = re.compile(r"^[A-Z][^\W\d_]*(?:[-'’][^\W\d_]+)*(\s+((de|van|von|der|den|la|le|di|da|del|bin|al|du|dos)\s+)*[A-Z][^\W\d_'’.-]*(?:[-'’.][^\W\d_]*)?){0,3}$")
BOOLEAN_WORDS = {"true", "false", "yes", "no", "y", "n", "t", "f", "0", "1"}
CATEGORICAL_MAX_DISTINCT_SHARE = 0.5


def sample_text(s: pd.Series) -> pd.Series:
    values = s.dropna()
    if len(values) > _SAMPLE:
        values = values.iloc[np.sort(np.random.default_rng(0).choice(len(values), _SAMPLE, replace=False))]
    return values.astype(str)


def personal_kind(name: str, s: pd.Series) -> str | None:
    """Return 'email', 'phone', 'name' or 'other' when the column holds personal data."""
    values = sample_text(s)
    if values.empty:
        return None
    if values.str.match(_EMAIL).mean() >= 0.8:
        return "email"
    digits = values.str.count(r"\d")
    phone_like = values.str.match(_PHONE) & (digits >= 7) & (digits <= 15)
    if phone_like.mean() >= 0.8 and (_PHONE_NAME.search(name) or values.str.contains(r"[\s()+-]").mean() >= 0.5):
        return "phone"
    if _NAME_NAME.search(name) and not pd.api.types.is_numeric_dtype(s) and values.str.match(_PERSON_NAME).mean() >= 0.6:
        return "name"
    if _OTHER_PII_NAME.search(name):
        return "other"
    return None


def _is_consecutive_integers(s: pd.Series) -> bool:
    values = s.dropna()
    if values.empty or not pd.api.types.is_integer_dtype(values):
        return False
    return bool(values.max() - values.min() + 1 == len(values) and values.is_unique)


def is_identifier(name: str, s: pd.Series, distinct: int, non_missing: int) -> bool:
    """Unique keys and row numbers identify rows; they carry no signal that generalises."""
    if non_missing == 0:
        return False
    unique_share = distinct / non_missing
    if pd.api.types.is_float_dtype(s):
        return bool(_ID_NAME.search(name)) and unique_share >= 0.99
    if pd.api.types.is_integer_dtype(s):
        return unique_share >= 0.99 and (bool(_ID_NAME.search(name)) or _is_consecutive_integers(s))
    if _ID_NAME.search(name) and unique_share >= 0.5:
        return True
    if unique_share < 0.99 or non_missing < 20:
        return False
    values = sample_text(s)
    return bool(values.str.contains(r"\s").mean() < 0.05 and values.str.len().median() <= 40)


def is_entity_column(name: str, s: pd.Series, distinct: int, non_missing: int) -> bool:
    """An id-named column whose values repeat: rows are several observations of one entity."""
    return bool(_ID_NAME.search(name)) and non_missing > 0 and 1 < distinct < 0.99 * non_missing


def _is_boolean(s: pd.Series, distinct: int) -> bool:
    if pd.api.types.is_bool_dtype(s):
        return True
    if distinct != 2:
        return False
    words = {str(v).strip().lower() for v in s.dropna().unique()}
    return words <= BOOLEAN_WORDS


def _is_free_text(s: pd.Series, distinct: int, non_missing: int) -> bool:
    values = sample_text(s)
    if values.empty:
        return False
    words = values.str.count(r"\s+") + 1
    return bool(words.mean() >= 4 and values.str.len().mean() >= 25 and distinct >= 0.2 * non_missing)


def infer_role(name: str, s: pd.Series, distinct: int) -> tuple[ColumnRole, str | None]:
    """Return the column's role and, for personal data, its kind."""
    non_missing = int(s.notna().sum())
    if non_missing == 0:
        return "empty", None
    if distinct <= 1:
        return "constant", None
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime", None
    if not pd.api.types.is_numeric_dtype(s) or _PHONE_NAME.search(name):
        kind = personal_kind(name, s)
        if kind is not None:
            return "personal", kind
    if _is_boolean(s, distinct):
        return "boolean", None
    if is_identifier(name, s, distinct, non_missing):
        return "identifier", None
    if pd.api.types.is_numeric_dtype(s):
        return "numeric", None
    if _is_free_text(s, distinct, non_missing):
        return "text", None
    return "categorical", None
