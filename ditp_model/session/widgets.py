"""The committee panel: weight sliders and live funding outcomes (ipywidgets 8).

:class:`CommitteePanel` is the live view of one committee session in JupyterLab
or on a Voilà page.  Every change of a control re-solves (``allocate()`` with
``check_alternatives=False``, with the decision rule chosen) and updates, at once,
the funded table, the totals, the funding line with its ex aequo and exceptions,
the applications below a quality threshold, what changed since the previous
state and since the reference state, a comparison with the optimum (« si l'on
maximisait la somme des notes », never the decision), and the charts of
:mod:`ditp_model.outputs.plots`.

The decision rule is the call's by default (the merit order); the ranking rule
(skip / stop) and the two optimisation objectives are offered as labelled
alternatives for comparison.  The quality thresholds (overall and per
criterion) and the ex aequo band δ are committee settings like the weights.

Everything the panel computes is a pure function of this module, tested without
a browser:

* :class:`PanelState` — weights and allocation parameters, decision rule included (frozen);
* :func:`compute_outcome` — an :class:`Outcome` (status, portfolio table, totals,
  explanation of the line, threshold failures, comparison with the optimum);
* :func:`describe_change` — "P012 entre, P007 sort : ouverture 0,30 → 0,35";
* :func:`compare_scenarios` — two outcomes side by side;
* :func:`funded_table_fr`, :func:`funded_table_html`, :func:`totals` — what is shown;
* :func:`robustness_counts`, :func:`uncertain_table_fr`, :func:`robustness_stale_reason` —
  the « Robustesse » tab (weight Monte Carlo of :mod:`ditp_model.uncertainty.robustness`, run on demand).

The widgets only read their values into a new :class:`PanelState` and display
what those functions return.  Sliders send their value on release
(``continuous_update=False``): one solve per release, and the value shown
beside each slider is the value used, repeated in the "values used" line of
the result.  An error (locks that do not fit the envelope, a floor above the
cap, incompatible rules) is shown in French in the panel and the previous valid
result stays on display, labelled as such.

Snapshots are committee scenarios in the format of :mod:`ditp_model.rules.scenario`
(``save_scenario`` / ``load_scenario``).
"""

from __future__ import annotations

import contextlib
import html
import logging
import math
import re
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import ipywidgets as widgets
import pandas as pd

from ditp_model.outputs import plots
from ditp_model.uncertainty import robustness
from ditp_model.rules.allocation import (GROUP_COLUMN_LABELS_FR, OPTIMISATION_OBJECTIVES, RULE_LABELS_FR, Allocation, AllocationError,
                         AllocationParams, GroupRule, NotOptimalError, SolveStatus, allocate, quality_thresholds,
                         ranking_rule, threshold_failures)
from ditp_model.rules.explain import Explanation, OptimumComparison, explain, optimum_comparison
from ditp_model.inputs.io import Inputs
from ditp_model.scoring.pipeline import Evaluation, evaluate
from ditp_model.french import format_eur, format_number, format_points
from ditp_model.rules.scenario import Scenario, load_scenario, save_scenario
from ditp_model.inputs.schema import InputError
from ditp_model.scoring.aggregate import Weights

__all__ = [
    "PanelState",
    "Outcome",
    "DecisionError",
    "compute_outcome",
    "portfolio_table",
    "funded_table",
    "funded_table_fr",
    "funded_table_html",
    "totals",
    "describe_change",
    "compare_scenarios",
    "comparison_frame_fr",
    "rule_label_fr",
    "decision_rule_label_fr",
    "not_fundable_table_fr",
    "weights_key",
    "state_from_scenario",
    "scenario_slug",
    "robustness_counts",
    "uncertain_table_fr",
    "robustness_stale_reason",
    "CommitteePanel",
]

log = logging.getLogger(__name__)

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


def _effective(params: AllocationParams, evaluation: Evaluation) -> dict:
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


def compute_outcome(evaluation: Evaluation, state: PanelState, name: str = "") -> Outcome:
    """The decision for a state, on an evaluation scored with ``state.weights``.

    Parameters
    ----------
    evaluation : Evaluation
        Must be scored with ``state.weights`` (``evaluation.with_weights(state.weights)``).
    state : PanelState
    name : str

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
    eff = _effective(state.params, evaluation)
    available = eff["envelope_eur"] - eff["committed_eur"] - eff["reserve_eur"]
    rule = eff["rule"]
    alloc = allocate(evaluation, state.params)
    warnings: tuple[str, ...] = ()
    explanation = comparison = None
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
        cands = alloc.candidates
        not_fundable = dict(cands.not_fundable)
        explanation = explain(evaluation, alloc, gaps=False)
        if rule == "merit_order":
            declared = evaluation.rules.selection.tie_band_points
            if eff["tie_band_points"] == "auto":
                origin = cands.tie_band_source
            elif declared != "auto" and abs(float(declared) - float(eff["tie_band_points"])) < 1e-9:
                origin = f"{format_points(cands.tie_band_points)} point(s), valeur de l'appel"
            else:
                origin = (f"{format_points(cands.tie_band_points)} point(s), fixée par le comité (appel : "
                          f"{_band_fr(declared)})")
            status = (f"ordre de mérite : par note décroissante au-dessus des seuils de qualité, coupure à la ligne "
                      f"budgétaire ; bande d'ex aequo {origin}")
        elif rule == "ranking":
            status = alloc.message
        else:
            solver = "HiGHS" if alloc.solver == "highs" else alloc.solver_version
            status = (f"optimum prouvé ({solver}) de « {RULE_LABELS_FR[rule]} » — règle présentée pour comparaison, "
                      "ce n'est pas l'ordre de mérite")
            if alloc.other_optimal_portfolios:
                status += " ; d'autres portefeuilles atteignent la même valeur (départage : note, puis dépôt, puis numéro)"
            warnings = ("Règle d'optimisation choisie pour comparaison : elle peut laisser de côté des dossiers mieux "
                        "classés ; la décision de l'appel suit l'ordre de mérite.",)
        if rule not in OPTIMISATION_OBJECTIVES:
            comparison = optimum_comparison(evaluation, alloc, "max_total_score")
    portfolio = portfolio_table(evaluation, decisions, state.params, not_fundable)
    return Outcome(name, state, evaluation, portfolio, int(available), int(eff["envelope_eur"]), status, warnings, alloc,
                   explanation, comparison, not_fundable)


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


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def funded_table_html(outcome: Outcome, new_ids: frozenset | set = frozenset()) -> str:
    """HTML of the funded table (French formats).

    Badges: « nouveau » (rows of `new_ids`), « imposé » (locked in), « ex aequo »
    (within δ of the funding line) and « exception » (funded out of merit order,
    see the exceptions listed under the funding line).
    """
    f = funded_table_fr(outcome)
    locks = dict(zip(outcome.portfolio["application_id"], outcome.portfolio["lock"]))
    tied = set(outcome.ex_aequo)
    out_of_order = {e.funded for e in outcome.allocation.exceptions} if outcome.allocation is not None else set()
    rows = []
    for r in f.itertuples(index=False):
        aid = r[1]
        mark = ""
        if aid in new_ids:
            mark += ' <span class="ditp-badge ditp-badge-new">nouveau</span>'
        if locks.get(aid) == "in":
            mark += ' <span class="ditp-badge">imposé</span>'
        if aid in tied:
            mark += ' <span class="ditp-badge ditp-badge-tie">ex aequo</span>'
        if aid in out_of_order:
            mark += ' <span class="ditp-badge ditp-badge-exception">exception</span>'
        rows.append(f'<tr class="{"ditp-new" if aid in new_ids else ""}"><td class="ditp-num">{r[0]}</td>'
                    f'<td class="ditp-id">{_e(aid)}</td><td>{_e(r[2])}{mark}</td><td>{_e(r[3])}</td><td>{_e(r[4])}</td>'
                    f'<td class="ditp-num">{r[5]}</td><td class="ditp-num ditp-eur">{r[6]}</td></tr>')
    head = "".join(f"<th>{c}</th>" for c in f.columns)
    foot = (f'<tr><td></td><td colspan="4">Total : {outcome.n_funded} lauréat(s)</td><td></td>'
            f'<td class="ditp-num ditp-eur">{format_eur(outcome.awarded_eur)}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="7">Aucun dossier financé.</td></tr>'
    return (f'<div class="ditp-table-wrap"><table class="ditp-funded" data-n="{outcome.n_funded}" '
            f'data-weights="{_e(weights_key(outcome.state.weights))}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody><tfoot>{foot}</tfoot></table></div>")


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


def _table_html(frame: pd.DataFrame, css: str, num: set[int] = frozenset(), ident: int | None = None) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f'<td class="{"ditp-num" if k in num else "ditp-id" if k == ident else ""}">{_e(v)}</td>'
                                    for k, v in enumerate(r)) + "</tr>" for r in frame.itertuples(index=False))
    return (f'<div class="ditp-table-wrap"><table class="{css}" data-n="{len(frame)}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


# --------------------------------------------------------------------------- what changed


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


def _param_changes(old: Outcome, new: Outcome) -> list[str]:
    ev = new.evaluation
    labels = {c.name: c.label for c in ev.rules.criteria}
    out = []
    wo, wn = old.state.weights.as_dict(), new.state.weights.as_dict()
    for k in wn:
        if k not in wo or abs(wo[k] - wn[k]) > 1e-9:
            a = format_number(wo[k], 2) if k in wo else "—"
            out.append(f"{_lower_first(labels.get(k, k))} {a} → {format_number(wn[k], 2)}")
    po, pn = old.state.params, new.state.params
    eo, en = _effective(po, old.evaluation), _effective(pn, ev)
    for key, label in (("envelope_eur", "enveloppe"), ("award_floor_eur", "plancher"), ("award_cap_eur", "plafond"),
                       ("committed_eur", "engagements antérieurs"), ("reserve_eur", "réserve")):
        if eo[key] != en[key]:
            out.append(f"{label} {format_eur(eo[key])} → {format_eur(en[key])}")
    if abs(eo["min_share"] - en["min_share"]) > 1e-9:
        out.append(f"part minimale de la demande {_share_fr(eo['min_share'])} → {_share_fr(en['min_share'])}")
    if abs(eo["min_score"] - en["min_score"]) > 1e-9:
        out.append(f"seuil de note globale {format_points(eo['min_score'])} → {format_points(en['min_score'])}")
    for k in sorted(set(eo["min_criterion"]) | set(en["min_criterion"])):
        a, b = eo["min_criterion"].get(k), en["min_criterion"].get(k)
        if a != b:
            fmt = lambda v: "aucun" if v is None else format_number(v, 2)  # noqa: E731
            out.append(f"seuil « {_lower_first(labels.get(k, k))} » {fmt(a)} → {fmt(b)}")
    if eo["tie_band_points"] != en["tie_band_points"]:
        out.append(f"bande d'ex aequo {_band_fr(eo['tie_band_points'])} → {_band_fr(en['tie_band_points'])}")
    for a in sorted(pn.lock_in - po.lock_in):
        out.append(f"{a} imposé")
    for a in sorted(pn.lock_out - po.lock_out):
        out.append(f"{a} exclu")
    for a in sorted((po.lock_in | po.lock_out) - (pn.lock_in | pn.lock_out)):
        out.append(f"verrou levé sur {a}")
    for r in pn.group_rules:
        if r not in po.group_rules:
            out.append(f"règle ajoutée ({rule_label_fr(r)})")
    for r in po.group_rules:
        if r not in pn.group_rules:
            out.append(f"règle retirée ({rule_label_fr(r)})")
    if po.max_awards != pn.max_awards:
        out.append("nombre de lauréats sans limite" if pn.max_awards is None else f"au plus {pn.max_awards} lauréats")
    lo_, ln_ = (decision_rule_label_fr(o.rule, o.state.ranking_variant) for o in (old, new))
    if lo_ != ln_:
        out.append(f"décision : {lo_} → {ln_}")
    return out


def _band_fr(band) -> str:
    return "auto (calculée à partir des évaluations)" if band == "auto" else f"{format_points(band)} point(s)"


def describe_change(old: Outcome, new: Outcome) -> str:
    """One French line: who enters, who leaves, which awards move, and which parameters changed.

    Example: ``P012 entre, P007 sort : ouverture 0,30 → 0,35``.  Weights are
    the raw slider values; amounts are whole euros, the French way.
    """
    a, b = old.awards, new.awards
    enters = [x for x in new.funded_ids if x not in a]
    leaves = [x for x in old.funded_ids if x not in b]
    moves = []
    if enters:
        moves.append(f"{_list_fr(enters)} {'entre' if len(enters) == 1 else 'entrent'}")
    if leaves:
        moves.append(f"{_list_fr(leaves)} {'sort' if len(leaves) == 1 else 'sortent'}")
    changed = [x for x in new.funded_ids if x in a and a[x] != b[x]]
    if changed:
        moves.append("montant modifié : " + ", ".join(f"{x} {format_eur(a[x])} → {format_eur(b[x])}" for x in changed))
    head = ", ".join(moves) if moves else "aucun dossier n'entre ni ne sort"
    params = _param_changes(old, new)
    return f"{head} : {', '.join(params)}" if params else f"{head} (paramètres identiques)"


# --------------------------------------------------------------------------- scenarios


def compare_scenarios(a: Outcome, b: Outcome) -> pd.DataFrame:
    """Two decisions side by side: every application funded in at least one of them.

    Parameters
    ----------
    a, b : Outcome
        Typically two saved scenarios computed on the same inputs.

    Returns
    -------
    pandas.DataFrame
        One row per application funded in `a` or `b`: ``application_id``,
        ``title``, ``funded_a``, ``funded_b`` (bool), ``score_a``,
        ``score_b``, ``score_diff`` (b − a, points), ``award_a``,
        ``award_b``, ``award_diff`` (b − a, int euros) and ``change``
        (``"a_only"``, ``"b_only"``, ``"both"``).  Rows: funded in `a` only,
        then in `b` only, then in both; within each, by decreasing score in `b`
        then id.
    """
    aa, bb = a.awards, b.awards
    ids = sorted(set(aa) | set(bb))
    sa = a.evaluation.table.set_index("application_id")["score"]
    sb = b.evaluation.table.set_index("application_id")["score"]
    titles = b.evaluation.table.set_index("application_id")["title"]
    rows = []
    for x in ids:
        fa, fb = x in aa, x in bb
        award_a, award_b = aa.get(x, 0), bb.get(x, 0)
        rows.append((x, titles.get(x, ""), fa, fb, float(sa.get(x)), float(sb.get(x)), float(sb.get(x)) - float(sa.get(x)),
                     award_a, award_b, award_b - award_a, "both" if fa and fb else "a_only" if fa else "b_only"))
    cols = ["application_id", "title", "funded_a", "funded_b", "score_a", "score_b", "score_diff",
            "award_a", "award_b", "award_diff", "change"]
    out = pd.DataFrame(rows, columns=cols)
    for c in ("award_a", "award_b", "award_diff"):
        out[c] = out[c].astype("int64")
    order = {"a_only": 0, "b_only": 1, "both": 2}
    out = out.assign(_o=out["change"].map(order), _s=-out["score_b"]).sort_values(["_o", "_s", "application_id"], kind="mergesort")
    return out.drop(columns=["_o", "_s"]).reset_index(drop=True)


def _signed(x: float, fmt) -> str:
    if abs(x) < 1e-12:
        return "="
    return ("+" if x > 0 else "−") + fmt(abs(x))


def comparison_frame_fr(comparison: pd.DataFrame, name_a: str = "A", name_b: str = "B") -> pd.DataFrame:
    """French display of :func:`compare_scenarios` (``72,50``, ``120 000 €``, signed differences)."""
    labels = {"a_only": f"financé dans « {name_a} » seulement", "b_only": f"financé dans « {name_b} » seulement",
              "both": "financé dans les deux"}
    c = comparison
    return pd.DataFrame({
        "Dossier": c["application_id"],
        "Intitulé": c["title"],
        "Situation": c["change"].map(labels),
        f"Note ({name_a})": c["score_a"].map(format_points),
        f"Note ({name_b})": c["score_b"].map(format_points),
        "Écart de note": c["score_diff"].map(lambda v: _signed(v, format_points)),
        f"Montant ({name_a})": c["award_a"].map(lambda v: format_eur(v) if v else "—"),
        f"Montant ({name_b})": c["award_b"].map(lambda v: format_eur(v) if v else "—"),
        "Écart de montant": c["award_diff"].map(lambda v: _signed(v, format_eur)),
    })


def state_from_scenario(scenario: Scenario) -> PanelState:
    """The panel state of a saved scenario (its decision rule, δ and thresholds are in its parameters)."""
    return PanelState(scenario.weights, replace(scenario.params, check_alternatives=False))


def scenario_slug(name: str) -> str:
    """A file name stem for a scenario name: ``"Séance du 12/10 — ouverture"`` -> ``"seance-du-12-10-ouverture"``."""
    s = unicodedata.normalize("NFKD", name)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    return s[:80]


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


# --------------------------------------------------------------------------- the panel

_CSS = """
<style>
.ditp-panel { font-size: 13px; }
.ditp-panel h3 { margin: 6px 0 2px 0; font-size: 15px; }
.ditp-section { font-weight: 600; margin: 8px 0 2px 0; color: #1f2933; border-bottom: 1px solid #d5d9e0; }
.ditp-used { background: #f4f6f8; border-left: 4px solid #2a7f62; padding: 4px 8px; }
.ditp-error-box { background: #fdecea; border-left: 4px solid #c0392b; padding: 6px 8px; color: #5e1710; }
.ditp-warn { background: #fff6e0; border-left: 4px solid #d68910; padding: 4px 8px; }
.ditp-cards { display: flex; gap: 10px; flex-wrap: wrap; }
.ditp-card { background: #f4f6f8; padding: 4px 12px; border-radius: 4px; min-width: 9em; }
.ditp-card b { font-size: 18px; display: block; }
.ditp-changes p { margin: 2px 0; }
.ditp-table-wrap { max-height: 430px; overflow-y: auto; border: 1px solid #d5d9e0; }
table.ditp-funded, table.ditp-compare, table.ditp-uncertain, table.ditp-not-fundable { border-collapse: collapse; width: 100%; font-size: 12px; }
table.ditp-funded th, table.ditp-compare th, table.ditp-uncertain th, table.ditp-not-fundable th {
  position: sticky; top: 0; background: #e9edf1; text-align: left; padding: 3px 6px; }
table.ditp-funded td, table.ditp-compare td, table.ditp-uncertain td, table.ditp-not-fundable td {
  border-top: 1px solid #e3e6ea; padding: 2px 6px; vertical-align: top; }
table.ditp-funded tfoot td { font-weight: 600; background: #f4f6f8; }
td.ditp-num { text-align: right; white-space: nowrap; }
tr.ditp-new td { background: #e8f5ee; }
.ditp-badge { font-size: 10px; background: #dfe3e8; border-radius: 3px; padding: 0 4px; margin-left: 4px; }
.ditp-badge-new { background: #2a7f62; color: white; }
.ditp-badge-tie { background: #fdebd0; }
.ditp-badge-exception { background: #f5b7b1; }
.ditp-line p, .ditp-optimum p { margin: 2px 0; }
.ditp-optimum { background: #f4f6f8; border-left: 4px solid #8a94a1; padding: 4px 8px; font-size: 12px; line-height: 1.35; }
.ditp-value { white-space: nowrap; }
.ditp-busy { background: #fff6e0; padding: 2px 8px; border-radius: 3px; font-weight: 600; }
.ditp-used, .ditp-changes, .ditp-table-wrap, .ditp-cards, .ditp-error-box, .ditp-warn, .ditp-compare-box { line-height: 1.35; }
.ditp-used { font-size: 12px; }
.ditp-stale { opacity: 0.45; }
.ditp-mc-help { font-size: 12px; color: #3e4c59; line-height: 1.35; }
</style>
"""


def _section(title: str) -> widgets.HTML:
    return widgets.HTML(f'<div class="ditp-section">{_e(title)}</div>')


def _thresholds_fr(eff: dict, evaluation: Evaluation) -> str:
    """« note globale ≥ 50,00 ; impact ≥ 2,50/5 ; ouverture ≥ 2,50/5 » (the thresholds in force)."""
    labels = {c.name: c.label for c in evaluation.rules.criteria}
    hi = evaluation.rules.scoring.scale_max
    parts = [f"note globale ≥ {format_points(eff['min_score'])}" if eff["min_score"] > 0 else "pas de seuil global"]
    parts += [f"{_lower_first(labels.get(k, k))} ≥ {format_number(v, 2)}/{format_number(hi, 0)}"
              for k, v in sorted(eff["min_criterion"].items())]
    return " ; ".join(parts)


def _weights_used_fr(state: PanelState, evaluation: Evaluation) -> str:
    labels = {c.name: c.label for c in evaluation.rules.criteria}
    norm = state.weights.normalised()
    return " · ".join(f"{labels.get(k, k)} {format_number(v, 2)} ({format_number(100 * norm[k], 0)} %)"
                      for k, v in state.weights.as_dict().items())


class CommitteePanel(widgets.VBox):
    """The committee's live panel: controls on the left, the decision on the right, charts below.

    Parameters
    ----------
    inputs : Inputs
        Call rules, applications and reviews (:func:`ditp_model.inputs.io.load_inputs`).
    weights : Weights, optional
        Initial raw weights; default the call's.
    params : AllocationParams, optional
        Initial parameters; amounts left at None take the call's values (the
        envelope slider starts exactly at the call's envelope).
        ``check_alternatives`` is always off in the live panel (speed).
    normalisation : str, optional
        Review normalisation; default the call's.
    rule_options : sequence of GroupRule
        Portfolio rules offered as toggles (off unless in ``params.group_rules``).
    max_awards_default : int, optional
        Value offered by the "maximum number of awards" toggle (off at start).
    scenario_dir : path, optional
        Folder where scenarios are saved and listed; default ``./scenarios``.
    reference : Scenario, optional
        Reference state; default the initial state ("état initial").
    charts : bool
        Draw the matplotlib charts (on by default).

    Notes
    -----
    The right-hand column has two tabs: « Décision » (recomputed at every
    change) and « Robustesse », where :meth:`run_robustness` (its button) runs
    :func:`ditp_model.uncertainty.robustness.weight_monte_carlo` for the state on display,
    with a progress bar; the result is marked as out of date when the weights
    or parameters change afterwards, never recomputed on its own.
    """

    _weight_step = 0.05

    def __init__(self, inputs: Inputs, *, weights: Weights | None = None, params: AllocationParams | None = None,
                 normalisation: str | None = None, rule_options=(), max_awards_default: int | None = None,
                 scenario_dir: str | Path | None = None, reference: Scenario | None = None, charts: bool = True):
        super().__init__()
        self.add_class("ditp-panel")
        self.inputs = inputs
        self.rules = inputs.rules
        self.scenario_dir = Path(scenario_dir) if scenario_dir is not None else Path("scenarios")
        self._paths = list(inputs.files)  # call, applications, reviews (load_inputs order)
        self._base = evaluate(inputs, weights or Weights.from_rules(self.rules), normalisation)
        self._evaluations: OrderedDict = OrderedDict({self._base.weights: self._base})
        self._outcomes: OrderedDict = OrderedDict()
        self._hidden_params = replace(params or AllocationParams(), check_alternatives=False)
        self._batch_depth = 0
        self._charts_enabled = charts
        self._chart_cache: dict[str, tuple] = {}
        self._charts: dict | None = None
        self.current: Outcome | None = None
        self.previous: Outcome | None = None
        self.reference: Outcome | None = None
        self.last_error: str | None = None
        self.last_timings: dict[str, float] = {}
        self.solve_count = 0
        self.robustness: robustness.WeightMonteCarlo | None = None
        self.robustness_state: PanelState | None = None
        self.robustness_error: str | None = None
        self._suspended = True  # one render at the end of the construction
        self._build_widgets(self._hidden_params, rule_options, max_awards_default)
        self.refresh()
        if self.current is not None:
            self.reference = replace(self.current, name="état initial")
            if reference is not None:
                self._guard(lambda: self.set_reference(reference))
        self.previous = None
        self._suspended = False
        self._render()

    # ----------------------------------------------------------------- widgets

    def _build_widgets(self, params: AllocationParams, rule_options, max_awards_default) -> None:
        ev = self._base
        f = self.rules.funding
        t = ev.table
        eligible_request = int(t.loc[t["eligible"], "requested_eur"].sum())
        envelope = f.envelope_eur if params.envelope_eur is None else params.envelope_eur
        floor = f.award_floor_eur if params.award_floor_eur is None else params.award_floor_eur
        cap = f.award_cap_eur if params.award_cap_eur is None else params.award_cap_eur
        min_share = f.min_share if params.min_share is None else params.min_share
        row_layout = widgets.Layout(width="13em")
        self._value_labels: dict[str, widgets.HTML] = {}

        def slider_row(label: str, slider, key: str):
            lab = widgets.HTML(f"<b>{_e(label)}</b>", layout=row_layout)
            val = widgets.HTML("", layout=widgets.Layout(width="18em"))
            val.add_class("ditp-value")
            self._value_labels[key] = val
            slider.layout = widgets.Layout(width="13em")
            return widgets.HBox([lab, slider, val])

        # weights
        self.weight_sliders: dict[str, widgets.FloatSlider] = {}
        rows = []
        for c in self.rules.criteria:
            v = ev.weights.as_dict()[c.name]
            s = widgets.FloatSlider(value=v, min=0.0, max=max(1.0, v), step=self._weight_step, readout=False,
                                    continuous_update=False, description="")
            s.add_class(f"ditp-weight-{c.name}")
            s.observe(self._on_change, names="value")
            self.weight_sliders[c.name] = s
            rows.append(slider_row(c.label, s, f"w:{c.name}"))
        weights_box = widgets.VBox([_section("Pondérations (normalisées : part de chaque critère dans la note)"), *rows])

        # money
        step = 10_000 if envelope % 10_000 == 0 else (1_000 if envelope % 1_000 == 0 else 1)
        self.envelope_slider = widgets.IntSlider(value=envelope, min=0, max=max(eligible_request, envelope), step=step,
                                                 readout=False, continuous_update=False)
        self.envelope_slider.add_class("ditp-envelope")
        self.envelope_text = widgets.BoundedIntText(value=envelope, min=0, max=self.envelope_slider.max, step=step,
                                                    continuous_update=False, layout=widgets.Layout(width="9em"))
        widgets.link((self.envelope_text, "value"), (self.envelope_slider, "value"))
        self.envelope_text.add_class("ditp-envelope-exact")
        top = max(int(t.loc[t["eligible"], "requested_eur"].max()), f.extended_cap.award_cap_eur, cap, floor)
        top = -(-top // 1000) * 1000
        self.floor_slider = widgets.IntSlider(value=floor, min=0, max=top, step=1000, readout=False, continuous_update=False)
        self.cap_slider = widgets.IntSlider(value=cap, min=0, max=top, step=1000, readout=False, continuous_update=False)
        self.min_share_slider = widgets.FloatSlider(value=min_share, min=0.05, max=1.0, step=0.05, readout=False,
                                                    continuous_update=False)
        for w in (self.envelope_slider, self.floor_slider, self.cap_slider, self.min_share_slider):
            w.observe(self._on_change, names="value")
        money_box = widgets.VBox([
            _section("Enveloppe et montants"),
            slider_row("Enveloppe", self.envelope_slider, "envelope"),
            widgets.HBox([widgets.HTML("", layout=row_layout), widgets.HTML("montant exact (€) :&nbsp;"), self.envelope_text]),
            slider_row("Plancher par projet", self.floor_slider, "floor"),
            slider_row("Plafond par projet", self.cap_slider, "cap"),
            slider_row("Minimum accordé", self.min_share_slider, "min_share"),
        ])

        # decision rule: the call's by default; the others are labelled alternatives
        sel = self.rules.selection
        rule = params.rule or sel.rule
        options = []
        for key, label in DECISION_RULES_FR.items():
            text = label[:1].upper() + label[1:]
            if key[0] == sel.rule and (key[0] != "ranking" or key[1] == "skip"):
                text += " (règle de l'appel)"
            options.append((text, key))
        self.rule_choice = widgets.RadioButtons(options=options, value=(rule, params.ranking_variant if rule == "ranking" else "skip"),
                                                layout=widgets.Layout(width="auto"))
        self.rule_choice.add_class("ditp-rule-choice")
        self.rule_choice.observe(self._on_change, names="value")
        rule_box = widgets.VBox([_section("Règle de décision"), self.rule_choice])

        # quality thresholds and ex aequo band: committee settings, the call's values by default
        overall, per = quality_thresholds(ev, params)
        lo, hi = self.rules.scoring.scale_min, self.rules.scoring.scale_max
        self._scale = (lo, hi)
        self.min_score_text = widgets.BoundedFloatText(value=overall, min=0.0, max=100.0, step=0.5, continuous_update=False,
                                                       layout=widgets.Layout(width="7em"))
        self.min_score_text.add_class("ditp-min-score")
        self.min_criterion_texts: dict[str, widgets.BoundedFloatText] = {}
        threshold_rows = [widgets.HBox([widgets.HTML("<b>Note globale minimale</b>", layout=row_layout),
                                        self.min_score_text, widgets.HTML("&nbsp;points sur 100")])]
        for c in self.rules.criteria:
            if c.source != "reviews":
                continue
            box = widgets.BoundedFloatText(value=per.get(c.name, lo), min=lo, max=hi, step=0.1, continuous_update=False,
                                           layout=widgets.Layout(width="7em"))
            box.add_class(f"ditp-min-{c.name}")
            self.min_criterion_texts[c.name] = box
            threshold_rows.append(widgets.HBox([widgets.HTML(f"<b>Minimum « {_e(c.label)} »</b>", layout=row_layout), box,
                                                widgets.HTML(f"&nbsp;sur l'échelle {format_number(lo, 0)}–{format_number(hi, 0)}"
                                                             f" ({format_number(lo, 0)} : pas de seuil)")]))
        band = sel.tie_band_points if params.tie_band_points is None else params.tie_band_points
        self.tie_band_auto = widgets.Checkbox(value=band == "auto", description="calculée à partir des évaluations (« auto »)",
                                              indent=False, layout=widgets.Layout(width="auto"))
        self.tie_band_text = widgets.BoundedFloatText(value=0.0 if band == "auto" else float(band), min=0.0, max=100.0,
                                                      step=0.05, continuous_update=False, disabled=band == "auto",
                                                      layout=widgets.Layout(width="7em"))
        self.tie_band_text.add_class("ditp-tie-band")
        for w in (self.min_score_text, *self.min_criterion_texts.values(), self.tie_band_text, self.tie_band_auto):
            w.observe(self._on_change, names="value")
        thresholds_box = widgets.VBox([
            _section("Seuils de qualité et ex aequo"),
            widgets.HTML("<small>Sous un seuil, un dossier est « non finançable » (motif indiqué). Deux notes plus "
                         "proches que la bande d'ex aequo δ sont ex aequo.</small>"),
            *threshold_rows,
            widgets.HBox([widgets.HTML("<b>Bande d'ex aequo δ</b>", layout=row_layout), self.tie_band_text,
                          widgets.HTML("&nbsp;point(s)&nbsp;"), self.tie_band_auto]),
        ])

        # portfolio rules
        self.rule_toggles: list[tuple[GroupRule, widgets.Checkbox]] = []
        self._rules_container = widgets.VBox()
        for r in list(rule_options) + [r for r in params.group_rules if r not in rule_options]:
            self._add_rule_toggle(r, r in params.group_rules)
        self.max_awards_toggle = widgets.Checkbox(value=params.max_awards is not None, description="Limiter le nombre de lauréats à",
                                                  indent=False, layout=widgets.Layout(width="auto"))
        self.max_awards_value = widgets.BoundedIntText(value=params.max_awards or max_awards_default or 27, min=0, max=len(t),
                                                       continuous_update=False, layout=widgets.Layout(width="6em"))
        for w in (self.max_awards_toggle, self.max_awards_value):
            w.observe(self._on_change, names="value")
        portfolio_box = widgets.VBox([_section("Règles de portefeuille"), self._rules_container,
                                      widgets.HBox([self.max_awards_toggle, self.max_awards_value])])

        # locks: searchable tags (type a number or words of the title)
        fundable = t[t["eligible"] & t["scored"]].sort_values("application_id")
        self._tag_of = {a: f"{a} · {self._short(title)}" for a, title in zip(fundable["application_id"], fundable["title"])}
        self._id_of_tag = {v: k for k, v in self._tag_of.items()}
        self._search_text = {a: f"{a} · {title} · {org}".casefold()
                             for a, title, org in zip(fundable["application_id"], fundable["title"], fundable["lead_org"])}
        tags = list(self._tag_of.values())
        self.lock_in_tags = widgets.TagsInput(value=[self._tag_of[a] for a in sorted(params.lock_in) if a in self._tag_of],
                                              allowed_tags=tags, allow_duplicates=False, tag_style="success",
                                              placeholder="numéro ou mots du titre…", layout=widgets.Layout(width="100%"))
        self.lock_out_tags = widgets.TagsInput(value=[self._tag_of[a] for a in sorted(params.lock_out) if a in self._tag_of],
                                               allowed_tags=tags, allow_duplicates=False, tag_style="danger",
                                               placeholder="numéro ou mots du titre…", layout=widgets.Layout(width="100%"))
        for w in (self.lock_in_tags, self.lock_out_tags):
            w.observe(self._on_change, names="value")
        # search box: suggestions as one types (number or words of the title); "P044" alone is enough
        self.lock_search = widgets.Combobox(options=tags, ensure_option=False, placeholder="rechercher : numéro ou mots du titre",
                                            layout=widgets.Layout(width="24em"))
        self.lock_search.add_class("ditp-lock-search")
        self.lock_in_button = widgets.Button(description="Imposer", button_style="success", layout=widgets.Layout(width="auto"))
        self.lock_out_button = widgets.Button(description="Exclure", button_style="danger", layout=widgets.Layout(width="auto"))
        self.lock_in_button.on_click(lambda _: self._lock_from_search("in"))
        self.lock_out_button.on_click(lambda _: self._lock_from_search("out"))
        self.lock_message = widgets.HTML()
        locks_box = widgets.VBox([
            _section("Verrous du comité"),
            widgets.HBox([self.lock_search, self.lock_in_button, self.lock_out_button]), self.lock_message,
            widgets.HTML("Dossiers <b>imposés</b> (financés quoi qu'il arrive ; × pour lever le verrou) :"), self.lock_in_tags,
            widgets.HTML("Dossiers <b>exclus</b> :"), self.lock_out_tags,
        ])

        controls = widgets.VBox([weights_box, money_box, rule_box, thresholds_box, portfolio_box, locks_box],
                                layout=widgets.Layout(width="45em", min_width="45em"))

        # results
        self.busy_html = widgets.HTML()
        self.used_html = widgets.HTML()
        self.used_html.add_class("ditp-used-box")
        self.error_html = widgets.HTML()
        self.error_html.add_class("ditp-error")
        self.totals_html = widgets.HTML()
        self.changes_html = widgets.HTML()
        self.table_html = widgets.HTML()
        self.table_html.add_class("ditp-funded-box")
        self.line_html = widgets.HTML()
        self.line_html.add_class("ditp-line-box")
        self.not_fundable_html = widgets.HTML()
        self.not_fundable_html.add_class("ditp-not-fundable-box")
        self.optimum_html = widgets.HTML()
        self.optimum_html.add_class("ditp-optimum-box")
        self.reference_button = widgets.Button(description="Prendre l'état affiché comme référence",
                                               layout=widgets.Layout(width="auto", align_self="flex-start"))
        self.reference_button.on_click(lambda _: self._guard(self.set_reference_current))
        decision = widgets.VBox([self.busy_html, self.used_html, self.error_html, self.totals_html, self.changes_html,
                                 self.reference_button, _section("Lauréats"),
                                 widgets.HTML("<small>Rang : place du dossier dans le classement par note "
                                              "(un rang absent est un dossier non financé).</small>"),
                                 self.table_html, _section("Ligne de financement"), self.line_html,
                                 _section("Dossiers non finançables (seuils de qualité)"), self.not_fundable_html,
                                 _section("Si l'on maximisait la somme des notes (comparaison, pas la décision)"),
                                 self.optimum_html])
        # tabs: the decision (recomputed at every change) and the robustness analysis (on demand)
        self.tabs = widgets.Tab(children=[decision, self._build_robustness_tab()], titles=("Décision", "Robustesse"),
                                layout=widgets.Layout(flex="1 1 auto", min_width="30em"))
        self.tabs.add_class("ditp-tabs")
        results = self.tabs

        # charts
        fmt = "svg+xml"
        self.chart_images = {k: widgets.Image(format=fmt, layout=widgets.Layout(width="100%")) for k in
                             ("region", "lead_org_type", "maturity", "score")}
        charts = widgets.VBox([
            _section("Graphiques (repère noir : état de référence)"),
            widgets.GridBox([self.chart_images["region"], widgets.VBox([self.chart_images["lead_org_type"],
                                                                         self.chart_images["maturity"]])],
                            layout=widgets.Layout(grid_template_columns="1fr 1fr", grid_gap="8px")),
            self.chart_images["score"],
        ])

        # scenarios
        self.scenario_name = widgets.Text(placeholder="nom du scénario, par ex. « ouverture renforcée »",
                                          layout=widgets.Layout(width="24em"))
        self.save_button = widgets.Button(description="Enregistrer", button_style="primary")
        self.save_button.on_click(lambda _: self._guard(lambda: self.save(self.scenario_name.value)))
        self.scenario_choice = widgets.Dropdown(options=[], description="Scénario enregistré",
                                                style={"description_width": "initial"}, layout=widgets.Layout(width="32em"))
        self.load_button = widgets.Button(description="Charger dans le panneau", layout=widgets.Layout(width="auto"))
        self.load_button.on_click(lambda _: self._guard(lambda: self.load(self.scenario_choice.value)))
        self.load_reference_button = widgets.Button(description="Prendre comme référence", layout=widgets.Layout(width="auto"))
        self.load_reference_button.on_click(lambda _: self._guard(lambda: self.set_reference(self.scenario_choice.value)))
        self.compare_a = widgets.Dropdown(options=[], description="Comparer A", layout=widgets.Layout(width="22em"),
                                          style={"description_width": "initial"})
        self.compare_b = widgets.Dropdown(options=[], description="et B", layout=widgets.Layout(width="20em"),
                                          style={"description_width": "initial"})
        self.compare_button = widgets.Button(description="Comparer", layout=widgets.Layout(width="auto"))
        self.compare_button.on_click(lambda _: self._guard(lambda: self.compare(self.compare_a.value, self.compare_b.value)))
        self.scenario_message = widgets.HTML()
        self.scenario_hint = widgets.HTML()
        self.compare_html = widgets.HTML()
        scenarios = widgets.VBox([
            _section("Scénarios (instantanés enregistrés)"),
            widgets.HBox([self.scenario_name, self.save_button]),
            widgets.HBox([self.scenario_choice, self.load_button, self.load_reference_button]), self.scenario_hint,
            widgets.HBox([self.compare_a, self.compare_b, self.compare_button]),
            self.scenario_message, self.compare_html,
        ])
        self._refresh_scenario_list()

        title = widgets.HTML(_CSS + f"<h3>Séance du comité — {_e(self.rules.call.name)}</h3>"
                             "Chaque changement recalcule la décision : lauréats, totaux, ce qui a changé et graphiques.")
        results.layout.margin = "0 0 0 16px"
        self.children = [title, widgets.HBox([controls, results]), charts, scenarios]

    def _build_robustness_tab(self) -> widgets.VBox:
        """The « Robustesse » tab: weight Monte Carlo for the state on display, run by its button."""
        short = widgets.Layout(width="16em")
        style = {"description_width": "8em"}
        self.mc_draws = widgets.IntText(value=200, description="Tirages", layout=short, style=style)
        self.mc_concentration = widgets.FloatText(value=50.0, description="Concentration", layout=short, style=style)
        self.mc_seed = widgets.IntText(value=2021, description="Graine", layout=short, style=style)
        for w, name in ((self.mc_draws, "draws"), (self.mc_concentration, "concentration"), (self.mc_seed, "seed")):
            w.add_class(f"ditp-mc-{name}")
        self.mc_button = widgets.Button(description="Lancer l'analyse", button_style="primary", icon="play",
                                        layout=widgets.Layout(width="auto"))
        self.mc_button.add_class("ditp-mc-run")
        self.mc_button.on_click(lambda _: self.run_robustness())
        self.mc_progress = widgets.IntProgress(value=0, min=0, max=200, layout=widgets.Layout(width="20em"))
        self.mc_progress_label = widgets.HTML("analyse pas encore lancée")
        self.mc_progress_label.add_class("ditp-mc-progress")
        self.mc_error_html = widgets.HTML()
        self.mc_error_html.add_class("ditp-mc-error")
        self.mc_stale_html = widgets.HTML()
        self.mc_stale_html.add_class("ditp-mc-stale")
        self.mc_used_html = widgets.HTML()
        self.mc_counts_html = widgets.HTML()
        self.mc_table_html = widgets.HTML()
        self.mc_table_html.add_class("ditp-mc-table")
        # the figure keeps its size (one legible row per application) and scrolls inside its frame
        self.mc_image = widgets.Image(format="svg+xml", layout=widgets.Layout(width="100%", height="auto", min_width="36em"))
        figure_box = widgets.Box([self.mc_image], layout=widgets.Layout(display="block", max_height="640px", overflow="auto",
                                                                        border="1px solid #d5d9e0"))
        figure = [_section("Probabilité d'être financé de chaque dossier"), figure_box] if self._charts_enabled else []
        self._mc_result_box = widgets.VBox([self.mc_used_html, self.mc_counts_html, _section("Dossiers incertains"),
                                            self.mc_table_html, *figure])
        self._mc_result_box.layout.display = "none"  # until a first result
        help_html = widgets.HTML(
            '<div class="ditp-mc-help">Probabilité d\'être financé quand les pondérations sont incertaines : des '
            "pondérations sont tirées autour de celles affichées à gauche (loi de Dirichlet) et la décision est "
            "recalculée à chaque tirage avec la règle de décision, les seuils, l'enveloppe, les montants, les verrous "
            "et les règles affichés. "
            "Un dossier est <b>toujours financé</b>, <b>incertain</b> ou <b>jamais financé</b> sur l'ensemble des "
            "tirages. Concentration : plus elle est grande, plus les tirages restent proches des pondérations du "
            "comité (50 : écart type d'environ 7 points sur une pondération de 50 %). La graine rend l'analyse "
            "reproductible ; elle est publiée avec le résultat. L'analyse n'est pas relancée à chaque changement "
            "de réglage : utiliser le bouton.</div>")
        return widgets.VBox([
            help_html,
            widgets.HBox([self.mc_draws, self.mc_concentration, self.mc_seed]),
            widgets.HBox([self.mc_button, self.mc_progress, self.mc_progress_label],
                         layout=widgets.Layout(align_items="center", grid_gap="8px")),
            self.mc_error_html, self.mc_stale_html, self._mc_result_box,
        ])

    @staticmethod
    def _short(title: str, n: int = 48) -> str:
        return title if len(title) <= n else title[: n - 1].rstrip() + "…"

    def _add_rule_toggle(self, rule: GroupRule, on: bool) -> widgets.Checkbox:
        cb = widgets.Checkbox(value=on, description=rule_label_fr(rule), indent=False, layout=widgets.Layout(width="auto"))
        cb.observe(self._on_change, names="value")
        self.rule_toggles.append((rule, cb))
        self._rules_container.children = [c for _, c in self.rule_toggles]
        return cb

    # ----------------------------------------------------------------- state <-> widgets

    def state_from_widgets(self) -> PanelState:
        """The state the controls show (raises ValueError, French, when it is not a valid state)."""
        w = Weights(tuple((k, round(float(s.value), 6)) for k, s in self.weight_sliders.items()))
        rule, variant = self.rule_choice.value
        lo = self._scale[0]
        params = replace(
            self._hidden_params,
            envelope_eur=int(self.envelope_slider.value),
            award_floor_eur=int(self.floor_slider.value),
            award_cap_eur=int(self.cap_slider.value),
            min_share=round(float(self.min_share_slider.value), 6),
            lock_in=frozenset(self._id_of_tag[x] for x in self.lock_in_tags.value),
            lock_out=frozenset(self._id_of_tag[x] for x in self.lock_out_tags.value),
            group_rules=tuple(r for r, cb in self.rule_toggles if cb.value),
            max_awards=int(self.max_awards_value.value) if self.max_awards_toggle.value else None,
            rule=rule,
            ranking_variant=variant,
            min_score=round(float(self.min_score_text.value), 6),
            min_criterion=tuple((k, round(float(b.value), 6)) for k, b in self.min_criterion_texts.items() if b.value > lo),
            tie_band_points="auto" if self.tie_band_auto.value else round(float(self.tie_band_text.value), 6),
            check_alternatives=False,
        )
        if params.award_floor_eur > params.award_cap_eur:
            raise ValueError(f"plancher {format_eur(params.award_floor_eur)} supérieur au plafond {format_eur(params.award_cap_eur)}")
        return PanelState(w, params)

    def apply_state(self, state: PanelState) -> None:
        """Set every control to `state` (one re-solve at the end)."""
        eff = _effective(state.params, self._base)
        unknown = sorted(a for a in state.params.lock_in | state.params.lock_out if a not in self._tag_of)
        if unknown:
            raise ValueError(f"verrou sur un dossier qui n'est ni éligible ni classé : {', '.join(unknown)}")
        with self.batch():
            for k, s in self.weight_sliders.items():
                v = state.weights.as_dict().get(k, 0.0)
                s.max = max(s.max, v)
                s.value = v
            self.envelope_slider.max = self.envelope_text.max = max(self.envelope_slider.max, eff["envelope_eur"])
            self.envelope_slider.value = eff["envelope_eur"]
            for s, v in ((self.floor_slider, eff["award_floor_eur"]), (self.cap_slider, eff["award_cap_eur"])):
                s.max = max(s.max, v)
                s.value = v
            self.min_share_slider.value = eff["min_share"]
            self.lock_in_tags.value = [self._tag_of[a] for a in sorted(state.params.lock_in)]
            self.lock_out_tags.value = [self._tag_of[a] for a in sorted(state.params.lock_out)]
            for r in state.params.group_rules:
                if r not in [x for x, _ in self.rule_toggles]:
                    self._add_rule_toggle(r, True)
            for r, cb in self.rule_toggles:
                cb.value = r in state.params.group_rules
            self.max_awards_toggle.value = state.params.max_awards is not None
            if state.params.max_awards is not None:
                self.max_awards_value.value = state.params.max_awards
            rule = eff["rule"]
            self.rule_choice.value = (rule, state.params.ranking_variant if rule == "ranking" else "skip")
            self.min_score_text.value = eff["min_score"]
            for k, box in self.min_criterion_texts.items():
                box.value = eff["min_criterion"].get(k, self._scale[0])
            band = eff["tie_band_points"]
            self.tie_band_auto.value = band == "auto"
            if band != "auto":
                self.tie_band_text.value = float(band)
            self._hidden_params = replace(state.params, check_alternatives=False)

    @contextlib.contextmanager
    def batch(self):
        """Change several controls, re-solve once at the end."""
        self._batch_depth += 1
        try:
            yield self
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0:
                self.refresh()

    def set_weights(self, **raw: float) -> bool:
        """Set some raw weights (``openness=0.35``) as if moved on the sliders; one re-solve.  Returns success."""
        unknown = set(raw) - set(self.weight_sliders)
        if unknown:
            raise ValueError(f"critère(s) inconnu(s) : {', '.join(sorted(unknown))}")
        with self.batch():
            for k, v in raw.items():
                self.weight_sliders[k].value = v
        return self.last_error is None

    def lock_in(self, *ids: str) -> bool:
        """Force applications in (as if added to the "imposés" box); one re-solve.  Returns success."""
        return self._add_tags(self.lock_in_tags, ids)

    def lock_out(self, *ids: str) -> bool:
        """Force applications out (as if added to the "exclus" box); one re-solve.  Returns success."""
        return self._add_tags(self.lock_out_tags, ids)

    def _add_tags(self, box: widgets.TagsInput, ids) -> bool:
        new = [self._tag(a) for a in ids]  # raises, French, for an id that cannot be locked
        box.value = list(box.value) + [t for t in new if t not in box.value]
        return self.last_error is None

    def unlock(self, *ids: str) -> bool:
        """Remove the locks on these applications.  Returns success."""
        tags = {self._tag(a) for a in ids}
        with self.batch():
            self.lock_in_tags.value = [x for x in self.lock_in_tags.value if x not in tags]
            self.lock_out_tags.value = [x for x in self.lock_out_tags.value if x not in tags]
        return self.last_error is None

    def resolve_application(self, text: str) -> str:
        """The application id meant by a search text: an id (``P044``), a suggestion, or words of one title or lead organisation.

        Raises
        ------
        ValueError
            Nothing or several applications match (French message).
        """
        q = (text or "").strip()
        if not q:
            raise ValueError("taper un numéro de dossier ou des mots de son titre")
        head = q.split("·")[0].strip().upper()
        if head in self._tag_of:
            return head
        hits = [a for a, text in self._search_text.items() if q.casefold() in text]
        if not hits and q in self._id_of_tag:
            hits = [self._id_of_tag[q]]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise ValueError(f"aucun dossier éligible et classé ne correspond à « {q} »")
        raise ValueError(f"« {q} » correspond à {len(hits)} dossiers ({', '.join(hits[:6])}{'…' if len(hits) > 6 else ''}) : préciser")

    def _lock_from_search(self, kind: str) -> None:
        try:
            aid = self.resolve_application(self.lock_search.value)
        except ValueError as exc:
            self.lock_message.value = f'<div class="ditp-warn">{_e(exc)}</div>'
            return
        self.lock_message.value = ""
        self.lock_search.value = ""
        (self.lock_in if kind == "in" else self.lock_out)(aid)

    def _tag(self, aid: str) -> str:
        if aid not in self._tag_of:
            raise ValueError(f"dossier {aid} : verrou impossible, le dossier n'est pas éligible et classé (ou n'existe pas)")
        return self._tag_of[aid]

    # ----------------------------------------------------------------- computing

    def evaluation_for(self, weights: Weights) -> Evaluation:
        """Scores under `weights` (cached: the last 32 weight sets)."""
        ev = self._evaluations.get(weights)
        if ev is None:
            ev = self._base.with_weights(weights)
            self._evaluations[weights] = ev
            if len(self._evaluations) > 32:
                self._evaluations.popitem(last=False)
        else:
            self._evaluations.move_to_end(weights)
        return ev

    def outcome_for(self, state: PanelState, name: str = "") -> Outcome:
        """The decision for `state` on the panel's inputs (cached: the last 64 states)."""
        out = self._outcomes.get(state)
        if out is None:
            out = compute_outcome(self.evaluation_for(state.weights), state, name)
            self._outcomes[state] = out
            if len(self._outcomes) > 64:
                self._outcomes.popitem(last=False)
        else:
            self._outcomes.move_to_end(state)
        return replace(out, name=name) if name != out.name else out

    def _on_change(self, change) -> None:
        if self._batch_depth:
            return
        self.refresh()

    def refresh(self) -> bool:
        """Read the controls, re-solve if the state changed, update the display.  Returns success.

        On an error the previous result stays on display and the French message
        is shown above it (also in :attr:`last_error`).
        """
        t0 = time.perf_counter()
        self._update_value_labels()
        try:
            state = self.state_from_widgets()
            if self.current is not None and state == self.current.state:
                self._set_error(None)
                return True
            if state not in self._outcomes and not self._suspended:
                # shown at once (widget messages leave immediately): a long solve is not a frozen page
                self.busy_html.value = '<span class="ditp-busy">calcul en cours…</span>'
            out = self.outcome_for(state)
        except EXPECTED_ERRORS + (DecisionError,) as exc:
            self._set_error(str(exc))
            return False
        except Exception as exc:  # a bug: shown in the panel, logged with its traceback, never swallowed
            log.exception("erreur inattendue dans le panneau du comité")
            self._set_error(f"erreur inattendue ({type(exc).__name__}) : {exc} — à signaler à l'équipe technique")
            return False
        finally:
            if self.busy_html.value:
                self.busy_html.value = ""
        t1 = time.perf_counter()
        self.solve_count += 1
        self.previous, self.current = self.current, out
        self.last_error = None
        if not self._suspended:
            self._render()
        t2 = time.perf_counter()
        self.last_timings = {"solve_s": t1 - t0, "render_s": t2 - t1, "total_s": t2 - t0}
        return True

    # ----------------------------------------------------------------- display

    def _update_value_labels(self) -> None:
        vals = {k: float(s.value) for k, s in self.weight_sliders.items()}
        total = sum(vals.values())
        for k, v in vals.items():
            pct = f"{format_number(100 * v / total, 0)} %" if total > 0 else "—"
            self._value_labels[f"w:{k}"].value = f"{format_number(v, 2)} → <b>{pct}</b> de la note"
        self._value_labels["envelope"].value = f"<b>{format_eur(self.envelope_slider.value)}</b>"
        self._value_labels["floor"].value = format_eur(self.floor_slider.value)
        self._value_labels["cap"].value = format_eur(self.cap_slider.value)
        self._value_labels["min_share"].value = f"{_share_fr(self.min_share_slider.value)} de la demande"
        self.tie_band_text.disabled = bool(self.tie_band_auto.value)

    def _set_error(self, message: str | None) -> None:
        self.last_error = message
        if message is None:
            self.error_html.value = ""
            return
        shown = ""
        if self.current is not None:
            shown = (" Le résultat affiché ci-dessous reste celui de l'état précédent "
                     f"({_e(_weights_used_fr(self.current.state, self.current.evaluation))}).")
        self.error_html.value = (f'<div class="ditp-error-box"><b>Recalcul impossible :</b> {_e(message.rstrip("."))}.{shown}</div>')

    def _render(self) -> None:
        out = self.current
        if out is None:
            return
        self.used_html.value = self._used_html(out)
        self.totals_html.value = self._totals_html(out)
        self.changes_html.value = self._changes_html(out)
        new_ids = frozenset(set(out.funded_ids) - set(self.previous.funded_ids)) if self.previous else frozenset()
        self.table_html.value = funded_table_html(out, new_ids)
        self.line_html.value = self._line_html(out)
        nf = not_fundable_table_fr(out)
        self.not_fundable_html.value = (_table_html(nf, "ditp-not-fundable", {0, 3}, 1) if len(nf) else
                                        '<p class="ditp-not-fundable-none">Aucun dossier éligible et classé sous un seuil '
                                        "de qualité.</p>")
        self.optimum_html.value = self._optimum_html(out)
        if self._charts_enabled:
            self._render_charts(out)
        self._render_robustness_stale()

    def _used_html(self, out: Outcome) -> str:
        s = out.state
        eff = _effective(s.params, out.evaluation)
        extra = []
        if eff["committed_eur"] or eff["reserve_eur"]:
            extra.append(f"engagé {format_eur(eff['committed_eur'])}, réserve {format_eur(eff['reserve_eur'])}")
        rules = [rule_label_fr(r) for r in s.params.group_rules]
        if s.params.max_awards is not None:
            rules.append(f"au plus {s.params.max_awards} lauréats")
        return (f'<div class="ditp-used" data-weights="{_e(weights_key(s.weights))}" data-rule="{_e(out.rule)}">'
                f"<b>Valeurs utilisées :</b> {_e(_weights_used_fr(s, out.evaluation))}<br>"
                f"Enveloppe {format_eur(eff['envelope_eur'])} ; montants de {format_eur(eff['award_floor_eur'])} "
                f"à {format_eur(eff['award_cap_eur'])} par projet"
                f"{' ; ' + _e(', '.join(extra)) if extra else ''} ; décision : {_e(decision_rule_label_fr(out.rule, s.ranking_variant))}"
                f"{' ; règles : ' + _e(' ; '.join(rules)) if rules else ''}<br>"
                f"Seuils de qualité : {_e(_thresholds_fr(eff, out.evaluation))} ; bande d'ex aequo {_e(_band_fr(eff['tie_band_points']))}<br>"
                f"<small>Statut : {_e(out.status)}</small></div>")

    @staticmethod
    def _line_html(out: Outcome) -> str:
        """The funding line, the ex aequo at the line and how they were settled, and each exception to merit order."""
        x = out.explanation
        if x is None:
            return ('<div class="ditp-line"><p>Pas d\'explication de la ligne : la règle du classement ne respecte pas les '
                    "règles de portefeuille (voir l'avertissement ci-dessus).</p></div>")
        parts = [f'<p class="ditp-funding-line">{_e(x.funding_line_fr())}.</p>']
        if x.ex_aequo:
            parts.append(f'<p class="ditp-ex-aequo">{_e(x.ex_aequo_fr())}</p>')
        elif out.rule == "merit_order":
            parts.append(f'<p class="ditp-ex-aequo">Aucun ex aequo à la ligne (bande δ = {_e(format_points(x.tie_band_points))} '
                         "point(s)).</p>")
        if out.exceptions:
            items = "".join(f"<li>{_e(t)}</li>" for t in out.exceptions)
            parts.append(f'<div class="ditp-exceptions"><b>Exceptions à l\'ordre de mérite :</b><ul>{items}</ul></div>')
        elif out.rule == "merit_order":
            parts.append('<p class="ditp-exceptions">Aucune exception à l\'ordre de mérite.</p>')
        return '<div class="ditp-line">' + "".join(parts) + "</div>"

    @staticmethod
    def _optimum_html(out: Outcome) -> str:
        """« Si l'on maximisait la somme des notes » — a comparison, never the decision."""
        if out.rule in OPTIMISATION_OBJECTIVES:
            return ('<div class="ditp-optimum">La règle affichée est elle-même une règle d\'optimisation, présentée pour '
                    "comparaison : revenir à l'ordre de mérite pour la décision.</div>")
        if out.allocation is None:
            return ('<div class="ditp-optimum">Pas de comparaison : la règle du classement affichée ne respecte pas les '
                    "règles de portefeuille.</div>")
        if out.comparison is None:
            return ('<div class="ditp-optimum">Pas de comparaison : maximiser la somme des notes n\'a pas d\'optimum '
                    "prouvé avec ces réglages.</div>")
        return f'<div class="ditp-optimum"><p>{_e(out.comparison.summary_fr())}</p></div>'

    def _totals_html(self, out: Outcome) -> str:
        tt = totals(out)
        cards = [("Lauréats", str(tt["n_funded"])), ("Attribué", format_eur(tt["awarded_eur"])),
                 ("Non attribué", format_eur(tt["unspent_eur"])), ("Enveloppe disponible", format_eur(tt["available_eur"]))]
        body = "".join(f'<div class="ditp-card">{k}<b>{v}</b></div>' for k, v in cards)
        warn = "".join(f'<div class="ditp-warn">{_e(w)}</div>' for w in out.warnings)
        return f'<div class="ditp-cards ditp-totals">{body}</div>{warn}'

    def _changes_html(self, out: Outcome) -> str:
        prev = describe_change(self.previous, out) if self.previous is not None else "premier calcul de la séance"
        ref = self.reference
        ref_line = describe_change(ref, out) if ref is not None else "—"
        ref_name = ref.name if ref is not None else "référence"
        return ('<div class="ditp-changes">'
                f'<p><b>Depuis l\'état précédent :</b> <span class="ditp-change-prev">{_e(prev)}</span></p>'
                f'<p><b>Depuis la référence « {_e(ref_name)} » :</b> <span class="ditp-change-ref">{_e(ref_line)}</span></p></div>')

    @property
    def changes_text(self) -> str:
        """What changed since the previous state (French, as displayed)."""
        if self.current is None or self.previous is None:
            return "premier calcul de la séance"
        return describe_change(self.previous, self.current)

    @property
    def reference_changes_text(self) -> str:
        """What changed since the reference state (French, as displayed)."""
        return describe_change(self.reference, self.current)

    def funded_table(self) -> pd.DataFrame:
        """The funded table on display (canonical columns; see :func:`funded_table`)."""
        return funded_table(self.current)

    def summary_fr(self, outcome: Outcome | None = None) -> str:
        """One French line: count, awarded, unspent, weights used."""
        o = outcome or self.current
        return (f"{o.name + ' : ' if o.name else ''}{o.n_funded} lauréats, {format_eur(o.awarded_eur)} attribués, "
                f"{format_eur(o.unspent_eur)} non attribués sur {format_eur(o.available_eur)} "
                f"({_weights_used_fr(o.state, o.evaluation)} ; {decision_rule_label_fr(o.rule, o.state.ranking_variant)})")

    def _chart_data(self, out: Outcome):
        """Per chart: (key of the data drawn, drawing function).  A chart is redrawn only when its key changes."""
        ref = self.reference.portfolio if self.reference is not None else None
        p = out.portfolio
        label = self._ref_label()
        if self._charts is None:
            # built once, groups in the order of the first state: bars keep their row during the session
            self._charts = {c: plots.GroupAwardsChart(c, list(plots.awards_by_group(p, c)["group"]), with_reference=True)
                            for c in ("region", "lead_org_type", "maturity")}
            self._charts["score"] = plots.ScoreLineChart()

        def group(column):
            mine = tuple(plots.awards_by_group(p, column).itertuples(index=False))
            theirs = tuple(plots.awards_by_group(ref, column).itertuples(index=False)) if ref is not None else None
            return (mine, theirs, label), lambda: self._charts[column].update(p, ref, label)

        out_ = {c: group(c) for c in ("region", "lead_org_type", "maturity")}
        out_["score"] = ((tuple(p["application_id"]), tuple(p["score"]), tuple(p["funded"]), tuple(p["lock"])),
                         lambda: self._charts["score"].update(p))
        return out_

    def _ref_label(self) -> str:
        return f"référence ({self.reference.name})" if self.reference is not None else "référence"

    def _render_charts(self, out: Outcome) -> None:
        self.chart_timings = {}
        for name, (key, draw) in self._chart_data(out).items():
            if self._chart_cache.get(name) == key:
                continue  # same data: the image on display is still right
            t0 = time.perf_counter()
            self.chart_images[name].value = plots.figure_svg(draw()).encode("utf-8")
            self._chart_cache[name] = key
            self.chart_timings[name] = time.perf_counter() - t0

    def __repr__(self) -> str:
        o = self.current
        if o is None:
            return "CommitteePanel(aucune décision)"
        return f"CommitteePanel({o.n_funded} lauréats, {format_eur(o.awarded_eur)} attribués)"

    # ----------------------------------------------------------------- robustness tab

    def run_robustness(self) -> bool:
        """Run the weight Monte Carlo for the state on display (the « Lancer l'analyse » button).  Returns success.

        Reads the tab's number of draws, concentration and seed, calls
        :func:`ditp_model.uncertainty.robustness.weight_monte_carlo` with the displayed
        decision's weights and allocation parameters, and shows the counts per
        class, the « incertain » applications and the probability figure.  The
        progress bar follows the draws.  On an error the French message is shown
        in the tab (also in :attr:`robustness_error`) and the previous result
        stays on display.
        """
        n_draws, concentration, seed = self.mc_draws.value, self.mc_concentration.value, self.mc_seed.value
        before = (self.mc_progress.value, self.mc_progress.max, self.mc_progress_label.value)
        self.mc_button.disabled = True
        try:
            if self.current is None:
                raise ValueError("aucune décision affichée")
            if self.last_error is not None:
                raise ValueError(f"les réglages affichés ne donnent pas de décision ({self.last_error.rstrip('.')}) : "
                                 "les corriger avant de lancer l'analyse")
            if not isinstance(n_draws, int) or n_draws < 1:
                raise ValueError(f"nombre de tirages {n_draws} : un entier d'au moins 1 est attendu")
            if not (isinstance(concentration, (int, float)) and math.isfinite(concentration) and concentration > 0):
                raise ValueError(f"concentration {format_number(concentration, 2)} : un nombre strictement positif est attendu")
            if not isinstance(seed, int) or seed < 0:
                raise ValueError(f"graine {seed} : un entier positif ou nul est attendu")
            state, evaluation = self.current.state, self.current.evaluation
            t0 = time.perf_counter()

            def on_progress(done: int, total: int) -> None:
                self.mc_progress.value = done
                self.mc_progress_label.value = (f"calcul en cours : tirage {done} sur {total} "
                                                f"({format_number(time.perf_counter() - t0, 0)} s)")

            self.mc_progress.max, self.mc_progress.value = n_draws, 0
            self.mc_progress_label.value = f"calcul en cours : tirage 0 sur {n_draws}"
            mc = robustness.weight_monte_carlo(evaluation, state.params, n_draws=n_draws, concentration=concentration,
                                               seed=seed, progress=False, on_progress=on_progress)
            figure = (plots.figure_svg(plots.funding_probability_figure(mc.table)).encode("utf-8")
                      if self._charts_enabled else None)
        except EXPECTED_ERRORS + (DecisionError,) as exc:
            self._set_robustness_error(str(exc), before)
            return False
        except Exception as exc:  # a bug: shown in the tab, logged with its traceback, never swallowed
            log.exception("erreur inattendue dans l'analyse de robustesse")
            self._set_robustness_error(f"erreur inattendue ({type(exc).__name__}) : {exc} — à signaler à l'équipe technique",
                                       before)
            return False
        finally:
            self.mc_button.disabled = False
        self.robustness, self.robustness_state, self.robustness_error = mc, state, None
        self.mc_error_html.value = ""
        self.mc_progress_label.value = f"terminé : {mc.n_draws} tirages en {format_number(mc.seconds, 1)} s"
        self._render_robustness(mc, state, figure)
        return True

    def _set_robustness_error(self, message: str, progress_before: tuple) -> None:
        self.robustness_error = message
        value, top, label = progress_before  # the bar goes back to the previous result's
        self.mc_progress.max = top
        self.mc_progress.value = value
        self.mc_progress_label.value = label
        kept = (" Le résultat affiché reste celui de l'analyse précédente." if self.robustness is not None else "")
        self.mc_error_html.value = f'<div class="ditp-error-box"><b>Analyse impossible :</b> {_e(message.rstrip("."))}.{kept}</div>'

    def _render_robustness(self, mc: robustness.WeightMonteCarlo, state: PanelState, figure: bytes | None) -> None:
        ev = self.evaluation_for(state.weights)
        eff = _effective(state.params, ev)
        kappa = format_number(mc.concentration, 0 if float(mc.concentration).is_integer() else 2)
        note = f"<br>Règle de décision appliquée à chaque tirage : {_e(decision_rule_label_fr(eff['rule'], state.ranking_variant))}"
        self.mc_used_html.value = (
            f'<div class="ditp-used ditp-mc-used" data-seed="{mc.seed}" data-draws="{mc.n_draws}" '
            f'data-weights="{_e(weights_key(state.weights))}">'
            f"<b>Analyse :</b> {mc.n_draws} tirages, concentration {kappa}, "
            f"graine <b>{mc.seed}</b> ; calcul en {format_number(mc.seconds, 1)} s<br>"
            f"Pondérations : {_e(_weights_used_fr(state, ev))} ; enveloppe {format_eur(eff['envelope_eur'])} ; "
            f"montants de {format_eur(eff['award_floor_eur'])} à {format_eur(eff['award_cap_eur'])} par projet{note}</div>")
        counts = robustness_counts(mc.table)
        cards = "".join(f'<div class="ditp-card ditp-mc-count" data-class="{code}">{_e(label.capitalize())}'
                        f"<b>{counts[code]}</b></div>" for code, label in robustness.ROBUSTNESS_CLASSES_FR.items())
        self.mc_counts_html.value = (f'<div class="ditp-cards ditp-mc-counts">{cards}</div>'
                                     f"<small>sur {sum(counts.values())} dossiers éligibles et classés (hors exclus)</small>")
        fr = uncertain_table_fr(mc.table)
        if len(fr):
            head = "".join(f"<th>{_e(c)}</th>" for c in fr.columns)
            num = {2, 3, 4}
            body = "".join("<tr>" + "".join(f'<td class="{"ditp-num" if k in num else "ditp-id" if k == 0 else ""}">{_e(v)}</td>'
                                            for k, v in enumerate(r)) + "</tr>" for r in fr.itertuples(index=False))
            table = (f'<div class="ditp-table-wrap"><table class="ditp-uncertain" data-n="{len(fr)}">'
                     f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
        else:
            table = ('<p class="ditp-uncertain-none">Aucun dossier incertain : chaque dossier est financé dans tous '
                     "les tirages ou dans aucun.</p>")
        self.mc_table_html.value = table
        if figure is not None:
            self.mc_image.value = figure
        self._mc_result_box.layout.display = None
        self._render_robustness_stale()

    def _render_robustness_stale(self) -> None:
        """Mark the robustness result as out of date when the state on display is not the one it was computed for."""
        if self.robustness_state is None or self.current is None:
            return
        reason = self.robustness_stale
        if reason is None:
            self.mc_stale_html.value = ""
            self._mc_result_box.remove_class("ditp-stale")
        else:
            self.mc_stale_html.value = f'<div class="ditp-warn ditp-mc-stale-box">{_e(reason[:1].upper() + reason[1:])}.</div>'
            self._mc_result_box.add_class("ditp-stale")

    @property
    def robustness_stale(self) -> str | None:
        """Why the robustness result on display is out of date (French), or None (up to date, or no result)."""
        if self.robustness_state is None or self.current is None:
            return None
        return robustness_stale_reason(self.robustness_state, self.current.state)

    # ----------------------------------------------------------------- reference and scenarios

    def _guard(self, action) -> None:
        """Run a button action; an error goes to the scenario message line (French), never swallowed silently."""
        try:
            action()
        except EXPECTED_ERRORS + (DecisionError, OSError) as exc:
            self.scenario_message.value = f'<div class="ditp-error-box">{_e(exc)}</div>'
        except Exception as exc:
            log.exception("erreur inattendue dans le panneau du comité")
            self.scenario_message.value = (f'<div class="ditp-error-box">erreur inattendue ({type(exc).__name__}) : {_e(exc)} '
                                           "— à signaler à l'équipe technique</div>")

    def set_reference_current(self) -> None:
        """Take the state on display as the reference."""
        self.reference = replace(self.current, name="état retenu en séance")
        self._chart_cache.clear()
        self._render()
        self.scenario_message.value = f"Référence : « {_e(self.reference.name)} »."

    def _scenario_outcome(self, source) -> tuple[Outcome, list[str]]:
        """Outcome of a saved scenario (path or Scenario) on the panel's inputs, and French warnings."""
        sc = source if isinstance(source, Scenario) else load_scenario(source)
        return self.outcome_for(state_from_scenario(sc), sc.name), self._scenario_warnings(sc)

    def _scenario_warnings(self, sc: Scenario) -> list[str]:
        warnings = []
        mine = set(self.inputs.files.values())
        if sc.sha256 and set(sc.sha256.values()) != mine:
            warnings.append(f"le scénario « {sc.name} » a été enregistré sur d'autres données : il est recalculé sur celles de la séance")
        if sc.normalisation != self._base.normalisation:
            warnings.append(f"le scénario « {sc.name} » utilise la normalisation {sc.normalisation} ; "
                            f"la séance utilise {self._base.normalisation}")
        return warnings

    def set_reference(self, source) -> None:
        """Take a saved scenario (path or :class:`Scenario`) as the reference state."""
        if source is None:
            raise ValueError("aucun scénario choisi")
        out, warnings = self._scenario_outcome(source)
        self.reference = out
        self._chart_cache.clear()
        self._render()
        self.scenario_message.value = f"Référence : « {_e(out.name)} »." + "".join(f"<br>⚠ {_e(w)}" for w in warnings)

    def current_scenario(self, name: str) -> Scenario:
        """The state on display as a :class:`Scenario` (input hashes recorded)."""
        s = self.current.state
        return Scenario.from_run(name, *self._paths, weights=s.weights, params=replace(s.params, check_alternatives=True),
                                 normalisation=self._base.normalisation)

    def save(self, name: str) -> Path:
        """Save the state on display as a named scenario in :attr:`scenario_dir` (``<slug>.json``).  Returns the path."""
        name = (name or "").strip()
        if not name or not scenario_slug(name):
            raise ValueError("donner un nom au scénario (lettres ou chiffres)")
        if self.current is None:
            raise ValueError("aucune décision à enregistrer")
        path = self.scenario_dir / f"{scenario_slug(name)}.json"
        existed = path.exists()
        save_scenario(self.current_scenario(name), path)
        self._refresh_scenario_list(select=str(path))
        note = ""
        self.scenario_message.value = (f"Scénario « {_e(name)} » enregistré ({_e(path.name)}"
                                       f"{', remplace le fichier existant' if existed else ''}).{note}")
        return path

    def load(self, path) -> None:
        """Load a saved scenario into the controls (one re-solve)."""
        if path is None:
            raise ValueError("aucun scénario choisi")
        sc = load_scenario(path)
        warnings = self._scenario_warnings(sc)
        self.apply_state(state_from_scenario(sc))
        self.scenario_message.value = f"Scénario « {_e(sc.name)} » chargé." + "".join(f"<br>⚠ {_e(w)}" for w in warnings)

    def _named_outcome(self, key) -> Outcome:
        if key == "__current__":
            return replace(self.current, name="état affiché")
        if key == "__reference__":
            return self.reference
        return self._scenario_outcome(key)[0]

    def compare(self, a, b) -> pd.DataFrame:
        """Compare two scenarios (paths, or ``"__current__"`` / ``"__reference__"``); shows and returns the table."""
        if a is None or b is None:
            raise ValueError("choisir deux scénarios à comparer")
        oa, ob = self._named_outcome(a), self._named_outcome(b)
        cmp = compare_scenarios(oa, ob)
        fr = comparison_frame_fr(cmp, oa.name, ob.name)
        head = (f"<p><b>« {_e(oa.name)} »</b> : {_e(self.summary_fr(replace(oa, name='')))}<br>"
                f"<b>« {_e(ob.name)} »</b> : {_e(self.summary_fr(replace(ob, name='')))}</p>")
        diff = fr[cmp["change"] != "both"]
        both = fr[(cmp["change"] == "both") & (cmp["award_diff"] != 0)]
        body = (diff.to_html(index=False, classes="ditp-compare", border=0) if len(diff)
                else "<p>Les deux scénarios financent les mêmes dossiers.</p>")
        if len(both):
            body += "<p>Financés dans les deux, montant différent :</p>" + both.to_html(index=False, classes="ditp-compare", border=0)
        self.compare_html.value = head + body
        return cmp

    def _refresh_scenario_list(self, select: str | None = None) -> None:
        files = sorted(self.scenario_dir.glob("*.json")) if self.scenario_dir.is_dir() else []
        options = []
        for p in files:
            try:
                name = load_scenario(p).name or p.stem
            except (InputError, OSError):
                continue  # not a scenario file: not listed
            options.append((f"{name} ({p.name})", str(p)))
        self.scenario_choice.options = options
        for b in (self.load_button, self.load_reference_button):
            b.disabled = not options
        self.scenario_hint.value = ("" if options else
                                    f"<small>Aucun scénario enregistré pour l'instant (dossier {_e(self.scenario_dir.name)}/).</small>")
        if select is not None and select in [v for _, v in options]:
            self.scenario_choice.value = select
        special = [("État affiché", "__current__"), ("Référence", "__reference__")]
        a, b = self.compare_a.value, self.compare_b.value
        self.compare_a.options = special + options
        self.compare_b.options = special + options
        self.compare_a.value = a if a in [v for _, v in special + options] else "__reference__"
        self.compare_b.value = b if b in [v for _, v in special + options] else "__current__"
