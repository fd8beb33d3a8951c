"""Decision rule ``ranking``: the classic ranking rule, in exact integers (no solver).

Fund in composite-score order while the envelope lasts, locked-in
applications first; ``skip`` passes over an application that does not fit and
goes on, ``stop`` stops at the first.  :func:`decide_ranking` is the rule with
the common signature (``Candidates -> Allocation``); :func:`ranking_rule` is
the same portfolio as a comparison column (:class:`RankingResult`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import pandas as pd

from ditp_model.rules.base import Allocation, AllocationParams, Candidates, SolveStatus
from ditp_model.rules.candidates import check
from ditp_model.rules.recheck import verify_awards
from ditp_model.scoring.aggregate import TIE_BREAK_RULE
from ditp_model.scoring.pipeline import Evaluation


def decide_ranking(cands: Candidates) -> Allocation:
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
        Same layout as :func:`~ditp_model.rules.milp.read_back`: candidates in rank order.
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
