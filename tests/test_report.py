"""``ditp-model report`` end to end on the sample data, the report notebook's parameters, and safe outputs.

One full report (papermill + nbconvert, entry gaps included) is produced for the module, on a copy of the
sample where applicant-supplied text is hostile: a funded application titled ``=HYPERLINK("http://x")``, a
title holding a ``<script>`` tag, an extra column of contact e-mails, and reviewers identified by e-mail
address.  Tables are parsed back from the HTML with the standard library's ``html.parser``.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from ditp_model.inputs.tables import read_output_csv
from ditp_model.outputs import record
from ditp_model.outputs import report
from ditp_model.cli import main as main_for_tests

# The sample decision is provisional (P047 and P072 await reviews, issue 13): ``report`` publishes it with --provisoire.
from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

WEIGHTS = "impact=0.5,openness=0.3,collective=0.2"
HYPERLINK = '=HYPERLINK("http://x")'
SCRIPT = "<script>alert(1)</script> Repenser l'accueil"


class Tables(HTMLParser):
    """Every ``<table id=…>`` of a page: header cells, body rows and foot rows, as text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict] = {}
        self._t = None
        self._section = None
        self._row = None
        self._cell = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id"):
            self._t = self.tables.setdefault(a["id"], {"head": [], "body": [], "foot": []})
        elif self._t is not None and tag in ("thead", "tbody", "tfoot"):
            self._section = {"thead": "head", "tbody": "body", "tfoot": "foot"}[tag]
        elif self._t is not None and tag == "tr":
            self._row = []
        elif self._t is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if self._t is None:
            return
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._t[self._section or "body"].append(self._row)
            self._row = None
        elif tag == "table":
            self._t = self._section = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def euros(text: str) -> int:
    """``"2 996 070 €"`` (narrow no-break spaces) -> 2996070."""
    assert text.endswith("€"), text
    return int(re.sub(r"\D", "", text))


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("rapport")
    apps = pd.read_csv(SAMPLE_APPLICATIONS, dtype=str, keep_default_na=False)
    apps.loc[apps["application_id"] == "P011", "title"] = HYPERLINK      # rank 1, funded
    apps.loc[apps["application_id"] == "P044", "title"] = SCRIPT        # rank 2, not funded
    apps["courriel_contact"] = [f"contact{k}@porteur.example" for k in range(len(apps))]
    apps.to_csv(root / "candidatures.csv", index=False)
    revs = pd.read_csv(SAMPLE_REVIEWS, dtype=str, keep_default_na=False)
    revs["reviewer_id"] = revs["reviewer_id"].map(lambda r: f"expert.{r.lower()}@ministere.example")
    revs.to_csv(root / "evaluations.csv", index=False)
    shutil.copy(RULES_PATH, root / RULES_PATH.name)
    out = root / "out"
    code = main_for_tests(["report", "--call", str(root / RULES_PATH.name), "--applications", str(root / "candidatures.csv"),
                           "--reviews", str(root / "evaluations.csv"), "--weights", WEIGHTS, "--provisoire", "--out", str(out)])
    assert code == 0
    return root, out


@pytest.fixture(scope="module")
def page(published) -> str:
    return (published[1] / "rapport.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def decision(published) -> pd.DataFrame:
    return read_output_csv(published[1] / "allocation.csv", dtype=str)


def test_outputs_published(published):
    _, out = published
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"rapport.html", "rapport.pdf", "allocation.xlsx", "allocation.csv", "manifest.json", "decisions.jsonl",
            "retours_candidats.csv"} <= names
    assert len([n for n in names if n.startswith("retours/")]) == 110
    assert not [n for n in names if n.endswith(".tmp")]
    wb = openpyxl.load_workbook(out / "allocation.xlsx", read_only=True)
    assert wb.sheetnames == ["Décision", "Liste complémentaire", "Éligibilité", "Notes par évaluateur", "Procédure", "Paramètres", "Provenance"]
    wb.close()
    # Issue 13: P047 (no review) and P072 (one) await reviews and could enter: a provisional decision, in the annex.
    proc = pd.read_excel(out / "allocation.xlsx", sheet_name="Procédure", dtype=str)
    assert sorted(proc.loc[proc["Rubrique"] == "Dossiers en attente d'évaluation", "Dossier"]) == ["P047", "P072"]
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["provisional"] is True and [h["application_id"] for h in m["held"]] == ["P047", "P072"]
    entry = json.loads((out / "decisions.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert entry["provisional"] is True and entry["parameters"]["lock_reasons"] == {}


def test_html_funded_table_totals_parsed_back(page, decision, published):
    t = Tables(page).tables["laureats"]
    manifest = json.loads((published[1] / "manifest.json").read_text(encoding="utf-8"))
    funded = decision[decision["funded"] == "True"]
    rows = t["body"]
    assert len(rows) == manifest["funded_count"] == len(funded) >= 25
    assert {r[0] for r in rows} == set(funded["application_id"])
    awards = [euros(r[-1]) for r in rows]
    total_row = t["foot"][0]
    assert total_row[0] == f"Total : {len(rows)} lauréats"
    assert euros(total_row[-1]) == sum(awards) == manifest["total_awarded_eur"] == int(funded["award_eur"].astype(int).sum())
    assert euros(total_row[-2]) == sum(euros(r[-2]) for r in rows)
    assert sum(awards) <= 3_000_000
    # Each award recomputed from the raw request and the call's caps.
    raw = pd.read_csv(SAMPLE_APPLICATIONS, dtype={"application_id": str}).set_index("application_id")
    large = decision.set_index("application_id")["large_collective"] == "True"
    for r, award in zip(rows, awards):
        assert award == min(int(raw.at[r[0], "requested_eur"]), 200_000 if large[r[0]] else 120_000)
    # The same decision in the ranked list and in the XLSX decision sheet.
    ranked = Tables(page).tables["classement"]["body"]
    assert len(ranked) == int((decision["rank"] != "").sum())
    assert sum(euros(r[-2]) for r in ranked if r[-2] != "—") == sum(awards)
    xl = pd.read_excel(published[1] / "allocation.xlsx", sheet_name="Décision", dtype={"Dossier": str})
    assert int(xl.loc[xl["Décision"] == "Financé", "Montant attribué"].sum()) == sum(awards)


def test_html_sections_in_french_without_code(page):
    for heading in ("Synthèse", "1. L'appel à projets et ses règles", "2. Règle de décision, seuils de qualité et ex aequo",
                    "3. Paramètres de la séance", "4. Éligibilité des candidatures et seuils de qualité",
                    "5. Classement des dossiers éligibles", "6. Lauréats et montants attribués",
                    "7. Décision proposée et règle du classement", "8. Ligne de financement",
                    "9. Si l'on maximisait la somme des notes", "10. Répartition du portefeuille",
                    "Visa du comité de sélection", "Annexe technique", "Paramètres tels que l'outil les nomme",
                    "Provenance et vérification"):
        assert heading in page, heading
    assert '<html lang="fr">' in page
    # No code, no prompts, no widget state, nothing fetched from the network, charts embedded.
    assert "validate_parameters" not in page and "display(HTML(" not in page and '<div class="highlight' not in page
    assert not re.search(r"(In|Out)(&nbsp;|\s)*\[\d+\]", page)
    assert "application/vnd.jupyter.widget" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 2
    assert all('src="data:image/png;base64,' in i and re.search(r'alt="Graphique', i) for i in images)
    tables = Tables(page).tables
    assert {"regles", "criteres", "regle-decision", "parametres", "eligibilite-bilan", "non-eligibles", "non-financables",
            "classement", "laureats", "comparaison", "marges-sortie", "ecarts-entree", "optimum-comparaison",
            "repartition-region", "repartition-lead_org_type", "repartition-maturity", "repartition-priority_reform", "provenance-entrees", "provenance", "visa"} <= set(tables)
    # Near-line gaps and margins are numbers (entry gaps were computed).
    assert all(re.fullmatch(r"\d+,\d\d", r[5]) for r in tables["ecarts-entree"]["body"])
    # Ineligible applications with every reason.
    inel = {r[0]: r[3] for r in tables["non-eligibles"]["body"]}
    assert set(inel) == {"P017", "P034", "P058", "P063", "P078", "P086", "P091", "P099", "P104"}
    assert "date limite" in inel["P063"] and "plancher" in inel["P078"]


def test_default_report_follows_the_merit_order(page, decision, published):
    _, out = published
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    delta = m["decision_rule"]["tie_band_points"]
    assert m["decision_rule"]["name"] == "merit_order" and delta == 0.5
    t = decision.copy()
    for c in ("award_eur", "award_floor_eur", "award_cap_eur", "left_when_turn_eur", "needed_eur"):
        t[c] = t[c].astype(int)
    t["funded"] = t["funded"] == "True"
    t["ex_aequo"] = t["ex_aequo"] == "True"
    ranked = t[t["rank"] != ""].assign(rank=lambda d: d["rank"].astype(int), score=lambda d: d["score"].str.replace(",", ".").astype(float))  # decimal comma
    fundable = ranked[(ranked["not_fundable"] == "") & (ranked["award_cap_eur"] > 0)]
    funded = ranked[ranked["funded"]]
    assert "P044" in set(funded["application_id"])  # ranked 2nd: funded
    # No valid complaint (checked from the CSV alone): an unfunded fundable application could not be paid at its
    # minimum with the unspent money plus the awards of the laureates scoring more than δ below it.
    unspent = 3_000_000 - int(funded["award_eur"].sum())
    for r in fundable[~fundable["funded"]].itertuples():
        below = int(funded.loc[funded["score"] < r.score - delta, "award_eur"].sum())
        assert unspent + below < r.award_floor_eur, r.application_id
    # What was left at the turn of the first unfunded fundable application, and its letter.
    first = fundable[~fundable["funded"]].sort_values("rank").iloc[0]
    better = int(funded.loc[funded["rank"] < first["rank"], "award_eur"].sum())
    assert int(first["left_when_turn_eur"]) == 3_000_000 - better and int(first["needed_eur"]) == int(first["award_floor_eur"])
    letter = (out / "retours" / f"{first['application_id']}.md").read_text(encoding="utf-8")
    eur = lambda x: f"{x:,}".replace(",", "\u202f") + "\u00a0€"  # noqa: E731
    assert f"il restait {eur(3_000_000 - better)}" in letter and f"il fallait au moins {eur(int(first['needed_eur']))}" in letter
    # Quality thresholds: listed with their reasons, marked in the ranked list.
    tables = Tables(page).tables
    nf = {r[0]: r[4] for r in tables["non-financables"]["body"]}
    assert set(nf) == set(ranked.loc[ranked["not_fundable"] != "", "application_id"]) and len(nf) > 0
    assert all("sous le seuil" in x for x in nf.values())
    rows = {r[1]: r for r in tables["classement"]["body"]}
    head = tables["classement"]["head"][0]
    ex, why = head.index("Ex aequo"), head.index("Motif")
    assert {a for a, r in rows.items() if r[ex] == "ex aequo"} == set(ranked.loc[ranked["ex_aequo"], "application_id"])
    assert all(rows[a][why] == "seuil de qualité" for a in nf)
    # The rule, its sources, δ with its origin and the value the reviews suggest; no shadow price under merit order.
    rule = {r[0]: r[1] for r in tables["regle-decision"]["body"]}
    # δ written once, in the singular below 2 (trial 2, S6: « 0,50 point(s) — déclarée … (0,50 points) »)
    assert rule["Bande d'ex aequo δ"] == "0,50 point — déclarée dans les règles de l'appel"
    assert rule["δ suggéré par les évaluations"].endswith("(deux notes plus proches ne peuvent être départagées par les avis)")
    for source in ("Horizon Europe", "ANR", "ERC", "SNSF"):
        assert source in page
    assert "Ligne de financement — dernier financé au-dessus" in page and "Prix implicite" not in page
    # « Si l'on maximisait la somme des notes » : a comparison, never the decision; what it costs in merit.
    cmp = m["report"]["comparison"]
    c_rows = {r[0]: r for r in tables["optimum-comparaison"]["body"]}
    assert int(c_rows["Lauréats"][1]) == cmp["funded_count"] and int(c_rows["Lauréats"][2]) == len(funded)
    assert euros(c_rows["Montant attribué"][1]) == cmp["total_awarded_eur"]
    rank_of = dict(zip(ranked["application_id"], ranked["rank"]))
    assert cmp["leaves_out"] and max(rank_of[a] for a in cmp["leaves_out"]) < max(rank_of[a] for a in cmp["adds"])
    assert [r[0] for r in tables["optimum-ecartes"]["body"]] == cmp["leaves_out"]
    assert set(cmp["leaves_out"]) <= set(funded["application_id"]) and not set(cmp["adds"]) & set(funded["application_id"])
    assert "Pour comparaison seulement" in page


def test_every_parameter_printed_as_used(page):
    rows = Tables(page).tables["parametres"]["body"]
    names = {n.strip() for r in rows for n in r[1].split(",")}
    assert {p.name for p in report.REPORT_PARAMETERS} <= names
    used = {r[1]: r[2] for r in rows}
    assert used["weights"] == "Impact 50\u00a0% ; Ouverture 30\u00a0% ; Candidature collective 20\u00a0%"
    assert used["envelope_eur"] == "3\u202f000\u202f000\u00a0€"


def test_applicant_text_escaped_in_html(page):
    assert "<script>alert(1)</script>" not in page and "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="http://x"' not in page
    tables = Tables(page).tables
    # Both titles come back as plain text in the table cells.
    assert [r[1] for r in tables["laureats"]["body"] if r[0] == "P011"] == [HYPERLINK]
    assert [r[2] for r in tables["classement"]["body"] if r[1] == "P044"] == [SCRIPT]


def test_hyperlink_title_exported_inert(published):
    _, out = published
    rows = {r["application_id"]: r for r in csv.DictReader(io.StringIO((out / "allocation.csv").read_text(encoding="utf-8-sig")),
                                                            delimiter=";")}
    assert rows["P011"]["title"] == "'" + HYPERLINK and rows["P011"]["funded"] == "True"
    letters = {r["application_id"]: r for r in csv.DictReader(io.StringIO((out / "retours_candidats.csv").read_text(encoding="utf-8-sig")),
                                                               delimiter=";")}
    assert letters["P011"]["intitule"] == "'" + HYPERLINK
    wb = openpyxl.load_workbook(out / "allocation.xlsx")
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                # text shown as written, quote-prefixed: Excel never runs it, even when the cell is edited
                assert not (isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@"))) or c.quotePrefix, \
                    (ws.title, c.coordinate)
    ws = wb["Décision"]
    header = [c.value for c in ws[1]]
    titles = {r[header.index("Dossier")]: r[header.index("Intitulé")] for r in ws.iter_rows(min_row=2, values_only=True)}
    assert titles["P011"] == HYPERLINK


def test_no_personal_data_in_outputs(published):
    _, out = published
    wb = openpyxl.load_workbook(out / "allocation.xlsx", read_only=True)
    reviewers = [r[1] for r in wb["Notes par évaluateur"].iter_rows(min_row=2, values_only=True)]
    assert len(reviewers) == 325 and all(re.fullmatch(r"R\d\d", r) for r in reviewers) and len(set(reviewers)) == 12
    for p in out.rglob("*"):
        if p.is_file() and p.suffix != ".xlsx":
            if p.suffix == ".pdf":
                pypdf = pytest.importorskip("pypdf")
                text = "\n".join(page.extract_text() or "" for page in pypdf.PdfReader(p).pages)
            else:
                text = p.read_text(encoding="utf-8")
            assert "@" not in text or "@ministere" not in text and "@porteur" not in text, p
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            assert not any(isinstance(v, str) and ("@ministere" in v or "@porteur" in v) for v in row), ws.title


def test_verify_confirms_the_published_report(published, capsys):
    _, out = published
    v = record.verify(out / "manifest.json")
    assert v.identical, v.text_fr()
    assert main_for_tests(["verify", str(out / "manifest.json")]) == 0
    assert "Résultat : identique" in capsys.readouterr().out
    entry = json.loads((out / "decisions.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert entry["event"] == "rapport" and entry["command"].startswith("ditp-model report --call")
    assert set(entry["files"]) >= {"rapport.html", "allocation.xlsx", "manifest.json"}


def test_failed_run_exits_non_zero_and_publishes_nothing(published, capsys):
    root, out = published
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    table = read_output_csv(out / "allocation.csv")
    el = table[table["eligible"] & table["score"].notna()].sort_values("award_cap_eur", ascending=False).head(30)
    code = main_for_tests(["report", "--call", str(root / RULES_PATH.name), "--applications", str(root / "candidatures.csv"),
                           "--reviews", str(root / "evaluations.csv"), "--out", str(out), "--lock-in", *el["application_id"]])
    assert code == 3
    err = capsys.readouterr().err
    assert "Aucun rapport publié" in err and "enveloppe" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # Bad input: exit 2, still nothing published.
    code = main_for_tests(["report", "--call", str(root / RULES_PATH.name), "--applications", str(root / "absent.csv"),
                           "--reviews", str(root / "evaluations.csv"), "--out", str(out)])
    assert code == 2 and "fichier introuvable" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_report_from_scenario(published, tmp_path, capsys):
    from ditp_model.rules.scenario import Scenario, save_scenario
    from ditp_model.scoring.aggregate import Weights

    root, _ = published
    sc = Scenario.from_run("Séance du 12 octobre — ouverture renforcée", root / RULES_PATH.name, root / "candidatures.csv",
                           root / "evaluations.csv", Weights.of(impact=0.4, openness=0.4, collective=0.2),
                           report.AllocationParams(lock_in=frozenset({"P044"}), envelope_eur=2_500_000))
    path = save_scenario(sc, tmp_path / "seance.json")
    out = tmp_path / "out"
    assert main_for_tests(["report", "--scenario", str(path), "--no-gaps", "--near-line", "3", "--provisoire", "--out", str(out)]) == 0
    assert "entrée n° 1" in capsys.readouterr().out
    page = (out / "rapport.html").read_text(encoding="utf-8")
    assert "Séance du 12 octobre — ouverture renforcée" in page
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["scenario"]["sha256"] and m["parameters"]["lock_in"] == ["P044"] and m["weights"]["raw"]["impact"] == 0.4
    assert m["total_awarded_eur"] <= 2_500_000 and "P044" in {r["application_id"] for r in m["decisions"] if r["funded"]}
    assert m["journal"]["seq"] == 1 and m["report"]["gaps"] is False
    # The merit order explains turn by turn whatever `gaps` says (no optimisation re-solves).
    assert m["decision_rule"]["name"] == "merit_order" and 'id="ecarts-entree"' in page
    used = {r[1]: r[2] for r in Tables(page).tables["parametres"]["body"]}
    assert used["gaps"] == "non calculés par optimisation ; l'ordre de mérite les donne rang par rang"
    assert record.verify(out / "manifest.json").identical
    # A flag the scenario already fixes is refused.
    assert main_for_tests(["report", "--scenario", str(path), "--weights", WEIGHTS, "--out", str(out)]) == 2
    assert "« weights » : donné avec « scenario »" in capsys.readouterr().err


# --------------------------------------------------------------------------- the notebook and its parameters


def _parameters_cell():
    nb = json.loads(report.REPORT_NOTEBOOK.read_text(encoding="utf-8"))
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    return nb, tagged


def test_notebook_has_a_parameters_cell_matching_the_package():
    nb, tagged = _parameters_cell()
    assert len(tagged) == 1, "the report notebook needs exactly one cell tagged 'parameters' (papermill)"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code[0] is tagged[0]
    tree = ast.parse("".join(tagged[0]["source"]))
    assigned = [(n.targets[0].id, ast.literal_eval(n.value)) for n in tree.body if isinstance(n, ast.Assign)]
    assert assigned == [(p.name, p.default) for p in report.REPORT_PARAMETERS]
    # The setup cell hands every parameter to validate_parameters.
    setup = ast.parse("".join(code[1]["source"]))
    call = next(n for n in ast.walk(setup) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "validate_parameters")
    assert [(k.arg, k.value.id) for k in call.keywords] == [(p.name, p.name) for p in report.REPORT_PARAMETERS]


def test_notebook_outputs_are_stored_for_nbval():
    nb, _ = _parameters_cell()
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    ignored = [c for c in code if "nbval-ignore-output" in c.get("metadata", {}).get("tags", [])]
    assert len(ignored) == 2  # the date in the title block, and the versions / duration block
    assert all(c["outputs"] for c in code[2:]), "the display cells must keep their outputs (checked by nbval)"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for c in code:
        for o in c["outputs"]:
            assert o["output_type"] != "error" and not (o["output_type"] == "stream" and o.get("name") == "stderr")


def test_papermill_wrong_parameter_type_fails_with_a_clear_message(tmp_path):
    with pytest.raises(report.ReportNotebookError) as exc:
        report.execute_report_notebook({"envelope_eur": "trois millions", "gaps": "oui"}, tmp_path / "sortie.ipynb")
    assert exc.value.ename == "ReportParameterError"
    msg = str(exc.value)
    assert "2 paramètres du rapport invalides" in msg
    assert "« envelope_eur » (Enveloppe) : valeur attendue : un nombre entier d'euros ≥ 0" in msg
    assert "reçu le texte 'trois millions'" in msg
    assert "« gaps »" in msg and "True ou False" in msg


@pytest.mark.parametrize("values, expected", [
    ({"envelope_eur": 2.5e6}, "« envelope_eur »"),
    ({"envelope_eur": True}, "reçu le booléen True"),
    ({"committed_eur": -1}, "« committed_eur »"),
    ({"min_share": 1.5}, "« min_share »"),
    ({"lock_in": [12]}, "« lock_in »"),
    ({"group_rules": [{"column": "region", "value": "Bretagne"}]}, "indiquer min_count ou max_share"),
    ({"group_rules": [{"column": "ville", "value": "Rennes", "min_count": 1}]}, "colonnes possibles"),
    ({"group_rules": "region=Bretagne:1"}, "« group_rules »"),
    ({"weights": 0.5}, "« weights »"),
    ({"weights": {"impact": "beaucoup"}}, "« weights »"),
    ({"objective": "total_score"}, "« objective » : paramètre inconnu"),
    ({"rule": "max"}, "« rule »"),
    ({"tie_band_points": -1}, "« tie_band_points »"),
    ({"tie_band_points": "large"}, "« tie_band_points »"),
    ({"min_score": 120}, "« min_score »"),
    ({"near_line": 0}, "« near_line »"),
    ({"time_limit_s": 0}, "« time_limit_s »"),
    ({"call": 3}, "« call »"),
    ({"call": "absent.toml"}, "fichier introuvable"),
    ({"applications": str(SAMPLE_APPLICATIONS)}, "les trois fichiers"),
    ({"lock_in": ["P001"], "lock_out": ["P001"]}, "à la fois imposé(s) et exclu(s)"),
    ({"budget": 3}, "« budget » : paramètre inconnu"),
])
def test_every_parameter_is_validated(values, expected):
    with pytest.raises(report.ReportParameterError) as exc:
        report.validate_parameters(**values)
    assert expected in str(exc.value)


def test_defaults_are_the_sample_data():
    p = report.validate_parameters()
    assert p.sample_data and Path(p.call).name == "appel_2021.toml" and p.weights is None
    assert p.notebook_parameters()["envelope_eur"] is None
    assert report.validate_parameters(lock_in="P001, P002").allocation.lock_in == {"P001", "P002"}


def test_report_publishes_a_ranking_rule_scenario(tmp_path, capsys):
    """Every rule decides: a scenario whose rule is the ranking rule is published as such, and checked here by a greedy."""
    from ditp_model.rules.allocation import AllocationParams
    from ditp_model.rules.scenario import Scenario, save_scenario
    from ditp_model.scoring.aggregate import Weights

    data = Path(__file__).resolve().parents[1] / "data"
    sc = Scenario.from_run("classement", data / "appel_2021.toml", data / "candidatures_exemple.csv",
                           data / "evaluations_exemple.csv", Weights.of(impact=0.5, openness=0.3, collective=0.2),
                           AllocationParams(), decision_rule="ranking")
    path = save_scenario(sc, tmp_path / "sc.json")
    out = tmp_path / "out"
    assert main_for_tests(["report", "--scenario", str(path), "--no-gaps", "--provisoire", "--out", str(out)]) == 0
    capsys.readouterr()
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["decision_rule"]["name"] == "ranking" and m["parameters"]["rule"] == "ranking"
    entry = json.loads((out / "decisions.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert entry["decision_rule"]["name"] == "ranking" and entry["parameters"]["rule"] == "ranking"
    # Greedy by rank over the fundable applications (no cut: the award is the capped request), skipping what does not fit.
    t = read_output_csv(out / "allocation.csv")
    fundable = t[t["rank"].notna() & (t["not_fundable"] == "") & (t["award_cap_eur"] > 0)].copy()
    fundable["rank"] = fundable["rank"].astype(int)
    left, expected = 3_000_000, set()
    for r in fundable.sort_values("rank").itertuples():
        if r.award_cap_eur <= left:
            expected.add(r.application_id)
            left -= r.award_cap_eur
    assert set(t.loc[t["funded"], "application_id"]) == expected
    page = (out / "rapport.html").read_text(encoding="utf-8")
    assert "règle du classement — variante « skip »" in page
    assert record.verify(out / "manifest.json").identical


def test_rule_flags_reach_the_report_parameters():
    import argparse

    from ditp_model.cli import report as cli_report

    parser = argparse.ArgumentParser()
    cli_report.register(parser.add_subparsers())
    args = parser.parse_args(["report", "--rule", "max_total_score", "--tie-band", "1,5", "--min-score", "55", "--out", "x"])
    values = cli_report.report_values(args)
    assert {k: values[k] for k in ("rule", "tie_band_points", "min_score")} == {"rule": "max_total_score",
                                                                                "tie_band_points": 1.5, "min_score": 55.0}
    p = report.validate_parameters(**values)
    a = p.allocation
    assert (a.rule, a.tie_band_points, a.min_score) == ("max_total_score", 1.5, 55.0)
    nb = p.notebook_parameters()
    assert (nb["rule"], nb["tie_band_points"], nb["min_score"]) == ("max_total_score", 1.5, 55.0) and "objective" not in nb
    assert report.validate_parameters(tie_band_points="auto").allocation.tie_band_points == "auto"
    with pytest.raises(SystemExit):
        parser.parse_args(["report", "--objective", "total_score", "--out", "x"])


# --------------------------------------------------------------------------- the section « Sélection en vagues » (issue 8)


def _points(text: str) -> float:
    """``"1 538,82"`` -> 1538.82."""
    return float(re.sub(r"[\s\u202f\u00a0]", "", text).replace(",", "."))


def test_waves_section_in_report(tmp_path, capsys):
    from ditp_model.timeline import waves
    from ditp_model.rules.allocation import AllocationParams

    apps = pd.read_csv(SAMPLE_APPLICATIONS, dtype=str, keep_default_na=False)
    hostile_w, hostile_a = "<script>alert('vagues')</script> Accueil", '<img src=x onerror="alert(1)"> Aides & emploi'
    apps.loc[apps["application_id"] == "P001", "title"] = hostile_w   # funded by the waves only
    apps.loc[apps["application_id"] == "P062", "title"] = hostile_a   # funded all at once only (merit order)
    apps.to_csv(tmp_path / "candidatures.csv", index=False)
    out = tmp_path / "out"
    assert main_for_tests(["report", "--call", str(RULES_PATH), "--applications", str(tmp_path / "candidatures.csv"),
                           "--reviews", str(SAMPLE_REVIEWS), "--weights", WEIGHTS, "--no-gaps", "--near-line", "2",
                           "--waves-from", "2021-09-15", "--provisoire", "--out", str(out)]) == 0
    capsys.readouterr()
    page = (out / "rapport.html").read_text(encoding="utf-8")
    tables = Tables(page).tables
    assert '<h2 class="ditp-h2">Sélection en vagues</h2>' in page
    assert {"vagues", "vagues-comparaison", "vagues-seulement", "une-fois-seulement"} <= set(tables)

    # The same replay and comparison computed here, with the report's allocation parameters (defaults, no reserve).
    run = report.run_report(report.validate_parameters(call=str(RULES_PATH), applications=str(tmp_path / "candidatures.csv"),
                                                       reviews=str(SAMPLE_REVIEWS), weights=WEIGHTS, gaps=False))
    replay = waves.replay_weekly(run.evaluation, "2021-09-15", "2021-10-15", None, AllocationParams())
    cmp = waves.compare_with_all_at_once(run.evaluation, replay, AllocationParams())
    assert cmp["score_gap"] > 0

    t = tables["vagues"]
    assert t["head"][0] == ["Vague", "Date limite (incluse)", "Candidats", "Financés", "Attribué", "Engagé avant", "Reste",
                            "Score des lauréats"]
    assert [r[1] for r in t["body"]] == ["15/09/2021", "22/09/2021", "29/09/2021", "06/10/2021", "13/10/2021", "15/10/2021"]
    for r, w in zip(t["body"], replay):
        assert (int(r[0]), int(r[2]), int(r[3])) == (w.k, len(w.candidate_ids), len(w.funded_ids))
        assert (euros(r[4]), euros(r[5]), euros(r[6])) == (w.awarded_eur, w.committed_before_eur, w.remaining_eur)
    foot = t["foot"][0]
    assert int(foot[2]) == sum(int(r[3]) for r in t["body"]) == len(cmp["waves_funded"])
    assert euros(foot[3]) == sum(euros(r[4]) for r in t["body"]) == cmp["waves_awarded_eur"] <= 3_000_000
    assert euros(foot[5]) == 3_000_000 - cmp["waves_awarded_eur"]

    c = {r[0]: r for r in tables["vagues-comparaison"]["body"]}
    w_row = c["Vagues hebdomadaires"]
    b_row = c["Décision en une fois, même règle (toutes les candidatures connues)"]
    assert int(w_row[1]) == len(cmp["waves_funded"]) and int(b_row[1]) == len(cmp["all_at_once_funded"])
    assert euros(w_row[2]) == cmp["waves_awarded_eur"] and euros(b_row[2]) == cmp["all_at_once_awarded_eur"]
    assert _points(w_row[3]) == pytest.approx(cmp["waves_total_score"], abs=0.005)
    assert _points(b_row[3]) == pytest.approx(cmp["all_at_once_total_score"], abs=0.005)
    gap = tables["vagues-comparaison"]["foot"][0]
    assert gap[0] == "Écart (décision en une fois − vagues)"
    assert _points(gap[1]) == pytest.approx(cmp["score_gap"], abs=0.005)
    # The all-at-once optimum is the report's own decision here (same parameters, nothing after the deadline).
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(r["application_id"] for r in m["decisions"] if r["funded"]) == cmp["all_at_once_funded"]
    assert m["report"]["waves_from"] == "2021-09-15"

    only_w = tables["vagues-seulement"]["body"]
    only_a = tables["une-fois-seulement"]["body"]
    assert [r[0] for r in only_w] == cmp["only_in_waves"] and [r[0] for r in only_a] == cmp["only_in_all_at_once"]
    # Applicant text escaped: comes back as plain text, never as markup.
    assert [r[1] for r in only_w if r[0] == "P001"] == [hostile_w]
    assert [r[1] for r in only_a if r[0] == "P062"] == [hostile_a]
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert "&lt;script&gt;alert('vagues')&lt;/script&gt;" in page and "&lt;img src=x onerror=" in page
    # Printed as used in the parameters table.
    used = {r[1]: (r[2], r[3]) for r in tables["parametres"]["body"]}
    assert used["waves_from"] == ("vagues du 15/09/2021 au 15/10/2021 (section « Sélection en vagues »)", "donné")


@pytest.mark.parametrize("value, expected", [
    ("15/09/2021", "reçu le texte '15/09/2021'"),
    ("2021-02-30", "date inexistante"),
    (20210915, "reçu l'entier 20210915"),
])
def test_waves_from_bad_value_french_error(value, expected):
    with pytest.raises(report.ReportParameterError) as exc:
        report.validate_parameters(waves_from=value)
    msg = str(exc.value)
    assert "« waves_from » (Sélection en vagues : première date limite)" in msg and expected in msg
    assert "une date AAAA-MM-JJ (par ex. « 2021-09-15 »)" in msg


def test_waves_from_checked_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "out"
    assert main_for_tests(["report", "--waves-from", "15 septembre", "--no-gaps", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "« waves_from »" in err and "AAAA-MM-JJ" in err and "Traceback" not in err
    # After the call's deadline: refused by the quick run, before the notebook.
    assert main_for_tests(["report", "--waves-from", "2021-10-16", "--no-gaps", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "date postérieure à la date limite de l'appel (15/10/2021)" in err
    # With group rules (they bind the whole call, not a wave).
    with pytest.raises(report.ReportParameterError, match="group_rules"):
        report.validate_parameters(waves_from="2021-09-15", group_rules=[{"column": "region", "value": "Bretagne",
                                                                          "min_count": 1}])
    assert not out.exists() or not (out / "rapport.html").exists()


def test_waves_section_absent_by_default(page):
    from ditp_model.outputs import report_sections

    assert '<h2 class="ditp-h2">Sélection en vagues</h2>' not in page and 'id="vagues' not in page
    used = {r[1]: (r[2], r[3]) for r in Tables(page).tables["parametres"]["body"]}
    assert used["waves_from"] == ("aucune : pas de section sur les vagues", "défaut")
    p = report.validate_parameters()
    assert p.waves_from is None and p.notebook_parameters()["waves_from"] is None
    assert report.validate_parameters(waves_from="").waves_from is None
    assert report_sections.waves_html(report.run_report(report.validate_parameters(gaps=False))) == ""


# --------------------------------------------------------------------------- the decision rule in the report's text


def _text(html: str) -> str:
    import html as html_lib

    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html)))


def test_exception_named_in_the_rule_section():
    from ditp_model.outputs import report_sections

    run = report.run_report(report.validate_parameters(
        weights=WEIGHTS, gaps=False, group_rules=[{"column": "region", "value": "Bretagne", "min_count": 3}]))
    t = run.table.set_index("application_id")
    assert int(t.loc[t["funded"], "region"].eq("Bretagne").sum()) >= 3
    assert run.allocation.exceptions, "the sample has too few Bretagne laureates in merit order: an exception is expected"
    tables = Tables(report_sections.decision_rule_html(run)).tables
    rows = tables["exceptions"]["body"]
    assert len(rows) == len(run.allocation.exceptions)
    for funded_id, rank, before, cause, sentence in rows:
        # Funded out of order: in Bretagne, a laureate, ranked below each application it passes over, which is unfunded.
        assert t.at[funded_id, "funded"] and t.at[funded_id, "region"] == "Bretagne" and int(rank) == t.at[funded_id, "rank"]
        for passed in re.findall(r"(\w+) \(rang (\d+)\)", before):
            assert not t.at[passed[0], "funded"] and int(passed[1]) < int(rank)
            assert t.at[passed[0], "reason"] == "exception"
        assert "Bretagne" in cause and "au moins 3" in cause and sentence.startswith(f"{funded_id} financé avant ")
    assert run.manifest["decision_rule"]["exceptions"] == [r[4] for r in rows]


def test_cap_exception_named_in_the_rule_section():
    # trial 2, D6: Île-de-France at most 25 % of 2 200 000 € available; the applications it holds out are named,
    # with the lower-ranked laureates funded before them
    from ditp_model.outputs import report_sections

    run = report.run_report(report.validate_parameters(
        weights=WEIGHTS, gaps=False, envelope_eur=2_500_000, reserve_eur=300_000,
        group_rules=[{"column": "region", "value": "Île-de-France", "max_share": 0.25}]))
    t = run.table.set_index("application_id")
    held = [x for x in run.allocation.exceptions if x.held_out]
    assert len(held) == 1
    rows = Tables(report_sections.decision_rule_html(run)).tables["exceptions"]["body"]
    assert len(rows) == len(run.allocation.exceptions)
    laureates, rank, before, cause, sentence = rows[-1]
    assert rank == "—" and "plafond de 25 %" in cause and "Île-de-France" in cause and sentence == held[0].sentence_fr()
    passed = re.findall(r"(\w+) \(rang (\d+)\)", before)
    below = re.findall(r"(\w+) \(rang (\d+)\)", laureates)
    assert passed and {a for a, _ in passed} == set(held[0].passed_over)
    for a, r in passed:  # held out, in Île-de-France, unfunded, at its rank, with a laureate ranked below it
        assert t.at[a, "region"] == "Île-de-France" and not t.at[a, "funded"] and int(r) == t.at[a, "rank"]
        assert t.at[a, "reason"] == "exception"
    for a, r in below:
        assert t.at[a, "funded"] and int(r) == t.at[a, "rank"] and int(r) > min(int(x) for _, x in passed)
    assert run.manifest["decision_rule"]["exceptions"] == [r[4] for r in rows]


def test_optimisation_rule_is_published_with_its_annex():
    from ditp_model.outputs import report_sections

    run = report.run_report(report.validate_parameters(weights=WEIGHTS, gaps=False, rule="max_total_score"))
    assert run.allocation.rule == "max_total_score" and run.comparison is None
    assert run.manifest["decision_rule"]["name"] == "max_total_score" and run.manifest["parameters"]["rule"] == "max_total_score"
    summary = _text(report_sections.summary_html(run))
    assert "Le comité a choisi une règle d'optimisation" in summary
    assert "elle-même celle qui maximise la somme des notes" in _text(report_sections.optimum_comparison_html(run))
    annex = _text(report_sections.annex_html(run))
    assert "Annexe — Prix implicite de l'enveloppe" in annex and run.explanation.shadow_price_per_keur is not None
    # Under the merit order there is no shadow price, hence no annex.
    merit = report.run_report(report.validate_parameters(weights=WEIGHTS, gaps=False))
    assert merit.explanation.shadow_price_per_keur is None and report_sections.annex_html(merit) == ""


@pytest.mark.parametrize("text", ["voir href=//www.service-public.fr", "src=//cdn.example.org/x.js", "url(//a.b/c.css)",
                                  "<a href=\"https://www.service-public.fr\">lien</a>"])
def test_applicant_text_that_looks_like_a_link_is_escaped_not_blocking(text):
    import html as _html

    page = f"<html><head><style>p {{ color: #333; }}</style></head><body><p>{_html.escape(text)}</p></body></html>"
    assert report.external_reference(page) is None


@pytest.mark.parametrize("markup", ['<img src="https://cdn.example.org/x.png">', '<link href="//fonts.example.org/a.css">',
                                    "<style>@import 'https://x.org/a.css';</style>", "<style>body { background: url(//x.org/i.png) }</style>"])
def test_real_external_references_are_still_found(markup):
    assert report.external_reference(f"<html><body>{markup}</body></html>") is not None
