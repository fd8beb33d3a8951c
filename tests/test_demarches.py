"""Importing a démarches-simplifiées export (issue 7): XLSX, ODS and CSV give the sample's table and decision.

The exports are written by ``tests/ds_fixtures.py`` to the layout documented in
``shared/formats/demarches-simplifiees-export.md``, from the 110 sample
applications and their reviews; they are built once per module.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import tomllib
from pathlib import Path

import ds_fixtures as F
import pandas as pd
import pytest

from ditp_model.rules.allocation import allocate
from ditp_model.inputs.call import load_call_rules
from ditp_model.cli import main
from ditp_model.inputs.demarches import (
    import_export,
    load_mapping,
    parse_ds_bool,
    parse_ds_timestamp,
    read_export,
    split_multiple_choice,
    suggest_mapping,
)
from ditp_model.inputs.io import Inputs, load_inputs, read_applications, read_reviews, sha256_file
from ditp_model.inputs.tables import read_output_csv
from ditp_model.scoring.pipeline import evaluate
from ditp_model.inputs.schema import InputError

RULES_PATH = F.DATA / "appel_2021.toml"
PERSONAL_MARKERS = ("@exemple", "Nomfictif", "01 45 67", "Camille", "Dominique")


@pytest.fixture(scope="module")
def rules():
    return load_call_rules(RULES_PATH)


@pytest.fixture(scope="module")
def sample(rules):
    apps = read_applications(F.SAMPLE_APPLICATIONS, rules)
    reviews = read_reviews(F.SAMPLE_REVIEWS, rules, apps["application_id"])
    return apps, reviews


@pytest.fixture(scope="module")
def sample_decision(rules):
    alloc = allocate(evaluate(load_inputs(RULES_PATH, F.SAMPLE_APPLICATIONS, F.SAMPLE_REVIEWS)))
    assert alloc.is_optimal
    d = alloc.decisions
    return dict(zip(d.loc[d["funded"], "application_id"], d.loc[d["funded"], "award_eur"].astype(int)))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The three exports of the sample and their mappings, written once."""
    d = tmp_path_factory.mktemp("ds")
    (d / "mapping.toml").write_text(F.mapping_text(), encoding="utf-8")
    (d / "mapping_champs.toml").write_text(F.mapping_text(partners="fields"), encoding="utf-8")
    return {
        "xlsx": (F.build(d / "dossiers_siret.xlsx", identity="siret"), d / "mapping.toml"),
        "ods": (F.build(d / "dossiers_particuliers.ods", identity="individual", layout="old"), d / "mapping.toml"),
        "csv": (F.build(d / "dossiers_siret.csv", identity="siret", partners="fields"), d / "mapping_champs.toml"),
        "dir": d,
    }


@pytest.fixture(scope="module")
def imported(built, rules):
    # The CSV carries no Avis sheet, which the mapping reads: imported with the explicit opt-out (--sans-blocs).
    return {fmt: import_export(built[fmt][0].path, built[fmt][1], rules, without_blocks=fmt == "csv") for fmt in ("xlsx", "ods", "csv")}


def as_sample(apps: pd.DataFrame, fx: F.Fixture) -> pd.DataFrame:
    """Imported applications with the sample's ids, in the sample's order, without source lines."""
    out = apps.assign(application_id=apps["application_id"].map(fx.sample_id))
    return out.sort_values("application_id").reset_index(drop=True).drop(columns="source_row")


def write_problem_export(tmp_path, edit, name="casse.xlsx", **options):
    return F.build(tmp_path / name, edit=edit, **options).path


# --------------------------------------------------------------------------- the acceptance criterion


@pytest.mark.parametrize("fmt", ["xlsx", "ods", "csv"])
def test_each_format_imports_to_the_sample_table(fmt, built, imported, sample):
    fx, _ = built[fmt]
    apps, _reviews, report = imported[fmt]
    ref = sample[0].sort_values("application_id").reset_index(drop=True).drop(columns="source_row")
    got = as_sample(apps, fx)
    # The platform gives the submission time; the sample CSV only the day.
    assert (got["submitted_at"].dt.normalize() == ref["submitted_at"]).all()
    assert not (got["submitted_at"] == got["submitted_at"].dt.normalize()).all()
    pd.testing.assert_frame_equal(got.drop(columns="submitted_at"), ref.drop(columns="submitted_at"))
    assert got["submitted_at"].dtype == ref["submitted_at"].dtype
    # Dossier numbers kept as text, rows in the export's order (ascending "Déposé le").
    assert apps["application_id"].tolist() == list(fx.candidates)
    assert apps["submitted_at"].is_monotonic_increasing
    assert report.n_candidates == 110 and report.n_dossiers == 115
    assert {e.application_id: e.state for e in report.excluded} == fx.non_candidates
    assert report.identity == ("particuliers" if fmt == "ods" else "personnes morales (SIRET)")


@pytest.mark.parametrize("fmt", ["xlsx", "ods"])
def test_avis_scores_are_the_sample_reviews(fmt, built, rules, sample):
    fx, mapping = built[fmt]
    _apps, reviews, report = import_export(fx.path, mapping, rules, keep_personal_data=True)
    email = dict(zip(report.experts["reviewer_id"], report.experts["expert_email"]))
    got = reviews.assign(application_id=reviews["application_id"].map(fx.sample_id),
                         reviewer_id=reviews["reviewer_id"].map(lambda r: fx.expert_reviewer[email[r]]))
    key = ["application_id", "reviewer_id"]
    ref = sample[1].sort_values(key).reset_index(drop=True).drop(columns="source_row")
    pd.testing.assert_frame_equal(got.sort_values(key).reset_index(drop=True).drop(columns="source_row"), ref)
    assert (ref[list(rules.review_columns)] == 0).sum().sum() > 0  # real zeros typed by experts stay zeros
    # Answered, unanswered and revoked requests (the export cannot tell the last two apart).
    assert report.avis == {"with_scores": 325, "without_scores": 8, "unanswered": 3, "not_candidate": 2, "superseded": 1}
    assert set(reviews["reviewer_id"]) <= {f"E{k:02d}" for k in range(1, 20)}


def test_csv_has_no_avis_so_no_reviews(imported):
    _apps, reviews, report = imported["csv"]
    assert reviews is None
    assert any("CSV ne contient pas les avis" in n for n in report.notes)


def _decision(apps: pd.DataFrame, reviews: pd.DataFrame, rules, fx: F.Fixture) -> dict:
    alloc = allocate(evaluate(Inputs(rules, apps, reviews, {})))
    assert alloc.is_optimal
    d = alloc.decisions[alloc.decisions["funded"]]
    return {fx.sample_id[a]: int(x) for a, x in zip(d["application_id"], d["award_eur"])}


@pytest.mark.parametrize("fmt", ["xlsx", "ods", "csv"])
def test_allocation_on_the_import_gives_the_sample_decision(fmt, built, rules, sample_decision, tmp_path, capsys):
    """End to end: ``import-ds`` writes the canonical CSVs, ``load_inputs`` reads them, the decision is the sample's."""
    fx, mapping = built[fmt]
    assert main(["import-ds", str(fx.path), "--mapping", str(mapping), "--out", str(tmp_path)] + (["--sans-blocs"] if fmt == "csv" else [])) == 0
    assert "Candidatures retenues : 110." in capsys.readouterr().out
    reviews_file = tmp_path / "evaluations.csv"
    if fmt == "csv":  # the CSV export has no Avis sheet: the reviews come from the sample, under the dossier numbers
        assert not reviews_file.exists()
        number = {v: k for k, v in fx.sample_id.items()}
        with open(F.SAMPLE_REVIEWS, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        reviews_file = tmp_path / "evaluations_echantillon.csv"
        with open(reviews_file, "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([rows[0]] + [[number[r[0]], *r[1:]] for r in rows[1:]])
    inputs = load_inputs(RULES_PATH, tmp_path / "candidatures.csv", reviews_file)
    assert _decision(inputs.applications, inputs.reviews, rules, fx) == sample_decision
    report = json.loads((tmp_path / "rapport_import.json").read_text(encoding="utf-8"))
    assert report["import"]["export_sha256"] == sha256_file(fx.path)
    assert set(report["outputs"]) == {p.name for p in tmp_path.glob("*.csv") if p.name != "evaluations_echantillon.csv"}


def test_decision_from_the_returned_tables(built, imported, rules, sample_decision):
    fx, _ = built["ods"]
    apps, reviews, _ = imported["ods"]
    assert _decision(apps, reviews, rules, fx) == sample_decision


# --------------------------------------------------------------------------- serialisation rules


def test_empty_sheet_without_header_and_block_sheets(built):
    ods = read_export(built["ods"][0].path)
    assert ods.sheet("Etablissements").header is None and ods.sheet("Etablissements").rows == ()
    xlsx = read_export(built["xlsx"][0].path)
    assert list(xlsx.sheets)[:3] == ["Dossiers", "Etablissements", "Avis"]
    assert [(b, label) for b, label, _ in xlsx.block_sheets()] == [("4811", "Partenaires"), ("4920", "Sites d'experimentation")]
    dossiers = xlsx.sheet("Dossiers")
    row = dict(zip(dossiers.header, dossiers.rows[0][1]))
    assert isinstance(row["ID"], str) and row["À archiver"] == "false" and isinstance(row["Déposé le"], dt.datetime)
    assert row["Montant demandé (€)"] > 0 and isinstance(row["Montant demandé (€)"], int)
    assert "Région de la structure porteuse (Code)" in dossiers.header
    assert len(dossiers.positions("Observations")) == 2  # a label used by a field and an annotation
    csv_dossiers = read_export(built["csv"][0].path).sheet("Dossiers")
    assert "Établissement SIRET" in csv_dossiers.header and "Etablissement enseigne" not in csv_dossiers.header


def test_ods_reader_agrees_with_pandas(built):
    path = built["ods"][0].path
    ours = read_export(path).sheet("Avis")
    theirs = pd.read_excel(path, sheet_name="Avis", header=None, engine="odf", dtype=object)
    assert tuple(theirs.iloc[0]) == ours.header
    for (line, cells), (_, row) in zip(ours.rows, theirs.iloc[1:].iterrows()):
        assert line == _ + 1
        assert [None if (isinstance(v, float) and math.isnan(v)) else v for v in row][:len(cells)] == list(cells)


def test_blank_numbers_exported_as_zero(built, tmp_path, rules):
    """Current exports write a blank number as 0 (old ones leave it empty): a 0 score is a missing score, and reported."""
    text = F.mapping_text() + '\n[[reviews.annotations]]\nreviewer = "instruction"\nimpact_reform = "Note d\'instruction"\n'
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    fx_new, _ = built["xlsx"]
    _a, reviews, report = import_export(fx_new.path, tmp_path / "m.toml", rules)
    inst = reviews[reviews["reviewer_id"] == "instruction"]
    assert len(inst) == 11 and (inst["impact_reform"] == 3.5).all() and inst["impact_replicability"].isna().all()
    assert len(report.zero_as_missing) == 99
    assert "note 0 lue comme non renseignée" in report.zero_as_missing[0]
    fx_old, _ = built["ods"]  # before April 2024: blanks are empty, nothing to report
    _a, reviews, report = import_export(fx_old.path, tmp_path / "m.toml", rules)
    assert len(reviews[reviews["reviewer_id"] == "instruction"]) == 11 and report.zero_as_missing == ()


def test_zero_requested_amount_is_missing(tmp_path, built):
    def edit(book):
        book.set("Dossiers", "ID", "400010", "Montant demandé (€)", 0)

    path = write_problem_export(tmp_path, edit)
    with pytest.raises(InputError) as err:
        import_export(path, built["xlsx"][1])
    (p,) = err.value.problems
    assert "feuille « Dossiers »" in p.file and p.column == "Montant demandé (€)" and p.value == "0" and p.row >= 2
    assert "exporte un nombre non rempli comme 0" in p.rule and p.code == "zero_as_missing"


def test_accepted_dossiers_on_request_and_winter_offset(built, rules):
    for fmt in ("xlsx", "ods", "csv"):
        fx, mapping = built[fmt]
        apps, _r, report = import_export(fx.path, mapping, rules, include_accepted=True, without_blocks=fmt == "csv")
        assert len(apps) == 112 and {e.state for e in report.excluded} == {"Refusé", "Classé sans suite"}
        accepted = apps[apps["application_id"] == "400114"]  # submitted on 2 November 2021: +0100 in ODS and CSV
        assert accepted["submitted_at"].iloc[0] == pd.Timestamp("2021-11-02 08:00") + pd.Timedelta(minutes=114)


def test_timestamps_and_booleans():
    assert parse_ds_timestamp("2021-10-15 23:59:00 +0200") == pd.Timestamp("2021-10-15 23:59")
    assert parse_ds_timestamp("2021-10-15T21:30:00+00:00") == pd.Timestamp("2021-10-15 23:30")  # UTC shown in Paris time
    assert parse_ds_timestamp("2021-11-02 08:00:00 +0100") == pd.Timestamp("2021-11-02 08:00")
    assert parse_ds_timestamp(dt.datetime(2021, 10, 15, 23, 59)) == pd.Timestamp("2021-10-15 23:59")  # XLSX: already Paris time
    assert parse_ds_timestamp("15/10/2021 14:30") == pd.Timestamp("2021-10-15 14:30")  # a CSV re-saved by a French spreadsheet
    with pytest.raises(ValueError):
        parse_ds_timestamp("demain")
    assert [parse_ds_bool(v) for v in ("true", "false", "on", "off", "Oui", "Non", "", None, True)] == \
           [True, False, True, False, True, False, None, None, True]
    with pytest.raises(ValueError, match="booléen attendu"):
        parse_ds_bool("peut-être")


def test_multiple_choice_split_against_options():
    options = ["Bretagne, Pays de la Loire", "Bretagne", "Occitanie"]
    assert split_multiple_choice("Bretagne, Pays de la Loire, Occitanie", options) == (["Bretagne, Pays de la Loire", "Occitanie"], [])
    assert split_multiple_choice("Bretagne, Atlantide", options) == (["Bretagne"], ["Atlantide"])


def test_duplicate_labels_need_an_occurrence(tmp_path, built, rules, sample):
    def edit(book):  # two fields labelled alike: the title and the lead organisation
        head, _ = book.sheets["Dossiers"]
        head[head.index("Structure porteuse du projet")] = "Intitulé du projet (défi)"

    fx = F.build(tmp_path / "doublon.xlsx", edit=edit)
    with pytest.raises(InputError) as err:
        import_export(fx.path, built["xlsx"][1], rules)
    msg = str(err.value)
    assert "libellé porté par 2 colonnes" in msg and "occurrence" in msg and "ligne 1" in msg
    text = F.mapping_text(**{'title = "Intitulé du projet (défi)"': 'title = { label = "Intitulé du projet (défi)", occurrence = 1 }',
                             'lead_org = "Structure porteuse du projet"':
                                 'lead_org = { label = "Intitulé du projet (défi)", occurrence = 2 }'})
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    apps, _r, _rep = import_export(fx.path, tmp_path / "m.toml", rules)
    ref = sample[0].sort_values("application_id").reset_index(drop=True)
    got = as_sample(apps, fx)
    assert got["title"].tolist() == ref["title"].tolist() and got["lead_org"].tolist() == ref["lead_org"].tolist()


def test_block_sheet_found_by_truncated_label_or_id(tmp_path, rules, sample):
    label = "Partenaires associés au projet et à son déploiement"
    fx = F.build(tmp_path / "long.xlsx", partner_block_label=label, avis=False)
    assert "(4811) Partenaires associes au" in read_export(fx.path).sheets
    (tmp_path / "m.toml").write_text(F.mapping_text(**{'block = "Partenaires"': f'block = "{label}"'}), encoding="utf-8")
    apps, _r, _rep = import_export(fx.path, tmp_path / "m.toml", rules)
    assert as_sample(apps, fx)["partners"].tolist() == sample[0].sort_values("application_id")["partners"].tolist()
    (tmp_path / "id.toml").write_text(F.mapping_text(**{'block = "Partenaires"': "block_id = 4811"}), encoding="utf-8")
    apps2, _r, _rep = import_export(fx.path, tmp_path / "id.toml", rules)
    assert apps2["partners"].tolist() == apps["partners"].tolist()
    (tmp_path / "bad.toml").write_text(F.mapping_text(**{'block = "Partenaires"': 'block = "Partenaire"'}), encoding="utf-8")
    with pytest.raises(InputError, match=r"introuvable ; feuilles de blocs présentes : \(4811\)"):
        import_export(fx.path, tmp_path / "bad.toml", rules)


def test_csv_of_a_form_with_a_block_is_refused(tmp_path, built, rules):
    fx = F.build(tmp_path / "bloc.csv")  # partners in a repeatable block, which the CSV does not carry
    with pytest.raises(InputError, match="l'export CSV ne contient ni les blocs répétables ni la feuille Avis"):
        import_export(fx.path, built["xlsx"][1], rules)


def test_csv_resaved_by_french_excel(tmp_path, built, imported, rules):
    text = built["csv"][0].path.read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines(keepends=True)))
    buf = tmp_path / "resave.csv"
    with open(buf, "w", encoding="cp1252", errors="replace", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(rows)
    exp = read_export(buf)
    assert exp.separator == ";" and exp.encoding == "cp1252"
    apps, _r, _rep = import_export(exp, built["csv"][1], rules, without_blocks=True)
    ref = imported["csv"][0]
    pd.testing.assert_frame_equal(apps.drop(columns=["title", "partners", "lead_org"]), ref.drop(columns=["title", "partners", "lead_org"]),
                                  check_like=True)


# --------------------------------------------------------------------------- personal data


def test_personal_data_absent_from_outputs_unless_asked(built, tmp_path, capsys):
    fx, mapping = built["ods"]  # individuals: civility, names, birth date
    out = tmp_path / "sans"
    assert main(["import-ds", str(fx.path), "--mapping", str(mapping), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["candidatures.csv", "evaluations.csv", "rapport_import.json"]
    for text in [printed] + [p.read_text(encoding="utf-8") for p in out.iterdir()]:
        assert not any(m in text for m in PERSONAL_MARKERS), [m for m in PERSONAL_MARKERS if m in text]
    assert "Données personnelles écartées" in printed and "Dossiers : Nom" in printed
    kept = tmp_path / "avec"
    assert main(["import-ds", str(fx.path), "--mapping", str(mapping), "--out", str(kept), "--keep-personal-data"]) == 0
    contacts = read_output_csv(kept / "donnees_personnelles.csv", dtype=str)
    assert {"Email", "Civilité", "Nom", "Prénom", "Date de naissance", "Nom et prénom du référent du projet"} <= set(contacts.columns)
    assert contacts["Email"].str.endswith("@exemple.fr").all() and len(contacts) == 110
    experts = read_output_csv(kept / "experts.csv", dtype=str)
    assert experts["expert_email"].str.contains("@exemple.gouv.fr").all()
    for name in ("candidatures.csv", "evaluations.csv"):  # the canonical files never carry them
        assert not any(m in (kept / name).read_text(encoding="utf-8") for m in PERSONAL_MARKERS)


def test_personal_column_cannot_feed_a_canonical_field(tmp_path, built, rules):
    (tmp_path / "m.toml").write_text(F.mapping_text(**{'lead_org = "Structure porteuse du projet"': 'lead_org = "Email"'}), encoding="utf-8")
    with pytest.raises(InputError, match="données personnelles"):
        import_export(built["xlsx"][0].path, tmp_path / "m.toml", rules)


# --------------------------------------------------------------------------- malformed exports


def test_missing_dossiers_sheet(tmp_path, built):
    def edit(book):
        book.sheets = {("Feuille1" if k == "Dossiers" else k): v for k, v in book.sheets.items()}

    path = write_problem_export(tmp_path, edit, name="sans_dossiers.xlsx", avis=False)
    with pytest.raises(InputError) as err:
        import_export(path, built["xlsx"][1])
    msg = str(err.value)
    assert "feuille « Dossiers » absente" in msg and "Feuille1" in msg


def test_unmapped_required_field(tmp_path, built):
    (tmp_path / "m.toml").write_text(F.mapping_text(**{'title = "Intitulé du projet (défi)"\n': ""}), encoding="utf-8")
    with pytest.raises(InputError) as err:
        import_export(built["xlsx"][0].path, tmp_path / "m.toml")
    (p,) = err.value.problems
    assert p.column == "fields.title" and "champ obligatoire non associé" in p.rule
    assert "clé « fields.title »" in str(err.value)


def test_mapped_label_absent_from_the_export(tmp_path, built):
    def edit(book):
        head, _ = book.sheets["Dossiers"]
        head[head.index("Maturité du projet")] = "Maturite du projet envisagée"
        book.set("Dossiers", "ID", "400020", "Région de la structure porteuse", "Atlantide")

    path = write_problem_export(tmp_path, edit)
    with pytest.raises(InputError) as err:
        import_export(path, built["xlsx"][1])
    p, cell = err.value.problems  # the missing column, and still the cells of the other columns
    assert cell.column == "Région de la structure porteuse" and cell.value == "Atlantide" and cell.code == "bad_category"
    assert p.row == 1 and p.column == "Maturité du projet" and "feuille « Dossiers »" in p.file
    assert "colonne absente" in p.rule and "Maturite du projet envisagée" in p.rule  # the close header is suggested


def test_every_problem_reported_at_once(tmp_path, built):
    def edit(book):
        book.set("Dossiers", "ID", "400020", "État du dossier", "Validé")
        book.set("Dossiers", "ID", "400030", "Maturité du projet", "Industrialisation")
        book.set("Dossiers", "ID", "400040", "Dont autres dépenses (€)", 999)

    path = write_problem_export(tmp_path, edit, name="trois.csv", partners="fields")
    with pytest.raises(InputError) as err:
        import_export(path, built["csv"][1], without_blocks=True)
    problems = {p.code: p for p in err.value.problems}
    assert set(problems) == {"unknown_state", "bad_category", "expense_sum"}
    state = problems["unknown_state"]
    assert state.column == "État du dossier" and state.value == "Validé" and state.row >= 2
    assert "état du dossier inconnu" in state.rule and "Classé sans suite" in state.rule
    text = str(err.value)
    assert text.startswith("3 erreurs") and f"{path}, feuille « Dossiers », ligne {state.row}, colonne « État du dossier »" in text


def test_template_export_needs_a_declared_mapping(tmp_path, built):
    def edit(book):
        head, _ = book.sheets["Dossiers"]
        head[0] = "Numéro"

    path = write_problem_export(tmp_path, edit)
    with pytest.raises(InputError, match="à partir d'un modèle"):
        import_export(path, built["xlsx"][1])


def test_template_export_with_declared_mapping(tmp_path, rules):
    """An export "à partir d'un modèle": renamed headers, blank numbers left empty, so a 0 is a real 0."""
    def edit(book):
        head, _ = book.sheets["Dossiers"]
        head[head.index("ID")], head[head.index("Email")] = "Numéro de dossier", "Adresse du déposant"
        head[head.index("État du dossier")] = "Statut"
        book.set("Dossiers", "Numéro de dossier", "400010", "Montant demandé (€)", 0)
        book.set("Dossiers", "Numéro de dossier", "400010", "Dont prestations intellectuelles (€)", 0)
        book.set("Dossiers", "Numéro de dossier", "400010", "Dont outils numériques (€)", 0)
        book.set("Dossiers", "Numéro de dossier", "400010", "Dont formation à l'innovation (€)", 0)
        book.set("Dossiers", "Numéro de dossier", "400010", "Dont autres dépenses (€)", 0)

    fx = F.build(tmp_path / "modele.xlsx", edit=edit, avis=False)
    text = F.mapping_text(**{"template = false": 'template = true\nstate_column = "Statut"',
                             'application_id = "ID"': 'application_id = "Numéro de dossier"'})
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    apps, reviews, report = import_export(fx.path, tmp_path / "m.toml", rules)
    assert report.layout == "modèle" and len(apps) == 110 and reviews is None
    assert apps.set_index("application_id").at["400010", "requested_eur"] == 0


def test_cli_errors_in_french(tmp_path, built, capsys):
    def edit(book):
        book.set("Dossiers", "ID", "400020", "État du dossier", "Validé")

    path = write_problem_export(tmp_path, edit)
    assert main(["import-ds", str(path), "--mapping", str(built["xlsx"][1]), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Erreur : données d'entrée invalides." in err and "état du dossier inconnu" in err
    assert not (tmp_path / "o").exists()
    assert main(["import-ds", str(path)]) == 2
    assert "--mapping et --out" in capsys.readouterr().err


def test_mapping_file_errors_name_their_keys(tmp_path):
    (tmp_path / "m.toml").write_text(
        '[export]\nstates = ["En attente"]\n[fields]\ntitel = "Intitulé"\n[values.maturity]\n"Cadrage" = "cadrage"\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_mapping(tmp_path / "m.toml")
    keys = {p.column for p in err.value.problems}
    assert {"export.states", "fields.titel", 'values.maturity."Cadrage"', "fields.title", "fields.lead_org"} <= keys


# --------------------------------------------------------------------------- suggested mapping


def test_suggested_mapping_completes_to_the_sample(built, rules, sample, tmp_path):
    fx, _ = built["xlsx"]
    text = suggest_mapping(fx.path, rules)
    data = tomllib.loads(text)
    default = tomllib.loads(F.mapping_text())
    assert data["fields"] == default["fields"]
    assert data["partners"]["block"] == "Partenaires" and data["partners"]["block_id"] == 4811
    assert data["personal_data"]["labels"] == default["personal_data"]["labels"]
    assert data["reviews"]["avis"] == default["reviews"]["avis"]
    # options spelled otherwise than the known labels are recognised from their parts, and marked to check
    assert data["values"]["maturity"]["Test / expérimentation"] == "testing"
    assert '"Test / expérimentation" = "testing"   # reconnu d\'après « Test » : à vérifier' in text
    for col, tab in data["values"].items():
        for opt, code in tab.items():
            assert code == default["values"].get(col, default["values"]["lead_org_type"]).get(opt, code), (col, opt)
    assert "À COMPLÉTER" not in "".join(f"{k}{v}" for tab in data["values"].values() for k, v in tab.items())
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    apps, reviews, _ = import_export(fx.path, tmp_path / "s.toml", rules)  # as proposed: it passes its own rules
    pd.testing.assert_frame_equal(as_sample(apps, fx), as_sample(import_export(fx.path, built["xlsx"][1], rules)[0], fx))
    assert reviews is not None and len(reviews) == 325


def test_suggested_mapping_placeholders_are_refused_as_to_complete(tmp_path, rules):
    """An option no rule recognises is written « À COMPLÉTER »: refused as such (not as an unknown code), then completed."""
    def edit(book):
        book.set("Dossiers", "ID", "400020", "Maturité du projet", "Industrialisation")

    fx = F.build(tmp_path / "inconnu.xlsx", edit=edit)
    text = suggest_mapping(fx.path, rules)
    assert tomllib.loads(text)["values"]["maturity"]["Industrialisation"] == "À COMPLÉTER"
    assert '"Industrialisation" = "À COMPLÉTER"   # codes : scoping, testing, prototyping, deployment' in text
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        import_export(fx.path, tmp_path / "s.toml", rules)
    (p,) = err.value.problems
    assert p.code == "mapping_todo" and p.column == 'values.maturity."Industrialisation"' and p.rule.startswith("valeur à compléter")
    (tmp_path / "s.toml").write_text(text.replace('"Industrialisation" = "À COMPLÉTER"', '"Industrialisation" = "deployment"'), encoding="utf-8")
    apps, _, _ = import_export(fx.path, tmp_path / "s.toml", rules)
    assert apps.set_index("application_id").at["400020", "maturity"] == "deployment"


def test_suggest_mapping_for_numbered_partner_fields_and_cli(built, tmp_path, capsys):
    fx, _ = built["csv"]
    assert main(["import-ds", str(fx.path), "--suggest-mapping"]) == 0
    data = tomllib.loads(capsys.readouterr().out)
    assert data["partners"]["fields"][0] == {"name": "Partenaire 1", "type": "Type du partenaire 1"} and len(data["partners"]["fields"]) == 8
    target = tmp_path / "propose.toml"
    assert main(["import-ds", str(fx.path), "--suggest-mapping", "--mapping", str(target), "--call", str(RULES_PATH)]) == 0
    said = capsys.readouterr().out  # every option of the sample recognised: nothing left « À COMPLÉTER », still to review
    assert "— à relire." in said and "À COMPLÉTER" not in said and target.exists()
    assert "option(s) reconnue(s) d'après une partie de leur libellé : à vérifier" in said
    assert main(["import-ds", str(fx.path), "--suggest-mapping", "--mapping", str(target)]) == 2  # never overwrites
    assert "existe déjà" in capsys.readouterr().err


def test_suggested_mapping_names_the_call_file_from_where_it_is_saved(built, tmp_path, capsys, monkeypatch):
    """The importer resolves ``[export] call`` against the mapping's folder: the proposal is written that way."""
    fx, _ = built["csv"]
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / "propose.toml"
    monkeypatch.chdir(RULES_PATH.parent.parent)  # run from the repository, with a relative --call
    assert main(["import-ds", str(fx.path), "--suggest-mapping", "--mapping", str(target), "--call", "data/appel_2021.toml"]) == 0
    capsys.readouterr()
    call = tomllib.loads(target.read_text(encoding="utf-8"))["export"]["call"]
    assert (target.parent / call).resolve() == RULES_PATH.resolve()
    # printed to the screen (no --mapping): an absolute path, valid wherever the text is saved
    assert main(["import-ds", str(fx.path), "--suggest-mapping", "--call", "data/appel_2021.toml"]) == 0
    assert Path(tomllib.loads(capsys.readouterr().out)["export"]["call"]) == RULES_PATH.resolve()
