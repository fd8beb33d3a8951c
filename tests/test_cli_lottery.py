"""``ditp-model lottery``: probabilities, grey zone, a recorded draw; errors leave earlier files in place."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from ditp_model.uncertainty import grey_zone as gz
from ditp_model.cli import main
from ditp_model.inputs.tables import read_output_csv
from ditp_model.outputs.record import read_journal

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
pytestmark = pytest.mark.skipif(importlib.util.find_spec("numpyro") is None,
                                reason="extra « bayes » absent : pip install -e '.[bayes]'")


def gz_sha(path):
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def args(out, *extra):
    return ["lottery", "--call", str(DATA / "appel_2021.toml"), "--applications", str(DATA / "candidatures_exemple.csv"),
            "--reviews", str(DATA / "evaluations_exemple.csv"), "--weights", "impact=0.5,openness=0.3,collective=0.2",
            "--out", str(out), "--mcmc-draws", "600", "--draws", "100",
            "--provisoire", *extra]  # the sample's decision is provisional (P047, P072 held): tests/test_lottery_governance.py


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tirage")
    assert main(args(out, "--seed", "2021")) == 0
    return out


def test_files_and_journal(run, capsys):
    import ditp_model as dm
    from ditp_model.rules.allocation import check
    from ditp_model.outputs.notebook import sample_inputs

    probs = read_output_csv(run / "probabilites_financement.csv")
    # the fundable candidates only (eligible, scored, above the quality thresholds), one row each
    fundable = check(dm.evaluate(sample_inputs(), dm.Weights.of(impact=0.5, openness=0.3, collective=0.2))).table
    assert sorted(probs["application_id"]) == sorted(fundable["application_id"]) and len(probs) < 99
    assert set(probs["zone"]) <= {"funded", "grey", "not_funded"}
    assert probs["p_funded"].between(0, 1).all()
    record = json.loads((run / "tirage_au_sort.json").read_text(encoding="utf-8"))
    assert record["seed"] == 2021 and gz.check_lottery_order(record)
    assert record["weights"] == {"impact": 0.5, "openness": 0.3, "collective": 0.2}
    assert set(record["inputs_sha256"].values()) >= {gz_sha(DATA / "candidatures_exemple.csv"), gz_sha(DATA / "evaluations_exemple.csv")}
    assert record["envelope_eur"] == 3_000_000
    assert sorted(record["grey_zone"]) == sorted(probs.loc[probs["zone"] == "grey", "application_id"])
    assert set(record["winners"]) | set(record["passed"]) == set(record["grey_zone"])
    assert record["awarded_eur"] <= 3_000_000 and sum(record["awards_eur"].values()) == record["awarded_eur"]
    assert set(record["awards_eur"]) == set(record["solid"]) | set(record["winners"])
    # one rule, recorded with the probabilities and the draw (the call's: merit order)
    assert set(probs["rule"]) == {"merit_order"} and record["rule"] == "merit_order"
    state = read_journal(run / "decisions.jsonl")
    # the seed is announced first (before the fit), then the draw records it
    assert state.intact and [e["event"] for e in state.entries] == ["graine_annoncee", "tirage_au_sort"]
    assert state.entries[0]["payload"]["seed"] == 2021 and state.entries[1]["payload"] == record
    assert record["seed_announcement"]["seq"] == 1


def test_the_grey_zone_is_a_band_in_rank_order_and_the_lottery_draws_only_there(run):
    """On the sample: accepted, then lottery, then rejected in expected-rank order; no draw outside the band."""
    probs = read_output_csv(run / "probabilites_financement.csv")
    assert probs["rank"].tolist() == list(range(1, len(probs) + 1))
    assert (probs["er"].diff().dropna() >= 0).all()  # the file is in expected-rank order
    code = "".join({"funded": "F", "grey": "G", "not_funded": "N"}[z] for z in probs["zone"])
    n_f, n_g = code.count("F"), code.count("G")
    assert code == "F" * n_f + "G" * n_g + "N" * (len(code) - n_f - n_g) and n_g > 0
    # head: funded in at least 90 % of the draws; tail: in at most 10 %; the band's ends are neither
    assert (probs.loc[probs["zone"] == "funded", "p_funded"] >= 0.9).all()
    assert (probs.loc[probs["zone"] == "not_funded", "p_funded"] <= 0.1).all()
    grey = probs[probs["zone"] == "grey"]
    assert grey["p_funded"].iloc[0] < 0.9 and grey["p_funded"].iloc[-1] > 0.1
    record = json.loads((run / "tirage_au_sort.json").read_text(encoding="utf-8"))
    band = set(grey["application_id"])
    assert set(record["order"]) == band and set(record["winners"]) <= band
    assert set(record["solid"]) == set(probs.loc[probs["zone"] == "funded", "application_id"])
    outside = set(probs.loc[probs["zone"] == "not_funded", "application_id"])
    assert not outside & set(record["awards_eur"])


def test_another_rule_than_the_recorded_decision_is_refused(run, capsys):
    journal = run / "decisions.jsonl"
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert main(args(run, "--seed", "2021", "--replace-draw", "--motif", "essai", "--rule", "max_total_score")) == 2
    err = capsys.readouterr().err
    assert "la décision que ce tirage complète a été prise selon la règle « ordre de mérite" in err
    assert "--rule merit_order" in err and "tirage au sort du journal, entrée n° 2" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before and journal.exists()


def test_a_bad_input_leaves_the_previous_files(run, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    bad = tmp_path / "evaluations.csv"
    bad.write_text("application_id,reviewer_id,impact_reform,impact_replicability,openness_codesign,openness_methods\n"
                   "P001,R01,9,3,2,2\n", encoding="utf-8")
    a = args(run, "--seed", "1")
    a[a.index("--reviews") + 1] = str(bad)
    assert main(a) == 2
    err = capsys.readouterr().err
    assert "evaluations.csv" in err and "ligne 2" in err and "impact_reform" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


@pytest.mark.parametrize("extra, message", [
    (["--seed", "-1"], "la graine est un nombre entier positif ou nul"),
    (["--seed", "x"], "la graine est un nombre entier"),
    (["--seed", "1", "--grey-zone", "0.9/0.1"], "0 ≤ basse < haute ≤ 1"),
    (["--seed", "1", "--grey-zone", "dix"], "deux probabilités"),
    ([], "--seed : la graine du tirage au sort est obligatoire"),
    (["--seed", "1", "--envelope", "10 000"], "aucun dossier ne tient dans l'enveloppe disponible (10\u202f000\xa0€)"),
])
def test_bad_arguments(tmp_path, capsys, extra, message):
    try:
        code = main(args(tmp_path, *extra))
    except SystemExit as e:  # argparse
        code = e.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_damaged_journal_is_refused_before_anything_is_computed(run, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "tirage_au_sort.json").write_text("{}", encoding="utf-8")
    journal = out / "decisions.jsonl"
    journal.write_bytes((run / "decisions.jsonl").read_bytes().replace(b'"seed":2021', b'"seed":7'))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(args(out, "--seed", "5")) == 4
    assert "journal des décisions altéré" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_second_draw_needs_replace_draw_and_names_the_first(run, tmp_path, capsys):
    journal = run / "decisions.jsonl"
    before = journal.read_bytes()
    assert main(args(run, "--seed", "9")) == 2
    err = capsys.readouterr().err
    assert "contient déjà un tirage au sort" in err and "entrée n° 2, graine 2021" in err and "--replace-draw --motif" in err
    # the same files copied elsewhere are the same inputs
    copied = args(run, "--seed", "9")
    for opt, name in (("--call", "appel_2021.toml"), ("--applications", "candidatures_exemple.csv"),
                      ("--reviews", "evaluations_exemple.csv")):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
        copied[copied.index(opt) + 1] = str(tmp_path / name)
    assert main(copied) == 2
    assert "contient déjà un tirage au sort" in capsys.readouterr().err
    assert journal.read_bytes() == before
    assert main(args(run, "--seed", "9", "--replace-draw", "--motif", "nouvel essai")) == 2  # not the announced seed
    assert "la graine annoncée pour ces entrées et pondérations est 2021" in capsys.readouterr().err
    assert main(args(run, "--replace-draw", "--motif", "nouvel essai")) == 0
    state = read_journal(journal)
    assert state.intact and len(state.entries) == 3
    payload = state.entries[2]["payload"]
    assert payload["replaces_entry"] == 2 and payload["seed"] == 2021 and payload["motif"] == "nouvel essai"
    assert gz.check_lottery_order(state.entries[2])
    assert json.loads((run / "tirage_au_sort.json").read_text(encoding="utf-8")) == payload
