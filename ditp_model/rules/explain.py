"""Why each application is or is not funded, in words a committee uses.

Under the merit order (the default rule) and the ranking rule
(DESIGN.md, "Explanations"):

* **rank** and, for an unfunded fundable application, the money the
  better-ranked laureates received, what was left when its turn came and what
  it needed (« il restait 38 290 € quand son tour est venu ; il fallait
  135 000 € »), or the threshold, lock or rule that excludes it;
* **entry gap**: the score points it lacks to be funded — the smallest score
  from which the same rule, re-deciding with that score and nothing else
  changed, funds it (``score_needed``); NaN with « aucune note ne suffit »
  when even the top of the scale would not do; also the largest request that
  would have been funded at its own rank (``entry_request_eur``);
* **exit margin** of a laureate: the score points it could lose and still be
  funded, by the turn-by-turn computation (the ranking rule with it removed,
  then re-inserted lower); ``inf`` for a lock.  Not re-decided: inside the ex
  aequo band it is a turn-by-turn value (trial 1 asked for the entry gap, which
  letters promise; the exit margin is shown to the committee only);
* **ex aequo**: fundable applications on both sides of the decision whose
  scores differ by less than the ex aequo band δ.

The turn-by-turn entry gap is exact for the ranking rule (skip) and for the
merit order at δ = 0 without minimum-count rules or cuts (both are then the
ranking rule with skip, locks first).  Elsewhere — inside the ex aequo band the
merit order settles a tie by the money spent, so a candidate raised just above
a competitor may still be left out — the needed score is found by re-deciding
with the same rule (:mod:`~ditp_model.rules.entry_score`: bisection with the
exact search, then checked); a letter never promises a score that would not
have changed the outcome (trial 1).

Under the optimisation rules (``max_total_score``, ``max_score_weighted_award``,
kept for comparison), as before: entry gap = optimum − optimum with the
application forced in, exit margin = optimum − optimum with it forced out (in
the objective's units), and the **shadow price of the envelope** (dual value
of the envelope constraint in the LP relaxation, points per 1,000 €).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ditp_model.rules.allocation import Allocation, AllocationError, SolveStatus, build, portfolio_value, diagnose_infeasibility, solve
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.french import count_fr, format_eur, format_points, plural_fr
from ditp_model.rules.funding_line import LINE_REASONS, FundingLine, imposed_by_locks, merit_funding_line  # noqa: F401  (re-exported)

__all__ = ["Explanation", "explain", "envelope_shadow_price", "funding_line", "forced_optima", "merit_explanations",
           "FundingLine", "merit_funding_line", "imposed_by_locks", "LINE_REASONS",
           "ex_aequo_at_line", "OptimumComparison", "optimum_comparison"]


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
        Merit order and ranking rule also: ``better_ranked_awarded_eur``,
        ``left_when_turn_eur``, ``needed_eur``, ``entry_request_eur`` (int
        euros, unfunded candidates; -1 when not applicable), ``score_needed``
        (points, NaN when no score suffices), ``ex_aequo`` (bool), ``reason``, ``locked_in``
        (funded first: a lock or a minimum-count rule) and ``first_cause`` (French), ``rank``, ``score``.
    lowest_funded : tuple (str, float) or None
        Id and score of the lowest-scored funded application (merit order:
        outside the named exceptions).
    highest_unfunded : tuple (str, float) or None
        Id and score of the highest-scored fundable, unfunded application
        (merit order: outside the named exceptions).
    shadow_price_per_keur : float or None
        Envelope shadow price, score points per 1,000 € (optimisation rules only).
    rule : str
    tie_band_points : float
        δ (merit order), 0 otherwise.
    ex_aequo : tuple of str
        Ids flagged ex aequo at the funding line.
    exceptions : tuple of str
        French sentences naming each exception to merit order and its cause.
    funded_instead : tuple of str
        Laureates funded below applications that a maximum share holds out (named exceptions), rank order.
    """

    table: pd.DataFrame
    lowest_funded: tuple[str, float] | None
    highest_unfunded: tuple[str, float] | None
    shadow_price_per_keur: float | None
    rule: str = "max_total_score"
    tie_band_points: float = 0.0
    ex_aequo: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()
    funded_instead: tuple[str, ...] = ()

    def ex_aequo_fr(self) -> str:
        """French sentence on the statistical ties at the funding line ("" when none)."""
        if not self.ex_aequo:
            return ""
        how = ("notes identiques" if not self.tie_band_points > 0
               else f"notes à moins de {format_points(self.tie_band_points)} {plural_fr(self.tie_band_points, 'point')} les "
                    "unes des autres")
        from ditp_model.rules.base import tie_break_fr

        return f"Ex aequo à la ligne de financement ({how}) : {', '.join(self.ex_aequo)} ; départagés par {tie_break_fr(self.rule)}."

    def funding_line_fr(self) -> str:
        """One French sentence describing the funding line.

        Merit order and ranking rule: :func:`merit_funding_line` — the first
        fundable application left unfunded in rank order, the last laureate
        above it, the laureates below it with why (ex aequo, or funded on what
        was left of the envelope), and the imposed applications apart.
        """
        if self.rule in ("merit_order", "ranking") and "rank" in self.table:
            return self._merit_line_fr()
        parts = []
        if self.lowest_funded:
            parts.append(f"dernier financé : {self.lowest_funded[0]} ({format_points(self.lowest_funded[1])} points)")
        if self.highest_unfunded:
            parts.append(f"premier non financé : {self.highest_unfunded[0]} ({format_points(self.highest_unfunded[1])} points)")
        return "Ligne de financement — " + " ; ".join(parts) if parts else "Ligne de financement : aucun dossier"

    def _merit_line_fr(self) -> str:
        t = self.table
        imposed = {a: c for a, lk, c in zip(t["application_id"], t["locked_in"], t["first_cause"]) if lk}
        return merit_funding_line(t, imposed, funded_instead=self.funded_instead).sentence_fr()


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
    """(lowest-scored funded, highest-scored unfunded candidate), each ``(id, score)`` or None.

    Under the merit order the named exceptions (passed over, funded instead)
    are left out, so the line is a real line: every laureate above it, every
    fundable non-laureate below it, except the exceptions listed beside it.
    """
    d = allocation.decisions
    s = evaluation.table.set_index("application_id")["score"]
    skip = set()
    for e in getattr(allocation, "exceptions", ()):
        skip.update(e.laureates)
        skip.update(e.passed_over)
    funded = d.loc[d["funded"] & ~d["application_id"].isin(skip), "application_id"]
    unfunded = d.loc[~d["funded"] & ~d["application_id"].isin(skip), "application_id"]
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

    A plain knapsack (no cut, lock, group rule or maximum count) is settled without a solver, exactly
    (:func:`ditp_model.rules.explain_fast.forced_optima_exact`).  Otherwise, with HiGHS the level-1 model
    is built once and re-solved in process after fixing one column's bounds (highspy ``changeColBounds``), which is about
    ten times faster than rebuilding it through PuLP; with CBC it is rebuilt.

    Returns
    -------
    dict
        Application id -> (status, objective in integer score units or None).
    """
    from ditp_model.rules.explain_fast import forced_optima_exact

    exact = forced_optima_exact(allocation)  # a plain knapsack: exact in integers, no re-solve (issue 18)
    if exact is not None:
        return exact
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


def _turn_states(cands, removed: int) -> tuple[list[int], list[int], list[int], list[list[int]]]:
    """The ranking rule (skip) run without candidate position `removed`.

    Returns the positions of the others in rank order, and before each
    insertion point *i* (the removed candidate placed after the first *i*
    others): money left, awards made, and money spent in each capped group.
    Locked-in applications are funded first, as in :func:`ranking_decisions`.
    """
    from ditp_model.rules.allocation import _capped_groups

    t = cands.table
    p = cands.params
    upper = [int(u) for u in t["upper_eur"]]
    locked = list(t["locked_in"])
    groups = _capped_groups(cands)
    member = [set(int(k) for k in m) for _, m, _ in groups]
    others = [k for k in range(len(t)) if k != removed]
    remaining, count = cands.available_eur, 0
    spent = [0] * len(groups)
    funded = set()

    def fits(k):
        if upper[k] > remaining or (p.max_awards is not None and count >= p.max_awards):
            return False
        return all(k not in member[g] or spent[g] + upper[k] <= groups[g][2] for g in range(len(groups)))

    def take(k):
        nonlocal remaining, count
        funded.add(k)
        remaining -= upper[k]
        count += 1
        for g in range(len(groups)):
            if k in member[g]:
                spent[g] += upper[k]

    for k in others:
        if locked[k]:
            take(k)
    rem, cnt, grp = [], [], []
    for k in others:
        rem.append(remaining)
        cnt.append(count)
        grp.append(list(spent))
        if k not in funded and fits(k):
            take(k)
    rem.append(remaining)
    cnt.append(count)
    grp.append(list(spent))
    return others, rem, cnt, grp


def _fit_data(cands) -> tuple[dict, list[tuple[set, int]]]:
    """What :func:`_fits_at` reads, computed once per candidates: minimum award by row, and (members, cap) of each capped group."""
    from ditp_model.rules.allocation import _capped_groups

    t = cands.table
    lower = {k: int(v) for k, v in zip(t.index, t["lower_eur"])}
    return lower, [(set(int(m) for m in members), cap) for _, members, cap in _capped_groups(cands)]


def _fits_at(cands, k: int, i: int, rem, cnt, grp, fit=None) -> bool:
    """Whether candidate `k` fits at insertion point `i` (money left, number of awards, groups' maximum shares).

    `fit` is :func:`_fit_data` of `cands` (computed here when not given).
    """
    p = cands.params
    lower, groups = fit if fit is not None else _fit_data(cands)
    need = lower[k]
    if rem[i] < need or (p.max_awards is not None and cnt[i] >= p.max_awards):
        return False
    for g, (members, cap) in enumerate(groups):
        if k in members and grp[i][g] + need > cap:
            return False
    return True


def _decision_states(cands, awards: list[int], funded: list[bool], removed: int):
    """Money left, awards made and group spending before each insertion point, decisions as they are.

    The candidate at position `removed` is taken out; locked-in laureates
    count from the start (they are funded first).  Same shape as
    :func:`_turn_states`.
    """
    from ditp_model.rules.allocation import _capped_groups

    t = cands.table
    locked = list(t["locked_in"])
    groups = _capped_groups(cands)
    member = [set(int(k) for k in m) for _, m, _ in groups]
    others = [k for k in range(len(t)) if k != removed]
    remaining = cands.available_eur - sum(awards[k] for k in others if funded[k] and locked[k])
    count = sum(1 for k in others if funded[k] and locked[k])
    spent = [sum(awards[k] for k in others if funded[k] and locked[k] and k in member[g]) for g in range(len(groups))]
    rem, cnt, grp = [], [], []
    for k in others:
        rem.append(remaining)
        cnt.append(count)
        grp.append(list(spent))
        if funded[k] and not locked[k]:
            remaining -= awards[k]
            count += 1
            for g in range(len(groups)):
                if k in member[g]:
                    spent[g] += awards[k]
    rem.append(remaining)
    cnt.append(count)
    grp.append(list(spent))
    return others, rem, cnt, grp


def merit_explanations(allocation: Allocation, keys: dict | None = None, *, entry_scores: bool = True) -> pd.DataFrame:
    """Turn-by-turn explanation of every candidate under the merit order or the ranking rule.

    For an unfunded candidate the decisions of the others are kept as they
    are and the candidate is moved up: it would be funded at the first place
    where, when its turn comes, the money left (and the room under the
    maximum number of awards and its groups' maximum shares) covers its
    minimum award.  For a laureate the ranking rule is run without it and it
    is moved down until it no longer fits.

    The needed score (``score_needed``, ``entry_gap``) is exact under the rule
    in force: the smallest score from which the candidate is funded when the
    same rule re-decides with its score changed and nothing else
    (:func:`~ditp_model.rules.entry_score.entry_score`).  The turn-by-turn
    value is kept without re-deciding only where it is provably exact
    (:func:`~ditp_model.rules.entry_score.formula_is_exact`: the ranking rule
    with skip, the merit order at δ = 0 without minimum-count rule or cut);
    inside an ex aequo band, with minimum-count rules or cuts, it is found by
    bisection with the exact re-decision and checked.

    Parameters
    ----------
    allocation : Allocation
    keys : dict, optional
        Application id -> (submission date, id), the call's tie-break after
        the score, to place a raised candidate among equal scores; without
        it, it is placed after them.
    entry_scores : bool
        False: no needed score (``score_needed`` and ``entry_gap`` NaN), only
        the reason at its turn — no re-decision (the committee panel, redrawn
        at every change, shows the line and the ex aequo, not the gaps).

    Returns
    -------
    pandas.DataFrame
        Index ``application_id`` (candidates): ``better_ranked_awarded_eur``
        (awards of the laureates ranked above it, locks included),
        ``left_when_turn_eur``, ``needed_eur`` (its minimum award),
        ``entry_request_eur`` (the largest request funded at its own rank,
        -1 when funded or when that is below its minimum), ``score_needed``
        (points; NaN when funded or when no score suffices), ``entry_gap``
        and ``exit_margin`` (points; ``inf`` exit margin for a lock),
        ``keeps_out`` (French), ``reason`` (``funded``; for the unfunded:
        ``envelope`` — not enough money left at its turn —, ``limit`` — the
        maximum number of awards or a group's maximum share —, ``tie`` —
        passed over inside the ex aequo band —, ``none`` — no place at all),
        ``limit_at_turn`` (French: the limits that stopped it when its turn
        came — the maximum number of awards, a group's maximum share —; ""
        when funded or when none did).
    """
    cands = allocation.candidates
    t = cands.table.reset_index(drop=True)
    d = allocation.decisions.set_index("application_id")
    ids = t["application_id"].tolist()
    su = [int(v) for v in t["score_units"]]
    unit = cands.score_unit
    band = cands.tie_band_units if cands.rule == "merit_order" else 0
    funded = [bool(d.at[a, "funded"]) for a in ids]
    award = [int(d.at[a, "award_eur"]) for a in ids]
    locked = list(t["locked_in"])
    max_awards = cands.params.max_awards
    from ditp_model.rules.allocation import _capped_groups

    from ditp_model.rules.entry_score import Redecider, ceil_to_display, entry_score

    capped = _capped_groups(cands)
    fit = _fit_data(cands)
    redo = Redecider(cands, keys)
    top = 100 * unit
    guesses: list[int] = []  # the needed scores found so far: often the next candidate's too (the same competitor holds the line)

    def needed_fr(units: int, own: int) -> str:
        """« il lui aurait fallu une note d'au moins 63,35, soit 0,87 point de plus » (rounded up to 0,01 point)."""
        shown = ceil_to_display(units, unit) / unit
        gap = shown - own / unit
        return (f"il lui aurait fallu une note d'au moins {format_points(shown)}, soit {format_points(gap)} "
                f"point{'s' if gap >= 2 else ''} de plus")

    rows = {}
    for k, aid in enumerate(ids):
        need = int(t.at[k, "lower_eur"])
        better = sum(a for j, (a, f) in enumerate(zip(award, funded)) if f and j != k and (j < k or locked[j]))
        left = cands.available_eur - better
        entry = exit_ = score_needed = math.nan
        request = -1
        keeps = ""
        kind = "funded" if funded[k] else ""
        if funded[k]:
            if locked[k]:
                exit_ = math.inf
            else:
                others, rem, cnt, grp = _turn_states(cands, k)
                low = max((i for i in range(len(others) + 1) if _fits_at(cands, k, i, rem, cnt, grp, fit)), default=None)
                if low is None or low >= len(others):
                    exit_ = su[k] / unit  # still funded at the bottom of the list (above the thresholds)
                else:
                    exit_ = max(0.0, (su[k] - su[others[low]]) / unit)
        else:
            others, rem, cnt, grp = _decision_states(cands, award, funded, k)
            ok = [i for i in range(k + 1) if _fits_at(cands, k, i, rem, cnt, grp, fit)]
            request = rem[k] if rem[k] >= need else -1
            blockers = []
            if rem[k] < need:
                blockers.append(f"il restait {format_eur(left)} quand son tour est venu ; il fallait {format_eur(need)}")
                kind = "envelope"
            if max_awards is not None and cnt[k] >= max_awards:
                blockers.append(f"le nombre maximal de lauréats ({max_awards}) était atteint quand son tour est venu")
                kind = kind if blockers[:-1] else "limit"
            for g, (j, members, cap) in enumerate(capped):
                if k in set(int(m) for m in members) and grp[k][g] + need > cap:
                    blockers.append(cands.params.group_rules[j].share_full_at_turn_fr(grp[k][g], need, cands.available_eur))
                    kind = kind if len(blockers) > 1 else "limit"
            turn = " ; ".join(blockers)
            limits = " ; ".join(b for b in blockers if not b.startswith("il restait"))
            su_k = su[k]
            if not ok:
                formula = top + 1  # no insertion point fits: no score suffices
            elif not blockers:
                # it fitted at its own turn: passed over inside the ex aequo band (or by a named exception)
                kind = "tie"
                lower = [j for j in range(k + 1, len(ids)) if funded[j] and not locked[j] and su[j] >= su[k] - band]
                formula = max((su[j] for j in lower), default=su[k]) + band + 1
            else:
                formula = su[others[max(ok)]] + 1
            if not entry_scores:  # the reason at its turn only (the panel): no re-decision
                tie = ", ".join(ids[j] for j in range(k + 1, len(ids)) if funded[j] and not locked[j] and su[j] >= su[k] - band)
                kind = "none" if not ok and not blockers else kind
                keeps = turn if kind != "tie" else (f"il restait {format_eur(left)} quand son tour est venu, mais "
                                                     f"{tie or 'd' + chr(39) + 'autres lauréats'}, ex aequo, "
                                                     "utilisent mieux l'enveloppe : départage par le montant dépensé")
                rows[aid] = (better, left, need, request, score_needed, entry, exit_, keeps, kind, limits)
                continue
            found = entry_score(redo, k, top, formula, guesses)
            if found.units is not None:
                guesses.append(found.units)
            if found.units is None:
                kind = kind if blockers or kind == "tie" else "none"
                keeps = f"{turn} ; aucune note ne suffit (les dossiers imposés et les règles ne laissent pas la place)".lstrip(" ;")
            else:
                score_needed = found.units / unit
                entry = score_needed - su_k / unit
                if kind == "tie":
                    lower = [j for j in range(k + 1, len(ids)) if funded[j] and not locked[j] and su[j] >= su[k] - band]
                    names = ", ".join(ids[j] for j in lower) or "d'autres lauréats"
                    keeps = (f"il restait {format_eur(left)} quand son tour est venu, mais {names}, ex aequo (moins de "
                             f"{format_points(band / unit)} {plural_fr(band / unit, 'point')} d'écart), utilisent mieux l'enveloppe : départage par le "
                             f"montant dépensé ; {needed_fr(found.units, su_k)}")
                else:
                    keeps = f"{turn} ; {needed_fr(found.units, su_k)}"
                    if request >= need and kind == "envelope":
                        keeps += f" ; ou une demande d'au plus {format_eur(request)}"
        rows[aid] = (better, left, need, request, score_needed, entry, exit_, keeps, kind, "" if funded[k] else limits)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["better_ranked_awarded_eur", "left_when_turn_eur", "needed_eur",
                                                                 "entry_request_eur", "score_needed", "entry_gap", "exit_margin",
                                                                 "keeps_out", "reason", "limit_at_turn"])
    out.index.name = "application_id"
    return out


def ex_aequo_at_line(allocation: Allocation, merit: pd.DataFrame | None = None) -> tuple[str, ...]:
    """Applications flagged ex aequo at the funding line (rank order); merit order only.

    Flagged: every candidate passed over inside the ex aequo band, and the
    laureates ranked below it within δ of it; the first candidate left out for
    lack of money, and the laureates within δ of it.  Scores closer than δ
    are statistical ties (DESIGN.md); how they were settled is stated beside.
    Identical scores are ties whatever δ, δ = 0 included: every candidate
    with exactly the score of the first one left out for lack of money is
    flagged with it when one of them is funded (40 applications tied on score
    across the line all carry the mark; issue 15).  Applications funded
    first (committee locks, minimum-count rules) are never flagged: they were
    not settled at the line (trial 1, item 2).
    """
    cands = allocation.candidates
    band = cands.tie_band_units
    if allocation.rule != "merit_order":
        return ()
    m = merit_explanations(allocation) if merit is None else merit
    t = cands.table
    su = dict(zip(t["application_id"], (int(v) for v in t["score_units"])))
    order = list(t["application_id"])
    locked = dict(zip(t["application_id"], t["locked_in"]))
    # an imposed application (lock, minimum-count rule) is funded first, not settled at the line: never ex aequo
    funded = [a for a in order if m.at[a, "reason"] == "funded" and not locked[a]]
    ties = [a for a in order if m.at[a, "reason"] == "tie"]
    flagged = set(ties)
    for j in ties:
        flagged |= {k for k in funded if order.index(k) > order.index(j) and su[k] >= su[j] - band}
    passed = {a for e in allocation.exceptions for a in e.passed_over}
    first = next((a for a in order if m.at[a, "reason"] == "envelope" and a not in passed), None)
    if first is not None:
        near = {k for k in funded if abs(su[k] - su[first]) < band or su[k] == su[first]}
        if near:
            flagged |= near | {first} | {k for k in order if su[k] == su[first] and m.at[k, "reason"] == "envelope"}
    return tuple(a for a in order if a in flagged)


def explain(evaluation: Evaluation, allocation: Allocation, *, gaps: bool = True, entry_scores: bool = True) -> Explanation:
    """Explain an optimal allocation, application by application.

    Parameters
    ----------
    evaluation : Evaluation
    allocation : Allocation
        Must be a proven optimum (its ``decisions`` are read).
    gaps : bool
        Compute entry gaps and exit margins (one level-1 solve per candidate).
    entry_scores : bool
        Merit rules: compute the needed score of each unfunded candidate (re-decided where the turn-by-turn
        value is not provably exact, :mod:`~ditp_model.rules.entry_score`); False leaves it NaN (the panel).

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
    if allocation.rule in ("merit_order", "ranking"):
        return _explain_merit(evaluation, allocation, entry_scores)
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
    return Explanation(table, low, high, envelope_shadow_price(allocation), allocation.rule)


def _explain_merit(evaluation: Evaluation, allocation: Allocation, entry_scores: bool = True) -> Explanation:
    """Explanation under the merit order or the ranking rule (see the module docstring)."""
    cands = allocation.candidates
    d = allocation.decisions
    funded = dict(zip(d["application_id"], d["funded"]))
    awards = dict(zip(d["application_id"], d["award_eur"]))
    apps = evaluation.applications
    keys = {str(a): (d_, str(a)) for a, d_ in zip(apps["application_id"], apps["submitted_at"])}
    m = merit_explanations(allocation, keys, entry_scores=entry_scores)
    flagged = set(ex_aequo_at_line(allocation, m))
    passed = {}
    for e in allocation.exceptions:
        for a in e.passed_over:
            passed.setdefault(a, []).append(e)
    rows = []
    merit = m.to_dict("index")  # one dict per candidate: a row lookup per application, not a pandas .loc
    for aid in evaluation.table["application_id"]:
        if aid in cands.excluded:
            rows.append((aid, False, 0, math.nan, math.nan, cands.excluded[aid], -1, -1, -1, -1, math.nan, False, "excluded"))
            continue
        r = merit[aid]
        keeps = "" if funded[aid] else r["keeps_out"]
        if aid in passed:
            limit = " (règle de portefeuille)" if all(e.held_out for e in passed[aid]) else ""
            keeps = f"exception à l'ordre de mérite{limit} : " + " ; ".join(_passed_over_fr(e, r["limit_at_turn"]) for e in passed[aid])
        rows.append((aid, bool(funded[aid]), int(awards[aid]), float(r["entry_gap"]), float(r["exit_margin"]), keeps,
                     int(r["better_ranked_awarded_eur"]), int(r["left_when_turn_eur"]), int(r["needed_eur"]),
                     int(r["entry_request_eur"]), float(r["score_needed"]), aid in flagged,
                     "exception" if aid in passed else r["reason"]))
    table = pd.DataFrame(rows, columns=["application_id", "funded", "award_eur", "entry_gap", "exit_margin", "keeps_out",
                                        "better_ranked_awarded_eur", "left_when_turn_eur", "needed_eur", "entry_request_eur",
                                        "score_needed", "ex_aequo", "reason"])
    for c in ("award_eur", "better_ranked_awarded_eur", "left_when_turn_eur", "needed_eur", "entry_request_eur"):
        table[c] = table[c].astype("int64")
    ev_table = evaluation.table
    rank_of = dict(zip(ev_table["application_id"], ev_table["rank"]))
    score_of = dict(zip(ev_table["application_id"], ev_table["score"]))
    first = set(cands.table.loc[cands.table["locked_in"], "application_id"])
    table["locked_in"] = table["application_id"].isin(first)
    def cause(a: str) -> str:
        why = cands.params.lock_reason(a)
        return cands.forced.get(a, "imposé par le comité" + (f" : {why}" if why else ""))

    table["first_cause"] = [cause(a) if a in first else "" for a in table["application_id"]]
    table["rank"] = [rank_of[a] for a in table["application_id"]]
    table["score"] = [float(score_of[a]) for a in table["application_id"]]
    low, high = funding_line(evaluation, allocation)
    return Explanation(table, low, high, None, allocation.rule, cands.tie_band_points if allocation.rule == "merit_order" else 0.0,
                       tuple(a for a in evaluation.table["application_id"] if a in flagged),
                       tuple(e.sentence_fr() for e in allocation.exceptions),
                       tuple(a for a in cands.table["application_id"]
                             if any(a in e.funded_instead for e in allocation.exceptions)))


def _passed_over_fr(e, limit_at_turn: str) -> str:
    """Why one application named in exception `e` is not funded: the exception's sentence, or for a limit what
    stopped it at its turn (« la part maximale de l'enveloppe pour Région « Île-de-France » (25 %, soit 550 000 €)
    était atteinte quand son tour est venu : … ») and who was funded below it."""
    if not e.held_out:
        return e.sentence_fr()
    text = limit_at_turn or e.cause  # "" when it fitted at its own turn and a limit stopped it within the ex aequo band
    if e.funded_instead:
        text += f" ; financés plus bas dans le classement : {', '.join(e.funded_instead)}"
    return text


def diagnose_infeasibility_forced(cands, aid: str, solver: str) -> str:
    """French list of the rules that make funding `aid` impossible."""
    from dataclasses import replace

    forced = replace(cands, params=replace(cands.params, lock_in=cands.params.lock_in | {aid}),
                     table=cands.table.assign(locked_in=cands.table["locked_in"] | (cands.table["application_id"] == aid)))
    return " ; ".join(diagnose_infeasibility(forced, solver, cands.params.time_limit_s)[0][1:])


@dataclass(frozen=True)
class OptimumComparison:
    """« Si l'on maximisait la somme des notes » : an optimisation rule's portfolio beside the decision, for comparison only.

    Attributes
    ----------
    rule : str
        The optimisation rule compared (``max_total_score`` by default).
    funded_ids : tuple of str
        Its laureates (rank order).
    n_funded, awarded_eur : int
        Its number of laureates and total awarded (euros).
    decision_n_funded, decision_awarded_eur : int
        The same for the decision.
    left_out : tuple of (str, int)
        Laureates of the decision it leaves out, with their rank (what it costs in merit).
    added : tuple of (str, int)
        Applications it funds that the decision does not, with their rank.
    """

    rule: str
    funded_ids: tuple[str, ...]
    n_funded: int
    awarded_eur: int
    decision_n_funded: int
    decision_awarded_eur: int
    left_out: tuple[tuple[str, int], ...]
    added: tuple[tuple[str, int], ...]

    def summary_fr(self) -> str:
        """French paragraph: what the optimum gains and what it costs in merit."""
        from ditp_model.rules.allocation import RULE_LABELS_FR

        head = (f"Pour comparaison seulement — si l'on choisissait de {RULE_LABELS_FR[self.rule]} : "
                f"{count_fr(self.n_funded, 'lauréat', none='aucun lauréat')} ({self.decision_n_funded} avec la décision), "
                f"{format_eur(self.awarded_eur)} attribués ({format_eur(self.decision_awarded_eur)} avec la décision).")
        if not self.left_out and not self.added:
            return head + " Les mêmes dossiers seraient financés."
        fmt = lambda items: ", ".join(f"{a} (rang {r})" for a, r in items) or "aucun"  # noqa: E731
        return (head + f" Il écarterait des lauréats mieux classés : {fmt(self.left_out)} ; "
                f"il financerait à leur place : {fmt(self.added)}.")


def optimum_comparison(evaluation: Evaluation, allocation: Allocation, rule: str = "max_total_score") -> OptimumComparison | None:
    """The optimisation rule's portfolio with the same parameters, beside the decision (DESIGN.md: comparison only).

    Returns None when that rule has no proven optimum with these parameters.
    """
    from dataclasses import replace

    from ditp_model.rules.allocation import allocate

    other = allocate(evaluation, replace(allocation.candidates.params, rule=rule))
    if not other.is_optimal:
        return None
    return comparison_of(evaluation, allocation, rule, other.funded_ids, other.total_awarded_eur)


def comparison_of(evaluation: Evaluation, allocation: Allocation, rule: str, funded_ids, awarded_eur: int) -> OptimumComparison:
    """The :class:`OptimumComparison` of a portfolio of `rule` (its laureates, its total in euros) beside `allocation`."""
    ranks = evaluation.table.set_index("application_id")["rank"]
    mine, theirs = set(allocation.funded_ids), set(funded_ids)
    order = lambda ids: tuple(sorted(((a, int(ranks[a])) for a in ids), key=lambda p: p[1]))  # noqa: E731
    return OptimumComparison(rule, tuple(a for a, _ in order(theirs)), len(theirs), int(awarded_eur),
                             len(mine), allocation.total_awarded_eur, order(mine - theirs), order(theirs - mine))
