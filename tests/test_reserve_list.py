"""Main list and reserve list (« liste complémentaire »): hand cases, the call's length rule, the sample, the French table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from allocation_cases import Project, base_rules, make_evaluation
from ditp_model.inputs.call import Selection, load_call_rules
from ditp_model.inputs.schema import InputError
from ditp_model.rules.allocation import AllocationParams, allocate, ranking_rule
from ditp_model.rules.manifest import build_manifest, decision_table
from ditp_model.rules.reserve_list import LIST_LABELS_FR, reserve_ids, reserve_list_table

ROOT = Path(__file__).resolve().parents[1]
RULES_PATH = ROOT / "data" / "appel_2021.toml"


def rules_for(envelope: int, size):
    return base_rules().with_funding(envelope_eur=envelope).model_copy(
        update={"selection": Selection(reserve_list_size=size)})


#: Envelope 300 000 €, δ = 0.  By hand, in rank order: A 120 k (180 k left), B 100 k (80 k left), C 120 k does not fit
#: (passed over), D 70 k (10 k left), E 90 k and F 80 k do not fit.  Main list: A, B, D.  Unfunded fundable, in rank
#: order: C, E, F.  X is not eligible, Y not scored, Z excluded by the committee: never on any list.
HAND = [Project("A", 90, 120_000), Project("B", 85, 100_000), Project("C", 80, 120_000), Project("D", 75, 70_000),
        Project("E", 70, 90_000), Project("F", 65, 80_000), Project("X", 95, 90_000, eligible=False),
        Project("Y", None, 90_000), Project("Z", 60, 80_000)]


def hand_table(size, params=None):
    ev = make_evaluation(HAND, rules_for(300_000, size))
    params = params or AllocationParams(lock_out=frozenset({"Z"}))
    alloc = allocate(ev, params)
    return decision_table(ev, alloc, ranking_rule(ev, params), None).set_index("application_id"), alloc, ev


@pytest.mark.parametrize("size, reserve", [(10, ["C", "E", "F"]), ("all", ["C", "E", "F"]), (2, ["C", "E"]), (0, [])])
def test_hand_case_lists(size, reserve):
    t, alloc, _ = hand_table(size)
    assert sorted(t.index[t["funded"]]) == ["A", "B", "D"]
    assert reserve_ids(alloc, size) == reserve
    expected_list = {a: "main" for a in "ABD"} | {a: "reserve" for a in reserve}
    for a in t.index:
        assert t.at[a, "list"] == expected_list.get(a, "none"), a
        if a in reserve:
            assert t.at[a, "reserve_rank"] == reserve.index(a) + 1
        else:
            assert pd.isna(t.at[a, "reserve_rank"])


def test_a_passed_over_application_keeps_its_rank_on_the_reserve_list():
    """C (rank 3) did not fit when its turn came; it heads the reserve list, before E and F ranked below it."""
    t, _, _ = hand_table(10)
    assert t.at["C", "reserve_rank"] == 1 and t.at["C", "rank"] < t.at["D", "rank"]


def test_amount_if_freed_is_the_capped_request():
    """A large collective bid is capped at 200 000 €, a plain one at 120 000 €: the reserve table shows the capped request."""
    ps = [Project("A", 90, 120_000), Project("L", 80, 250_000, large=True), Project("M", 70, 130_000)]
    ev = make_evaluation(ps, rules_for(150_000, "all"))
    alloc = allocate(ev)
    table = decision_table(ev, alloc, ranking_rule(ev), None)
    fr = reserve_list_table(table)
    assert fr["Dossier"].tolist() == ["L", "M"]
    assert fr["Montant demandé"].tolist() == ["250\u202f000\xa0€", "130\u202f000\xa0€"]
    assert fr["Montant si financé"].tolist() == ["200\u202f000\xa0€", "120\u202f000\xa0€"]


def test_reserve_list_table_in_french():
    t, _, _ = hand_table(10)
    fr = reserve_list_table(t.reset_index())
    assert list(fr.columns) == ["Position", "Dossier", "Intitulé", "Porteur", "Région", "Note", "Montant demandé",
                                "Montant si financé", "Situation"]
    assert fr["Position"].tolist() == [1, 2, 3] and fr["Dossier"].tolist() == ["C", "E", "F"]
    assert fr["Note"].tolist() == ["80,00", "70,00", "65,00"]
    assert set(fr["Situation"]) == {"en attente"}
    assert LIST_LABELS_FR["reserve"] == "liste complémentaire"


def test_the_ranking_rule_gets_the_same_definition():
    """Under the ranking rule with « stop », D is not funded (the list stops at C): D joins the reserve list, in rank order."""
    t, alloc, _ = hand_table(10, AllocationParams(rule="ranking", ranking_variant="stop", lock_out=frozenset({"Z"})))
    assert sorted(t.index[t["funded"]]) == ["A", "B"]
    assert reserve_ids(alloc, 10) == ["C", "D", "E", "F"]


def test_manifest_records_the_reserve_list():
    t, alloc, ev = hand_table(2)
    m = build_manifest(ev, alloc, t.reset_index())
    assert m["reserve_list"] == {"size": 2, "reserve": ["C", "E"], "waiting": ["C", "E"]}


# --------------------------------------------------------------------------- the call's length rule


def test_shipped_call_declares_ten():
    assert load_call_rules(RULES_PATH).selection.reserve_list_size == 10


@pytest.mark.parametrize("value, expected", [('"all"', "all"), ('"tout"', "all"), ("0", 0), ("25", 25)])
def test_length_values(tmp_path, value, expected):
    text = RULES_PATH.read_text(encoding="utf-8").replace("reserve_list_size = 10", f"reserve_list_size = {value}")
    (tmp_path / "appel.toml").write_text(text, encoding="utf-8")
    assert load_call_rules(tmp_path / "appel.toml").selection.reserve_list_size == expected


@pytest.mark.parametrize("value", ["-1", '"quelques"', "2.5", "true"])
def test_bad_length_names_the_key(tmp_path, value):
    text = RULES_PATH.read_text(encoding="utf-8").replace("reserve_list_size = 10", f"reserve_list_size = {value}")
    (tmp_path / "appel.toml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_call_rules(tmp_path / "appel.toml")
    p = info.value.problems[0]
    assert p.column == "selection.reserve_list_size"
    assert "liste complémentaire" in str(info.value) and "nombre entier positif ou nul" in str(info.value)


# --------------------------------------------------------------------------- the sample


def test_sample_lists(tmp_path):
    """The 10 best-ranked fundable applications not funded, recomputed from the table's own columns."""
    import ditp_model as dm
    from ditp_model.outputs.notebook import sample_inputs

    ev = dm.evaluate(sample_inputs(), dm.Weights.of(impact=0.5, openness=0.3, collective=0.2))
    alloc = allocate(ev)
    t = decision_table(ev, alloc, ranking_rule(ev), None)
    fundable = t[t["eligible"] & t["score"].notna() & (t["not_fundable"] == "") & (t["award_cap_eur"] > 0)]
    waiting = fundable[~fundable["funded"]].sort_values("rank")["application_id"].tolist()[:10]
    assert len(waiting) == 10
    got = t[t["list"] == "reserve"].sort_values("reserve_rank")
    assert got["application_id"].tolist() == waiting
    assert got["reserve_rank"].tolist() == list(range(1, 11))
    assert (t["list"] == "main").sum() == t["funded"].sum() == len(alloc.funded_ids)
    assert set(t.loc[t["list"] == "none", "application_id"]).isdisjoint(waiting + alloc.funded_ids)
    # none is below a quality threshold or funded
    assert (got["not_fundable"] == "").all() and not got["funded"].any()


# --------------------------------------------------------------------------- the letters


def test_letter_of_a_reserve_application():
    from ditp_model.outputs.feedback import feedback_table, reserve_sentence_fr

    t, _, ev = hand_table(10)
    fb = feedback_table(t.reset_index(), ev.rules).set_index("application_id")
    assert reserve_sentence_fr(1, 120_000).startswith("Votre projet est inscrit en 1re position sur la liste complémentaire.")
    e = fb.at["E", "lettre"]
    assert "inscrit sur la liste complémentaire" in e
    assert "Votre projet est inscrit en 2e position sur la liste complémentaire" in e
    assert "financé à hauteur de 90\u202f000\xa0€" in e
    assert "liste complémentaire" not in fb.at["A", "lettre"] and "liste complémentaire" not in fb.at["Z", "lettre"]


def test_allocate_prints_the_reserve_list():
    from ditp_model.cli.allocate import _reserve_line

    _, alloc, ev = hand_table(10)
    assert _reserve_line(ev, alloc) == ("Liste complémentaire (3 dossiers, au plus 10 selon l'appel ; dans l'ordre, montant "
                                        "si financé) : C (120\u202f000\xa0€), E (90\u202f000\xa0€), F (80\u202f000\xa0€).")
    _, alloc, ev = hand_table(0)
    assert _reserve_line(ev, alloc) == "Liste complémentaire : aucun dossier."
