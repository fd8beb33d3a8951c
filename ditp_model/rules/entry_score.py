"""The score an unfunded candidate needed, exact under the rule in force, checked by re-deciding (trial 1, item 1).

The turn-by-turn formula of :func:`~ditp_model.rules.explain.merit_explanations`
keeps the decisions of the others as they are and moves the candidate up until
the money left at its turn covers its minimum award.  That is exact only when
the decision of the applications ranked above a position does not depend on
what lies below it:

* the ranking rule, variant ``skip`` (locks first, then rank order: an
  application's decision reads only the money, count and group spending left
  by those before it);
* the merit order with δ = 0, no minimum-count rule, no award cut and no two
  candidates with the same score: the exact search is then that same ranking
  rule with skip, locks first (:func:`~ditp_model.rules.merit_search.merit_search`),
  as long as the needed score ties no other application exactly (an exact tie
  is an ex aequo band even at δ = 0, settled by the money spent).

There the money left at each insertion point only shrinks down the list, so the
set of scores that suffice is "every score above one value", and the formula
gives that value.  Everywhere else — δ > 0 (the spend criterion settles ties
inside the band: a candidate raised into the band of a laureate that uses the
envelope better is still left out, trial 1: P027 at 62,98 and 63,23 stays
unfunded behind P006), minimum-count rules (raising a candidate may make it
the one a rule funds first), award cuts, the ``stop`` variant — the value is
found by re-deciding with the candidate's score changed and nothing else
(:class:`Redecider`, the same rule: the exact search, or the rule itself
through :func:`~ditp_model.rules.allocation.allocate_candidates` when the
search cannot decide), by bisection over the scores where the decision can
change, then checked (:func:`entry_score`).

Where the decision can change: when the candidate scores *s* (integer score
units), its rank position changes only at another's score s_j (ties settled
by the call's rule: submission date, then id), its own ex aequo band
``[s − δ, s]`` only at s_j + δ, and another's band starts holding it at
s_j − δ.  Between two such values the decision is the same, so one score per
interval decides for all of it.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, replace

import numpy as np

from ditp_model.rules.base import Candidates

__all__ = ["Redecider", "EntryScore", "entry_score", "formula_is_exact", "ceil_to_display", "shown_needed_score",
           "DISPLAY_DECIMALS"]

#: Decimals of a score shown to an applicant (``format_points``): an announced score is rounded *up* to these.
DISPLAY_DECIMALS = 2


def ceil_to_display(units: int, score_unit: int) -> int:
    """`units` rounded up to the displayed precision (score units): 62,8443 points → 62,85 points."""
    step = max(1, score_unit // 10**DISPLAY_DECIMALS)
    return -(-int(units) // step) * step


def shown_needed_score(score_needed: float) -> float:
    """The needed score as an applicant reads it: rounded *up* to 0,01 point (« une note d'au moins 63,35 »).

    `score_needed` (points, 4 decimals, the column of the decision table) is the lowest score that
    suffices; rounded up, the shown score suffices too, and 0,01 point less does not.
    """
    from decimal import ROUND_CEILING, Decimal

    return float(Decimal(repr(float(score_needed))).quantize(Decimal(1).scaleb(-DISPLAY_DECIMALS), rounding=ROUND_CEILING))


def formula_is_exact(cands: Candidates) -> bool:
    """Whether the turn-by-turn formula gives the exact needed score under this rule (see the module docstring)."""
    p = cands.params
    t = cands.table
    if len(t) and bool((t["max_cut_steps"] > 0).any()):
        return False
    if any(r.min_count for r in p.group_rules):
        return False
    if cands.rule == "ranking":
        return p.ranking_variant == "skip"
    # δ = 0: identical scores still form an ex aequo band, settled by the money spent — which may then depend on
    # the candidate raised below them: the formula is trusted only when no two candidates share a score
    units = t["score_units"].tolist() if len(t) else []
    return (cands.rule == "merit_order" and cands.tie_band_units == 0 and p.exact_search
            and len(set(units)) == len(units))


class Redecider:
    """The same rule re-run with one candidate's score changed and nothing else (exact integers where possible).

    Parameters
    ----------
    cands : Candidates
        The candidates of the decision (``allocation.candidates``).
    keys : dict, optional
        Application id -> tie-break key after the score (submission date, id) — the call's rule
        (:data:`~ditp_model.scoring.aggregate.TIE_BREAK_RULE`).  Without it, a candidate raised to
        exactly another's score is placed after it (never a promise too low).
    """

    def __init__(self, cands: Candidates, keys: dict | None = None):
        self.cands = cands
        t = cands.table.reset_index(drop=True)
        self.table = t
        p = cands.params
        self.ids = [str(a) for a in t["application_id"]]
        self.su = [int(v) for v in t["score_units"]]
        self.upper = [int(v) for v in t["upper_eur"]]
        self.first = [a in p.lock_in for a in self.ids]  # the committee's locks; minimum-count choices are re-made
        self.band = int(cands.tie_band_units) if cands.rule == "merit_order" else 0
        self.keys = keys
        self.caps = [(t[r.column].to_numpy() == r.value, int(r.cap_eur(cands.available_eur)))
                     for r in p.group_rules if r.max_share is not None]
        cuts = bool(len(t)) and bool((t["max_cut_steps"] > 0).any())
        self.fast = (cands.rule == "merit_order" and p.exact_search and not cuts
                     and not any(r.min_count for r in p.group_rules))
        self.calls = 0

    def _before(self, k: int, s: int, j: int) -> bool:
        """Candidate `k` scoring `s` is ranked before `j`."""
        if s != self.su[j]:
            return s > self.su[j]
        if self.keys is None:
            return False
        return self.keys[self.ids[k]] < self.keys[self.ids[j]]

    def order(self, k: int, s: int) -> list[int]:
        """Positions in the new rank order when `k` scores `s` units (the others keep their order)."""
        others = [j for j in range(len(self.ids)) if j != k]
        at = next((i for i, j in enumerate(others) if self._before(k, s, j)), len(others))
        return others[:at] + [k] + others[at:]

    def funded(self, k: int, s: int) -> bool:
        """Whether the rule funds candidate position `k` when it scores `s` units, all else unchanged."""
        self.calls += 1
        order = self.order(k, s)
        units = [s if j == k else self.su[j] for j in order]
        if self.fast:
            from ditp_model.rules.merit_search import merit_search

            arr = np.asarray(units, dtype=np.int64)
            reach = (np.searchsorted(-arr, -(arr - self.band), side="right") - 1).tolist()
            x = merit_search([self.upper[j] for j in order], reach, [self.first[j] for j in order],
                             [(mask[order], cap) for mask, cap in self.caps], self.cands.available_eur,
                             self.cands.params.max_awards)
            if x is not None:
                return bool(x[order.index(k)])
        return self._funded_by_rule(k, s, order)

    def _funded_by_rule(self, k: int, s: int, order: list[int]) -> bool:
        """The rule itself (:func:`~ditp_model.rules.allocation.allocate_candidates`) on re-ordered candidates."""
        from ditp_model.rules.allocation import allocate_candidates

        t = self.table.copy()
        t.loc[k, "score_units"] = s
        t.loc[k, "score"] = s / self.cands.score_unit
        t = t.iloc[order].reset_index(drop=True)
        t["locked_in"] = t["application_id"].isin(self.cands.params.lock_in)
        alloc = allocate_candidates(replace(self.cands, table=t, forced={}))
        if not alloc.is_optimal:
            return False
        d = alloc.decisions.set_index("application_id")
        return bool(d.at[self.ids[k], "funded"])

    def points(self, k: int, top: int) -> list[int]:
        """One score (units) per interval on which the decision is constant, above the candidate's own, up to `top`."""
        s0 = self.su[k]
        cuts = set()
        for j, sj in enumerate(self.su):
            if j != k:
                cuts.update((sj, sj + self.band, sj - self.band))
        pts = {s0 + 1, top}
        for b in cuts:
            pts.update((b, b + 1))
        return sorted(p for p in pts if s0 < p <= top)


@dataclass(frozen=True)
class EntryScore:
    """The needed score of one unfunded candidate.

    Attributes
    ----------
    units : int or None
        The smallest score (score units) from which the candidate is funded at every score
        checked up to the top of the scale, all else unchanged; None when no score suffices.
    method : str
        ``formula`` (turn by turn, exact for this rule), ``bisection`` (re-decided) or
        ``scan`` (re-decided at every interval: the scores that suffice are not all above one value).
    monotone : bool
        False when a lower score was also found to suffice (then `units` is the start of the
        range of scores that all suffice, which is what a letter may promise).
    """

    units: int | None
    method: str
    monotone: bool = True


def entry_score(redo: Redecider, k: int, top: int, formula_units: int | None = None,
                guesses=()) -> EntryScore:
    """The smallest score from which candidate position `k` is funded, exact, checked by re-deciding.

    Parameters
    ----------
    redo : Redecider
    k : int
        Position of an unfunded candidate.
    top : int
        Highest score on the scale (score units: 100 points).
    formula_units : int, optional
        The turn-by-turn value, trusted when :func:`formula_is_exact` holds and it ties no other
        candidate's score (then no re-decision is made).
    guesses : iterable of int, optional
        Likely values (those found for other candidates): tried first to narrow the bisection,
        which then goes on as usual (each is only a re-decision at a chosen score).

    Returns
    -------
    EntryScore

    Notes
    -----
    Bisection over :meth:`Redecider.points` assumes the scores that suffice are all those above
    one value.  The value found is then checked by re-deciding there (funded), one unit below
    (not funded), at the displayed value — rounded up to 0,01 point, what a letter promises — and
    at the top of the scale.  If a check fails, every interval is re-decided from the top down
    (``scan``) and the value returned is the lowest from which all of them suffice.  The
    assumption itself is checked by ``tests/test_entry_score.py``: on random cases (δ from 0 to 3
    points, locks, a maximum number of awards, a group's maximum share) the brute force of the
    rule, at every place above the value where the decision could change, funds the candidate;
    no case where a higher score loses the place was found (about 800 candidates over 400 cases).
    """
    s0 = redo.su[k]
    if formula_units is not None and formula_is_exact(redo.cands):
        others = {v for j, v in enumerate(redo.su) if j != k}
        if formula_units > top:
            return EntryScore(None, "formula")
        if formula_units not in others and formula_units - 1 not in others:
            return EntryScore(formula_units, "formula")
    memo: dict[int, bool] = {}

    def funded(p: int) -> bool:
        if p not in memo:
            memo[p] = p > s0 and redo.funded(k, p)
        return memo[p]

    pts = redo.points(k, top)
    if not pts or not funded(pts[-1]):
        return EntryScore(None, "bisection")
    lo, hi = 0, len(pts) - 1  # pts[hi] suffices; find the first that does
    recent = list(dict.fromkeys(reversed(list(guesses or ()))))[:2]
    for g in recent:  # the last values found for other candidates first: often the same competitor holds the line
        i = bisect_left(pts, g)
        for j in (i, i - 1):
            if lo <= j < hi:
                if funded(pts[j]):
                    hi = j
                else:
                    lo = j + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if funded(pts[mid]):
            hi = mid
        else:
            lo = mid + 1
    found = pts[lo]
    shown = min(ceil_to_display(found, redo.cands.score_unit), top)
    ok = funded(found) and not funded(found - 1) and funded(shown) and funded(top)
    if ok:
        return EntryScore(found, "bisection")
    # not all above one value: every interval, from the top down, until one does not suffice
    start = None
    for p in reversed(pts):
        if funded(p):
            start = p
        else:
            break
    low = pts[:pts.index(start)] if start is not None else pts
    return EntryScore(start, "scan", not any(funded(p) for p in low))
