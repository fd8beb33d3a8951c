"""Due process in the committee panel (issue 13, item 8), tested without ipywidgets except the last test.

Conflicts of interest given to the panel, applications « en attente d'évaluation » and the banner « Décision
provisoire », the reserve list with the amount each would receive, and a written reason for every lock.
Expected values come from the input files read with ``csv`` / ``tomllib``, from hand reasoning (a best-case
score above every ranked score is ranked first; nothing can be funded from an empty envelope), or from a
second method (the amount an application of the reserve list would receive = its award when the committee
imposes it, a separate decision).
"""

from __future__ import annotations

import csv
import tomllib
from collections import Counter

import pytest

from ditp_model import evaluate
from ditp_model.french import format_eur
from ditp_model.inputs.io import load_inputs
from ditp_model.inputs.schema import InputError
from ditp_model.rules.allocation import AllocationParams
from ditp_model.session import due_process as dp
from ditp_model.session import views
from ditp_model.session.controls import state_from_controls
from ditp_model.session.state import PanelState, compute_outcome

from helpers import DATA, RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

CONFLICTS = DATA / "conflits_exemple.csv"
LIVE = AllocationParams(check_alternatives=False)
CALL = tomllib.loads(RULES_PATH.read_text(encoding="utf-8"))


def _declarations() -> list[dict]:
    with open(CONFLICTS, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _reviews_after_exclusion() -> tuple[Counter, dict]:
    """Valid reviews per application once the declared conflicts are left out, and the file line of each excluded review."""
    declared = {(d["person_id"], d["application_id"]) for d in _declarations()}
    counts, excluded = Counter(), {}
    with open(SAMPLE_REVIEWS, encoding="utf-8", newline="") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):
            key = (r["reviewer_id"], r["application_id"])
            if key in declared:
                excluded[key] = line
            else:
                counts[r["application_id"]] += 1
    return counts, excluded


@pytest.fixture(scope="module")
def inputs():
    return dp.attach_conflicts(load_inputs(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS), CONFLICTS)


@pytest.fixture(scope="module")
def ev(inputs):
    return evaluate(inputs)


@pytest.fixture(scope="module")
def outcome(ev):
    return compute_outcome(ev, PanelState(ev.weights, LIVE))


# --------------------------------------------------------------------------- conflicts of interest


def test_declarations_file_given_to_the_panel(inputs, ev):
    assert len(inputs.files) == 4 and list(inputs.files)[-1] == str(CONFLICTS)
    _, excluded = _reviews_after_exclusion()
    assert excluded  # the sample declarations leave reviews out
    t = dp.conflicts_table_fr(ev)
    decl = _declarations()
    assert list(t["Dossier"]) == [d["application_id"] for d in decl]
    assert list(t["Personne"]) == [d["person_id"] for d in decl]
    assert list(t["Lien déclaré"]) == [d["nature"] for d in decl]
    for d, effect in zip(decl, t["Effet"]):
        key = (d["person_id"], d["application_id"])
        if key in excluded:
            assert effect == f"avis écarté (ligne {excluded[key]} du fichier des évaluations), compté comme manquant"
        elif d["role"] in ("membre", "member"):
            assert effect.startswith("pondérations non utilisées")
        else:
            assert effect.startswith("n'a pas évalué ce dossier")
    # The excluded reviews are absent from the reviews the scores use.
    used = set(zip(ev.reviews["reviewer_id"], ev.reviews["application_id"]))
    assert not used & set(excluded)
    assert "ditp-conflicts" in views.conflicts_html(ev)


def test_no_declaration_is_said(inputs):
    plain = evaluate(load_inputs(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS))
    assert dp.conflicts_table_fr(plain).empty
    assert "Aucune déclaration de conflit d'intérêts" in views.conflicts_html(plain)


def test_declaration_naming_an_unknown_reviewer_is_refused_in_french(tmp_path):
    bad = tmp_path / "conflits.csv"
    bad.write_text("person_id,application_id,nature,role,declared_on\nR99,P027,Lien familial,évaluateur,08/11/2021\n",
                   encoding="utf-8")
    with pytest.raises(InputError) as exc:
        dp.attach_conflicts(load_inputs(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS), bad)
    msg = str(exc.value)
    assert "conflits.csv" in msg and "R99" in msg and "ligne 2" in msg


# --------------------------------------------------------------------------- held applications, provisional decision


def test_held_applications_with_reviews_missing(outcome):
    counts, _ = _reviews_after_exclusion()
    minimum = CALL["scoring"]["min_reviews"]
    t = outcome.evaluation.table
    eligible = set(t.loc[t["eligible"], "application_id"])
    expected = {a: counts.get(a, 0) for a in t["application_id"] if a in eligible and counts.get(a, 0) < minimum}
    assert expected  # P047 (no review) and P072 (one)
    h = dp.held_table_fr(outcome)
    assert dict(zip(h["Dossier"], h["Avis valables"])) == {a: f"{n} sur {minimum}" for a, n in expected.items()}
    assert dict(zip(h["Dossier"], h["Avis manquants"])) == {a: minimum - n for a, n in expected.items()}


def test_held_application_above_every_score_makes_the_decision_provisional(outcome):
    """A held application whose best case beats every ranked score would be ranked first, and its request fits: within reach."""
    held = outcome.provisional.held
    top = float(outcome.portfolio["score"].max())
    with open(SAMPLE_APPLICATIONS, encoding="utf-8", newline="") as f:
        requested = {r["application_id"]: int(r["requested_eur"]) for r in csv.DictReader(f)}
    sure = [a for a, s in zip(held["application_id"], held["best_case_score"])
            if s > top and requested[a] <= outcome.available_eur]
    assert sure
    assert set(sure) <= set(outcome.provisional.within_reach) and outcome.is_provisional
    banner = dp.provisional_banner_fr(outcome)
    assert banner.startswith("Décision provisoire : ") and all(a in banner for a in outcome.provisional.within_reach)
    page = views.provisional_banner_html(outcome)
    assert "Décision provisoire" in page and f'data-held="{",".join(outcome.provisional.within_reach)}"' in page


def test_empty_envelope_is_not_provisional(ev):
    """Nothing can be funded from 0 €: a held application cannot enter, whatever its reviews; no banner."""
    out = compute_outcome(ev, PanelState(ev.weights, AllocationParams(envelope_eur=0, check_alternatives=False)))
    assert out.n_funded == 0
    assert len(out.provisional.held) and not out.is_provisional
    assert dp.provisional_banner_fr(out) == "" and views.provisional_banner_html(out) == ""
    assert set(dp.held_table_fr(out)["Effet"]) == {"ne serait pas financé même ainsi"}


# --------------------------------------------------------------------------- reserve list


def test_reserve_list_in_rank_order_with_the_amount_if_funded(ev, outcome):
    size = CALL["selection"]["reserve_list_size"]
    p = outcome.portfolio
    waiting = p[~p["funded"] & p["fundable"]].sort_values("rank")
    expected = list(waiting["application_id"])[:size]
    r = dp.reserve_table_fr(outcome)
    assert list(r["Dossier"]) == expected and list(r["Position"]) == list(range(1, len(expected) + 1))
    assert list(r["Rang"]) == list(waiting["rank"])[:size]
    # Second method: the amount shown is the award the same rule gives the first of the list when the committee imposes it.
    first = expected[0]
    forced = compute_outcome(ev, PanelState(ev.weights, AllocationParams(lock_in=frozenset({first}),
                                                                         lock_reasons={first: "essai"},
                                                                         check_alternatives=False)))
    assert r["Montant si financé"].iloc[0] == format_eur(forced.awards[first])
    assert "ditp-reserve" in views.reserve_html(outcome)


def test_excluded_application_leaves_the_reserve_list(ev, outcome):
    first, second = outcome.reserve[:2]
    out = compute_outcome(ev, PanelState(ev.weights, AllocationParams(lock_out=frozenset({first}), check_alternatives=False)))
    assert first not in out.reserve and out.reserve[0] == second


# --------------------------------------------------------------------------- reasons for locks


def _state(ev, lock_in=(), lock_out=(), reasons=None, envelope=None):
    f = ev.rules.funding
    return state_from_controls(LIVE, weights=ev.weights.as_dict(), rule=("merit_order", "skip"),
                               envelope_eur=f.envelope_eur if envelope is None else envelope,
                               award_floor_eur=f.award_floor_eur, award_cap_eur=f.award_cap_eur, min_share=f.min_share,
                               lock_in=lock_in, lock_out=lock_out, min_score=0.0, tie_band=0.0, lock_reasons=reasons)


def test_state_carries_the_reasons_of_its_locks_only(ev):
    s = _state(ev, lock_in=["P014"], lock_out=["P098"], reasons={"P014": "  Seul projet ultramarin  ", "P098": "   ",
                                                                   "P011": "pas verrouillé"})
    assert s.lock_reasons == {"P014": "Seul projet ultramarin"}
    t = dp.lock_reasons_table_fr(s)
    assert t.values.tolist() == [["P014", "imposé", "Seul projet ultramarin"], ["P098", "exclu", dp.NO_REASON_FR]]


def test_lock_without_reason_refuses_a_final_publication(ev):
    out = compute_outcome(ev, _state(ev, lock_out=["P011"], envelope=0))
    assert not out.is_provisional  # empty envelope: the only refusal is the missing reason
    refusals = dp.final_publication_refusals(out)
    assert len(refusals) == 1 and refusals[0].startswith("verrou sans motif : P011")
    with pytest.raises(ValueError, match="décision définitive refusée : verrou sans motif : P011"):
        dp.check_final_publication(out)
    page = views.lock_reasons_html(out)
    assert '<td class="ditp-no-reason">motif à écrire</td>' in page and "Décision définitive impossible" in page
    written = compute_outcome(ev, _state(ev, lock_out=["P011"], reasons={"P011": "Financé par ailleurs"}, envelope=0))
    assert dp.final_publication_refusals(written) == []
    dp.check_final_publication(written)  # no reason missing, not provisional: allowed
    assert "ditp-no-reason" not in views.lock_reasons_html(written)


def test_provisional_decision_refuses_a_final_publication(outcome):
    refusals = dp.final_publication_refusals(outcome)
    assert refusals and refusals[0].startswith("décision provisoire : ")


# --------------------------------------------------------------------------- the panel (ipywidgets)


def test_panel_asks_for_the_reason_beside_the_lock():
    pytest.importorskip("ipywidgets")
    from ditp_model.session.widgets import CommitteePanel

    panel = CommitteePanel(load_inputs(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS), conflicts=CONFLICTS, charts=False)
    assert "Décision provisoire" in panel.provisional_html.value
    assert "ditp-conflicts" in panel.conflicts_html.value and "ditp-reserve" in panel.reserve_html.value
    # The search box, the reason typed beside it, then « Imposer ».
    panel.lock_search.value = "P014"
    panel.lock_reason_text.value = "Seul projet ultramarin"
    panel.lock_in_button.click()
    assert panel.last_error is None and panel.current.state.lock_reasons == {"P014": "Seul projet ultramarin"}
    assert panel.lock_reason_text.value == ""  # ready for the next lock
    # A lock without a reason: a field beside it, shown « motif à écrire », then written there.
    assert panel.lock_out("P098")
    assert "P098" in panel.lock_reason_texts and panel.lock_reason_texts["P098"].placeholder == dp.NO_REASON_FR
    assert '<td class="ditp-no-reason">motif à écrire</td>' in panel.locks_html.value
    panel.lock_reason_texts["P098"].value = "Financé par ailleurs"
    assert panel.current.state.lock_reasons == {"P014": "Seul projet ultramarin", "P098": "Financé par ailleurs"}
    assert "ditp-no-reason" not in panel.locks_html.value
    # A scenario of the panel keeps the reasons, and applying it restores them.
    state = panel.current.state
    panel.unlock("P014", "P098")
    assert panel.current.state.lock_reasons == {}
    panel.apply_state(state)
    assert panel.current.state.lock_reasons == {"P014": "Seul projet ultramarin", "P098": "Financé par ailleurs"}
    assert [row.children[1].value for row in panel.lock_reasons_box.children] == ["Seul projet ultramarin",
                                                                                  "Financé par ailleurs"]
