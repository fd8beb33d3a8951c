"""After ``desistement`` / ``reduction``, the rebuilt letters and workbook are those of the original decision
(the defects found at the last stop).

* The letters rebuilt with the update explain every application the update did not touch exactly as the
  decision's letters did: the entry gap (« ce qu'il aurait fallu ») of an unfunded application under an
  optimisation rule, the money of the applications imposed by the committee told apart from that of the
  better-ranked laureates under the merit order, the ex aequo at the funding line.  The reference is the
  report's own letters (:func:`ditp_model.outputs.report.export_files`, what ``report`` publishes), compared
  line by line; only the medians of the laureates (the laureates changed) and the footer may differ.
* The rebuilt workbook keeps the decision's choice about reviewers' identities: names when the report was
  published with ``--with-reviewer-ids``, pseudonyms otherwise — in the « Notes par évaluateur » sheet and in
  the procedure sheet (conflicts of interest), which ``allocate`` also pseudonymises now.

The decisions are the sample's (a real report's exports, published and sealed as ``report`` does; the report's
HTML is a placeholder carrying the journal anchor, the notebook is not run).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from ditp_model.cli import main
from ditp_model.inputs.tables import read_output_csv
from ditp_model.outputs.record import GENESIS, journal_anchor_html, publish, verify

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
WEIGHTS = "impact=0.5,openness=0.3,collective=0.2"
RECORDED_AT = "2026-01-15T10:00:00+01:00"


def _publish_report(out: Path, **values) -> Path:
    """The sample's report exports (letters, workbook, table, manifest) published and sealed as ``report`` does."""
    from ditp_model.outputs.report import export_files, run_report, validate_parameters

    values = {"call": str(DATA / "appel_2021.toml"), "applications": str(DATA / "candidatures_exemple.csv"),
              "reviews": str(DATA / "evaluations_exemple.csv"), "weights": WEIGHTS, "provisional": True,
              "command": "ditp-model report (test)", **values}
    generated_at = values.pop("generated_at", None)
    run = run_report(validate_parameters(**values))
    if generated_at:  # a report produced on another day
        run = dataclasses.replace(run, generated_at=generated_at, manifest={**run.manifest, "generated_at": generated_at})
    files = export_files(run)
    journal = out.parent / f"{out.name}-journal" / "decisions.jsonl"
    files["rapport.html"] = ("<html><body>" + journal_anchor_html(seq=1, previous=GENESIS, recorded_at=RECORDED_AT,
                                                                  journal_name=journal.name) + "</body></html>").encode()
    publish(out, files, run.manifest, journal_path=journal, recorded_at=RECORDED_AT)
    assert verify(out / "manifest.json").identical
    return out


def _explanation(letter: str) -> list[str]:
    """A letter's lines but the table of scores (medians of the laureates) and the footer (source of the decision)."""
    return [line for line in letter.splitlines() if not line.startswith("|") and not line.startswith("_Source")]


def _first_laureate(folder: Path, keep: str) -> str:
    t = read_output_csv(folder / "allocation.csv")
    funded = t[t["funded"] & (t["application_id"] != keep)]
    return str(funded.loc[funded["rank"].astype(float).idxmin(), "application_id"])


@pytest.mark.parametrize("rule, lock, reason", [
    ("max_total_score", "P045", "Seul projet ultramarin"),
    # P001 is ranked 52nd: imposed, it is funded first and takes money the applications ranked above it lacked
    ("merit_order", "P001", "Seul projet porté en Normandie"),
])
def test_rebuilt_letters_explain_as_the_decision_did(tmp_path, capsys, rule, lock, reason):
    folder = _publish_report(tmp_path / "rapport", rule=rule, lock_in=[f"{lock}={reason}"])
    before = read_output_csv(folder / "retours_candidats.csv").set_index("application_id")
    gone = _first_laureate(folder, lock)
    assert main(["desistement", "--manifest", str(folder / "manifest.json"), gone, "--motif", "courrier du porteur"]) == 0
    capsys.readouterr()
    after = read_output_csv(folder / "retours_candidats.csv").set_index("application_id")
    table = read_output_csv(folder / "allocation.csv").set_index("application_id")
    touched = set(table.index[table["change"].fillna("") != ""])
    assert gone in touched and len(touched) >= 2  # the withdrawal funded someone from the reserve list
    assert set(after.index) == set(before.index)
    for a in before.index:
        if a not in touched:
            assert _explanation(after.at[a, "lettre"]) == _explanation(before.at[a, "lettre"]), a
    unfunded = [a for a in before.index if a not in touched and before.at[a, "decision"] == "non retenu"]
    assert unfunded
    if rule == "max_total_score":
        # the entry gap is a number of points in the rebuilt letters too, never « non calculé »
        with_gap = [a for a in unfunded if re.search(r"Écart d'entrée : \d+,\d\d point", after.at[a, "lettre"])]
        assert with_gap and not any("non calculé" in after.at[a, "lettre"] for a in before.index)
    else:
        # the unfunded applications ranked above the imposed one: P001's award is told apart, with the motif
        rank = table["rank"].astype(float)
        above = [a for a in unfunded if rank[a] < rank[lock] and a not in touched]
        assert above
        for a in above:
            assert f"{lock} (motif : {reason})" in after.at[a, "lettre"], a
    res = verify(folder / "manifest.json")
    assert res.identical, res.text_fr()


def test_rebuilt_letters_keep_the_ex_aequo_of_the_selection(tmp_path, capsys):
    """The laureates ex aequo at the line are still named together after one of the group was funded from the reserve."""
    folder = _publish_report(tmp_path / "rapport")
    table0 = read_output_csv(folder / "allocation.csv").set_index("application_id")
    tied = set(table0.index[table0["ex_aequo"].astype(bool)])
    assert len(tied) >= 3
    before = read_output_csv(folder / "retours_candidats.csv").set_index("application_id")
    assert main(["desistement", "--manifest", str(folder / "manifest.json"), _first_laureate(folder, ""), "--motif",
                 "renonce"]) == 0
    capsys.readouterr()
    after = read_output_csv(folder / "retours_candidats.csv").set_index("application_id")
    table = read_output_csv(folder / "allocation.csv").set_index("application_id")
    from_reserve = set(table.index[table["change"].fillna("") == "from_reserve"])
    assert from_reserve & tied, "the sample's first withdrawal funds an application ex aequo at the line"
    for a in tied - set(table.index[table["change"].fillna("") != ""]):
        assert _explanation(after.at[a, "lettre"]) == _explanation(before.at[a, "lettre"]), a
    for a in from_reserve:  # funded since: its letter says so and no longer speaks of the tie at the line
        assert "financé grâce à l'argent libéré" in after.at[a, "lettre"] and "ex aequo" not in after.at[a, "lettre"]


# --------------------------------------------------------------------------- reviewers' identities


def _named_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """The sample's reviews and declarations with reviewers named « Claire Martin 03 » instead of R03."""
    reviews, conflicts = tmp_path / "evaluations_noms.csv", tmp_path / "conflits_noms.csv"
    for src, dst in ((DATA / "evaluations_exemple.csv", reviews), (DATA / "conflits_exemple.csv", conflicts)):
        dst.write_text(re.sub(r"\bR(\d\d)\b", r"Claire Martin \1", src.read_text(encoding="utf-8")), encoding="utf-8")
    return reviews, conflicts


def _workbook_texts(path: Path) -> dict[str, set[str]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    return {ws.title: {str(c) for row in ws.iter_rows(values_only=True) for c in row if c is not None} for ws in wb}


def _reviewers_shown(path: Path) -> set[str]:
    sheet = pd.read_excel(path, sheet_name="Notes par évaluateur", dtype=str)
    col = next(c for c in sheet.columns if c.lower().startswith("évaluateur"))
    return set(sheet[col].dropna())


@pytest.mark.parametrize("personal", [True, False])
def test_rebuilt_workbook_keeps_the_decisions_choice_about_identities(tmp_path, capsys, personal):
    reviews, conflicts = _named_inputs(tmp_path)
    names = {f"Claire Martin {m.group(1)}" for m in re.finditer(r"\bR(\d\d)\b", (DATA / "evaluations_exemple.csv").read_text())}
    folder = _publish_report(tmp_path / "rapport", reviews=str(reviews), conflicts=str(conflicts), personal_data=personal)
    shown_before = _reviewers_shown(folder / "allocation.xlsx")
    assert (shown_before == names) if personal else (shown_before and all(re.fullmatch(r"R\d+", r) for r in shown_before))
    assert main(["desistement", "--manifest", str(folder / "manifest.json"), _first_laureate(folder, ""), "--motif",
                 "renonce"]) == 0
    capsys.readouterr()
    assert _reviewers_shown(folder / "allocation.xlsx") == shown_before
    texts = _workbook_texts(folder / "allocation.xlsx")
    # the declared conflict of R09 on P027 is in the procedure sheet, named as the decision named it
    proc = " ".join(texts["Procédure"])
    assert ("Claire Martin 09" in proc) == personal
    if not personal:
        assert not any("Claire Martin" in t for sheet in texts.values() for t in sheet)


def test_allocate_pseudonymises_reviewers_in_the_procedure_sheet_too(tmp_path, capsys):
    reviews, conflicts = _named_inputs(tmp_path)
    out = tmp_path / "decision"
    assert main(["allocate", "--call", str(DATA / "appel_2021.toml"), "--applications", str(DATA / "candidatures_exemple.csv"),
                 "--reviews", str(reviews), "--conflits", str(conflicts), "--weights", WEIGHTS, "--provisoire",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    texts = _workbook_texts(out / "allocation.xlsx")
    assert texts["Procédure"] and not any("Claire Martin" in t for sheet in texts.values() for t in sheet)
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["explanations"] == {"gaps": True}


# --------------------------------------------------------------------------- other replays that re-derived differently


def _allocate(out: Path, *extra: str) -> Path:
    assert main(["allocate", "--call", str(DATA / "appel_2021.toml"), "--applications", str(DATA / "candidatures_exemple.csv"),
                 "--reviews", str(DATA / "evaluations_exemple.csv"), "--weights", WEIGHTS, "--provisoire", *extra,
                 "--out", str(out)]) == 0
    return out


def _ranking_stop(table: pd.DataFrame, envelope: int) -> set[str]:
    """The ranking rule, variant « stop », by hand: fundable applications by rank, stop at the first that does not fit."""
    t = table[table["rank"].notna() & (table["not_fundable"].fillna("") == "") & (table["award_cap_eur"] > 0)]
    left, funded = envelope, set()
    for r in t.assign(rank=t["rank"].astype(int)).sort_values("rank").itertuples():
        if r.award_cap_eur > left:
            break
        funded.add(r.application_id)
        left -= int(r.award_cap_eur)
    return funded


def test_an_update_replays_the_ranking_variant_allocate_used(tmp_path, capsys):
    """``allocate --ranking-variant stop``: the ranking-rule column of the table rebuilt by an update is still « stop »
    (the replay took « skip » when the manifest had no top-level ``ranking_variant``)."""
    folder = _allocate(tmp_path / "decision", "--ranking-variant", "stop")
    before = read_output_csv(folder / "allocation.csv").set_index("application_id", drop=False)
    envelope = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["parameters"]["available_eur"]
    stop = _ranking_stop(before, envelope)
    assert set(before.index[before["ranking_rule_award_eur"] > 0]) == stop
    assert main(["desistement", "--manifest", str(folder / "manifest.json"), _first_laureate(folder, ""), "--motif", "x"]) == 0
    capsys.readouterr()
    after = read_output_csv(folder / "allocation.csv").set_index("application_id", drop=False)
    assert set(after.index[after["ranking_rule_award_eur"] > 0]) == stop
    untouched = [a for a in before.index if (after.at[a, "change"] if isinstance(after.at[a, "change"], str) else "") == ""]
    pd.testing.assert_frame_equal(before.loc[untouched], after.loc[untouched, list(before.columns)], check_dtype=False)
    assert verify(folder / "manifest.json").identical


def test_word_letters_of_the_earlier_decision_are_said_stale(tmp_path, capsys):
    """A letters folder (``ditp-model lettres``: ``lettres.json`` with the decision's SHA-256 and each file's) left in the
    folder describes the decision before the update: the command and ``verify`` say so (the report's were, not these)."""
    import hashlib

    folder = _allocate(tmp_path / "decision")
    m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    letters = folder / "lettres"
    letters.mkdir()
    (letters / "P001.pdf").write_bytes(b"%PDF-1.4 lettre")
    (letters / "lettres.json").write_text(json.dumps({
        "decision_sha256": m["decision_sha256"], "sha256": {"P001.pdf": hashlib.sha256(b"%PDF-1.4 lettre").hexdigest()}}),
        encoding="utf-8")
    res = verify(folder / "manifest.json")
    assert res.identical and "décrivent la décision" not in res.text_fr()  # the letters of this very decision
    capsys.readouterr()
    assert main(["desistement", "--manifest", str(folder / "manifest.json"), _first_laureate(folder, ""), "--motif", "x"]) == 0
    out = capsys.readouterr().out
    new = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["decision_sha256"]
    note = (f"les lettres de lettres/ décrivent la décision {m['decision_sha256'][:12]}…, pas la décision en vigueur "
            f"{new[:12]}…")
    assert f"ATTENTION : {note}" in out
    res = verify(folder / "manifest.json")
    assert res.identical, res.text_fr()
    assert note in res.text_fr()


def test_the_rebuilt_workbook_is_dated_when_it_is_produced(tmp_path, capsys):
    """The provenance sheet of the workbook rebuilt by an update gives the day of the update, not the report's (the
    manifest keeps the report's ``generated_at``, which the letters cite as the report's date)."""
    import datetime as dt

    def produced(folder):
        sheet = pd.read_excel(folder / "allocation.xlsx", sheet_name="Provenance", header=None, dtype=str)
        row = sheet[sheet[0] == "Date de production"]
        assert len(row) == 1
        return str(row.iloc[0, 1])

    folder = _publish_report(tmp_path / "rapport", generated_at="2026-01-15T10:00:00+01:00")
    assert produced(folder).startswith("15/01/2026")
    assert main(["desistement", "--manifest", str(folder / "manifest.json"), _first_laureate(folder, ""), "--motif", "x"]) == 0
    capsys.readouterr()
    today = dt.datetime.now().astimezone().strftime("%d/%m/%Y")
    assert today != "15/01/2026" and produced(folder).startswith(today)
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["generated_at"] == "2026-01-15T10:00:00+01:00"
