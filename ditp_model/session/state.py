"""What the committee panel computes, without any widget: state → decision → what is shown and what changed.

The panel of :mod:`ditp_model.session.widgets` reads its controls into a
:class:`PanelState` and displays what the functions of this module return;
everything here is plain Python and pandas, tested without ipywidgets
(``tests/test_panel_state.py``):

* :class:`PanelState` — weights and allocation parameters, decision rule included (frozen);
* :func:`compute_outcome` — an :class:`Outcome` (status, portfolio table, totals,
  explanation of the line, threshold failures, comparison with the optimum);
  :class:`SessionComputer` keeps the scores and decisions already computed and
  re-solves the optimum of the comparison on one model built once;
* :func:`funded_table_fr`, :func:`totals`, :func:`not_fundable_table_fr` — what is shown;
* :func:`robustness_counts`, :func:`uncertain_table_fr`, :func:`robustness_stale_reason` —
  the « Robustesse » tab (weight Monte Carlo of :mod:`ditp_model.uncertainty.robustness`, run on demand);
* due process (issue 13): each :class:`Outcome` carries the held applications and whether the
  decision is provisional (``provisional``) and the reserve list (``reserve``); what is shown of them
  (conflicts of interest, « Décision provisoire », reserve list, locks and their reasons) is in
  :mod:`ditp_model.session.due_process`;

What differs between two outcomes (« ce qui a changé », scenarios side by
side) is in :mod:`ditp_model.session.changes`; the controls' raw values become
a state in :mod:`ditp_model.session.controls` (the envelope typed by a person
included); the HTML fragments and charts in :mod:`ditp_model.session.views`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace

import pandas as pd

from ditp_model.french import count_fr, format_eur, format_number, format_points, plural_fr
from ditp_model.inputs.schema import InputError
from ditp_model.rules.allocation import (GROUP_COLUMN_LABELS_FR, OPTIMISATION_OBJECTIVES, RULE_LABELS_FR, Allocation, AllocationError,
                                         AllocationParams, GroupRule, NotOptimalError, SolveStatus, allocate, quality_thresholds,
                                         ranking_rule, threshold_failures)
from ditp_model.rules.explain import Explanation, OptimumComparison, comparison_of, explain, optimum_comparison
from ditp_model.rules.held import Provisional, provisional_status
from ditp_model.rules.reserve_list import reserve_ids
from ditp_model.scoring.aggregate import Weights
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.uncertainty import robustness

__all__ = [
    "PanelState",
    "Outcome",
    "DecisionError",
    "SessionComputer",
    "compute_outcome",
    "effective_values",
    "portfolio_table",
    "funded_table",
    "funded_table_fr",
    "totals",
    "rule_label_fr",
    "decision_rule_label_fr",
    "not_fundable_table_fr",
    "weights_key",
    "weights_used_fr",
    "thresholds_fr",
    "summary_fr",
    "robustness_counts",
    "uncertain_table_fr",
    "robustness_stale_reason",
]


#: Decision rules offered in the panel: (rule, ranking variant) -> French label.  The merit order is the
#: default (the call's rule); the optimisation objectives are alternatives shown for comparison only.
DECISION_RULES_FR = {
    ("merit_order", "skip"): "ordre de mérite : classement au-dessus des seuils, coupure à la ligne budgétaire",
    ("ranking", "skip"): "règle du classement : on passe au suivant quand un dossier ne tient pas",
    ("ranking", "stop"): "règle du classement : on s'arrête au premier dossier qui ne tient pas",
    ("max_total_score", "skip"): "pour comparaison : maximiser la somme des notes des lauréats",
    ("max_score_weighted_award", "skip"): "pour comparaison : maximiser la somme des notes × montants",
}


def decision_rule_label_fr(rule: str | None, variant: str = "skip") -> str:
    """French label of a decision rule as the panel shows it (``None``: the call's rule)."""
    if rule is None:
        return "règle de l'appel"
    return DECISION_RULES_FR.get((rule, variant if rule == "ranking" else "skip"), RULE_LABELS_FR.get(rule, rule))

#: French names of the portfolio-rule columns.
COLUMN_LABELS_FR = GROUP_COLUMN_LABELS_FR

#: Errors shown in the panel as such (anything else is shown too, as an unexpected error).
EXPECTED_ERRORS = (ValueError, InputError, AllocationError, NotOptimalError)


class DecisionError(RuntimeError):
    """No decision for this state (e.g. incompatible rules, no proven optimum); the message is French."""


# --------------------------------------------------------------------------- state and outcome


@dataclass(frozen=True)
class PanelState:
    """What the committee chose: weights and allocation parameters, decision rule included (immutable).

    The decision rule, its ranking variant, the ex aequo band δ and the quality
    thresholds live in `params` (:class:`~ditp_model.rules.allocation.AllocationParams`:
    ``rule``, ``ranking_variant``, ``tie_band_points``, ``min_score``,
    ``min_criterion``; None: the call's value).  `rule` and `ranking_variant`
    given here replace those of `params`; afterwards they mirror them.

    Attributes
    ----------
    weights : Weights
        Raw weights as on the sliders (normalised when scoring).
    params : AllocationParams
    rule : str or None
        ``params.rule``: one of :data:`ditp_model.rules.allocation.RULES`, None for the call's rule.
    ranking_variant : {"skip", "stop"}
        ``params.ranking_variant``.

    The committee's written reason for each lock is ``params.lock_reasons``
    (:attr:`lock_reasons`); a lock without one is shown « motif à écrire » and
    refuses a final publication (:func:`final_publication_refusals`).
    """

    weights: Weights
    params: AllocationParams = field(default_factory=AllocationParams)
    rule: str | None = None
    ranking_variant: str | None = None

    def __post_init__(self):
        p = self.params
        if self.rule is not None and self.rule != p.rule:
            p = replace(p, rule=self.rule)  # validates the name (French error)
        if self.ranking_variant is not None and self.ranking_variant != p.ranking_variant:
            p = replace(p, ranking_variant=self.ranking_variant)
        object.__setattr__(self, "params", p)
        object.__setattr__(self, "rule", p.rule)
        object.__setattr__(self, "ranking_variant", p.ranking_variant)

    @property
    def rule_label_fr(self) -> str:
        return decision_rule_label_fr(self.rule, self.ranking_variant)

    @property
    def lock_reasons(self) -> dict[str, str]:
        """Locked application id -> the committee's written reason (locks without a reason are absent)."""
        locked = self.params.lock_in | self.params.lock_out
        return {a: w for a, w in self.params.lock_reasons if a in locked}


@dataclass(frozen=True)
class Outcome:
    """The decision for one :class:`PanelState` (immutable).

    Attributes
    ----------
    name : str
        French name shown to the committee ("état initial", a scenario's name...).
    state : PanelState
    evaluation : Evaluation
        Scores under ``state.weights``.
    portfolio : pandas.DataFrame
        One row per eligible, scored application, best rank first (see
        :func:`portfolio_table`).
    available_eur : int
        Envelope − committed − reserve.
    envelope_eur : int
    status : str
        French status line.
    warnings : tuple of str
        French warnings (e.g. portfolio rules the ranking rule does not meet).
    allocation : Allocation or None
        The decision of :func:`~ditp_model.rules.allocation.allocate` under the
        state's rule (None when the ranking rule breaks a portfolio rule: its
        portfolio is then shown with a warning).
    explanation : Explanation or None
        :func:`~ditp_model.rules.explain.explain` of the decision (funding line,
        ex aequo, exceptions; no entry gaps), None without an allocation.
    comparison : OptimumComparison or None
        « Si l'on maximisait la somme des notes »: the ``max_total_score``
        portfolio with the same parameters, for comparison only (None under an
        optimisation rule, or when it has no proven optimum).
    not_fundable : dict
        Application id -> French reason, for eligible scored applications below
        a quality threshold (« non finançable : … »).
    provisional : Provisional or None
        :func:`ditp_model.rules.held.provisional_status` under the state's rule and
        parameters: the applications « en attente d'évaluation » and whether each
        could still enter the list of laureates (then the decision is provisional).
    reserve : tuple of str
        The reserve list (« liste complémentaire ») in call-up order
        (:func:`ditp_model.rules.reserve_list.reserve_ids`, the call's
        ``reserve_list_size``); empty without a proven decision.
    """

    name: str
    state: PanelState
    evaluation: Evaluation
    portfolio: pd.DataFrame
    available_eur: int
    envelope_eur: int
    status: str
    warnings: tuple[str, ...] = ()
    allocation: Allocation | None = field(default=None, repr=False)
    explanation: Explanation | None = field(default=None, repr=False)
    comparison: OptimumComparison | None = field(default=None, repr=False)
    not_fundable: dict = field(default_factory=dict, repr=False)
    provisional: Provisional | None = field(default=None, repr=False)
    reserve: tuple[str, ...] = ()

    @property
    def is_provisional(self) -> bool:
        """True when an application awaiting reviews could still enter the list of laureates."""
        return bool(self.provisional is not None and self.provisional.is_provisional)

    @property
    def rule(self) -> str:
        """The decision rule applied (the call's when the state leaves it to the call)."""
        return self.state.rule or self.evaluation.rules.selection.rule

    @property
    def ex_aequo(self) -> tuple[str, ...]:
        """Applications flagged ex aequo at the funding line."""
        return self.explanation.ex_aequo if self.explanation is not None else ()

    @property
    def exceptions(self) -> tuple[str, ...]:
        """French sentences naming each exception to merit order and its cause."""
        return tuple(e.sentence_fr() for e in self.allocation.exceptions) if self.allocation is not None else ()

    @property
    def funded(self) -> pd.DataFrame:
        """Funded rows of the portfolio, best rank first."""
        return self.portfolio[self.portfolio["funded"]]

    @property
    def funded_ids(self) -> list[str]:
        return self.funded["application_id"].tolist()

    @property
    def n_funded(self) -> int:
        return int(self.portfolio["funded"].sum())

    @property
    def awarded_eur(self) -> int:
        return int(self.portfolio["award_eur"].sum())

    @property
    def unspent_eur(self) -> int:
        return self.available_eur - self.awarded_eur

    @property
    def awards(self) -> dict[str, int]:
        """Funded application id -> award (whole euros)."""
        f = self.funded
        return dict(zip(f["application_id"], (int(a) for a in f["award_eur"])))


def effective_values(params: AllocationParams, evaluation: Evaluation) -> dict:
    """The values an allocation uses: parameters, or the call's values where a parameter is None."""
    f = evaluation.rules.funding
    return {
        "envelope_eur": f.envelope_eur if params.envelope_eur is None else params.envelope_eur,
        "award_floor_eur": f.award_floor_eur if params.award_floor_eur is None else params.award_floor_eur,
        "award_cap_eur": f.award_cap_eur if params.award_cap_eur is None else params.award_cap_eur,
        "min_share": f.min_share if params.min_share is None else params.min_share,
        "committed_eur": params.committed_eur,
        "reserve_eur": params.reserve_eur,
        "rule": params.rule or evaluation.rules.selection.rule,
        "tie_band_points": (evaluation.rules.selection.tie_band_points if params.tie_band_points is None
                            else params.tie_band_points),
        "min_score": quality_thresholds(evaluation, params)[0],
        "min_criterion": quality_thresholds(evaluation, params)[1],
    }


def portfolio_table(evaluation: Evaluation, decisions: pd.DataFrame, params: AllocationParams,
                    not_fundable: dict | None = None) -> pd.DataFrame:
    """One row per eligible, scored application with its decision (the input of :mod:`ditp_model.outputs.plots`).

    Parameters
    ----------
    evaluation : Evaluation
    decisions : pandas.DataFrame
        ``application_id``, ``funded``, ``award_eur`` for the candidates
        (:attr:`Allocation.decisions` or :attr:`RankingResult.decisions`);
        applications not listed (locked out, request below the floor) are unfunded.
    params : AllocationParams
        For the ``lock`` column.
    not_fundable : dict, optional
        Application id -> reason, for applications below a quality threshold.

    Returns
    -------
    pandas.DataFrame
        ``application_id``, ``title``, ``lead_org``, ``region``,
        ``lead_org_type``, ``maturity``, ``priority_reform``, ``score``,
        ``rank`` (int), ``funded`` (bool), ``award_eur`` (int), ``lock``
        (``"in"``, ``"out"`` or ``""``), ``fundable`` (bool: False below a
        quality threshold), sorted by rank.
    """
    not_fundable = not_fundable or {}
    t = evaluation.table
    t = t[t["eligible"] & t["scored"]].sort_values("rank")
    fd = dict(zip(decisions["application_id"], decisions["funded"]))
    ad = dict(zip(decisions["application_id"], decisions["award_eur"]))
    funded = [bool(fd.get(a, False)) for a in t["application_id"]]
    award = [int(ad.get(a, 0)) if fd.get(a, False) else 0 for a in t["application_id"]]
    lock = ["in" if a in params.lock_in else "out" if a in params.lock_out else "" for a in t["application_id"]]
    return pd.DataFrame({
        "application_id": t["application_id"].to_numpy(),
        "title": t["title"].to_numpy(),
        "lead_org": t["lead_org"].to_numpy(),
        "region": t["region"].to_numpy(),
        "lead_org_type": t["lead_org_type"].to_numpy(),
        "maturity": t["maturity"].to_numpy(),
        "priority_reform": t["priority_reform"].to_numpy(),
        "score": t["score"].astype(float).to_numpy(),
        "rank": t["rank"].astype("int64").to_numpy(),
        "funded": funded,
        "award_eur": pd.array(award, dtype="int64"),
        "lock": lock,
        "fundable": [a not in not_fundable for a in t["application_id"]],
    })


def compute_outcome(evaluation: Evaluation, state: PanelState, name: str = "", *, compare=None) -> Outcome:
    """The decision for a state, on an evaluation scored with ``state.weights``.

    Parameters
    ----------
    evaluation : Evaluation
        Must be scored with ``state.weights`` (``evaluation.with_weights(state.weights)``).
    state : PanelState
    name : str
    compare : callable, optional
        ``compare(evaluation, allocation) -> OptimumComparison | None``: the
        « si l'on maximisait la somme des notes » comparison; default
        :func:`~ditp_model.rules.explain.optimum_comparison` with
        ``max_total_score`` (a fresh model).  :class:`SessionComputer` passes
        one that re-solves a model built once.

    Returns
    -------
    Outcome

    Raises
    ------
    ValueError
        Parameters that do not fit the data (unknown or ineligible locked
        application, floor above the cap...), French message.
    DecisionError
        No proven optimum (incompatible rules: the message names them).
    """
    if evaluation.weights != state.weights:
        raise ValueError("évaluation calculée avec d'autres pondérations que l'état demandé")
    eff = effective_values(state.params, evaluation)
    available = eff["envelope_eur"] - eff["committed_eur"] - eff["reserve_eur"]
    rule = eff["rule"]
    alloc = allocate(evaluation, state.params)
    explanation = comparison = None
    reserve: tuple[str, ...] = ()
    if rule == "ranking" and alloc.status is SolveStatus.INFEASIBLE:
        # the ranking rule ignores the portfolio rules: its portfolio is shown, with what it breaks
        r = ranking_rule(evaluation, state.params, state.params.ranking_variant)
        decisions, alloc = r.decisions, None
        status = f"règle du classement ({'on passe au suivant' if r.variant == 'skip' else 'on s’arrête au premier qui ne tient pas'})"
        warnings = tuple(f"la règle du classement ne respecte pas : {u}" for u in r.unmet_rules)
        not_fundable = threshold_failures(evaluation, state.params)
    elif not alloc.is_optimal:  # the message names the rules in conflict (infeasible) or the solver status
        raise DecisionError(alloc.message if alloc.conflicts else f"aucune décision : {alloc.message}")
    else:
        decisions = alloc.decisions
        not_fundable = dict(alloc.candidates.not_fundable)
        explanation = explain(evaluation, alloc, gaps=False, entry_scores=False)  # line and ex aequo: no re-decision
        status, warnings = _status_fr(rule, alloc, eff, evaluation)
        if rule not in OPTIMISATION_OBJECTIVES:
            comparison = (compare or _default_comparison)(evaluation, alloc)
        reserve = tuple(reserve_ids(alloc, evaluation.rules.selection.reserve_list_size))
    portfolio = portfolio_table(evaluation, decisions, state.params, not_fundable)
    provisional = provisional_status(evaluation, state.params)  # one decision per held application (none: no solve)
    return Outcome(name, state, evaluation, portfolio, int(available), int(eff["envelope_eur"]), status, warnings, alloc,
                   explanation, comparison, not_fundable, provisional, reserve)


def _default_comparison(evaluation: Evaluation, alloc: Allocation) -> OptimumComparison | None:
    return optimum_comparison(evaluation, alloc, "max_total_score")


def _status_fr(rule: str, alloc: Allocation, eff: dict, evaluation: Evaluation) -> tuple[str, tuple[str, ...]]:
    """The French status line of a proven decision under `rule`, and its warnings."""
    cands = alloc.candidates
    if rule == "merit_order":
        declared = evaluation.rules.selection.tie_band_points
        if eff["tie_band_points"] == "auto":
            origin = cands.tie_band_source
        elif declared != "auto" and abs(float(declared) - float(eff["tie_band_points"])) < 1e-9:
            origin = f"{format_points(cands.tie_band_points)} {plural_fr(cands.tie_band_points, 'point')}, valeur de l'appel"
        else:
            origin = (f"{format_points(cands.tie_band_points)} {plural_fr(cands.tie_band_points, 'point')}, fixée par le comité (appel : "
                      f"{_band_fr(declared)})")
        return (f"ordre de mérite : par note décroissante au-dessus des seuils de qualité, coupure à la ligne "
                f"budgétaire ; bande d'ex aequo {origin}"), ()
    if rule == "ranking":
        return alloc.message, ()
    solver = "HiGHS" if alloc.solver == "highs" else alloc.solver_version
    status = (f"optimum prouvé ({solver}) de « {RULE_LABELS_FR[rule]} » — règle présentée pour comparaison, "
              "ce n'est pas l'ordre de mérite")
    if alloc.other_optimal_portfolios:
        status += " ; d'autres portefeuilles atteignent la même valeur (départage : note, puis dépôt, puis numéro)"
    return status, ("Règle d'optimisation choisie pour comparaison : elle peut laisser de côté des dossiers mieux "
                    "classés ; la décision de l'appel suit l'ordre de mérite.",)


def funded_table(outcome: Outcome) -> pd.DataFrame:
    """The funded applications, best rank first (canonical columns, amounts as int).

    Returns
    -------
    pandas.DataFrame
        ``rank``, ``application_id``, ``title``, ``lead_org``, ``region``,
        ``score``, ``award_eur``; index reset.
    """
    return outcome.funded[["rank", "application_id", "title", "lead_org", "region", "score", "award_eur"]].reset_index(drop=True)


def funded_table_fr(outcome: Outcome) -> pd.DataFrame:
    """The funded table as the committee reads it: French headers, ``72,50`` and ``120 000 €``."""
    f = funded_table(outcome)
    return pd.DataFrame({
        "Rang": f["rank"],
        "Dossier": f["application_id"],
        "Intitulé": f["title"],
        "Porteur": f["lead_org"],
        "Région": f["region"],
        "Note": f["score"].map(format_points),
        "Montant attribué": f["award_eur"].map(format_eur),
    })


def totals(outcome: Outcome) -> dict[str, int]:
    """Funded count, total awarded and unspent (whole euros), and the available envelope."""
    return {"n_funded": outcome.n_funded, "awarded_eur": outcome.awarded_eur,
            "unspent_eur": outcome.unspent_eur, "available_eur": outcome.available_eur}


def weights_key(weights: Weights) -> str:
    """``impact=0.5,openness=0.45,collective=0.2``: the raw weights, as marked on the displayed table."""
    return ",".join(f"{k}={v:g}" for k, v in weights.as_dict().items())


def not_fundable_table_fr(outcome: Outcome) -> pd.DataFrame:
    """Eligible, scored applications below a quality threshold, with the reason (French), best rank first.

    Columns ``Rang``, ``Dossier``, ``Intitulé``, ``Note`` (``48,20``), ``Motif``
    (« non finançable : ouverture 2,10/5 sous le seuil de 2,50 »).
    """
    p = outcome.portfolio
    p = p[p["application_id"].isin(outcome.not_fundable)]
    return pd.DataFrame({
        "Rang": p["rank"].to_numpy(),
        "Dossier": p["application_id"].to_numpy(),
        "Intitulé": p["title"].to_numpy(),
        "Note": p["score"].map(format_points).to_numpy(),
        "Motif": [outcome.not_fundable[a] for a in p["application_id"]],
    })


# --------------------------------------------------------------------------- French pieces shared with the views


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:]


def _share_fr(x: float) -> str:
    return f"{format_number(100 * x, 0 if abs(100 * x - round(100 * x)) < 1e-9 else 1)} %"


def rule_label_fr(rule: GroupRule) -> str:
    """``Région « Île-de-France » : au plus 40 % de l'enveloppe`` (see :meth:`GroupRule.label_fr`)."""
    return rule.label_fr()


def _list_fr(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " et " + items[-1]


def _band_fr(band) -> str:
    """δ as the panel writes it: « auto (…) », or « 0,50 point » (singular below 2)."""
    return ("auto (calculée à partir des évaluations)" if band == "auto"
            else f"{format_points(band)} {plural_fr(float(band), 'point')}")


# --------------------------------------------------------------------------- robustness tab


def robustness_counts(table: pd.DataFrame) -> dict[str, int]:
    """Candidates per class of a weight Monte Carlo (``always``, ``swing``, ``never``, in this order).

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`ditp_model.uncertainty.robustness.WeightMonteCarlo.table`; only its candidates
        (eligible, scored, not locked out) are counted.
    """
    classes = table.loc[table["candidate"].astype(bool), "robustness"]
    return {code: int((classes == code).sum()) for code in robustness.ROBUSTNESS_CLASSES_FR}


def uncertain_table_fr(table: pd.DataFrame) -> pd.DataFrame:
    """The « incertain » candidates of a weight Monte Carlo as the committee reads them.

    Rows: candidates of class ``swing``, by decreasing probability of being
    funded, then decreasing score, then id.  Columns: ``Dossier``, ``Intitulé``,
    ``Note`` (``72,50``), ``Probabilité d'être financé`` (``80,5 %``),
    ``Montant espéré`` (mean award over the draws, ``71 645 €``) and ``Aux
    pondérations du comité`` (``financé`` / ``non financé``).
    """
    t = table[table["candidate"].astype(bool) & (table["robustness"] == "swing")]
    t = t.assign(_p=-t["p_funded"], _s=-t["score"]).sort_values(["_p", "_s", "application_id"], kind="mergesort")
    return pd.DataFrame({
        "Dossier": t["application_id"].to_numpy(),
        "Intitulé": t["title"].to_numpy(),
        "Note": t["score"].map(format_points).to_numpy(),
        "Probabilité d'être financé": t["p_funded"].map(_share_fr).to_numpy(),
        "Montant espéré": t["expected_award_eur"].map(format_eur).to_numpy(),
        "Aux pondérations du comité": t["funded_at_weights"].map({True: "financé", False: "non financé"}).to_numpy(),
    })


def robustness_stale_reason(run: PanelState, shown: PanelState) -> str | None:
    """Why a robustness result computed for state `run` does not describe state `shown` (French), or None.

    The analysis uses the normalised weights and the allocation parameters
    (envelope, amounts, locks, rules, decision rule, δ and quality thresholds):
    each draw is decided by the rule on display.
    """
    a, b = run.weights.normalised(), shown.weights.normalised()
    weights_differ = a.keys() != b.keys() or any(abs(a[k] - b[k]) > 1e-9 for k in a)
    params_differ = run.params != shown.params
    if weights_differ and params_differ:
        return "résultat calculé pour d'autres pondérations et d'autres paramètres — relancer"
    if weights_differ:
        return "résultat calculé pour d'autres pondérations — relancer"
    if params_differ:
        return ("résultat calculé pour d'autres paramètres (enveloppe, montants, seuils, règle de décision, verrous "
                "ou règles) — relancer")
    return None



def thresholds_fr(eff: dict, evaluation: Evaluation) -> str:
    """« note globale ≥ 50,00 ; impact ≥ 2,50/5 ; ouverture ≥ 2,50/5 » (the thresholds in force)."""
    labels = {c.name: c.label for c in evaluation.rules.criteria}
    hi = evaluation.rules.scoring.scale_max
    parts = [f"note globale ≥ {format_points(eff['min_score'])}" if eff["min_score"] > 0 else "pas de seuil global"]
    parts += [f"{_lower_first(labels.get(k, k))} ≥ {format_number(v, 2)}/{format_number(hi, 0)}"
              for k, v in sorted(eff["min_criterion"].items())]
    return " ; ".join(parts)


def weights_used_fr(state: PanelState, evaluation: Evaluation) -> str:
    labels = {c.name: c.label for c in evaluation.rules.criteria}
    norm = state.weights.normalised()
    return " · ".join(f"{labels.get(k, k)} {format_number(v, 2)} ({format_number(100 * norm[k], 0)} %)"
                      for k, v in state.weights.as_dict().items())


def summary_fr(outcome: Outcome) -> str:
    """One French line: count, awarded, unspent, weights used and decision rule."""
    o = outcome
    return (f"{o.name + ' : ' if o.name else ''}{count_fr(o.n_funded, 'lauréat', none='aucun lauréat')}, "
            f"{format_eur(o.awarded_eur)} attribués, "
            f"{format_eur(o.unspent_eur)} non attribués sur {format_eur(o.available_eur)} "
            f"({weights_used_fr(o.state, o.evaluation)} ; {decision_rule_label_fr(o.rule, o.state.ranking_variant)})")


# --------------------------------------------------------------------------- the session's computations, remembered


class SessionComputer:
    """Scores and decisions of one session, remembered, and the optimum of the comparison re-solved on one model.

    A weight change re-scores (:meth:`Evaluation.with_weights`: only the
    composite changes) and re-decides with
    :func:`~ditp_model.rules.allocation.allocate` — the decision is always
    exactly ``allocate``'s.  The « si l'on maximisait la somme des notes »
    comparison is re-solved by a :class:`~ditp_model.uncertainty.resolve.ScoreResolver`
    built once per set of parameters and candidates (only its objective
    changes with the weights: a few milliseconds instead of a new model);
    its result is the ``max_total_score`` optimum of ``allocate`` with the same
    parameters (see the resolver's guarantees; the comparison is never the decision).

    Parameters
    ----------
    base : Evaluation
        The session's evaluation (its weights are the first ones).
    fast_comparison : bool
        False: the comparison by :func:`~ditp_model.rules.explain.optimum_comparison` (a new model each time).
    """

    def __init__(self, base: Evaluation, *, fast_comparison: bool = True, max_evaluations: int = 32,
                 max_outcomes: int = 64):
        self.base = base
        self.fast_comparison = fast_comparison
        self._evaluations: OrderedDict = OrderedDict({base.weights: base})
        self._outcomes: OrderedDict = OrderedDict()
        self._resolvers: OrderedDict = OrderedDict()
        self._limits = (max_evaluations, max_outcomes)

    def evaluation_for(self, weights: Weights) -> Evaluation:
        """Scores under `weights` (remembered: the last 32 weight sets)."""
        return _remember(self._evaluations, weights, lambda: self.base.with_weights(weights), self._limits[0])

    def knows(self, state: PanelState) -> bool:
        """Whether the decision for `state` is already computed."""
        return state in self._outcomes

    def outcome_for(self, state: PanelState, name: str = "") -> Outcome:
        """The decision for `state` (remembered: the last 64 states), under the name `name`."""
        out = _remember(self._outcomes, state,
                        lambda: compute_outcome(self.evaluation_for(state.weights), state, name, compare=self.comparison),
                        self._limits[1])
        return replace(out, name=name) if name != out.name else out

    def comparison(self, evaluation: Evaluation, alloc: Allocation) -> OptimumComparison | None:
        """« Si l'on maximisait la somme des notes » beside the decision `alloc` (None: no proven optimum)."""
        if not self.fast_comparison:
            return _default_comparison(evaluation, alloc)
        from ditp_model.uncertainty.resolve import ScoreResolver

        params = replace(alloc.candidates.params, rule="max_total_score", check_alternatives=False)
        cands = alloc.candidates.table
        key = (params, tuple(sorted(cands["application_id"])))
        try:
            resolver = _remember(self._resolvers, key, lambda: ScoreResolver(evaluation, params), 8)
        except AllocationError:
            return None  # no proven optimum for this rule with these settings
        if not resolver.fast or not _same_bounds(resolver, cands):
            return _default_comparison(evaluation, alloc)
        scores = cands.set_index("application_id").loc[resolver.candidate_ids, "score"].to_numpy(dtype=float)
        try:
            draw = resolver.solve(scores)
        except AllocationError:
            return _default_comparison(evaluation, alloc)
        return comparison_of(evaluation, alloc, "max_total_score", draw.funded_ids, draw.total_awarded_eur)


def _same_bounds(resolver, cands: pd.DataFrame) -> bool:
    """Whether the decision's candidates have the bounds the resolver was built with (amounts and locks)."""
    t = cands.set_index("application_id").loc[resolver.candidate_ids]
    r = resolver.candidates.table.set_index("application_id").loc[resolver.candidate_ids]
    return all((t[c].to_numpy() == r[c].to_numpy()).all() for c in ("lower_eur", "upper_eur", "locked_in", "max_cut_steps"))


def _remember(cache: OrderedDict, key, compute, limit: int):
    value = cache.get(key)
    if value is None:
        value = compute()
        cache[key] = value
        if len(cache) > limit:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return value
