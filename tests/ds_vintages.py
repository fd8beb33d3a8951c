"""Small fictitious démarches-simplifiées exports in the 2021, 2023 and current layouts, as XLSX, ODS and CSV.

Eight dossiers of an invented call (same rules as ``data/appel_2021.toml``) are
written the way the platform writes them, each convention following a file of
the platform's source (``demarches-simplifiees/demarches-simplifiees.fr``; the
current layout at commit e1338d79114265bb1ee774235e1be64962e60d09, the 2021
layout at 64351d0287 (September 2021), the 2023 layout at 619e545238
(September 2023)) or of the writer libraries it pins:

* fixed columns of the Dossiers sheet: ``app/models/dossier.rb``
  (``spreadsheet_columns``, 2021 and 2023) and
  ``app/models/concerns/dossier_export_concern.rb`` (current): « Archivé »
  before November 2024, « À archiver » after; « FranceConnect ? » and
  « Dernière mise à jour du dossier le » only in the current layout;
* the Avis sheet: ``app/models/avis.rb`` (``spreadsheet_columns``): « Question /
  Introduction » in 2021, « Introduction », « Question », « Réponse oui/non »
  since March 2023;
* blank numbers: ``app/models/champs/integer_number_champ.rb`` (2021, 2023:
  ``value&.to_i``, nil for a blank, so an empty cell) and
  ``app/models/types_de_champ/integer_number_type_de_champ.rb`` (current:
  ``champ_default_export_value`` = 0);
* régions: ``app/models/champs/region_champ.rb`` (2021: a text champ, one
  column) and ``app/models/types_de_champ/region_type_de_champ.rb`` (2023 and
  current: name, then « (Code) »);
* text fields: ``app/lib/sanitizers/xml.rb`` (current: characters outside XML
  1.0, every emoji, become a space; used by ``text_type_de_champ.rb``);
* block sheet names: ``app/models/types_de_champ/repetition_type_de_champ.rb``
  (``libelle_for_export``: ``ActiveStorage::Filename#sanitized``) and
  ``app/services/procedure_export_service.rb`` (``options_for``:
  ``I18n.transliterate``, ``delete('/\\*?[]')``, ``truncate(30)``); the Rails
  and i18n code is re-implemented here, independently of the package;
* XLSX cells: spreadsheet_architect 5.1.0
  ``lib/spreadsheet_architect/utils/xlsx.rb`` (``get_type``: String and
  booleans are ``:string``, Time ``:time``) and caxlsx 4.0.0
  ``lib/axlsx/workbook/worksheet/date_time_converter.rb`` (``time_to_serial``:
  ``(time.utc_offset + time.to_f - epoch) / 86400.0``, so microseconds kept);
* ODS cells: spreadsheet_architect ``class_methods/ods.rb`` (times and dates
  written as ``val.to_s``) and rodf 1.2.0 ``lib/rodf/cell.rb`` (strings
  stripped, ``value || ''`` so ``false`` and nil give an empty cell, numbers as
  float cells) and ``lib/rodf/document.rb`` (entries ``META-INF/manifest.xml``,
  ``styles.xml``, ``content.xml``: no ``mimetype``);
* CSV: spreadsheet_architect ``class_methods/csv.rb`` → Ruby ``CSV.generate``
  (``,``, LF, UTF-8 without BOM, nil unquoted, ``""`` for an empty string) and
  ActiveSupport ``TimeWithZone#to_s`` (``2021-10-15 23:59:59 +0200``, fraction
  dropped).

Nothing here imports the package under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
VINTAGES = ("2021", "2023", "courant")
FORMATS = ("xlsx", "ods", "csv")
BLOCK_ID = 4811
BLOCK_LABEL = "Partenaires : acteurs ; cœur du projet"
#: The sheet name worked out by hand from the platform's code (see module docstring): ":" and ";" -> "-",
#: "œ" -> "oe", then cut to 30 characters.
BLOCK_SHEET = "(4811) Partenaires - acteurs -"
DEADLINE_DOSSIER, LATE_DOSSIER = "7003", "7004"

ORG = {"ministry": "Administration centrale (secrétariat général, direction d'un ministère)",
       "state_operator": "Opérateur de l'État",
       "deconcentrated_service": "Administration territoriale de l'État (préfecture, service déconcentré)",
       "local_authority": "Collectivité territoriale ou groupement", "association": "Association"}
MATURITY = {"scoping": "Cadrage", "testing": "Test / expérimentation", "prototyping": "Prototypage", "deployment": "Déploiement"}
REGION_CODE = {"Normandie": "28", "Bretagne": "53", "Occitanie": "76", "Île-de-France": "11", "Grand Est": "44",
               "Pays de la Loire": "52"}
SCORE_LABELS = ("Lien avec une réforme prioritaire", "Réplicabilité ou passage à l'échelle nationale",
                "Co-construction avec les usagers et les agents", "Méthodes innovantes")


def paris(y, mo, d, h, mi, s, us=0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, s, us, tzinfo=PARIS)


#: The dossiers (fictitious).  ``expenses`` = services, digital tools, training, other; None = left blank.
DOSSIERS = [
    dict(id="7001", state="En instruction", deposit=paris(2021, 9, 20, 10, 15, 42, 250_000),
         title="Accueil 🚀 des usagers en préfecture", lead="Direction fictive des usagers", lead_type="ministry",
         region="Normandie", covered=["Bretagne", "Pays de la Loire"], reform="Dédoublement des classes", maturity="testing",
         requested=100_000, expenses=(80_000, 20_000, None, None),
         partners=[("Mairie de Fictiveville", "local_authority"), ("Association des usagers fictifs", "association")],
         scores=[(3, 4, 3.5, 2), (4, 4, 4, 3)]),
    dict(id="7002", state="En instruction", deposit=paris(2021, 10, 1, 14, 3, 7, 999_000),
         title="Un guichet unique co-construit avec les agents", lead="Communauté de communes fictive", lead_type="local_authority",
         region="Occitanie", covered=[], reform="Transition écologique", maturity="prototyping",
         requested=90_000, expenses=(60_000, 20_000, 10_000, None),
         partners=[("Opérateur fictif de l'État", "state_operator")],
         scores=[(4, 3, 4, 4), (3.5, 3, 4, 4)]),
    dict(id="7003", state="En construction", deposit=paris(2021, 10, 15, 23, 59, 59, 720_000),
         title="Simplifier les démarches des aidants", lead="Préfecture fictive du Nord-Est", lead_type="deconcentrated_service",
         region="Grand Est", covered=["Normandie"], reform="Insertion par l'emploi", maturity="deployment",
         requested=110_000, expenses=(70_000, 30_000, 10_000, None), partners=[],
         scores=[(5, 4, 4, 4), (4.5, 4, 3, 4)]),
    dict(id="7004", state="En construction", deposit=paris(2021, 10, 16, 0, 0, 0, 300_000),
         title="Déposé après la date limite", lead="Opérateur fictif du numérique", lead_type="state_operator",
         region="Île-de-France", covered=[], reform="Transition écologique", maturity="scoping",
         requested=80_000, expenses=(80_000, None, None, None), partners=[],
         scores=[(3, 3, 3, 3), (3, 3, 3, 3)]),
    dict(id="7005", state="En instruction", deposit=paris(2021, 9, 2, 9, 0, 0, 0),
         title="  Des ateliers de design de service  ", lead="Direction fictive de l'innovation", lead_type="ministry",
         region="Bretagne", covered=[], reform="Dédoublement des classes", maturity="scoping",
         requested=75_000, expenses=(75_000, None, None, None), partners=[("Laboratoire fictif", "state_operator")],
         scores=[(2, 2.5, 3, 0), (2, 3, 3, 1)]),
    dict(id="7006", state="Refusé", deposit=paris(2021, 9, 5, 11, 30, 0, 0),
         title="Projet déjà financé", lead="Direction fictive bis", lead_type="ministry",
         region="Bretagne", covered=[], reform="Transition écologique", maturity="testing",
         requested=70_000, expenses=(70_000, None, None, None), partners=[], scores=[]),
]
for _d in DOSSIERS:
    _d["expert_emails"] = [f"expert{n}@exemple.gouv.fr" for n in (1, 2)]
DOSSIERS.sort(key=lambda d: d["deposit"])  # the platform exports in ascending « Déposé le »


@dataclass(frozen=True)
class Stamp:
    """A Ruby ``ActiveSupport::TimeWithZone`` in Paris."""

    at: dt.datetime


# ----------------------------------------------------------------------------- Rails and i18n, re-implemented

_APPROX = {**dict(zip("ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöøùúûüýÿ",
                      "AAAAAACEEEEIIIINOOOOOOUUUUYaaaaaaceeeeiiiinoooooouuuuyy")),
           "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "ß": "ss"}  # the part of i18n's table French labels use


def ruby_sheet_name(stable_id: int, label: str) -> str:
    """``RepetitionTypeDeChamp#libelle_for_export`` then ``ProcedureExportService#options_for``."""
    s = f"({stable_id}) {label}"
    s = "".join(c for c in s if c not in "[]*?")                          # str.delete('[]*?')
    s = s.strip()                                                         # Filename#sanitized: strip, then tr
    s = "".join("-" if c in "\u202e%$|:;/\t\r\n\\" else c for c in s)
    s = "".join(c if ord(c) < 128 else _APPROX.get(c, "?") for c in s)   # I18n.transliterate (unknown -> "?")
    s = "".join(c for c in s if c not in "/*?[]")                         # .delete('/\*?[]')
    return s[:30]                                                         # .truncate(30, omission: '')


def xml_sanitize(text: str) -> str:
    """``Sanitizers::Xml.sanitize``: characters outside XML 1.0 (and above U+FFFD) -> space."""
    return "".join(c if c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD else " " for c in text)


# ----------------------------------------------------------------------------- the logical export


def build_book(vintage: str, fmt: str) -> dict:
    """Sheets as Ruby values: name -> (header, rows)."""
    current, y2021 = vintage == "courant", vintage == "2021"
    blank = 0 if current else None
    head = ["ID", "Email"] + (["FranceConnect ?"] if current else [])
    head += ["Entreprise raison sociale"]  # xlsx/ods; the CSV's 31 establishment columns are left out (not read)
    head += ["À archiver" if current else "Archivé", "État du dossier", "Dernière mise à jour le"]
    head += ["Dernière mise à jour du dossier le"] if current else []
    head += ["Déposé le", "Passé en instruction le", "Traité le", "Motivation de la décision", "Instructeurs"]
    head += ["Intitulé du projet (défi)", "Structure porteuse du projet", "Type de structure porteuse",
             "Région de la structure porteuse"] + ([] if y2021 else ["Région de la structure porteuse (Code)"])
    head += ["Autres régions concernées par le projet", "Réforme prioritaire du Gouvernement concernée", "Maturité du projet",
             "Montant demandé (€)", "Dont prestations intellectuelles (€)", "Dont outils numériques (€)",
             "Dont formation à l'innovation (€)", "Dont autres dépenses (€)"]
    if fmt == "csv":
        head[head.index("Entreprise raison sociale")] = "Établissement SIRET"
    rows, block, avis = [], [], []
    for k, d in enumerate(DOSSIERS, start=1):
        dep = d["deposit"]
        title = xml_sanitize(d["title"]) if current else d["title"]
        v = {"ID": d["id"], "Email": f"porteur{k}@exemple.fr", "FranceConnect ?": False,
             "Entreprise raison sociale": d["lead"].upper(), "Établissement SIRET": f"1300000000{k:04d}",
             "À archiver": False, "Archivé": False, "État du dossier": d["state"],
             "Dernière mise à jour le": Stamp(dep + dt.timedelta(days=2, microseconds=123)),
             "Dernière mise à jour du dossier le": Stamp(dep - dt.timedelta(seconds=30)), "Déposé le": Stamp(dep),
             "Passé en instruction le": Stamp(dep + dt.timedelta(days=3)) if d["state"] != "En construction" else None,
             "Traité le": Stamp(paris(2022, 2, 17, 11, 40, 12, 5)) if d["state"] == "Refusé" else None,
             "Motivation de la décision": "Déjà financé." if d["state"] == "Refusé" else None,
             "Instructeurs": "instructeur@exemple.gouv.fr",
             "Intitulé du projet (défi)": title, "Structure porteuse du projet": d["lead"],
             "Type de structure porteuse": ORG[d["lead_type"]], "Région de la structure porteuse": d["region"],
             "Région de la structure porteuse (Code)": REGION_CODE[d["region"]],
             "Autres régions concernées par le projet": ", ".join(d["covered"]) if d["covered"] else None,
             "Réforme prioritaire du Gouvernement concernée": d["reform"], "Maturité du projet": MATURITY[d["maturity"]],
             "Montant demandé (€)": d["requested"]}
        for h, x in zip(head[-4:], d["expenses"]):
            v[h] = blank if x is None else x
        rows.append([v[h] for h in head])
        for line, (name, typ) in enumerate(d["partners"], start=1):
            block.append([d["id"], line, name, ORG[typ]])
        for n, sc in enumerate(d["scores"]):
            answer = "Avis de l'expert.\n" + "\n".join(f"{lab} : {str(s).replace('.', ',')}" for lab, s in zip(SCORE_LABELS, sc))
            asked = Stamp(dep + dt.timedelta(days=4))
            row = {"Dossier ID": d["id"], "Question / Introduction": "Merci d'évaluer ce dossier (notes de 0 à 5).",
                   "Introduction": "Merci d'évaluer ce dossier (notes de 0 à 5).", "Réponse": answer,
                   "Question": "Le projet est-il finançable ?", "Réponse oui/non": n == 0,  # false: an empty ODS cell
                   "Créé le": asked, "Répondu le": Stamp(dep + dt.timedelta(days=9)),
                   "Instructeur": "instructeur@exemple.gouv.fr", "Expert": d["expert_emails"][n]}
            avis.append(row)
    book = {"Dossiers": (head, rows)}
    if fmt == "csv":
        return book
    book["Etablissements"] = (None, [])  # not read by the import; an empty sheet has no header row
    avis_head = (["Dossier ID", "Question / Introduction", "Réponse"] if y2021 else
                 ["Dossier ID", "Introduction", "Réponse", "Question", "Réponse oui/non"]) + \
                ["Créé le", "Répondu le", "Instructeur", "Expert"]
    book["Avis"] = (avis_head, [[r[h] for h in avis_head] for r in avis])
    book[ruby_sheet_name(BLOCK_ID, BLOCK_LABEL)] = (["Dossier ID", "Ligne", "Nom du partenaire", "Type de partenaire"], block)
    return book


# ----------------------------------------------------------------------------- writers


def ruby_to_s(v) -> str:
    """``to_s`` of a Ruby value as the CSV writer and spreadsheet_architect's ODS path give it."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Stamp):
        return v.at.strftime("%Y-%m-%d %H:%M:%S %z")  # TimeWithZone#to_s: the fraction is dropped
    if isinstance(v, float):
        return repr(v)
    return str(v)


def excel_serial(t: dt.datetime) -> float:
    """caxlsx ``DateTimeConverter.time_to_serial``: (utc_offset + to_f - epoch1900) / 86400.0."""
    return (t.utcoffset().total_seconds() + t.timestamp() - (-2_209_161_600)) / 86_400.0


def write_xlsx(book: dict, path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, (head, rows) in book.items():
        ws = wb.create_sheet(name)
        if head is None:
            continue
        ws.append(list(head))
        for i, row in enumerate(rows, start=2):
            for j, v in enumerate(row, start=1):
                if v is None:
                    continue
                cell = ws.cell(row=i, column=j)
                if isinstance(v, Stamp):
                    cell.value = excel_serial(v.at)  # a float serial with its microseconds, date-time style
                    cell.number_format = "yyyy/m/d h:mm AM/PM"
                elif isinstance(v, bool):
                    cell.value, cell.data_type = ("true" if v else "false"), "s"  # get_type: not Numeric -> :string
                elif isinstance(v, str):
                    cell.value, cell.data_type = v, "s"
                else:
                    cell.value = v
    wb.save(path)


def write_ods(book: dict, path: Path) -> None:
    """As rodf writes it: one ``table:table`` per sheet, no ``mimetype`` entry."""
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')
    out = [f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} office:version="1.2"><office:body><office:spreadsheet>']
    for name, (head, rows) in book.items():
        out.append(f'<table:table table:name="{escape(name, {chr(34): "&quot;"})}">')
        for values in ([list(head)] if head else []) + [list(r) for r in rows]:
            out.append("<table:table-row>")
            for v in values:
                if isinstance(v, (Stamp, dt.date)):
                    v = ruby_to_s(v)  # spreadsheet_architect: val.to_s for anything with strftime
                if isinstance(v, str):
                    v = v.strip()  # rodf Cell: value.strip
                if v is None or v is False or v == "":  # rodf: @value = value || '' ; empty -> no value type
                    out.append("<table:table-cell/>")
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.append(f'<table:table-cell office:value-type="float" office:value="{v}"/>')
                else:
                    text = escape("true" if v is True else str(v))
                    out.append(f'<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>')
            out.append("</table:table-row>")
        out.append("</table:table>")
    out.append("</office:spreadsheet></office:body></office:document-content>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("META-INF/manifest.xml", '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                   'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>')
        z.writestr("styles.xml", '<?xml version="1.0" encoding="UTF-8"?><office:document-styles '
                   'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>')
        z.writestr("content.xml", "".join(out))


def write_csv(book: dict, path: Path) -> None:
    head, rows = book["Dossiers"]
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for row in rows:
        w.writerow([ruby_to_s(v) for v in row])
    path.write_bytes(buf.getvalue().encode("utf-8"))


def write(vintage: str, fmt: str, path: Path) -> Path:
    """Write the export of `vintage` in `fmt` to `path` and return it."""
    {"xlsx": write_xlsx, "ods": write_ods, "csv": write_csv}[fmt](build_book(vintage, fmt), path)
    return path


# ----------------------------------------------------------------------------- what the import must give (worked out by hand)


def expected_applications() -> list[dict]:
    """The canonical rows of the candidate dossiers, in export order, computed here from the dossiers above."""
    out = []
    for d in DOSSIERS:
        if d["state"] == "Refusé":
            continue
        out.append({"application_id": d["id"], "title": " ".join(xml_sanitize(d["title"]).split()), "lead_org": d["lead"],
                    "lead_org_type": d["lead_type"], "region": d["region"], "maturity": d["maturity"],
                    "requested_eur": d["requested"], "expenses": tuple(x or 0 for x in d["expenses"]),
                    "partners": tuple(p for p, _t in d["partners"]), "partner_types": tuple(t for _p, t in d["partners"]),
                    "submitted_at": d["deposit"].replace(tzinfo=None, microsecond=0)})
    return out


MAPPING = f"""# Correspondance des exports fictifs de tests/ds_vintages.py
[export]
call = "appel_2021.toml"

[fields]
title = "Intitulé du projet (défi)"
lead_org = "Structure porteuse du projet"
lead_org_type = "Type de structure porteuse"
region = "Région de la structure porteuse"
regions_covered = "Autres régions concernées par le projet"
priority_reform = "Réforme prioritaire du Gouvernement concernée"
maturity = "Maturité du projet"
requested_eur = "Montant demandé (€)"
expense_services_eur = "Dont prestations intellectuelles (€)"
expense_digital_tools_eur = "Dont outils numériques (€)"
expense_training_eur = "Dont formation à l'innovation (€)"
expense_other_eur = "Dont autres dépenses (€)"

[partners]
block = "{BLOCK_LABEL}"
block_id = {BLOCK_ID}
name = "Nom du partenaire"
type = "Type de partenaire"

[values.lead_org_type]
"{ORG['ministry']}" = "ministry"
"{ORG['state_operator']}" = "state_operator"
"{ORG['deconcentrated_service']}" = "deconcentrated_service"
"{ORG['local_authority']}" = "local_authority"
"Association" = "association"

[values.maturity]
"Cadrage" = "scoping"
"Test / expérimentation" = "testing"
"Prototypage" = "prototyping"
"Déploiement" = "deployment"

[reviews.avis]
impact_reform = "{SCORE_LABELS[0]}"
impact_replicability = "{SCORE_LABELS[1]}"
openness_codesign = "{SCORE_LABELS[2]}"
openness_methods = "{SCORE_LABELS[3]}"
"""


def mapping_text(call_path: Path, *, block_id: bool = True) -> str:
    text = MAPPING.replace('call = "appel_2021.toml"', f'call = "{call_path.as_posix()}"')
    return text if block_id else text.replace(f"block_id = {BLOCK_ID}\n", "")


SAMPLE_NAMES = {"xlsx": "dossiers_ds_exemple.xlsx", "ods": "dossiers_ds_exemple.ods", "csv": "dossiers_ds_exemple.csv"}
SAMPLE_MAPPING = "mapping_ds_exemple.toml"
_SAMPLE_HEADER = """# Correspondance de l'export d'exemple (data/dossiers_ds_exemple.xlsx, .ods, .csv : six dossiers
# fictifs, format courant de « Télécharger les dossiers »), écrite par tests/ds_vintages.py.
#
#   ditp-model import-ds data/dossiers_ds_exemple.xlsx --mapping data/mapping_ds_exemple.toml --out import/
#
# Le bloc répétable des partenaires est désigné par son numéro (block_id, le nombre entre
# parenthèses du nom de la feuille) et par son libellé : le numéro est préféré, le libellé sert de
# contrôle (la feuille s'appelle « (4811) Partenaires - acteurs - » : la plateforme remplace « : »
# et « ; » par « - », translittère « œ » en « oe » et coupe le nom à 30 caractères).
# Format de l'export : docs/format_demarches_simplifiees.md.
"""


def write_sample(out: Path) -> list[Path]:
    """Write the sample export of ``data/`` (current layout, three formats) and its mapping into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [write("courant", fmt, out / name) for fmt, name in SAMPLE_NAMES.items()]
    body = MAPPING.split("\n", 1)[1]  # without the first comment line
    (out / SAMPLE_MAPPING).write_text(_SAMPLE_HEADER + body, encoding="utf-8")
    return [*paths, out / SAMPLE_MAPPING]


if __name__ == "__main__":
    import sys

    for p in write_sample(Path(sys.argv[1] if len(sys.argv) > 1 else "data")):
        print(f"écrit : {p}")
