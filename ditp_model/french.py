"""French formatting of amounts and numbers for what a committee member reads (babel).

babel formats a number in about a tenth of a millisecond; a panel re-draw or a
decision's explanations format thousands of them, mostly the same ones again
(amounts, thresholds, criterion means), so the results are remembered
(:func:`functools.lru_cache`, keyed by value *and* type: ``1`` and ``1.0`` are
kept apart).  A value that cannot be a key (unhashable) is formatted directly.
"""

from __future__ import annotations

import math
from functools import lru_cache

from babel.numbers import format_currency, format_decimal

__all__ = ["format_eur", "format_number", "format_points"]

LOCALE = "fr_FR"


def format_eur(amount: int) -> str:
    """Whole euros the French way: ``120000`` -> ``"120 000 €"`` (narrow no-break spaces from CLDR)."""
    return _format_eur(int(amount))


@lru_cache(maxsize=65536)
def _format_eur(amount: int) -> str:
    return format_currency(amount, "EUR", format="#,##0\u00a0¤", locale=LOCALE, currency_digits=False)


def format_number(x: float, digits: int = 2) -> str:
    """A number with a decimal comma: ``72.5`` -> ``"72,50"``; NaN -> ``"—"``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    try:
        return _format_number(x, digits)
    except TypeError:  # not hashable: no memory
        return _format_decimal(x, digits)


def _format_decimal(x, digits: int) -> str:
    fmt = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(x, format=fmt, locale=LOCALE)


_format_number = lru_cache(maxsize=65536, typed=True)(_format_decimal)


def format_points(x: float) -> str:
    """Score points with two decimals (``72,50``)."""
    return format_number(x, 2)
