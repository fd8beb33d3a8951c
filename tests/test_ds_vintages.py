"""Issue 16: démarches-simplifiées exports of every vintage (2021, 2023, current) and format (XLSX, ODS, CSV).

The exports are written by ``tests/ds_vintages.py`` from the platform's source
(each convention cites its file there); the expected values below are worked
out by hand from the dossiers of that module, never copied from the import.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import ds_vintages as V
import pandas as pd
import pytest

from ditp_model.rules.allocation import AllocationParams, allocate
from ditp_model.inputs.call import load_call_rules
from ditp_model.cli import main
from ditp_model.inputs.demarches import block_sheet_name, import_export, parse_ds_timestamp, read_export
from ditp_model.scoring.eligibility import check_eligibility
from ditp_model.inputs.io import Inputs
from ditp_model.scoring.pipeline import evaluate
from ditp_model.inputs.schema import InputError

ROOT = Path(__file__).resolve().parents[1]
#: Quality thresholds lifted: these tests compare formats, not the call's thresholds.
NO_THRESHOLDS = AllocationParams(min_score=0.0, min_criterion=())
CALL = ROOT / "data" / "appel_2021.toml"
CASES = [(v, f) for v in V.VINTAGES for f in V.FORMATS]


@pytest.fixture(scope="module")
def rules():
    return load_call_rules(CALL)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    d = tmp_path_factory.mktemp("vintages")
    (d / "mapping.toml").write_text(V.mapping_text(CALL), encoding="utf-8")
    (d / "mapping_label.toml").write_text(V.mapping_text(CALL, block_id=False), encoding="utf-8")
    files = {(v, f): V.write(v, f, d / f"dossiers_{v}.{f}") for v, f in CASES}
    return {"dir": d, "mapping": d / "mapping.toml", "mapping_label": d / "mapping_label.toml", "files": files}


@pytest.fixture(scope="module")
def imported(exports, rules):
    return {(v, f): import_export(exports["files"][(v, f)], exports["mapping"], rules, without_blocks=f == "csv") for v, f in CASES}


# --------------------------------------------------------------------------- sheet names


def test_block_sheet_name_as_the_platform_builds_it():
    # Worked by hand through libelle_for_export (delete []*?, strip, ": ; % $ | / \\" -> "-"),
    # I18n.transliterate (œ -> oe, ß -> ss, unknown -> "?"), delete "/*?[]", cut to 30 characters.
    assert block_sheet_name(4811, "Partenaires : acteurs ; cœur du projet") == "(4811) Partenaires - acteurs -"
    assert block_sheet_name(12, "Équipe / Straße [x]*?") == "(12) Equipe - Strasse x"
    assert block_sheet_name(3, "Œuvres € – 50 %") == "(3) OEuvres   50 -"
    assert block_sheet_name(9, "Coûts $ | frais") == "(9) Couts - - frais"
    # the fixture's own re-implementation agrees on the label it uses
    assert V.ruby_sheet_name(V.BLOCK_ID, V.BLOCK_LABEL) == V.BLOCK_SHEET


@pytest.mark.parametrize("fmt", ["xlsx", "ods"])
def test_block_found_by_id_or_by_the_platform_name_of_its_label(exports, rules, fmt):
    path = exports["files"][("courant", fmt)]
    assert V.BLOCK_SHEET in read_export(path).sheets
    by_label, _r, _rep = import_export(path, exports["mapping_label"], rules)
    by_id, _r, _rep = import_export(path, exports["mapping"], rules)
    want = [tuple(p for p, _t in d["partners"]) for d in V.DOSSIERS if d["state"] != "Refusé"]
    assert by_label["partners"].tolist() == want == by_id["partners"].tolist()


# --------------------------------------------------------------------------- vintage


@pytest.mark.parametrize("vintage,fmt", CASES)
def test_vintage_is_detected_and_reported(imported, vintage, fmt):
    report = imported[(vintage, fmt)][2]
    # a CSV has no Avis sheet, the only header telling 2021 from 2023
    want = "avant 2024" if fmt == "csv" and vintage != "courant" else vintage
    assert report.vintage.code == want
    assert report.vintage.blank_numbers == ("zero" if vintage == "courant" else "empty")
    assert "Millésime de l'export" in report.summary_fr()
    assert report.to_dict()["vintage"]["code"] == want


# --------------------------------------------------------------------------- same tables from every vintage and format


@pytest.mark.parametrize("vintage,fmt", CASES)
def test_every_vintage_and_format_gives_the_hand_computed_table(imported, vintage, fmt):
    apps = imported[(vintage, fmt)][0]
    want = V.expected_applications()
    assert apps["application_id"].tolist() == [w["application_id"] for w in want]
    for w, (_i, row) in zip(want, apps.iterrows()):
        assert row["title"] == w["title"]
        assert row["lead_org"] == w["lead_org"] and row["lead_org_type"] == w["lead_org_type"]
        assert row["region"] == w["region"] and row["maturity"] == w["maturity"]
        assert row["requested_eur"] == w["requested_eur"]
        got_exp = (row["expense_services_eur"], row["expense_digital_tools_eur"], row["expense_training_eur"], row["expense_other_eur"])
        assert got_exp == w["expenses"] and all(type(x) is int for x in got_exp)
        assert row["submitted_at"] == pd.Timestamp(w["submitted_at"])
        if fmt != "csv":
            assert row["partners"] == w["partners"] and row["partner_types"] == w["partner_types"]
        else:
            assert row["partners"] == ()
    # emoji: a space in the current export (« Accueil   des », three spaces), the character itself before May 2025:
    # the same canonical text, with the run of spaces reduced to one
    assert apps.loc[apps["application_id"] == "7001", "title"].iloc[0] == "Accueil des usagers en préfecture"


def test_all_nine_exports_give_one_table(imported):
    ref = imported[("courant", "xlsx")][0].drop(columns="source_row")
    for key, (apps, _r, _rep) in imported.items():
        got = apps.drop(columns="source_row")
        if key[1] == "csv":
            got = got.drop(columns=["partners", "partner_types"])
            pd.testing.assert_frame_equal(got, ref.drop(columns=["partners", "partner_types"]), obj=str(key))
        else:
            pd.testing.assert_frame_equal(got, ref, obj=str(key))


def test_reviews_identical_from_every_spreadsheet_export(imported):
    want = {(d["id"], n): sc for d in V.DOSSIERS if d["state"] != "Refusé" for n, sc in enumerate(d["scores"])}
    cols = ["impact_reform", "impact_replicability", "openness_codesign", "openness_methods"]
    for (vintage, fmt), (_a, reviews, _rep) in imported.items():
        if fmt == "csv":
            assert reviews is None
            continue
        assert len(reviews) == len(want)
        got = {(r["application_id"], int(r["reviewer_id"][1:]) - 1): tuple(r[c] for c in cols) for _i, r in reviews.iterrows()}
        assert got == {k: tuple(float(x) for x in v) for k, v in want.items()}, (vintage, fmt)
    # a 0 typed by an expert stays 0 (7005's « Méthodes innovantes »)
    r = imported[("2021", "xlsx")][1]
    assert r.loc[r["application_id"] == "7005", "openness_methods"].tolist() == [0.0, 1.0]


# --------------------------------------------------------------------------- deadline: truncation, not rounding


@pytest.mark.parametrize("vintage,fmt", CASES)
def test_deposit_one_second_before_deadline_is_eligible_from_every_format(imported, rules, vintage, fmt):
    apps = imported[(vintage, fmt)][0]
    at = dict(zip(apps["application_id"], apps["submitted_at"]))
    assert at[V.DEADLINE_DOSSIER] == pd.Timestamp("2021-10-15 23:59:59")  # 23:59:59.720: truncated
    assert at["7002"] == pd.Timestamp("2021-10-01 14:03:07")  # .999 stays in its second
    assert at[V.LATE_DOSSIER] == pd.Timestamp("2021-10-16 00:00:00")
    el = check_eligibility(apps, rules).set_index("application_id")
    assert bool(el.at[V.DEADLINE_DOSSIER, "eligible"]) is True
    assert bool(el.at[V.LATE_DOSSIER, "eligible"]) is False and "late_submission" in el.at[V.LATE_DOSSIER, "reason_codes"]


def test_same_decision_from_every_spreadsheet_format(imported, rules):
    # Envelope 3 M€, every eligible dossier with two reviews is funded at its request (min_share = 1):
    # 7005 75 000, 7001 100 000, 7002 90 000, 7003 110 000; 7004 is late.  The call's quality thresholds are
    # lifted (7005's scores are under them): the point is that every format gives the same decision.
    want = {"7005": 75_000, "7001": 100_000, "7002": 90_000, V.DEADLINE_DOSSIER: 110_000}
    for key, (apps, reviews, _rep) in imported.items():
        if key[1] == "csv":
            continue
        alloc = allocate(evaluate(Inputs(rules, apps, reviews, {})), NO_THRESHOLDS)
        assert alloc.is_optimal
        d = alloc.decisions[alloc.decisions["funded"]]
        assert dict(zip(d["application_id"], d["award_eur"].astype(int))) == want, key


def test_xlsx_serial_just_under_a_second_is_not_rounded_up(tmp_path):
    import openpyxl

    # 2021-10-15 23:59:59.9996 Paris: openpyxl alone rounds to the millisecond, i.e. to 2021-10-16 00:00:00.000
    t = V.paris(2021, 10, 15, 23, 59, 59, 999_600)
    wb = openpyxl.Workbook()
    wb.active.title = "Dossiers"
    wb.active.append(["ID", "Déposé le"])
    wb.active.append(["1", V.excel_serial(t)])
    wb.active["B2"].number_format = "yyyy/m/d h:mm AM/PM"
    wb.save(tmp_path / "bord.xlsx")
    cell = read_export(tmp_path / "bord.xlsx").sheet("Dossiers").rows[0][1][1]
    assert parse_ds_timestamp(cell) == pd.Timestamp("2021-10-15 23:59:59")


# --------------------------------------------------------------------------- CSV without blocks nor Avis


def test_csv_for_a_mapping_with_blocks_and_avis_is_refused(exports, rules):
    with pytest.raises(InputError) as err:
        import_export(exports["files"][("courant", "csv")], exports["mapping"], rules)
    (p,) = err.value.problems
    assert p.code == "csv_without_blocks" and "feuille « Dossiers »" in p.file
    assert V.BLOCK_LABEL in p.rule and "feuille Avis" in p.rule and "--sans-blocs" in p.rule


def test_csv_with_explicit_opt_out_says_what_is_missing_and_it_changes_eligibility(imported, rules):
    apps, reviews, report = imported[("courant", "csv")]
    assert reviews is None and len(report.missing_in_format) == 2
    assert "partenaires" in report.missing_in_format[0] and "candidature collective" in report.missing_in_format[0]
    assert "notes des experts" in report.missing_in_format[1]
    assert "--sans-blocs" in report.summary_fr()
    # 7002 (a local authority) needs a State partner, which only the block carries
    el_csv = check_eligibility(apps, rules).set_index("application_id")
    el_xlsx = check_eligibility(imported[("courant", "xlsx")][0], rules).set_index("application_id")
    assert bool(el_xlsx.at["7002", "eligible"]) is True and bool(el_csv.at["7002", "eligible"]) is False


def test_cli_sans_blocs(exports, tmp_path, capsys):
    path = exports["files"][("2023", "csv")]
    assert main(["import-ds", str(path), "--mapping", str(exports["mapping"]), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "(option --sans-blocs de ditp-model import-ds)" in err
    assert "without_blocks" not in err and "True" not in err  # French for a person, not the Python argument
    assert main(["import-ds", str(path), "--mapping", str(exports["mapping"]), "--out", str(tmp_path / "b"), "--sans-blocs"]) == 0
    out = capsys.readouterr()
    assert "Millésime de l'export : format antérieur à février 2024" in out.out
    assert "manque" in out.err and "partenaires" in out.err


# --------------------------------------------------------------------------- ODS specifics and other conventions


def test_ods_without_mimetype_and_without_extension_is_read_as_ods(exports, rules):
    src = exports["files"][("courant", "ods")]
    import zipfile

    assert "mimetype" not in zipfile.ZipFile(src).namelist()
    bare = exports["dir"] / "export_sans_extension"
    shutil.copy(src, bare)
    exp = read_export(bare)
    assert exp.format == "ods"
    avis = exp.sheet("Avis")
    j = avis.header.index("Réponse oui/non")
    assert [r[j] for _l, r in avis.rows[:2]] == ["true", None]  # rodf writes false as an empty cell


def test_old_blank_expenses_read_as_zero_and_reported(imported):
    report = imported[("2021", "xlsx")][2]
    blank = [n for n in report.notes if "laissé(s) vide(s) lu(s) comme 0 €" in n]
    # blanks by hand: 7005 three, 7001 two, 7002 one, 7003 one, 7004 three = 10
    assert len(blank) == 1 and blank[0].startswith("10 montant(s)")
    assert not any("laissé(s) vide(s)" in n for n in imported[("courant", "xlsx")][2].notes)


def _edited(tmp_path, vintage, fmt, dossier, header, value) -> Path:
    book = V.build_book(vintage, fmt)
    head, rows = book["Dossiers"]
    for row in rows:
        if row[0] == dossier:
            row[head.index(header)] = value
    path = tmp_path / f"edit.{fmt}"
    {"xlsx": V.write_xlsx, "ods": V.write_ods, "csv": V.write_csv}[fmt](book, path)
    return path


def test_truncated_thousand_amount_is_refused_naming_the_dossier(tmp_path, exports, rules):
    path = _edited(tmp_path, "courant", "xlsx", "7001", "Montant demandé (€)", 45)  # "45 000 €".to_i
    with pytest.raises(InputError) as err:
        import_export(path, exports["mapping"], rules)
    problems = [p for p in err.value.problems if p.code == "truncated_amount"]
    assert len(problems) == 1
    p = problems[0]
    assert p.column == "Montant demandé (€)" and p.value == 45 and "7001" in p.rule and "45 000 €" in p.rule and "to_i" in p.rule


def test_other_free_text_named_in_the_message(tmp_path, exports, rules):
    path = _edited(tmp_path, "2023", "ods", "7005", "Type de structure porteuse", "Université fictive")
    with pytest.raises(InputError) as err:
        import_export(path, exports["mapping"], rules)
    (p,) = err.value.problems
    assert p.value == "Université fictive" and "« Autre »" in p.rule and "[values.lead_org_type]" in p.rule


def test_ods_strips_spaces_and_text_is_stripped_everywhere(imported):
    titles = {k: a.loc[a["application_id"] == "7005", "title"].iloc[0] for k, (a, _r, _p) in imported.items()}
    assert set(titles.values()) == {"Des ateliers de design de service"}


def test_old_export_zero_amount_is_a_real_zero(tmp_path, exports, rules):
    # Before April 2024 a 0 is what was typed: 7001's « Dont autres dépenses » at 0 stays 0 and is not reported.
    path = _edited(tmp_path, "2023", "csv", "7001", "Dont autres dépenses (€)", 0)
    apps, _r, report = import_export(path, exports["mapping"], rules, without_blocks=True)
    assert apps.loc[apps["application_id"] == "7001", "expense_other_eur"].iloc[0] == 0
    assert not any("à 0 € gardés" in n for n in report.notes)
    assert not math.isnan(apps["requested_eur"].sum())


# --------------------------------------------------------------------------- the sample export of data/


def test_data_sample_export_is_the_fixture_and_imports_in_every_format(rules, tmp_path):
    import tomllib

    data = ROOT / "data"
    mapping = data / V.SAMPLE_MAPPING
    regenerated = V.write_sample(tmp_path)
    assert tomllib.loads(mapping.read_text(encoding="utf-8")) == tomllib.loads(regenerated[-1].read_text(encoding="utf-8"))
    assert (data / V.SAMPLE_NAMES["csv"]).read_bytes() == (tmp_path / V.SAMPLE_NAMES["csv"]).read_bytes()
    want = [w["application_id"] for w in V.expected_applications()]
    tables = {}
    for fmt, name in V.SAMPLE_NAMES.items():
        apps, reviews, report = import_export(data / name, mapping, without_blocks=fmt == "csv")
        assert apps["application_id"].tolist() == want and report.vintage.code == "courant"
        tables[fmt] = apps.drop(columns="source_row")
        if fmt != "csv":
            alloc = allocate(evaluate(Inputs(rules, apps, reviews, {})), NO_THRESHOLDS)
            d = alloc.decisions[alloc.decisions["funded"]]
            assert dict(zip(d["application_id"], d["award_eur"].astype(int))) == {"7005": 75_000, "7001": 100_000, "7002": 90_000,
                                                                                  "7003": 110_000}
    pd.testing.assert_frame_equal(tables["xlsx"], tables["ods"])


# --------------------------------------------------------------------------- vintage rules, unit level


def _with_column(vintage: str, fmt: str, header: str, values: dict) -> dict:
    book = V.build_book(vintage, fmt)
    head, rows = book["Dossiers"]
    head.append(header)
    for row in rows:
        row.append(values.get(row[0]))
    return book


@pytest.mark.parametrize("fmt", ["xlsx", "ods"])
def test_annotation_zero_is_a_real_zero_before_2024_and_a_blank_now(tmp_path, rules, fmt):
    """« Note d'instruction » (Nombre décimal, annotation): 7001 typed 0, 7002 typed 4.5, the others left blank."""
    mapping = tmp_path / "m.toml"
    mapping.write_text(V.mapping_text(CALL) + '\n[[reviews.annotations]]\nreviewer = "instruction"\nimpact_reform = "Note d\'instruction"\n',
                       encoding="utf-8")
    got = {}
    for vintage in ("2023", "courant"):
        blank = 0 if vintage == "courant" else None  # what the platform writes for the blank ones
        values = {d["id"]: blank for d in V.DOSSIERS} | {"7001": 0.0, "7002": 4.5}
        path = tmp_path / f"{vintage}.{fmt}"
        {"xlsx": V.write_xlsx, "ods": V.write_ods}[fmt](_with_column(vintage, fmt, "Note d'instruction", values), path)
        _a, reviews, report = import_export(path, mapping, rules)
        inst = reviews[reviews["reviewer_id"] == "instruction"]
        got[vintage] = (dict(zip(inst["application_id"], inst["impact_reform"])), len(report.zero_as_missing))
    assert got["2023"] == ({"7001": 0.0, "7002": 4.5}, 0)  # a 0 is what the instructor typed
    # now a 0 cannot be told from a blank: 7001's and the three blank candidates' zeros are reported, not scored
    assert got["courant"] == ({"7002": 4.5}, 4)


def test_vintage_2024_and_template(tmp_path, exports, rules):
    from ditp_model.inputs.demarches import Export, Sheet, detect_vintage

    def export(*headers, fmt="xlsx"):
        return Export("x", fmt, "", {"Dossiers": Sheet("Dossiers", tuple(headers), ())})

    v = detect_vintage(export("ID", "Email", "FranceConnect ?", "Archivé", "État du dossier"))
    assert v.code == "2024" and v.blank_numbers == "uncertain" and v.zero_may_be_blank
    assert detect_vintage(export("ID", "Email", "Archivé"), template=True).code == "modèle"
    v = detect_vintage(export("ID", "Email", "Archivé", fmt="csv"))
    assert v.code == "avant 2024" and not v.zero_may_be_blank and "CSV" in v.label_fr


def test_template_label_for_the_deposit_date_is_explained(tmp_path, exports, rules):
    mapping = tmp_path / "m.toml"
    mapping.write_text(V.mapping_text(CALL).replace("[fields]\n", '[fields]\nsubmitted_at = "Date de dépôt"\n'), encoding="utf-8")
    with pytest.raises(InputError) as err:
        import_export(exports["files"][("courant", "xlsx")], mapping, rules)
    (p,) = err.value.problems
    assert p.column == "Date de dépôt" and p.code == "missing_column"
    assert "« à partir d'un modèle »" in p.rule and "« Déposé le »" in p.rule
