"""Reasons for every committee choice (issue 13, item 5): ``--lock-in P012="motif"`` or a locks file; a lock
without a reason is refused for a final decision; reasons reach the manifest, the exceptions to merit order,
the procedure annex and the applicant's letter."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS, app_row, write_applications, write_csv, write_reviews

from ditp_model.cli import main
from ditp_model.inputs.locks import merge_locks, parse_lock_item, read_locks
from ditp_model.inputs.schema import InputError
from ditp_model.rules.allocation import AllocationParams
from ditp_model.rules.manifest import allocation_params_from_manifest


#: The « Procédure » sheet's French headers -> procedure_table's columns.
_PROC_FR = {"Rubrique": "rubrique", "Dossier": "application_id", "Personne": "personne", "Ce qui a été fait": "detail", "Motif": "motif"}


def _case(tmp_path):
    """Envelope 200 000 € (two awards), three reviews each: A01 80 points, A02 64, A03 56 (all above 50); no held
    application, so the decision is final.  Imposing A03 passes over A02 (64 > 56 + δ)."""
    text = RULES_PATH.read_text(encoding="utf-8").replace("envelope_eur = 3_000_000", "envelope_eur = 200_000")
    call = tmp_path / "appel.toml"
    call.write_text(text, encoding="utf-8")
    apps = write_applications(tmp_path / "candidatures.csv", [app_row(a) for a in ("A01", "A02", "A03")])
    rows = []
    for a, g in (("A01", 5), ("A02", 4), ("A03", 3.5)):
        rows += [(a, r, g, g, g, g) for r in ("R1", "R2", "R3")]
    revs = write_reviews(tmp_path / "evaluations.csv", rows)
    return ["--call", str(call), "--applications", str(apps), "--reviews", str(revs),
            "--normalisation", "raw_mean"]


@pytest.mark.parametrize("text, expected", [
    ("P012", ("P012", "")),
    ("P012=Seul projet en Corse", ("P012", "Seul projet en Corse")),
    ('P012="Seul projet = unique"', ("P012", "Seul projet = unique")),
    (" P012 = 'raison' ", ("P012", "raison")),
])
def test_parse_lock_item(text, expected):
    assert parse_lock_item(text) == expected


def test_parse_lock_item_refuses_a_blank_id():
    with pytest.raises(ValueError, match="identifiant de dossier manquant"):
        parse_lock_item("=raison")


def test_lock_without_reason_refused_for_a_final_decision(tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["allocate", *_case(tmp_path), "--lock-in", "A03", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "verrou sans motif : A03 (imposé)" in err and "décision définitive" in err
    assert 'A03="motif du comité"' in err
    assert not out.exists()


def test_lock_out_without_reason_refused_too(tmp_path, capsys):
    code = main(["allocate", *_case(tmp_path), "--lock-in", "A03=Seul projet en Corse", "--lock-out", "A02",
                 "--out", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert "verrou sans motif : A02 (exclu)" in err
    # an exclusion is written with --lock-out: the message must not suggest imposing the excluded application
    assert '--lock-out A02="motif du comité"' in err and "--lock-in A02" not in err


def test_lock_without_reason_in_a_locks_file_names_the_file_and_row(tmp_path, capsys):
    # header = row 1; A03 (with its motif) row 2; A02, excluded without motif, row 3
    path = write_csv(tmp_path / "verrous.csv", ["application_id", "decision", "motif"],
                     [["A03", "in", "Seul projet en Corse"], ["A02", "out", ""]])
    out = tmp_path / "r"
    assert main(["allocate", *_case(tmp_path), "--verrous", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"A02 (exclu, fichier {path} ligne 3)" in err
    assert f"remplir la colonne motif du fichier {path} à la ligne 3 (dossier A02)" in err
    assert "--lock-in A02" not in err and not out.exists()


def test_reasons_reach_manifest_exceptions_annex_and_letter(tmp_path, capsys):
    out = tmp_path / "r"
    reason = "Seul projet porté en Corse"
    assert main(["allocate", *_case(tmp_path), "--lock-in", f"A03={reason}", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["parameters"]["lock_reasons"] == {"A03": reason}
    assert m["provisional"] is False
    # Merit order alone funds A01 and A02; A03 imposed passes over A02: the exception carries the committee's reason.
    assert m["decision_rule"]["exceptions"] == [f"A03 financé avant A02 : imposé par le comité : {reason}"]
    assert f"motif : {reason}" in printed
    proc = pd.read_excel(out / "allocation.xlsx", sheet_name="Procédure", dtype=str).fillna("").rename(columns=_PROC_FR)
    assert list(zip(proc["rubrique"], proc["application_id"], proc["motif"])) == [
        ("Verrous du comité", "A03", reason), ("Exceptions à l'ordre de mérite", "A03", f"imposé par le comité : {reason}")]
    # The reasons survive a replay from the manifest.
    params = allocation_params_from_manifest(m["parameters"])
    assert params.lock_reason("A03") == reason and params.missing_lock_reasons() == []
    from ditp_model.outputs.record import verify

    assert verify(out / "manifest.json").identical


def test_letter_quotes_the_reason(tmp_path):
    from ditp_model.inputs.conflicts import load_inputs_with_conflicts
    from ditp_model.outputs.feedback import feedback_table
    from ditp_model.rules.allocation import allocate, ranking_rule
    from ditp_model.rules.manifest import decision_table
    from ditp_model.scoring.pipeline import evaluate

    args = _case(tmp_path)
    ev = evaluate(load_inputs_with_conflicts(args[1], args[3], args[5]), normalisation="raw_mean")
    params = AllocationParams(lock_in=frozenset({"A03"}), lock_out=frozenset({"A01"}),
                              lock_reasons={"A03": "Seul projet en Corse", "A01": "Financé par ailleurs (France 2030)"})
    alloc = allocate(ev, params)
    table = decision_table(ev, alloc, ranking_rule(ev, params), None)
    fb = feedback_table(table, ev.rules, lock_out=params.lock_out, lock_reasons=dict(params.lock_reasons)).set_index("application_id")
    assert "écarté par décision du comité ; motif : Financé par ailleurs (France 2030)." in fb.at["A01", "lettre"]
    assert "Le comité a décidé de retenir ce dossier ; motif : Seul projet en Corse." in fb.at["A03", "lettre"]
    assert "motif" not in fb.at["A02", "lettre"]


def test_lock_without_reason_allowed_in_a_provisional_decision(tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["allocate", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews",
                 str(SAMPLE_REVIEWS), "--lock-out", "P011", "--provisoire", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    proc = pd.read_excel(out / "allocation.xlsx", sheet_name="Procédure", dtype=str).fillna("").rename(columns=_PROC_FR)
    locks = proc[proc["rubrique"] == "Verrous du comité"]
    assert list(zip(locks["application_id"], locks["motif"])) == [("P011", "MOTIF NON RENSEIGNÉ")]


def test_locks_file(tmp_path, capsys):
    path = write_csv(tmp_path / "verrous.csv", ["Dossier", "Verrou", "Motif"],
                     [["A03", "imposé", "Seul projet en Corse"], ["A02", "out", "Projet déjà financé"]], sep=";")
    assert read_locks(path, ["A01", "A02", "A03"]) == (["A03"], ["A02"], {"A03": "Seul projet en Corse",
                                                                          "A02": "Projet déjà financé"})
    out = tmp_path / "r"
    assert main(["allocate", *_case(tmp_path), "--verrous", str(path), "--out", str(out)]) == 0
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["parameters"]["lock_in"] == ["A03"] and m["parameters"]["lock_out"] == ["A02"]
    assert m["parameters"]["lock_reasons"] == {"A02": "Projet déjà financé", "A03": "Seul projet en Corse"}
    assert m["locks_file"]["path"] == str(path) and len(m["locks_file"]["sha256"]) == 64


def test_bad_locks_file_errors_in_french(tmp_path):
    path = write_csv(tmp_path / "verrous.csv", ["application_id", "decision", "motif"],
                     [["A09", "in", "x"], ["A01", "peut-être", "y"], ["A02", "in", ""], ["A02", "out", "z"]])
    with pytest.raises(InputError) as info:
        read_locks(path, ["A01", "A02", "A03"])
    found = {(p.row, p.column, p.value, p.code) for p in info.value.problems}
    assert found == {(2, "application_id", "A09", "unknown_application"), (3, "decision", "peut-être", "bad_category"),
                     (5, "application_id", "A02", "duplicate_lock")}
    assert "verrous.csv, ligne 2, colonne « application_id » : valeur « A09 » — verrou sur un dossier inconnu" in str(info.value)


def test_cli_and_file_locks_that_contradict(tmp_path, capsys):
    path = write_csv(tmp_path / "verrous.csv", ["application_id", "decision", "motif"], [["A03", "out", "x"]])
    code = main(["allocate", *_case(tmp_path), "--lock-in", "A03=y", "--verrous", str(path), "--out", str(tmp_path / "r")])
    assert code == 2
    assert "à la fois imposé(s) et exclu(s) : A03" in capsys.readouterr().err
    with pytest.raises(ValueError, match="deux motifs différents"):
        merge_locks((["A03"], [], {"A03": "a"}), (["A03"], [], {"A03": "b"}))


def test_allocation_params_reasons():
    p = AllocationParams(lock_in=frozenset({"B", "A"}), lock_out=frozenset({"C"}), lock_reasons={"A": "  motif  "})
    assert p.lock_reasons == (("A", "motif"),)
    assert p.missing_lock_reasons() == ["B", "C"]
    with pytest.raises(ValueError, match="motif du verrou sur A vide"):
        AllocationParams(lock_in=frozenset({"A"}), lock_reasons={"A": "  "})


def test_report_carries_reasons_to_manifest_journal_and_letters(tmp_path, capsys):
    """Through the report notebook: the reasons travel as « P044=motif » and reach every output."""
    out = tmp_path / "rapport"
    reason = "Seul projet porté par un laboratoire d'innovation territoriale ultramarin"
    code = main(["report", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews",
                 str(SAMPLE_REVIEWS), "--lock-out", f"P011={reason}", "--no-gaps", "--provisoire", "--out", str(out)])
    said = capsys.readouterr()
    assert code == 0, said.err
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["parameters"]["lock_out"] == ["P011"] and m["parameters"]["lock_reasons"] == {"P011": reason}
    # the console summary says the decision is provisional and names the applications awaiting reviews
    held = ", ".join(h["application_id"] for h in m["held"])
    assert m["provisional"] and f"Décision provisoire : dossiers en attente d'évaluation {held}" in said.out
    entry = json.loads((out / "decisions.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert entry["parameters"]["lock_reasons"] == {"P011": reason}
    letter = (out / "retours" / "P011.md").read_text(encoding="utf-8")
    assert f"écarté par décision du comité ; motif : {reason}." in letter
    proc = pd.read_excel(out / "allocation.xlsx", sheet_name="Procédure", dtype=str).fillna("").rename(columns=_PROC_FR)
    assert ("Verrous du comité", "P011", reason) in set(zip(proc["rubrique"], proc["application_id"], proc["motif"]))


def test_report_refuses_a_provisional_decision_without_provisoire(tmp_path, capsys):
    out = tmp_path / "rapport"
    code = main(["report", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews",
                 str(SAMPLE_REVIEWS), "--no-gaps", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 6 and "Aucun rapport publié : la décision serait provisoire." in err and "P047" in err
    assert not out.exists() or not any(out.iterdir())


def test_report_names_the_locks_file_and_row_like_allocate(tmp_path, capsys):
    """``report`` refuses a final decision whose lock has no motif with the very message of ``allocate``: the
    ``--verrous`` file and the row to fill (header = row 1, A03 row 2, A02 row 3), nothing published."""
    path = write_csv(tmp_path / "verrous.csv", ["application_id", "decision", "motif"],
                     [["A03", "in", "Seul projet en Corse"], ["A02", "out", ""]])
    case = _case(tmp_path)
    assert main(["allocate", *case, "--verrous", str(path), "--out", str(tmp_path / "a")]) == 2
    allocate_err = capsys.readouterr().err
    out = tmp_path / "r"
    assert main(["report", *case, "--verrous", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"A02 (exclu, fichier {path} ligne 3)" in err
    assert f"remplir la colonne motif du fichier {path} à la ligne 3 (dossier A02)" in err
    assert "--lock-in A02" not in err
    # one wording for both commands: the sentence of allocate's refusal is in report's
    core = allocate_err.strip().removeprefix("Erreur : ").removesuffix(". Aucune décision publiée.")
    assert core.startswith("verrou sans motif : A02") and core in err
    assert not (out / "manifest.json").exists() and not (out / "rapport.html").exists()


def test_missing_reasons_message_without_file_row(tmp_path):
    """A lock given on the command line (no row in the file) is named without a row; the remedy is the option."""
    from ditp_model.inputs.locks import missing_reasons_fr

    path = write_csv(tmp_path / "verrous.csv", ["application_id", "decision", "motif"], [["A03", "in", ""]])
    text = missing_reasons_fr(["A01", "A03"], {"A01"}, path)
    assert text.startswith(f"verrou sans motif : A01 (exclu), A03 (imposé, fichier {path} ligne 2) — ")
    assert 'écrire par ex. --lock-out A01="motif du comité"' in text
    # a file that vanished since it was read: no row, no crash
    assert "ligne" not in missing_reasons_fr(["A03"], set(), tmp_path / "absent.csv")
