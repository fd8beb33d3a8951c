"""What differs between two decisions of the panel: « ce qui a changé » and scenarios side by side.

Plain functions on :class:`~ditp_model.session.state.Outcome` (tested without widgets):

* :func:`describe_change` — « P012 entre, P007 sort : ouverture 0,30 → 0,35 », built from
  :func:`parameter_changes` (weights, amounts, thresholds and δ, locks and rules, decision rule);
* :func:`compare_scenarios` and :func:`comparison_frame_fr` — two outcomes side by side;
* :func:`state_from_scenario`, :func:`scenario_slug` — saved scenarios (:mod:`ditp_model.rules.scenario`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

import pandas as pd

from ditp_model.french import format_eur, format_number, format_points
from ditp_model.rules.allocation import AllocationParams
from ditp_model.rules.scenario import Scenario
from ditp_model.scoring.aggregate import Weights
from ditp_model.session.state import (Outcome, PanelState, _band_fr, _list_fr, _lower_first, _share_fr, decision_rule_label_fr,
                                      effective_values, rule_label_fr)

__all__ = ["describe_change", "parameter_changes", "compare_scenarios", "comparison_frame_fr", "state_from_scenario",
           "scenario_slug"]


def parameter_changes(old: Outcome, new: Outcome) -> list[str]:
    """French phrases for every setting that differs between two outcomes, in the order of the panel's controls.

    Weights (raw slider values), amounts (whole euros), quality thresholds and δ,
    locks, portfolio rules and the maximum number of awards, then the decision rule.
    """
    labels = {c.name: c.label for c in new.evaluation.rules.criteria}
    eo, en = effective_values(old.state.params, old.evaluation), effective_values(new.state.params, new.evaluation)
    return (_weight_changes(old.state.weights, new.state.weights, labels) + _amount_changes(eo, en)
            + _threshold_changes(eo, en, labels) + _lock_and_rule_changes(old.state.params, new.state.params)
            + _decision_rule_change(old, new))


def _weight_changes(wo: Weights, wn: Weights, labels: dict) -> list[str]:
    """« ouverture 0,30 → 0,35 » for each raw weight that moved."""
    wo, wn = wo.as_dict(), wn.as_dict()
    out = []
    for k in wn:
        if k not in wo or abs(wo[k] - wn[k]) > 1e-9:
            a = format_number(wo[k], 2) if k in wo else "—"
            out.append(f"{_lower_first(labels.get(k, k))} {a} → {format_number(wn[k], 2)}")
    return out


def _amount_changes(eo: dict, en: dict) -> list[str]:
    """Envelope, floor, cap, commitments, reserve (euros) and minimum share of the request."""
    out = []
    for key, label in (("envelope_eur", "enveloppe"), ("award_floor_eur", "plancher"), ("award_cap_eur", "plafond"),
                       ("committed_eur", "engagements antérieurs"), ("reserve_eur", "réserve")):
        if eo[key] != en[key]:
            out.append(f"{label} {format_eur(eo[key])} → {format_eur(en[key])}")
    if abs(eo["min_share"] - en["min_share"]) > 1e-9:
        out.append(f"part minimale de la demande {_share_fr(eo['min_share'])} → {_share_fr(en['min_share'])}")
    return out


def _threshold_changes(eo: dict, en: dict, labels: dict) -> list[str]:
    """Overall and per-criterion quality thresholds, and the ex aequo band δ."""
    out = []
    if abs(eo["min_score"] - en["min_score"]) > 1e-9:
        out.append(f"seuil de note globale {format_points(eo['min_score'])} → {format_points(en['min_score'])}")
    for k in sorted(set(eo["min_criterion"]) | set(en["min_criterion"])):
        a, b = eo["min_criterion"].get(k), en["min_criterion"].get(k)
        if a != b:
            fmt = lambda v: "aucun" if v is None else format_number(v, 2)  # noqa: E731
            out.append(f"seuil « {_lower_first(labels.get(k, k))} » {fmt(a)} → {fmt(b)}")
    if eo["tie_band_points"] != en["tie_band_points"]:
        out.append(f"bande d'ex aequo {_band_fr(eo['tie_band_points'])} → {_band_fr(en['tie_band_points'])}")
    return out


def _lock_and_rule_changes(po: AllocationParams, pn: AllocationParams) -> list[str]:
    """Locks set or lifted, portfolio rules added or removed, maximum number of awards."""
    out = [f"{a} imposé" for a in sorted(pn.lock_in - po.lock_in)]
    out += [f"{a} exclu" for a in sorted(pn.lock_out - po.lock_out)]
    out += [f"verrou levé sur {a}" for a in sorted((po.lock_in | po.lock_out) - (pn.lock_in | pn.lock_out))]
    out += [f"règle ajoutée ({rule_label_fr(r)})" for r in pn.group_rules if r not in po.group_rules]
    out += [f"règle retirée ({rule_label_fr(r)})" for r in po.group_rules if r not in pn.group_rules]
    if po.max_awards != pn.max_awards:
        out.append("nombre de lauréats sans limite" if pn.max_awards is None else f"au plus {pn.max_awards} lauréats")
    return out


def _decision_rule_change(old: Outcome, new: Outcome) -> list[str]:
    lo_, ln_ = (decision_rule_label_fr(o.rule, o.state.ranking_variant) for o in (old, new))
    return [f"décision : {lo_} → {ln_}"] if lo_ != ln_ else []


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
    params = parameter_changes(old, new)
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
