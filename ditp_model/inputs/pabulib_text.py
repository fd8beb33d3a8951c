"""The plain-text pieces of the Pabulib format shared by both readers, with no third-party import.

:mod:`ditp_model.inputs.pabulib` (the full reader, with pandas) and
:mod:`ditp_model.inputs.pabulib_light` (the light reader of ``ditp-model pabulib``, issue 18) split
lines, recognise numbers and write decimals with these same functions, so both read a file alike.
Format: Stolicki, Szufa, Talmon, arXiv:2012.06539, https://pabulib.org/format.
"""

from __future__ import annotations

import re
from decimal import Decimal

#: Ballot types read, with the name of the rule that turns ballots into a
#: project score (see :func:`ditp_model.inputs.pabulib.read_pabulib` for each rule).
SCORE_RULES: dict[str, str] = {
    "approval": "approval_count",
    "choose-1": "choice_count",
    "cumulative": "points_sum",
    "scoring": "points_sum",
    "ordinal": "ranked_count",
}
VOTE_TYPES: tuple[str, ...] = tuple(SCORE_RULES)
_AMOUNT_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SIGNED_RE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def _split_line(line: str) -> list[str]:
    """Split one physical line into stripped fields (``;``, CSV quoting)."""
    if '"' not in line:
        return [f.strip() for f in line.split(";")]
    fields: list[str] = []
    pos, n = 0, len(line)
    while True:
        start = pos
        while start < n and line[start] in " \t":
            start += 1
        if start < n and line[start] == '"':
            parts: list[str] = []
            k = start + 1
            closed_at = -1
            while True:
                q = line.find('"', k)
                if q == -1:
                    break
                parts.append(line[k:q])
                if q + 1 < n and line[q + 1] == '"':
                    parts.append('"')
                    k = q + 2
                    continue
                closed_at = q
                break
            if closed_at >= 0:
                after = closed_at + 1
                while after < n and line[after] in " \t":
                    after += 1
                if after == n:
                    fields.append("".join(parts).strip())
                    return fields
                if line[after] == ";":
                    fields.append("".join(parts).strip())
                    pos = after + 1
                    continue
            # Not a well-formed quoted field: keep it literally (see module doc).
        semi = line.find(";", pos)
        if semi == -1:
            fields.append(line[pos:].strip())
            return fields
        fields.append(line[pos:semi].strip())
        pos = semi + 1


def _fmt(value: Decimal) -> str:
    """Decimal as plain text (no exponent), ``435`` rather than ``435.0``."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value, "f")


def _decimal_places(value: Decimal) -> int:
    """Number of decimals needed to write ``value`` exactly (``4000.0`` -> 0)."""
    _, digits, exponent = value.as_tuple()
    if exponent >= 0 or not any(digits):  # whole, or zero written "0.00"
        return 0
    trailing = 0
    for d in reversed(digits):
        if d != 0 or trailing >= -exponent:
            break
        trailing += 1
    return max(0, -exponent - trailing)


def _scaled(value: Decimal, places: int) -> int:
    """``value * 10**places`` as an exact int (``places`` >= decimals of value)."""
    sign, digits, exponent = value.as_tuple()
    n = int("".join(map(str, digits)) or "0")
    shift = exponent + places
    if shift >= 0:
        n *= 10**shift
    else:
        n, rest = divmod(n, 10**-shift)
        assert rest == 0
    return -n if sign else n
