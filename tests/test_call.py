"""Tests of ``ditp_model.inputs.call``: the shipped 2021 rules and every way a rules file can be wrong.

Layers: the values of ``data/appel_2021.toml`` read back as the call text states them
(DESIGN.md table); immutability; one malformed file per validation rule, each raising one
``InputError`` whose ``Problem`` names the dotted key, the value and what was expected.
Malformed files are the shipped file with one line changed, so each test breaks exactly one rule.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pydantic
import pytest

from ditp_model.inputs.call import CallRules, load_call_rules
from ditp_model.inputs.schema import InputError

RULES_PATH = Path(__file__).resolve().parents[1] / "data" / "appel_2021.toml"
SHIPPED = RULES_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rules() -> CallRules:
    return load_call_rules(RULES_PATH)


def write_variant(tmp_path: Path, old: str, new: str, *, count: int = 1) -> Path:
    """The shipped rules with `old` replaced by `new` (which must occur `count` times)."""
    assert SHIPPED.count(old) == count, f"{old!r} occurs {SHIPPED.count(old)} times"
    path = tmp_path / "appel.toml"
    path.write_text(SHIPPED.replace(old, new), encoding="utf-8")
    return path


def only_problem(path: Path, *, row: int | None = None):
    """Load `path`, expect exactly one problem (on line `row` of the file, None: a key), return it with the full message."""
    with pytest.raises(InputError) as info:
        load_call_rules(path)
    problems = info.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].file == str(path)
    assert problems[0].row == row
    return problems[0], str(info.value)


def line_of(text: str, start: str) -> int:
    """The line (from 1) of `text` that starts with `start` (exactly one)."""
    lines = [i for i, ln in enumerate(text.splitlines(), start=1) if ln.startswith(start)]
    assert len(lines) == 1, lines
    return lines[0]


# ---------------------------------------------------------------------------
# The shipped rules
# ---------------------------------------------------------------------------
def test_shipped_funding_values(rules):
    assert rules.envelope_eur == 3_000_000
    assert rules.award_floor_eur == 70_000
    assert rules.award_cap_eur == 120_000
    assert rules.funding.amount_step_eur == 1_000
    assert rules.funding.min_share == 1.0
    ext = rules.funding.extended_cap
    assert (ext.award_cap_eur, ext.min_partners, ext.min_regions) == (200_000, 5, 3)
    # Money is whole euros (int), never float.
    for value in (rules.envelope_eur, rules.award_floor_eur, rules.award_cap_eur, ext.award_cap_eur):
        assert type(value) is int


def test_shipped_calendar_and_source(rules):
    assert rules.deadline == dt.date(2021, 10, 15)
    assert rules.call.opened == dt.date(2021, 8, 23)
    assert rules.call.year == 2021
    assert rules.source == str(RULES_PATH)


def test_shipped_eligibility(rules):
    el = rules.eligibility
    assert set(el.lead_org_types) == {"ministry", "state_operator", "deconcentrated_service", "local_authority"}
    assert set(el.local_authority_requires_partner_types) == {"ministry", "state_operator", "deconcentrated_service"}
    assert set(el.eligible_expenses) == {"intellectual_services", "digital_tools", "innovation_training"}
    assert el.max_ineligible_expense_share == 0.5
    assert el.requires_priority_reform is True
    assert el.maturity_levels == ("scoping", "testing", "prototyping", "deployment")


def test_shipped_scoring_and_criteria(rules):
    sc = rules.scoring
    assert (sc.scale_min, sc.scale_max, sc.min_reviews) == (0, 5, 2)
    assert (sc.normalisation, sc.normalisation_min_reviews) == ("reviewer_effects", 3)
    assert rules.criterion_names == ("impact", "openness", "collective")
    assert [c.weight for c in rules.criteria] == [0.5, 0.3, 0.2]
    assert rules.review_columns == ("impact_reform", "impact_replicability", "openness_codesign", "openness_methods")
    assert rules.criterion("impact").review_columns == ("impact_reform", "impact_replicability")
    assert rules.criterion("collective").review_columns == ()
    c = rules.criterion("collective")
    assert (c.source, c.partners_full, c.regions_full, c.org_types_full) == ("computed", 5, 3, 3)
    with pytest.raises(KeyError):
        rules.criterion("budget")


def test_shipped_lists(rules):
    assert len(rules.lists.regions) == 18  # 13 metropolitan regions + 5 overseas
    assert "Île-de-France" in rules.lists.regions and "Mayotte" in rules.lists.regions
    assert len(set(rules.lists.regions)) == 18
    assert "France Services" in rules.lists.priority_reforms


# ---------------------------------------------------------------------------
# Immutability
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("target, attr, value", [
    ("rules", "source", "x"),
    ("funding", "envelope_eur", 1),
    ("extended_cap", "min_partners", 1),
    ("scoring", "min_reviews", 1),
    ("criterion", "weight", 1.0),
    ("call", "deadline", dt.date(2022, 1, 1)),
])
def test_rules_are_immutable(rules, target, attr, value):
    obj = {
        "rules": rules, "funding": rules.funding, "extended_cap": rules.funding.extended_cap,
        "scoring": rules.scoring, "criterion": rules.criteria[0], "call": rules.call,
    }[target]
    before = getattr(obj, attr)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        setattr(obj, attr, value)
    assert getattr(obj, attr) == before


def test_collections_are_tuples(rules):
    """Lists from TOML become tuples: no ``rules.criteria.append`` / ``regions[0] = ...``."""
    for seq in (rules.criteria, rules.lists.regions, rules.eligibility.lead_org_types, rules.criteria[0].subcriteria):
        assert isinstance(seq, tuple)


def test_with_funding_makes_a_validated_copy(rules):
    smaller = rules.with_funding(envelope_eur=2_500_000)
    assert smaller.envelope_eur == 2_500_000
    assert rules.envelope_eur == 3_000_000  # the original is untouched
    assert smaller.award_cap_eur == rules.award_cap_eur
    with pytest.raises(pydantic.ValidationError):
        rules.with_funding(award_floor_eur=150_000)  # floor above the 120 000 cap


# ---------------------------------------------------------------------------
# Malformed files: one rule each
# ---------------------------------------------------------------------------
def test_unreadable_file(tmp_path):
    missing = tmp_path / "absent.toml"
    with pytest.raises(InputError) as info:
        load_call_rules(missing)
    (p,) = info.value.problems
    assert (p.file, p.code) == (str(missing), "unreadable")
    assert f"fichier introuvable : {missing}" in str(info.value)


def test_toml_syntax_error(tmp_path):
    path = write_variant(tmp_path, "envelope_eur = 3_000_000", "envelope_eur = = 3_000_000")
    line = line_of(SHIPPED, "envelope_eur")
    p, message = only_problem(path, row=line)  # the line, so the user can find it
    assert p.code == "bad_toml"
    # « envelope_eur = » is 15 characters: the second « = » is in column 16
    assert f"ligne {line} — colonne 16 : valeur illisible" in message
    assert "ligne lue : envelope_eur = = 3_000_000" in message
    assert " at line " not in message and "Invalid" not in message  # no English


@pytest.mark.parametrize("old, new, start, column, words", [
    # the trial's stray quote in the call's name: the string ends at the second quote, « X » follows
    ('name = "Appel à projets DITP 2021 — co', 'name = "Appel à projets DITP 2021 "X" — co', "name = \"Appel", 36,
     "texte inattendu après la valeur"),
    ("deadline = 2021-10-15", "deadline = 2021-02-31", "deadline", 12,
     "date impossible : le 31 février 2021 n'existe pas (février 2021 a 28 jours)"),
    ("deadline = 2021-10-15", "deadline = 2021-13-01", "deadline", 12,
     "date impossible : il n'y a pas de mois 13 (mois de 1 à 12)"),
    ('rule = "merit_order"             # "merit_order", "ranking", "max_total_score" ou "max_score_weighted_award"',
     'rule = "merit_order', "rule =", 20, "texte non fermé"),
    # tomllib points past the backslash and the letter it would escape: « court = "C:\l » is 13 characters
    ('court = "le tribunal', 'court = "C:\\le tribunal', "court =", 14, "barre oblique inverse"),
    ("min_reviews = 2 ", "min_reviews 2 ", "min_reviews", 13, "signe « = » attendu"),
    # what tomllib names is shown between « », not Python quotes; it points past the repeated key's value:
    # « min_criterion = { impact = 2.5, impact = 2.5 » is 44 characters
    ("min_criterion = { impact = 2.5, openness = 2.5 }", "min_criterion = { impact = 2.5, impact = 2.5 }", "min_criterion",
     45, "clé « impact » en double dans la table"),
])
def test_toml_syntax_errors_in_french_with_line_and_column(tmp_path, old, new, start, column, words):
    path = write_variant(tmp_path, old, new)
    text = path.read_text(encoding="utf-8")
    line = line_of(text, start)
    p, message = only_problem(path, row=line)
    assert p.code == "bad_toml"
    assert f", ligne {line} — colonne {column} : {words}" in message
    # the column points into the line as written (counted from 1; one past its end: the line break)
    assert len(text.splitlines()[line - 1]) + 1 >= column


def test_not_utf8(tmp_path):
    # Notepad's « ANSI » (Windows-1252): refused with one message saying how to fix it, at the first accent
    path = tmp_path / "appel.toml"
    raw = SHIPPED.encode("cp1252", errors="replace")
    path.write_bytes(raw)
    first = next(i for i, b in enumerate(raw) if b >= 0x80)
    p, message = only_problem(path, row=raw.count(b"\n", 0, first) + 1)
    assert p.code == "encoding"
    assert f"octet {raw[first]:#04x}, « {bytes([raw[first]]).decode('cp1252')} » en Windows-1252" in message
    assert "enregistrer le fichier en UTF-8" in message
    assert "codec" not in message


def test_string_where_int_expected(tmp_path):
    path = write_variant(tmp_path, "envelope_eur = 3_000_000", 'envelope_eur = "3000000"')
    p, message = only_problem(path)
    assert (p.column, p.value, p.code) == ("funding.envelope_eur", "3000000", "toml_int_type")
    assert "clé « funding.envelope_eur »" in message
    assert "un nombre entier est attendu" in message


def test_float_where_whole_euros_expected(tmp_path):
    path = write_variant(tmp_path, "award_floor_eur = 70_000", "award_floor_eur = 70000.5")
    p, message = only_problem(path)
    assert (p.column, p.value) == ("funding.award_floor_eur", 70000.5)
    assert "nombre entier" in message


@pytest.mark.parametrize("old, new, key, code, expected", [
    # a quoted number is a typo, not a number: never coerced
    ("min_partners = 5 ", 'min_partners = "5" ', "funding.extended_cap.min_partners", "toml_int_type", "nombre entier"),
    ("year = 2021", 'year = "2021"', "call.year", "toml_int_type", "nombre entier"),
    ("scale_max = 5", 'scale_max = "5"', "scoring.scale_max", "toml_float_type", "un nombre est attendu"),
    ("requires_priority_reform = true", 'requires_priority_reform = "yes"', "eligibility.requires_priority_reform",
     "toml_bool_type", "true ou false"),
    ("deadline = 2021-10-15", 'deadline = "2021-10-15"', "call.deadline", "toml_date_type", "AAAA-MM-JJ"),
    ("weight = 0.3", "weight = nan", "criteria.openness.weight", "toml_finite_number", "nombre fini"),
    ("weight = 0.3", "weight = -0.3", "criteria.openness.weight", "toml_greater_than_equal",
     "supérieure ou égale à 0 (≥ 0)"),
    ("min_share = 1.0", "min_share = 1.5", "funding.min_share", "toml_less_than_equal", "inférieure ou égale à 1 (≤ 1)"),
    ("min_share = 1.0", "min_share = 0.0", "funding.min_share", "toml_greater_than", "strictement supérieure à 0 (> 0)"),
    ("min_reviews = 2 ", "min_reviews = 0 ", "scoring.min_reviews", "toml_greater_than_equal", "supérieure ou égale à 1"),
    ('normalisation = "reviewer_effects"', 'normalisation = "zscore"', "scoring.normalisation", "toml_literal_error",
     "une valeur parmi raw_mean, reviewer_zscore ou reviewer_effects"),
    ('eligible_expenses = ["intellectual_services"', 'eligible_expenses = ["catering"', "eligibility.eligible_expenses[0]",
     "toml_literal_error", "intellectual_services"),
    ("envelope_eur = 3_000_000", "envelope_eur = -1", "funding.envelope_eur", "toml_greater_than_equal",
     "supérieure ou égale à 0\u00a0€ (≥ 0\u00a0€)"),
    ("min_score = 50.0", "min_score = 500", "selection.min_score", "toml_less_than_equal", "inférieure ou égale à 100 (≤ 100)"),
    ("deadline = 2021-10-15", 'deadline = "31/02/2021"', "call.deadline", "toml_date_type",
     "date impossible : le 31 février 2021 n'existe pas"),
    ("deadline = 2021-10-15", 'deadline = "15/10/2021"', "call.deadline", "toml_date_type",
     "une date AAAA-MM-JJ est attendue, sans guillemets"),
])
def test_wrong_type_or_range(tmp_path, old, new, key, code, expected):
    p, message = only_problem(write_variant(tmp_path, old, new))
    assert (p.column, p.code) == (key, code)
    assert f"clé « {key} »" in message
    assert expected in message
    # numbers the French way: no Python float (« 0.0 », « 100.0 ») nor Python quotes in the rule
    assert ".0 " not in p.rule and not p.rule.endswith(".0") and not re.search(r"'[a-z_]+'", p.rule)


def test_missing_key(tmp_path):
    path = write_variant(tmp_path, "award_cap_eur = 120_000          # plafond par défi\n", "")
    p, message = only_problem(path)
    assert (p.column, p.value, p.code) == ("funding.award_cap_eur", None, "toml_missing")
    assert "clé « funding.award_cap_eur »" in message and "clé obligatoire absente" in message


def test_missing_table(tmp_path):
    start = SHIPPED.index("[scoring]")
    end = SHIPPED.index("[criteria.impact]")
    path = tmp_path / "appel.toml"
    path.write_text(SHIPPED[:start] + SHIPPED[end:], encoding="utf-8")
    p, _ = only_problem(path)
    assert (p.column, p.code) == ("scoring", "toml_missing")


def test_unknown_key(tmp_path):
    path = write_variant(tmp_path, "award_cap_eur = 120_000  ", "award_kap_eur = 120_000\naward_cap_eur = 120_000  ")
    p, message = only_problem(path)
    assert (p.column, p.value, p.code) == ("funding.award_kap_eur", 120_000, "toml_extra_forbidden")
    assert "clé inconnue" in message


def test_unknown_key_in_a_criterion(tmp_path):
    path = write_variant(tmp_path, "partners_full = 5", "partners_full = 5\npartner_full = 5")
    p, _ = only_problem(path)
    assert (p.column, p.code) == ("criteria.collective.partner_full", "toml_extra_forbidden")


def test_floor_above_cap(tmp_path):
    path = write_variant(tmp_path, "award_floor_eur = 70_000", "award_floor_eur = 130_000")
    p, message = only_problem(path)
    assert (p.column, p.value, p.code) == ("funding.award_floor_eur", 130_000, "toml_value_error")
    assert "clé « funding.award_floor_eur »" in message
    assert "dépasse le plafond" in message
    # amounts as the report writes them (format_eur: narrow no-break space between thousands)
    assert "le plancher (award_floor_eur = 130\u202f000\u00a0€)" in message
    assert "inférieure ou égale à 120\u202f000\u00a0€" in message  # the value expected


def test_extended_cap_below_cap(tmp_path):
    path = write_variant(tmp_path, "award_cap_eur = 200_000", "award_cap_eur = 100_000")
    p, message = only_problem(path)
    assert (p.column, p.value) == ("funding.extended_cap.award_cap_eur", 100_000)
    assert "supérieure ou égale à 120\u202f000\u00a0€" in message


def test_unknown_org_type(tmp_path):
    path = write_variant(tmp_path, 'lead_org_types = ["ministry", "state_operator"',
                         'lead_org_types = ["ministry", "ministere"')
    p, message = only_problem(path)
    assert (p.column, p.value, p.code) == ("eligibility.lead_org_types[1]", "ministere", "toml_literal_error")
    assert "clé « eligibility.lead_org_types[1] »" in message
    assert ("une valeur parmi ministry, state_operator, deconcentrated_service, local_authority, private_company "
            "ou association") in message
    assert " or " not in message and "'" not in p.rule  # French message, no Python quotes


def test_all_weights_zero(tmp_path):
    text = re.sub(r"^weight = 0\.\d", "weight = 0.0", SHIPPED, flags=re.M)
    assert text.count("weight = 0.0") == 3
    path = tmp_path / "appel.toml"
    path.write_text(text, encoding="utf-8")
    p, message = only_problem(path)
    assert p.column == "criteria.*.weight"
    for key in ("criteria.impact.weight", "criteria.openness.weight", "criteria.collective.weight"):
        assert key in message
    assert "toutes nulles" in message and "strictement positive" in message


def test_scale_max_not_above_min(tmp_path):
    p, message = only_problem(write_variant(tmp_path, "scale_max = 5", "scale_max = 0"))
    assert (p.column, p.value) == ("scoring.scale_max", 0.0)
    assert "strictement supérieure à 0" in message


def test_computed_criterion_other_than_collective(tmp_path):
    path = tmp_path / "appel.toml"
    path.write_text(SHIPPED + '\n[criteria.budget]\nlabel = "Budget"\nweight = 0.1\nsource = "computed"\n', encoding="utf-8")
    p, message = only_problem(path)
    assert (p.column, p.value) == ("criteria.budget.source", "computed")
    assert "seul le critère « collective »" in message


def test_reviewed_criterion_without_subcriteria(tmp_path):
    path = tmp_path / "appel.toml"
    path.write_text(SHIPPED + '\n[criteria.budget]\nlabel = "Budget"\nweight = 0.1\nsource = "reviews"\n', encoding="utf-8")
    p, _ = only_problem(path)
    assert p.column == "criteria.budget.subcriteria"


def test_collective_without_saturation_point(tmp_path):
    p, message = only_problem(write_variant(tmp_path, "partners_full = 5\n", ""))
    assert p.column == "criteria.collective.partners_full"
    assert "nombre entier" in message


def test_subcriterion_label_not_text(tmp_path):
    path = write_variant(tmp_path, 'reform = "Lien avec une réforme prioritaire"', "reform = 3")
    p, _ = only_problem(path)
    assert (p.column, p.value, p.code) == ("criteria.impact.subcriteria.reform", 3, "toml_string_type")


def test_several_mistakes_are_reported_together(tmp_path):
    text = (SHIPPED.replace("envelope_eur = 3_000_000", 'envelope_eur = "3000000"')
            .replace("min_reviews = 2 ", "min_reviews = 0 ")
            .replace("weight = 0.3", "weight = -0.3"))
    path = tmp_path / "appel.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_call_rules(path)
    keys = {p.column for p in info.value.problems}
    assert keys == {"funding.envelope_eur", "scoring.min_reviews", "criteria.openness.weight"}
    assert str(info.value).startswith("3 erreurs dans les données d'entrée")


def test_input_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        load_call_rules(write_variant(tmp_path, "scale_max = 5", "scale_max = -1"))


# ---------------------------------------------------------------------------
# Calendar and envelope (issue 15): errors, never a warning and exit 0
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("deadline, shown", [("2021-08-22", "22/08/2021"), ("2021-01-01", "01/01/2021"),
                                             ("2020-10-15", "15/10/2020")])
def test_deadline_before_opening_is_an_error(tmp_path, deadline, shown):
    path = write_variant(tmp_path, "deadline = 2021-10-15", f"deadline = {deadline}")
    p, message = only_problem(path)
    assert p.column == "call.deadline"
    assert p.value == deadline
    assert f"la date limite ({shown}) précède l'ouverture de l'appel (opened = 23/08/2021)" in message
    assert "call.deadline" in message


def test_deadline_on_the_opening_day_is_accepted(tmp_path):
    path = write_variant(tmp_path, "deadline = 2021-10-15", "deadline = 2021-08-23")
    rules = load_call_rules(path)
    assert rules.call.opened == rules.deadline == dt.date(2021, 8, 23)


def test_no_opening_date_accepts_any_deadline(tmp_path):
    path = write_variant(tmp_path, "opened = 2021-08-23\n", "")
    assert load_call_rules(path).call.opened is None


@pytest.mark.parametrize("written", ["0", "-0", "+0"])
def test_zero_envelope_is_an_error(tmp_path, written):
    path = write_variant(tmp_path, "envelope_eur = 3_000_000", f"envelope_eur = {written}")
    p, message = only_problem(path)
    assert (p.column, p.value) == ("funding.envelope_eur", 0)
    assert "enveloppe nulle" in message and "strictement positif" in message


def test_zero_envelope_refused_in_a_copy_too(rules):
    with pytest.raises(pydantic.ValidationError, match="enveloppe nulle"):
        rules.with_funding(envelope_eur=0)
    assert rules.with_funding(envelope_eur=1).envelope_eur == 1


def test_shipped_selection(rules):
    sel = rules.selection
    assert (sel.rule, sel.min_score, dict(sel.min_criterion), sel.tie_band_points) == (
        "merit_order", 50.0, {"impact": 2.5, "openness": 2.5}, 0.5)


@pytest.mark.parametrize("old, new, key, words", [
    ('rule = "merit_order"', 'rule = "greedy"', "selection.rule", "merit_order"),
    ("tie_band_points = 0.5", 'tie_band_points = "beaucoup"', "selection.tie_band_points", "entre 0 et 100"),
    ("tie_band_points = 0.5", "tie_band_points = -1", "selection.tie_band_points", "entre 0 et 100"),
    ("tie_band_points = 0.5", "tie_band_points = true", "selection.tie_band_points", "entre 0 et 100"),
    ("min_score = 50.0", "min_score = 101", "selection.min_score", "100"),
    ("min_criterion = { impact = 2.5, openness = 2.5 }", "min_criterion = { impact = 7 }", "selection.min_criterion",
     "hors de l'échelle"),
    ("min_criterion = { impact = 2.5, openness = 2.5 }", "min_criterion = { collective = 0.5 }", "selection.min_criterion",
     "critère calculé"),
    ("min_criterion = { impact = 2.5, openness = 2.5 }", "min_criterion = { qualite = 3 }", "selection.min_criterion",
     "critère inconnu"),
])
def test_selection_errors_name_the_key(tmp_path, old, new, key, words):
    p, message = only_problem(write_variant(tmp_path, old, new))
    assert p.column == key
    assert words in message


def test_tie_band_auto_is_accepted(tmp_path):
    rules = load_call_rules(write_variant(tmp_path, "tie_band_points = 0.5", 'tie_band_points = "auto"'))
    assert rules.selection.tie_band_points == "auto"


# ---------------------------------------------------------------------------
# Weights add up to 1 (trial 1, item 8): refused, never silently rescaled
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("impact, total", [("0.6", "1,1"), ("0.4", "0,9"), ("0.502", "1,002")])
def test_weights_not_adding_up_to_one_are_refused(tmp_path, impact, total):
    # The committee voted impact 60 %: rescaled, 0.6 / 1.1 would be 55 % in the decision and the report.
    path = write_variant(tmp_path, "weight = 0.5 ", f"weight = {impact} ")
    p, message = only_problem(path)
    assert p.column == "criteria.*.weight"
    assert p.value == pytest.approx(float(impact) + 0.5)
    assert f"les pondérations totalisent {total} (impact {impact.replace('.', ',')} + openness 0,3 + collective 0,2)" in message
    assert "elles doivent totaliser 1" in message and "ne sont pas ramenées d'office à 100 %" in message


@pytest.mark.parametrize("impact", ["0.5005", "0.4995"])
def test_weights_within_a_thousandth_of_one_are_accepted(tmp_path, impact):
    rules = load_call_rules(write_variant(tmp_path, "weight = 0.5 ", f"weight = {impact} "))
    assert sum(c.weight for c in rules.criteria) == pytest.approx(float(impact) + 0.5)


def test_weights_rule_is_one_function():
    from ditp_model.inputs.call import weights_sum_problem

    assert weights_sum_problem({"a": 0.5, "b": 0.3, "c": 0.2}) is None
    assert weights_sum_problem({"a": 50, "b": 30, "c": 20}) is not None  # the call file: parts only
    assert weights_sum_problem({"a": 50, "b": 30, "c": 20}, percentages=True) is None
    assert weights_sum_problem({"a": 50.2, "b": 30, "c": 20}, percentages=True) is not None  # 100.2: off by 0.2 %
    assert weights_sum_problem({"a": 50.05, "b": 30, "c": 20}, percentages=True) is None  # 100.05: within 0.1 %
    assert weights_sum_problem({"a": 0, "b": 0}) is None  # all zero: its own error
    assert "Impact 0,6" in weights_sum_problem({"impact": 0.6, "b": 0.3, "c": 0.2}, labels={"impact": "Impact"})
