"""Eligibility of each application against the call's rules, with every failing reason.

Rules (machine code: what the call says), from the 2021 call text (DESIGN.md):

* ``lead_org_type``: the lead organisation is of an eligible kind (central
  administrations and State operators; territorial State administrations;
  local authorities).
* ``no_state_partner``: a local authority is eligible only when associated
  with a State operator or service (e.g. through a territorial innovation lab).
* ``early_submission``: submitted before the call opened (``call.opened``,
  when the rules give it; the opening day counts).
* ``late_submission``: submitted after the deadline (the deadline day counts).
* ``below_floor``: the request is below the award floor.
* ``ineligible_expenses``: the share of ineligible expenses (``other``, and
  any category missing from the call's ``eligible_expenses``) exceeds
  ``max_ineligible_expense_share`` (an assumption of the rules file).
* ``no_priority_reform``: no link to a priority reform (criterion "impact").
* ``maturity``: a maturity level the call does not accept.
"""

from __future__ import annotations

import pandas as pd

from ditp_model.inputs.call import CallRules
from ditp_model.french import format_eur
from ditp_model.inputs.schema import EXPENSE_COLUMNS, MATURITY_LABELS_FR, ORG_TYPE_LABELS_FR

__all__ = ["check_eligibility", "REASON_CODES"]

#: Machine code -> short French label of each eligibility rule.
REASON_CODES: dict[str, str] = {
    "lead_org_type": "type de porteur non éligible",
    "no_state_partner": "collectivité sans partenaire de l'État",
    "early_submission": "dépôt avant l'ouverture de l'appel",
    "late_submission": "dépôt après la date limite",
    "below_floor": "montant demandé inférieur au plancher",
    "ineligible_expenses": "dépenses majoritairement non éligibles",
    "no_priority_reform": "aucune réforme prioritaire",
    "maturity": "maturité non acceptée",
}


def check_eligibility(applications: pd.DataFrame, rules: CallRules) -> pd.DataFrame:
    """Check every eligibility rule of the call for every application.

    Parameters
    ----------
    applications : pandas.DataFrame
        As returned by :func:`ditp_model.inputs.io.read_applications` (one row per
        application).
    rules : CallRules

    Returns
    -------
    pandas.DataFrame
        Same row order, one row per application: ``application_id`` (str),
        ``eligible`` (bool), ``reason_codes`` (str, codes of the failed rules
        joined by ``,``; "" when eligible) and ``reasons`` (str, French
        sentences joined by `` ; ``, each naming the value and the rule).
    """
    el = rules.eligibility
    floor = rules.award_floor_eur
    deadline = pd.Timestamp(rules.deadline)
    opened = pd.Timestamp(rules.call.opened) if rules.call.opened is not None else None
    rows = []
    for app in applications.itertuples(index=False):
        codes: list[str] = []
        why: list[str] = []
        if app.lead_org_type not in el.lead_org_types:
            codes.append("lead_org_type")
            why.append(f"porteur de type « {ORG_TYPE_LABELS_FR.get(app.lead_org_type, app.lead_org_type)} » : "
                       "l'appel est réservé aux administrations de l'État, à leurs opérateurs et aux collectivités associées à l'État")
        if app.lead_org_type == "local_authority" and el.local_authority_requires_partner_types:
            if not set(app.partner_types) & set(el.local_authority_requires_partner_types):
                codes.append("no_state_partner")
                why.append("collectivité porteuse sans partenaire de l'État (opérateur, administration centrale ou "
                           "service déconcentré, par ex. via un laboratoire d'innovation territoriale)")
        if opened is not None and app.submitted_at.normalize() < opened:
            codes.append("early_submission")
            why.append(f"déposé le {app.submitted_at:%d/%m/%Y}, avant l'ouverture de l'appel le {opened:%d/%m/%Y}")
        if app.submitted_at.normalize() > deadline:
            codes.append("late_submission")
            why.append(f"déposé le {app.submitted_at:%d/%m/%Y}, après la date limite du {deadline:%d/%m/%Y}")
        if app.requested_eur < floor:
            codes.append("below_floor")
            why.append(f"montant demandé {format_eur(app.requested_eur)} inférieur au plancher de {format_eur(floor)}")
        if app.requested_eur > 0:
            # Ineligible: "other" and every category the call does not list in eligible_expenses.
            ineligible = sum(getattr(app, col) for col, cat in EXPENSE_COLUMNS.items() if cat not in el.eligible_expenses)
            share = ineligible / app.requested_eur
            if share > el.max_ineligible_expense_share:
                codes.append("ineligible_expenses")
                why.append(f"dépenses non éligibles : {share:.0%} de la demande (maximum "
                           f"{el.max_ineligible_expense_share:.0%})".replace("%", " %"))
        if el.requires_priority_reform and not app.priority_reform:
            codes.append("no_priority_reform")
            why.append("aucun rattachement à une réforme prioritaire du Gouvernement")
        if app.maturity not in el.maturity_levels:
            codes.append("maturity")
            why.append(f"maturité « {MATURITY_LABELS_FR.get(app.maturity, app.maturity)} » non acceptée par l'appel")
        rows.append((app.application_id, not codes, ",".join(codes), " ; ".join(why)))
    return pd.DataFrame(rows, columns=["application_id", "eligible", "reason_codes", "reasons"]).astype({"eligible": bool})
