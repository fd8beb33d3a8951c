"""The committee panel without a browser: callbacks driven by setting widget values, as the front end does.

Every expectation is computed independently with ``evaluate`` / ``allocate`` / ``ranking_rule``
for the normalised weights (the decision rule of the call: the merit order), or by hand from the
evaluation table (quality thresholds, the merit order at δ = 0), never read back from the panel.
"""

from __future__ import annotations

import html as _html
import json
import logging
import re
from pathlib import Path
from dataclasses import replace

import pandas as pd
import pytest

from ditp_model import Weights, evaluate
from ditp_model.rules.allocation import AllocationParams, GroupRule, allocate, ranking_rule
from ditp_model.outputs.notebook import sample_inputs
from ditp_model.french import format_eur
from ditp_model.rules.scenario import load_scenario
from ditp_model.session import widgets as w
from ditp_model.session import state as panel_state
from ditp_model.session.widgets import CommitteePanel, PanelState, compare_scenarios, comparison_frame_fr, compute_outcome

EUR = re.compile(r"^\d{1,3}(\u202f\d{3})*\u00a0€$")  # "120 000 €" (CLDR: narrow no-break spaces)
LIVE = AllocationParams(check_alternatives=False)


@pytest.fixture(scope="module")
def inputs():
    return sample_inputs()


@pytest.fixture(scope="module")
def base(inputs):
    return evaluate(inputs)


@pytest.fixture
def panel(inputs, tmp_path):
    return CommitteePanel(inputs, charts=False, scenario_dir=tmp_path / "scenarios",
                          rule_options=[GroupRule("region", "Île-de-France", max_share=0.4)])


def expected_table(base, raw: dict, params: AllocationParams = LIVE) -> pd.DataFrame:
    """What allocate() funds for these weights once normalised, in the funded table's layout."""
    norm = Weights.of(**raw).normalised()
    ev = base.with_weights(Weights.of(**norm))
    d = allocate(ev, params).decisions
    d = d[d["funded"]]
    t = ev.table.merge(d[["application_id", "award_eur"]], on="application_id").sort_values("rank")
    return pd.DataFrame({"rank": t["rank"].astype("int64"), "application_id": t["application_id"], "title": t["title"],
                         "lead_org": t["lead_org"], "region": t["region"], "score": t["score"].astype(float),
                         "award_eur": t["award_eur"].astype("int64")}).reset_index(drop=True)


def shown(widget) -> str:
    """The text of an HTML widget with entities decoded (« l'appel », not « l&#x27;appel »)."""
    return _html.unescape(widget.value)


def expected_ids(base, raw: dict, params: AllocationParams = LIVE) -> list[str]:
    """Funded ids for these weights (call's rule), best rank first."""
    return list(expected_table(base, raw, params)["application_id"])


def change_line(old: list[str], new: list[str]) -> str:
    """The « who enters, who leaves » head of the change line, from two funded lists in rank order."""
    enters, leaves = [a for a in new if a not in old], [a for a in old if a not in new]

    def names(ids):
        return ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " et " + ids[-1]

    parts = []
    if enters:
        parts.append(f"{names(enters)} {'entre' if len(enters) == 1 else 'entrent'}")
    if leaves:
        parts.append(f"{names(leaves)} {'sort' if len(leaves) == 1 else 'sortent'}")
    return ", ".join(parts) if parts else "aucun dossier n'entre ni ne sort"


def below_thresholds(ev, overall: float = 50.0, per: dict | None = None) -> set[str]:
    """Eligible scored applications below a threshold, by hand: composite < overall, or criterion mean (0–5) < minimum."""
    per = {"impact": 2.5, "openness": 2.5} if per is None else per
    t = ev.table[ev.table["eligible"] & ev.table["scored"]]
    low = t["score"].round(4) < overall
    for k, v in per.items():
        low |= (5 * t[f"{k}_score"]).round(4) < v
    return set(t.loc[low, "application_id"])


def ranking_with_skip_by_hand(ev, envelope: int = 3_000_000, floor: int = 70_000) -> dict[str, int]:
    """The merit order at δ = 0 with full awards (min_share 1): fund in rank order each request (capped) that fits."""
    t = ev.table[ev.table["eligible"] & ev.table["scored"]].sort_values("rank")
    out = below_thresholds(ev)
    left, funded = envelope, {}
    for r in t.itertuples():
        award = min(int(r.requested_eur), int(r.award_cap_eur))
        if r.application_id in out or award < floor:
            continue
        if award <= left:
            funded[r.application_id] = award
            left -= award
    return funded


def check_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(actual["application_id"]) == list(expected["application_id"])
    assert list(actual["award_eur"]) == list(expected["award_eur"])
    assert list(actual["rank"]) == list(expected["rank"])
    assert actual["score"].to_numpy() == pytest.approx(expected["score"].to_numpy(), abs=1e-9)
    assert list(actual["title"]) == list(expected["title"]) and list(actual["region"]) == list(expected["region"])


# --------------------------------------------------------------------------- initial state


def test_initial_controls_are_the_calls_values(panel, inputs):
    f = inputs.rules.funding
    t = evaluate(inputs).table
    assert panel.envelope_slider.value == f.envelope_eur == 3_000_000  # exactly, not a rounded default
    assert panel.envelope_slider.min == 0
    assert panel.envelope_slider.max == int(t.loc[t["eligible"], "requested_eur"].sum())
    assert (panel.floor_slider.value, panel.cap_slider.value) == (f.award_floor_eur, f.award_cap_eur)
    assert panel.min_share_slider.value == f.min_share
    assert {k: s.value for k, s in panel.weight_sliders.items()} == {"impact": 0.5, "openness": 0.3, "collective": 0.2}
    assert all(not s.continuous_update for s in panel.weight_sliders.values())  # one message per release
    assert "30 %" in panel._value_labels["w:openness"].value and "0,30" in panel._value_labels["w:openness"].value
    # the decision rule, the quality thresholds and δ of the call ([selection] of data/appel_2021.toml)
    assert panel.rule_choice.value == ("merit_order", "skip")
    assert "(règle de l'appel)" in dict((v, k) for k, v in panel.rule_choice.options)[("merit_order", "skip")]
    assert panel.min_score_text.value == 50.0
    assert {k: b.value for k, b in panel.min_criterion_texts.items()} == {"impact": 2.5, "openness": 2.5}
    assert panel.tie_band_text.value == 0.5 and not panel.tie_band_auto.value
    assert all(not b.continuous_update for b in (panel.min_score_text, panel.tie_band_text, *panel.min_criterion_texts.values()))
    p = panel.current.state.params
    assert (p.rule, p.ranking_variant, p.min_score, p.min_criterion, p.tie_band_points) == (
        "merit_order", "skip", 50.0, (("impact", 2.5), ("openness", 2.5)), 0.5)
    assert "note globale ≥ 50,00 ; impact ≥ 2,50/5 ; ouverture ≥ 2,50/5 ; bande d'ex aequo 0,50 point" in shown(panel.used_html)
    assert "valeur de l'appel" in shown(panel.used_html)


def test_initial_table_is_the_merit_order(panel, base):
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}))
    assert panel.reference.name == "état initial"
    assert panel.last_error is None
    rank = base.table.set_index("application_id")["rank"]
    assert "P044" in panel.current.funded_ids and rank["P044"] == 2  # the application ranked 2nd is funded (issue 12)


def test_repr_is_short_and_french(panel, base):
    f = expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2})
    assert repr(panel) == f"CommitteePanel({len(f)} lauréats, {format_eur(int(f['award_eur'].sum()))} attribués)"


# --------------------------------------------------------------------------- slider callbacks


@pytest.mark.parametrize("openness", [0.45, 0.1])
def test_moving_a_weight_slider_resolves_like_allocate(panel, base, openness):
    panel.weight_sliders["openness"].value = openness
    assert panel.last_error is None
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": openness, "collective": 0.2}))
    html = panel.table_html.value
    for aid, award in zip(panel.funded_table()["application_id"], panel.funded_table()["award_eur"]):
        assert f'<td class="ditp-id">{aid}</td>' in html
    assert re.findall(r'class="ditp-num ditp-eur">([^<]+)<', html)[0] == w.format_eur(int(panel.funded_table()["award_eur"].iloc[0]))


def test_displayed_value_is_the_value_used(panel):
    before = panel.solve_count
    panel.weight_sliders["openness"].value = 0.45
    assert panel.solve_count == before + 1  # one solve per release
    state = panel.current.state
    assert state.weights.as_dict()["openness"] == panel.weight_sliders["openness"].value == 0.45
    assert "Ouverture 0,45 (39 %)" in shown(panel.used_html)  # the "values used" line
    assert 'data-weights="impact=0.5,openness=0.45,collective=0.2"' in panel.table_html.value
    assert "0,45 → <b>39 %</b>" in panel._value_labels["w:openness"].value  # beside the slider
    panel.weight_sliders["openness"].value = 0.45  # same value again: nothing to do
    assert panel.solve_count == before + 1


def test_several_changes_in_a_batch_solve_once(panel, base):
    before = panel.solve_count
    assert panel.set_weights(impact=0.3, openness=0.5, collective=0.2)
    assert panel.solve_count == before + 1
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.3, "openness": 0.5, "collective": 0.2}))


def test_what_changed_line(panel, base):
    # Openness 0.30 -> 0.55 moves the line on the sample (one application enters, one leaves); 0.55 -> 0.60 does not.
    w30, w55, w60 = ({"impact": 0.5, "openness": o, "collective": 0.2} for o in (0.3, 0.55, 0.6))
    f30, f55, f60 = expected_ids(base, w30), expected_ids(base, w55), expected_ids(base, w60)
    assert set(f30) != set(f55) and set(f30) - set(f55) and set(f55) == set(f60)  # premises, from allocate()
    assert panel.changes_text == "premier calcul de la séance"
    panel.weight_sliders["openness"].value = 0.55
    assert panel.changes_text == f"{change_line(f30, f55)} : ouverture 0,30 → 0,55"
    panel.weight_sliders["openness"].value = 0.6
    assert panel.changes_text == "aucun dossier n'entre ni ne sort : ouverture 0,55 → 0,60"
    assert panel.reference_changes_text == f"{change_line(f30, f60)} : ouverture 0,30 → 0,60"
    assert f"{change_line(f30, f60)} : ouverture 0,30 → 0,60" in shown(panel.changes_html)
    assert "nouveau" not in panel.table_html.value  # entered one state earlier
    panel.weight_sliders["openness"].value = 0.3
    assert panel.changes_text == f"{change_line(f60, f30)} : ouverture 0,60 → 0,30"
    assert 'class="ditp-new"' in panel.table_html.value


def test_envelope_floor_cap_and_min_share(panel, base):
    panel.envelope_slider.value = 2_000_000
    params = replace(LIVE, envelope_eur=2_000_000, award_floor_eur=70_000, award_cap_eur=120_000, min_share=1.0)
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}, params))
    assert "enveloppe 3\u202f000\u202f000\u00a0€ → 2\u202f000\u202f000\u00a0€" in panel.changes_text
    panel.envelope_text.value = "2 500 000"  # the exact-amount field (text, read the French way) moves the slider
    assert panel.envelope_slider.value == 2_500_000 and panel.current.envelope_eur == 2_500_000
    with panel.batch():
        panel.cap_slider.value = 100_000
        panel.min_share_slider.value = 0.9
    params = replace(params, envelope_eur=2_500_000, award_cap_eur=100_000, min_share=0.9)
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}, params))
    assert "plafond 120\u202f000\u00a0€ → 100\u202f000\u00a0€" in panel.changes_text
    assert "part minimale de la demande 100 % → 90 %" in panel.changes_text
    assert panel.busy_html.value == ""


def test_totals(panel, base):
    t = w.totals(panel.current)
    f = expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2})
    awarded = int(f["award_eur"].sum())
    assert t == {"n_funded": len(f), "awarded_eur": awarded, "unspent_eur": 3_000_000 - awarded, "available_eur": 3_000_000}
    assert all(isinstance(v, int) for v in t.values())
    assert format_eur(awarded) in shown(panel.totals_html) and format_eur(3_000_000 - awarded) in shown(panel.totals_html)


def test_funded_table_is_french(panel):
    fr = w.funded_table_fr(panel.current)
    assert list(fr.columns) == ["Rang", "Dossier", "Intitulé", "Porteur", "Région", "Note", "Montant attribué"]
    assert all(EUR.match(x) for x in fr["Montant attribué"])
    assert all(re.fullmatch(r"\d{2},\d{2}", x) for x in fr["Note"])


# --------------------------------------------------------------------------- locks, rules, objective


def low_fundable(base, params: AllocationParams = LIVE) -> str:
    """The lowest-ranked eligible, scored application above every quality threshold, not funded by the merit order."""
    funded = set(expected_ids(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}, params))
    t = base.table[base.table["eligible"] & base.table["scored"]].sort_values("rank", ascending=False)
    out = below_thresholds(base)
    return next(a for a in t["application_id"] if a not in out and a not in funded)


def test_lock_in_and_out_and_the_exception_it_makes(panel, base):
    low = low_fundable(base)
    assert panel.lock_in(low)
    assert low in panel.current.funded_ids
    assert f"{low} imposé" in panel.changes_text and low in panel.changes_text.split(":")[0]
    params = replace(LIVE, lock_in=frozenset({low}))
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}, params))
    # funded before better-ranked applications: a named exception, its cause the committee's lock
    before = expected_ids(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2})
    passed = [a for a in before if a not in panel.current.funded_ids]
    assert passed  # the lock takes the money of at least one laureate ranked far above it
    assert f"{low} financé avant" in shown(panel.line_html) and "imposé par le comité" in shown(panel.line_html)
    assert all(a in shown(panel.line_html) for a in passed)
    assert 'ditp-badge-exception">exception' in panel.table_html.value
    top = panel.current.funded_ids[0]
    assert panel.lock_out(top)
    assert top not in panel.current.funded_ids and f"{top} exclu" in panel.changes_text
    assert panel.unlock(low, top)
    assert panel.current.state.params.lock_in == frozenset() == panel.current.state.params.lock_out
    assert f"verrou levé sur {top}" in panel.changes_text
    assert "Aucune exception à l'ordre de mérite" in shown(panel.line_html)


def test_lock_from_the_search_box(panel):
    assert panel.resolve_application("p044") == "P044"
    assert panel.resolve_application(panel._tag_of["P044"]) == "P044"  # a suggestion picked from the list
    title = panel._base.table.set_index("application_id").at["P044", "title"]
    assert title.startswith("Simplifier la sortie d'hospitalisation")
    assert panel.resolve_application("SIMPLIFIER la sortie") == "P044"  # words of the title, any case
    panel.lock_search.value = "P044"
    panel.lock_in_button.click()
    assert panel.current.state.params.lock_in == frozenset({"P044"}) and panel.lock_search.value == ""
    panel.lock_search.value = "zzz introuvable"
    panel.lock_out_button.click()
    assert "aucun dossier éligible et classé ne correspond à « zzz introuvable »" in panel.lock_message.value
    panel.lock_search.value = "usagers"
    panel.lock_out_button.click()
    assert "dossiers (" in panel.lock_message.value and "préciser" in panel.lock_message.value
    assert panel.current.state.params.lock_out == frozenset()


def test_a_lock_that_does_not_fit_shows_a_french_error_and_keeps_the_result(panel):
    assert panel.lock_in("P044")
    good = panel.funded_table()
    good_state = panel.current.state
    panel.envelope_slider.value = 100_000
    assert panel.last_error is not None
    assert "P044" in panel.last_error and "100\u202f000\u00a0€" in panel.last_error and "imposés" in panel.last_error
    assert "Recalcul impossible" in panel.error_html.value and "reste celui de l'état précédent" in panel.error_html.value
    assert panel.current.state == good_state  # previous valid result kept, labelled as such
    pd.testing.assert_frame_equal(panel.funded_table(), good)
    panel.envelope_slider.value = 3_000_000  # back to a valid state: the error goes away
    assert panel.last_error is None and panel.error_html.value == ""


def test_other_invalid_states_are_french_errors(panel):
    good = panel.current
    panel.floor_slider.value = 150_000
    assert "plancher" in panel.last_error and "plafond" in panel.last_error
    panel.floor_slider.value = 70_000
    assert panel.last_error is None
    assert panel.lock_in("P044")
    assert not panel.lock_out("P044")
    assert "à la fois imposé(s) et exclu(s)" in panel.last_error
    assert panel.current.state.params.lock_out == frozenset()
    panel.lock_out_tags.value = []
    with panel.batch():
        for s in panel.weight_sliders.values():
            s.value = 0.0
    assert "pondérations sont nulles" in panel.last_error
    assert panel.current.funded_ids == panel.previous.funded_ids or panel.current is not good
    with pytest.raises(ValueError, match="P017"):
        panel.lock_in("P017")  # ineligible: not offered in the searchable list


def test_unexpected_errors_are_shown_and_logged(panel, monkeypatch, caplog):
    good = panel.current

    def boom(*args, **kwargs):
        raise RuntimeError("panne simulée")

    monkeypatch.setattr(panel_state, "compute_outcome", boom)  # the panel computes through session.state
    with caplog.at_level(logging.ERROR, logger="ditp_model.session.widgets"):
        panel.weight_sliders["openness"].value = 0.4
    assert "erreur inattendue (RuntimeError) : panne simulée" in panel.last_error
    assert "panne simulée" in panel.error_html.value
    assert any("erreur inattendue" in r.message for r in caplog.records)
    assert panel.current is good


def test_portfolio_rule_toggle(panel, base):
    rule, box = panel.rule_toggles[0]
    assert box.description == "Région « Île-de-France » : au plus 40 % de l'enveloppe"
    box.value = True
    params = replace(LIVE, envelope_eur=3_000_000, award_floor_eur=70_000, award_cap_eur=120_000, min_share=1.0,
                     group_rules=(rule,))
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}, params))
    f = panel.funded_table()
    assert f.loc[f["region"] == "Île-de-France", "award_eur"].sum() <= 1_200_000
    assert "règle ajoutée (Région « Île-de-France » : au plus 40 % de l'enveloppe)" in panel.changes_text
    panel.max_awards_value.value = 20
    panel.max_awards_toggle.value = True
    assert panel.current.n_funded <= 20 and "au plus 20 lauréats" in panel.changes_text


def test_decision_rule_choice(panel, base):
    rank = base.table.set_index("application_id")["rank"]
    by_rank = lambda ids: sorted(ids, key=lambda a: int(rank[a]))  # noqa: E731
    for variant in ("skip", "stop"):
        panel.rule_choice.value = ("ranking", variant)
        rr = ranking_rule(base, LIVE, variant)
        assert panel.current.funded_ids == by_rank(rr.funded_ids)
        assert panel.current.awarded_eur == rr.total_awarded_eur
        assert panel.current.state.params.rule == "ranking" and panel.current.state.ranking_variant == variant
    assert "décision : règle du classement : on passe au suivant" in panel.changes_text
    assert "→ règle du classement : on s'arrête au premier dossier qui ne tient pas" in panel.changes_text
    # the optimisation objectives: labelled alternatives, for comparison
    for rule in ("max_total_score", "max_score_weighted_award"):
        panel.rule_choice.value = (rule, "skip")
        expected = allocate(base, replace(LIVE, rule=rule))
        assert panel.current.funded_ids == by_rank(expected.funded_ids)
        assert panel.current.state.params.objective == {"max_total_score": "total_score",
                                                        "max_score_weighted_award": "score_weighted_award"}[rule]
        assert "pour comparaison" in shown(panel.used_html) and "présentée pour comparaison" in shown(panel.used_html)
        assert "Règle d'optimisation choisie pour comparaison" in shown(panel.totals_html)
        assert "présentée pour comparaison" in shown(panel.optimum_html)
    labels = [label for label, _ in panel.rule_choice.options]
    assert [label.startswith("Pour comparaison") for label in labels] == [False, False, False, True, True]
    panel.rule_choice.value = ("merit_order", "skip")
    assert "décision : pour comparaison : maximiser la somme des notes × montants → ordre de mérite" in panel.changes_text


def test_a_minimum_count_rule_makes_named_exceptions_and_the_ranking_rule_a_warning(inputs, base, tmp_path):
    rule = GroupRule("maturity", "testing", min_count=6)
    p = CommitteePanel(inputs, charts=False, scenario_dir=tmp_path, rule_options=[rule])
    t = base.table.set_index("application_id")
    free = set(expected_ids(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}))
    assert sum(t.at[a, "maturity"] == "testing" for a in free) < 6  # test data: merit order alone does not meet the rule
    p.rule_toggles[0][1].value = True
    assert p.last_error is None
    funded = p.current.funded_ids
    assert sum(t.at[a, "maturity"] == "testing" for a in funded) >= 6
    forced = [a for a in funded if a not in free and t.at[a, "maturity"] == "testing"]
    assert forced and len(p.current.exceptions) == len(forced)
    for a in forced:  # each out-of-order laureate named with the rule that caused it
        assert any(x.startswith(f"{a} financé avant ") and "au moins 6 lauréats" in x for x in p.current.exceptions)
        assert f"{a} financé avant" in shown(p.line_html)
    # the ranking rule ignores the minimum count: its portfolio is shown, with the rule it breaks
    p.rule_choice.value = ("ranking", "skip")
    assert p.last_error is None and p.current.allocation is None
    assert p.current.funded_ids == sorted(ranking_rule(base, replace(LIVE, group_rules=(rule,))).funded_ids,
                                          key=lambda a: t.at[a, "rank"])
    assert "la règle du classement ne respecte pas : règle « Maturité « test » : au moins 6 lauréats »" in shown(p.totals_html)
    assert "Pas d'explication de la ligne" in shown(p.line_html)
    assert "la règle du classement affichée ne respecte pas" in shown(p.optimum_html)


def test_quality_thresholds_are_committee_settings(panel, base):
    below = below_thresholds(base)
    assert set(panel.current.not_fundable) == below and below
    assert not below & set(panel.current.funded_ids)
    fr = w.not_fundable_table_fr(panel.current)
    assert set(fr["Dossier"]) == below and list(fr["Rang"]) == sorted(fr["Rang"])
    assert all(m.startswith("non finançable : ") and "sous le seuil de" in m for m in fr["Motif"])
    for aid in below:
        assert f'<td class="ditp-id">{aid}</td>' in panel.not_fundable_html.value
    # a stricter overall minimum, set exactly
    panel.min_score_text.value = 62.5
    assert panel.last_error is None
    below62 = below_thresholds(base, overall=62.5)
    assert set(panel.current.not_fundable) == below62 and below62 > below
    assert all(s >= 62.5 for s in panel.funded_table()["score"])
    assert panel.changes_text.endswith("seuil de note globale 50,00 → 62,50")
    params = replace(LIVE, min_score=62.5)
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}, params))
    # no threshold on openness (the bottom of the scale)
    with panel.batch():
        panel.min_score_text.value = 50.0
        panel.min_criterion_texts["openness"].value = 0.0
    assert set(panel.current.not_fundable) == below_thresholds(base, per={"impact": 2.5})
    assert panel.current.state.params.min_criterion == (("impact", 2.5),)
    assert "seuil « ouverture » 2,50 → aucun" in panel.changes_text
    assert "ouverture ≥" not in shown(panel.used_html)


def test_tie_band_at_zero_is_the_ranking_rule_with_skip(panel, base):
    panel.tie_band_text.value = 0.0
    assert panel.last_error is None
    assert panel.current.awards == ranking_with_skip_by_hand(base)  # computed by hand from the evaluation table
    assert "bande d'ex aequo 0,50 point → 0,00 point" in panel.changes_text
    assert "fixée par le comité (appel : 0,50 point)" in shown(panel.used_html)
    assert panel.current.ex_aequo == () and "Aucun ex aequo à la ligne" in shown(panel.line_html)
    panel.tie_band_auto.value = True
    assert panel.tie_band_text.disabled and panel.current.state.params.tie_band_points == "auto"
    assert "auto (calculée à partir des évaluations)" in panel.changes_text


def test_funding_line_ex_aequo_and_the_optimum_comparison(panel, base):
    """At the call's δ = 0,5 point: the ex aequo at the line are flagged, and the optimum is a comparison only."""
    t = base.table.set_index("application_id")
    funded = panel.current.funded_ids
    tied = panel.current.ex_aequo
    assert tied  # on the sample, two applications a few hundredths of a point apart sit at the line
    assert any(a in funded for a in tied) and any(a not in funded for a in tied)
    for a in tied:
        others = [b for b in tied if b != a]
        assert min(abs(t.at[a, "score"] - t.at[b, "score"]) for b in others) < 0.5
    assert "Ligne de financement — dernier financé au-dessus" in shown(panel.line_html)
    assert "Ex aequo à la ligne de financement" in shown(panel.line_html)
    for a in tied:
        if a in funded:
            row = re.search(rf'<td class="ditp-id">{a}</td>.*?</tr>', panel.table_html.value).group(0)
            assert 'class="ditp-badge ditp-badge-tie">ex aequo</span>' in row
    # « si l'on maximisait la somme des notes »: the optimum's laureates, computed apart
    opt = set(allocate(base, replace(LIVE, rule="max_total_score")).funded_ids)
    mine = set(funded)
    html = shown(panel.optimum_html)
    assert html.count("Pour comparaison seulement") == 1
    assert f"{len(opt)} lauréats ({len(mine)} avec la décision)" in html
    left_out = sorted(mine - opt, key=lambda a: t.at[a, "rank"])
    assert "Il écarterait des lauréats mieux classés : " + ", ".join(f"{a} (rang {int(t.at[a, 'rank'])})" for a in left_out) in html


# --------------------------------------------------------------------------- scenarios


def test_save_and_load_a_scenario(panel, tmp_path):
    panel.weight_sliders["openness"].value = 0.45
    panel.lock_in("P044")
    with panel.batch():
        panel.min_score_text.value = 55.0
        panel.tie_band_text.value = 0.25
    saved = panel.funded_table()
    path = panel.save("Ouverture renforcée — séance 1")
    assert path == tmp_path / "scenarios" / "ouverture-renforcee-seance-1.json"
    sc = load_scenario(path)
    assert sc.name == "Ouverture renforcée — séance 1"
    assert sc.weights.as_dict() == {"impact": 0.5, "openness": 0.45, "collective": 0.2}
    assert sc.params.lock_in == frozenset({"P044"}) and sc.params.envelope_eur == 3_000_000
    assert sc.params.check_alternatives  # the file describes the decision, not the live panel's shortcut
    # the decision rule, δ and the thresholds are recorded
    assert (sc.decision_rule, sc.params.rule, sc.ranking_variant) == ("merit_order", "merit_order", "skip")
    assert (sc.params.min_score, sc.params.tie_band_points) == (55.0, 0.25)
    assert sc.params.min_criterion == (("impact", 2.5), ("openness", 2.5))
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "ditp-scenario/2" and data["decision_rule"] == "merit_order"
    assert data["params"]["min_criterion"] == {"impact": 2.5, "openness": 2.5} and data["params"]["tie_band_points"] == 0.25
    assert panel.scenario_choice.value == str(path)
    panel.unlock("P044")
    with panel.batch():
        panel.set_weights(openness=0.3)
        panel.min_score_text.value = 50.0
        panel.tie_band_text.value = 0.5
        panel.rule_choice.value = ("ranking", "stop")
    panel.load(path)
    assert panel.weight_sliders["openness"].value == 0.45
    assert (panel.min_score_text.value, panel.tie_band_text.value) == (55.0, 0.25)
    assert panel.rule_choice.value == ("merit_order", "skip")
    assert [x.split(" · ")[0] for x in panel.lock_in_tags.value] == ["P044"]
    pd.testing.assert_frame_equal(panel.funded_table(), saved)
    assert "chargé" in panel.scenario_message.value


def test_save_needs_a_name(panel):
    with pytest.raises(ValueError, match="nom"):
        panel.save("  ")
    panel._guard(lambda: panel.save(""))  # the button path: shown, not raised
    assert "donner un nom" in panel.scenario_message.value


def test_reference_from_a_saved_scenario(panel, base):
    f30, f55 = (expected_ids(base, {"impact": 0.5, "openness": o, "collective": 0.2}) for o in (0.3, 0.55))
    assert set(f30) != set(f55)  # premise, from allocate()
    panel.weight_sliders["openness"].value = 0.55
    path = panel.save("ouverture 0,55")
    panel.weight_sliders["openness"].value = 0.3
    panel.set_reference(path)
    assert panel.reference.name == "ouverture 0,55"
    assert panel.reference_changes_text == f"{change_line(f55, f30)} : ouverture 0,55 → 0,30"
    assert "Depuis la référence « ouverture 0,55 »" in shown(panel.changes_html)


def test_compare_scenarios_pure(base):
    low = low_fundable(base)
    a = compute_outcome(base, PanelState(base.weights, LIVE), "A")
    wb = base.weights.replace(openness=0.45)
    b = compute_outcome(base.with_weights(wb), PanelState(wb, replace(LIVE, lock_in=frozenset({low}))), "B")
    cmp = compare_scenarios(a, b)
    fa, fb = set(a.funded_ids), set(b.funded_ids)
    assert set(cmp["application_id"]) == fa | fb
    assert set(cmp.loc[cmp["change"] == "a_only", "application_id"]) == fa - fb
    assert set(cmp.loc[cmp["change"] == "b_only", "application_id"]) == fb - fa
    assert list(cmp["change"]) == sorted(cmp["change"], key={"a_only": 0, "b_only": 1, "both": 2}.get)
    row = cmp.set_index("application_id").loc[low]
    assert not row["funded_a"] and row["funded_b"] and row["award_a"] == 0 and row["award_diff"] == row["award_b"] > 0
    sa = base.table.set_index("application_id")["score"]
    sb = base.with_weights(wb).table.set_index("application_id")["score"]
    assert row["score_diff"] == pytest.approx(sb[low] - sa[low])
    assert cmp["award_diff"].dtype == "int64"
    assert (cmp["award_diff"] == cmp["award_b"] - cmp["award_a"]).all()
    fr = comparison_frame_fr(cmp, "A", "B")
    p44 = fr.set_index("Dossier").loc[low]
    assert p44["Situation"] == "financé dans « B » seulement" and p44["Montant (A)"] == "—" and EUR.match(p44["Montant (B)"])
    assert p44["Écart de montant"].startswith("+")


def test_compare_in_the_panel(panel, base):
    f30, f55 = (set(expected_ids(base, {"impact": 0.5, "openness": o, "collective": 0.2})) for o in (0.3, 0.55))
    panel.weight_sliders["openness"].value = 0.55
    a = panel.save("A ouverture")
    panel.weight_sliders["openness"].value = 0.3
    b = panel.save("B appel")
    cmp = panel.compare(str(a), str(b))
    assert set(cmp.loc[cmp["change"] != "both", "application_id"]) == f30 ^ f55
    only_a = sorted(f55 - f30)[0]
    assert only_a in panel.compare_html.value and "financé dans « A ouverture » seulement" in panel.compare_html.value
    cmp2 = panel.compare("__reference__", "__current__")
    assert (cmp2["change"] == "both").all()


def test_scenario_slug():
    assert w.scenario_slug("Séance du 12/10 — ouverture") == "seance-du-12-10-ouverture"
    assert w.scenario_slug("«»") == ""


# --------------------------------------------------------------------------- charts in the panel


def test_charts_are_drawn_and_redrawn_only_when_their_data_change(inputs, tmp_path):
    p = CommitteePanel(inputs, scenario_dir=tmp_path)
    for name, img in p.chart_images.items():
        assert img.format == "svg+xml" and bytes(img.value).startswith(b"<?xml"), name
    assert "Montants attribués par région" in bytes(p.chart_images["region"].value).decode("utf-8")
    ev = evaluate(inputs)
    # Collective 0.20 -> 0.30 changes the funded set and the amounts by region; 0.30 -> 0.35 keeps the same set.
    c30, c35 = (set(expected_ids(ev, {"impact": 0.5, "openness": 0.3, "collective": c})) for c in (0.3, 0.35))
    assert c30 == c35 != set(expected_ids(ev, {"impact": 0.5, "openness": 0.3, "collective": 0.2}))  # test data
    p.weight_sliders["collective"].value = 0.3  # the funded set changes
    assert set(p.chart_timings) >= {"region", "score"}
    p.weight_sliders["collective"].value = 0.35  # same funded set: only the score chart changes
    assert set(p.chart_timings) == {"score"}


def test_saved_scenario_keeps_the_ranking_rule_choice(tmp_path):
    """Round trip of the decision rule through a scenario file (the panel reloads what was chosen)."""
    from ditp_model.rules.scenario import Scenario, load_scenario, save_scenario
    from ditp_model.session.widgets import state_from_scenario

    data = Path(__file__).resolve().parents[1] / "data"
    sc = Scenario.from_run("classement", data / "appel_2021.toml", data / "candidatures_exemple.csv",
                           data / "evaluations_exemple.csv", Weights.of(impact=0.5, openness=0.3, collective=0.2),
                           AllocationParams(tie_band_points="auto"), ranking_variant="stop", decision_rule="ranking")
    back = load_scenario(save_scenario(sc, tmp_path / "s.json"))
    assert (back.params, back.weights) == (sc.params, sc.weights)
    state = state_from_scenario(back)
    assert (state.rule, state.ranking_variant, state.params.tie_band_points) == ("ranking", "stop", "auto")


@pytest.mark.parametrize("rule, objective, variant, expected", [
    ("optimum", "total_score", "skip", "max_total_score"),
    ("optimum", "score_weighted_award", "skip", "max_score_weighted_award"),
    ("ranking", "total_score", "stop", "ranking"),
])
def test_a_scenario_of_the_first_format_is_read_as_the_rule_it_named(tmp_path, rule, objective, variant, expected):
    data = Path(__file__).resolve().parents[1] / "data"
    old = {"format": "ditp-scenario/1", "name": "ancien",
           "inputs": {"call": str(data / "appel_2021.toml"), "applications": str(data / "candidatures_exemple.csv"),
                      "reviews": str(data / "evaluations_exemple.csv"), "sha256": {}},
           "weights": {"impact": 0.5, "openness": 0.3, "collective": 0.2}, "normalisation": "reviewer_zscore",
           "params": {"envelope_eur": 3000000, "objective": objective, "lock_in": [], "lock_out": [], "group_rules": []},
           "ranking_variant": variant, "decision_rule": rule}
    path = tmp_path / "ancien.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    sc = load_scenario(path)
    assert (sc.decision_rule, sc.ranking_variant, sc.params.envelope_eur) == (expected, variant, 3_000_000)
    assert sc.params.min_score is None and sc.params.tie_band_points is None  # the call's


def test_a_scenario_whose_rule_contradicts_its_parameters_is_refused(tmp_path):
    from ditp_model.inputs.schema import InputError

    data = Path(__file__).resolve().parents[1] / "data"
    bad = {"format": "ditp-scenario/2", "name": "x",
           "inputs": {"call": str(data / "appel_2021.toml"), "applications": "a.csv", "reviews": "r.csv"},
           "weights": {"impact": 1.0}, "params": {"rule": "ranking"}, "decision_rule": "merit_order"}
    path = tmp_path / "x.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(InputError, match="se contredisent"):
        load_scenario(path)


# --------------------------------------------------------------------------- the envelope field (issue 15)


def test_envelope_typed_the_french_way(panel, base):
    panel.envelope_text.value = "2,5 M€"
    assert panel.last_error is None
    assert panel.current.envelope_eur == 2_500_000 and panel.envelope_slider.value == 2_500_000
    assert panel.envelope_text.value == format_eur(2_500_000)  # shown back the French way: what was understood
    params = replace(LIVE, envelope_eur=2_500_000, award_floor_eur=70_000, award_cap_eur=120_000, min_share=1.0)
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}, params))
    panel.envelope_slider.value = 2_000_000  # the coarse slider writes its amount in the field
    assert panel.envelope_text.value == format_eur(2_000_000) and panel.current.envelope_eur == 2_000_000


@pytest.mark.parametrize("typed, reason", [("-5", "montant négatif"), ("1e9", "notation scientifique"),
                                           ("deux millions", "n'est pas un montant"), ("2 Md€", "au-delà du plafond")])
def test_envelope_refused_visibly_never_clamped(panel, typed, reason):
    before = panel.current
    panel.envelope_text.value = typed
    assert reason in panel.last_error and f"« {typed} »" in panel.last_error
    assert reason in shown(panel.envelope_message) and "ditp-envelope-refused" in panel.envelope_message.value
    assert "Recalcul impossible" in shown(panel.error_html)
    assert panel.current is before and panel.envelope_slider.value == 3_000_000  # nothing moved in silence
    panel.envelope_text.value = "3 000 000 €"  # corrected: the refusal goes away
    assert panel.last_error is None and panel.envelope_message.value == ""


def test_envelope_beyond_the_slider_extends_it(panel, base):
    top = panel.envelope_slider.max
    typed = top + 1_234_567
    panel.envelope_text.value = f"{typed:,}".replace(",", " ")
    assert panel.last_error is None
    assert panel.envelope_slider.max == typed and panel.envelope_slider.value == typed  # extended, not clamped
    assert panel.current.envelope_eur == typed
    t = base.table
    fundable = t[t["eligible"] & t["scored"]]
    # more money than every eligible request: each fundable application above the thresholds gets its capped request
    ok = fundable[~fundable["application_id"].isin(below_thresholds(base))]
    expected = {a: min(int(r), int(c)) for a, r, c in zip(ok["application_id"], ok["requested_eur"], ok["award_cap_eur"])
                if min(int(r), int(c)) >= 70_000}
    assert panel.current.awards == expected


def test_the_red_box_goes_when_the_next_recompute_succeeds(panel, base):
    # trial 2, D2: a refused change, then a *different* valid one — the box said the old result was still shown
    assert not panel.set_weights(impact=0, openness=0, collective=0)
    assert "Recalcul impossible" in panel.error_html.value and "toutes les pondérations sont nulles" in panel.last_error
    assert panel.set_weights(impact=1)
    assert panel.last_error is None and panel.error_html.value == ""
    # and what is shown is the new decision: impact alone, computed independently
    pd.testing.assert_frame_equal(panel.funded_table(), expected_table(base, {"impact": 1.0, "openness": 0.0, "collective": 0.0}))
    panel.envelope_text.value = "-5"
    assert panel.last_error is not None and "négatif" in panel.error_html.value
    panel.envelope_slider.value = 2_500_000
    assert panel.last_error is None and panel.error_html.value == ""
    assert panel.current.state.params.envelope_eur == 2_500_000


def test_a_refused_lock_says_why_as_the_command_line_does(panel, base):
    # trial 2, S1: not eligible -> its motives; awaiting reviews -> the reviews it lacks (the words of `check`)
    from ditp_model.rules.candidates import check

    t = base.table.set_index("application_id")
    for aid in (t.index[~t["eligible"]][0], t.index[t["eligible"] & ~t["scored"]][0]):
        with pytest.raises(ValueError) as panel_exc:
            panel.lock_in(aid)
        with pytest.raises(ValueError) as cli_exc:
            check(base, AllocationParams(lock_in=frozenset({aid})))
        why = (f"non éligible : {t.at[aid, 'reasons']}" if not t.at[aid, "eligible"] else t.at[aid, "score_flag"])
        assert why and f"{aid} ({why})" in str(cli_exc.value)
        assert str(panel_exc.value) == f"dossier {aid} : verrou impossible ({why})"
    # typed in the search box, the same reason beside it
    aid = t.index[~t["eligible"]][0]
    panel.lock_search.value = aid
    panel.lock_in_button.click()
    assert f"verrou impossible (non éligible : {_html.escape(t.at[aid, 'reasons'])})" in panel.lock_message.value
