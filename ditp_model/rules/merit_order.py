"""Decision rule ``merit_order`` (the default): merit order above the quality thresholds, cut at the budget line.

:func:`decide_merit_order` (common signature, ``Candidates -> Allocation``):
the committee's locks and the minimum-count rules funded first, every
departure from merit order named (:func:`name_exceptions`,
:class:`~ditp_model.rules.base.MeritException`); the decision itself comes from
the exact search (:mod:`~ditp_model.rules.merit_search`) or, with award cuts,
from the MILP (:mod:`~ditp_model.rules.milp`), and is re-checked in integers
(:mod:`~ditp_model.rules.recheck`).  The definition of a valid complaint is in
DESIGN.md, "The decision rules".
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from ditp_model.rules.base import Allocation, AllocationError, Candidates, MeritException, SolveStatus
from ditp_model.rules.milp import decide_lexicographic, diagnose_infeasibility
from ditp_model.rules.recheck import verify_awards
from ditp_model.scoring.aggregate import TIE_BREAK_RULE


def name_exceptions(decisions: pd.DataFrame, cands: Candidates, baseline: pd.DataFrame) -> tuple[MeritException, ...]:
    """Each laureate funded out of merit order, the applications it passes over, and its cause.

    `baseline` is the merit-order decision without the locks and the
    minimum-count exceptions.  A locked-in or forced laureate that the
    baseline does not fund is an exception when the decision leaves out
    applications ranked more than δ above it: for a committee lock, every
    unfunded candidate ranked above it (the lock is served first, so each
    of them was passed over, funded by the baseline or not); for a
    minimum-count rule, the baseline laureates it displaces.
    """
    t = cands.table
    su = dict(zip(t["application_id"], (int(v) for v in t["score_units"])))
    funded = set(decisions.loc[decisions["funded"], "application_id"])
    base = set(baseline.loc[baseline["funded"], "application_id"])
    lost = [a for a in t["application_id"] if a in base and a not in funded]
    # a lock is funded first: every fundable application ranked above it and left unfunded was passed over by it,
    # whether or not the decision without locks funds it (P038 above an imposed P045, short of money at its turn)
    unfunded = [a for a in t["application_id"] if a not in funded]
    out = []
    for k, lk in zip(t["application_id"], t["locked_in"]):
        if not lk or k not in funded or k in base:
            continue
        pool = unfunded if k not in cands.forced else lost
        above = tuple(a for a in pool if su[a] > su[k] + cands.tie_band_units)
        if above:
            why = cands.params.lock_reason(k)
            out.append(MeritException(k, above, cands.forced.get(k, f"imposé par le comité{' : ' + why if why else ''}")))
    return tuple(out)


def decide_merit_order(cands: Candidates) -> Allocation:
    """Merit order with the committee's locks and the minimum-count rules, departures named.

    Locks are funded first.  A minimum-count rule that merit order does not
    meet is met as a committee would by hand: the best-ranked unfunded
    applications of the group are funded first (like locks), as few as the
    rule needs, and merit order resumes on the rest; repeated until every
    minimum holds.  Each application so funded, with the better-ranked
    applications it passes over, is named (:func:`name_exceptions`, against
    the merit-order decision without locks and minimums).  The minimum-count
    rules are then re-checked in integers with the others.
    """
    params = cands.params
    mins = [r for r in params.group_rules if r.min_count]
    solve_params = replace(params, group_rules=tuple(replace(r, min_count=None) for r in params.group_rules if r.max_share is not None))
    t = cands.table
    forced: dict[str, str] = {}
    baseline = None
    if mins or bool(t["locked_in"].any()):
        free = decide_lexicographic(replace(cands, table=t.assign(locked_in=False),
                                             params=replace(solve_params, lock_in=frozenset())))
        baseline = free.decisions if free.is_optimal else None
    for _ in range(len(t) + 1):
        locked = t["locked_in"].to_numpy(bool) | t["application_id"].isin(forced).to_numpy()
        trial = replace(cands, table=t.assign(locked_in=locked), params=solve_params, forced=dict(forced))
        alloc = decide_lexicographic(trial)
        if not alloc.is_optimal:
            break
        funded = set(alloc.funded_ids)
        added = False
        for r in mins:
            members = t.loc[t[r.column] == r.value, "application_id"].tolist()  # rank order
            short = r.min_count - sum(1 for a in members if a in funded)
            for a in [a for a in members if a not in funded][:max(short, 0)]:
                forced[a] = f"règle « {r.label_fr()} »"
                added = True
        if not added:
            final = replace(trial, params=params)
            decisions = alloc.decisions
            violations = verify_awards(decisions, final)
            if violations:
                raise AllocationError("la décision ne respecte pas les règles (vérification en entiers) : " + " ; ".join(violations))
            exceptions = name_exceptions(decisions, final, baseline) if baseline is not None else ()
            msg = f"{alloc.message} ; ordre de mérite"
            msg += (f" ; {len(exceptions)} exception(s) due(s) aux verrous ou aux règles, nommée(s)" if exceptions
                    else " respecté sans exception")
            if alloc.other_optimal_portfolios:
                msg += " ; ex aequo départagés par le montant dépensé puis la règle " + TIE_BREAK_RULE
            return replace(alloc, candidates=final, message=msg, exceptions=exceptions)
    if alloc.is_optimal:  # pragma: no cover - the loop adds at least one application each time
        raise AllocationError("règles de nombre minimal : aucune décision stable")
    if alloc.status is SolveStatus.INFEASIBLE:  # name the conflict on the full rule set, minimums included
        conflicts, keys = diagnose_infeasibility(replace(cands, rule="max_total_score"), params.solver, params.time_limit_s)
        return replace(alloc, candidates=cands, message=conflicts[0], conflicts=conflicts[1:], conflict_keys=keys)
    return replace(alloc, candidates=cands)
