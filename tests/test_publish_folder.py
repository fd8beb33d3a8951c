"""A published folder is wholly old or wholly new, and nothing stale circulates as current (trial 1, items 3, 4, 13, S10).

A small decision (the first 8 applications of the sample, envelope 250 000 €) with its letters
(``ditp-model lettres``, HTML route) is the starting point.  Each test changes the folder the way
the new-user trial did — a withdrawal after the letters, ``allocate --out`` into a folder holding
letters, ``lettres --out`` inside the decision's folder, the folder moved elsewhere — and checks
what a person sees: the exit code, the French message, the files on disk (hashed here, before and
after), and what ``verify`` says.  The expected values are read from the files themselves
(``lettres.json``, the manifests), never from the code that wrote them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from ditp_model import publication as P
from ditp_model.cli import main
from ditp_model.outputs import record
from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS, read_rows, write_rows

pytest.importorskip("docx")
pytest.importorskip("pypdf")




def _snapshot(folder: Path, skip=()) -> dict[str, str]:
    """Relative name -> SHA-256 of every file under `folder` (the names in `skip` left out)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.relative_to(folder).parts[0] not in skip}


def _allocate(data: Path, out: Path, *extra: str) -> int:
    return main(["allocate", "--call", str(RULES_PATH), "--applications", str(data / "candidatures.csv"),
                 "--reviews", str(data / "evaluations.csv"), "--envelope", "250000", "--out", str(out), *extra])


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Inputs, a decision folder ``decision/`` and its letters ``decision/lettres/`` (written once)."""
    root = tmp_path_factory.mktemp("publication")
    apps = read_rows(SAMPLE_APPLICATIONS)[:8]
    ids = {a["application_id"] for a in apps}
    data = root / "donnees"
    data.mkdir()
    write_rows(data / "candidatures.csv", apps)
    write_rows(data / "evaluations.csv", [r for r in read_rows(SAMPLE_REVIEWS) if r["application_id"] in ids])
    assert _allocate(data, root / "decision") == 0
    assert main(["lettres", "--manifest", str(root / "decision" / "manifest.json"), "--pdf", "html",
                 "--date", "2026-12-03"]) == 0
    return root


@pytest.fixture
def case(template, tmp_path) -> Path:
    dst = tmp_path / "cas"
    shutil.copytree(template, dst)
    return dst


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def _index(letters: Path) -> dict:
    return json.loads((letters / "lettres.json").read_text(encoding="utf-8"))


def _funded(folder: Path) -> list[str]:
    with open(folder / "allocation.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    return [r["application_id"] for r in rows if r["funded"] in ("True", "VRAI", "oui", "1")]


# --------------------------------------------------------------------------- item 3: letters of a superseded decision


def test_letters_after_a_withdrawal_are_said_stale_then_archived_when_rewritten(case, capsys):
    d = case / "decision"
    before = _manifest(d)["decision_sha256"]
    assert _index(d / "lettres")["decision_sha256"] == before
    letters_before = _snapshot(d / "lettres")
    capsys.readouterr()
    assert main(["desistement", "--manifest", str(d / "manifest.json"), _funded(d)[0], "--motif", "courrier du porteur"]) == 0
    said = capsys.readouterr().out
    after = _manifest(d)
    assert after["decision_sha256"] != before
    assert "ATTENTION : les lettres de lettres/" in said and "les récrire (ditp-model lettres)" in said
    assert after["stale_letters"]["lettres"]["decision_sha256"] == before  # the letters' decision, recorded
    assert _snapshot(d / "lettres") == letters_before  # not rewritten, not deleted
    v = record.verify(d / "manifest.json")
    text = v.text_fr()
    assert v.identical and "lettres vérifiées" not in text
    assert v.notes[0].startswith("ATTENTION : les lettres de lettres/") and "ditp-model lettres" in v.notes[0]
    assert "ATTENTION" in v.summary
    # the letters rewritten for the decision in force: the old ones are archived whole, byte for byte
    assert main(["lettres", "--manifest", str(d / "manifest.json"), "--pdf", "html", "--date", "2026-12-04"]) == 0
    said = capsys.readouterr().out
    archived = list((d / P.ARCHIVE_DIR).glob("*/lettres"))
    assert len(archived) == 1 and _snapshot(archived[0]) == letters_before
    assert str(archived[0]) in said and "rien n'a été supprimé" in said
    assert _index(d / "lettres")["decision_sha256"] == after["decision_sha256"]
    v = record.verify(d / "manifest.json")
    assert v.identical and not any(n.startswith("ATTENTION") for n in v.notes), v.text_fr()
    assert any("lettres vérifiées" in n for n in v.notes)
    assert any(n.startswith(f"archivé dans {P.ARCHIVE_DIR}/") and "lettres/ (" in n for n in v.notes)


def test_letters_of_another_decision_not_recorded_are_a_difference(case):
    """Letters whose index names another decision, with nothing in the manifest saying so: verify is not « identique »."""
    letters = case / "decision" / "lettres"
    index = _index(letters)
    index["decision_sha256"] = "ab" * 32
    (letters / "lettres.json").write_text(json.dumps(index), encoding="utf-8")
    v = record.verify(case / "decision" / "manifest.json", rerun=False)
    lines = [d.message for d in v.differences if d.kind == "lettres"]
    assert not v.identical and len(lines) == 1
    assert "décrivent la décision abababababab…" in lines[0] and "lettres périmées" in lines[0]
    assert "les récrire (ditp-model lettres" in lines[0]


def test_a_new_report_in_the_folder_records_the_letters_as_stale(case):
    """record.publish (the report's publication) into a folder whose letters announce another decision."""
    d = case / "decision"
    m = _manifest(d)
    letters_decision = _index(d / "lettres")["decision_sha256"]
    m["decision_sha256"] = "cd" * 32  # the report's decision: another one than the letters'
    files = {n: (d / n).read_bytes() for n in ("allocation.csv", "allocation.xlsx")}
    pub = record.publish(d, files, m)
    assert pub.manifest["stale_letters"]["lettres"]["decision_sha256"] == letters_decision
    assert "le rapport publié le" in pub.manifest["stale_letters"]["lettres"]["note_fr"]
    # the same decision as the letters: nothing recorded
    m["decision_sha256"] = letters_decision
    pub = record.publish(d, files, m)
    assert "stale_letters" not in pub.manifest


# --------------------------------------------------------------------------- item 4: allocate into another publication's folder


def test_allocate_into_a_folder_holding_letters_is_refused_then_archives_with_remplacer(case, capsys):
    data, d = case / "donnees", case / "decision"
    before = _snapshot(d)
    n_letters = sum(1 for p in (d / "lettres").rglob("*") if p.is_file())
    capsys.readouterr()
    assert _allocate(data, d, "--weights", "impact=0.2,openness=0.6,collective=0.2") == 2
    err = capsys.readouterr().err
    assert f"lettres/ ({n_letters} fichiers)" in err and "--remplacer" in err and "Aucune décision publiée" in err
    assert _snapshot(d) == before  # nothing moved, nothing written
    # --remplacer: the whole older publication (its letters and its three files) goes to one archive folder
    assert _allocate(data, d, "--weights", "impact=0.2,openness=0.6,collective=0.2", "--remplacer") == 0
    said = capsys.readouterr().out
    archives = list((d / P.ARCHIVE_DIR).iterdir())
    assert len(archives) == 1
    assert _snapshot(archives[0]) == before  # every old file, byte for byte, same layout
    assert sorted(p.name for p in d.iterdir()) == sorted(["allocation.csv", "allocation.xlsx", "manifest.json", P.ARCHIVE_DIR])
    assert str(archives[0]) in said and "rien n'a été supprimé" in said
    new = record.verify(d / "manifest.json")
    assert new.identical, new.text_fr()
    assert any(n.startswith(f"archivé dans {P.ARCHIVE_DIR}/{archives[0].name}") for n in new.notes)
    assert _manifest(d)["archived_publication"]["folder"] == f"{P.ARCHIVE_DIR}/{archives[0].name}"
    old = record.verify(archives[0] / "manifest.json")  # the archived publication still verifies where it is
    assert old.identical, old.text_fr()
    assert any("lettres vérifiées" in n for n in old.notes)


def test_allocate_again_into_its_own_folder_needs_no_option(case):
    data, d = case / "donnees", case / "decision"
    shutil.rmtree(d / "lettres")
    assert _allocate(data, d, "--weights", "impact=0.4,openness=0.4,collective=0.2") == 0
    assert not (d / P.ARCHIVE_DIR).exists()


def test_archive_is_undone_with_the_rest_when_the_switch_fails(tmp_path, monkeypatch):
    """A failure while the new files are moved in puts the archived ones back: the folder is wholly old."""
    folder = tmp_path / "pub"
    (folder / "retours").mkdir(parents=True)
    (folder / "a.csv").write_bytes(b"ancien")
    (folder / "rapport.pdf").write_bytes(b"%PDF ancien")
    (folder / "retours" / "P001.md").write_bytes(b"retour")
    before = _snapshot(folder)
    real = P.os.replace

    def failing(src, dst):
        if P.STAGING_NAME in Path(src).parts and "new" in Path(src).parts:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(P.os, "replace", failing)
    archive = {n: f"{P.ARCHIVE_DIR}/x/{n}" for n in before}
    with pytest.raises(P.PublicationError):
        P.publish_files(folder, {"a.csv": b"nouveau"}, archive=archive)
    monkeypatch.undo()
    assert _snapshot(folder) == before
    assert not (folder / P.ARCHIVE_DIR).exists() and not (folder / P.STAGING_NAME).exists()
    P.publish_files(folder, {"a.csv": b"nouveau"}, archive=archive)
    assert _snapshot(folder) == {"a.csv": hashlib.sha256(b"nouveau").hexdigest(),
                                 **{f"{P.ARCHIVE_DIR}/x/{n}": h for n, h in before.items()}}


def test_archive_outside_the_archive_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match="archives/"):
        P.publish_files(tmp_path / "pub", {"a.csv": b"x"}, archive={"b.csv": "ailleurs/b.csv"})


# --------------------------------------------------------------------------- item 13: lettres --out inside a published folder


@pytest.mark.parametrize("where", ["lettres2", "sous-dossier/lettres"])
def test_letters_out_inside_the_decision_folder_is_refused(case, capsys, where):
    d = case / "decision"
    before = _snapshot(d)
    capsys.readouterr()
    assert main(["lettres", "--manifest", str(d / "manifest.json"), "--pdf", "html", "--out", str(d / where)]) == 2
    err = capsys.readouterr().err
    assert "à l'intérieur du dossier d'une décision publiée" in err and str(d / "lettres") in err
    assert _snapshot(d) == before and not (d / where).exists()


def test_unlisted_files_are_grouped_by_folder(case):
    d = case / "decision"
    (d / "lettres2").mkdir()
    names = [f"P{k:03d}.pdf" for k in range(1, 8)]
    for n in names:
        (d / "lettres2" / n).write_bytes(b"%PDF")
    (d / "note.txt").write_text("x", encoding="utf-8")
    v = record.verify(d / "manifest.json", rerun=False)
    lines = [x.message for x in v.differences if x.kind == "fichiers"]
    assert len(lines) == 2  # one for the file at the top, one for the folder
    assert lines[0].endswith(": note.txt") and "ajouté depuis, ou laissé par une publication précédente" in lines[0]
    assert lines[1].startswith(f"{len(names)} fichiers présents dans lettres2/") and lines[1].endswith(
        ", ".join(names[:5]) + " …")


# --------------------------------------------------------------------------- S10: a moved folder still verifies


def test_a_decision_folder_moved_elsewhere_still_verifies_with_its_letters(case, tmp_path):
    moved = tmp_path / "archive_2026" / "decision"
    moved.parent.mkdir()
    shutil.move(str(case / "decision"), str(moved))
    index = _index(moved / "lettres")
    assert not Path(index["manifest"]).is_absolute()
    assert ((moved / "lettres") / index["manifest"]).resolve() == (moved / "manifest.json").resolve()
    v = record.verify(moved / "manifest.json")
    assert v.identical, v.text_fr()
    assert any("lettres vérifiées" in n for n in v.notes)


# --------------------------------------------------------------------------- S1: which cells of allocation.csv changed


def _edit_csv(path: Path, aid: str, column: str, value: str) -> int:
    """Set one cell of the published CSV (``;``, BOM) as a spreadsheet would; returns the file line edited."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    col = rows[0].index(column)
    line = next(k for k, r in enumerate(rows) if r[0] == aid)
    rows[line][col] = value
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\n").writerows(rows)
    return line + 1


def test_verify_names_the_cells_of_allocation_csv_that_changed(case):
    d = case / "decision"
    aid = _funded(d)[0]
    award = next(int(x["award_eur"]) for x in _manifest(d)["decisions"] if x["application_id"] == aid)
    line = _edit_csv(d / "allocation.csv", aid, "award_eur", str(award + 1000))
    v = record.verify(d / "manifest.json", rerun=False)
    [msg] = [x.message for x in v.differences if x.kind == "fichiers"]
    head, _, detail = msg.partition(" — ")
    assert head == "fichier publié modifié depuis la publication : allocation.csv"
    assert detail.startswith(f"ligne {line}, dossier {aid}, colonne award_eur (montant attribué) : ")
    manifest_side, file_side = detail.split(" : ", 1)[1].split(" au manifeste, ")
    assert int("".join(ch for ch in manifest_side if ch.isdigit())) == award
    assert int("".join(ch for ch in file_side if ch.isdigit())) == award + 1000 and file_side.endswith("dans le fichier")


def test_verify_says_when_the_change_is_outside_the_decision_columns(case):
    d = case / "decision"
    _edit_csv(d / "allocation.csv", _funded(d)[0], "title", "Intitulé réécrit")
    v = record.verify(d / "manifest.json", rerun=False)
    [msg] = [x.message for x in v.differences if x.kind == "fichiers"]
    assert "la modification porte sur une autre colonne" in msg


def test_a_lottery_journal_beside_an_allocate_decision_is_not_another_publication(case):
    """README: ``lottery --out resultats`` beside ``allocate --out resultats``; its journal holds draws, no decision."""
    data, d = case / "donnees", case / "decision"
    shutil.rmtree(d / "lettres")
    record.append_event(d / record.JOURNAL_NAME, "tirage_au_sort", {"graine": 2021})
    assert _allocate(data, d, "--weights", "impact=0.4,openness=0.4,collective=0.2") == 0
    assert (d / record.JOURNAL_NAME).is_file() and not (d / P.ARCHIVE_DIR).exists()
    v = record.verify(d / "manifest.json", rerun=False)
    assert v.identical, v.text_fr()
    assert any(record.JOURNAL_NAME in n and "non vérifiés" in n for n in v.notes)
    # a journal that records a published decision (a report's entry, written by record.publish) is another publication
    m = _manifest(d)
    record.publish(case / "rapport", {"allocation.csv": (d / "allocation.csv").read_bytes()}, m,
                   journal_path=d / record.JOURNAL_NAME)
    assert _allocate(data, d, "--weights", "impact=0.5,openness=0.3,collective=0.2") == 2


def test_final_letters_rewritten_for_the_same_decision_are_archived_drafts_are_replaced(case, capsys):
    d = case / "decision"
    before = _snapshot(d / "lettres")
    assert _index(d / "lettres")["provisional"] is False
    assert main(["lettres", "--manifest", str(d / "manifest.json"), "--pdf", "html", "--date", "2026-12-05"]) == 0
    [archived] = list((d / P.ARCHIVE_DIR).glob("*/lettres"))
    assert _snapshot(archived) == before and "rien n'a été supprimé" in capsys.readouterr().out
    # drafts (lettres.json says provisional) of the same decision: replaced, nothing more archived
    index = _index(d / "lettres")
    index["provisional"] = True
    (d / "lettres" / "lettres.json").write_text(json.dumps(index), encoding="utf-8")
    assert main(["lettres", "--manifest", str(d / "manifest.json"), "--pdf", "html", "--date", "2026-12-06"]) == 0
    assert list((d / P.ARCHIVE_DIR).glob("*/lettres")) == [archived]
    assert _index(d / "lettres")["date"] == "2026-12-06"


def test_two_archives_in_the_same_second_get_two_names(tmp_path):
    import datetime as dt

    now = dt.datetime(2026, 12, 3, 7, 15, 2)
    first = P.archive_folder_name(now, tmp_path)
    assert first == f"{P.ARCHIVE_DIR}/2026-12-03_071502"
    (tmp_path / first).mkdir(parents=True)
    assert P.archive_folder_name(now, tmp_path) == f"{P.ARCHIVE_DIR}/2026-12-03_071502-2"
