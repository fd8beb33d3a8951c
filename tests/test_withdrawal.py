"""Withdrawals and reductions after the decision: the money goes to the reserve list under the same rule.

Hand cases, a brute force over the reserve list on random small cases and on the sample, the
command line (``desistement``, ``reduction``), and ``verify`` replaying the changes.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
from pathlib import Path

import pandas as pd
import pytest

from allocation_cases import Project, base_rules, make_evaluation, units
from ditp_model.cli import main
from ditp_model.inputs.call import Selection
from ditp_model.outputs.record import canonical_bytes, read_journal, verify
from ditp_model.inputs.tables import read_output_csv
from ditp_model.rules.allocation import AllocationParams, allocate, ranking_rule
from ditp_model.rules.manifest import decision_table
from ditp_model.timeline.withdrawal import Change, replay_changes

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


def rules_for(envelope: int, size="all", band: float = 0.0):
    return base_rules().with_funding(envelope_eur=envelope).model_copy(
        update={"selection": Selection(reserve_list_size=size, tie_band_points=band)})


# Envelope 300 000 €, δ = 0; by hand: A 120 k, B 100 k, D 70 k funded (C 120 k passed over), 10 000 € left.
HAND = [Project("A", 90, 120_000), Project("B", 85, 100_000), Project("C", 80, 120_000), Project("D", 75, 70_000),
        Project("E", 70, 90_000), Project("F", 65, 80_000)]


def decide(projects, envelope, params=None, **kw):
    ev = make_evaluation(projects, rules_for(envelope, **kw))
    params = params or AllocationParams()
    alloc = allocate(ev, params)
    return ev, alloc, decision_table(ev, alloc, ranking_rule(ev, params, params.ranking_variant), None)


def awards(table) -> dict:
    return {a: int(w) for a, f, w in zip(table["application_id"], table["funded"], table["award_eur"]) if f}


def test_hand_withdrawal_funds_the_first_reserve_application_that_fits():
    """B withdraws: 100 000 € freed + 10 000 € left = 110 000 €; C (120 000 €) does not fit, E (90 000 €) does; F
    (80 000 €) no longer fits in the 20 000 € left."""
    ev, alloc, table = decide(HAND, 300_000)
    assert awards(table) == {"A": 120_000, "B": 100_000, "D": 70_000}
    new, up = replay_changes(ev, alloc, table, [Change("desistement", "B", "le porteur renonce")])
    assert awards(new) == {"A": 120_000, "D": 70_000, "E": 90_000}
    s = up.steps[0]
    assert (s.freed_eur, s.offered_eur, s.left_eur) == (100_000, 110_000, 20_000)
    assert s.funded_from_reserve == (("E", 90_000),)
    n = new.set_index("application_id")
    assert n.at["B", "list"] == "withdrawn" and n.at["E", "list"] == "main" and n.at["E", "change"] == "from_reserve"
    assert n.at["C", "list"] == "reserve" and n.at["F", "list"] == "reserve"
    assert n.at["E", "reserve_rank"] == 2  # the published numbering stays
    assert "motif : le porteur renonce" in n.at["B", "change_note"]
    assert table.set_index("application_id").at["B", "funded"]  # the input table is not modified


def test_hand_reduction_frees_exactly_the_difference():
    """A reduced from 120 000 € to 80 000 €: 40 000 € freed, 50 000 € offered, no reserve application fits (floor 70 000 €)."""
    ev, alloc, table = decide(HAND, 300_000)
    new, up = replay_changes(ev, alloc, table, [Change("reduction", "A", "revue budgétaire", 80_000)])
    assert awards(new) == {"A": 80_000, "B": 100_000, "D": 70_000}
    s = up.steps[0]
    assert (s.award_before_eur, s.award_after_eur, s.freed_eur, s.offered_eur, s.left_eur) == (120_000, 80_000, 40_000, 50_000, 50_000)
    assert int(new["award_eur"].sum()) == int(table["award_eur"].sum()) - 40_000


def test_hand_changes_are_cumulative():
    """A reduced to 80 000 € (50 000 € unspent), then D withdraws: 120 000 € offered, C (120 000 €) fits exactly."""
    ev, alloc, table = decide(HAND, 300_000)
    changes = [Change("reduction", "A", "revue budgétaire", 80_000), Change("desistement", "D", "abandon du projet")]
    new, up = replay_changes(ev, alloc, table, changes)
    assert awards(new) == {"A": 80_000, "B": 100_000, "C": 120_000}
    assert up.steps[1].offered_eur == 120_000 and up.steps[1].left_eur == 0
    assert up.waiting == ["E", "F"]


def test_ranking_rule_stop_variant_stops_at_the_first_that_does_not_fit():
    """Ranking rule « stop »: A, B funded (stops at C).  B withdraws: 180 000 € offered; C (120 000 €) is funded, then D
    (70 000 €) does not fit in 60 000 €: stop, E and F are not offered."""
    params = AllocationParams(rule="ranking", ranking_variant="stop")
    ev, alloc, table = decide(HAND, 300_000, params)
    assert awards(table) == {"A": 120_000, "B": 100_000}
    new, _ = replay_changes(ev, alloc, table, [Change("desistement", "B", "renonce")])
    assert awards(new) == {"A": 120_000, "C": 120_000}


def test_the_reserve_list_length_limits_who_is_offered():
    """With a reserve list of 1 (C only), B's withdrawal funds nobody: E is not on the list."""
    ev, alloc, table = decide(HAND, 300_000, size=1)
    new, up = replay_changes(ev, alloc, table, [Change("desistement", "B", "renonce")])
    assert awards(new) == {"A": 120_000, "D": 70_000} and up.steps[0].funded_from_reserve == ()


def test_a_minimum_count_rule_is_met_again_from_the_reserve_list():
    """Rule « at least 1 laureate in Corse »: E (Corse, rank 5) is funded first, then A and D (20 000 € left).  E
    withdraws: 110 000 € offered; the rule funds G first (the best-ranked Corse application waiting, 80 000 €), then
    nothing fits 30 000 €.  Without G, nobody of the group waits: the money goes in merit order, B (100 000 €)."""
    from ditp_model.rules.allocation import GroupRule

    params = AllocationParams(group_rules=(GroupRule("region", "Corse", min_count=1),))
    with_g = HAND[:4] + [Project("E", 70, 90_000, region="Corse"), HAND[5], Project("G", 60, 80_000, region="Corse")]
    ev, alloc, table = decide(with_g, 300_000, params)
    assert awards(table) == {"A": 120_000, "D": 70_000, "E": 90_000}
    new, _ = replay_changes(ev, alloc, table, [Change("desistement", "E", "renonce")])
    assert awards(new) == {"A": 120_000, "D": 70_000, "G": 80_000}
    ev, alloc, table = decide(with_g[:-1], 300_000, params)
    new, _ = replay_changes(ev, alloc, table, [Change("desistement", "E", "renonce")])
    assert awards(new) == {"A": 120_000, "B": 100_000, "D": 70_000}


@pytest.mark.parametrize("change, words", [
    (Change("desistement", "C", "x"), "1re position sur la liste complémentaire"),
    (Change("desistement", "Q", "x"), "dossier inconnu"),
    (Change("reduction", "A", "x", 120_000), "doit être inférieur au montant attribué en vigueur (120\u202f000\xa0€)"),
])
def test_refused_changes(change, words):
    ev, alloc, table = decide(HAND, 300_000)
    with pytest.raises(ValueError) as info:
        replay_changes(ev, alloc, table, [change])
    assert words in str(info.value) and "refusé" in str(info.value)


def test_a_withdrawn_application_cannot_withdraw_again():
    ev, alloc, table = decide(HAND, 300_000)
    with pytest.raises(ValueError, match="il s'est déjà désisté"):
        replay_changes(ev, alloc, table, [Change("desistement", "B", "x"), Change("desistement", "B", "y")])


@pytest.mark.parametrize("motif", ["", "   ", None])
def test_motif_is_mandatory(motif):
    with pytest.raises(ValueError, match="le motif est obligatoire"):
        Change("desistement", "B", motif)


@pytest.mark.parametrize("amount", [0, -5, 1.5, None, True])
def test_reduction_needs_a_whole_positive_amount(amount):
    with pytest.raises(ValueError, match="nombre entier d'euros"):
        Change("reduction", "B", "revue", amount)


# --------------------------------------------------------------------------- brute force


def brute_reserve(projects, envelope: int, band_units: int, laureates: dict, waiting: list[str], u: dict | None = None) -> dict:
    """The reserve applications the rule funds, by enumeration (no package code).

    Laureates are funded first at their awards (their money is never claimable).  A set S of
    waiting applications is valid when it fits the envelope and no waiting j outside S has a
    valid complaint: envelope − laureates − Σ_{k ∈ S, s_k ≥ s_j − δ} u_k ≥ u_j.  Among valid sets,
    the one spending most, then the greatest funded vector in rank order.
    """
    by = {p.id: p for p in projects}
    u = u or {a: min(by[a].requested, 120_000) for a in waiting}
    s = {a: units(by[a].score) for a in waiting}
    base = sum(laureates.values())
    best = None
    for r in range(len(waiting) + 1):
        for combo in itertools.combinations(waiting, r):
            spend = sum(u[a] for a in combo)
            if base + spend > envelope:
                continue
            if any(envelope - base - sum(u[k] for k in combo if s[k] >= s[j] - band_units) >= u[j]
                   for j in waiting if j not in combo):
                continue
            key = (spend, tuple(a in combo for a in waiting))
            if best is None or key > best[0]:
                best = (key, combo)
    assert best is not None
    return {a: u[a] for a in best[1]}


def greedy_reserve(envelope: int, laureates: dict, waiting: list[str], u: dict) -> dict:
    left = envelope - sum(laureates.values())
    got = {}
    for a in waiting:
        if u[a] <= left:
            got[a] = u[a]
            left -= u[a]
    return got


def random_case(rng: random.Random):
    n = rng.randint(5, 9)
    scores = rng.sample(range(5000, 9000), n)
    projects = [Project(f"P{k:02d}", s / 100, rng.randrange(70_000, 121_000, 1_000)) for k, s in enumerate(scores)]
    return projects, rng.randrange(150_000, 500_000, 10_000)


@pytest.mark.parametrize("band", [0.0, 0.5, 4.0])
def test_withdrawal_against_brute_force(band):
    rng = random.Random(1300 + int(band * 10))
    checked = 0
    for _ in range(20):
        projects, envelope = random_case(rng)
        ev, alloc, table = decide(projects, envelope, band=band)
        before = awards(table)
        if not before:
            continue
        gone = rng.choice(sorted(before))
        ranked = sorted(projects, key=lambda p: -p.score)
        waiting = [p.id for p in ranked if p.id not in before]  # reserve list "all", in rank order
        new, _ = replay_changes(ev, alloc, table, [Change("desistement", gone, "renonce")])
        kept = {a: w for a, w in before.items() if a != gone}
        expected = brute_reserve(projects, envelope, units(band), kept, waiting)
        assert awards(new) == {**kept, **expected}, (band, envelope, gone)
        if band == 0.0:  # δ = 0: the first reserve application that fits, then the next that fits…
            u = {p.id: min(p.requested, 120_000) for p in projects}
            assert expected == greedy_reserve(envelope, kept, waiting, u)
        checked += 1
    assert checked >= 15


# --------------------------------------------------------------------------- the sample, the command line, verify


def _sample_args(out):
    return ["allocate", "--call", str(DATA / "appel_2021.toml"), "--applications", str(DATA / "candidatures_exemple.csv"),
            "--reviews", str(DATA / "evaluations_exemple.csv"), "--weights", "impact=0.5,openness=0.3,collective=0.2",
            "--no-gaps", "--provisoire", "--out", str(out)]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    out = tmp_path_factory.mktemp("decision")
    assert main(_sample_args(out)) == 0
    return out


@pytest.fixture
def folder(published, tmp_path):
    out = tmp_path / "decision"
    shutil.copytree(published, out)
    return out


def test_sample_withdrawal_against_brute_force():
    """On the sample (δ = 0.5, reserve list of 10): P011 (rank 1, 113 000 €) withdraws; brute force over the 10 waiting."""
    import ditp_model as dm
    from ditp_model.outputs.notebook import sample_inputs

    ev = dm.evaluate(sample_inputs(), dm.Weights.of(impact=0.5, openness=0.3, collective=0.2))
    alloc = allocate(ev)
    table = decision_table(ev, alloc, ranking_rule(ev), None)
    before = awards(table)
    reserve = table[table["list"] == "reserve"].sort_values("reserve_rank")
    waiting = reserve["application_id"].tolist()
    t = table.set_index("application_id")
    projects = [Project(a, float(t.at[a, "score"]), int(t.at[a, "award_cap_eur"])) for a in waiting]
    for gone in ("P011", "P052", "P098"):
        new, _ = replay_changes(ev, alloc, table, [Change("desistement", gone, "renonce")])
        kept = {a: w for a, w in before.items() if a != gone}
        # capped requests of the sample go up to 200 000 € (large collective bids): the table's cap is the award
        u = {a: int(t.at[a, "award_cap_eur"]) for a in waiting}
        exp = brute_reserve(projects, 3_000_000, units(0.5), kept, waiting, u)
        got = awards(new)
        assert {a: w for a, w in got.items() if a in before} == kept  # no other award changes
        assert {a: w for a, w in got.items() if a not in before} == exp, gone
        # P098's 75 000 € + what the decision leaves unspent fit no reserve application (the cheapest asks more)
        left = 3_000_000 - sum(before.values())
        assert bool(exp) == (t.at[gone, "award_eur"] + left >= min(u.values()))
        assert bool(exp) == (gone != "P098")


def test_cli_withdrawal_then_reduction_verify_identical(folder, capsys):
    m = folder / "manifest.json"
    before = {r["application_id"]: r for r in json.loads(m.read_text(encoding="utf-8"))["decisions"]}
    first_hash = json.loads(m.read_text(encoding="utf-8"))
    assert main(["desistement", "--manifest", str(m), "P011", "--motif", "Courrier du porteur : renonce"]) == 0
    out = capsys.readouterr().out
    assert "Désistement de P011 (motif : Courrier du porteur : renonce) : 113\u202f000\xa0€ libérés" in out
    # By hand from the published decision: P011's 113 000 € + the 290 € left unspent = 113 290 €; the first of the reserve
    # list, P027 (85 000 €), fits; the 28 290 € left fit nobody (every other capped request is 91 000 € or more).
    # (the reserve rank is kept after the change; the 290 € are read from the decision before it)
    table = read_output_csv(folder / "allocation.csv").set_index("application_id")
    reserve = table[table["reserve_rank"].notna()].sort_values("reserve_rank")
    assert 3_000_000 - sum(int(r["award_eur"]) for r in before.values()) == 290
    assert reserve.index[0] == "P027" and reserve.at["P027", "award_cap_eur"] == 85_000
    assert reserve["award_cap_eur"].iloc[1:].min() == 91_000
    assert "P027 (1re de la liste complémentaire, 85\u202f000\xa0€)" in out
    m1 = json.loads(m.read_text(encoding="utf-8"))
    assert m1["withdrawals"] == [{"kind": "desistement", "application_id": "P011", "motif": "Courrier du porteur : renonce",
                                  "amount_eur": None}]
    from ditp_model.outputs.record import manifest_digest

    assert m1["previous_manifest"]["manifest_sha256"] == manifest_digest(first_hash)
    after = {r["application_id"]: r for r in m1["decisions"]}
    changed = {a for a in before if (before[a]["funded"], before[a]["award_eur"]) != (after[a]["funded"], after[a]["award_eur"])}
    assert changed == {"P011", "P027"}
    assert m1["total_awarded_eur"] == sum(r["award_eur"] for r in before.values()) - 113_000 + 85_000
    csv = read_output_csv(folder / "allocation.csv")
    assert csv.set_index("application_id").at["P011", "list"] == "withdrawn"
    res = verify(m)
    assert res.identical, res.text_fr()
    assert main(["reduction", "--manifest", str(m), "P044", "--montant", "80 000", "--motif", "revue budgétaire"]) == 0
    m2 = json.loads(m.read_text(encoding="utf-8"))
    assert m2["total_awarded_eur"] == m1["total_awarded_eur"] - 55_000  # 135 000 → 80 000; nothing fits 28 290 + 55 000 = 83 290 €
    assert len(m2["withdrawals"]) == 2 and m2["previous_manifest"]["manifest_sha256"] == m1["manifest_sha256"]
    state = read_journal(folder / "decisions.jsonl")
    assert state.intact and [e["event"] for e in state.entries] == ["desistement", "reduction"]
    capsys.readouterr()
    assert main(["verify", str(m)]) == 0
    out = capsys.readouterr().out
    assert "identique" in out and "rejoués dans l'ordre : désistement de P011 ; réduction de P044" in out


def test_verify_detects_a_tampered_withdrawal_entry(folder):
    m = folder / "manifest.json"
    assert main(["desistement", "--manifest", str(m), "P011", "--motif", "renonce"]) == 0
    journal = folder / "decisions.jsonl"
    clean = journal.read_bytes()
    # 1. the line edited: its hash no longer matches
    journal.write_bytes(clean.replace(b'"motif":"renonce"', b'"motif":"autre motif"'))
    res = verify(m)
    assert not res.identical and "journal" in res.kinds
    # 2. the line rewritten with a fresh hash: the entry no longer matches the manifest's changes
    e = json.loads(clean.decode("utf-8"))
    e["withdrawals"][0]["application_id"] = "P044"
    e.pop("entry_sha256")
    import hashlib

    e["entry_sha256"] = hashlib.sha256(canonical_bytes(e)).hexdigest()
    journal.write_bytes(canonical_bytes(e) + b"\n")
    res = verify(m)
    assert not res.identical
    assert any(d.kind == "journal" and "désistements et réductions" in d.message for d in res.differences)
    # 3. the manifest's changes edited: its own hash breaks and the replay gives another decision
    journal.write_bytes(clean)
    data = json.loads(m.read_text(encoding="utf-8"))
    data["withdrawals"][0]["application_id"] = "P044"
    m.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    res = verify(m)
    assert not res.identical and {"manifeste", "décision"} <= res.kinds
    assert any("P044 : financé 135\u202f000\xa0€ au manifeste, non financé au re-calcul" in d.message for d in res.differences)


def test_cli_refusals_publish_nothing(folder, capsys):
    m = folder / "manifest.json"
    snapshot = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(SystemExit) as info:
        main(["desistement", "--manifest", str(m), "P011"])
    assert info.value.code == 2 and "--motif" in capsys.readouterr().err
    table = read_output_csv(folder / "allocation.csv")
    first_reserve = table.loc[(table["list"] == "reserve") & (table["reserve_rank"] == 1), "application_id"].item()
    for argv, words in (
        (["desistement", "--manifest", str(m), "P011", "--motif", "  "], "le motif est obligatoire"),
        (["desistement", "--manifest", str(m), first_reserve, "--motif", "x"], "1re position sur la liste complémentaire"),
        (["desistement", "--manifest", str(m), "P001", "--motif", "x"], "n'est pas financé dans la décision en vigueur"),
        (["reduction", "--manifest", str(m), "P011", "--montant", "200000", "--motif", "x"], "doit être inférieur"),
    ):
        assert main(argv) == 2, argv
        assert words in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == snapshot


def test_an_altered_decision_is_not_updated(folder, capsys):
    m = folder / "manifest.json"
    data = json.loads(m.read_text(encoding="utf-8"))
    data["decisions"][0]["award_eur"] += 1
    m.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert main(["desistement", "--manifest", str(m), "P011", "--motif", "x"]) == 1
    assert "Aucune mise à jour publiée" in capsys.readouterr().err
    assert not (folder / "decisions.jsonl").exists()


def test_two_updates_of_the_same_manifest_are_refused(folder, tmp_path, capsys):
    m = folder / "manifest.json"
    other = tmp_path / "maj"
    assert main(["desistement", "--manifest", str(m), "P011", "--motif", "x", "--out", str(other)]) == 0
    assert json.loads(m.read_text(encoding="utf-8")).get("withdrawals") is None  # the original folder is untouched
    assert verify(other / "manifest.json").identical
    assert main(["desistement", "--manifest", str(m), "P044", "--motif", "y", "--out", str(other)]) == 2
    assert "ce manifeste a déjà été mis à jour (entrée n° 1" in capsys.readouterr().err


def test_a_journaled_decision_is_updated_in_its_own_journal(folder, tmp_path, capsys):
    """A manifest sealed in a journal (as ``report`` publishes it): the update goes to the same journal, chained."""
    from ditp_model.outputs.record import publish

    m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    report = tmp_path / "rapport"
    journal = tmp_path / "journal" / "decisions.jsonl"
    pub = publish(report, {"allocation.csv": (folder / "allocation.csv").read_bytes()}, m, journal_path=journal)
    assert verify(report / "manifest.json").identical
    out = tmp_path / "maj"
    assert main(["desistement", "--manifest", str(report / "manifest.json"), "P052", "--motif", "projet abandonné",
                 "--out", str(out)]) == 0
    state = read_journal(journal)
    assert state.intact and [e["event"] for e in state.entries] == ["rapport", "desistement"]
    new = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert new["journal"]["seq"] == 2 and new["journal"]["previous_sha256"] == pub.entry["entry_sha256"]
    assert new["previous_manifest"]["manifest_sha256"] == pub.manifest["manifest_sha256"]
    assert state.entries[1]["withdrawals"] == new["withdrawals"]
    res = verify(out / "manifest.json")
    assert res.identical, res.text_fr()
    assert not (out / "decisions.jsonl").exists()
