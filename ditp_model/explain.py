"""Why each application is or is not funded: funding line, entry gaps, exit margins, shadow price.

Definitions (DESIGN.md, "The allocation model"):

* **funding line**: the lowest-scored funded application and the
  highest-scored eligible, scored application left unfunded;
* **entry gap** of an unfunded candidate: optimum − optimum with it forced
  in (portfolio-value points it lacks to be funded); ``NaN`` when forcing it
  in is impossible (then ``keeps_out`` names the rules);
* **exit margin** of a funded application: optimum − optimum with it forced out;
* **what keeps it out**: eligibility, reviews, a lock, the envelope (not
  enough money left beside the chosen portfolio), a group rule at its maximum,
  or the maximum number of awards — checked in integers on the optimal portfolio;
* **shadow price of the envelope**: the dual value of the envelope constraint
  in the LP relaxation of the level-1 problem, in score points per 1,000 €.

Gaps and margins are in the units of the level-1 objective: score points for
``total_score``, score points × euros for ``score_weighted_award``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .allocation import Allocation, AllocationError, SolveStatus, build, portfolio_value, diagnose_infeasibility, solve
from .pipeline import Evaluation
from .report_format import format_eur, format_points

__all__ = ["Explanation", "explain", "envelope_shadow_price", "funding_line", "forced_optima"]


@dataclass(frozen=True)
class Explanation:
    """Explanation of an optimal allocation.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per application (every application, input order):
        ``application_id``, ``funded`` (bool), ``award_eur`` (int),
        ``entry_gap`` (float points, unfunded candidates), ``exit_margin``
        (float points, funded), ``keeps_out`` (French text, "" when funded).
    lowest_funded : tuple (str, float) or None
        Id and score of the lowest-scored funded application.
    highest_unfunded : tuple (str, float) or None
        Id and score of the highest-scored eligible, scored, unfunded application.
    shadow_price_per_keur : float or None
        Envelope shadow price, score points per 1,000 € (LP relaxation).
    """

    table: pd.DataFrame
    lowest_funded: tuple[str, float] | None
    highest_unfunded: tuple[str, float] | None
    shadow_price_per_keur: float | None

    def funding_line_fr(self) -> str:
        """One French sentence describing the funding line."""
        parts = []
        if self.lowest_funded:
            parts.append(f"dernier financé : {self.lowest_funded[0]} ({format_points(self.lowest_funded[1])} points)")
        if self.highest_unfunded:
            parts.append(f"premier non financé : {self.highest_unfunded[0]} ({format_points(self.highest_unfunded[1])} points)")
        return "Ligne de financement — " + " ; ".join(parts) if parts else "Ligne de financement : aucun dossier"


def envelope_shadow_price(allocation: Allocation) -> float | None:
    """Shadow price of the envelope in score points per 1,000 € (LP relaxation of level 1).

    Returns ``None`` when the relaxation is not solved to optimality or
    has no envelope constraint.  The sign is that of the marginal gain (>= 0).
    """
    cands = allocation.candidates
    if not len(cands.table):
        return None
    model = build(cands, relax=True)
    info = solve(model, allocation.solver, cands.params.time_limit_s)
    if info.status is not SolveStatus.OPTIMAL:
        return None
    name = model.rules["envelope"][0]
    pi = model.problem.get_constraint_by_name(name).pi
    if pi is None:
        return None
    return abs(float(pi)) * 1000.0 / cands.score_unit


def funding_line(evaluation: Evaluation, allocation: Allocation) -> tuple[tuple[str, float] | None, tuple[str, float] | None]:
    """(lowest-scored funded, highest-scored unfunded candidate), each ``(id, score)`` or None."""
    d = allocation.decisions
    s = evaluation.table.set_index("application_id")["score"]
    funded = d.loc[d["funded"], "application_id"]
    unfunded = d.loc[~d["funded"], "application_id"]
    low = min(funded, key=lambda a: (s[a], a), default=None)
    high = max(unfunded, key=lambda a: (s[a], a), default=None)
    return ((low, float(s[low])) if low else None, (high, float(s[high])) if high else None)


def _keeps_out(aid: str, allocation: Allocation) -> str:
    """Integer check on the optimal portfolio: which rules stop `aid` from joining it."""
    cands = allocation.candidates
    t = cands.table.set_index("application_id")
    d = allocation.decisions.set_index("application_id")
    lower = int(t.at[aid, "lower_eur"])
    remaining = cands.available_eur - int(d["award_eur"].sum())
    why = []
    if lower > remaining:
        why.append(f"enveloppe : il faudrait au moins {format_eur(lower)}, il reste {format_eur(remaining)}")
    for r in cands.params.group_rules:
        if r.max_share is not None and t.at[aid, r.column] == r.value:
            members = t.index[t[r.column] == r.value]
            spent = int(d.loc[members, "award_eur"].sum())
            cap = r.cap_eur(cands.available_eur)
            if spent + lower > cap:
                why.append(f"règle de portefeuille {r.column} = {r.value} : {format_eur(spent)} déjà attribués sur {format_eur(cap)}")
    if cands.params.max_awards is not None and int(d["funded"].sum()) >= cands.params.max_awards:
        why.append(f"nombre maximal de lauréats ({cands.params.max_awards}) atteint")
    return " ; ".join(why) if why else "le financer ferait baisser la valeur du portefeuille"


def forced_optima(allocation: Allocation) -> dict[str, tuple[SolveStatus, int | None]]:
    """Level-1 optimum with each candidate forced to the opposite of its decision.

    With HiGHS the level-1 model is built once and re-solved in process after
    fixing one column's bounds (highspy ``changeColBounds``), which is about
    ten times faster than rebuilding it through PuLP; with CBC it is rebuilt.

    Returns
    -------
    dict
        Application id -> (status, objective in integer score units or None).
    """
    cands = allocation.candidates
    d = allocation.decisions.set_index("application_id")
    tl = cands.params.time_limit_s
    out: dict[str, tuple[SolveStatus, int | None]] = {}
    ids = list(cands.table["application_id"])
    if allocation.solver != "highs":
        for aid in ids:
            info = solve(build(cands, force={aid: 0 if d.at[aid, "funded"] else 1}), allocation.solver, tl)
            out[aid] = (info.status, round(info.objective) if info.status is SolveStatus.OPTIMAL else None)
        return out
    import highspy

    model = build(cands)
    first = solve(model, "highs", tl)
    if first.status is not SolveStatus.OPTIMAL:
        raise AllocationError(f"re-résolution du modèle de premier niveau : {first.status.label_fr}")
    h = model.problem.solverModel
    for k, aid in enumerate(ids):
        col = model.x[k].index
        v = 0.0 if d.at[aid, "funded"] else 1.0
        h.changeColBounds(col, v, v)
        h.run()
        st = h.getModelStatus()
        if st == highspy.HighsModelStatus.kOptimal and h.getInfo().mip_gap <= 1e-9:
            out[aid] = (SolveStatus.OPTIMAL, round(-h.getInfo().objective_function_value))  # PuLP negates a max
        elif st == highspy.HighsModelStatus.kInfeasible:
            out[aid] = (SolveStatus.INFEASIBLE, None)
        else:
            out[aid] = (SolveStatus.ERROR, None)
        h.changeColBounds(col, 0.0, 1.0)
    return out


def explain(evaluation: Evaluation, allocation: Allocation, *, gaps: bool = True) -> Explanation:
    """Explain an optimal allocation, application by application.

    Parameters
    ----------
    evaluation : Evaluation
    allocation : Allocation
        Must be a proven optimum (its ``decisions`` are read).
    gaps : bool
        Compute entry gaps and exit margins (one level-1 solve per candidate).

    Returns
    -------
    Explanation

    Raises
    ------
    NotOptimalError
        The allocation is not a proven optimum.
    AllocationError
        A forced re-solve that neither proves an optimum nor infeasibility.
    """
    d = allocation.decisions
    cands = allocation.candidates
    value = portfolio_value(d, cands)
    funded = dict(zip(d["application_id"], d["funded"]))
    awards = dict(zip(d["application_id"], d["award_eur"]))
    forced = forced_optima(allocation) if gaps else {}
    rows = []
    for row in evaluation.table.itertuples():
        aid = row.application_id
        entry = exit_ = math.nan
        keeps = ""
        if aid in cands.excluded:
            keeps = cands.excluded[aid]
        elif aid in funded:
            status, obj = forced.get(aid, (None, None))
            if status is SolveStatus.OPTIMAL:
                delta = (value - obj) / cands.score_unit
                if funded[aid]:
                    exit_ = delta
                else:
                    entry = delta
            elif status is SolveStatus.INFEASIBLE:
                if funded[aid]:
                    exit_ = math.inf  # cannot leave: a lock or a minimum-count rule holds it in
                else:
                    keeps = "impossible à financer avec les règles : " + diagnose_infeasibility_forced(cands, aid, allocation.solver)
            elif status is SolveStatus.ERROR:
                raise AllocationError(f"{aid} : la re-résolution forcée n'a pas abouti")
            if not funded[aid] and not keeps:
                keeps = _keeps_out(aid, allocation)
        rows.append((aid, bool(funded.get(aid, False)), int(awards.get(aid, 0)), entry, exit_, keeps))
    table = pd.DataFrame(rows, columns=["application_id", "funded", "award_eur", "entry_gap", "exit_margin", "keeps_out"])
    table["award_eur"] = table["award_eur"].astype("int64")
    low, high = funding_line(evaluation, allocation)
    return Explanation(table, low, high, envelope_shadow_price(allocation))


def diagnose_infeasibility_forced(cands, aid: str, solver: str) -> str:
    """French list of the rules that make funding `aid` impossible."""
    from dataclasses import replace

    forced = replace(cands, params=replace(cands.params, lock_in=cands.params.lock_in | {aid}),
                     table=cands.table.assign(locked_in=cands.table["locked_in"] | (cands.table["application_id"] == aid)))
    return " ; ".join(diagnose_infeasibility(forced, solver, cands.params.time_limit_s)[0][1:])
