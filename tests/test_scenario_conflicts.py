"""A committee scenario records the declarations of conflicts of interest it was computed with (defect found at
the last stop: ``--conflits`` had to be given again to the report).

The scenario saved from the panel records the declarations file (path relative to the scenario, SHA-256); reading
the scenario's inputs reads the declarations (the conflicted review is left out); ``report --scenario`` (the replay
path of a scenario) uses them, refuses another declarations file, and refuses — in French, naming the file and what
was recorded — a declarations file that changed or vanished since the scenario was saved.  Expected values come from
the files themselves (SHA-256 of the bytes, reviews counted in the CSV), not from the code under test.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import shutil
from pathlib import Path

import pytest

from ditp_model.cli import main
from ditp_model.inputs.schema import InputError
from ditp_model.rules.allocation import AllocationParams
from ditp_model.rules.scenario import Scenario, load_scenario, save_scenario
from ditp_model.scoring.aggregate import Weights

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
WEIGHTS = Weights((("impact", 0.5), ("openness", 0.3), ("collective", 0.2)))
#: data/conflits_exemple.csv: R09 declared a link with P027 and reviewed it (its review is left out).
REVIEWER, APPLICATION = "R09", "P027"


@pytest.fixture
def saved(tmp_path):
    """The sample's files copied into a data folder, a scenario saved beside it with the declarations."""
    data = tmp_path / "donnees"
    data.mkdir()
    for name in ("appel_2021.toml", "candidatures_exemple.csv", "evaluations_exemple.csv", "conflits_exemple.csv"):
        shutil.copy(DATA / name, data / name)
    sc = Scenario.from_run("Séance du 12 octobre", data / "appel_2021.toml", data / "candidatures_exemple.csv",
                           data / "evaluations_exemple.csv", weights=WEIGHTS, params=AllocationParams(),
                           conflicts=data / "conflits_exemple.csv")
    path = save_scenario(sc, tmp_path / "scenarios" / "seance.json")
    return path, data / "conflits_exemple.csv"


def _reviews_of(application: str) -> list[str]:
    with open(DATA / "evaluations_exemple.csv", encoding="utf-8", newline="") as f:
        return [r["reviewer_id"] for r in csv.DictReader(f) if r["application_id"] == application]


def test_the_scenario_file_records_the_declarations_and_their_sha256(saved):
    path, declarations = saved
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["inputs"]["conflicts"] == "../donnees/conflits_exemple.csv"  # relative to the scenario's folder
    assert data["inputs"]["sha256"]["../donnees/conflits_exemple.csv"] == hashlib.sha256(declarations.read_bytes()).hexdigest()
    sc = load_scenario(path)
    assert Path(sc.conflicts) == declarations.resolve()
    sc.check_inputs(str(path))  # nothing changed: no error
    ev = sc.evaluate()
    expected = _reviews_of(APPLICATION)
    assert REVIEWER in expected
    kept = ev.reviews[ev.reviews["application_id"] == APPLICATION]["reviewer_id"].tolist()
    assert sorted(kept) == sorted(r for r in expected if r != REVIEWER)
    ex = ev.excluded_reviews
    assert (REVIEWER, APPLICATION) in set(zip(ex["reviewer_id"], ex["application_id"]))


def test_a_scenario_without_declarations_reads_as_before(tmp_path):
    sc = Scenario.from_run("sans", DATA / "appel_2021.toml", DATA / "candidatures_exemple.csv", DATA / "evaluations_exemple.csv",
                           weights=WEIGHTS, params=AllocationParams())
    path = save_scenario(sc, tmp_path / "s.json")
    assert "conflicts" not in json.loads(path.read_text(encoding="utf-8"))["inputs"]
    back = load_scenario(path)
    assert back.conflicts is None and back.load_inputs().conflicts is None


def test_changed_or_vanished_declarations_are_refused_in_french(saved):
    path, declarations = saved
    with open(declarations, "a", encoding="utf-8") as f:
        f.write("R04,P011,Ajout après la séance,évaluateur,20/11/2021\n")
    with pytest.raises(InputError) as info:
        load_scenario(path).check_inputs(str(path))
    text = str(info.value)
    assert f"{path}, clé « inputs.conflicts » : valeur « {declarations.resolve()} »" in text
    assert "déclarations de conflits d'intérêts : fichier modifié depuis l'enregistrement du scénario" in text
    declarations.unlink()
    with pytest.raises(InputError, match="déclarations de conflits d'intérêts : fichier introuvable ; le scénario a été "
                                         "enregistré avec ce fichier"):
        load_scenario(path).check_inputs(str(path))


def test_report_replays_the_scenario_with_its_declarations(saved):
    from ditp_model.outputs.report import ReportParameterError, run_report, validate_parameters

    path, declarations = saved
    params = validate_parameters(scenario=str(path), provisional=True)
    assert Path(params.conflicts) == declarations.resolve()
    run = run_report(params)
    assert run.manifest["input_files"]["conflicts"]["sha256"] == hashlib.sha256(declarations.read_bytes()).hexdigest()
    ex = run.evaluation.excluded_reviews
    assert (REVIEWER, APPLICATION) in set(zip(ex["reviewer_id"], ex["application_id"]))
    # the notebook re-validates with the same declarations given again: accepted
    assert Path(validate_parameters(scenario=str(path), conflicts=str(declarations)).conflicts) == declarations.resolve()
    # other declarations than the scenario's are refused
    other = declarations.parent / "autres.csv"
    other.write_text("person_id,application_id,nature,role,declared_on\nR04,P093,Lien,évaluateur,10/11/2021\n", encoding="utf-8")
    with pytest.raises(ReportParameterError, match="le scénario enregistre déjà les déclarations de conflits d'intérêts"):
        validate_parameters(scenario=str(path), conflicts=str(other))


def test_report_cli_refuses_a_scenario_whose_declarations_changed(saved, tmp_path, capsys):
    path, declarations = saved
    declarations.write_text(declarations.read_text(encoding="utf-8").replace("R09,P027", "R09,P028"), encoding="utf-8")
    out = tmp_path / "rapport"
    assert main(["report", "--scenario", str(path), "--provisoire", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "déclarations de conflits d'intérêts : fichier modifié depuis l'enregistrement du scénario" in err
    assert str(declarations.resolve()) in err and "Aucun rapport publié" in err
    assert not (out / "manifest.json").exists()


def test_the_panel_saves_its_declarations_in_the_scenario(tmp_path):
    pytest.importorskip("ipywidgets")
    from ditp_model.inputs.io import load_inputs
    from ditp_model.session.widgets import CommitteePanel

    declarations = tmp_path / "conflits.csv"
    shutil.copy(DATA / "conflits_exemple.csv", declarations)
    inputs = load_inputs(DATA / "appel_2021.toml", DATA / "candidatures_exemple.csv", DATA / "evaluations_exemple.csv")
    panel = CommitteePanel(inputs, conflicts=declarations, charts=False, scenario_dir=tmp_path / "scenarios")
    path = panel.save("Séance avec conflits")
    sc = load_scenario(path)
    assert Path(sc.conflicts) == declarations.resolve()
    assert sc.sha256[sc.conflicts] == hashlib.sha256(declarations.read_bytes()).hexdigest()
    # a session without the declarations says so when it loads the scenario
    bare = CommitteePanel(inputs, charts=False, scenario_dir=tmp_path / "scenarios")
    bare.load(str(path))
    shown = html.unescape(bare.scenario_message.value)
    assert "enregistré avec les déclarations de conflits d'intérêts conflits.csv ; la séance n'en a pas" in shown
    assert "sur d'autres données" not in shown  # the same call, applications and reviews: only the declarations differ
