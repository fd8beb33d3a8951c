"""Which candidates every good portfolio funds, or leaves out, proven by a Lagrangian bound in exact integers.

Used by the optimisation rules (:func:`~ditp_model.rules.optimise.reduced_level_one`) to shrink the problem
before the optimum and the uniqueness of the funded set are proven (issue 18, item 6): :meth:`Bound.fixings`
says which candidates are settled, :func:`enumerate_best` settles the few left exactly (or the MILP does, on
the reduced problem).

The bound
---------
Write the optimisation rule's problem (no award cut) as: maximise ``c·x`` over ``x ∈ {0,1}^n`` with
``x_i = 1`` for the locked-in candidates, under rows ``A_k·x ≤ b_k`` (the envelope ``Σ u_i x_i ≤ E``,
each maximum share ``Σ_{i∈g} u_i x_i ≤ cap_g``, the maximum number of awards, the valid count cut
``Σ x_i ≤ ⌊E / min ℓ⌋``) and ``G_g·x ≥ h_g`` (each minimum count).  Here ``c_i`` is the level-1
coefficient in integer units: the score units ``s_i`` (``max_total_score``) or ``s_i · u_i``
(``max_score_weighted_award``).

For any multipliers ``y ≥ 0``, ``z ≥ 0`` and any portfolio *x* respecting the rows,
``c·x ≤ c·x + y·(b − A x) + z·(G x − h) = L − Σ_i pen_i(x_i)`` with the reduced costs
``d_i = c_i − Σ_k y_k A_ki + Σ_g z_g G_gi``, the bound
``L = y·b − z·h + Σ_{i free} max(d_i, 0) + Σ_{i locked} d_i`` and the penalties
``pen_i(1) = max(−d_i, 0)``, ``pen_i(0) = max(d_i, 0)`` (Lagrangian relaxation: Fisher, "The Lagrangian
relaxation method for solving integer programming problems", Management Science 27(1), 1981; fixing by
reduced costs: Balas and Zemel, "An algorithm for large zero-one knapsack problems", Operations Research
28(5), 1980).  So a portfolio worth at least ``v`` has ``Σ pen_i(x_i) ≤ L − v``: every candidate whose
``|d_i|`` exceeds ``L − v`` takes the value its reduced cost prefers (1 when ``d_i > 0``, 0 when
``d_i < 0``) in **every** portfolio worth at least ``v``, the optimum and all the portfolios tied with it
included, whenever ``v`` is the value of a known portfolio (or less).

Any multipliers give a valid bound; the solver's LP duals make it tight.  They are floating-point
numbers, so they are first turned into exact rationals ``Y_k / D`` (``D = 2**32``, rounded down, a
wrong sign set to 0) and everything after that is Python integers (``D · d_i``, ``D · L``): no rounding
error can fix a candidate wrongly.  The fixing depends only on those integers and on ``v``; the
solver's answers on the smaller problem are read back and re-checked in integers as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ditp_model.rules.base import OPTIMISATION_OBJECTIVES, Candidates

#: Denominator of the rational multipliers (``y_k ≈ Y_k / D``).
DENOMINATOR = 2**32


@dataclass(frozen=True)
class Row:
    """One row of the level-1 problem: ``Σ coef_i x_i ≤ rhs`` (sense ``"le"``) or ``≥ rhs`` (``"ge"``).

    Attributes
    ----------
    key : str
        The rule key of :func:`~ditp_model.rules.milp.build` (``envelope``, ``group_min:<j>``,
        ``group_max:<j>``, ``max_awards``) or ``valid_cut_count``.
    sense : {"le", "ge"}
    positions : numpy.ndarray of int
        Candidate positions with a non-zero coefficient.
    coefs : list of int
        Their coefficients (whole euros or 1).
    rhs : int
    """

    key: str
    sense: str
    positions: np.ndarray
    coefs: list
    rhs: int


def applies(cands: Candidates) -> bool:
    """Whether the bound applies: an optimisation rule, no award cut, a candidate with a non-zero level-1 coefficient."""
    t = cands.table
    return (cands.rule in OPTIMISATION_OBJECTIVES and len(t) > 0
            and not (t["max_cut_steps"].to_numpy(np.int64) > 0).any() and any(objective_coefs(cands)))


def objective_coefs(cands: Candidates) -> list[int]:
    """Level-1 coefficient of each candidate in exact integer units (score units, or score units × euros)."""
    t = cands.table
    s = [int(v) for v in t["score_units"]]
    if OPTIMISATION_OBJECTIVES[cands.rule] == "total_score":
        return s
    return [a * int(u) for a, u in zip(s, t["upper_eur"])]


def rows(cands: Candidates) -> list[Row]:
    """The rows of the level-1 problem, as :func:`~ditp_model.rules.milp.build` writes them (no cut variable)."""
    t = cands.table
    n = len(t)
    upper = [int(v) for v in t["upper_eur"]]
    every = np.arange(n)
    out = [Row("envelope", "le", every, upper, int(cands.available_eur))]
    for j, r in enumerate(cands.params.group_rules):
        members = np.flatnonzero(t[r.column].to_numpy() == r.value)
        if r.min_count is not None:
            out.append(Row(f"group_min:{j}", "ge", members, [1] * len(members), int(r.min_count)))
        if r.max_share is not None:
            out.append(Row(f"group_max:{j}", "le", members, [upper[k] for k in members], r.cap_eur(cands.available_eur)))
    if cands.params.max_awards is not None:
        out.append(Row("max_awards", "le", every, [1] * n, int(cands.params.max_awards)))
    smallest = int(t["lower_eur"].min())
    if smallest > 0:
        out.append(Row("valid_cut_count", "le", every, [1] * n, int(cands.available_eur) // smallest))
    return out


@dataclass(frozen=True)
class Bound:
    """The Lagrangian bound for one set of multipliers, in units of ``1 / DENOMINATOR`` (exact integers).

    Attributes
    ----------
    scaled_bound : int
        ``D · L``.
    scaled_reduced : list of int
        ``D · d_i`` per candidate position.
    locked : numpy.ndarray of bool
        Locked-in candidates (always funded: never fixed, never free).
    envelope_multiplier : int
        ``D · y_E``, the envelope's multiplier (0 when the envelope is not priced).
    """

    scaled_bound: int
    scaled_reduced: list
    locked: np.ndarray
    envelope_multiplier: int = 0

    def value_bound(self) -> int:
        """The largest whole value a portfolio can reach under this bound: ``⌊L⌋``."""
        return self.scaled_bound // DENOMINATOR

    def fixings(self, value: int) -> dict[int, int]:
        """Position -> 0/1 taken by every portfolio worth at least `value` (integer units); see the module docstring.

        Empty when `value` exceeds the bound (no portfolio reaches it; the caller then has no incumbent to trust).
        """
        slack = self.scaled_bound - DENOMINATOR * int(value)
        if slack < 0:
            return {}
        return {k: int(d > 0) for k, d in enumerate(self.scaled_reduced)
                if not self.locked[k] and abs(d) > slack}

    def penalty(self, funded) -> int:
        """``D · Σ pen_i(x_i)`` of a portfolio given as a sequence of 0/1 per position (exact)."""
        return sum(max(-d, 0) if f else max(d, 0) for d, f, lk in zip(self.scaled_reduced, funded, self.locked) if not lk)


def lagrangian_bound(cands: Candidates, duals: dict[str, float]) -> Bound:
    """The bound ``L`` and the reduced costs for the multipliers `duals` (row key -> LP dual, any sign convention).

    A ``≤`` row takes ``max(dual, 0)``, a ``≥`` row ``max(−dual, 0)`` (HiGHS' and CBC's signs for a
    maximisation, as PuLP reads them back); a missing or non-finite dual counts as 0.  Each multiplier is
    rounded down to a multiple of ``1 / DENOMINATOR`` and the rest is exact.
    """
    coefs = objective_coefs(cands)
    scaled = [DENOMINATOR * c for c in coefs]
    const = 0
    envelope = 0
    for row in rows(cands):
        raw = duals.get(row.key)
        if raw is None or not np.isfinite(raw):
            continue
        m = float(raw) if row.sense == "le" else -float(raw)
        mult = int(np.floor(max(m, 0.0) * DENOMINATOR))
        if not mult:
            continue
        if row.key == "envelope":
            envelope = mult
        sign = -1 if row.sense == "le" else 1
        const += -sign * mult * row.rhs  # + y·b for ≤ rows, − z·h for ≥ rows
        for k, a in zip(row.positions.tolist(), row.coefs):
            scaled[k] += sign * mult * a
    locked = cands.table["locked_in"].to_numpy(bool)
    total = const + sum(d if lk else max(d, 0) for d, lk in zip(scaled, locked))
    return Bound(total, scaled, locked, envelope)


@dataclass(frozen=True)
class Exact:
    """The decision found by :func:`enumerate_best`, exact in integers.

    Attributes
    ----------
    funded : list of bool
        Per candidate position.
    value : int
        Level-1 value (integer units).
    tied : bool
        Another funded set reaches the same value.
    portfolios : int
        Portfolios worth at least the target that were compared.
    """

    funded: list
    value: int
    tied: bool
    portfolios: int


class _TooMany(Exception):
    pass


def _flip_sets(items: list, weight: dict, budget: int, limit: int) -> list:
    """Every subset of `items` whose weights sum to at most `budget` (depth first, lightest first), as tuples."""
    items = sorted(items, key=lambda k: weight[k])
    out = []

    def grow(start: int, used: int, chosen: tuple) -> None:
        out.append((used, chosen))
        if len(out) > limit:
            raise _TooMany
        for t in range(start, len(items)):
            w = used + weight[items[t]]
            if w > budget:
                break
            grow(t + 1, w, chosen + (items[t],))

    grow(0, 0, ())
    return out


def enumerate_best(cands: Candidates, bound: Bound, fixed: dict[int, int], target: int,
                   limit: int = 200_000) -> Exact | None:
    """The decision among all portfolios worth at least `target`, by exact enumeration (meet in the middle).

    Every portfolio *x* worth at least `target` satisfies (module docstring, all in units of ``1/D``)
    ``pen(x) + y_E · (E − Σ u_i x_i) ≤ L − target``, the other rows' terms being ≥ 0.  The free candidates
    (neither locked nor in `fixed`) are split in two halves; in each half every set of departures from the
    preferred values with a total penalty within ``L − target`` is listed (:func:`_flip_sets`), and the two
    lists are joined on the money left, which must stay within ``(L − target − pen) / y_E`` euros.  Each pair
    that passes is re-checked in integers: envelope, maximum shares, minimum counts, maximum number of awards,
    value.  So every portfolio worth at least `target` that agrees with `fixed` is seen.

    When `fixed` holds for every portfolio worth at least `target` (:meth:`Bound.fixings`) and a known
    portfolio reaches `target`, the result is the whole problem's decision: greatest value, then greatest
    spend, then the funded vector greatest in position order (the levels and the named tie-break of
    :mod:`~ditp_model.rules.milp`), and `tied` says whether another funded set has the same value.

    Returns None when a list or the join would pass `limit` entries, or when no portfolio is found.
    """
    t = cands.table
    n = len(t)
    coefs = objective_coefs(cands)
    upper = [int(v) for v in t["upper_eur"]]
    d = bound.scaled_reduced
    slack = bound.scaled_bound - DENOMINATOR * int(target)
    if slack < 0:
        return None
    base = [1 if bound.locked[k] else fixed.get(k, int(d[k] > 0)) for k in range(n)]  # free ones: preferred value
    free = [k for k in range(n) if not bound.locked[k] and k not in fixed]
    weight = {k: abs(d[k]) for k in free}
    by_weight = sorted(free, key=lambda k: weight[k])
    halves = (by_weight[0::2], by_weight[1::2])  # alternate by weight: two lists of about the same size
    try:
        lists = [_flip_sets(h, weight, slack, limit) for h in halves]
    except _TooMany:
        return None
    sign = {k: (-1 if base[k] else 1) for k in free}  # flipping k adds sign·u_k euros
    spend0 = sum(u for u, b in zip(upper, base) if b)
    value0 = sum(c for c, b in zip(coefs, base) if b)
    b_list = [(sum(sign[k] * upper[k] for k in flips), pen, flips) for pen, flips in lists[1]]
    b_list.sort(key=lambda r: r[0])
    b_spend = np.array([r[0] for r in b_list], dtype=np.int64)
    y_e = bound.envelope_multiplier
    room = cands.available_eur - spend0
    all_rows = rows(cands)
    member = {k: [] for k in free}
    activity = []
    for j, row in enumerate(all_rows):
        act = 0
        for k, a in zip(row.positions.tolist(), row.coefs):
            act += a * base[k]
            if k in member:
                member[k].append((j, a))
        activity.append(act)
    kept = []
    pairs = 0
    for pen_a, flips_a in lists[0]:
        spend_a = sum(sign[k] * upper[k] for k in flips_a)
        hi = room - spend_a  # the B part may add at most this (envelope)
        lo = None if not y_e else hi - (slack - pen_a) // y_e  # money left at most (slack − pen_a) / y_E
        i0 = 0 if lo is None else int(np.searchsorted(b_spend, lo, side="left"))
        i1 = int(np.searchsorted(b_spend, hi, side="right"))
        pairs += max(i1 - i0, 0)
        if pairs > limit:
            return None
        for spend_b, pen_b, flips_b in b_list[i0:i1]:
            left = room - spend_a - spend_b
            if pen_a + pen_b + y_e * left > slack:
                continue
            flips = flips_a + flips_b
            act = list(activity)
            for k in flips:
                for j, a in member[k]:
                    act[j] += sign[k] * a
            if any(a > r.rhs if r.sense == "le" else a < r.rhs for a, r in zip(act, all_rows)):
                continue
            value = value0 + sum(sign[k] * coefs[k] for k in flips)
            if value >= target:
                kept.append((value, spend0 + spend_a + spend_b, flips))
    if not kept:
        return None
    best_value = max(v for v, _, _ in kept)
    top = [r for r in kept if r[0] == best_value]
    best_spend = max(s for _, s, _ in top)

    def vector(flips):
        x = list(base)
        for k in flips:
            x[k] = 1 - x[k]
        return x

    best = max((vector(f) for v, s, f in top if s == best_spend), key=lambda x: tuple(x[k] for k in free))
    return Exact([bool(b) for b in best], best_value, len(top) > 1, len(kept))
