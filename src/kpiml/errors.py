"""One error type for every user mistake, so the CLI can turn it into a message and exit 2.

The message follows one template (what was wrong, what was expected, what was got, how to
fix it) because a user reading it at a terminal needs all four to act without a traceback.
"""

from __future__ import annotations


class KpimlError(Exception):
    """A mistake in the user's input (file, column, value or spec) that they can fix."""

    def __init__(self, what: str, *, expected: str = "", got: str = "", fix: str = "") -> None:
        self.what = what
        self.expected = expected
        self.got = got
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [_sentence(self.what)]
        parts += [_sentence(f"{label}: {text}") for label, text in (("Expected", self.expected), ("Got", self.got), ("Fix", self.fix)) if text]
        return " ".join(parts)


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else text + "."


def closest_names(name: str, candidates: list[str], limit: int = 3) -> list[str]:
    """Suggest the column names a user most likely meant (case-insensitive fuzzy match)."""
    import difflib

    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=limit, cutoff=0.5)
    return [lowered[h] for h in hits]
