"""The UI's two languages: English (the messages as written) and French (:data:`FRENCH`).

Messages are English sentences used as keys (``t("Profiles")``), with ``{name}`` fields filled
by keyword; a missing French message falls back to English. Numbers, percentages and dates are
formatted by Babel for each language (``12 345`` and ``12,345``; ``24 nov. 2026`` and
``Nov 24, 2026``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

__all__ = ["FRENCH", "Translator", "pick_language"]

_LOCALES = {"en": "en_GB", "fr": "fr_FR"}


@dataclass(frozen=True)
class Translator:
    """Messages and formats of one language."""

    language: str

    @property
    def locale(self) -> str:
        return _LOCALES.get(self.language, "en_GB")

    def __call__(self, message: str, **fields: Any) -> str:
        text = FRENCH.get(message, message) if self.language == "fr" else message
        return text.format(**fields) if fields else text

    def number(self, value: float | int | None, digits: int = 2) -> str:
        if value is None:
            return "–"
        pattern = "#,##0" if isinstance(value, int) else "#,##0." + "#" * digits
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, value: float | None) -> str:
        if value is None:
            return "–"
        return format_percent(value, format="#,##0.#%", locale=self.locale)

    def date(self, value: dt.date | None) -> str:
        if value is None:
            return "–"
        if isinstance(value, dt.datetime):
            value = value.astimezone(UTC).date()
        return format_date(value, format="medium", locale=self.locale)

    def datetime(self, value: dt.datetime | str | None) -> str:
        if value is None:
            return "–"
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_datetime(value, format="medium", tzinfo=UTC, locale=self.locale) + " UTC"

    def short_date(self, value: dt.date) -> str:
        if isinstance(value, dt.datetime):
            value = value.astimezone(UTC).date()
        return format_date(value, format="d MMM", locale=self.locale)


def pick_language(accept_language: str | None) -> str:
    """``fr`` when the browser prefers French to English, else ``en``."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in ("fr", "en"):
            return code
    return "en"


FRENCH: dict[str, str] = {}
