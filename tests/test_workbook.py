"""The secretariat's workbook ``allocation.xlsx`` (issue 14, item 2): French, formatted, sorted, one sheet per view.

Opened with openpyxl as Excel would: headers are French labels, coded values French words,
amounts numbers in a euro format, scores two decimals, header row frozen with filters,
rows sorted by decision then rank (the order recomputed here from ``allocation.csv``),
parameters a readable two-column table, provenance with the inputs' SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from ditp_model.cli import main
from ditp_model.inputs.io import load_inputs
from ditp_model.inputs.schema import APPLICATION_COLUMNS, COLUMN_LABELS_FR, MATURITY_LABELS_FR, ORG_TYPE_LABELS_FR
from ditp_model.inputs.tables import read_output_csv
from ditp_model.outputs.workbook import AMOUNT_FORMAT, SHEETS, workbook_bytes
from ditp_model.scoring.pipeline import evaluate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
CALL, APPS, REVIEWS = DATA / "appel_2021.toml", DATA / "candidatures_exemple.csv", DATA / "evaluations_exemple.csv"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("classeur")
    assert main(["allocate", "--call", str(CALL), "--applications", str(APPS), "--reviews", str(REVIEWS),
                 "--weights", "impact=0.5,openness=0.3,collective=0.2", "--out", str(out), "--provisoire"]) == 0
    table = read_output_csv(out / "allocation.csv", dtype={"score_needed": float})
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return out, table, manifest, openpyxl.load_workbook(out / "allocation.xlsx")


def sheet_rows(ws) -> tuple[list[str], list[dict]]:
    head = [c.value for c in ws[1]]
    return head, [dict(zip(head, r)) for r in ws.iter_rows(min_row=2, values_only=True)]


def expected_order(t: pd.DataFrame) -> list[str]:
    """Decision then rank then file number, computed from the CSV's columns."""
    def group(r):
        if r["funded"]:
            return 0
        if r.get("list") == "reserve":
            return 1
        if not r["eligible"]:
            return 5
        if r["not_fundable"]:
            return 3
        if pd.isna(r["rank"]):
            return 4
        return 2

    rows = t.to_dict("records")
    key = lambda r: (group(r), r["reserve_rank"] if group(r) == 1 else (math.inf if pd.isna(r["rank"]) else r["rank"]),
                     r["application_id"])
    return [r["application_id"] for r in sorted(rows, key=key)]


def test_sheets_in_order(run):
    *_, wb = run
    assert wb.sheetnames == list(SHEETS) == ["Décision", "Liste complémentaire", "Éligibilité", "Notes par évaluateur",
                                             "Procédure", "Paramètres", "Provenance"]


def test_decision_sheet_french_headers_and_values(run):
    _, table, _, wb = run
    head, rows = sheet_rows(wb["Décision"])
    english = set(table.columns)
    assert not set(head) & english and not any("_" in h for h in head)
    for c in ("application_id", "title", "lead_org", "lead_org_type", "region", "maturity", "requested_eur"):
        assert COLUMN_LABELS_FR[c] in head
    assert {"Décision", "Rang", "Note globale (/100)", "Montant attribué", "Impact (indice 0–1)", "Ex aequo à la ligne de financement"} <= set(head)
    assert len(rows) == len(table) == 110
    short_org = {v.split(" (")[0] for v in ORG_TYPE_LABELS_FR.values()}
    assert {r["Type de porteur"] for r in rows} <= short_org
    assert {r["Maturité"] for r in rows} <= set(MATURITY_LABELS_FR.values())
    assert {r["Éligible"] for r in rows} == {"oui", "non"}
    assert {r["Décision"] for r in rows} == {"Financé", "Liste complémentaire", "Non financé", "Non finançable (seuil de qualité)",
                                             "En attente d'évaluation (avis insuffisants)", "Non éligible"}
    # Values as in the CSV: awards, requests, ranks (the CSV is the decision table read back).
    by_id = table.set_index("application_id")
    for r in rows:
        a = r["Dossier"]
        assert r["Montant attribué"] == by_id.at[a, "award_eur"] and r["Montant demandé"] == by_id.at[a, "requested_eur"]
        assert (r["Décision"] == "Financé") == bool(by_id.at[a, "funded"])
        assert (r["Rang"] is None) == pd.isna(by_id.at[a, "rank"])
        # « not applicable » (-1) is an empty cell, never « -1 € »
        assert r["Montant qu'il lui fallait"] is None or r["Montant qu'il lui fallait"] >= 0
    funded = [r for r in rows if r["Décision"] == "Financé"]
    assert sum(r["Montant attribué"] for r in funded) == int(table["award_eur"].sum())
    # why an unfunded ranked application is not funded, in words
    motifs = {r["Motif (non financé)"] for r in rows if r["Décision"] == "Non financé"}
    assert "reste de l'enveloppe insuffisant à son rang" in motifs and not any(m and "_" in m for m in motifs)


def test_sorted_by_decision_then_rank(run):
    _, table, _, wb = run
    _, rows = sheet_rows(wb["Décision"])
    assert [r["Dossier"] for r in rows] == expected_order(table)
    ranks = [r["Rang"] for r in rows if r["Décision"] == "Financé"]
    assert ranks == sorted(ranks) and ranks[0] == 1


def test_number_formats_freeze_filters_widths(run):
    *_, wb = run
    ws = wb["Décision"]
    head = [c.value for c in ws[1]]
    col = {h: i + 1 for i, h in enumerate(head)}
    for r in range(2, ws.max_row + 1):
        for h in ("Montant attribué", "Montant demandé", "Montant selon la règle du classement (comparaison)"):
            c = ws.cell(r, col[h])
            assert isinstance(c.value, int) and c.number_format == AMOUNT_FORMAT
        s = ws.cell(r, col["Note globale (/100)"])
        if s.value is not None:
            assert isinstance(s.value, float) and s.number_format == "0.00"
        k = ws.cell(r, col["Rang"])
        if k.value is not None:
            assert isinstance(k.value, int) and k.number_format == "0"
    # « # ##0 € » in French Excel: grouping, no decimals, the euro sign
    assert AMOUNT_FORMAT.startswith("#,##0") and "€" in AMOUNT_FORMAT and "." not in AMOUNT_FORMAT
    assert ws.freeze_panes == "D2"  # header row, and decision / rank / file number while scrolling right
    last = openpyxl.utils.get_column_letter(len(head))
    assert ws.auto_filter.ref == f"A1:{last}{ws.max_row}"
    widths = {h: ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width for h, i in col.items()}
    assert all(6 <= w <= 62 for w in widths.values())
    assert widths["Intitulé"] >= 40 and widths["Dossier"] < 15
    for name in SHEETS:
        assert wb[name].freeze_panes in ("A2", "B2", "C2", "D2") and wb[name].auto_filter.ref.startswith("A1:")
        assert all(c.font.bold for c in wb[name][1])


def test_no_reserve_list_says_so(run):
    """A decision table without reserve columns (an older decision): the sheet says there is no list."""
    _, table, manifest, _ = run
    t = table.drop(columns=[c for c in ("list", "reserve_rank") if c in table])
    wb = openpyxl.load_workbook(__import__("io").BytesIO(workbook_bytes(t, _eligibility(), manifest)))
    ws = wb["Liste complémentaire"]
    assert [[c.value for c in row] for row in ws.iter_rows()] == [["Liste complémentaire"],
                                                                  ["Pas de liste complémentaire pour cette décision."]]


def test_sample_reserve_sheet_in_reserve_order(run):
    """On the sample: the sheet lists the table's reserve applications in ``reserve_rank`` order, with their cap."""
    _, table, _, wb = run
    r = table[pd.to_numeric(table["reserve_rank"], errors="coerce").notna()].copy()
    r["_k"] = pd.to_numeric(r["reserve_rank"])
    expected = list(r.sort_values("_k")["application_id"])
    _, rows = sheet_rows(wb["Liste complémentaire"])
    assert [x["Dossier"] for x in rows] == expected and len(expected) == 10  # reserve_list_size of the call file
    caps = table.set_index("application_id")["award_cap_eur"]
    assert [x["Montant si financé"] for x in rows] == [caps[a] for a in expected]


def _eligibility():
    return evaluate(load_inputs(CALL, APPS, REVIEWS)).eligibility


@pytest.mark.parametrize("rank_dtype", ["float64", "Int64"])
def test_reserve_list_sheet_from_the_list_column(run, rank_dtype):
    """With the ``list`` / ``reserve_rank`` columns: the reserve rows in reserve order, after the funded ones."""
    _, table, manifest, _ = run
    t = table.copy()
    unfunded = t[~t["funded"] & t["rank"].notna() & (t["not_fundable"] == "")].sort_values("rank")
    reserve = list(unfunded["application_id"][:4])[::-1]  # reserve order deliberately not the rank order
    t["list"] = ["main" if f else ("reserve" if a in reserve else "none") for a, f in zip(t["application_id"], t["funded"])]
    t["reserve_rank"] = pd.array([reserve.index(a) + 1 if a in reserve else None for a in t["application_id"]], dtype=rank_dtype)
    wb = openpyxl.load_workbook(__import__("io").BytesIO(workbook_bytes(t, _eligibility(), manifest)))
    head, rows = sheet_rows(wb["Liste complémentaire"])
    assert [r["Dossier"] for r in rows] == reserve and [r["Rang sur la liste complémentaire"] for r in rows] == [1, 2, 3, 4]
    caps = t.set_index("application_id")["award_cap_eur"]
    assert [r["Montant si financé"] for r in rows] == [caps[a] for a in reserve]
    assert {r["Situation"] for r in rows} == {"en attente"}
    _, dec = sheet_rows(wb["Décision"])
    assert [r["Dossier"] for r in dec] == expected_order(t)
    n_funded = int(t["funded"].sum())
    assert [r["Décision"] for r in dec[n_funded:n_funded + 4]] == ["Liste complémentaire"] * 4
    assert {r["Liste"] for r in dec if r["Décision"] == "Financé"} == {"liste principale"}


def test_reserve_application_funded_after_a_withdrawal(run):
    """Funded since (a withdrawal): still on the reserve sheet at its place, saying so; « Financé » in the decision."""
    _, table, manifest, _ = run
    t = table.copy()
    unfunded = t[~t["funded"] & t["rank"].notna() & (t["not_fundable"] == "")].sort_values("rank")
    first, second = unfunded["application_id"].iloc[:2]
    t["list"] = ["main" if f else "none" for f in t["funded"]]
    t.loc[t["application_id"] == second, "list"] = "reserve"
    t["reserve_rank"] = pd.array([1 if a == first else 2 if a == second else None for a in t["application_id"]], dtype="Int64")
    t.loc[t["application_id"] == first, ["funded", "award_eur", "list"]] = [True, 90_000, "main"]
    wb = openpyxl.load_workbook(__import__("io").BytesIO(workbook_bytes(t, _eligibility(), manifest)))
    _, rows = sheet_rows(wb["Liste complémentaire"])
    assert [(r["Dossier"], r["Situation"], r["Montant attribué"]) for r in rows] == [
        (first, "financé après désistement ou réduction", 90_000), (second, "en attente", 0)]
    _, dec = sheet_rows(wb["Décision"])
    assert {r["Dossier"]: r["Décision"] for r in dec}[first] == "Financé"


def test_eligibility_sheet(run):
    _, table, _, wb = run
    head, rows = sheet_rows(wb["Éligibilité"])
    assert head[:5] == ["Dossier", "Intitulé", "Porteur", "Type de porteur", "Éligible"]
    ineligible = sorted(table.loc[~table["eligible"], "application_id"])
    assert [r["Dossier"] for r in rows[:len(ineligible)]] == ineligible  # the ineligible first
    assert all(r["Éligible"] == "non" and r["Règles non respectées"] and r["Détail des motifs"] for r in rows[:len(ineligible)])
    late = {r["Dossier"]: r["Règles non respectées"] for r in rows}
    assert late["P063"] == "dépôt après la date limite" and late["P104"] == "dépôt après la date limite"


def test_reviewer_sheet_pseudonymised_and_labelled(run):
    *_, wb = run
    head, rows = sheet_rows(wb["Notes par évaluateur"])
    reviews = pd.read_csv(REVIEWS, dtype=str)
    assert len(rows) == len(reviews)
    assert head[:3] == ["Dossier", "Évaluateur", "Impact — Lien avec une réforme prioritaire"]
    assert all(re.fullmatch(r"R\d\d", r["Évaluateur"]) for r in rows)
    assert "Ouverture — Méthodes innovantes (corrigée)" in head


def test_parameters_readable_two_columns(run):
    _, table, manifest, wb = run
    head, rows = sheet_rows(wb["Paramètres"])
    assert head == ["Paramètre", "Valeur"]
    values = {r["Paramètre"]: str(r["Valeur"]).replace("\u202f", " ").replace("\xa0", " ") for r in rows}
    for label, value in values.items():
        assert not re.search(r"[a-z]\.[a-z]|_", label), label  # no dotted keys
        assert not value.startswith(("{", "[")) and "null" not in value and "True" not in value, (label, value)
    assert values["Enveloppe disponible pour cette décision"] == "3 000 000 €"
    assert values["Pondérations des critères"] == "Impact 50 % ; Ouverture 30 % ; Candidature collective 20 %"
    assert values["Note globale minimale (seuil de qualité)"] == "50,00 / 100"
    assert values["Nombre de lauréats"] == str(int(table["funded"].sum()))
    total = int(table["award_eur"].sum())
    assert values["Total attribué"] == f"{total:,}".replace(",", " ") + " €"
    assert values["Règle de décision"].startswith("ordre de mérite")


def test_parameters_say_whether_the_decision_is_provisional(run):
    """The sample decision is provisional (applications awaiting reviews, listed in the manifest's ``held``): the
    first row of « Paramètres » says so and names them; a final decision's says « définitive »."""
    from ditp_model.outputs.workbook import parameters_rows

    _, _, manifest, wb = run
    _, rows = sheet_rows(wb["Paramètres"])
    held = [h["application_id"] for h in manifest["held"]]
    assert manifest["provisional"] is True and held
    assert rows[0]["Paramètre"] == "Statut de la décision"
    assert rows[0]["Valeur"] == "provisoire : dossiers en attente d'évaluation " + ", ".join(held)
    assert wb["Décision"].oddHeader.center.text == "Statut de la décision : " + rows[0]["Valeur"]  # printed page header
    final = {**manifest, "provisional": False, "held": []}
    assert parameters_rows(final)[0] == ("Statut de la décision", "définitive")


def test_provenance_hashes_and_versions(run):
    *_, wb = run
    _, rows = sheet_rows(wb["Provenance"])
    v = {r["Élément"]: r["Valeur"] for r in rows}
    for role, path in (("Règles de l'appel", CALL), ("Candidatures", APPS), ("Évaluations", REVIEWS)):
        assert v[f"{role} : SHA-256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert Path(v[f"{role} : fichier"]).name == path.name
    assert re.fullmatch(r"\d\d/\d\d/\d{4} à \d\d:\d\d:\d\d.*", v["Date de production"])
    assert v["Version de openpyxl"] == openpyxl.__version__ and "Version de Python" in v


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x","clic")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)"])
def test_formula_text_is_inert_text_in_every_sheet(run, text):
    _, table, manifest, _ = run
    t = table.copy()
    t.loc[0, "title"] = text
    t.loc[1, "lead_org"] = text
    el = _eligibility()
    el.loc[el["application_id"] == t.loc[2, "application_id"], "reasons"] = text
    wb = openpyxl.load_workbook(__import__("io").BytesIO(workbook_bytes(t, el, manifest)))
    seen = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f"
                if c.value == text:
                    seen += 1
                    assert c.data_type == "s" and c.quotePrefix, (ws.title, c.coordinate)
    assert seen >= 4  # title and lead org in « Décision », title and reason in « Éligibilité »


def test_labels_cover_the_data_dictionary():
    assert {c.name for c in APPLICATION_COLUMNS} <= set(COLUMN_LABELS_FR)
    assert all(v and "_" not in v for v in COLUMN_LABELS_FR.values())


def test_identifiers_stay_text(run):
    """« 007 » stays « 007 » in the workbook (a text cell), where a double-clicked CSV would show 7."""
    _, table, manifest, _ = run
    t = table.copy()
    old = t.loc[0, "application_id"]
    t.loc[0, "application_id"] = "007"
    el = _eligibility()
    el.loc[el["application_id"] == old, "application_id"] = "007"
    wb = openpyxl.load_workbook(__import__("io").BytesIO(workbook_bytes(t, el, manifest)))
    for name in ("Décision", "Éligibilité"):
        j = [c.value for c in wb[name][1]].index("Dossier")
        cells = [row[j] for row in wb[name].iter_rows(min_row=2) if row[j].value in ("007", 7)]
        assert [(c.value, c.data_type) for c in cells] == [("007", "s")], name
