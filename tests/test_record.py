"""The decision record: sealed manifest, hash-chained journal, and ``verify`` catching each kind of tampering.

One decision is computed once for the module (sample data copied into a temporary folder, no entry gaps)
and published twice into the same folder, so the journal holds two entries and the manifest points to the
second.  Each test works on its own copy of that folder (data and report together), tampers with one thing,
and checks that ``verify`` names it.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tomllib
from pathlib import Path

import pytest

from ditp_model.outputs import record
from ditp_model.outputs import report
from ditp_model.rules import manifest
from ditp_model.cli import main as main_for_tests
from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

WEIGHTS = "impact=0.5,openness=0.3,collective=0.2"


def _params(data: Path, **kw) -> report.ReportParams:
    return report.validate_parameters(call=str(data / RULES_PATH.name), applications=str(data / SAMPLE_APPLICATIONS.name),
                                      reviews=str(data / SAMPLE_REVIEWS.name), weights=WEIGHTS, gaps=False, **kw)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("record")
    data = root / "data"
    data.mkdir()
    for f in (RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS):
        shutil.copy(f, data / f.name)
    run = report.run_report(_params(data))
    files = report.export_files(run)
    record.publish(root / "out", files, run.manifest)
    pub = record.publish(root / "out", files, run.manifest)
    assert pub.entry["seq"] == 2
    return root


@pytest.fixture
def case(template, tmp_path) -> Path:
    dst = tmp_path / "case"
    shutil.copytree(template, dst)
    return dst


def _manifest(case: Path) -> Path:
    return case / "out" / "manifest.json"


def _journal_lines(case: Path) -> list[str]:
    return (case / "out" / "decisions.jsonl").read_text(encoding="utf-8").splitlines()


def _messages(v, kind=None) -> str:
    return "\n".join(d.message for d in v.differences if kind is None or d.kind == kind)


def test_untouched_run_is_identical(case, capsys):
    v = record.verify(_manifest(case))
    assert v.identical, v.text_fr()
    text = v.text_fr()
    assert "Résultat : identique" in text and "journal intègre (entrée n° 2 sur 2" in text
    assert main_for_tests(["verify", str(_manifest(case))]) == 0
    assert "identique" in capsys.readouterr().out


def test_manifest_is_sealed_and_chained(case):
    m = json.loads(_manifest(case).read_text(encoding="utf-8"))
    assert m["manifest_sha256"] == record.manifest_digest(m)
    first, second = (json.loads(x) for x in _journal_lines(case))
    # the entry's own fields are anchored in the manifest (date and folder of the publication)
    assert m["journal"] == {"path": "decisions.jsonl", "seq": 2, "previous_sha256": first["entry_sha256"],
                            "recorded_at": second["recorded_at"], "out_dir": second["out_dir"]}
    assert first["previous_sha256"] == record.GENESIS and second["previous_sha256"] == first["entry_sha256"]
    assert second["manifest_sha256"] == m["manifest_sha256"] and second["decision_sha256"] == m["decision_sha256"]
    # Everything the issue asks the record to hold.
    for key in ("inputs", "input_files", "call_rules", "weights", "parameters", "decision_rule", "seeds", "versions", "solver",
                "objective", "tie_break_rule", "decision_sha256", "decisions"):
        assert key in m, key
    # The rule as resolved: the call's [selection] table, read here from the TOML file itself.
    with open(case / "data" / RULES_PATH.name, "rb") as f:
        selection = tomllib.load(f)["selection"]
    r = m["decision_rule"]
    assert (r["name"], r["tie_band_points"], r["min_score"], r["min_criterion"]) == (
        selection["rule"], selection["tie_band_points"], selection["min_score"], selection["min_criterion"])
    assert m["parameters"]["rule"] is None and second["decision_rule"] == r
    assert {"python", "pandas", "pulp", "highspy"} <= set(m["versions"])
    assert m["solver"]["status"] == "optimal" and m["solver"]["version"]
    assert {r["application_id"] for r in m["decisions"] if r["funded"]} and len(m["decisions"]) == 110
    assert set(m["input_files"]) == {"call", "applications", "reviews"}
    assert m["input_files"]["reviews"]["relative_to_manifest"] == "../data/evaluations_exemple.csv"


def test_changed_score_is_named(case, capsys):
    path = case / "data" / SAMPLE_REVIEWS.name
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    k = next(i for i, r in enumerate(rows) if r[0] == "P011")
    rows[k][2] = "0" if rows[k][2] != "0" else "5"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    v = record.verify(_manifest(case))
    assert not v.identical
    assert {"entrées", "notes"} <= v.kinds
    assert "entrée modifiée (évaluations)" in _messages(v, "entrées") and SAMPLE_REVIEWS.name in _messages(v, "entrées")
    assert "note de P011" in _messages(v, "notes")
    assert main_for_tests(["verify", str(_manifest(case))]) == 1
    out = capsys.readouterr().out
    assert "DIFFÉRENT" in out and "[entrées]" in out and "note de P011" in out


def test_changed_weight_in_manifest_is_named(case):
    m = json.loads(_manifest(case).read_text(encoding="utf-8"))
    m["weights"]["raw"]["impact"] = 0.6
    _manifest(case).write_text(json.dumps(m, ensure_ascii=False, indent=2), encoding="utf-8")
    v = record.verify(_manifest(case))
    assert not v.identical and "manifeste" in v.kinds
    msgs = _messages(v, "manifeste")
    assert "manifeste modifié après sa publication" in msgs
    assert "pondération « impact » : 0.5 au journal, 0.6 dans le manifeste" in msgs
    # Re-computed with the edited weight, the scores change too.
    assert "notes" in v.kinds


def _edit_call(case: Path, old: str, new: str) -> None:
    path = case / "data" / RULES_PATH.name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_changed_band_and_threshold_in_call_are_named(case, capsys):
    _edit_call(case, "tie_band_points = 0.5", "tie_band_points = 2.0")
    _edit_call(case, "min_score = 50.0", "min_score = 55.0")
    v = record.verify(_manifest(case))
    assert not v.identical and {"entrées", "règle"} <= v.kinds
    msgs = _messages(v, "règle")
    assert "bande d'ex aequo δ (points) : 0.5 au manifeste, 2.0 au re-calcul" in msgs
    assert "seuil de qualité sur la note globale : 50.0 au manifeste, 55.0 au re-calcul" in msgs
    assert "règle de décision" not in msgs
    assert main_for_tests(["verify", str(_manifest(case))]) == 1
    assert "[règle] bande d'ex aequo δ (points) : 0.5 au manifeste, 2.0 au re-calcul" in capsys.readouterr().out


def test_replay_uses_the_recorded_rule(case):
    # The call now names another rule: the replay still applies the recorded one, so only the input file differs.
    _edit_call(case, 'rule = "merit_order"', 'rule = "max_total_score"')
    v = record.verify(_manifest(case))
    assert v.kinds == {"entrées"}, v.text_fr()
    assert record.replay_params(json.loads(_manifest(case).read_text(encoding="utf-8"))).rule == "merit_order"


def test_changed_rule_in_manifest_is_named(case):
    m = json.loads(_manifest(case).read_text(encoding="utf-8"))
    m["decision_rule"]["name"] = "max_total_score"
    _manifest(case).write_text(json.dumps(m, ensure_ascii=False, indent=2), encoding="utf-8")
    v = record.verify(_manifest(case))
    assert not v.identical and {"manifeste", "décision"} <= v.kinds
    assert "règle de décision : merit_order au journal, max_total_score dans le manifeste" in _messages(v, "manifeste")
    # Replayed with the edited rule, the decision changes (the optimum funds other applications).
    assert "décision changée" in _messages(v, "décision")


def test_manifest_before_the_rules_replays_its_objective():
    assert manifest.allocation_params_from_manifest({"objective": "total_score"}).rule == "max_total_score"
    assert manifest.allocation_params_from_manifest({"objective": "score_weighted_award"}).rule == "max_score_weighted_award"
    p = manifest.allocation_params_from_manifest({"rule": None, "min_criterion": [["impact", 3.0]], "objective": None})
    assert p.rule is None and p.min_criterion == (("impact", 3.0),)


@pytest.mark.parametrize("decision_rule", ["merit_order", "ranking"])
def test_changed_weight_in_scenario_is_named(tmp_path, decision_rule):
    from ditp_model.rules.scenario import Scenario, save_scenario
    from ditp_model.scoring.aggregate import Weights

    data = tmp_path / "data"
    data.mkdir()
    for f in (RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS):
        shutil.copy(f, data / f.name)
    sc = Scenario.from_run("Séance du 12 octobre", data / RULES_PATH.name, data / SAMPLE_APPLICATIONS.name,
                           data / SAMPLE_REVIEWS.name, Weights.of(impact=0.5, openness=0.3, collective=0.2),
                           report.AllocationParams(), decision_rule=decision_rule)
    path = save_scenario(sc, tmp_path / "seance.json")
    run = report.run_report(report.validate_parameters(scenario=str(path), gaps=False))
    assert run.manifest["scenario"]["name"] == "Séance du 12 octobre"
    record.publish(tmp_path / "out", {}, run.manifest)
    assert record.verify(tmp_path / "out" / "manifest.json").identical
    d = json.loads(path.read_text(encoding="utf-8"))
    d["weights"]["impact"] = 0.6
    path.write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
    v = record.verify(tmp_path / "out" / "manifest.json")
    assert not v.identical
    assert "scénario modifié" in _messages(v, "entrées")
    assert "pondération « impact » : 0.5 au manifeste, 0.6 dans le scénario" in _messages(v, "scénario")
    # Only the weight changed: the rule the scenario names is read the same way as when it was published.
    assert "paramètre « rule »" not in _messages(v, "scénario")
    assert run.manifest["decision_rule"]["name"] == ("ranking" if decision_rule == "ranking" else "merit_order")


def test_edited_journal_line_is_named_and_blocks_publication(case):
    lines = _journal_lines(case)
    e = json.loads(lines[0])
    e["total_awarded_eur"] += 1000
    lines[0] = json.dumps(e, ensure_ascii=False)
    (case / "out" / "decisions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    v = record.verify(_manifest(case), rerun=False)
    assert not v.identical and v.kinds == {"journal"}
    assert "ligne 1 (entrée n° 1) modifiée" in _messages(v)
    before = {p.name: p.read_bytes() for p in (case / "out").iterdir() if p.is_file()}
    with pytest.raises(record.JournalError, match="altéré"):
        record.publish(case / "out", {"rapport.html": b"<html></html>"}, json.loads(_manifest(case).read_text()))
    assert {p.name: p.read_bytes() for p in (case / "out").iterdir() if p.is_file()} == before


def test_rewritten_line_with_recomputed_hash_breaks_the_chain(case):
    lines = _journal_lines(case)
    e = json.loads(lines[0])
    e["weights"]["raw"]["impact"] = 0.9
    body = {k: v for k, v in e.items() if k != "entry_sha256"}
    import hashlib

    e["entry_sha256"] = hashlib.sha256(record.canonical_bytes(body)).hexdigest()
    lines[0] = json.dumps(e, ensure_ascii=False)
    (case / "out" / "decisions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    v = record.verify(_manifest(case), rerun=False)
    assert not v.identical
    msgs = _messages(v, "journal")
    assert "ligne 2 (entrée n° 2) : chaînage rompu" in msgs and "ligne 1" not in msgs


def test_truncated_journal_is_named(case):
    lines = _journal_lines(case)
    (case / "out" / "decisions.jsonl").write_text(lines[0] + "\n", encoding="utf-8")
    v = record.verify(_manifest(case), rerun=False)
    assert "journal tronqué : le manifeste renvoie à l'entrée n° 2, le journal n'en contient que 1" in _messages(v, "journal")
    # Cut in the middle of the last line.
    raw = (case / "out" / "decisions.jsonl").read_bytes()
    (case / "out" / "decisions.jsonl").write_bytes(raw + lines[1].encode()[:200])
    v = record.verify(_manifest(case), rerun=False)
    assert "dernière ligne incomplète (ligne 2)" in _messages(v, "journal")


def test_deleted_first_entry_is_named(case):
    lines = _journal_lines(case)
    (case / "out" / "decisions.jsonl").write_text(lines[1] + "\n", encoding="utf-8")
    msgs = _messages(record.verify(_manifest(case), rerun=False), "journal")
    assert "ligne 1 (entrée n° 2) : chaînage rompu" in msgs and "entrée numérotée 2 au lieu de 1" in msgs


def test_version_change_is_named(case, monkeypatch):
    real = manifest.environment_versions
    monkeypatch.setattr(manifest, "environment_versions", lambda: {**real(), "pandas": "0.0.1"})
    v = record.verify(_manifest(case), rerun=False)
    assert v.kinds == {"versions"}
    assert "version de pandas : " in _messages(v) and "0.0.1 aujourd'hui" in _messages(v)


def test_edited_published_file_and_decision_list_are_named(case):
    with open(case / "out" / "allocation.csv", "a", encoding="utf-8") as fh:
        fh.write("P999,ajout\n")
    m = json.loads(_manifest(case).read_text(encoding="utf-8"))
    row = next(r for r in m["decisions"] if r["funded"])
    row["award_eur"] += 1000
    _manifest(case).write_text(json.dumps(m, ensure_ascii=False, indent=2), encoding="utf-8")
    v = record.verify(_manifest(case))
    assert "fichier publié modifié depuis la publication : allocation.csv" in _messages(v, "fichiers")
    msgs = _messages(v, "manifeste")
    assert "la liste des décisions du manifeste ne correspond pas à son empreinte de décision" in msgs
    # The re-computation names the application whose recorded award was edited.
    assert f"{row['application_id']} : financé" in _messages(v, "décision")


def test_allocate_manifest_is_verifiable(tmp_path, capsys):
    from ditp_model.cli import main

    code = main(["allocate", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews",
                 str(SAMPLE_REVIEWS), "--weights", WEIGHTS, "--no-gaps", "--provisoire", "--out", str(tmp_path)])
    assert code == 0
    capsys.readouterr()
    v = record.verify(tmp_path / "manifest.json")
    assert v.identical, v.text_fr()
    assert any("ditp-model allocate" in n for n in v.notes)


def test_read_journal_on_missing_and_empty_files(tmp_path):
    state = record.read_journal(tmp_path / "absent.jsonl")
    assert state.intact and state.entries == () and state.head == record.GENESIS
    (tmp_path / "j.jsonl").write_bytes(b"")
    assert record.read_journal(tmp_path / "j.jsonl").intact
    (tmp_path / "j.jsonl").write_bytes(b"pas du json\n")
    state = record.read_journal(tmp_path / "j.jsonl")
    assert not state.intact and "ligne 1 illisible" in state.problems[0]


def test_verify_unreadable_manifest_exit_2(tmp_path, capsys):
    (tmp_path / "m.json").write_text("{pas du json", encoding="utf-8")
    assert main_for_tests(["verify", str(tmp_path / "m.json")]) == 2
    assert "manifeste illisible" in capsys.readouterr().err


def test_publishing_over_a_truncated_journal_is_refused(case):
    """Deleting the journal's last lines must not let the next report take their place unnoticed."""
    journal = case / "out" / "decisions.jsonl"
    record.check_published_against_journal(case / "out", record.check_journal(journal))  # untouched: accepted
    lines = _journal_lines(case)
    journal.write_text(lines[0] + "\n", encoding="utf-8")
    state = record.check_journal(journal)  # what remains is a consistent chain...
    with pytest.raises(record.JournalError, match="tronqué.*entrée n° 2, le journal n'en compte que 1"):
        record.check_published_against_journal(case / "out", state)  # ...but the published report is entry 2


def test_the_count_of_differences_counts_the_unlisted_ones():
    # 12 score lines, 3 decision lines and one input line: 10 scores are listed, the other 2 counted on one line.
    diffs = ([record.Difference("entrées", "entrée modifiée")]
             + [record.Difference("notes", f"note de A{k}") for k in range(10)]
             + [record.Difference("notes", "… et 2 autre(s) écart(s) du même type, plus petits", 2)]
             + [record.Difference("décision", f"D{k}") for k in range(3)])
    v = record.Verification("m.json", False, tuple(diffs), (), "")
    head = v.text_fr().splitlines()[1]
    assert head == "Résultat : DIFFÉRENT — 16 écarts (14 listés, les autres comptés par type) :"
