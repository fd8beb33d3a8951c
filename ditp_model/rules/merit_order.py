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

from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from ditp_model.french import format_number
from ditp_model.rules.base import Allocation, AllocationError, Candidates, MeritException, SolveStatus
from ditp_model.rules.candidates import tie_band_fr
from ditp_model.rules.milp import decide_lexicographic, diagnose_infeasibility
from ditp_model.rules.recheck import merit_complaints, merit_reach, verify_awards
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


def _limit_params(params):
    """The parameters without the limits that can hold an application out: maximum shares and the maximum number of awards."""
    return replace(params, group_rules=tuple(r for r in params.group_rules if r.max_share is None), max_awards=None)


def name_held_out(decisions: pd.DataFrame, cands: Candidates,
                  free: pd.DataFrame | Callable[[], pd.DataFrame | None] | None = None) -> tuple[tuple[MeritException, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """Applications held out by a maximum-share rule or the maximum number of awards, with the rule and its figures.

    An unfunded candidate *j* is held out by a limit when, with the laureates
    funded first (locks, minimum-count exceptions) set aside, it has a valid
    complaint under merit order without the maximum shares and the maximum
    number of awards (:func:`~ditp_model.rules.recheck.merit_complaints`, in
    integers: the unspent envelope plus the awards of laureates scoring more
    than δ below it cover its minimum award) and has none with them (the
    decision is merit-consistent under its rules).  The limits that stop it are
    found with the same integer sums: a group of *j* whose awards to
    applications scoring at least s_j − δ leave less than ℓ_j under its cap,
    or the number of such laureates at the maximum.

    When laureates scoring more than δ below *j* (not funded first) exist, *j*
    is passed over: a departure from merit order, named as a
    :class:`~ditp_model.rules.base.MeritException` of kind ``"held_out"``, one
    per limit, with the laureates below it that merit order without locks or
    portfolio rules (`free`: its decisions, or a function computing them only
    when needed; None: not known) would not fund.
    Otherwise the limit only ended the list early (money left): returned apart.

    Returns
    -------
    tuple
        (exceptions, stops): the departures, and ``(cause, ids)`` of the
        applications a limit left out with no laureate below them.
    """
    p = cands.params
    if p.max_awards is None and not any(r.max_share is not None for r in p.group_rules):
        return (), ()
    t = cands.table
    ids = t["application_id"].tolist()
    first = set(t.loc[t["locked_in"], "application_id"])
    held = merit_complaints(decisions, replace(cands, params=_limit_params(p)), exempt=first)
    if not held:
        return (), ()
    award_of = dict(zip(decisions["application_id"], decisions["award_eur"]))
    funded_of = dict(zip(decisions["application_id"], decisions["funded"]))
    award = {a: int(award_of[a]) if a in award_of else 0 for a in ids}
    funded = {a: bool(funded_of[a]) if a in funded_of else False for a in ids}
    lower = dict(zip(ids, (int(v) for v in t["lower_eur"])))
    reach = merit_reach(cands)
    pos = {a: k for k, a in enumerate(ids)}
    if callable(free):
        free = free()
    base = set(free.loc[free["funded"], "application_id"]) if free is not None else None
    causes: dict[str, list[str]] = {}
    instead: dict[str, set[str]] = {}
    stops: dict[str, list[str]] = {}
    for j in held:
        r = int(reach[pos[j]])
        claimed = [a for a in ids[:r + 1] if funded[a]] + [a for a in ids[r + 1:] if funded[a] and a in first]
        why = []
        for rule in p.group_rules:
            if rule.max_share is None:
                continue
            members = set(t.loc[t[rule.column] == rule.value, "application_id"])
            if j not in members:
                continue
            if rule.cap_eur(cands.available_eur) - sum(award[a] for a in claimed if a in members) < lower[j]:
                spent = sum(award[a] for a in members if funded[a])
                why.append(rule.cap_reached_fr(spent, cands.available_eur))
        if p.max_awards is not None and len(claimed) >= p.max_awards:
            why.append(f"nombre maximal de lauréats atteint ({p.max_awards})")
        cause = " ; ".join(why)
        below = [a for a in ids[r + 1:] if funded[a] and a not in first]
        if below:
            causes.setdefault(cause, []).append(j)
            instead.setdefault(cause, set()).update(a for a in below if base is None or a not in base)
        else:
            stops.setdefault(cause, []).append(j)
    out = tuple(MeritException("", tuple(js), cause, "held_out",
                               tuple(a for a in ids if a in instead[cause]) if base is not None else ())
                for cause, js in causes.items())
    return out, tuple((cause, tuple(js)) for cause, js in stops.items())


def _status_fr(alloc, exceptions, stops) -> str:
    """The merit-order part of the status: « respecté sans exception », or the exceptions counted, and any limit reached."""
    from ditp_model.french import count_fr

    msg = f"{alloc.message} ; ordre de mérite"
    if exceptions:
        n = len(exceptions)
        kinds = []
        if any(not e.held_out for e in exceptions):
            kinds.append("aux verrous ou aux règles de nombre minimal")
        if any(e.held_out for e in exceptions):
            kinds.append("aux plafonds des règles de portefeuille")
        msg += (f" ; {count_fr(n, 'exception')} due{'s' if n > 1 else ''} {' et '.join(kinds)}, "
                f"nommée{'s' if n > 1 else ''}")
    else:
        msg += " respecté sans exception"
    for cause, js in stops:  # a limit that ends the list early, money left: not a departure, but said
        msg += f" ; {cause} : la liste s'arrête avant {js[0]}, que le reste de l'enveloppe permettait de financer"
    return msg


def decide_merit_order(cands: Candidates) -> Allocation:
    """Merit order with the committee's locks and the portfolio rules, every departure named.

    Locks are funded first.  A minimum-count rule that merit order does not
    meet is met as a committee would by hand: the best-ranked unfunded
    applications of the group are funded first (like locks), as few as the
    rule needs, and merit order resumes on the rest; repeated until every
    minimum holds.  Each application so funded, with the better-ranked
    applications it passes over, is named (:func:`name_exceptions`, against
    the merit-order decision without locks and minimums).  The maximum shares
    and the maximum number of awards are constraints of the search; each
    better-ranked application they hold out while lower-ranked ones are funded
    is named with the rule and its figures (:func:`name_held_out`, against merit
    order without those limits).  The minimum-count rules are then re-checked
    in integers with the others.
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
            held, stops = name_held_out(decisions, final, lambda: _unlimited(cands, params))
            exceptions = tuple(exceptions) + held
            msg = _status_fr(alloc, exceptions, stops)
            if alloc.other_optimal_portfolios:
                msg += " ; ex aequo départagés par le montant dépensé puis la règle " + TIE_BREAK_RULE
            return replace(alloc, candidates=final, message=msg, exceptions=exceptions)
    if alloc.is_optimal:  # pragma: no cover - the loop adds at least one application each time
        raise AllocationError("règles de nombre minimal : aucune décision stable")
    if alloc.status is SolveStatus.INFEASIBLE:  # name the conflict on the full rule set, minimums included
        conflicts, keys = diagnose_infeasibility(replace(cands, rule="max_total_score"), params.solver, params.time_limit_s)
        return replace(alloc, candidates=cands, message=conflicts[0], conflicts=conflicts[1:], conflict_keys=keys)
    status = alloc.message.removesuffix(" : aucune décision n'est produite")
    return replace(alloc, candidates=cands, message=f"{status}. {unproven_advice_fr(cands)}")


def unproven_advice_fr(cands: Candidates) -> str:
    """Why the merit order was not proven in time, and what the committee can do (French).

    The search of :mod:`~ditp_model.rules.merit_search` gives up, and the MILP
    of :mod:`~ditp_model.rules.milp` reaches its time limit, when many
    applications lie within δ of the funding line: among the decisions without
    a valid complaint the rule takes the one that spends most *to the euro*,
    and proving that none spends more is a subset-sum problem (profile and
    figures: ``benchmarks/RESULTS_national.md``).  Nothing is decided for the
    committee: it is told the two ways out (a longer time limit, or a narrower
    band declared in the call rules) and that the second is its choice.
    """
    limit = format_number(float(cands.params.time_limit_s), 0)
    if cands.tie_band_units <= 0:
        return (f"L'ordre de mérite n'a pas été prouvé dans le délai ({limit} s par résolution) : relancer avec un délai "
                f"plus long (--time-limit). Aucune décision n'est publiée sans preuve.")
    band = tie_band_fr(cands.tie_band_points, cands.tie_band_source)
    return ("L'ordre de mérite n'a pas été prouvé dans le délai "
            f"({limit} s par résolution) : dans la bande d'ex aequo (δ = {band}), la règle retient, parmi les décisions "
            "sans réclamation fondée, celle qui dépense le plus à l'euro près, et prouver qu'aucune ne dépense davantage "
            "est long quand beaucoup de dossiers sont à moins de δ de la ligne de financement. Que faire : relancer "
            "avec un délai plus long (--time-limit), ou déclarer dans les règles de l'appel une bande d'ex aequo plus "
            "étroite (tie_band_points, ou --tie-band ; 0 = ordre strict des notes) — un choix du comité, à motiver. "
            "Aucune décision n'est publiée sans preuve.")


def _unlimited(cands: Candidates, params) -> pd.DataFrame | None:
    """Merit order without locks or portfolio rules (decisions), to name who a limit lets in; None without a limit or proof.

    Computed only when an application is held out by a limit (one more exact search).
    """
    if params.max_awards is None and not any(r.max_share is not None for r in params.group_rules):
        return None
    bare = replace(params, lock_in=frozenset(), group_rules=(), max_awards=None)
    free = decide_lexicographic(replace(cands, table=cands.table.assign(locked_in=False), params=bare, forced={}))
    return free.decisions if free.is_optimal else None
