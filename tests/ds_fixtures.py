"""Builds démarches-simplifiées exports (XLSX, ODS, CSV) of the 110 sample applications.

The exports follow the layout documented in
``shared/formats/demarches-simplifiees-export.md`` (the platform's code at commit
e1338d7): sheets ``Dossiers``, ``Etablissements``, ``Avis`` and one sheet per
repeatable block; fixed columns and their older variants; values typed the way
the platform's writers type them (IDs as text, booleans as text ``true`` /
``false``, timestamps as Excel date-times in Paris time in XLSX and as text with
an offset in ODS and CSV, blank numbers as 0 since April 2024, multiple choices
joined with ``", "``, régions and communes over several columns…).

Nothing here uses the package under test: the sample CSVs are read with the
``csv`` module and the form (labels, options) is written out by hand, as a
procedure's administrator would have built it.  XLSX is written with openpyxl,
ODS with odfpy (the library pandas uses), CSV with the ``csv`` module.

Run as a script to write the three exports of the sample into a folder::

    python tests/ds_fixtures.py OUT_DIR
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SAMPLE_APPLICATIONS = DATA / "candidatures_exemple.csv"
SAMPLE_REVIEWS = DATA / "evaluations_exemple.csv"
DEFAULT_MAPPING = DATA / "mapping_ds_2021.toml"
PARIS = ZoneInfo("Europe/Paris")

# --------------------------------------------------------------------------- the form


#: Options of "Type de structure porteuse" and "Type de partenaire" (code -> option text).
ORG_OPTIONS = {
    "ministry": "Administration centrale (secrétariat général, direction d'un ministère)",
    "state_operator": "Opérateur de l'État",
    "deconcentrated_service": "Administration territoriale de l'État (préfecture, service déconcentré)",
    "local_authority": "Collectivité territoriale ou groupement",
    "association": "Association",
    "private_company": "Entreprise",
}
MATURITY_OPTIONS = {"scoping": "Cadrage", "testing": "Test / expérimentation", "prototyping": "Prototypage", "deployment": "Déploiement"}
#: INSEE region codes, and a commune per region (name, postal code, INSEE code, département).
REGIONS = {
    "Auvergne-Rhône-Alpes": ("84", ("Lyon", "69001", "69123", "69 – Rhône")),
    "Bourgogne-Franche-Comté": ("27", ("Dijon", "21000", "21231", "21 – Côte-d'Or")),
    "Bretagne": ("53", ("Quimper", "29000", "29232", "29 – Finistère")),
    "Centre-Val de Loire": ("24", ("Orléans", "45000", "45234", "45 – Loiret")),
    "Corse": ("94", ("Ajaccio", "20000", "2A004", "2A – Corse-du-Sud")),
    "Grand Est": ("44", ("Nancy", "54000", "54395", "54 – Meurthe-et-Moselle")),
    "Hauts-de-France": ("32", ("Amiens", "80000", "80021", "80 – Somme")),
    "Île-de-France": ("11", ("Montreuil", "93100", "93048", "93 – Seine-Saint-Denis")),
    "Normandie": ("28", ("Caen", "14000", "14118", "14 – Calvados")),
    "Nouvelle-Aquitaine": ("75", ("Poitiers", "86000", "86194", "86 – Vienne")),
    "Occitanie": ("76", ("Saint-Affrique", "12400", "12208", "12 – Aveyron")),
    "Pays de la Loire": ("52", ("Nantes", "44000", "44109", "44 – Loire-Atlantique")),
    "Provence-Alpes-Côte d'Azur": ("93", ("Digne-les-Bains", "04000", "04070", "04 – Alpes-de-Haute-Provence")),
    "Guadeloupe": ("01", ("Basse-Terre", "97100", "97105", "971 – Guadeloupe")),
    "Guyane": ("03", ("Cayenne", "97300", "97302", "973 – Guyane")),
    "Martinique": ("02", ("Fort-de-France", "97200", "97209", "972 – Martinique")),
    "La Réunion": ("04", ("Saint-Denis", "97400", "97411", "974 – La Réunion")),
    "Mayotte": ("06", ("Mamoudzou", "97600", "97611", "976 – Mayotte")),
}
#: Sub-criterion labels the experts write before each score in their answer (the call's labels).
SCORE_LABELS = {
    "impact_reform": "Lien avec une réforme prioritaire",
    "impact_replicability": "Réplicabilité ou passage à l'échelle nationale",
    "openness_codesign": "Co-construction avec les usagers et les agents",
    "openness_methods": "Méthodes innovantes",
}
N_SLOTS = 8  # numbered partner fields of the form variant without a repeatable block
PARTNER_BLOCK_ID, SITES_BLOCK_ID = 4811, 4920
FIRST_ID = 400_000

ETAB_COLUMNS = [
    "Dossier ID", "Champ", "Établissement SIRET", "Etablissement enseigne", "Établissement siège social", "Établissement NAF",
    "Établissement libellé NAF", "Établissement Adresse", "Établissement numero voie", "Établissement type voie",
    "Établissement nom voie", "Établissement complément adresse", "Établissement code postal", "Établissement localité",
    "Établissement code INSEE localité", "Entreprise SIREN", "Entreprise capital social", "Entreprise numero TVA intracommunautaire",
    "Entreprise forme juridique", "Entreprise forme juridique code", "Entreprise nom commercial", "Entreprise raison sociale",
    "Entreprise SIRET siège social", "Entreprise code effectif entreprise", "Entreprise date de création", "Entreprise état administratif",
    "Entreprise nom", "Entreprise prénom", "Association RNA", "Association titre", "Association objet", "Association date de création",
    "Association date de déclaration", "Association date de publication",
]
#: The CSV's establishment block (SIRET procedures): Etablissements columns 3-34 without "Etablissement enseigne".
CSV_ETAB_COLUMNS = [c for c in ETAB_COLUMNS[2:] if c != "Etablissement enseigne"]


@dataclass(frozen=True)
class Stamp:
    """A Ruby ``TimeWithZone`` (Paris): a Excel date-time in XLSX, text with an offset elsewhere."""

    at: dt.datetime  # aware, Europe/Paris


def stamp(day: str, minutes: int) -> Stamp:
    d = dt.date.fromisoformat(day)
    return Stamp(dt.datetime(d.year, d.month, d.day, 8, 0, tzinfo=PARIS) + dt.timedelta(minutes=minutes))


# --------------------------------------------------------------------------- the logical export


@dataclass
class Book:
    """Sheets as the platform's Ruby values: ``str``, ``int``, ``float``, ``bool``, `Stamp`, ``date``, ``None``."""

    sheets: dict = field(default_factory=dict)  # name -> (header list or None, rows: list of lists)

    def set(self, sheet: str, key_header: str, key: str, header: str, value) -> None:
        """Set a cell: the row whose `key_header` column is `key`, the column `header` (first of that label)."""
        head, rows = self.sheets[sheet]
        k, j = head.index(key_header), head.index(header)
        for row in rows:
            if row[k] == key:
                row[j] = value
                return
        raise KeyError(key)


@dataclass(frozen=True)
class Fixture:
    """An export written to disk and what the tests need to compare it with the sample."""

    path: Path
    format: str
    identity: str
    layout: str
    partners: str
    sample_id: dict  # DS dossier number -> sample application_id
    expert_reviewer: dict  # expert email -> sample reviewer_id
    candidates: tuple  # DS numbers of the 110 sample dossiers
    non_candidates: dict  # DS number -> state


def read_sample() -> tuple[list[dict], list[dict]]:
    with open(SAMPLE_APPLICATIONS, encoding="utf-8", newline="") as fh:
        apps = list(csv.DictReader(fh))
    with open(SAMPLE_REVIEWS, encoding="utf-8", newline="") as fh:
        reviews = list(csv.DictReader(fh))
    return apps, reviews


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.split(";") if x.strip()]


def _sheet_name(block_id: int, label: str) -> str:
    """As the platform names a repeatable block's sheet: ``(id) label``, cleaned, ASCII, 30 characters."""
    name = f"({block_id}) {label}"
    name = re.sub(r"[\\/]", "-", name)
    name = re.sub(r"[*?\[\]]", "", name)
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return name.strip()[:30]


def build_book(*, identity: str = "siret", layout: str = "current", partners: str = "block", fmt: str = "xlsx",
               avis: bool = True, extra_dossiers: bool = True, partner_block_label: str = "Partenaires") -> tuple[Book, dict]:
    """The export of the sample as Ruby values, and the facts the tests need.

    Parameters
    ----------
    identity : ``siret`` (procedure for legal entities) or ``individual``.
    layout : ``current`` (2025 headers, blank numbers as 0) or ``old`` (a 2023 export:
        ``Archivé``, no FranceConnect nor third-party columns, no "Dernière mise à jour du
        dossier le", Avis without Question, blank numbers empty).
    partners : ``block`` (repeatable block "Partenaires") or ``fields`` (numbered fields).
    fmt : ``xlsx``, ``ods`` or ``csv`` (the CSV of a SIRET procedure carries the
        establishment block instead of "Entreprise raison sociale").
    """
    apps, reviews = read_sample()
    current = layout == "current"
    zero = 0 if current else None  # blank number fields: 0 since April 2024, empty before
    dossiers = []
    for k, app in enumerate(apps, start=1):
        dossiers.append({"sample": app, "id": str(FIRST_ID + k), "k": k,
                         "state": "En construction" if k % 7 == 0 else "En instruction"})
    non_candidates = {}
    if extra_dossiers:  # copies of sample applications in other states, to be reported and left out
        for n, (src, state, day) in enumerate([(5, "Refusé", "2021-09-20"), (12, "Classé sans suite", "2021-09-25"),
                                                (20, "Accepté", "2021-09-14"), (33, "Accepté", "2021-11-02"),
                                                (40, "Refusé", "2021-10-01")], start=1):
            app = dict(apps[src - 1], submitted_at=day, title=apps[src - 1]["title"] + " (deuxième dépôt)")
            did = str(FIRST_ID + len(apps) + n)
            dossiers.append({"sample": app, "id": did, "k": len(apps) + n, "state": state})
            non_candidates[did] = state
    for d in dossiers:
        d["deposit"] = stamp(d["sample"]["submitted_at"], d["k"])
    dossiers.sort(key=lambda d: d["deposit"].at)  # the platform exports in ascending "Déposé le"

    # ---- Dossiers: fixed columns
    head = ["ID", "Email"]
    if current:
        head.append("FranceConnect ?")
    if identity == "individual":
        head += ["Civilité", "Nom", "Prénom"]
        if current:
            head += ["Dépôt pour un tiers", "Nom du mandataire", "Prénom du mandataire"]
        head.append("Date de naissance")
    elif fmt == "csv":
        head += CSV_ETAB_COLUMNS
    else:
        head.append("Entreprise raison sociale")
    head += ["À archiver" if current else "Archivé", "État du dossier", "Dernière mise à jour le"]
    if current:
        head.append("Dernière mise à jour du dossier le")
    head += ["Déposé le", "Passé en instruction le", "Traité le", "Motivation de la décision", "Instructeurs", "Groupe instructeur"]
    # ---- the procedure's fields, then the private annotations (no separator)
    head += ["Intitulé du projet (défi)", "Structure porteuse du projet", "Type de structure porteuse",
             "Nom et prénom du référent du projet", "Téléphone du référent",
             "Région de la structure porteuse", "Région de la structure porteuse (Code)", "Autres régions concernées par le projet",
             "Commune principale de réalisation", "Commune principale de réalisation (Code INSEE)",
             "Commune principale de réalisation (Département)",
             "Réforme prioritaire du Gouvernement concernée", "Maturité du projet", "Montant demandé (€)",
             "Dont prestations intellectuelles (€)", "Dont outils numériques (€)", "Dont formation à l'innovation (€)", "Dont autres dépenses (€)",
             "Description de la démarche de co-construction"]
    if partners == "fields":
        for s in range(1, N_SLOTS + 1):
            head += [f"Partenaire {s}", f"Type du partenaire {s}"]
    head += ["Projet déjà cofinancé ?", "Montant du cofinancement (€)", "Observations", "Budget prévisionnel",
             "J'atteste l'exactitude des informations",
             "Éligible", "Observations", "Note d'instruction"]

    book = Book()
    rows, etab_rows, block_rows, site_rows = [], [], [], []
    for d in dossiers:
        app, k, did = d["sample"], d["k"], d["id"]
        region = app["region"]
        code, (commune, postal, insee, dept) = REGIONS[region]
        siret = f"130{k:011d}"
        etab = {"Dossier ID": did, "Champ": "Dossier", "Établissement SIRET": siret, "Etablissement enseigne": None,
                "Établissement siège social": True, "Établissement NAF": "84.11Z", "Établissement libellé NAF": "Administration publique générale",
                "Établissement Adresse": f"{k} rue de la République {postal} {commune.upper()}", "Établissement numero voie": str(k),
                "Établissement type voie": "RUE", "Établissement nom voie": "DE LA REPUBLIQUE", "Établissement complément adresse": None,
                "Établissement code postal": postal, "Établissement localité": commune.upper(), "Établissement code INSEE localité": insee,
                "Entreprise SIREN": siret[:9], "Entreprise capital social": None, "Entreprise numero TVA intracommunautaire": f"FR00{siret[:9]}",
                "Entreprise forme juridique": "Service déconcentré de l'État à compétence (inter) départementale",
                "Entreprise forme juridique code": "7172", "Entreprise nom commercial": "", "Entreprise raison sociale": app["lead_org"].upper(),
                "Entreprise SIRET siège social": siret, "Entreprise code effectif entreprise": "22",
                "Entreprise date de création": dt.date(1990 + k % 30, 1 + k % 12, 1 + k % 28), "Entreprise état administratif": "Actif",
                "Entreprise nom": "Nomfictif-entreprise" if k == 17 else None, "Entreprise prénom": "Dominique" if k == 17 else None,
                "Association RNA": None, "Association titre": None, "Association objet": None, "Association date de création": None,
                "Association date de déclaration": None, "Association date de publication": None}
        state = d["state"]
        dep = d["deposit"].at
        instruction = Stamp(dep + dt.timedelta(days=5)) if state != "En construction" else None
        decided = Stamp(dt.datetime(2022, 2, 17, 11, 40, tzinfo=PARIS)) if state in ("Accepté", "Refusé", "Classé sans suite") else None
        motivation = {"Accepté": "Projet retenu par le comité du 17 février 2022.", "Refusé": "Projet non retenu, déjà financé par ailleurs.",
                      "Classé sans suite": "Dossier déposé deux fois."}.get(state)
        cofinanced = k % 9 == 0
        partner_names, partner_types = _split(app["partners"]), _split(app["partner_types"])
        reform = app["priority_reform"] or ("Aucune" if k == 34 else "")  # the option "Aucune", or left blank
        values = {
            "ID": did, "Email": f"porteur.{k:03d}@exemple.fr", "FranceConnect ?": False,
            "Civilité": "Mme" if k % 2 else "M.", "Nom": f"Nomfictif{k:03d}", "Prénom": "Camille", "Dépôt pour un tiers": False,
            "Nom du mandataire": None, "Prénom du mandataire": None, "Date de naissance": dt.date(1970 + k % 30, 1 + k % 12, 1 + k % 28),
            "Entreprise raison sociale": app["lead_org"].upper(),
            "À archiver": False, "Archivé": False, "État du dossier": state, "Dernière mise à jour le": Stamp(dep + dt.timedelta(days=3)),
            "Dernière mise à jour du dossier le": Stamp(dep - dt.timedelta(minutes=4)), "Déposé le": d["deposit"],
            "Passé en instruction le": instruction, "Traité le": decided, "Motivation de la décision": motivation,
            "Instructeurs": "instructeur.ditp@exemple.gouv.fr agent.suivi@exemple.gouv.fr" if k % 3 else "instructeur.ditp@exemple.gouv.fr",
            "Groupe instructeur": "défaut",
            "Intitulé du projet (défi)": app["title"], "Structure porteuse du projet": app["lead_org"],
            "Type de structure porteuse": ORG_OPTIONS[app["lead_org_type"]],
            "Nom et prénom du référent du projet": f"Camille Nomfictif{k:03d}", "Téléphone du référent": f"01 45 67 {k // 100:02d} {k % 100:02d}",
            "Région de la structure porteuse": region, "Région de la structure porteuse (Code)": code,
            "Autres régions concernées par le projet": ", ".join(_split(app["regions_covered"])),
            "Commune principale de réalisation": f"{commune} ({postal})", "Commune principale de réalisation (Code INSEE)": insee,
            "Commune principale de réalisation (Département)": dept,
            "Réforme prioritaire du Gouvernement concernée": reform, "Maturité du projet": MATURITY_OPTIONS[app["maturity"]],
            "Montant demandé (€)": int(app["requested_eur"]), "Dont prestations intellectuelles (€)": int(app["expense_services_eur"]),
            "Dont outils numériques (€)": int(app["expense_digital_tools_eur"]),
            "Dont formation à l'innovation (€)": int(app["expense_training_eur"]), "Dont autres dépenses (€)": int(app["expense_other_eur"]),
            "Description de la démarche de co-construction": f"Ateliers ouverts aux usagers, puis comité de pilotage mensuel.\n"
                                                              f"Questionnaire \"besoins\" diffusé ; {len(partner_names)} partenaire(s).",
            "Projet déjà cofinancé ?": "Oui" if cofinanced else "Non",
            "Montant du cofinancement (€)": 15000 if cofinanced else zero,  # hidden when "Non": the blank default
            "Budget prévisionnel": f"budget_{k:03d}.pdf, devis.pdf" if k % 4 else f"budget_{k:03d}.pdf",
            "J'atteste l'exactitude des informations": "on",
            "Éligible": "on" if k % 5 else "off", "Note d'instruction": 3.5 if k % 10 == 0 else zero,
        }
        for s in range(1, N_SLOTS + 1):
            values[f"Partenaire {s}"] = partner_names[s - 1] if s <= len(partner_names) else None
            values[f"Type du partenaire {s}"] = ORG_OPTIONS[partner_types[s - 1]] if s <= len(partner_types) else None
        values.update((c, etab[c]) for c in CSV_ETAB_COLUMNS if c not in values)
        row, seen = [], {}
        for h in head:
            n = seen[h] = seen.get(h, 0) + 1
            if h == "Observations":  # same label for a public field and an annotation
                row.append("RAS" if n == 1 and k % 6 == 0 else ("À revoir en comité" if n == 2 and k % 8 == 0 else None))
            elif h == "Entreprise raison sociale" and fmt == "csv":
                row.append(etab[h])
            else:
                row.append(values[h])
        rows.append(row)
        if identity == "siret":
            etab_rows.append([etab[c] for c in ETAB_COLUMNS])
        for line, (nm, tp) in enumerate(zip(partner_names, partner_types), start=1):
            block_rows.append([did, line, nm, ORG_OPTIONS[tp]])
        if k % 11 == 0:
            site_rows.append([did, 1, f"{commune} ({postal})", insee, dept])
    book.sheets["Dossiers"] = (head, rows)
    if fmt == "csv":
        return book, _facts(dossiers, non_candidates, {})
    book.sheets["Etablissements"] = (ETAB_COLUMNS, etab_rows) if etab_rows else (None, [])
    # ---- Avis
    avis_head = ["Dossier ID", "Introduction", "Réponse"] + (["Question", "Réponse oui/non"] if current else []) + \
                ["Créé le", "Répondu le", "Instructeur", "Expert"]
    by_app: dict[str, list[dict]] = {}
    for r in reviews:
        by_app.setdefault(r["application_id"], []).append(r)
    experts = {}
    avis_rows = []
    if avis:
        for d in dossiers:
            app, did, dep = d["sample"], d["id"], d["deposit"].at
            asked = Stamp(dep + dt.timedelta(days=6))
            answered = Stamp(dep + dt.timedelta(days=12, hours=3))
            reqs = []
            if did not in non_candidates:
                for n, r in enumerate(by_app.get(app["application_id"], [])):
                    email = f"expert.{r['reviewer_id'].lower()}@exemple.gouv.fr"
                    experts[email] = r["reviewer_id"]
                    if d["k"] == 3 and n == 0:  # asked twice: the first answer is replaced by a later one
                        reqs.append((email, _answer({c: "1" for c in SCORE_LABELS}, 0), True))
                    reqs.append((email, _answer(r, d["k"] + n), (d["k"] + n) % 4 != 0))
                if app["application_id"] == "P047":  # no review in the sample: two requests, never answered
                    reqs.append(("expert.r13@exemple.gouv.fr", None, None))
                    reqs.append(("expert.r14@exemple.gouv.fr", None, None))
                if app["application_id"] == "P072":  # one review in the sample: a second request was revoked
                    reqs.append(("expert.r14@exemple.gouv.fr", None, None))
                if d["k"] % 13 == 0:  # a legal opinion, answered without scores
                    reqs.append(("juriste.ditp@exemple.gouv.fr", "Avis juridique : pas d'objection, convention type applicable.", True))
            elif non_candidates[did] == "Refusé":
                reqs.append(("expert.r02@exemple.gouv.fr", _answer({c: "2" for c in SCORE_LABELS}, 1), False))
            for email, answer, yes in reqs:
                row = {"Dossier ID": did, "Introduction": "Merci d'évaluer ce dossier selon la grille de l'appel (notes de 0 à 5).",
                       "Réponse": answer, "Question": "Le projet est-il finançable en l'état ?",
                       "Réponse oui/non": None if answer is None else yes, "Créé le": asked,
                       "Répondu le": answered if answer is not None else asked,
                       "Instructeur": "instructeur.ditp@exemple.gouv.fr", "Expert": email}
                avis_rows.append([row[h] for h in avis_head])
    book.sheets["Avis"] = (avis_head, avis_rows) if avis_rows else (None, [])
    if partners == "block" and block_rows:
        book.sheets[_sheet_name(PARTNER_BLOCK_ID, partner_block_label)] = (
            ["Dossier ID", "Ligne", "Nom du partenaire", "Type de partenaire"], block_rows)
    if site_rows:
        book.sheets[_sheet_name(SITES_BLOCK_ID, "Sites d'expérimentation")] = (
            ["Dossier ID", "Ligne", "Commune du site", "Commune du site (Code INSEE)", "Commune du site (Département)"], site_rows)
    return book, _facts(dossiers, non_candidates, experts)


def _answer(review: dict, salt: int) -> str:
    """An expert's answer: a sentence, one "label : score" line per sub-criterion, a comment.

    Blank scores are written "non noté" or left out, in turn; decimals with a comma.
    """
    lines = ["Avis de l'expert sur le dossier."]
    for n, (col, label) in enumerate(SCORE_LABELS.items()):
        v = review[col]
        if v == "":
            if (salt + n) % 2:
                lines.append(f"{label} : non noté")
            continue
        lines.append(f"{label} : {v.replace('.', ',')}")
    lines.append("Commentaire : démarche solide, à suivre en comité.")
    return "\n".join(lines)


def _facts(dossiers, non_candidates, experts) -> dict:
    return {"sample_id": {d["id"]: d["sample"]["application_id"] for d in dossiers if d["id"] not in non_candidates},
            "expert_reviewer": dict(experts), "non_candidates": dict(non_candidates),
            "candidates": tuple(d["id"] for d in dossiers if d["id"] not in non_candidates)}


# --------------------------------------------------------------------------- writers


def _ruby_text(v) -> str:
    """How the platform's CSV (and ODS, for dates, timestamps and booleans) writes a Ruby value."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Stamp):
        return v.at.strftime("%Y-%m-%d %H:%M:%S %z")  # ActiveSupport TimeWithZone#to_s
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)  # Ruby float form: 16.5, 45000.0
    return str(v)


def write_xlsx(book: Book, path: Path) -> None:
    import openpyxl
    from openpyxl.styles import Font, PatternFill

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, (head, rows) in book.sheets.items():
        ws = wb.create_sheet(name)
        if head is None:
            continue  # an empty sheet has no header row at all
        ws.append(list(head))
        for c in ws[1]:
            c.font, c.fill = Font(bold=True, color="FFFFFF", size=12), PatternFill("solid", fgColor="000000")
        for i, row in enumerate(rows, start=2):
            for j, v in enumerate(row, start=1):
                cell = ws.cell(row=i, column=j)
                if v is None:
                    continue
                if isinstance(v, bool):
                    cell.value = "true" if v else "false"  # text, not an Excel boolean
                elif isinstance(v, Stamp):
                    cell.value = v.at.replace(tzinfo=None)  # Paris wall-clock time, no zone
                    cell.number_format = "yyyy-mm-dd h:mm AM/PM"
                elif isinstance(v, dt.date):
                    cell.value = v
                    cell.number_format = "yyyy-mm-dd"
                else:
                    cell.value = v
                    if isinstance(v, str):
                        cell.data_type = "s"  # never a formula
    wb.save(path)


def write_ods(book: Book, path: Path) -> None:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    for name, (head, rows) in book.sheets.items():
        table = Table(name=name)
        doc.spreadsheet.addElement(table)
        if head is None:
            continue
        for values in [list(head), *rows]:
            tr = TableRow()
            table.addElement(tr)
            for v in values:
                if v is None or v is False:  # rodf lib/rodf/cell.rb: `@value = value || ''`, so false is an empty cell
                    tr.addElement(TableCell())
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    tr.addElement(TableCell(valuetype="float", value=v))  # rodf: every number is a float cell
                else:
                    cell = TableCell(valuetype="string")
                    for line in _ruby_text(v).strip().split("\n"):  # rodf: one paragraph per line, outer spaces stripped
                        cell.addElement(P(text=line))
                    tr.addElement(cell)
    doc.save(str(path))


def write_csv(book: Book, path: Path) -> None:
    head, rows = book.sheets["Dossiers"]
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    if head is not None:
        w.writerow(head)
        for row in rows:
            w.writerow([_ruby_text(v) for v in row])
    else:
        buf.write("\n")
    path.write_bytes(buf.getvalue().encode("utf-8"))  # UTF-8, no BOM


def build(path: str | Path, fmt: str | None = None, *, edit=None, **options) -> Fixture:
    """Write an export of the sample to `path` (format from the suffix unless `fmt`).

    `edit`, if given, is called with the :class:`Book` before writing (to break it);
    other keyword arguments go to :func:`build_book`.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    book, facts = build_book(fmt=fmt, **options)
    if edit is not None:
        edit(book)
    {"xlsx": write_xlsx, "ods": write_ods, "csv": write_csv}[fmt](book, path)
    return Fixture(path=path, format=fmt, identity=options.get("identity", "siret"), layout=options.get("layout", "current"),
                   partners=options.get("partners", "block"), **facts)


def mapping_text(*, partners: str = "block", **replace: str) -> str:
    """The default mapping, with numbered partner fields instead of the block if asked, and text replacements."""
    text = DEFAULT_MAPPING.read_text(encoding="utf-8")
    text = text.replace('call = "appel_2021.toml"', f'call = "{(DATA / "appel_2021.toml").as_posix()}"')
    if partners == "fields":
        slots = ",\n".join(f'  {{ name = "Partenaire {s}", type = "Type du partenaire {s}" }}' for s in range(1, N_SLOTS + 1))
        text = re.sub(r'^block = "Partenaires"\n', "", text, flags=re.M)
        text = re.sub(r'^name = "Nom du partenaire"\ntype = "Type de partenaire"\n', f"fields = [\n{slots},\n]\n", text, flags=re.M)
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or ["."])[0])
    out.mkdir(parents=True, exist_ok=True)
    build(out / "dossiers_siret.xlsx", identity="siret")
    build(out / "dossiers_particuliers.ods", identity="individual", layout="old")
    build(out / "dossiers_siret.csv", identity="siret", partners="fields")
    (out / "mapping_champs_numerotes.toml").write_text(mapping_text(partners="fields"), encoding="utf-8")
    print(f"écrit dans {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
