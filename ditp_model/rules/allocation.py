"""The funding decision: the entry point of every decision rule, the ranking rule and the merit order.

:func:`allocate` (evaluation and parameters → :class:`Allocation`) checks the
candidates (:mod:`~ditp_model.rules.candidates`) and decides with the rule in
force; :data:`RULES` and :func:`get_rule` name the rules (:class:`DecisionRule`,
one call shape for all).  Shared by the rules: parameters and results in
:mod:`~ditp_model.rules.base`, the exact merit search in
:mod:`~ditp_model.rules.merit_search`, the MILP and the solvers in
:mod:`~ditp_model.rules.milp`, the exact integer re-check in
:mod:`~ditp_model.rules.recheck`.  The names these modules define are
re-exported here, so ``from ditp_model.rules.allocation import …`` keeps
working for every caller.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import pandas as pd

from ditp_model.inputs.call import RULE_NAMES
from ditp_model.rules.base import (  # noqa: F401  (re-exported)
    DEFAULT_RULE,
    GROUP_COLUMN_LABELS_FR,
    GROUP_COLUMNS,
    INTEGRALITY_TOL,
    OPTIMISATION_OBJECTIVES,
    RULE_LABELS_FR,
    SCORE_UNIT,
    Allocation,
    AllocationError,
    AllocationParams,
    Candidates,
    GroupRule,
    MeritException,
    NotOptimalError,
    SolveInfo,
    SolveStatus,
)
from ditp_model.rules.candidates import (  # noqa: F401  (re-exported)
    candidates_from_table,
    check,
    quality_thresholds,
    threshold_failures,
)
from ditp_model.rules.merit_search import MERIT_SEARCH_NODES, merit_search  # noqa: F401
from ditp_model.rules.milp import (  # noqa: F401  (re-exported)
    IsolatedCBC,
    Model,
    build,
    decide_lexicographic,
    diagnose_infeasibility,
    fits_together,
    quiet_highs_banner,
    read_back,
    solve,
    solver_version,
)
from ditp_model.rules.recheck import _capped_groups, merit_complaints, merit_reach, portfolio_value, verify_awards  # noqa: F401
from ditp_model.scoring.aggregate import TIE_BREAK_RULE
from ditp_model.scoring.pipeline import Evaluation

__all__ = [
    "SolveStatus",
    "GroupRule",
    "AllocationParams",
    "Allocation",
    "AllocationError",
    "NotOptimalError",
    "Candidates",
    "check",
    "build",
    "solve",
    "read_back",
    "verify_awards",
    "fits_together",
    "quiet_highs_banner",
    "portfolio_value",
    "allocate",
    "allocate_candidates",
    "candidates_from_table",
    "ranking_rule",
    "ranking_decisions",
    "DecisionRule",
    "RULES",
    "DEFAULT_RULE",
    "RULE_LABELS_FR",
    "get_rule",
    "MeritException",
    "merit_complaints",
    "name_exceptions",
    "threshold_failures",
    "quality_thresholds",
    "RankingResult",
    "GROUP_COLUMNS",
]


def allocate(evaluation: Evaluation, params: AllocationParams | None = None) -> Allocation:
    """Check → build → solve (lexicographic) → read back → verify; the optimal funding decision.

    Parameters
    ----------
    evaluation : Evaluation
        Eligibility and scores (:func:`ditp_model.scoring.pipeline.evaluate`).
    params : AllocationParams, optional

    Returns
    -------
    Allocation
        Status first.  For an infeasible rule set, ``conflicts`` names the rules
        in conflict and no decision table is produced.

    Raises
    ------
    ValueError
        Bad parameters (French message).
    AllocationError
        A solver answer that fails the exact integer re-check.
    """
    return allocate_candidates(check(evaluation, params or AllocationParams()))


def name_exceptions(decisions: pd.DataFrame, cands: Candidates, baseline: pd.DataFrame) -> tuple[MeritException, ...]:
    """Each laureate funded out of merit order, the applications it passes over, and its cause.

    `baseline` is the merit-order decision without the locks and the
    minimum-count exceptions.  A locked-in or forced laureate that the
    baseline does not fund is an exception when the decision leaves out
    baseline laureates ranked more than δ above it: those are the
    applications it passes over.
    """
    t = cands.table
    su = dict(zip(t["application_id"], (int(v) for v in t["score_units"])))
    funded = set(decisions.loc[decisions["funded"], "application_id"])
    base = set(baseline.loc[baseline["funded"], "application_id"])
    lost = [a for a in t["application_id"] if a in base and a not in funded]
    out = []
    for k, lk in zip(t["application_id"], t["locked_in"]):
        if not lk or k not in funded or k in base:
            continue
        above = tuple(a for a in lost if su[a] > su[k] + cands.tie_band_units)
        if above:
            why = cands.params.lock_reason(k)
            out.append(MeritException(k, above, cands.forced.get(k, f"imposé par le comité{' : ' + why if why else ''}")))
    return tuple(out)


def _merit_with_minimums(cands: Candidates) -> Allocation:
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


def _ranking_allocation(cands: Candidates) -> Allocation:
    """The ranking rule as a decision: exact integer computation, no solver (see :func:`ranking_decisions`)."""
    t0 = time.perf_counter()
    decisions = ranking_decisions(cands, cands.params.ranking_variant)
    unmet = tuple(verify_awards(decisions, cands))
    name, version = "aucun", "calcul exact en entiers (règle du classement)"
    if unmet:
        return Allocation(SolveStatus.INFEASIBLE, name, version, None, None, time.perf_counter() - t0, cands, None,
                          TIE_BREAK_RULE, "la règle du classement ne respecte pas les règles : " + " ; ".join(unmet), unmet)
    variant = "on passe au suivant" if cands.params.ranking_variant == "skip" else "on s'arrête au premier qui ne tient pas"
    return Allocation(SolveStatus.OPTIMAL, name, version, 0.0, 0.0, time.perf_counter() - t0, cands, False, TIE_BREAK_RULE,
                      f"règle du classement ({variant})", (), decisions)


def allocate_candidates(cands: Candidates) -> Allocation:
    """Decide on checked candidates with their rule (see :func:`allocate`).

    Ranking rule: computed exactly in integers.  Merit order: locks and
    minimum-count exceptions first (:func:`_merit_with_minimums`), then the
    lexicographic solve.  Optimisation rules: build → solve (lexicographic)
    → read back → verify.
    """
    if cands.rule == "ranking":
        return _ranking_allocation(cands)
    if cands.rule == "merit_order":
        return _merit_with_minimums(cands)
    return decide_lexicographic(cands)


@dataclass(frozen=True)
class RankingResult:
    """The classic ranking rule's portfolio.

    Attributes
    ----------
    variant : {"skip", "stop"}
    decisions : pandas.DataFrame
        Same layout as :attr:`Allocation.decisions`.
    total_awarded_eur : int
    total_score : float
    unmet_rules : tuple of str
        Portfolio rules the ranking rule does not satisfy (it ignores minimum counts).
    """

    variant: str
    decisions: pd.DataFrame
    total_awarded_eur: int
    total_score: float
    unmet_rules: tuple[str, ...]

    @property
    def funded_ids(self) -> list[str]:
        return self.decisions.loc[self.decisions["funded"], "application_id"].tolist()


def ranking_rule(evaluation: Evaluation, params: AllocationParams | None = None, variant: str = "skip") -> RankingResult:
    """Fund in composite-score order while the envelope lasts.

    Locked-in applications are funded first; locked-out, ineligible and
    unscored ones never.  Then, in tie-break order, each candidate is funded
    at its full (capped) request if it fits in what remains of the envelope
    and in its groups' maximum shares and the maximum number of awards;
    ``variant="skip"`` passes over one that does not fit and goes on,
    ``variant="stop"`` stops at the first that does not fit.

    Returns
    -------
    RankingResult
    """
    if variant not in ("skip", "stop"):
        raise ValueError(f"variante « {variant} » inconnue : skip ou stop")
    params = params or AllocationParams()
    cands = check(evaluation, params)
    decisions = ranking_decisions(cands, variant)
    unmet = tuple(verify_awards(decisions, replace(cands, rule="ranking")))
    t = cands.table
    funded = set(decisions.loc[decisions["funded"], "application_id"])
    score = sum(int(u) for a, u in zip(t["application_id"], t["score_units"]) if a in funded) / cands.score_unit
    return RankingResult(variant, decisions, int(decisions["award_eur"].sum()), score, unmet)


def ranking_decisions(cands: Candidates, variant: str = "skip") -> pd.DataFrame:
    """The ranking rule on checked candidates, in exact integers (see :func:`ranking_rule`).

    Returns
    -------
    pandas.DataFrame
        Same layout as :func:`read_back`: candidates in rank order.
    """
    params = cands.params
    t = cands.table
    remaining = cands.available_eur
    funded = [False] * len(t)
    spent_group: dict[int, int] = {}
    caps = {j: r.cap_eur(cands.available_eur) for j, r in enumerate(params.group_rules) if r.max_share is not None}

    def fits(k: int) -> bool:
        u = int(t.at[k, "upper_eur"])
        if u > remaining:
            return False
        if params.max_awards is not None and sum(funded) >= params.max_awards:
            return False
        for j, cap in caps.items():
            r = params.group_rules[j]
            if t.at[k, r.column] == r.value and spent_group.get(j, 0) + u > cap:
                return False
        return True

    def take(k: int) -> None:
        nonlocal remaining
        u = int(t.at[k, "upper_eur"])
        funded[k] = True
        remaining -= u
        for j in caps:
            r = params.group_rules[j]
            if t.at[k, r.column] == r.value:
                spent_group[j] = spent_group.get(j, 0) + u

    for k in range(len(t)):
        if t.at[k, "locked_in"]:
            take(k)
    for k in range(len(t)):
        if funded[k]:
            continue
        if fits(k):
            take(k)
        elif variant == "stop":
            break
    awards = [int(u) if f else 0 for u, f in zip(t["upper_eur"], funded)]
    return pd.DataFrame({"application_id": t["application_id"], "funded": funded,
                         "award_eur": pd.array(awards, dtype="int64"), "cut_steps": 0})


@dataclass(frozen=True)
class DecisionRule:
    """A decision rule: same call shape for every rule (pabutools' ``rules/`` is the model).

    Every consumer (explanations, uncertainty, members, waves, lottery, panel,
    report, letters, ``verify``) takes the rule through
    :attr:`AllocationParams.rule` and calls :func:`allocate`, never a
    particular objective.

    Attributes
    ----------
    name : str
        Key in :data:`RULES` (recorded in manifests, journals and scenarios).
    label_fr : str
    comparison_only : bool
        True for the optimisation objectives: kept for comparison, never the default.
    """

    name: str
    label_fr: str
    comparison_only: bool = False

    def decide(self, evaluation: Evaluation, params: AllocationParams | None = None) -> Allocation:
        """The decision of this rule on `evaluation` (see :func:`allocate`)."""
        return allocate(evaluation, replace(params or AllocationParams(), rule=self.name))

    def decide_candidates(self, cands: Candidates) -> Allocation:
        """The decision of this rule on checked candidates."""
        return allocate_candidates(replace(cands, rule=self.name))


#: Every decision rule by name; :data:`DEFAULT_RULE` is the default.
RULES = {name: DecisionRule(name, RULE_LABELS_FR[name], name in OPTIMISATION_OBJECTIVES) for name in RULE_NAMES}


def get_rule(name: str | None = None) -> DecisionRule:
    """The rule called `name` (default :data:`DEFAULT_RULE`); ValueError in French for an unknown name."""
    name = name or DEFAULT_RULE
    if name not in RULES:
        raise ValueError(f"règle de décision « {name} » inconnue : {', '.join(RULES)}")
    return RULES[name]
