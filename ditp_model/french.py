"""French formatting of amounts and numbers for what a committee member reads (babel)."""

from __future__ import annotations

import math

from babel.numbers import format_currency, format_decimal

__all__ = ["format_eur", "format_number", "format_points"]

LOCALE = "fr_FR"


def format_eur(amount: int) -> str:
    """Whole euros the French way: ``120000`` -> ``"120 000 €"`` (narrow no-break spaces from CLDR)."""
    return format_currency(int(amount), "EUR", format="#,##0\u00a0¤", locale=LOCALE, currency_digits=False)


def format_number(x: float, digits: int = 2) -> str:
    """A number with a decimal comma: ``72.5`` -> ``"72,50"``; NaN -> ``"—"``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    fmt = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(x, format=fmt, locale=LOCALE)


def format_points(x: float) -> str:
    """Score points with two decimals (``72,50``)."""
    return format_number(x, 2)
