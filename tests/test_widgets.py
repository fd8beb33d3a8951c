"""The committee panel without a browser: callbacks driven by setting widget values, as the front end does.

Every expectation is computed independently with ``evaluate`` / ``allocate`` / ``ranking_rule``
for the normalised weights, never read back from the panel.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from dataclasses import replace

import pandas as pd
import pytest

from ditp_model import Weights, evaluate
from ditp_model.allocation import AllocationParams, GroupRule, allocate, ranking_rule
from ditp_model.notebook import sample_inputs
from ditp_model.scenario import load_scenario
from ditp_model import widgets as w
from ditp_model.widgets import CommitteePanel, PanelState, compare_scenarios, comparison_frame_fr, compute_outcome

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


def test_initial_table_is_the_optimum(panel, base):
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}))
    assert panel.reference.name == "état initial"
    assert panel.last_error is None


def test_repr_is_short_and_french(panel):
    assert repr(panel) == "CommitteePanel(31 lauréats, 2\u202f996\u202f070\u00a0€ attribués)"


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
    assert "Ouverture 0,45 (39 %)" in panel.used_html.value  # the "values used" line
    assert 'data-weights="impact=0.5,openness=0.45,collective=0.2"' in panel.table_html.value
    assert "0,45 → <b>39 %</b>" in panel._value_labels["w:openness"].value  # beside the slider
    panel.weight_sliders["openness"].value = 0.45  # same value again: nothing to do
    assert panel.solve_count == before + 1


def test_several_changes_in_a_batch_solve_once(panel, base):
    before = panel.solve_count
    assert panel.set_weights(impact=0.3, openness=0.5, collective=0.2)
    assert panel.solve_count == before + 1
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.3, "openness": 0.5, "collective": 0.2}))


def test_what_changed_line(panel):
    assert panel.changes_text == "premier calcul de la séance"
    panel.weight_sliders["openness"].value = 0.45
    assert panel.changes_text == "P008 entre, P018 sort : ouverture 0,30 → 0,45"
    panel.weight_sliders["openness"].value = 0.5
    assert panel.changes_text == "aucun dossier n'entre ni ne sort : ouverture 0,45 → 0,50"
    assert panel.reference_changes_text == "P008 entre, P018 sort : ouverture 0,30 → 0,50"
    assert "P008 entre, P018 sort : ouverture 0,30 → 0,50" in panel.changes_html.value
    assert "nouveau" not in panel.table_html.value  # P008 entered one state earlier
    panel.weight_sliders["openness"].value = 0.3
    assert panel.changes_text == "P018 entre, P008 sort : ouverture 0,50 → 0,30"
    assert 'class="ditp-new"' in panel.table_html.value


def test_envelope_floor_cap_and_min_share(panel, base):
    panel.envelope_slider.value = 2_000_000
    params = replace(LIVE, envelope_eur=2_000_000, award_floor_eur=70_000, award_cap_eur=120_000, min_share=1.0)
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}, params))
    assert "enveloppe 3\u202f000\u202f000\u00a0€ → 2\u202f000\u202f000\u00a0€" in panel.changes_text
    panel.envelope_text.value = 2_500_000  # the exact-amount box moves the slider
    assert panel.envelope_slider.value == 2_500_000 and panel.current.envelope_eur == 2_500_000
    with panel.batch():
        panel.cap_slider.value = 100_000
        panel.min_share_slider.value = 0.9
    params = replace(params, envelope_eur=2_500_000, award_cap_eur=100_000, min_share=0.9)
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}, params))
    assert "plafond 120\u202f000\u00a0€ → 100\u202f000\u00a0€" in panel.changes_text
    assert "part minimale de la demande 100 % → 90 %" in panel.changes_text
    assert panel.busy_html.value == ""


def test_totals(panel):
    t = w.totals(panel.current)
    f = panel.funded_table()
    assert t == {"n_funded": len(f), "awarded_eur": int(f["award_eur"].sum()),
                 "unspent_eur": 3_000_000 - int(f["award_eur"].sum()), "available_eur": 3_000_000}
    assert all(isinstance(v, int) for v in t.values())
    assert "2\u202f996\u202f070\u00a0€" in panel.totals_html.value and "3\u202f930\u00a0€" in panel.totals_html.value


def test_funded_table_is_french(panel):
    fr = w.funded_table_fr(panel.current)
    assert list(fr.columns) == ["Rang", "Dossier", "Intitulé", "Porteur", "Région", "Note", "Montant attribué"]
    assert all(EUR.match(x) for x in fr["Montant attribué"])
    assert all(re.fullmatch(r"\d{2},\d{2}", x) for x in fr["Note"])


# --------------------------------------------------------------------------- locks, rules, objective


def test_lock_in_and_out(panel, base):
    assert panel.lock_in("P044")
    assert "P044" in panel.current.funded_ids
    assert "P044 imposé" in panel.changes_text and "P044" in panel.changes_text.split(":")[0]
    params = replace(LIVE, envelope_eur=3_000_000, award_floor_eur=70_000, award_cap_eur=120_000, min_share=1.0,
                     lock_in=frozenset({"P044"}))
    check_same(panel.funded_table(), expected_table(base, {"impact": 0.5, "openness": 0.3, "collective": 0.2}, params))
    assert panel.lock_out("P011")
    assert "P011" not in panel.current.funded_ids and "P011 exclu" in panel.changes_text
    assert panel.unlock("P044", "P011")
    assert panel.current.state.params.lock_in == frozenset() == panel.current.state.params.lock_out
    assert "verrou levé sur P011" in panel.changes_text


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

    monkeypatch.setattr(w, "compute_outcome", boom)
    with caplog.at_level(logging.ERROR, logger="ditp_model.widgets"):
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


def test_ranking_rule_and_objective_choice(panel, base):
    panel.rule_choice.value = ("ranking", None)
    params = replace(LIVE, envelope_eur=3_000_000, award_floor_eur=70_000, award_cap_eur=120_000, min_share=1.0)
    rr = ranking_rule(base, params)
    assert panel.current.funded_ids == rr.funded_ids
    assert panel.current.awarded_eur == rr.total_awarded_eur
    assert "décision : optimum : somme des notes des lauréats → règle du classement" in panel.changes_text
    panel.rule_choice.value = ("optimum", "score_weighted_award")
    expected = allocate(base, replace(params, objective="score_weighted_award"))
    assert panel.current.funded_ids == sorted(expected.funded_ids, key=lambda a: int(base.table.set_index("application_id").at[a, "rank"]))


# --------------------------------------------------------------------------- scenarios


def test_save_and_load_a_scenario(panel, tmp_path):
    panel.weight_sliders["openness"].value = 0.45
    panel.lock_in("P044")
    saved = panel.funded_table()
    path = panel.save("Ouverture renforcée — séance 1")
    assert path == tmp_path / "scenarios" / "ouverture-renforcee-seance-1.json"
    sc = load_scenario(path)
    assert sc.name == "Ouverture renforcée — séance 1"
    assert sc.weights.as_dict() == {"impact": 0.5, "openness": 0.45, "collective": 0.2}
    assert sc.params.lock_in == frozenset({"P044"}) and sc.params.envelope_eur == 3_000_000
    assert sc.params.check_alternatives  # the file describes the decision, not the live panel's shortcut
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == "ditp-scenario/1"
    assert panel.scenario_choice.value == str(path)
    panel.unlock("P044")
    panel.set_weights(openness=0.3)
    panel.load(path)
    assert panel.weight_sliders["openness"].value == 0.45
    assert [x.split(" · ")[0] for x in panel.lock_in_tags.value] == ["P044"]
    pd.testing.assert_frame_equal(panel.funded_table(), saved)
    assert "chargé" in panel.scenario_message.value


def test_save_needs_a_name(panel):
    with pytest.raises(ValueError, match="nom"):
        panel.save("  ")
    panel._guard(lambda: panel.save(""))  # the button path: shown, not raised
    assert "donner un nom" in panel.scenario_message.value


def test_reference_from_a_saved_scenario(panel):
    panel.weight_sliders["openness"].value = 0.45
    path = panel.save("ouverture 0,45")
    panel.weight_sliders["openness"].value = 0.3
    panel.set_reference(path)
    assert panel.reference.name == "ouverture 0,45"
    assert panel.reference_changes_text == "P018 entre, P008 sort : ouverture 0,45 → 0,30"
    assert "Depuis la référence « ouverture 0,45 »" in panel.changes_html.value


def test_compare_scenarios_pure(base):
    a = compute_outcome(base, PanelState(base.weights, LIVE), "A")
    wb = base.weights.replace(openness=0.45)
    b = compute_outcome(base.with_weights(wb), PanelState(wb, replace(LIVE, lock_in=frozenset({"P044"}))), "B")
    cmp = compare_scenarios(a, b)
    fa, fb = set(a.funded_ids), set(b.funded_ids)
    assert set(cmp["application_id"]) == fa | fb
    assert set(cmp.loc[cmp["change"] == "a_only", "application_id"]) == fa - fb
    assert set(cmp.loc[cmp["change"] == "b_only", "application_id"]) == fb - fa
    assert list(cmp["change"]) == sorted(cmp["change"], key={"a_only": 0, "b_only": 1, "both": 2}.get)
    row = cmp.set_index("application_id").loc["P044"]
    assert not row["funded_a"] and row["funded_b"] and row["award_a"] == 0 and row["award_diff"] == row["award_b"] > 0
    sa = base.table.set_index("application_id")["score"]
    sb = base.with_weights(wb).table.set_index("application_id")["score"]
    assert row["score_diff"] == pytest.approx(sb["P044"] - sa["P044"])
    assert cmp["award_diff"].dtype == "int64"
    assert (cmp["award_diff"] == cmp["award_b"] - cmp["award_a"]).all()
    fr = comparison_frame_fr(cmp, "A", "B")
    p44 = fr.set_index("Dossier").loc["P044"]
    assert p44["Situation"] == "financé dans « B » seulement" and p44["Montant (A)"] == "—" and EUR.match(p44["Montant (B)"])
    assert p44["Écart de montant"].startswith("+")


def test_compare_in_the_panel(panel):
    panel.weight_sliders["openness"].value = 0.45
    a = panel.save("A ouverture")
    panel.weight_sliders["openness"].value = 0.3
    b = panel.save("B appel")
    cmp = panel.compare(str(a), str(b))
    assert set(cmp.loc[cmp["change"] != "both", "application_id"]) == {"P008", "P018"}
    assert "P008" in panel.compare_html.value and "financé dans « A ouverture » seulement" in panel.compare_html.value
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
    p.weight_sliders["openness"].value = 0.35  # same funded set: only the score chart changes
    assert set(p.chart_timings) == {"score"}
    p.weight_sliders["openness"].value = 0.45  # P008 enters, P018 leaves
    assert set(p.chart_timings) >= {"region", "score"}


def test_saved_scenario_keeps_the_ranking_rule_choice(tmp_path):
    """Round trip of the decision rule through a scenario file (the panel reloads what was chosen)."""
    from ditp_model.scenario import Scenario, load_scenario, save_scenario
    from ditp_model.widgets import state_from_scenario

    data = Path(__file__).resolve().parents[1] / "data"
    sc = Scenario.from_run("classement", data / "appel_2021.toml", data / "candidatures_exemple.csv",
                           data / "evaluations_exemple.csv", Weights.of(impact=0.5, openness=0.3, collective=0.2),
                           AllocationParams(), ranking_variant="stop", decision_rule="ranking")
    back = load_scenario(save_scenario(sc, tmp_path / "s.json"))
    state = state_from_scenario(back)
    assert (state.rule, state.ranking_variant) == ("ranking", "stop")
