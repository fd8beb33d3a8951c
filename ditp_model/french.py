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

__all__ = ["format_eur", "format_number", "format_points", "plural_fr", "count_fr", "format_against"]

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


def plural_fr(n: float, singular: str, plural: str | None = None) -> str:
    """The French form of a word for `n` things: singular below 2 (« 0,50 point », « 1 lauréat »), plural from 2 on.

    Parameters
    ----------
    n : int or float
        The count or amount the word follows.
    singular : str
    plural : str, optional
        Default: `singular` + « s » (« lauréat » -> « lauréats »).
    """
    return singular if abs(float(n)) < 2 else (plural if plural is not None else singular + "s")


def count_fr(n: int, singular: str, plural: str | None = None, *, none: str | None = None) -> str:
    """A count and its word agreed: « 1 lauréat », « 27 lauréats »; for 0, `none` when given (« aucun lauréat »).

    Parameters
    ----------
    n : int
    singular, plural : str
        As :func:`plural_fr`.
    none : str, optional
        The words for zero (« aucun lauréat », « aucune exception »); default « 0 » + the singular.
    """
    if int(n) == 0 and none is not None:
        return none
    return f"{int(n)} {plural_fr(n, singular, plural)}"


def _decimals_of(x: float, most: int = 6) -> int:
    """The number of decimals `x` is written with (at most `most`): 2.5 -> 1, 2.55 -> 2, 3.0 -> 0."""
    text = format(round(float(x), most), "f").rstrip("0")
    return len(text.partition(".")[2])


def format_against(value: float, threshold: float, digits: int = 2, most: int = 6) -> tuple[str, str]:
    """A value and the threshold it is compared with, written so that the written comparison reads as the true one.

    The threshold is written with `digits` decimals (more if it has more); the
    value with `digits` decimals when, so rounded, it falls on the same side of
    the threshold as the true value, otherwise with as many more decimals as
    needed (at most `most`): 2.4959 against 2.5 gives (« 2,496 », « 2,50 »),
    never « 2,50 sous le seuil de 2,50 ».  The one formatter for every message
    that compares a value with a threshold (quality thresholds: DESIGN.md,
    "The decision rules").

    Parameters
    ----------
    value, threshold : float
        Same unit (points, or the review scale).
    digits : int
        Decimals shown when they suffice.
    most : int
        Decimals shown at most (the comparison itself is made on values rounded to 4 decimals,
        :func:`ditp_model.rules.candidates.threshold_failures`, so 4 always suffice there).

    Returns
    -------
    tuple of str
        (value, threshold), French decimal comma.
    """
    from decimal import ROUND_HALF_EVEN, Decimal

    t_digits = max(digits, min(_decimals_of(threshold, most), most))
    t = Decimal(str(round(float(threshold), t_digits)))
    v_true = Decimal(repr(float(value)))
    side = (v_true > t) - (v_true < t)
    for d in range(digits, most + 1):
        shown = v_true.quantize(Decimal(1).scaleb(-d), rounding=ROUND_HALF_EVEN)
        if (shown > t) - (shown < t) == side:
            return format_number(float(shown), d), format_number(float(t), t_digits)
    return format_number(float(value), most), format_number(float(t), t_digits)
