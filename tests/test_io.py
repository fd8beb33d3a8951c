"""Tests of ``ditp_model.inputs.io``: French spreadsheets in, one canonical table out, every problem reported.

Layers:

* the same three applications written four ways (UTF-8 ``,``; UTF-8 with BOM, ``;``, French
  headers, decimal commas and three kinds of thousands space; cp1252 ``;``; XLSX) load to the
  same canonical table, which is also written out by hand below;
* the cell parsers, one case per accepted spelling and per rejection;
* one ``pytest.raises`` per ``Problem`` code in ``io.py`` (a meta-test reads the module's
  source so that a new code without a test fails);
* a file with several mistakes reports them all at once, each with file, spreadsheet line,
  column and value;
* no row dropped silently (blank lines counted, every application through ``evaluate``);
* atomic writes.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

import ditp_model.inputs.io as dio
from ditp_model.inputs.call import load_call_rules
from ditp_model.inputs.io import (
    load_inputs,
    parse_amount,
    parse_date,
    parse_score,
    read_applications,
    read_raw_table,
    read_reviews,
    write_csv_atomic,
    write_text_atomic,
)
from ditp_model.scoring.pipeline import evaluate
from ditp_model.inputs.schema import InputError

from helpers import (
    APP_HEADER,
    REVIEW_HEADER,
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

NBSP, NNBSP = "\u00a0", "\u202f"


@pytest.fixture(scope="module")
def rules():
    return load_call_rules(RULES_PATH)


# ---------------------------------------------------------------------------
# One table, four files
# ---------------------------------------------------------------------------
#: Canonical spelling (variant a).
CANONICAL_ROWS = [
    ["007", "Accueil des usagers – France Services", "Préfecture de la Manche", "deconcentrated_service",
     "CCAS de Saint-Lô; Laboratoire d'innovation territoriale – Normandie", "local_authority; state_operator",
     "Normandie", "Bretagne", "France Services", "testing", "120000", "100000", "15000", "5000", "0", "2021-10-15"],
    ["P002", "Simplifier l’accès aux aides à la rénovation", "Conseil départemental de La Réunion", "local_authority",
     "Agence nationale de l'habitat", "state_operator", "La Réunion", "", "MaPrimeRénov'", "prototyping",
     "98500", "80000", "10000", "8000", "500", "2021-09-16 14:30"],
    ["P003", "Démarches en ligne pour tous", "Direction du numérique", "ministry", "", "", "Île-de-France",
     "Hauts-de-France; Grand Est", "", "scoping", "70000", "70000", "0", "0", "0", "2021-10-16"],
]

FRENCH_HEADER = [
    "Identifiant", "Intitulé", "Porteur", "Type de porteur", "Partenaires", "Types des partenaires", "Région",
    "Régions couvertes", "Réforme prioritaire", "Maturité", "Montant demandé (€)", "Prestations intellectuelles (€)",
    "Outils numériques (€)", "Formation (€)", "Autres dépenses (€)", "Date de dépôt",
]


def french_rows(narrow_space: str) -> list[list[str]]:
    """The same applications as a French secretariat types them: labels, `120 000 €`, day-first dates."""
    return [
        ["007", "Accueil des usagers – France Services", "Préfecture de la Manche", "Service déconcentré",
         "CCAS de Saint-Lô ; Laboratoire d'innovation territoriale – Normandie", "Collectivité ; Opérateur de l'État",
         "normandie", "Bretagne", "France Services", "Test",
         "120 000 €", f"100{NBSP}000", f"15{narrow_space}000 €", "5 000,00", "0", "15/10/2021"],
        ["P002", "Simplifier l’accès aux aides à la rénovation", "Conseil départemental de La Réunion",
         "Collectivité territoriale", "Agence nationale de l'habitat", "opérateur de l'État", "La Réunion", "",
         "MaPrimeRénov’", "Prototypage",
         f"98{NBSP}500,00{NBSP}€", f"80{narrow_space}000 €", "10 000", "8000", "500 €", "16/09/2021 14:30"],
        ["P003", "Démarches en ligne pour tous", "Direction du numérique", "Administration centrale", "", "",
         "Île-de-France", "Hauts-de-France;Grand Est", "", "cadrage",
         f"70{narrow_space}000 €", "70 000", "0", "0", "0", "16/10/2021"],
    ]


def expected_canonical() -> pd.DataFrame:
    """The canonical table written out by hand (schema order, then ``source_row``)."""
    return pd.DataFrame({
        "application_id": ["007", "P002", "P003"],
        "title": ["Accueil des usagers – France Services", "Simplifier l’accès aux aides à la rénovation",
                  "Démarches en ligne pour tous"],
        "lead_org": ["Préfecture de la Manche", "Conseil départemental de La Réunion", "Direction du numérique"],
        "lead_org_type": ["deconcentrated_service", "local_authority", "ministry"],
        "partners": [("CCAS de Saint-Lô", "Laboratoire d'innovation territoriale – Normandie"),
                     ("Agence nationale de l'habitat",), ()],
        "partner_types": [("local_authority", "state_operator"), ("state_operator",), ()],
        "region": ["Normandie", "La Réunion", "Île-de-France"],
        "regions_covered": [("Bretagne",), (), ("Hauts-de-France", "Grand Est")],
        "priority_reform": ["France Services", "MaPrimeRénov'", ""],
        "maturity": ["testing", "prototyping", "scoping"],
        "requested_eur": pd.array([120_000, 98_500, 70_000], dtype="int64"),
        "expense_services_eur": pd.array([100_000, 80_000, 70_000], dtype="int64"),
        "expense_digital_tools_eur": pd.array([15_000, 10_000, 0], dtype="int64"),
        "expense_training_eur": pd.array([5_000, 8_000, 0], dtype="int64"),
        "expense_other_eur": pd.array([0, 500, 0], dtype="int64"),
        "submitted_at": pd.to_datetime(pd.Series([pd.Timestamp(2021, 10, 15), pd.Timestamp(2021, 9, 16, 14, 30),
                                                  pd.Timestamp(2021, 10, 16)])),
        "source_row": pd.array([2, 3, 4], dtype="int64"),
    })


def variant_files(tmp_path) -> dict[str, object]:
    files = {
        "utf8_comma": write_csv(tmp_path / "a.csv", APP_HEADER, CANONICAL_ROWS),
        "utf8_bom_semicolon_french": write_csv(tmp_path / "b.csv", FRENCH_HEADER, french_rows(NNBSP), sep=";",
                                               encoding="utf-8-sig", lineterminator="\r\n"),
        # U+202F does not exist in cp1252: the no-break space U+00A0 does.
        "cp1252_semicolon": write_csv(tmp_path / "c.csv", FRENCH_HEADER, french_rows(NBSP), sep=";",
                                      encoding="cp1252", lineterminator="\r\n"),
    }
    # XLSX: native cell types as Excel keeps them (numbers, date-times), ids as text.
    xrows = []
    for r in french_rows(NNBSP):
        r = list(r)
        r[10:15] = [int(parse_amount_by_hand(x)) for x in r[10:15]]
        day, month, rest = r[15][:2], r[15][3:5], r[15][6:]
        year, _, time = rest.partition(" ")
        hh, mm = (int(x) for x in time.split(":")) if time else (0, 0)
        r[15] = dt.datetime(int(year), int(month), int(day), hh, mm)
        xrows.append(r)
    xrows[1][10] = 98500.0  # a float cell holding whole euros
    files["xlsx"] = write_xlsx(tmp_path / "d.xlsx", FRENCH_HEADER, xrows)
    return files


def parse_amount_by_hand(text: str) -> str:
    """Digits of a French amount cell (test-side, independent of the package)."""
    body = text.replace("€", "").split(",")[0]
    return "".join(ch for ch in body if ch.isdigit())


def test_the_four_spellings_give_the_same_canonical_table(tmp_path, rules):
    files = variant_files(tmp_path)
    expected = expected_canonical()
    for name, path in files.items():
        frame = read_applications(path, rules)
        assert frame.attrs["path"] == str(path), name
        assert frame.attrs["blank_rows"] == 0, name
        frame = frame.copy()
        frame.attrs = {}
        assert_frame_equal(frame, expected, check_exact=True, obj=name)


def test_encoding_is_recorded(tmp_path, rules):
    files = variant_files(tmp_path)
    encodings = {name: read_applications(p, rules).attrs["encoding"] for name, p in files.items()}
    assert encodings == {"utf8_comma": "utf-8", "utf8_bom_semicolon_french": "utf-8-sig",
                         "cp1252_semicolon": "cp1252", "xlsx": "xlsx"}


def test_sha256_is_of_the_file_bytes(tmp_path, rules):
    import hashlib

    path = variant_files(tmp_path)["cp1252_semicolon"]
    assert read_applications(path, rules).attrs["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_ids_stay_text(tmp_path, rules):
    path = write_applications(tmp_path / "a.csv", [app_row("007"), app_row("0042"), app_row("1e3")])
    ids = read_applications(path, rules)["application_id"].tolist()
    assert ids == ["007", "0042", "1e3"]
    reviews = write_reviews(tmp_path / "r.csv", [("007", "R01", 3, 3, 3, 3)])
    assert read_reviews(reviews, rules, ids)["application_id"].tolist() == ["007"]


def test_ids_stay_text_in_xlsx(tmp_path, rules):
    row = app_row("007")
    path = write_xlsx(tmp_path / "a.xlsx", APP_HEADER, [[row[h] for h in APP_HEADER]])
    assert read_applications(path, rules)["application_id"].tolist() == ["007"]


def test_named_sheet(tmp_path, rules):
    row = app_row("A1")
    path = write_xlsx(tmp_path / "a.xlsx", APP_HEADER, [[row[h] for h in APP_HEADER]], sheet="Candidatures")
    assert read_applications(path, rules, sheet="Candidatures")["application_id"].tolist() == ["A1"]


def test_reviews_french_spelling(tmp_path, rules):
    header = ["Identifiant", "Évaluateur", "impact_reform", "impact_replicability", "openness_codesign", "openness_methods"]
    path = write_csv(tmp_path / "r.csv", header, [["A1", "R01", "3,5", "4", "", "2.5"]], sep=";", encoding="cp1252")
    frame = read_reviews(path, rules, ["A1"])
    assert frame["reviewer_id"].tolist() == ["R01"]
    assert frame["impact_reform"].tolist() == [3.5]
    assert frame["impact_replicability"].tolist() == [4.0]
    assert math.isnan(frame.at[0, "openness_codesign"])
    assert frame["openness_methods"].tolist() == [2.5]
    assert frame["source_row"].tolist() == [2]
    assert str(frame["impact_reform"].dtype) == "float64"


# ---------------------------------------------------------------------------
# Cell parsers
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("120000", 120_000),
    ("120 000", 120_000),
    (f"120{NBSP}000", 120_000),
    (f"120{NNBSP}000", 120_000),
    ("120 000 €", 120_000),
    (f"120{NBSP}000{NBSP}€", 120_000),
    (f"120{NNBSP}000{NNBSP}€", 120_000),
    ("€ 120 000", 120_000),
    ("120 000 EUR", 120_000),
    ("120 000 euros", 120_000),
    ("120 000,00", 120_000),
    ("120 000,00 €", 120_000),
    ("120.000", 120_000),
    ("1.234.567", 1_234_567),
    ("1 234 567,0", 1_234_567),
    ("0", 0),
    ("  98500  ", 98_500),
])
def test_parse_amount_accepts(text, expected):
    value = parse_amount(text)
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize("text, reason", [
    ("-5", "montant négatif"),
    ("-120 000 €", "montant négatif"),
    ("cent mille", "n'est pas un nombre"),
    ("", "n'est pas un nombre"),
    ("12,5", "centimes"),
    ("98 500,50 €", "centimes"),
    ("12.5", "centimes"),
    ("1,2,3", "plusieurs virgules"),
    ("NaN", "n'est pas un nombre fini"),
    ("Infinity", "n'est pas un nombre fini"),
    ("120,000", "ambigu"),  # 120 € with a decimal comma, or 120 000 € the English way: refused
    ("1,234,567", "ambigu"),
])
def test_parse_amount_rejects(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_amount(text)


@given(n=st.integers(min_value=0, max_value=99_999_999),
       sep=st.sampled_from([" ", NBSP, NNBSP, ""]),
       cents=st.booleans(), euro=st.sampled_from(["", " €", f"{NBSP}€", "€"]))
@settings(max_examples=50, deadline=None)
def test_parse_amount_roundtrip_french_formatting(n, sep, cents, euro):
    digits = str(n)
    groups = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    text = sep.join(groups) + (",00" if cents else "") + euro
    assert parse_amount(text) == n


@pytest.mark.parametrize("text, expected", [
    ("3,5", 3.5), ("3.5", 3.5), ("4", 4.0), ("0", 0.0), ("3,50", 3.5), (" 2,5 ", 2.5), ("-1", -1.0), ("7", 7.0),
])
def test_parse_score_accepts(text, expected):
    assert parse_score(text) == expected


@pytest.mark.parametrize("text", ["", "   "])
def test_parse_score_blank_is_nan(text):
    assert math.isnan(parse_score(text))


@pytest.mark.parametrize("text", ["bien", "3,5,1", "nan", "inf", "4/5"])
def test_parse_score_rejects(text):
    with pytest.raises(ValueError, match="n'est pas une note"):
        parse_score(text)


@pytest.mark.parametrize("text, expected", [
    ("15/10/2021", pd.Timestamp(2021, 10, 15)),
    ("01/09/2021", pd.Timestamp(2021, 9, 1)),  # day first: 1 September, not 9 January
    ("15/10/2021 14:30", pd.Timestamp(2021, 10, 15, 14, 30)),
    ("15/10/2021 14:30:15", pd.Timestamp(2021, 10, 15, 14, 30, 15)),
    ("15-10-2021", pd.Timestamp(2021, 10, 15)),
    ("15.10.2021", pd.Timestamp(2021, 10, 15)),
    ("2021-10-15", pd.Timestamp(2021, 10, 15)),
    ("2021-10-15 14:30", pd.Timestamp(2021, 10, 15, 14, 30)),
    ("2021-10-15T14:30:00", pd.Timestamp(2021, 10, 15, 14, 30)),
    (" 15/10/2021 ", pd.Timestamp(2021, 10, 15)),
])
def test_parse_date_accepts(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["15/10/21", "2021/10/15", "15 octobre 2021", ""])
def test_parse_date_rejects(text):
    with pytest.raises(ValueError, match="date non reconnue"):
        parse_date(text)


# ---------------------------------------------------------------------------
# One pytest.raises per validation rule (Problem code) of io.py
# ---------------------------------------------------------------------------
def one_problem(call):
    with pytest.raises(InputError) as info:
        call()
    problems = info.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0], str(info.value)


def test_code_unreadable_missing_file(tmp_path, rules):
    path = tmp_path / "absent.csv"
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.file, p.row, p.column, p.code) == (str(path), None, None, "unreadable")
    assert f"fichier introuvable : {path}" in message


def test_code_unreadable_broken_workbook(tmp_path, rules):
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    p, message = one_problem(lambda: read_applications(path, rules))
    assert p.code == "unreadable"
    assert "classeur Excel illisible" in message


def test_code_sheet(tmp_path, rules):
    row = app_row()
    path = write_xlsx(tmp_path / "a.xlsx", APP_HEADER, [[row[h] for h in APP_HEADER]], sheet="Feuil1")
    p, message = one_problem(lambda: read_applications(path, rules, sheet="Candidatures"))
    assert (p.code, p.value) == ("sheet", "Candidatures")
    assert "feuille absente" in message and "Feuil1" in message


def test_code_encoding(tmp_path, rules):
    path = tmp_path / "a.csv"
    # 0x81 is undefined in cp1252 and invalid as UTF-8.
    path.write_bytes(csv_text(APP_HEADER, [[app_row()[h] for h in APP_HEADER]]).encode("utf-8") + b"\x81\n")
    p, message = one_problem(lambda: read_applications(path, rules))
    assert p.code == "encoding"
    assert "CSV UTF-8" in message


@pytest.mark.parametrize("content", [b"", b"\n\n", b";;;\r\n"])
def test_code_empty(tmp_path, rules, content):
    path = tmp_path / "a.csv"
    path.write_bytes(content)
    p, message = one_problem(lambda: read_applications(path, rules))
    assert p.code == "empty"
    assert "fichier vide" in message


def test_code_blank_header(tmp_path, rules):
    header = APP_HEADER[:3] + [""] + APP_HEADER[3:]
    row = app_row()
    path = write_csv(tmp_path / "a.csv", header, [[row[h] for h in APP_HEADER[:3]] + ["x"] + [row[h] for h in APP_HEADER[3:]]])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.code) == (1, "n° 4", "blank_header")
    assert "en-tête vide" in message


def test_code_duplicate_header(tmp_path, rules):
    header = APP_HEADER + ["title"]
    row = app_row()
    path = write_csv(tmp_path / "a.csv", header, [[row[h] for h in APP_HEADER] + ["autre"]])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.code) == (1, "title", "duplicate_header")
    assert "colonnes 2 et 17" in message


def test_code_extra_cells(tmp_path, rules):
    row = app_row()
    path = write_csv(tmp_path / "a.csv", APP_HEADER, [[row[h] for h in APP_HEADER] + ["en trop", "aussi"]])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.value, p.code) == (2, "en trop;aussi", "extra_cells")
    assert "18 cellules pour 16 colonnes" in message


def test_trailing_empty_cells_are_not_extra(tmp_path, rules):
    row = app_row()
    path = write_csv(tmp_path / "a.csv", APP_HEADER, [[row[h] for h in APP_HEADER] + ["", " "]])
    assert len(read_applications(path, rules)) == 1


def test_code_ambiguous_header(tmp_path, rules):
    header = APP_HEADER + ["Montant demandé (€)"]
    row = app_row()
    path = write_csv(tmp_path / "a.csv", header, [[row[h] for h in APP_HEADER] + ["100000"]])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.code) == (1, "Montant demandé (€)", "ambiguous_header")
    assert "deux colonnes désignent « requested_eur »" in message


def test_code_missing_column(tmp_path, rules):
    header = [h for h in APP_HEADER if h != "maturity"]
    row = app_row()
    path = write_csv(tmp_path / "a.csv", header, [[row[h] for h in header]])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.value, p.code) == (1, "maturity", None, "missing_column")
    assert "colonne obligatoire absente" in message and "« maturite »" in message


def test_optional_columns_may_be_absent(tmp_path, rules):
    optional = {"partners", "partner_types", "regions_covered", "priority_reform"}
    header = [h for h in APP_HEADER if h not in optional]
    row = app_row()
    frame = read_applications(write_csv(tmp_path / "a.csv", header, [[row[h] for h in header]]), rules)
    assert frame.at[0, "partners"] == () and frame.at[0, "regions_covered"] == ()
    assert frame.at[0, "priority_reform"] == ""


def test_code_missing_value(tmp_path, rules):
    path = write_applications(tmp_path / "a.csv", [app_row("A1"), app_row("A2", lead_org="")])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.file, p.row, p.column, p.value, p.code) == (str(path), 3, "lead_org", "", "missing_value")
    assert f"{path}, ligne 3, colonne « lead_org » : valeur «  » — valeur obligatoire manquante" in message


def test_blank_amount_is_one_problem_not_two(tmp_path, rules):
    """A blank request is reported as missing, and not also as an expense breakdown that does not add up."""
    path = write_applications(tmp_path / "a.csv", [app_row("A1"), app_row("A2", requested_eur="")])
    p, _ = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.code) == (3, "requested_eur", "missing_value")


def test_unreadable_expense_is_one_problem_not_two(tmp_path, rules):
    # Two rows, so that the amount column mixes numbers and the unreadable cell.
    path = write_applications(tmp_path / "a.csv", [app_row("A1"), app_row("A2", expense_training_eur="-5")])
    p, _ = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.code) == (3, "expense_training_eur", "bad_amount")


@pytest.mark.parametrize("column, value, reason", [
    ("requested_eur", "-100000", "montant négatif"),
    ("requested_eur", "cent mille", "n'est pas un nombre"),
    ("expense_services_eur", "100000,50", "centimes"),
])
def test_code_bad_amount(tmp_path, rules, column, value, reason):
    path = write_applications(tmp_path / "a.csv", [app_row("A1", **{column: value})])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.value, p.code) == (2, column, value, "bad_amount")
    assert reason in message


def test_code_bad_date(tmp_path, rules):
    path = write_applications(tmp_path / "a.csv", [app_row("A1", submitted_at="15 octobre 2021")])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.value, p.code) == (2, "submitted_at", "15 octobre 2021", "bad_date")
    assert "JJ/MM/AAAA" in message


@pytest.mark.parametrize("column, value", [
    ("lead_org_type", "startup"),
    ("maturity", "lunaire"),
    ("region", "Atlantide"),
    ("priority_reform", "Réforme imaginaire"),
])
def test_code_bad_category(tmp_path, rules, column, value):
    path = write_applications(tmp_path / "a.csv", [app_row("A1", **{column: value})])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.value, p.code) == (2, column, value, "bad_category")
    assert "valeur inconnue ; valeurs admises" in message


@pytest.mark.parametrize("column, value, bad", [
    ("partner_types", "state_operator; startup", "startup"),
    ("regions_covered", "Bretagne; Atlantide", "Atlantide"),
])
def test_code_bad_list(tmp_path, rules, column, value, bad):
    changes = {column: value}
    if column == "partner_types":
        changes["partners"] = "Un; Deux"
    path = write_applications(tmp_path / "a.csv", [app_row("A1", **changes)])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.value, p.code) == (2, column, value, "bad_list")
    assert f"valeur(s) inconnue(s) {bad}" in message


def test_code_duplicate_id(tmp_path, rules):
    path = write_applications(tmp_path / "a.csv", [app_row("A1"), app_row("A2"), app_row("A1")])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.value, p.code) == (4, "application_id", "A1", "duplicate_id")
    assert "déjà utilisé ligne 2" in message


def test_code_partner_types_count(tmp_path, rules):
    path = write_applications(tmp_path / "a.csv", [app_row("A1", partners="Un; Deux; Trois", partner_types="state_operator; ministry")])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.code) == (2, "partner_types", "partner_types_count")
    assert "2 type(s) pour 3 partenaire(s)" in message


def test_code_expense_sum(tmp_path, rules):
    path = write_applications(tmp_path / "a.csv", [app_row("A1", requested_eur="100000", expense_services_eur="90000",
                                                           expense_digital_tools_eur="5000")])
    p, message = one_problem(lambda: read_applications(path, rules))
    assert (p.row, p.column, p.value, p.code) == (2, "requested_eur", 100_000, "expense_sum")
    # amounts as the report writes them: narrow no-break space between thousands, no-break space before €
    assert ("90\u202f000\u00a0€ + 5\u202f000\u00a0€ + 0\u00a0€ + 0\u00a0€ = 95\u202f000\u00a0€) ne fait pas le montant "
            "demandé (100\u202f000\u00a0€)") in message


def review_file(tmp_path, rows):
    return write_reviews(tmp_path / "r.csv", rows)


def test_code_missing_value_in_reviews(tmp_path, rules):
    path = review_file(tmp_path, [("A1", "R01", 3, 3, 3, 3), ("A1", "", 3, 3, 3, 3)])
    p, _ = one_problem(lambda: read_reviews(path, rules, ["A1"]))
    assert (p.row, p.column, p.code) == (3, "reviewer_id", "missing_value")


def test_missing_score_column(tmp_path, rules):
    path = write_csv(tmp_path / "r.csv", REVIEW_HEADER[:-1], [["A1", "R01", "3", "3", "3"]])
    p, _ = one_problem(lambda: read_reviews(path, rules, ["A1"]))
    assert (p.column, p.code) == ("openness_methods", "missing_column")


def test_code_unknown_application(tmp_path, rules):
    path = review_file(tmp_path, [("A1", "R01", 3, 3, 3, 3), ("A9", "R01", 3, 3, 3, 3)])
    p, message = one_problem(lambda: read_reviews(path, rules, ["A1"]))
    assert (p.row, p.column, p.value, p.code) == (3, "application_id", "A9", "unknown_application")
    assert "dossier inconnu" in message


def test_code_bad_score(tmp_path, rules):
    path = review_file(tmp_path, [("A1", "R01", 3, "bien", 3, 3)])
    p, message = one_problem(lambda: read_reviews(path, rules, ["A1"]))
    assert (p.row, p.column, p.value, p.code) == (2, "impact_replicability", "bien", "bad_score")
    assert "n'est pas une note" in message


@pytest.mark.parametrize("value", ["5,5", "-0,5", "7"])
def test_code_score_out_of_scale(tmp_path, rules, value):
    path = review_file(tmp_path, [("A1", "R01", 3, 3, value, 3)])
    p, message = one_problem(lambda: read_reviews(path, rules, ["A1"]))
    assert (p.row, p.column, p.value, p.code) == (2, "openness_codesign", value, "score_out_of_scale")
    assert "note hors de l'échelle 0 à 5" in message


@pytest.mark.parametrize("value", ["0", "5", "0,0", "5,0"])
def test_scale_bounds_are_inclusive(tmp_path, rules, value):
    path = review_file(tmp_path, [("A1", "R01", 3, 3, value, 3)])
    assert len(read_reviews(path, rules, ["A1"])) == 1


def test_code_duplicate_review(tmp_path, rules):
    path = review_file(tmp_path, [("A1", "R01", 3, 3, 3, 3), ("A2", "R01", 3, 3, 3, 3), ("A1", "R01", 4, 4, 4, 4)])
    p, message = one_problem(lambda: read_reviews(path, rules, ["A1", "A2"]))
    assert (p.row, p.column, p.value, p.code) == (4, "reviewer_id", "R01", "duplicate_review")
    assert "a déjà noté le dossier A1" in message


#: Every Problem code of io.py and the test(s) above that raise it.
def test_code_no_rows_header_only_files(tmp_path, rules):
    """A header-only file says so (and does not turn every review into an 'unknown application')."""
    apps = write_applications(tmp_path / "a.csv", [])
    p, message = one_problem(lambda: read_applications(apps, rules))
    assert p.code == "no_rows" and "aucune candidature" in message
    revs = write_reviews(tmp_path / "r.csv", [])
    p, message = one_problem(lambda: read_reviews(revs, rules, ["A01"]))
    assert p.code == "no_rows" and "aucune évaluation" in message
    good = write_reviews(tmp_path / "r2.csv", [("A01", "R01", 3, 3, 3, 3)])
    with pytest.raises(InputError) as info:
        load_inputs(RULES_PATH, apps, good)
    assert [q.code for q in info.value.problems] == ["no_rows"]


TESTED_CODES = {
    "no_rows": test_code_no_rows_header_only_files,
    "unreadable": test_code_unreadable_missing_file,
    "encoding": test_code_encoding,
    "sheet": test_code_sheet,
    "empty": test_code_empty,
    "blank_header": test_code_blank_header,
    "duplicate_header": test_code_duplicate_header,
    "extra_cells": test_code_extra_cells,
    "ambiguous_header": test_code_ambiguous_header,
    "missing_column": test_code_missing_column,
    "missing_value": test_code_missing_value,
    "bad_amount": test_code_bad_amount,
    "bad_date": test_code_bad_date,
    "bad_category": test_code_bad_category,
    "bad_list": test_code_bad_list,
    "duplicate_id": test_code_duplicate_id,
    "partner_types_count": test_code_partner_types_count,
    "expense_sum": test_code_expense_sum,
    "unknown_application": test_code_unknown_application,
    "bad_score": test_code_bad_score,
    "score_out_of_scale": test_code_score_out_of_scale,
    "duplicate_review": test_code_duplicate_review,
    # tests/test_hardening_inputs.py
    "unbalanced_quote": "test_unbalanced_quote_is_reported_not_shifted",
    "control_character": "test_other_control_characters_are_refused_naming_row_and_column",
    # tests/test_inputs_trial1.py
    "formula_without_value": "test_xlsx_formula_without_computed_value_is_named",
}


def test_every_problem_code_of_io_has_a_test():
    """Read io.py's source: each ``Problem(..., code)`` must appear in TESTED_CODES."""
    from ditp_model.inputs.schema import APPLICATION_COLUMNS

    tree = ast.parse(Path(dio.__file__).read_text(encoding="utf-8"))
    codes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Problem":
            code = node.args[5] if len(node.args) >= 6 else next(k.value for k in node.keywords if k.arg == "code")
            if isinstance(code, ast.Constant):
                codes.add(code.value)
            else:  # f"bad_{col.kind}": the kinds whose parsing can fail
                assert isinstance(code, ast.JoinedStr), ast.dump(code)
                kinds = {c.kind for c in APPLICATION_COLUMNS} - {"id", "text"}
                codes |= {f"bad_{k}" for k in kinds}
    assert codes == set(TESTED_CODES)


# ---------------------------------------------------------------------------
# Many mistakes, one report
# ---------------------------------------------------------------------------
def test_all_mistakes_of_all_files_in_one_error(tmp_path):
    apps = write_applications(tmp_path / "candidatures.csv", [
        app_row("A01"),                                   # line 2: fine
        app_row("A01"),                                   # line 3: duplicated id
        app_row("A03", title=""),                         # line 4: missing required field
        app_row("A04", requested_eur="-120 000 €"),       # line 5: negative amount
        app_row("A05", requested_eur="cent mille"),       # line 6: non-numeric amount
        app_row("A06", maturity="lunaire"),               # line 7: unknown category
    ])
    reviews = write_reviews(tmp_path / "evaluations.csv", [
        ("A01", "R01", 3, 3, 3, 3),                       # line 2: fine
        ("A03", "R01", 3, 3, 3, 7),                       # line 3: score outside the 0-5 scale
        ("A99", "R02", 3, 3, 3, 3),                       # line 4: review of an unknown application
    ])
    with pytest.raises(InputError) as info:
        load_inputs(RULES_PATH, apps, reviews)
    a, r = str(apps), str(reviews)
    got = {(p.file, p.row, p.column, p.value, p.code) for p in info.value.problems}
    assert got == {
        (a, 3, "application_id", "A01", "duplicate_id"),
        (a, 4, "title", "", "missing_value"),
        (a, 5, "requested_eur", "-120 000 €", "bad_amount"),
        (a, 6, "requested_eur", "cent mille", "bad_amount"),
        (a, 7, "maturity", "lunaire", "bad_category"),
        (r, 3, "openness_methods", "7", "score_out_of_scale"),
        (r, 4, "application_id", "A99", "unknown_application"),
    }
    assert len(info.value.problems) == 7
    message = str(info.value)
    assert message.startswith("7 erreurs dans les données d'entrée :")
    for line in (
        f"{a}, ligne 3, colonne « application_id » : valeur « A01 » — identifiant en double (déjà utilisé ligne 2)",
        f"{a}, ligne 4, colonne « title » : valeur «  » — valeur obligatoire manquante",
        f"{a}, ligne 5, colonne « requested_eur » : valeur « -120 000 € » — montant négatif",
        f"{a}, ligne 6, colonne « requested_eur » : valeur « cent mille » — n'est pas un nombre",
        f"{a}, ligne 7, colonne « maturity » : valeur « lunaire » — valeur inconnue ; valeurs admises",
        f"{r}, ligne 3, colonne « openness_methods » : valeur « 7 » — note hors de l'échelle 0 à 5",
        f"{r}, ligne 4, colonne « application_id » : valeur « A99 » — évaluation d'un dossier inconnu",
    ):
        assert f"  - {line}" in message, line


def test_unreadable_applications_do_not_flag_every_review(tmp_path):
    reviews = write_reviews(tmp_path / "r.csv", [("A1", "R01", 3, 3, 3, 3), ("A2", "R01", 3, 3, 3, 3)])
    missing = tmp_path / "absent.csv"
    with pytest.raises(InputError) as info:
        load_inputs(RULES_PATH, missing, reviews)
    assert [(p.file, p.code) for p in info.value.problems] == [(str(missing), "unreadable")]


def test_bad_rules_are_reported_before_reading_tables(tmp_path):
    bad_rules = tmp_path / "appel.toml"
    bad_rules.write_text(RULES_PATH.read_text(encoding="utf-8").replace("scale_max = 5", "scale_max = -5"), encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_inputs(bad_rules, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS)
    assert [p.column for p in info.value.problems] == ["scoring.scale_max"]


# ---------------------------------------------------------------------------
# No row dropped silently
# ---------------------------------------------------------------------------
def test_blank_lines_are_counted_and_line_numbers_kept(tmp_path, rules):
    rows = [[app_row(a)[h] for h in APP_HEADER] for a in ("A1", "A2", "A3")]
    empty = [""] * len(APP_HEADER)
    text = csv_text(APP_HEADER, [rows[0], empty, rows[1]]) + "\n" + "   \n" + csv_text(APP_HEADER, [rows[2]]).split("\n", 1)[1]
    # line 1 header, 2 A1, 3 ",,,", 4 A2, 5 "", 6 "   ", 7 A3
    path = tmp_path / "a.csv"
    path.write_text(text, encoding="utf-8")
    frame = read_applications(path, rules)
    assert frame["application_id"].tolist() == ["A1", "A2", "A3"]
    assert frame["source_row"].tolist() == [2, 4, 7]
    assert frame.attrs["blank_rows"] == 3


def test_blank_lines_above_the_header(tmp_path, rules):
    path = tmp_path / "a.csv"
    path.write_text("\n;\n" + csv_text(APP_HEADER, [[app_row("A1")[h] for h in APP_HEADER]], sep=";"), encoding="utf-8")
    frame = read_applications(path, rules)
    assert frame["source_row"].tolist() == [4]
    assert frame.attrs["blank_rows"] == 2
    raw = read_raw_table(path)
    assert (raw.header_row, raw.separator) == (3, ";")


def test_blank_rows_in_xlsx(tmp_path, rules):
    rows = [[app_row(a)[h] for h in APP_HEADER] for a in ("A1", "A2")]
    path = write_xlsx(tmp_path / "a.xlsx", APP_HEADER, [rows[0], [None] * len(APP_HEADER), rows[1]])
    frame = read_applications(path, rules)
    assert frame["source_row"].tolist() == [2, 4]
    assert frame.attrs["blank_rows"] == 1


def test_multiline_cell_keeps_spreadsheet_line_numbers(tmp_path, rules):
    # A cell holding a line break stays one spreadsheet row: A2 is row 3 (line 4 of the text file).
    rows = [[app_row(a)[h] for h in APP_HEADER] for a in ("A1", "A2")]
    rows[0][1] = "Titre\nsur deux lignes"
    path = write_csv(tmp_path / "a.csv", APP_HEADER, rows)
    frame = read_applications(path, rules)
    assert frame["source_row"].tolist() == [2, 3]
    assert read_raw_table(path).text_lines == (2, 4)
    assert frame.at[0, "title"] == "Titre\nsur deux lignes"


def test_every_sample_application_goes_through_evaluate():
    inputs = load_inputs(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS)
    with open(SAMPLE_APPLICATIONS, encoding="utf-8") as fh:
        lines = [ln for ln in fh.read().split("\n")[1:] if ln.strip()]
    ids_in_file = [ln.split(",", 1)[0] for ln in lines]
    assert len(ids_in_file) == 110
    assert inputs.applications["application_id"].tolist() == ids_in_file
    assert inputs.applications.attrs["blank_rows"] == 0
    table = evaluate(inputs).table
    assert table["application_id"].tolist() == ids_in_file
    # Reviews too: every non-blank line of the file is a row.
    with open(SAMPLE_REVIEWS, encoding="utf-8") as fh:
        n_review_lines = sum(1 for ln in fh.read().split("\n")[1:] if ln.strip())
    assert len(inputs.reviews) == n_review_lines
    assert set(inputs.files) == {str(RULES_PATH), str(SAMPLE_APPLICATIONS), str(SAMPLE_REVIEWS)}


# ---------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------
def test_write_csv_atomic_joins_lists_and_leaves_no_temporary(tmp_path):
    frame = pd.DataFrame({"application_id": ["007", "A2"], "partners": [("Un", "Deux"), ()], "n": [1, 2]})
    out = tmp_path / "sub" / "t.csv"
    write_csv_atomic(frame, out)
    # French Excel's dialect (UTF-8 BOM, « ; », CRLF); the list cell holds « ; » so it is quoted.
    assert out.read_bytes() == b'\xef\xbb\xbfapplication_id;partners;n\r\n007;"Un; Deux";1\r\nA2;;2\r\n'
    assert sorted(os.listdir(out.parent)) == ["t.csv"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "t.txt"
    write_text_atomic(out, "ancien")

    def boom(*args, **kwargs):
        raise OSError("disque plein")

    monkeypatch.setattr(dio.os, "replace", boom)
    with pytest.raises(OSError, match="disque plein"):
        write_text_atomic(out, "nouveau")
    assert out.read_text(encoding="utf-8") == "ancien"
    assert sorted(os.listdir(tmp_path)) == ["t.txt"]

