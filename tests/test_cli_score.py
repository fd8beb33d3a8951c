"""Tests of the ``ditp-model score`` sub-command, called in process through ``ditp_model.cli.main``.

On the sample data it returns 0, writes ``scores.csv`` with every application and prints the
eligibility summary and the ranked list; on bad input it returns 2 with a French error on stderr
and leaves a previous ``scores.csv`` byte for byte as it was.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from pathlib import Path

import pytest

from ditp_model.cli import main

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "data" / "appel_2021.toml"
APPLICATIONS = ROOT / "data" / "candidatures_exemple.csv"
REVIEWS = ROOT / "data" / "evaluations_exemple.csv"

SAMPLE_INELIGIBLE = {"P017", "P034", "P058", "P063", "P078", "P086", "P091", "P099", "P104"}


def sample_ids() -> list[str]:
    with open(APPLICATIONS, encoding="utf-8", newline="") as fh:
        return [row["application_id"] for row in csv.DictReader(fh)]


def review_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    with open(REVIEWS, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            counts[row["application_id"]] = counts.get(row["application_id"], 0) + 1
    return counts


def score_args(out: Path, *, applications: Path = APPLICATIONS, reviews: Path = REVIEWS, extra=()) -> list[str]:
    return ["score", "--call", str(RULES), "--applications", str(applications), "--reviews", str(reviews),
            "--out", str(out), *extra]


def read_scores(path: Path) -> list[dict[str, str]]:
    """The rows of scores.csv as written (French Excel's dialect: BOM, ``;``, decimal comma)."""
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))


def num(text: str) -> float:
    return float(text.replace(",", "."))


def ranked_lines(stdout: str) -> list[tuple[int, str, float]]:
    """(rank, id, score) of the ranked list's lines: ``   1  P011       77,52    113 000 €  title``."""
    out = []
    for m in re.finditer(r"^\s*(\d+)\s+(P\d{3})\s+(\d+,\d{2})\s", stdout, flags=re.M):
        out.append((int(m.group(1)), m.group(2), float(m.group(3).replace(",", "."))))
    return out


@pytest.fixture
def sample_run(tmp_path, capsys):
    """One run on the sample data: (exit code, stdout, stderr, output folder)."""
    out = tmp_path / "resultats"
    code = main(score_args(out))
    captured = capsys.readouterr()
    return code, captured.out, captured.err, out


def test_success_exit_code_and_no_error(sample_run):
    code, _, stderr, _ = sample_run
    assert code == 0
    assert stderr == ""


def test_scores_csv_has_every_application(sample_run):
    _, _, _, out = sample_run
    rows = read_scores(out / "scores.csv")
    assert [r["application_id"] for r in rows] == sample_ids()  # every application, in file order
    assert len(rows) == 110
    ineligible = {r["application_id"] for r in rows if r["eligible"] == "False"}
    assert ineligible == SAMPLE_INELIGIBLE
    # Applications with fewer than 2 reviews are present but unscored (blank score, never 0).
    counts = review_counts()
    for r in rows:
        if counts.get(r["application_id"], 0) < 2:
            assert r["scored"] == "False" and r["score"] == "" and r["rank"] == ""
    assert sorted(os.listdir(out)) == ["scores.csv"]  # no temporary file left behind


def test_ranked_list_is_printed_in_rank_order(sample_run):
    _, stdout, _, out = sample_run
    assert "Candidatures : 110 ; éligibles : 101 ; non éligibles : 9." in stdout
    for aid in SAMPLE_INELIGIBLE:
        assert re.search(rf"^\s+- {aid} \(", stdout, flags=re.M), aid
    assert "Classement (Impact 50 %, Ouverture 30 %, Candidature collective 20 %)" in stdout
    lines = ranked_lines(stdout)
    counts = review_counts()
    expected_ranked = {a for a in sample_ids() if a not in SAMPLE_INELIGIBLE and counts.get(a, 0) >= 2}
    assert len(lines) == len(expected_ranked) == 99
    assert {aid for _, aid, _ in lines} == expected_ranked
    assert [rank for rank, _, _ in lines] == list(range(1, 100))
    printed = [s for _, _, s in lines]
    assert printed == sorted(printed, reverse=True)
    # The printed list agrees with scores.csv (score to two decimals, rank).
    by_id = {r["application_id"]: r for r in read_scores(out / "scores.csv")}
    for rank, aid, score in lines:
        assert int(by_id[aid]["rank"]) == rank
        assert abs(num(by_id[aid]["score"]) - score) <= 0.005 + 1e-9
    assert f"Écrit : {out / 'scores.csv'}" in stdout


def test_weights_and_normalisation_options(tmp_path, capsys):
    code = main(score_args(tmp_path / "o", extra=["--weights", "impact=1,openness=0,collective=0", "--normalisation", "raw_mean"]))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Classement (Impact 100 %, Ouverture 0 %, Candidature collective 0 %)" in captured.out
    rows = read_scores(tmp_path / "o" / "scores.csv")
    # Only impact counts: score = 100 x impact_score for every scored application.
    for r in rows:
        if r["scored"] == "True":
            assert num(r["score"]) == pytest.approx(100 * num(r["impact_score"]), abs=1e-4)


def bad_applications(tmp_path: Path) -> Path:
    """The sample applications with one negative amount on P005 (line 6 of the file)."""
    lines = APPLICATIONS.read_text(encoding="utf-8").split("\n")
    assert lines[5].startswith("P005,")
    fields = next(csv.reader([lines[5]]))
    header = next(csv.reader([lines[0]]))
    col = header.index("requested_eur")
    fields[col] = "-" + fields[col]
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(fields)
    text = "\n".join(lines[:5] + [line.getvalue()] + lines[6:])
    path = tmp_path / "candidatures.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_input_returns_2_with_a_french_error(tmp_path, capsys):
    apps = bad_applications(tmp_path)
    code = main(score_args(tmp_path / "o", applications=apps))
    captured = capsys.readouterr()
    assert code == 2
    assert "Erreur : données d'entrée invalides." in captured.err
    assert f"{apps}, ligne 6, colonne « requested_eur »" in captured.err
    assert "montant négatif" in captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "o" / "scores.csv").exists()


def test_missing_file_returns_2(tmp_path, capsys):
    code = main(score_args(tmp_path / "o", reviews=tmp_path / "absent.csv"))
    captured = capsys.readouterr()
    assert code == 2
    assert f"fichier introuvable : {tmp_path / 'absent.csv'}" in captured.err


def test_bad_weights_return_2(tmp_path, capsys):
    code = main(score_args(tmp_path / "o", extra=["--weights", "budget=1"]))
    captured = capsys.readouterr()
    assert code == 2
    assert "Erreur : critère inconnu « budget »" in captured.err


def test_failed_run_leaves_previous_scores_untouched(tmp_path, capsys):
    out = tmp_path / "resultats"
    assert main(score_args(out)) == 0
    before = (out / "scores.csv").read_bytes()
    stat = (out / "scores.csv").stat()
    capsys.readouterr()
    # Same output folder, bad applications: the run fails and the previous result stays as it was.
    assert main(score_args(out, applications=bad_applications(tmp_path))) == 2
    assert (out / "scores.csv").read_bytes() == before
    assert (out / "scores.csv").stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(os.listdir(out)) == ["scores.csv"]
    # Bad weights too.
    assert main(score_args(out, extra=["--weights", "impact=-1"])) == 2
    assert (out / "scores.csv").read_bytes() == before


def test_run_is_reproducible(tmp_path, capsys):
    assert main(score_args(tmp_path / "a")) == 0
    assert main(score_args(tmp_path / "b")) == 0
    first = capsys.readouterr().out
    assert (tmp_path / "a" / "scores.csv").read_bytes() == (tmp_path / "b" / "scores.csv").read_bytes()
    assert first  # printed something
    shutil.rmtree(tmp_path / "a")


def test_ranked_list_marks_applications_below_a_quality_threshold(sample_run):
    """A rank is not a promise: the applications under a threshold of the call are marked « non finançable », as
    ``allocate`` counts them (thresholds read from the call file, criterion means from scores.csv on the 0–5 scale)."""
    import tomllib

    _, stdout, _, out = sample_run
    call = tomllib.loads(RULES.read_text(encoding="utf-8"))
    sel, scoring = call["selection"], call["scoring"]
    lo, hi = scoring["scale_min"], scoring["scale_max"]
    below = set()
    for r in read_scores(out / "scores.csv"):
        if r["rank"] == "":
            continue
        if round(num(r["score"]), 4) < sel["min_score"] or any(
                round(lo + num(r[f"{c}_score"]) * (hi - lo), 4) < m for c, m in sel["min_criterion"].items()):
            below.add(r["application_id"])
    marked = {m.group(1) for m in re.finditer(r"^\s*\d+\s+(P\d{3})\s.*\[non finançable : ", stdout, flags=re.M)}
    assert below and marked == below
    assert f"{len(below)} dossier(s) classé(s) sous un seuil de qualité de l'appel" in stdout
