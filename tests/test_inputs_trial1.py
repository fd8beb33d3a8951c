"""How inputs and options are read: the defects and suggestions of the first new-user trial (trial 1).

Rule checked throughout: bad input gets one French message naming the file, the row, the column, the value
and the rule broken, exit code 2, and nothing is written.  Expected values are written by hand (a calendar,
the rows of a file built here), never copied from the code's output.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS, app_row, write_applications, write_csv

from ditp_model.cli import main
from ditp_model.inputs.call import load_call_rules
from ditp_model.inputs.io import parse_date, read_applications
from ditp_model.inputs.schema import InputError, date_problem_fr, impossible_date_fr
from ditp_model.inputs.tables import read_output_csv

CALL = ["--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews", str(SAMPLE_REVIEWS)]


@pytest.fixture(scope="module")
def rules():
    return load_call_rules(RULES_PATH)


def _tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` -> SHA-256 of its bytes ({} when the folder does not exist)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# ---------------------------------------------------------------------------
# Item 10: an impossible date is named (one function for every date reader)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("year, month, day, expected", [
    (2021, 2, 31, "date impossible : le 31 février 2021 n'existe pas (février 2021 a 28 jours)"),
    (2021, 2, 29, "date impossible : le 29 février 2021 n'existe pas (février 2021 a 28 jours)"),
    (2100, 2, 29, "date impossible : le 29 février 2100 n'existe pas (février 2100 a 28 jours)"),  # not a leap year
    (2021, 4, 31, "date impossible : le 31 avril 2021 n'existe pas (avril 2021 a 30 jours)"),
    (2021, 13, 1, "date impossible : il n'y a pas de mois 13 (mois de 1 à 12)"),
    (2021, 1, 0, "date impossible : le 0 janvier 2021 n'existe pas (janvier 2021 a 31 jours)"),
])
def test_impossible_dates_named(year, month, day, expected):
    assert impossible_date_fr(year, month, day) == expected


@pytest.mark.parametrize("year, month, day", [(2024, 2, 29), (2000, 2, 29), (2021, 12, 31), (2021, 4, 30)])
def test_real_dates_are_not_impossible(year, month, day):
    assert impossible_date_fr(year, month, day) is None
    dt.date(year, month, day)  # the calendar agrees


def test_every_day_of_a_leap_cycle_agrees_with_the_calendar():
    # brute force against datetime: 400 years of the Gregorian calendar, days 0 to 32 of every month
    for year in range(2000, 2400, 7):
        for month in range(1, 13):
            for day in range(0, 33):
                try:
                    dt.date(year, month, day)
                    exists = True
                except ValueError:
                    exists = False
                assert (impossible_date_fr(year, month, day) is None) == exists, (year, month, day)


@pytest.mark.parametrize("text, expected", [
    ("31/02/2021", "date impossible : le 31 février 2021 n'existe pas"),
    ("2021-02-31", "date impossible : le 31 février 2021 n'existe pas"),
    ("31/02/2021 14:30", "date impossible : le 31 février 2021 n'existe pas"),
    ("31.04.2021", "date impossible : le 31 avril 2021 n'existe pas"),
    ("10/15/2021", "il n'y a pas de mois 15 (mois de 1 à 12) ; écrite mois en premier ? l'outil lit le jour en premier : "
                   "JJ/MM/AAAA (15/10/2021)"),
])
def test_parse_date_names_the_impossible_day(text, expected):
    with pytest.raises(ValueError, match="date impossible") as info:
        parse_date(text)
    assert expected in str(info.value)
    assert "date non reconnue" not in str(info.value)
    assert date_problem_fr(text) == str(info.value)


def test_impossible_date_in_applications_names_file_row_column(tmp_path, rules):
    path = write_applications(tmp_path / "a.csv", [app_row("A1"), app_row("A2", submitted_at="31/02/2021")])
    with pytest.raises(InputError) as info:
        read_applications(path, rules)
    (p,) = info.value.problems
    assert (p.row, p.column, p.value, p.code) == (3, "submitted_at", "31/02/2021", "bad_date")
    assert (f"{path}, ligne 3, colonne « submitted_at » : valeur « 31/02/2021 » — date impossible : le 31 février 2021 "
            "n'existe pas") in str(info.value)


def test_impossible_date_in_conflicts_on_the_command_line(tmp_path, capsys):
    decl = write_csv(tmp_path / "conflits.csv", ["person_id", "application_id", "nature", "role", "declared_on"],
                     [["R01", "P001", "Co-auteur", "", "15/10/2021"], ["R02", "P002", "Même service", "", "31/02/2021"]])
    out = tmp_path / "o"
    assert main(["score", *CALL, "--conflits", str(decl), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert (f"{decl}, ligne 3, colonne « declared_on » : valeur « 31/02/2021 » — date impossible : le 31 février 2021 "
            "n'existe pas") in err
    assert not out.exists()


# ---------------------------------------------------------------------------
# Item 7: --envelope 0 refused like envelope_eur = 0 in the call file
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["allocate", "report", "lottery"])
@pytest.mark.parametrize("written", ["0", "0 €", "000"])
def test_zero_envelope_on_the_command_line_is_refused_like_the_call_file(tmp_path, capsys, command, written):
    out = tmp_path / "o"
    code = main([command, *CALL, "--envelope", written, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"option --envelope : « 0 » : enveloppe nulle : aucun dossier ne pourrait être financé" in err
    assert not out.exists()
    # the same words as the call file's refusal of envelope_eur = 0
    text = RULES_PATH.read_text(encoding="utf-8").replace("envelope_eur = 3_000_000", "envelope_eur = 0")
    call = tmp_path / "appel.toml"
    call.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_call_rules(call)
    assert info.value.problems[0].rule in err


def test_positive_envelope_on_the_command_line_still_accepted(tmp_path):
    out = tmp_path / "o"
    assert main(["allocate", *CALL, "--provisoire", "--no-gaps", "--envelope", "300 000", "--out", str(out)]) == 0
    table = read_output_csv(out / "allocation.csv")
    assert 0 < table.loc[table["funded"], "award_eur"].sum() <= 300_000


# ---------------------------------------------------------------------------
# Item 17: the locks file's errors name file, row and column
# ---------------------------------------------------------------------------
#: The sample's two applications awaiting reviews, excluded so that the decision is final.
HELD_OUT = ["--lock-out", "P047=Avis non rendus à la date du comité", "P072=Avis non rendus"]


def _ineligible_and_below_threshold(rules):
    """(an ineligible application, one eligible but below a quality threshold) of the sample, found from the data."""
    from ditp_model.inputs.io import load_inputs
    from ditp_model.rules.candidates import threshold_failures
    from ditp_model.scoring.pipeline import evaluate

    ev = evaluate(load_inputs(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS))
    ineligible = sorted(ev.table.loc[~ev.table["eligible"], "application_id"])[0]
    below = sorted(threshold_failures(ev))[0]
    return ineligible, below


def test_lock_on_an_application_that_cannot_be_funded_names_row_column_value(tmp_path, capsys, rules):
    ineligible, below = _ineligible_and_below_threshold(rules)
    locks = write_csv(tmp_path / "verrous.csv", ["application_id", "decision", "motif"],
                      [["P014", "in", "Seul projet de Corse"], ["P011", "out", "Financé par ailleurs"],
                       [ineligible, "imposé", "Projet exemplaire"]])
    out = tmp_path / "o"
    code = main(["allocate", *CALL, *HELD_OUT, "--verrous", str(locks), "--lock-in", f"{below}=Priorité du ministre",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    # the file's row 4 (header = 1) imposes the ineligible one, written « imposé » in column « decision »
    assert (f"{locks}, ligne 4, colonne « decision » : valeur « imposé » — dossier {ineligible} imposé par le comité mais "
            "impossible à financer : non éligible") in err
    assert f"option --lock-in : valeur « {below} » — dossier {below} imposé par le comité mais impossible à financer : " \
           "non finançable" in err
    assert not out.exists()


def test_locks_file_without_a_motif_column_lists_every_row(tmp_path, capsys):
    locks = write_csv(tmp_path / "verrous.csv", ["application_id", "decision"],
                      [["P047", "out"], ["P072", "out"], ["P014", "in"]])
    out = tmp_path / "o"
    assert main(["allocate", *CALL, "--verrous", str(locks), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"le fichier {locks} n'a pas de colonne motif (en-têtes acceptés : « motif »" in err
    assert "l'ajouter et la remplir pour les lignes 2 (dossier P047), 3 (dossier P072) et 4 (dossier P014)" in err
    assert "remplir la colonne motif du fichier" not in err  # never asked to fill a column that does not exist
    assert not out.exists()


def test_locks_file_with_blank_motifs_lists_every_row_lacking_one(tmp_path, capsys):
    locks = write_csv(tmp_path / "verrous.csv", ["application_id", "decision", "motif"],
                      [["P047", "out", "Avis non rendus"], ["P072", "out", ""], ["P014", "in", ""]])
    out = tmp_path / "o"
    assert main(["allocate", *CALL, "--verrous", str(locks), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"remplir la colonne motif du fichier {locks} pour les lignes 3 (dossier P072) et 4 (dossier P014)" in err
    assert not out.exists()


# ---------------------------------------------------------------------------
# Suggestions S2-S5: nearest value, first line of a duplicate, « 3,5 » in a comma file, XLSX formulas
# ---------------------------------------------------------------------------
def _reviews(path: Path, rows: list[list[str]], **kwargs) -> Path:
    return write_csv(path, ["application_id", "reviewer_id", "impact_reform", "impact_replicability", "openness_codesign",
                            "openness_methods"], rows, **kwargs)


def test_duplicate_review_names_the_line_of_the_first(tmp_path, rules):
    from ditp_model.inputs.io import read_reviews

    path = _reviews(tmp_path / "e.csv", [["A1", "R1", "3", "3", "3", "3"], ["A1", "R2", "4", "4", "4", "4"],
                                         ["A1", "R1", "2", "2", "2", "2"]])
    with pytest.raises(InputError) as info:
        read_reviews(path, rules, ["A1"])
    (p,) = info.value.problems
    assert (p.row, p.column, p.value, p.code) == (4, "reviewer_id", "R1", "duplicate_review")
    assert "cet évaluateur a déjà noté le dossier A1 ligne 2" in p.rule


def test_unquoted_decimal_comma_in_a_comma_file_gets_the_hint(tmp_path, rules):
    from ditp_model.inputs.io import read_reviews

    path = tmp_path / "e.csv"
    path.write_text("application_id,reviewer_id,impact_reform,impact_replicability,openness_codesign,openness_methods\n"
                    "A1,R1,2,3,2,2.5\nA1,R2,3,5,2,2.5,2.5\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_reviews(path, rules, ["A1"])
    (p,) = info.value.problems
    assert (p.row, p.code) == (3, "extra_cells")
    assert "la ligne a 7 cellules pour 6 colonnes" in p.rule
    assert "une note écrite 3,5 dans un fichier séparé par des virgules ? l'écrire 3.5 ou entre guillemets (\"3,5\")" in p.rule


def test_extra_cells_without_a_split_number_get_no_decimal_hint(tmp_path, rules):
    from ditp_model.inputs.io import read_reviews

    path = tmp_path / "e.csv"
    path.write_text("application_id,reviewer_id,impact_reform,impact_replicability,openness_codesign,openness_methods\n"
                    "A1,R1,2.5,3.5,2.5,2.5,en trop\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_reviews(path, rules, ["A1"])
    assert "virgules ?" not in info.value.problems[0].rule


def test_xlsx_formula_without_computed_value_is_named(tmp_path, rules):
    from helpers import APP_HEADER, write_xlsx

    from ditp_model.inputs.io import read_reviews

    rows = []
    for aid, requested in (("A1", "=SUM(L2:O2)"), ("A2", 98000.4), ("A3", 100000)):
        row = app_row(aid)
        cells = [row[h] for h in APP_HEADER]
        cells[APP_HEADER.index("requested_eur")] = requested
        rows.append(cells)
    apps = write_xlsx(tmp_path / "a.xlsx", APP_HEADER, rows)
    with pytest.raises(InputError) as info:
        read_applications(apps, rules)
    found = {(p.row, p.column, p.value, p.code) for p in info.value.problems}
    assert found == {(2, "requested_eur", "=SUM(L2:O2)", "formula_without_value"),
                     (3, "requested_eur", "98000,4", "bad_amount")}  # the decimal comma French Excel shows
    text = str(info.value)
    assert "formule sans valeur calculée" in text and "ouvrir et enregistrer le fichier dans Excel" in text
    assert "valeur obligatoire manquante" not in text
    # a score given by a formula is a value the file lost, not a blank score (« non notée »)
    header = ["application_id", "reviewer_id", "impact_reform", "impact_replicability", "openness_codesign", "openness_methods"]
    revs = write_xlsx(tmp_path / "e.xlsx", header, [["A3", "R1", 3, "=2+1", 3, 3], ["A3", "R2", 4, 4, None, 4]])
    with pytest.raises(InputError) as info:
        read_reviews(revs, rules, ["A3"])
    assert [(p.row, p.column, p.code) for p in info.value.problems] == [(2, "impact_replicability", "formula_without_value")]


def test_xlsx_without_formulas_reads_blanks_as_blanks(tmp_path, rules):
    from helpers import APP_HEADER, write_xlsx

    rows = [[app_row(a)[h] for h in APP_HEADER] for a in ("A1", "A2")]
    apps = read_applications(write_xlsx(tmp_path / "a.xlsx", APP_HEADER, rows), rules)
    assert list(apps["application_id"]) == ["A1", "A2"] and list(apps["partners"]) == [(), ()]


@pytest.mark.parametrize("written, expected", [("a01", "A01"), ("A 01", "A01"), ("A001", "A01")])
def test_unknown_application_suggests_the_nearest(tmp_path, rules, written, expected):
    from ditp_model.inputs.io import read_reviews

    path = _reviews(tmp_path / "e.csv", [[written, "R1", "3", "3", "3", "3"]])
    with pytest.raises(InputError) as info:
        read_reviews(path, rules, ["A01", "B07", "C12"])
    assert f"vouliez-vous dire « {expected} » ?" in info.value.problems[0].rule


def test_unknown_application_far_from_all_gets_no_suggestion(tmp_path, rules):
    from ditp_model.inputs.io import read_reviews

    path = _reviews(tmp_path / "e.csv", [["Z99", "R1", "3", "3", "3", "3"]])
    with pytest.raises(InputError) as info:
        read_reviews(path, rules, ["A01", "B07"])
    assert "vouliez-vous dire" not in info.value.problems[0].rule


@pytest.mark.parametrize("column, written, expected", [
    ("region", "Ile de France", "Île-de-France"),
    ("region", "Provence Alpes Côte d'Azur", "Provence-Alpes-Côte d'Azur"),
    ("regions_covered", "Bretagne;Normandi", "Normandie"),
])
def test_unknown_region_suggests_the_nearest(tmp_path, rules, column, written, expected):
    path = write_applications(tmp_path / "a.csv", [app_row("A1", **{column: written})])
    with pytest.raises(InputError) as info:
        read_applications(path, rules)
    (p,) = info.value.problems
    assert p.column == column and p.rule.endswith(f"vouliez-vous dire « {expected} » ?")


def test_unknown_region_far_from_all_gets_no_suggestion(tmp_path, rules):
    path = write_applications(tmp_path / "a.csv", [app_row("A1", region="Atlantide")])
    with pytest.raises(InputError) as info:
        read_applications(path, rules)
    assert "vouliez-vous dire" not in info.value.problems[0].rule


def test_unknown_ids_in_locks_and_conflicts_suggest_the_nearest(tmp_path):
    from ditp_model.inputs.conflicts import read_conflicts
    from ditp_model.inputs.locks import read_locks

    locks = write_csv(tmp_path / "v.csv", ["application_id", "decision", "motif"], [["p047", "out", "x"]])
    with pytest.raises(InputError) as info:
        read_locks(locks, ["P047", "P072"])
    assert info.value.problems[0].rule.endswith("vouliez-vous dire « P047 » ?")
    decl = write_csv(tmp_path / "c.csv", ["person_id", "application_id", "nature"], [["r01", "P72", "lien"]])
    with pytest.raises(InputError) as info:
        read_conflicts(decl, ["P047", "P072"], ["R01", "R02"])
    rules_by_column = {p.column: p.rule for p in info.value.problems}
    assert rules_by_column["person_id"].endswith("vouliez-vous dire « R01 » ?")
    assert rules_by_column["application_id"].endswith("vouliez-vous dire « P072 » ?")


# ---------------------------------------------------------------------------
# Item 18: pabulib's human output in French, in the file's currency; --json unchanged
# ---------------------------------------------------------------------------
PABULIB = Path(__file__).resolve().parent / "data" / "pabulib"


@pytest.mark.parametrize("text, expected", [
    ("7998220", "7\u202f998\u202f220"), ("8000000", "8\u202f000\u202f000"), ("999", "999"), ("1000", "1\u202f000"),
    ("1057575.5", "1\u202f057\u202f575,5"), ("0.0009", "0,0009"), ("-12345", "-12\u202f345"), ("0", "0"),
])
def test_pabulib_numbers_the_french_way(text, expected):
    from ditp_model.cli.pabulib import number_fr

    assert number_fr(text) == expected


def _meta(path: Path, key: str) -> str:
    """The value of META `key` of a .pb file, read by hand (« key;value » lines before PROJECTS)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() == "PROJECTS":
            break
        if line.startswith(f"{key};"):
            return line.split(";", 1)[1].strip()
    raise KeyError(key)


@pytest.mark.parametrize("name", ["Netherlands_Assen_2024.pb", "Poland_Czestochowa_2020_Grabowka.pb"])
def test_pabulib_human_output_in_french_with_the_files_currency(capsys, name):
    import json

    path = PABULIB / name
    assert main(["pabulib", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert main(["pabulib", str(path)]) == 0
    out = capsys.readouterr().out
    currency = _meta(path, "currency")
    unit = "€" if currency == "EUR" else currency
    budget = int(_meta(path, "budget"))
    grouped = f"{budget:,}".replace(",", "\u202f")  # thousands by hand
    assert f" sur {grouped}\u00a0{unit} ; score total : " in out
    cost = f"{int(result['total_cost']):,}".replace(",", "\u202f")
    assert f"Coût total : {cost}\u00a0{unit} sur" in out
    assert "EUR" not in out  # euros written €
    assert f"{result['seconds']} s)" not in out or "." not in str(result["seconds"])  # decimal comma for the seconds


def test_pabulib_json_output_is_unchanged(capsys):
    import json

    assert main(["pabulib", str(PABULIB / "Netherlands_Assen_2024.pb"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["currency"] == "EUR" and result["budget"] == _meta(PABULIB / "Netherlands_Assen_2024.pb", "budget")
    assert "\u202f" not in result["total_cost"]  # exact text for programs


# ---------------------------------------------------------------------------
# S12: the lock message gives the time as a person reads it
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("started_at, expected", [
    ("2026-12-03T06:46:55+00:00", "03/12/2026 à 06:46 (UTC)"),
    ("2026-12-03T07:46:55+01:00", "03/12/2026 à 07:46 (UTC+01:00)"),
    ("2026-07-01T23:05:00-04:30", "01/07/2026 à 23:05 (UTC-04:30)"),
    ("2026-12-03T06:46:55", "03/12/2026 à 06:46"),
    ("ce matin", "ce matin"),  # written by an older or another program: shown as written
])
def test_lock_time_in_french(started_at, expected):
    from ditp_model.publication import when_fr

    assert when_fr(started_at) == expected


def test_folder_lock_message_gives_the_french_time(tmp_path):
    import json
    import socket

    from ditp_model import publication as P

    out = tmp_path / "resultats"
    out.mkdir()
    (out / P.LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "autre-poste" + socket.gethostname(),
                                               "command": "ditp-model report", "started_at": "2026-12-03T06:46:55+00:00"}),
                                   encoding="utf-8")
    with pytest.raises(P.FolderLockedError) as info:
        P.publish_files(out, {"a.txt": b"x"})
    assert "depuis le 03/12/2026 à 06:46 (UTC)" in str(info.value)
    assert "2026-12-03T06:46:55" not in str(info.value)


@pytest.mark.parametrize("text", ["2021-02-31 10:00:00 +0200", "2021-02-31T10:00:00+02:00", "31/02/2021"])
def test_demarches_timestamps_name_the_impossible_day(text):
    from ditp_model.inputs.demarches import parse_ds_timestamp

    with pytest.raises(ValueError, match="date impossible : le 31 février 2021 n'existe pas"):
        parse_ds_timestamp(text)


def test_unknown_lock_on_the_command_line_suggests_the_nearest(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["allocate", *CALL, "--provisoire", "--lock-in", "p014=Seul projet de Corse", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "verrou sur un dossier inconnu : p014 (vouliez-vous dire « P014 » ?)" in err
    assert not out.exists()


def test_report_names_the_locks_file_row_of_an_impossible_lock(tmp_path, capsys, rules):
    ineligible, _ = _ineligible_and_below_threshold(rules)
    locks = write_csv(tmp_path / "verrous.csv", ["application_id", "decision", "motif"],
                      [["P014", "in", "Seul projet de Corse"], [ineligible, "in", "Projet exemplaire"]])
    out = tmp_path / "r"
    assert main(["report", *CALL, "--provisoire", "--verrous", str(locks), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "aucun rapport publié" in err
    assert (f"{locks}, ligne 3, colonne « decision » : valeur « in » — dossier {ineligible} imposé par le comité mais "
            "impossible à financer : non éligible") in err
    assert not out.exists()


def test_letters_date_option_names_the_impossible_day(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["lettres", "--manifest", str(tmp_path / "manifest.json"), "--date", "2022-02-29"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "option --date : « 2022-02-29 » : date impossible : le 29 février 2022 n'existe pas (février 2022 a 28 jours)" in err
