"""Lottery governance: the seed is announced before the probabilities are known; one draw per inputs unless a motif.

The rules on journal entries (:mod:`ditp_model.uncertainty.lottery_governance`) are checked on
hand-made entries; the command line on the sample with the review model's fit and the posterior
decisions replaced by a fixed, fast stand-in (the governance runs before and after them, never
inside): a fit that fails when called shows that a refusal happens before any computation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from ditp_model.cli import main
from ditp_model.outputs.record import read_journal
from ditp_model.uncertainty import lottery_governance as lg

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

INPUTS = {"appel.toml": "a" * 64, "candidatures.csv": "b" * 64, "evaluations.csv": "c" * 64}
W = {"impact": 0.5, "openness": 0.3, "collective": 0.2}


def entry(seq, event, **payload):
    return {"seq": seq, "event": event, "entry_sha256": f"{seq:064d}", "recorded_at": f"2026-12-0{seq}T10:00:00+00:00",
            "payload": {"inputs_sha256": INPUTS, "weights": W, **payload}}


def test_seed_from_public_value_is_the_sha256_of_source_and_value():
    source, value = "Loto du 5 décembre 2026, numéros dans l'ordre du tirage", " 7 12 25 33 41 - 3 "
    expected = int(hashlib.sha256("Loto du 5 décembre 2026, numéros dans l'ordre du tirage\n7 12 25 33 41 - 3".encode()).hexdigest()[:16], 16)
    assert lg.seed_from_public_value(source, value) == expected
    assert lg.seed_from_public_value(source, "7 12 25 33 42 - 3") != expected
    with pytest.raises(ValueError, match="valeur publique vide"):
        lg.seed_from_public_value(source, "  ")


def test_no_announcement_the_draw_announces_its_seed():
    c = lg.seed_for_draw([], INPUTS, W, seed=7)
    assert (c.seed, c.announce_first, c.announcement) == (7, True, None)
    with pytest.raises(ValueError, match="--seed : la graine du tirage au sort est obligatoire"):
        lg.seed_for_draw([], INPUTS, W)


def test_the_announced_seed_must_be_used():
    entries = [entry(1, lg.SEED_EVENT, seed=7, public_source=None)]
    c = lg.seed_for_draw(entries, INPUTS, W)
    assert (c.seed, c.announce_first, c.announcement["seq"]) == (7, False, 1)
    assert lg.seed_for_draw(entries, INPUTS, W, seed=7).seed == 7
    with pytest.raises(ValueError, match=r"--seed 8 refusée : la graine annoncée pour ces entrées et pondérations est 7 \(entrée n° 1"):
        lg.seed_for_draw(entries, INPUTS, W, seed=8)


def test_an_announcement_for_other_inputs_or_weights_does_not_count():
    entries = [entry(1, lg.SEED_EVENT, seed=7, public_source=None)]
    other = {**INPUTS, "evaluations.csv": "d" * 64}
    assert lg.seed_for_draw(entries, other, W, seed=8).announce_first
    assert lg.seed_for_draw(entries, INPUTS, {**W, "impact": 0.4}, seed=8).announce_first


def test_probabilities_known_before_any_announcement_refuse_the_draw():
    entries = [entry(1, lg.PROBABILITIES_EVENT)]
    with pytest.raises(ValueError, match="sont déjà connues \\(entrée n° 1 du journal\\)"):
        lg.seed_for_draw(entries, INPUTS, W, seed=7)
    with pytest.raises(ValueError, match="trop tard pour annoncer une graine"):
        lg.check_announcement(entries, INPUTS, W)


def test_an_announcement_after_the_probabilities_is_not_accepted():
    entries = [entry(1, lg.PROBABILITIES_EVENT), entry(2, lg.SEED_EVENT, seed=7, public_source=None)]
    with pytest.raises(ValueError, match="l'a été après le calcul des probabilités"):
        lg.seed_for_draw(entries, INPUTS, W, seed=7)


def test_a_replacement_draw_keeps_the_announced_seed():
    entries = [entry(1, lg.SEED_EVENT, seed=7, public_source=None), entry(2, lg.DRAW_EVENT, seed=7)]
    assert lg.seed_for_draw(entries, INPUTS, W).seed == 7
    with pytest.raises(ValueError, match="refusée"):
        lg.seed_for_draw(entries, INPUTS, W, seed=9)


def test_a_seed_cannot_be_announced_twice():
    entries = [entry(1, lg.SEED_EVENT, seed=7, public_source=None)]
    with pytest.raises(ValueError, match="déjà annoncée .* graine 7\\) : elle ne peut plus changer"):
        lg.check_announcement(entries, INPUTS, W)
    lg.check_announcement([], INPUTS, W)  # nothing recorded: accepted


def test_public_source():
    source = "Loto du 5 décembre 2026"
    entries = [entry(1, lg.SEED_EVENT, seed=None, public_source=source)]
    with pytest.raises(ValueError, match="indiquer sa valeur avec --valeur-publique"):
        lg.seed_for_draw(entries, INPUTS, W, seed=3)
    c = lg.seed_for_draw(entries, INPUTS, W, public_value="1 2 3 4 5")
    assert c.seed == lg.seed_from_public_value(source, "1 2 3 4 5") and c.record()["public_value"] == "1 2 3 4 5"
    with pytest.raises(ValueError, match="--valeur-publique : aucune source publique annoncée"):
        lg.seed_for_draw([], INPUTS, W, public_value="1 2 3")
    with pytest.raises(ValueError, match="est un nombre \\(7\\), pas une source publique"):
        lg.seed_for_draw([entry(1, lg.SEED_EVENT, seed=7, public_source=None)], INPUTS, W, public_value="1")


def test_draws_elsewhere_match_the_inputs_whatever_the_weights():
    j = {"autre/decisions.jsonl": [entry(1, lg.SEED_EVENT, seed=7, public_source=None), entry(2, lg.DRAW_EVENT, seed=7)]}
    found = lg.draws_elsewhere(j, INPUTS)
    assert [(p, e["seq"]) for p, e in found] == [("autre/decisions.jsonl", 2)]
    assert lg.draws_elsewhere(j, {**INPUTS, "candidatures.csv": "e" * 64}) == []


# --------------------------------------------------------------------------- the command line, with a stand-in fit


@pytest.fixture
def fast_lottery(monkeypatch):
    """Replace the review model's fit and the posterior decisions; count the fits (``calls``)."""
    from ditp_model.rules.allocation import AllocationParams, check
    from ditp_model.scoring import review_model
    from ditp_model.uncertainty import grey_zone

    calls = []

    def fit(votes, seed=None, num_samples=None, **kw):
        calls.append(votes.journal)
        # the seed must already be in the journal when the fit starts (recorded before the probabilities are known)
        if votes.journal.exists():
            calls.append([e["event"] for e in read_journal(votes.journal).entries])
        return SimpleNamespace(converged=True, r_hat=1.0, from_cache=False, seconds=0.0,
                               convergence_fr=lambda: "R̂ max 1,000 ; taille effective min 4 000")

    def funding(ev, post, params=None, *, n_draws=None, grey_zone=(0.1, 0.9), **kw):
        fast = replace(params or AllocationParams(), check_alternatives=False)
        ids = check(ev, fast).table["application_id"].tolist()  # rank order
        zone = ["funded"] * 18 + ["grey"] * 8 + ["not_funded"] * (len(ids) - 26)
        table = pd.DataFrame({"rank": range(1, len(ids) + 1), "application_id": ids, "zone": zone,
                              "p_funded": [1.0] * 18 + [0.5] * 8 + [0.0] * (len(ids) - 26), "rule": "merit_order"})
        return grey_zone_mod.PosteriorFunding(table, tuple(grey_zone), 10, {"seed": 0}, 0.0, fast, "merit_order")

    grey_zone_mod = grey_zone
    state = {}

    def votes(ev):
        return SimpleNamespace(proposals=[], assessors=[], table=[], journal=state["journal"])

    monkeypatch.setattr(review_model, "fit_review_model", fit)
    monkeypatch.setattr(review_model, "votes_from_reviews", votes)
    monkeypatch.setattr(grey_zone, "posterior_funding", funding)
    return SimpleNamespace(calls=calls, state=state)


def run(fast, out, *extra):
    fast.state["journal"] = Path(out) / "decisions.jsonl"
    argv = ["lottery", "--call", str(DATA / "appel_2021.toml"), "--applications", str(DATA / "candidatures_exemple.csv"),
            "--reviews", str(DATA / "evaluations_exemple.csv"), "--weights", "impact=0.5,openness=0.3,collective=0.2",
            "--out", str(out), "--no-cache", *extra]  # the fit is replaced: nothing to cache
    if "--sans-provisoire" in argv:  # the sample's decision is provisional (P047, P072 held): allowed unless a test says so
        argv.remove("--sans-provisoire")
    else:
        argv.append("--provisoire")
    try:
        return main(argv)
    except SystemExit as e:  # argparse
        return e.code


def events(out):
    state = read_journal(Path(out) / "decisions.jsonl")
    assert state.intact
    return [e["event"] for e in state.entries], state.entries


def test_announce_then_draw_with_the_announced_seed(fast_lottery, tmp_path, capsys):
    out = tmp_path / "tirage"
    assert run(fast_lottery, out, "--annoncer-graine", "77") == 0
    assert "Annoncé au journal" in capsys.readouterr().out
    ev, entries = events(out)
    assert ev == ["graine_annoncee"] and entries[0]["payload"]["seed"] == 77
    assert sorted(p.name for p in out.iterdir()) == ["decisions.jsonl"] and not fast_lottery.calls  # nothing computed
    # another seed is refused before anything is computed
    before = (out / "decisions.jsonl").read_bytes()
    assert run(fast_lottery, out, "--seed", "5") == 2
    assert "--seed 5 refusée : la graine annoncée pour ces entrées et pondérations est 77" in capsys.readouterr().err
    assert (out / "decisions.jsonl").read_bytes() == before and not fast_lottery.calls
    # the draw without --seed uses the announced one
    assert run(fast_lottery, out) == 0
    ev, entries = events(out)
    assert ev == ["graine_annoncee", "tirage_au_sort"]
    draw = entries[1]["payload"]
    assert draw["seed"] == 77 and draw["seed_announcement"]["seq"] == 1
    assert draw["seed_announcement"]["entry_sha256"] == entries[0]["entry_sha256"]
    assert json.loads((out / "tirage_au_sort.json").read_text(encoding="utf-8")) == draw
    # a second announcement is refused
    assert run(fast_lottery, out, "--annoncer-graine", "78") == 2
    assert "trop tard pour annoncer une graine" in capsys.readouterr().err


def test_a_draw_without_announcement_announces_its_seed_before_the_fit(fast_lottery, tmp_path):
    out = tmp_path / "tirage"
    assert run(fast_lottery, out, "--seed", "5") == 0
    ev, entries = events(out)
    assert ev == ["graine_annoncee", "tirage_au_sort"]
    assert fast_lottery.calls[-1] == ["graine_annoncee"]  # the journal held the announcement when the fit ran
    assert entries[1]["payload"]["seed_announcement"]["announced_by_this_draw"] is True


def test_probabilities_first_forbid_choosing_a_seed_afterwards(fast_lottery, tmp_path, capsys):
    out = tmp_path / "tirage"
    assert run(fast_lottery, out, "--no-draw") == 0
    ev, entries = events(out)
    assert ev == ["probabilites_calculees"]
    assert entries[0]["payload"]["probabilities_sha256"] == hashlib.sha256((out / "probabilites_financement.csv").read_bytes()).hexdigest()
    n_fits = len(fast_lottery.calls)
    assert run(fast_lottery, out, "--seed", "5") == 2
    assert "sont déjà connues (entrée n° 1 du journal)" in capsys.readouterr().err
    assert run(fast_lottery, out, "--annoncer-graine", "5") == 2
    assert "trop tard pour annoncer une graine" in capsys.readouterr().err
    assert events(out)[0] == ["probabilites_calculees"] and len(fast_lottery.calls) == n_fits


def test_public_value_seed(fast_lottery, tmp_path, capsys):
    out = tmp_path / "tirage"
    source = "Loto du 5 décembre 2026, numéros dans l'ordre du tirage"
    assert run(fast_lottery, out, "--annoncer-source-publique", source) == 0
    assert run(fast_lottery, out, "--seed", "5") == 2
    assert "--valeur-publique" in capsys.readouterr().err
    assert run(fast_lottery, out, "--valeur-publique", "4 8 15 16 23 - 7") == 0
    draw = events(out)[1][1]["payload"]
    assert draw["seed"] == lg.seed_from_public_value(source, "4 8 15 16 23 - 7")
    assert draw["seed_announcement"]["public_source"] == source


def test_a_second_draw_needs_a_motif(fast_lottery, tmp_path, capsys):
    out = tmp_path / "tirage"
    assert run(fast_lottery, out, "--seed", "5") == 0
    before = (out / "decisions.jsonl").read_bytes()
    assert run(fast_lottery, out) == 2
    assert "contient déjà un tirage au sort" in capsys.readouterr().err
    assert run(fast_lottery, out, "--replace-draw") == 2
    assert "qu'avec un motif écrit (--motif" in capsys.readouterr().err
    assert run(fast_lottery, out, "--motif", "   ") == 2
    assert (out / "decisions.jsonl").read_bytes() == before
    assert run(fast_lottery, out, "--motif", "enveloppe corrigée par le comité", "--envelope", "2 900 000") == 0
    ev, entries = events(out)
    assert ev == ["graine_annoncee", "tirage_au_sort", "tirage_au_sort"]
    p = entries[2]["payload"]
    assert p["motif"] == "enveloppe corrigée par le comité" and p["replaces_entry"] == 2 and p["seed"] == 5


def test_a_draw_in_another_journal_blocks_a_new_folder(fast_lottery, tmp_path, capsys):
    first = tmp_path / "premier"
    assert run(fast_lottery, first, "--seed", "5") == 0
    other = tmp_path / "second"
    prior = str(first / "decisions.jsonl")
    assert run(fast_lottery, other, "--seed", "6", "--journal-precedent", prior) == 2
    err = capsys.readouterr().err
    assert "ont déjà un tirage au sort dans le journal" in err and "entrée n° 2, graine 5" in err
    assert not other.exists() or not any(other.iterdir())
    # with a motif the draw is made, with the seed of the draw it replaces (never another one)
    assert run(fast_lottery, other, "--seed", "6", "--journal-precedent", prior, "--motif", "dossier déplacé") == 2
    assert "avait la graine 5, que le nouveau tirage reprend" in capsys.readouterr().err
    assert run(fast_lottery, other, "--journal-precedent", prior, "--motif", "dossier déplacé") == 0
    ev, entries = events(other)
    assert ev == ["graine_annoncee", "tirage_au_sort"]
    p = entries[-1]["payload"]
    assert p["motif"] == "dossier déplacé" and p["replaces"][0]["seq"] == 2 and p["replaces"][0]["journal"] == prior
    assert p["seed"] == 5
    assert run(fast_lottery, tmp_path / "x", "--seed", "5", "--journal-precedent", str(tmp_path / "absent.jsonl")) == 2
    assert "fichier introuvable" in capsys.readouterr().err


def test_record_lottery_refuses_a_seed_other_than_the_announced_one(tmp_path):
    """Through the Python API too (a notebook calling record_lottery): the journal's announced seed wins."""
    from ditp_model.outputs.record import record_lottery, record_seed_announcement

    journal = tmp_path / "decisions.jsonl"
    record_seed_announcement(journal, {"inputs_sha256": INPUTS, "weights": W, "seed": 7, "public_source": None})
    before = journal.read_bytes()
    draw = SimpleNamespace(seed=8, record={"inputs_sha256": INPUTS, "weights": W, "seed": 8, "order": []})
    with pytest.raises(ValueError, match="la graine annoncée au journal pour ces entrées et pondérations est 7"):
        record_lottery(draw, journal)
    assert journal.read_bytes() == before
    other = SimpleNamespace(seed=8, record={"inputs_sha256": {**INPUTS, "evaluations.csv": "f" * 64}, "weights": W, "seed": 8})
    assert record_lottery(other, journal)["seq"] == 2  # other inputs: no announcement applies
    ok = SimpleNamespace(seed=7, record={"inputs_sha256": INPUTS, "weights": W, "seed": 7})
    assert record_lottery(ok, journal)["payload"]["seed"] == 7


# --------------------------------------------------------------------------- a draw on a provisional decision (trial 2, D4)


def test_a_draw_on_a_provisional_decision_is_refused_like_allocate(fast_lottery, tmp_path, capsys):
    """The sample's decision is provisional: P047 (no review) and P072 (one review, two required) could enter.

    Without --provisoire, ``lottery`` refuses with allocate's code and message, before the seed is announced and
    before the fit: nothing is written, not even the journal.
    """
    out = tmp_path / "tirage"
    assert run(fast_lottery, out, "--seed", "5", "--sans-provisoire") == 6
    err = capsys.readouterr().err
    assert not fast_lottery.calls  # refused before the fit
    assert not out.exists() or not any(out.iterdir())
    assert err.startswith("Aucune décision publiée : la décision serait provisoire.")
    assert "P047 : en attente d'évaluation, 0 avis valable sur 2 requis" in err
    assert "P072 : en attente d'évaluation, 1 avis valable sur 2 requis" in err
    assert "--provisoire" in err
    # the very message allocate prints on the same inputs
    alloc = tmp_path / "allocation"
    code = main(["allocate", "--call", str(DATA / "appel_2021.toml"), "--applications", str(DATA / "candidatures_exemple.csv"),
                 "--reviews", str(DATA / "evaluations_exemple.csv"), "--weights", "impact=0.5,openness=0.3,collective=0.2",
                 "--out", str(alloc), "--no-gaps"])
    assert code == 6 and capsys.readouterr().err == err


def test_a_draw_with_provisoire_records_it(fast_lottery, tmp_path, capsys):
    out = tmp_path / "tirage"
    assert run(fast_lottery, out, "--seed", "5") == 0  # run() adds --provisoire
    printed = capsys.readouterr().out
    assert "DÉCISION PROVISOIRE" in printed and "Tirage au sort sur une décision provisoire" in printed
    ev, entries = events(out)
    assert ev == ["graine_annoncee", "tirage_au_sort"]
    draw = entries[1]["payload"]
    assert draw["provisional"] is True
    held = {h["application_id"]: h for h in draw["held"]}
    assert set(held) == {"P047", "P072"} and all(h["within_reach"] for h in held.values())
    assert (held["P047"]["n_reviews"], held["P047"]["reviews_missing"]) == (0, 2)
    assert (held["P072"]["n_reviews"], held["P072"]["reviews_missing"]) == (1, 1)
    assert json.loads((out / "tirage_au_sort.json").read_text(encoding="utf-8"))["provisional"] is True


def test_probabilities_alone_are_not_a_decision_but_say_it_is_provisional(fast_lottery, tmp_path):
    out = tmp_path / "tirage"
    assert run(fast_lottery, out, "--no-draw", "--sans-provisoire") == 0
    ev, entries = events(out)
    assert ev == ["probabilites_calculees"] and entries[0]["payload"]["provisional"] is True
    assert {h["application_id"] for h in entries[0]["payload"]["held"]} == {"P047", "P072"}
