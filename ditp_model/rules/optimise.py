"""Decision rules ``max_total_score`` and ``max_score_weighted_award``: optimisation objectives, kept for comparison.

``max_total_score`` maximises the sum of the laureates' composite scores
(``Σ s_i x_i``), ``max_score_weighted_award`` the sum of the scores weighted
by the awards (``Σ s_i a_i``); then, as for every rule decided by the MILP,
the money spent and the named tie-break (:mod:`~ditp_model.rules.milp`).
Neither is ever the default (:data:`~ditp_model.rules.base.DEFAULT_RULE`).

How the two objectives differ, on a small example: envelope 200 k€, A (score
90, request 200 k€), B and C (score 60, 100 k€ each).  ``total_score`` funds B
and C (120 points against 90); ``score_weighted_award`` funds A (90 × 200 =
18,000 points·k€ against 60 × 100 × 2 = 12,000): it spends on the best
rather than funding more projects.

Large calls (issue 18, item 6: 10,000 applications and 13 regional rules took 35–60 s, two thirds of it
proving that no other portfolio has the same value).  Without award cuts, :func:`reduced_level_one` first
solves the LP relaxation, turns its duals into a Lagrangian bound in exact integers
(:mod:`~ditp_model.rules.lagrange`) and solves a small problem for a good portfolio; the bound then proves
which candidates every portfolio at least as good funds or leaves out.  The few candidates left (tens,
out of thousands) are settled by :func:`~ditp_model.rules.lagrange.enumerate_best`, an exact enumeration
in integers that sees every portfolio worth at least that much: the optimum, whether another funded set
ties with it, the spend and the named tie-break, with no further solve.  When the enumeration would be too
large, the MILP decides as before (:func:`~ditp_model.rules.milp.decide_lexicographic`) on the problem with
the proven values fixed.  Either way the decision is the full problem's, and it is re-checked in integers.
"""

from __future__ import annotations

import time

import pandas as pd

from ditp_model.rules import lagrange, milp
from ditp_model.rules.base import Allocation, AllocationError, Candidates, SolveStatus
from ditp_model.rules.recheck import portfolio_value, verify_awards
from ditp_model.scoring.aggregate import TIE_BREAK_RULE

#: Free candidates in the heuristic reduced problems of :func:`reduced_level_one`, tried in turn.
CORE_SIZES = (16, 64)
#: The reduction runs from this many candidates on; below, the full MILP decides in well under a second.
REDUCE_FROM = 200


def reduced_level_one(cands: Candidates):
    """Level 1 of an optimisation rule on the problem shrunk by the Lagrangian bound.

    1. LP relaxation; its duals give the bound ``L`` and the reduced costs (exact integers).
    2. For each size in :data:`CORE_SIZES`: that many candidates with the smallest ``|d_i|`` left free, the
       others at the value their reduced cost prefers; solved, read back, re-checked in integers: a portfolio
       of value ``v``; the bound proves what every portfolio worth at least ``v`` funds or leaves out.  With
       ``check_alternatives``, :func:`~ditp_model.rules.lagrange.enumerate_best` decides exactly when the
       candidates left are few enough.
    3. Otherwise the MILP goes on from there: when step 2 fixed only proven values and proved its optimum,
       that is the level-1 optimum; else the problem with the proven values fixed is solved, and the enumeration
       is tried once more at the optimum's value (fewer candidates are left free there).

    Returns
    -------
    lagrange.Exact, float
        The exact decision and the seconds of all solves (step 2 decided); or
    tuple
        ``(model, level-1 solve, bound, seconds)`` for :func:`~ditp_model.rules.milp.decide_lexicographic`; or
    None
        No portfolio was found (relaxation not solved, reduced problems infeasible): the full problem decides.

    Raises
    ------
    AllocationError
        A portfolio that contradicts the bound (never expected: the bound is exact).
    """
    p = cands.params
    lp = milp.build(cands, relax=True)
    info = milp.solve(lp, p.solver, p.time_limit_s)
    seconds = info.seconds
    if info.status is not SolveStatus.OPTIMAL:
        return None
    names = {key: name for key, (name, _) in lp.rules.items()} | {"valid_cut_count": "valid_cut_count"}
    rows = {key: lp.problem.get_constraint_by_name(name) for key, name in names.items()}
    duals = {key: row.pi for key, row in rows.items() if row is not None and row.pi is not None}
    # PuLP reads HiGHS' duals in the sign of the minimisation it passes: try both signs, keep the tighter bound
    bound = min(lagrange.lagrangian_bound(cands, duals), lagrange.lagrangian_bound(cands, {k: -v for k, v in duals.items()}),
                key=lambda b: b.scaled_bound)
    n = len(cands.table)
    order = sorted(range(n), key=lambda k: abs(bound.scaled_reduced[k]))
    found = None
    for size in CORE_SIZES + tuple(CORE_SIZES[-1] * 8**k for k in range(1, 4)):
        trial = {k: int(bound.scaled_reduced[k] > 0) for k in order[size:] if not bound.locked[k]}
        model = milp.build(cands, fixed=trial)
        first = milp.solve(model, p.solver, p.time_limit_s)
        seconds += first.seconds
        if first.status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
            if not trial or first.status is not SolveStatus.INFEASIBLE:
                break
            continue  # too few candidates left free to meet the rules: more
        level = milp.read_back(model, cands)
        if verify_awards(level, cands):
            break
        value = portfolio_value(level, cands)
        proven = bound.fixings(value)
        funded = level["funded"].tolist()
        wrong = [cands.table.at[k, "application_id"] for k, v in proven.items() if funded[k] != bool(v)]
        if wrong:
            raise AllocationError("borne lagrangienne contredite par un portefeuille vérifié en entiers : " + ", ".join(wrong[:5]))
        found = (model, first, value, proven, trial)
        if p.check_alternatives:
            t0 = time.perf_counter()
            exact = lagrange.enumerate_best(cands, bound, proven, value)
            seconds += time.perf_counter() - t0
            if exact is not None:
                return exact, seconds
        if size >= CORE_SIZES[-1] or not trial:
            break
    if found is None:
        return None
    model, first, value, proven, trial = found
    if first.status is SolveStatus.OPTIMAL and all(proven.get(k) == v for k, v in trial.items()):
        return model, first, bound, seconds  # it fixed only proven values: its optimum is the level-1 optimum
    model = milp.build(cands, fixed=proven)
    first = milp.solve(model, p.solver, p.time_limit_s)
    seconds += first.seconds
    if p.check_alternatives and first.status is SolveStatus.OPTIMAL:
        # the level-1 optimum is known: fewer candidates are left free at its value; try the enumeration again
        best = portfolio_value(milp.read_back(model, cands), cands)
        t0 = time.perf_counter()
        exact = lagrange.enumerate_best(cands, bound, bound.fixings(best), best)
        seconds += time.perf_counter() - t0
        if exact is not None:
            return exact, seconds
    return model, first, bound, seconds


def _exact_allocation(cands: Candidates, exact: lagrange.Exact, seconds: float) -> Allocation:
    """The Allocation of an exact decision, re-checked in integers like a solver's."""
    t = cands.table
    awards = [int(u) if f else 0 for u, f in zip(t["upper_eur"], exact.funded)]
    decisions = pd.DataFrame({"application_id": t["application_id"], "funded": exact.funded,
                              "award_eur": pd.array(awards, dtype="int64"), "cut_steps": [0] * len(t)})
    violations = verify_awards(decisions, cands)
    if violations:
        raise AllocationError("la décision exacte ne respecte pas les règles (vérification en entiers) : " + " ; ".join(violations))
    if portfolio_value(decisions, cands) != exact.value:
        raise AllocationError(f"valeur du portefeuille {portfolio_value(decisions, cands)} différente de {exact.value}")
    version = milp.solver_version(cands.params.solver)
    msg = f"{SolveStatus.OPTIMAL.label_fr} ({version})"
    if exact.tied:
        msg += " ; d'autres portefeuilles atteignent la même valeur : départagés par la règle " + TIE_BREAK_RULE
    return Allocation(SolveStatus.OPTIMAL, cands.params.solver, version, exact.value / cands.score_unit, 0.0, seconds,
                      cands, exact.tied, TIE_BREAK_RULE, msg, (), decisions)


def decide_optimisation(cands: Candidates) -> Allocation:
    """The optimal portfolio of the candidates' optimisation rule (common signature, ``Candidates -> Allocation``).

    Build → solve (lexicographic: value, spend, tie-break) → read back → verify
    in integers (:func:`~ditp_model.rules.milp.decide_lexicographic`); the
    objective is ``OPTIMISATION_OBJECTIVES[cands.rule]``.  Without award cuts and
    from :data:`REDUCE_FROM` candidates on, first :func:`reduced_level_one` (module docstring).

    Raises
    ------
    AllocationError
        A solver answer that fails the exact integer re-check.
    """
    if len(cands.table) < REDUCE_FROM or not lagrange.applies(cands):
        return milp.decide_lexicographic(cands)
    reduced = reduced_level_one(cands)
    if reduced is not None and isinstance(reduced[0], lagrange.Exact):
        return _exact_allocation(cands, *reduced)
    return milp.decide_lexicographic(cands, reduced=reduced)
