"""Tests of ``ditp_model.scoring.eligibility``: every rule on a hand-built one-row case, on both sides of its
boundary; several failures reported together; the nine ineligible sample applications.

Applications are built directly as canonical tables (the shape ``read_applications`` returns), so
these tests do not depend on file reading.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ditp_model.inputs.call import load_call_rules
from ditp_model.scoring.eligibility import REASON_CODES, check_eligibility
from ditp_model.inputs.io import load_inputs

ROOT = Path(__file__).resolve().parents[1]
RULES_PATH = ROOT / "data" / "appel_2021.toml"
NNBSP, NBSP = "\u202f", "\u00a0"


@pytest.fixture(scope="module")
def rules():
    return load_call_rules(RULES_PATH)


def application(application_id: str = "A1", **changes) -> dict:
    """An eligible application under the 2021 rules: a ministry, 100 000 € of services, on time."""
    row = {
        "application_id": application_id, "title": "Projet", "lead_org": "Direction", "lead_org_type": "ministry",
        "partners": (), "partner_types": (), "region": "Île-de-France", "regions_covered": (),
        "priority_reform": "France Services", "maturity": "testing", "requested_eur": 100_000,
        "expense_services_eur": 100_000, "expense_digital_tools_eur": 0, "expense_training_eur": 0,
        "expense_other_eur": 0, "submitted_at": pd.Timestamp(2021, 10, 1), "source_row": 2,
    }
    row.update(changes)
    return row


def table(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"])
    return frame


def check_one(rules, **changes) -> pd.Series:
    out = check_eligibility(table(application(**changes)), rules)
    assert len(out) == 1
    return out.iloc[0]


def test_output_shape(rules):
    out = check_eligibility(table(application("A1"), application("A2")), rules)
    assert list(out.columns) == ["application_id", "eligible", "reason_codes", "reasons"]
    assert out["application_id"].tolist() == ["A1", "A2"]
    assert out["eligible"].dtype == bool
    assert out["eligible"].tolist() == [True, True]
    assert out["reason_codes"].tolist() == ["", ""]
    assert out["reasons"].tolist() == ["", ""]


# ---------------------------------------------------------------------------
# One rule at a time, each on both sides of its boundary
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("lead_type, eligible", [
    ("ministry", True), ("state_operator", True), ("deconcentrated_service", True),
    ("private_company", False), ("association", False),
])
def test_lead_org_type(rules, lead_type, eligible):
    r = check_one(rules, lead_org_type=lead_type)
    assert bool(r["eligible"]) == eligible
    assert r["reason_codes"] == ("" if eligible else "lead_org_type")
    if not eligible:
        assert "porteur de type" in r["reasons"]


def test_lead_org_type_message_names_the_type_in_french(rules):
    r = check_one(rules, lead_org_type="private_company")
    assert "« entreprise privée »" in r["reasons"]


@pytest.mark.parametrize("partner_types, eligible", [
    ((), False),
    (("local_authority", "association"), False),
    (("association", "state_operator"), True),
    (("ministry",), True),
    (("deconcentrated_service",), True),
])
def test_local_authority_needs_a_state_partner(rules, partner_types, eligible):
    partners = tuple(f"Partenaire {i}" for i in range(len(partner_types)))
    r = check_one(rules, lead_org_type="local_authority", partners=partners, partner_types=partner_types)
    assert bool(r["eligible"]) == eligible
    assert r["reason_codes"] == ("" if eligible else "no_state_partner")


def test_state_partner_rule_only_applies_to_local_authorities(rules):
    r = check_one(rules, lead_org_type="ministry", partners=("Asso",), partner_types=("association",))
    assert bool(r["eligible"])


@pytest.mark.parametrize("submitted, eligible", [
    (pd.Timestamp(2021, 10, 15), True),               # the deadline day counts
    (pd.Timestamp(2021, 10, 15, 23, 59, 59), True),   # until the end of the day
    (pd.Timestamp(2021, 10, 16), False),
    (pd.Timestamp(2021, 10, 16, 0, 0, 1), False),
])
def test_late_submission(rules, submitted, eligible):
    r = check_one(rules, submitted_at=submitted)
    assert bool(r["eligible"]) == eligible
    assert r["reason_codes"] == ("" if eligible else "late_submission")


def test_late_submission_message(rules):
    r = check_one(rules, submitted_at=pd.Timestamp(2021, 10, 19))
    assert r["reasons"] == "déposé le 19/10/2021, après la date limite du 15/10/2021"


@pytest.mark.parametrize("submitted, eligible", [
    (pd.Timestamp(2021, 8, 23), True),                 # the opening day counts
    (pd.Timestamp(2021, 8, 23, 0, 0, 1), True),
    (pd.Timestamp(2021, 8, 22, 23, 59, 59), False),    # the evening before
    (pd.Timestamp(2021, 8, 22), False),
    (pd.Timestamp(2020, 10, 1), False),                # last year's call: a typo in the year
])
def test_early_submission(rules, submitted, eligible):
    assert rules.call.opened == pd.Timestamp(2021, 8, 23).date()
    r = check_one(rules, submitted_at=submitted)
    assert bool(r["eligible"]) == eligible
    assert r["reason_codes"] == ("" if eligible else "early_submission")


def test_early_submission_message_names_both_dates(rules):
    r = check_one(rules, submitted_at=pd.Timestamp(2021, 8, 2, 9, 30))
    assert r["reasons"] == "déposé le 02/08/2021, avant l'ouverture de l'appel le 23/08/2021"


def test_no_opening_date_means_no_early_rule(rules):
    no_opening = rules.model_copy(update={"call": rules.call.model_copy(update={"opened": None})})
    r = check_one(no_opening, submitted_at=pd.Timestamp(2019, 1, 1))
    assert bool(r["eligible"]) and r["reason_codes"] == ""


def test_early_and_other_reasons_reported_together(rules):
    r = check_one(rules, submitted_at=pd.Timestamp(2021, 7, 1), requested_eur=50_000, expense_services_eur=50_000)
    assert r["reason_codes"] == "early_submission,below_floor"


@pytest.mark.parametrize("requested, eligible", [(70_000, True), (69_999, False), (0, False)])
def test_below_floor(rules, requested, eligible):
    r = check_one(rules, requested_eur=requested, expense_services_eur=requested)
    assert bool(r["eligible"]) == eligible
    assert r["reason_codes"] == ("" if eligible else "below_floor")


def test_below_floor_message_in_french_euros(rules):
    r = check_one(rules, requested_eur=45_000, expense_services_eur=45_000)
    assert r["reasons"] == f"montant demandé 45{NNBSP}000{NBSP}€ inférieur au plancher de 70{NNBSP}000{NBSP}€"


def test_above_cap_is_not_ineligible(rules):
    """A request above the cap is capped by the allocation, not rejected."""
    r = check_one(rules, requested_eur=250_000, expense_services_eur=250_000)
    assert bool(r["eligible"])


@pytest.mark.parametrize("other, eligible", [
    (0, True),
    (50_000, True),     # exactly 50 %: the maximum is allowed
    (50_001, False),    # 50.001 % > 50 %
    (100_000, False),
])
def test_ineligible_expenses(rules, other, eligible):
    r = check_one(rules, requested_eur=100_000, expense_services_eur=100_000 - other, expense_other_eur=other)
    assert bool(r["eligible"]) == eligible
    assert r["reason_codes"] == ("" if eligible else "ineligible_expenses")


def test_ineligible_expenses_message(rules):
    # 60 000 / 100 000 = 60 %.
    r = check_one(rules, expense_services_eur=40_000, expense_other_eur=60_000)
    assert r["reasons"] == "dépenses non éligibles : 60 % de la demande (maximum 50 %)"


def test_expense_categories_not_listed_by_the_call_count_as_ineligible(rules):
    """A call that does not fund training: training expenses count with ``other``.

    60 000 training + 0 other = 60 % > 50 %: ineligible under the narrower call, eligible under 2021's.
    """
    narrower = rules.model_copy(update={"eligibility": rules.eligibility.model_copy(
        update={"eligible_expenses": ("intellectual_services", "digital_tools")})})
    row = dict(expense_services_eur=40_000, expense_training_eur=60_000)
    assert bool(check_one(rules, **row)["eligible"])
    r = check_one(narrower, **row)
    assert r["reason_codes"] == "ineligible_expenses"
    assert "60 %" in r["reasons"]


def test_no_priority_reform(rules):
    r = check_one(rules, priority_reform="")
    assert not r["eligible"]
    assert r["reason_codes"] == "no_priority_reform"
    assert r["reasons"] == "aucun rattachement à une réforme prioritaire du Gouvernement"


def test_priority_reform_not_required_by_another_call(rules):
    relaxed = rules.model_copy(update={"eligibility": rules.eligibility.model_copy(update={"requires_priority_reform": False})})
    assert bool(check_one(relaxed, priority_reform="")["eligible"])


def test_maturity(rules):
    # The 2021 call accepts every maturity: a call restricted to deployment is needed.
    for level in ("scoping", "testing", "prototyping", "deployment"):
        assert bool(check_one(rules, maturity=level)["eligible"])
    strict = rules.model_copy(update={"eligibility": rules.eligibility.model_copy(update={"maturity_levels": ("deployment",)})})
    r = check_one(strict, maturity="scoping")
    assert r["reason_codes"] == "maturity"
    assert r["reasons"] == "maturité « cadrage » non acceptée par l'appel"
    assert bool(check_one(strict, maturity="deployment")["eligible"])


def test_every_reason_code_is_documented():
    assert set(REASON_CODES) == {"lead_org_type", "no_state_partner", "early_submission", "late_submission", "below_floor",
                                 "ineligible_expenses", "no_priority_reform", "maturity"}


# ---------------------------------------------------------------------------
# Several failures at once
# ---------------------------------------------------------------------------
def test_every_failing_rule_is_listed(rules):
    strict = rules.model_copy(update={"eligibility": rules.eligibility.model_copy(update={"maturity_levels": ("deployment",)})})
    r = check_one(strict, lead_org_type="local_authority", partners=("Asso",), partner_types=("association",),
                  submitted_at=pd.Timestamp(2021, 11, 2), requested_eur=60_000, expense_services_eur=20_000,
                  expense_other_eur=40_000, priority_reform="", maturity="testing")
    assert not r["eligible"]
    assert r["reason_codes"].split(",") == ["no_state_partner", "late_submission", "below_floor", "ineligible_expenses",
                                            "no_priority_reform", "maturity"]
    reasons = r["reasons"].split(" ; ")
    assert len(reasons) == 6
    assert reasons[1] == "déposé le 02/11/2021, après la date limite du 15/10/2021"
    assert reasons[3] == "dépenses non éligibles : 67 % de la demande (maximum 50 %)"  # 40 000 / 60 000


def test_all_seven_rules_at_once(rules):
    strict = rules.model_copy(update={"eligibility": rules.eligibility.model_copy(update={"maturity_levels": ("deployment",)})})
    r = check_one(strict, lead_org_type="association", submitted_at=pd.Timestamp(2021, 10, 20), requested_eur=10_000,
                  expense_services_eur=0, expense_other_eur=10_000, priority_reform="", maturity="scoping")
    # An association is not a local authority, so the state-partner rule does not apply: six codes.
    assert r["reason_codes"] == "lead_org_type,late_submission,below_floor,ineligible_expenses,no_priority_reform,maturity"


def test_rows_are_independent_and_in_order(rules):
    rows = [application("B", priority_reform=""), application("A"), application("C", lead_org_type="association")]
    out = check_eligibility(table(*rows), rules)
    assert out["application_id"].tolist() == ["B", "A", "C"]
    assert out["reason_codes"].tolist() == ["no_priority_reform", "", "lead_org_type"]


# ---------------------------------------------------------------------------
# The sample data
# ---------------------------------------------------------------------------
#: Read by hand from data/candidatures_exemple.csv (one reason each):
#: P017 and P058 are led by a private company and an association; P034 and P086 name no reform;
#: P063 (16/10) and P104 (19/10) came after the 15/10 deadline; P078 asks 45 000 € < 70 000 €;
#: P091 has 47 600 € of other expenses out of 82 000 € (58 % > 50 %); P099 is a local authority
#: whose partners are only local authorities.
SAMPLE_INELIGIBLE = {
    "P017": "lead_org_type",
    "P034": "no_priority_reform",
    "P058": "lead_org_type",
    "P063": "late_submission",
    "P078": "below_floor",
    "P086": "no_priority_reform",
    "P091": "ineligible_expenses",
    "P099": "no_state_partner",
    "P104": "late_submission",
}


def test_sample_ineligible_applications():
    inputs = load_inputs(RULES_PATH, ROOT / "data" / "candidatures_exemple.csv", ROOT / "data" / "evaluations_exemple.csv")
    out = check_eligibility(inputs.applications, inputs.rules)
    assert len(out) == 110
    bad = out[~out["eligible"]]
    assert dict(zip(bad["application_id"], bad["reason_codes"])) == SAMPLE_INELIGIBLE
    assert (out.loc[out["eligible"], "reasons"] == "").all()
    assert (bad["reasons"] != "").all()
