"""Issue 15, input side: nothing wrong gets through, and every refusal names file, row, column, value and rule.

One section per fault kind, each with variants; expected values are written by hand
(dates counted from a known Excel serial, rows counted on the file as written):

* amounts in scientific notation (cells, XLSX text cells);
* Excel serial dates converted (origin 1899-12-30);
* rows of a CSV file whose quoted cells hold line breaks, and unbalanced quotes;
* encodings: UTF-16 / UTF-32, UTF-8 with a stray Windows-1252 byte, bytes neither UTF-8
  nor Windows-1252 — one message each; the encoding read is reported;
* control characters in cells: Word's line breaks cleaned, the others refused (and a
  title with a vertical tab goes through ``allocate`` to the workbook);
* the encoding read recorded in the manifest of ``allocate``.

The command line's side is in ``test_cli_french.py``.
"""

from __future__ import annotations


import openpyxl
import pandas as pd
import pytest

from ditp_model.inputs.call import load_call_rules
from ditp_model.cli import main
from ditp_model.inputs.io import clean_cell, load_inputs, parse_amount, parse_date, read_applications, read_raw_table
from ditp_model.inputs.schema import InputError, Problem

from helpers import (
    APP_HEADER,
    RULES_PATH,
    SAMPLE_APPLICATIONS,
    SAMPLE_REVIEWS,
    app_row,
    csv_text,
    write_applications,
    write_csv,
    write_reviews,
    write_xlsx,
)


@pytest.fixture(scope="module")
def rules():
    return load_call_rules(RULES_PATH)


def problems_of(call) -> list[Problem]:
    with pytest.raises(InputError) as info:
        call()
    return info.value.problems


def only_problem(call) -> tuple[Problem, str]:
    with pytest.raises(InputError) as info:
        call()
    assert len(info.value.problems) == 1, [str(p) for p in info.value.problems]
    return info.value.problems[0], str(info.value)


def rows_of(*rows: dict) -> list[list[str]]:
    return [[r[h] for h in APP_HEADER] for r in rows]


# ---------------------------------------------------------------------------
# Scientific notation: the exact amount is lost, so it is refused
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["1,23E+05", "1.23E+05", "1e9", "1E9", "1E9 €", "7E+04", "1,2e5 €", "-1e3", "1 e5",
                                  "1.5e-3", "+2E5"])
def test_scientific_amount_refused(text):
    with pytest.raises(ValueError, match="notation scientifique"):
        parse_amount(text)


@pytest.mark.parametrize("column", ["requested_eur", "expense_services_eur"])
@pytest.mark.parametrize("value", ["1,23E+05", "1e5"])
def test_scientific_amount_in_a_file_names_the_cell(tmp_path, rules, column, value):
    path = write_applications(tmp_path / "a.csv", [app_row("A1"), app_row("A2", **{column: value})])
    p, message = only_problem(lambda: read_applications(path, rules))
    assert (p.file, p.row, p.column, p.value, p.code) == (str(path), 3, column, value, "bad_amount")
    assert f"ligne 3, colonne « {column} » : valeur « {value} »" in message
    assert "notation scientifique" in message and "le montant exact est perdu" in message


def test_scientific_text_in_xlsx_refused_but_a_number_cell_read(tmp_path, rules):
    # In a workbook a number cell is a number (123 000 exactly); only text showing an exponent is refused.
    good = app_row("A1")
    header = APP_HEADER
    cells = [[123000 if h in ("requested_eur", "expense_services_eur") else good[h] for h in header],
             [("1,23E+05" if h == "requested_eur" else app_row("A2")[h]) for h in header]]
    path = write_xlsx(tmp_path / "a.xlsx", header, cells)
    p, _ = only_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.value) == (3, "requested_eur", "1,23E+05")
    cells.pop()
    frame = read_applications(write_xlsx(tmp_path / "b.xlsx", header, cells), rules)
    assert frame.at[0, "requested_eur"] == 123_000


# ---------------------------------------------------------------------------
# Excel serial dates: converted, origin 1899-12-30
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("36526", pd.Timestamp(2000, 1, 1)),          # Excel: 1 January 2000 = 36526
    ("44197", pd.Timestamp(2021, 1, 1)),          # Excel: 1 January 2021 = 44197
    ("44484", pd.Timestamp(2021, 10, 15)),        # 44197 + 287 days (Jan..Sep = 273, + 14)
    ("44484,5", pd.Timestamp(2021, 10, 15, 12)),  # a fraction is the time of day
    ("44484.75", pd.Timestamp(2021, 10, 15, 18)),
    ("44470,25", pd.Timestamp(2021, 10, 1, 6)),
])
def test_excel_serial_dates_converted(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["12345", "99999", "00001"])
def test_serial_outside_1950_2099_refused_as_such(text):
    with pytest.raises(ValueError, match="date Excel"):
        parse_date(text)


def test_serial_date_in_csv_and_xlsx_read(tmp_path, rules):
    csv_path = write_applications(tmp_path / "a.csv", [app_row("A1", submitted_at="44484"), app_row("A2", submitted_at="44470,5")])
    frame = read_applications(csv_path, rules)
    assert frame["submitted_at"].tolist() == [pd.Timestamp(2021, 10, 15), pd.Timestamp(2021, 10, 1, 12)]
    # A workbook date cell formatted as a number comes as an int.
    cells = [[44484 if h == "submitted_at" else app_row("A1")[h] for h in APP_HEADER]]
    frame = read_applications(write_xlsx(tmp_path / "a.xlsx", APP_HEADER, cells), rules)
    assert frame.at[0, "submitted_at"] == pd.Timestamp(2021, 10, 15)


def test_serial_date_before_the_opening_is_ineligible(tmp_path):
    # 44400 = 2021-07-23 (44197 + 203: Jan..Jun = 181, + 22), a month before the call opened.
    apps = write_applications(tmp_path / "a.csv", [app_row("A1", submitted_at="44400")])
    reviews = write_reviews(tmp_path / "r.csv", [("A1", "R01", 3, 3, 3, 3)])
    from ditp_model.scoring.eligibility import check_eligibility

    inputs = load_inputs(RULES_PATH, apps, reviews)
    assert inputs.applications.at[0, "submitted_at"] == pd.Timestamp(2021, 7, 23)
    r = check_eligibility(inputs.applications, inputs.rules).iloc[0]
    assert r["reason_codes"] == "early_submission" and "23/07/2021" in r["reasons"]


# ---------------------------------------------------------------------------
# Line breaks inside quoted cells: spreadsheet rows, and the text file's line when it differs
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("title, lineterminator, text_line", [
    ("Titre\nsur deux lignes", "\n", 4),
    ("Un\ndeux\ntrois", "\n", 5),
    ("Titre\r\nWindows", "\r\n", 4),
])
def test_line_break_in_a_cell_does_not_shift_the_row(tmp_path, rules, title, lineterminator, text_line):
    path = write_applications(tmp_path / "a.csv", [app_row("A1", title=title), app_row("A2", requested_eur="-5")],
                              lineterminator=lineterminator)
    p, message = only_problem(lambda: read_applications(path, rules))
    assert (p.row, p.text_line, p.column, p.value) == (3, text_line, "requested_eur", "-5")
    assert f"ligne 3 du tableur (ligne {text_line} du fichier texte), colonne « requested_eur »" in message


def test_problem_on_the_multiline_row_itself_says_one_line(tmp_path, rules):
    path = write_applications(tmp_path / "a.csv", [app_row("A1", title="Titre\nlong", requested_eur="-5")])
    p, message = only_problem(lambda: read_applications(path, rules))
    assert (p.row, p.text_line) == (2, None)
    assert "ligne 2, colonne « requested_eur »" in message and "fichier texte" not in message


def test_rows_equal_text_lines_without_line_breaks(tmp_path):
    path = write_applications(tmp_path / "a.csv", [app_row("A1"), app_row("A2")])
    raw = read_raw_table(path)
    assert raw.rows == raw.text_lines == (2, 3)


def test_blank_line_counts_as_a_row_like_in_a_spreadsheet(tmp_path, rules):
    text = csv_text(APP_HEADER, rows_of(app_row("A1", title="a\nb"))) + "\n" + csv_text(APP_HEADER, rows_of(app_row("A2"))).split("\n", 1)[1]
    path = tmp_path / "a.csv"
    path.write_text(text, encoding="utf-8")
    raw = read_raw_table(path)
    assert raw.rows == (2, 4) and raw.text_lines == (2, 5)
    assert read_applications(path, rules)["source_row"].tolist() == [2, 4]


# ---------------------------------------------------------------------------
# Unbalanced quotes: reported, never a silent shift of cells
# ---------------------------------------------------------------------------
def _lines(*rows: dict, sep: str = ",") -> list[str]:
    return [sep.join(APP_HEADER)] + [sep.join(r[h] for h in APP_HEADER) for r in rows]


@pytest.mark.parametrize("sep", [",", ";"])
def test_unbalanced_quote_is_reported_not_shifted(tmp_path, rules, sep):
    # Row 3 opens a quote that nothing closes: the rest of the file would be one cell.
    lines = _lines(app_row("A1"), app_row("A2", title='"Titre ouvert'), app_row("A3"), sep=sep)
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    p, message = only_problem(lambda: read_applications(path, rules))
    assert (p.row, p.code) == (3, "unbalanced_quote")
    assert p.value.startswith("A2" + sep + '"Titre ouvert')
    assert "guillemet non fermé" in message and f"{path}, ligne 3" in message


def test_text_after_a_closing_quote_is_reported(tmp_path, rules):
    lines = _lines(app_row("A1"), app_row("A2", title='"Titre" suite'))
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    p, message = only_problem(lambda: read_applications(path, rules))
    assert (p.row, p.code) == (3, "unbalanced_quote")
    assert "guillemet" in message


def test_quote_closed_rows_later_is_reported(tmp_path, rules):
    # Row 2 opens a quote in the title; row 3's lead_org closes it: the reader would make one row
    # whose title holds the rest of row 2 and the start of row 3.
    lines = _lines(app_row("A1", title='"Titre ouvert'), app_row("A2", lead_org='Porteur"'), app_row("A3"))
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = problems_of(lambda: read_applications(path, rules))
    assert [(p.row, p.column, p.code) for p in problems] == [(2, "title", "unbalanced_quote")]
    assert problems[0].value.startswith('Titre ouvert,')


@pytest.mark.parametrize("title", ['Le ""défi"" des usagers', "Titre, avec virgule\net retour", "a;b\nc"])
def test_well_formed_quotes_accepted(tmp_path, rules, title):
    path = write_applications(tmp_path / "a.csv", [app_row("A1", title=title.replace('""', '"')), app_row("A2")])
    frame = read_applications(path, rules)
    assert frame["title"].tolist()[0] == title.replace('""', '"')
    assert frame["application_id"].tolist() == ["A1", "A2"]


# ---------------------------------------------------------------------------
# Encodings: one message naming the encoding, and the encoding read is reported
# ---------------------------------------------------------------------------
def _app_text() -> str:
    return csv_text(APP_HEADER, rows_of(app_row("A1", title="Égalité d'accès"), app_row("A2")), sep=";")


@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-16-le", "UTF-16"),
                                            ("utf-32", "UTF-32")])
def test_utf16_and_utf32_one_message(tmp_path, rules, encoding, name):
    raw = _app_text().encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw
    path = tmp_path / "a.csv"
    path.write_bytes(raw)
    p, message = only_problem(lambda: read_applications(path, rules))
    assert (p.file, p.code) == (str(path), "encoding")
    assert name in message and "CSV UTF-8" in message


def test_utf16_applications_do_not_cascade_into_the_reviews(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(_app_text().encode("utf-16"))
    reviews = write_reviews(tmp_path / "r.csv", [("A1", "R01", 3, 3, 3, 3), ("A2", "R01", 3, 3, 3, 3)])
    problems = problems_of(lambda: load_inputs(RULES_PATH, path, reviews))
    assert [(p.file, p.code) for p in problems] == [(str(path), "encoding")]


@pytest.mark.parametrize("stray, line, shown", [(b"\xe9", 3, "é"), (b"\x92", 2, "’"), (b"\xe0 ", 3, "à")])
def test_utf8_with_a_stray_cp1252_byte_one_message(tmp_path, rules, stray, line, shown):
    text = _app_text().encode("utf-8")
    lines = text.split(b"\n")
    lines[line - 1] = lines[line - 1].replace(b"Direction", b"Direction" + stray, 1)
    assert stray in lines[line - 1]
    path = tmp_path / "a.csv"
    path.write_bytes(b"\n".join(lines))
    p, message = only_problem(lambda: read_applications(path, rules))
    assert p.code == "encoding"
    assert "mélange d'encodages" in message
    assert f"ligne {line} (octet {stray[0]:#04x}, « {shown} » en Windows-1252)" in message


def test_bytes_neither_utf8_nor_cp1252_one_message(tmp_path, rules):
    raw = _app_text().encode("cp1252").replace(b"Projet A2", b"Projet A2\x81")
    path = tmp_path / "a.csv"
    path.write_bytes(raw)
    p, message = only_problem(lambda: read_applications(path, rules))
    assert p.code == "encoding" and "ni UTF-8 ni Windows-1252 (octet 0x81 ligne 3)" in message


@pytest.mark.parametrize("encoding, expected", [("cp1252", "cp1252"), ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig")])
def test_encoding_read_is_reported_by_load_inputs(tmp_path, encoding, expected):
    apps = tmp_path / "a.csv"
    apps.write_bytes(_app_text().encode(encoding))
    reviews = write_reviews(tmp_path / "r.csv", [("A1", "R01", 3, 3, 3, 3)], encoding="utf-8-sig")
    inputs = load_inputs(RULES_PATH, apps, reviews)
    assert inputs.encodings == {str(RULES_PATH): "utf-8", str(apps): expected, str(reviews): "utf-8-sig"}
    assert inputs.applications.at[0, "title"] == "Égalité d'accès"


def test_xlsx_encoding_is_reported(tmp_path):
    apps = write_xlsx(tmp_path / "a.xlsx", APP_HEADER, rows_of(app_row("A1")))
    reviews = write_reviews(tmp_path / "r.csv", [("A1", "R01", 3, 3, 3, 3)])
    assert load_inputs(RULES_PATH, apps, reviews).encodings[str(apps)] == "xlsx"


# ---------------------------------------------------------------------------
# Control characters: Word's line breaks cleaned, others refused at reading time
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\r", "\u2028", "\u2029", "\x85"])
def test_word_line_breaks_become_line_breaks(tmp_path, rules, char):
    # A lone CR is written unquoted by a writer that quotes only on "\n": it must not split the row.
    assert clean_cell(f"Titre{char}suite") == "Titre\nsuite"
    path = write_applications(tmp_path / "a.csv", [app_row("A1", title=f"Titre{char}suite"), app_row("A2")])
    frame = read_applications(path, rules)
    assert frame["title"].tolist() == ["Titre\nsuite", "Projet A2"]


@pytest.mark.parametrize("char, shown", [("\x00", "\\x00"), ("\x1b", "\\x1b"), ("\x07", "\\x07"), ("\x7f", "\\x7f"),
                                         ("\x9b", "\\x9b")])
@pytest.mark.parametrize("column", ["title", "lead_org", "application_id"])
def test_other_control_characters_are_refused_naming_row_and_column(tmp_path, rules, char, shown, column):
    bad = app_row("A2")
    bad[column] = f"Texte{char}fin"
    path = write_applications(tmp_path / "a.csv", [app_row("A1"), bad])
    p, message = only_problem(lambda: read_applications(path, rules))
    assert (p.file, p.row, p.column, p.code) == (str(path), 3, column, "control_character")
    assert p.value == f"Texte{shown}fin"
    assert f"U+{ord(char):04X}" in message and f"ligne 3, colonne « {column} »" in message


def test_control_character_in_a_header_refused(tmp_path, rules):
    header = ["application_id\x00", *APP_HEADER[1:]]
    path = write_csv(tmp_path / "a.csv", header, rows_of(app_row("A1")))
    problems = problems_of(lambda: read_applications(path, rules))
    assert [(p.row, p.column, p.code) for p in problems] == [(1, "n° 1", "control_character")]


def test_vertical_tab_in_a_title_goes_through_allocate(tmp_path, capsys):
    """Word's manual line break in a title once crashed the run after the solve (XLSX writing)."""
    text = SAMPLE_APPLICATIONS.read_text(encoding="utf-8")
    first = text.splitlines()[1].split(",")
    apps = tmp_path / "candidatures.csv"
    apps.write_text(text.replace(first[1], first[1] + "\x0bseconde ligne", 1), encoding="utf-8")
    out = tmp_path / "o"
    code = main(["allocate", "--call", str(RULES_PATH), "--applications", str(apps), "--reviews", str(SAMPLE_REVIEWS),
                 "--out", str(out), "--no-gaps"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    wb = openpyxl.load_workbook(out / "allocation.xlsx", read_only=True)
    titles = [str(c) for row in wb["Décision"].iter_rows(values_only=True) for c in row if c and "seconde ligne" in str(c)]
    wb.close()
    assert titles == [first[1] + "\nseconde ligne"]


def test_manifest_of_allocate_records_each_input_encoding(tmp_path, capsys):
    apps = tmp_path / "candidatures.csv"
    apps.write_bytes(SAMPLE_APPLICATIONS.read_text(encoding="utf-8").encode("cp1252"))
    out = tmp_path / "o"
    code = main(["allocate", "--call", str(RULES_PATH), "--applications", str(apps), "--reviews", str(SAMPLE_REVIEWS),
                 "--out", str(out), "--no-gaps"])
    assert code == 0, capsys.readouterr().err
    import json

    files = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["input_files"]
    assert {role: info["encoding"] for role, info in files.items()} == {"call": "utf-8", "applications": "cp1252",
                                                                         "reviews": "utf-8"}
    from ditp_model.outputs import record

    assert record.verify(out / "manifest.json").identical


@pytest.mark.parametrize("comment", ["Bien, mais\nà revoir", "a,b,c\nd", "x,\ny,\nz"])
def test_multiline_text_with_separators_in_the_last_column_is_not_a_quote_fault(tmp_path, comment):
    # Free text in the last column (a comment) may hold commas and line breaks.
    path = write_csv(tmp_path / "t.csv", ["application_id", "reviewer_id", "commentaire"],
                     [["A1", "R01", comment], ["A2", "R01", "ok"]])
    raw = read_raw_table(path)
    assert raw.frame["commentaire"].tolist() == [comment, "ok"]
    assert raw.rows == (2, 3) and raw.text_lines == (2, 2 + 1 + comment.count("\n"))
