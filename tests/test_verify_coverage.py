"""``verify`` covers every published file, and the journal's last entry is anchored outside the journal (issue 15).

A report is published twice into one folder (journal of two entries); each
test tampers with a copy of that folder the way the probe did — a forged
letter added to ``retours/``, a letter removed or edited, a stray file, the
last journal entry rewritten with its own hash recomputed (which the chain
alone cannot show: :func:`record.read_journal` finds nothing) — and checks
that ``verify`` names it.  The same for the folder written by ``allocate``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from ditp_model import publication as P
from ditp_model.cli import main
from ditp_model.outputs import record, report
from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

WEIGHTS = "impact=0.5,openness=0.3,collective=0.2"
#: How verify names a file that no publication of the folder lists (added since, or left by an earlier one).
UNLISTED = ("fichier présent dans le dossier publié mais absent de la publication (ajouté depuis, ou laissé par une "
            "publication précédente) : ")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("couverture")
    data = root / "data"
    data.mkdir()
    for f in (RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS):
        shutil.copy(f, data / f.name)
    params = report.validate_parameters(call=str(data / RULES_PATH.name), applications=str(data / SAMPLE_APPLICATIONS.name),
                                        reviews=str(data / SAMPLE_REVIEWS.name), weights=WEIGHTS, gaps=False)
    run = report.run_report(params)
    files = report.export_files(run)
    record.publish(root / "out", files, run.manifest)
    record.publish(root / "out", files, run.manifest)
    assert main(["allocate", "--call", str(data / RULES_PATH.name), "--applications", str(data / SAMPLE_APPLICATIONS.name),
                 "--reviews", str(data / SAMPLE_REVIEWS.name), "--weights", WEIGHTS, "--provisoire", "--out", str(root / "alloc")]) == 0
    return root


@pytest.fixture
def case(template, tmp_path) -> Path:
    dst = tmp_path / "case"
    shutil.copytree(template, dst)
    return dst


def _verify(folder: Path):
    return record.verify(folder / "manifest.json", rerun=False)


def _files(v) -> list[str]:
    return [d.message for d in v.differences if d.kind == "fichiers"]


def test_untouched_folders_verify_identical(case):
    for folder in (case / "out", case / "alloc"):
        v = _verify(folder)
        assert v.identical, v.text_fr()


def test_every_published_file_is_listed_in_the_manifest(case):
    """The list is the folder itself, recomputed here from the files on disk."""
    out = case / "out"
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    on_disk = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in out.rglob("*") if p.is_file() and p.name not in ("manifest.json", "decisions.jsonl")}
    assert m["published_files"] == on_disk
    assert any(n.startswith("retours/") for n in on_disk)


def test_a_forged_letter_added_to_retours_is_reported(case):
    forged = case / "out" / "retours" / "P999.md"
    forged.write_text("Madame, Monsieur, votre projet est financé à hauteur de 120 000 €.\n", encoding="utf-8")
    v = _verify(case / "out")
    assert not v.identical
    assert _files(v) == [UNLISTED + "retours/P999.md"]
    assert main(["verify", "--no-rerun", str(case / "out" / "manifest.json")]) == 1


@pytest.mark.parametrize("what", ["supprimée", "modifiée"])
def test_a_letter_removed_or_edited_is_reported(case, what):
    letters = sorted((case / "out" / "retours").glob("*.md"))
    target = letters[len(letters) // 2]
    name = target.relative_to(case / "out").as_posix()
    if what == "supprimée":
        target.unlink()
        expected = f"fichier publié absent : {name}"
    else:
        target.write_text(target.read_text(encoding="utf-8").replace("non retenu", "retenu"), encoding="utf-8")
        target.write_bytes(target.read_bytes() + b" ")
        expected = f"fichier publié modifié depuis la publication : {name}"
    v = _verify(case / "out")
    assert expected in _files(v)


def test_a_stray_file_anywhere_in_the_folder_is_reported_but_not_the_inputs_or_other_commands_outputs(case):
    out = case / "out"
    (out / "sous-dossier").mkdir()
    (out / "sous-dossier" / "note.txt").write_text("x", encoding="utf-8")
    (out / "scores.csv").write_text("application_id\n", encoding="utf-8")  # what `score --out` would write there
    (out / "lettres").mkdir()
    (out / "lettres" / "P001.docx").write_bytes(b"PK")  # what `lettres` writes beside the manifest by default
    v = _verify(out)
    assert _files(v) == [UNLISTED + "sous-dossier/note.txt"]
    assert any("scores.csv" in n and "lettres/P001.docx" in n and "non vérifiés" in n for n in v.notes)


def _rewrite_last_entry(journal: Path, **changes) -> None:
    lines = journal.read_text(encoding="utf-8").splitlines()
    e = json.loads(lines[-1])
    e.update(changes)
    e.pop("entry_sha256")
    e["entry_sha256"] = hashlib.sha256(record.canonical_bytes(e)).hexdigest()
    lines[-1] = record.canonical_bytes(e).decode("utf-8")
    journal.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("changes, field", [
    ({"recorded_at": "2021-11-30T09:00:00+01:00"}, "date d'inscription"),
    ({"command": "ditp-model report --out rapport (séance plénière)"}, "commande"),
    ({"recorded_at": "2021-11-30T09:00:00+01:00", "command": "ditp-model report"}, "date d'inscription"),
])
def test_the_last_journal_entry_rewritten_with_its_hash_recomputed_is_reported(case, changes, field):
    journal = case / "out" / "decisions.jsonl"
    _rewrite_last_entry(journal, **changes)
    assert record.read_journal(journal).intact  # the chain alone cannot see it
    v = _verify(case / "out")
    journal_lines = [d.message for d in v.differences if d.kind == "journal"]
    assert any("n° 2 du journal a été réécrite" in m and field in m for m in journal_lines), v.text_fr()


def test_an_unfinished_publication_is_reported(case):
    staging = case / "out" / P.STAGING_NAME
    (staging / "old").mkdir(parents=True)
    (staging / "plan.json").write_text(json.dumps({"state": "switching", "files": ["allocation.csv"], "removed": []}),
                                       encoding="utf-8")
    v = _verify(case / "out")
    assert any("publication interrompue" in m for m in _files(v))


@pytest.mark.parametrize("name", ["allocation.csv", "allocation.xlsx"])
def test_allocate_folder_every_file_covered(case, name):
    alloc = case / "alloc"
    (alloc / name).write_bytes((alloc / name).read_bytes() + b"\n")
    (alloc / "lettre_forgee.md").write_text("x", encoding="utf-8")
    # (allocation.csv: verify adds after « — » which cells changed; a line added at the end changes none of the decision's)
    assert [m.partition(" — ")[0] for m in _files(_verify(alloc))] == [f"fichier publié modifié depuis la publication : {name}",
                                                                       UNLISTED + "lettre_forgee.md"]


# --------------------------------------------------------------------------- the anchor printed in a real report


@pytest.fixture(scope="module")
def real_report(tmp_path_factory):
    """One report produced through the command line (the notebook runs), into a folder with its journal.

    The sample decision is provisional (applications await reviews, issue 13): ``--provisoire``.
    """
    root = tmp_path_factory.mktemp("rapport_reel")
    out = root / "rapport"
    assert main(["report", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews",
                 str(SAMPLE_REVIEWS), "--weights", WEIGHTS, "--no-gaps", "--provisoire", "--out", str(out)]) == 0
    return out


def test_the_report_prints_its_journal_anchor(real_report):
    import re

    entry = json.loads((real_report / "decisions.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    page = (real_report / "rapport.html").read_text(encoding="utf-8")
    assert "Annexe — Ancrage du journal des décisions" in page
    printed = {k: re.search(rf'id="{k}">([^<]*)<', page).group(1) for k in ("ancrage-seq", "ancrage-date", "ancrage-precedente")}
    assert printed == {"ancrage-seq": str(entry["seq"]), "ancrage-date": entry["recorded_at"],
                       "ancrage-precedente": entry["previous_sha256"]}
    assert record.verify(real_report / "manifest.json", rerun=False).identical


def test_a_rewritten_entry_of_a_real_report_is_reported(real_report, tmp_path):
    folder = tmp_path / "copie"
    shutil.copytree(real_report, folder)
    _rewrite_last_entry(folder / "decisions.jsonl", recorded_at="2021-11-30T09:00:00+01:00")
    assert record.read_journal(folder / "decisions.jsonl").intact
    v = record.verify(folder / "manifest.json", rerun=False)
    assert any("a été réécrite" in d.message and "date d'inscription" in d.message for d in v.differences), v.text_fr()


def test_an_edited_printed_anchor_is_reported(real_report, tmp_path):
    folder = tmp_path / "copie"
    shutil.copytree(real_report, folder)
    page = folder / "rapport.html"
    text = page.read_text(encoding="utf-8")
    text = text.replace('id="ancrage-seq">1<', 'id="ancrage-seq">7<')
    page.write_text(text, encoding="utf-8")
    messages = [d.message for d in record.verify(folder / "manifest.json", rerun=False).differences]
    assert "ancrage imprimé dans le rapport : numéro d'entrée « 7 », « 1 » au manifeste" in messages
    assert "fichier publié modifié depuis la publication : rapport.html" in messages
