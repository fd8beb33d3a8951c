"""Decision letters from a Word template: one DOCX and one PDF per application, and one merged PDF for signature.

Reads a *published* decision (``manifest.json`` and the ``allocation.csv`` beside it, checked
against the manifest's decision hash), builds for each application the same explanation as
the Markdown letter fragments (:func:`ditp_model.outputs.feedback.feedback_table`: decision,
award or reasons, entry gap, ex aequo, appeal route — written once, there) and fills a Word
template (docxtpl, ``{{ champ }}`` fields, :data:`LETTER_FIELDS`) with it and with the
letterhead of the call file's ``[authority]`` table (as recorded in the manifest).

PDF, two routes (:func:`pdf_route`):

* ``libreoffice``: ``soffice --headless --convert-to pdf`` on the filled DOCX (faithful to Word's
  layout), when ``soffice`` (or ``libreoffice``) is on the PATH;
* ``html``: the filled DOCX to HTML with ``mammoth`` (paragraph styles « Lettre - … » mapped to
  classes), then to an A4 PDF with WeasyPrint and the print CSS :data:`LETTER_CSS` (letterhead top
  left, date right, signature block right, authority and page number in the page footer).
  A style the secretariat adds in Word falls back to a plain paragraph.

Everything is produced in a private staging folder next to the target, then swapped in
(:func:`replace_folder`): the letters folder is wholly the old one or wholly the new one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ditp_model.french import format_eur, format_points
from ditp_model.inputs.call import CallRules
from ditp_model.inputs.schema import InputError, Problem
# the letters folder (index, place, swap, archive) and the index name MARKER: ditp_model.outputs.letters_folder
from ditp_model.outputs.letters_folder import (MARKER, _archive_for, _check_out_dir, _relative,  # noqa: F401
                                              letters_decision, replace_folder)

__all__ = ["LETTER_FIELDS", "DEFAULT_TEMPLATE", "LetterTemplateError", "PublishedDecision", "read_published_decision",
           "letter_contexts", "check_template", "render_docx", "pdf_route", "soffice_argv", "docx_to_pdf_html",
           "merge_pdfs", "replace_folder", "write_letters", "LettersResult", "date_fr", "MARKER", "MERGED_NAME",
           "DRAFT_MERGED_NAME", "DRAFT_MARK"]

#: The default template, shipped with the package (built by ``ditp_model/templates/make_template.py``).
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "lettre_decision.docx"
#: The merged PDF for signature.
MERGED_NAME = "lettres_a_signer.pdf"
#: The merged PDF of draft letters (provisional decision): not for signature.
DRAFT_MERGED_NAME = "projets_de_lettres.pdf"
#: The mark on every page of a draft letter (provisional decision).
DRAFT_MARK = "PROJET — décision provisoire, ne pas envoyer"

#: Fields a template may use -> what they contain (French: shown when a template names another field).
LETTER_FIELDS = {
    "autorite": "l'administration qui décide (appel, [authority] name)",
    "service": "le service ([authority] service)",
    "adresse": "l'adresse de l'administration ([authority] address)",
    "ville": "le lieu de signature ([authority] city)",
    "lieu_et_date": "« Paris, le 3 décembre 2026 »",
    "date": "la date de la lettre, « 3 décembre 2026 »",
    "signataire_qualite": "la qualité du signataire ([authority] signatory_title)",
    "signataire_nom": "le nom du signataire ([authority] signatory_name)",
    "appel": "le nom de l'appel ([call] name)",
    "appel_texte": "« l'appel à projets … », pour une phrase",
    "reference": "la référence de la lettre (année de l'appel et dossier)",
    "objet": "l'objet de la lettre",
    "dossier": "l'identifiant du dossier",
    "intitule": "l'intitulé du projet",
    "porteur": "l'organisation qui porte le projet",
    "decision": "la décision en un mot (retenu, liste complémentaire, non retenu, non recevable…)",
    "decision_phrase": "la décision en une phrase",
    "finance": "vrai si le dossier est financé (pour {% if finance %})",
    "montant": "le montant attribué, « 98 000 € » (vide si non financé)",
    "montant_demande": "le montant demandé, « 98 000 € »",
    "note": "la note globale sur 100 (vide si non notée)",
    "rang": "le rang dans le classement par note (vide si non classé)",
    "position": "la position du dossier par rapport à la ligne de financement, en clair",
    "motifs_titre": "« Motifs de la décision : » ou « Détail de la décision : »",
    "motifs": "la liste des motifs et explications (pour {%p for m in motifs %})",
    "motifs_texte": "les mêmes motifs en un seul texte",
    "suite": "la phrase qui suit la décision",
    "voies_recours": "les voies et délais de recours",
    "pied": "la source de la décision (empreinte)",
    "projet": "« PROJET — décision provisoire, ne pas envoyer » pour une décision provisoire, vide sinon",
}

_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre",
           "décembre")


class LetterTemplateError(ValueError):
    """A letter template that cannot be used (not a DOCX, unknown field, broken ``{{ }}``); French message."""


def date_fr(day: dt.date) -> str:
    """A date as a French letter writes it: ``1er décembre 2026``, ``3 décembre 2026``."""
    return f"{'1er' if day.day == 1 else day.day} {_MONTHS[day.month - 1]} {day.year}"


def _ordinal(n: int) -> str:
    return "1er" if n == 1 else f"{n}e"


def _ordinal_f(n: int) -> str:
    """Ordinal of a feminine noun (« 1re position », « 3e position »)."""
    return "1re" if n == 1 else f"{n}e"


# --------------------------------------------------------------------------- the published decision

@dataclass(frozen=True)
class PublishedDecision:
    """A decision as published: its manifest, its decision table (``allocation.csv``) and its call rules.

    Attributes
    ----------
    manifest_path : Path
    manifest : dict
    table : pandas.DataFrame
        :func:`ditp_model.rules.manifest.decision_table` read back (dtypes restored).
    rules : CallRules
        The call rules recorded in the manifest (``call_rules``).
    """

    manifest_path: Path
    manifest: dict
    table: pd.DataFrame
    rules: CallRules


#: Columns of the decision table that may be blank in every row of a small decision: their type, for the reader.
_TEXT = ("title", "lead_org", "lead_org_type", "region", "maturity", "priority_reform", "reasons", "not_fundable",
         "keeps_out", "reason")
_FLOAT = ("score", "rank", "entry_gap", "exit_margin", "score_needed")


def _read_table_csv(path: Path) -> pd.DataFrame:
    """``allocation.csv`` read back with the tool's own reader (:func:`ditp_model.inputs.tables.read_output_csv`:
    the French-Excel dialect or the older one, formula neutralisation undone)."""
    from ditp_model.inputs.tables import read_output_csv

    return read_output_csv(path, dtype={**{c: str for c in _TEXT}, **{c: float for c in _FLOAT}})


def read_published_decision(manifest_path: str | Path) -> PublishedDecision:
    """Read ``manifest.json`` and the ``allocation.csv`` beside it, and check that they belong together.

    Raises
    ------
    InputError
        The manifest or the table is missing or unreadable, or the table's decision (who is funded,
        with how much) differs from the manifest's ``decision_sha256`` (French, naming the file).
    """
    from ditp_model.rules.manifest import decision_hash

    mp = Path(manifest_path)
    if not mp.is_file():
        raise InputError([Problem(str(mp), None, None, None, "manifeste introuvable : donner le manifest.json d'une décision "
                                                             "publiée (ditp-model allocate ou report)")])
    try:
        manifest = json.loads(mp.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError([Problem(str(mp), None, None, None, f"manifeste illisible (JSON attendu) : {exc}")]) from None
    if not isinstance(manifest, dict) or "call_rules" not in manifest or "decision_sha256" not in manifest:
        raise InputError([Problem(str(mp), None, None, None, "ce fichier n'est pas le manifeste d'une décision (clés "
                                                             "call_rules et decision_sha256 absentes)")])
    csv = mp.parent / "allocation.csv"
    if not csv.is_file():
        raise InputError([Problem(str(csv), None, None, None, "table de décision introuvable à côté du manifeste")])
    try:
        table = _read_table_csv(csv)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise InputError([Problem(str(csv), None, None, None, f"table de décision illisible : {exc}")]) from None
    missing = [c for c in ("application_id", "title", "lead_org", "eligible", "funded", "award_eur", "score", "rank")
               if c not in table]
    if missing:
        raise InputError([Problem(str(csv), None, ", ".join(missing), None, "colonnes absentes de la table de décision")])
    if decision_hash(table) != manifest["decision_sha256"]:
        raise InputError([Problem(str(csv), None, None, None,
                                  "la décision de ce fichier (dossiers financés et montants) ne correspond pas à celle du "
                                  f"manifeste {mp.name} (empreinte {manifest['decision_sha256'][:12]}) : fichier modifié ou "
                                  "d'une autre décision — aucune lettre écrite")])
    try:  # JSON mode: the dates were recorded as ISO text
        rules = CallRules.model_validate_json(json.dumps(manifest["call_rules"]))
    except ValueError as exc:
        raise InputError([Problem(str(mp), None, "call_rules", None, f"règles de l'appel du manifeste illisibles : {exc}")]) from None
    return PublishedDecision(mp, manifest, table, rules)


# --------------------------------------------------------------------------- what each letter says

_MD_ESCAPE = re.compile(r"\\(.)")


def _plain(md_line: str) -> str:
    """A line of a Markdown fragment as plain text (bold marks and backslash escapes removed)."""
    return _MD_ESCAPE.sub(r"\1", md_line.replace("**", "")).strip()


def _letter_lines(fragment: str, appeal: str) -> tuple[str, list[str], str]:
    """Split a Markdown fragment into its decision line, its explanation lines and its ranking line (plain text).

    Left out: the title, the applicant, the score table, the appeal route (`appeal`, a field of
    its own) and the italic footer.
    """
    decision, explanations, ranking = "", [], ""
    for line in fragment.splitlines():
        s = line.strip()
        p = _plain(s)
        if not s or s.startswith(("###", "|", "Porteur :")) or p == appeal or (s.startswith("_") and s.endswith("_")):
            continue
        if p.startswith("Décision :") and not decision:
            decision = p
        elif p.startswith("Classement par note :"):
            ranking = p
        else:
            explanations.append(p)
    return decision, explanations, ranking


def _feedback_kwargs(manifest: dict, table: pd.DataFrame) -> dict:
    """The arguments of :func:`ditp_model.outputs.feedback.feedback_table` recorded in a manifest."""
    rule_rec = manifest.get("decision_rule") or {}
    params = manifest.get("parameters") or {}
    rule = rule_rec.get("name") or params.get("rule") or "merit_order"
    report = manifest.get("report") or {}
    gaps = bool(report.get("gaps", True)) and ("entry_gap" in table and bool(table["entry_gap"].notna().any())
                                                or rule in ("merit_order", "ranking"))
    return {"rule": rule, "gaps_computed": gaps, "lock_out": frozenset(params.get("lock_out") or ()),
            "lock_in": frozenset(params.get("lock_in") or ()), "lock_reasons": dict(params.get("lock_reasons") or {}),
            "envelope_eur": params.get("available_eur"),
            "tie_band_points": float(rule_rec.get("tie_band_points") or 0.0) if rule == "merit_order" else 0.0}


def _text_of(row, name: str) -> str:
    v = getattr(row, name, "")
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def letter_contexts(decision: PublishedDecision, *, day: dt.date | None = None) -> list[dict]:
    """One docxtpl context per application (table order): the fields of :data:`LETTER_FIELDS`.

    The decision, the reasons and the appeal route are those of the Markdown fragments
    (:func:`ditp_model.outputs.feedback.feedback_table`), as plain text; the letterhead is the
    manifest's ``call_rules.authority``.
    """
    from ditp_model.outputs.feedback import feedback_table, position_fr

    m, t, rules = decision.manifest, decision.table, decision.rules
    kwargs = _feedback_kwargs(m, t)
    fb = feedback_table(t, rules, **kwargs)
    auth = rules.authority
    day = day or dt.date.today()
    when = date_fr(day)
    appeal = rules.appeal_route_fr()
    funded = t[t["funded"]]
    n_ranked = int(t["rank"].notna().sum())
    worst = int(funded["rank"].max()) if len(funded) and funded["rank"].notna().any() else None
    funding_line = None
    if kwargs["rule"] in ("merit_order", "ranking") and "reason" in t:
        from ditp_model.rules.funding_line import imposed_from_manifest, merit_funding_line

        funding_line = merit_funding_line(t, imposed_from_manifest(m))
        worst = funding_line.last_merit_rank
    total = int(t["award_eur"].sum())
    name = rules.call.name
    appel_texte = ("l'a" + name[1:]) if name[:1] in "Aa" and name[1:].lower().startswith("ppel") else f"l'appel « {name} »"
    source = m["decision_sha256"][:12]
    generated = m.get("generated_at")
    pied = (f"Référence de la décision : {source}"
            + (f" (rapport de sélection du {dt.datetime.fromisoformat(generated):%d/%m/%Y})" if generated else "") + ".")
    projet = DRAFT_MARK if m.get("provisional") else ""
    lock_in, reasons = kwargs["lock_in"], kwargs["lock_reasons"]
    out = []
    for row, (kind, fragment) in zip(t.itertuples(index=False), zip(fb["decision"], fb["lettre"])):
        decision_line, explanations, _ranking = _letter_lines(fragment, appeal)
        is_funded = kind == "retenu"
        award = int(row.award_eur)
        change = _text_of(row, "change")
        if is_funded and change == "reduced":
            phrase = (f"Je vous informe que le montant de la subvention attribuée à votre projet est réduit : il est désormais "
                      f"de {format_eur(award)} ({_text_of(row, 'change_note') or 'montant réduit'}).")
            suite = "Le secrétariat du comité reviendra vers vous pour les modalités de la convention et du versement."
        elif is_funded and change == "from_reserve":
            phrase = (f"J'ai le plaisir de vous informer que votre projet, inscrit sur la liste complémentaire, est retenu à la "
                      f"suite d'un désistement ou d'une réduction : une subvention de {format_eur(award)} lui est attribuée.")
            suite = "Le secrétariat du comité reviendra vers vous pour les modalités de la convention et du versement."
        elif is_funded:
            phrase = (f"J'ai le plaisir de vous informer que votre projet est retenu : une subvention de {format_eur(award)} "
                      "lui est attribuée.")
            suite = "Le secrétariat du comité reviendra vers vous pour les modalités de la convention et du versement."
        elif kind == "désistement":
            phrase = ("Je prends acte de votre désistement : la subvention qui avait été attribuée à votre projet ne lui est "
                      "plus attribuée.")
            suite = "Je vous remercie de l'intérêt que vous avez porté à cet appel à projets."
        elif kind == "non recevable":
            phrase = "J'ai le regret de vous informer que votre candidature n'est pas recevable."
            suite = "Je vous remercie de l'intérêt que vous avez porté à cet appel à projets."
        elif getattr(row, "list", "") == "reserve" and not pd.isna(getattr(row, "reserve_rank", float("nan"))):
            kind = "liste complémentaire"
            phrase = ("J'ai le regret de vous informer que votre projet n'a pas été retenu sur la liste principale ; il est "
                      f"inscrit en {_ordinal_f(int(row.reserve_rank))} position sur la liste complémentaire.")
            # the reserve paragraph (feedback.reserve_sentence_fr) already says « Vous en serez informé par écrit. »
            suite = "Je vous remercie de l'intérêt que vous avez porté à cet appel à projets."
        else:
            phrase = "J'ai le regret de vous informer que votre projet n'a pas été retenu."
            suite = "Je vous remercie de l'intérêt que vous avez porté à cet appel à projets."
        # the bare « Décision : non retenu. » says nothing the decision sentence does not
        motifs = [x for x in [decision_line, *explanations] if x and x != "Décision : non retenu."]
        aid = str(row.application_id)
        out.append({
            "autorite": auth.name if auth else "", "service": auth.service if auth else "",
            "adresse": auth.address if auth else "", "ville": auth.city if auth else "",
            "lieu_et_date": f"{auth.city}, le {when}" if auth and auth.city else f"Le {when}", "date": when,
            "signataire_qualite": auth.signatory_title if auth else "", "signataire_nom": auth.signatory_name if auth else "",
            "appel": name, "appel_texte": appel_texte,
            "reference": f"AAP {rules.call.year} / dossier {aid}",
            "objet": f"décision sur votre candidature (dossier n° {aid})",
            "dossier": aid, "intitule": " ".join(str(row.title).split()), "porteur": " ".join(str(row.lead_org).split()),
            "decision": kind, "decision_phrase": phrase, "finance": is_funded,
            "montant": format_eur(award) if is_funded else "",
            "montant_demande": format_eur(int(row.requested_eur)) if int(row.requested_eur) >= 0 else "",
            "note": "" if pd.isna(row.score) else f"{format_points(row.score)} / 100",
            "rang": "" if pd.isna(row.rank) else _ordinal(int(row.rank)),
            "position": position_fr(row, kind, n_ranked, len(funded), worst, total, kwargs["envelope_eur"],
                                  reasons.get(aid, "") if is_funded and aid in lock_in else None, funding_line),
            "motifs_titre": "Détail de la décision :" if is_funded else "Motifs de la décision :",
            "motifs": motifs, "motifs_texte": " ".join(motifs),
            "suite": suite, "voies_recours": appeal, "pied": pied, "projet": projet,
        })
    return out


# --------------------------------------------------------------------------- the template

def _template_problem(path: Path, what: str) -> LetterTemplateError:
    return LetterTemplateError(f"modèle de lettre {path} : {what}")


def _paragraph_texts(path: Path) -> list[str]:
    """The text of every paragraph of a DOCX: body, table cells, page headers and footers (python-docx)."""
    from docx import Document

    doc = Document(str(path))
    parts = [doc, *(c for t in doc.tables for r in t.rows for c in r.cells)]
    for sec in doc.sections:
        parts += [sec.header, sec.footer]
    return [p.text for part in parts for p in part.paragraphs]


def _syntax_problem_fr(path: Path) -> str:
    """A broken ``{{ }}`` / ``{% %}`` in French, naming the paragraph by its first words."""
    def first_words(text: str) -> str:
        words = text.split()
        return " ".join(words[:8]) + (" …" if len(words) > 8 else "")

    for text in _paragraph_texts(path):
        for opening, closing in (("{{", "}}"), ("{%", "%}")):
            if text.count(opening) != text.count(closing):
                missing = f"« {closing} » fermant" if text.count(opening) > text.count(closing) else f"« {opening} » ouvrant"
                return (f"champ mal écrit dans le paragraphe qui commence par « {first_words(text)} » : il manque "
                        f"{missing} ; un champ s'écrit {{{{ nom_du_champ }}}}")
    return ("champ mal écrit (accolades ou instruction {% … %} incomplète) ; un champ s'écrit {{ nom_du_champ }}, "
            "une condition {%p if champ %} … {%p endif %}")


def check_template(path: str | Path) -> set[str]:
    """Open a template and check its fields; returns the fields it uses.

    Raises
    ------
    LetterTemplateError
        Missing file, not a Word document (.docx), a broken ``{{ }}`` / ``{% %}``, or a field that is
        not in :data:`LETTER_FIELDS` (French, naming the file, the field and the known fields).
    """
    import zipfile

    from docxtpl import DocxTemplate
    from jinja2 import TemplateSyntaxError

    p = Path(path)
    if not p.is_file():
        raise _template_problem(p, "fichier introuvable")
    if not zipfile.is_zipfile(p):
        raise _template_problem(p, "ce n'est pas un document Word .docx (un .docx est une archive ZIP ; un .doc, un .odt "
                                   "ou un PDF ne conviennent pas : l'enregistrer au format « Document Word (*.docx) »)")
    try:
        used = DocxTemplate(str(p)).get_undeclared_template_variables()
    except TemplateSyntaxError:
        raise _template_problem(p, _syntax_problem_fr(p)) from None
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise _template_problem(p, f"ce n'est pas un document Word .docx lisible ({exc})") from None
    unknown = sorted(set(used) - set(LETTER_FIELDS))
    if unknown:
        names = ", ".join(f"« {u} »" for u in unknown)
        raise _template_problem(p, f"champ(s) inconnu(s) {names} ; champs connus : {', '.join(LETTER_FIELDS)}")
    return set(used)


def render_docx(template: str | Path, context: dict) -> bytes:
    """The template filled with `context` (docxtpl), as DOCX bytes.  Text is XML-escaped (autoescape)."""
    from docxtpl import DocxTemplate

    from jinja2 import TemplateError

    doc = DocxTemplate(str(template))
    try:
        doc.render(context, autoescape=True)
    except TemplateError as exc:
        raise _template_problem(Path(template), f"champ mal écrit ({exc}) : un champ s'écrit {{{{ nom_du_champ }}}}") from None
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- PDF

def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def pdf_route(requested: str = "auto") -> str:
    """``libreoffice`` or ``html`` (mammoth + WeasyPrint): `requested`, or LibreOffice when it is on the PATH.

    Raises
    ------
    ValueError
        ``libreoffice`` requested but ``soffice`` is not on the PATH; an unknown route (French).
    """
    if requested == "auto":
        return "libreoffice" if _soffice() else "html"
    if requested == "libreoffice" and not _soffice():
        raise ValueError("--pdf libreoffice : LibreOffice (soffice) introuvable dans le PATH ; --pdf html utilise mammoth "
                         "et WeasyPrint")
    if requested not in ("libreoffice", "html"):
        raise ValueError(f"--pdf {requested} : « auto », « libreoffice » ou « html » attendu")
    return requested


def soffice_argv(soffice: str, docx_files: list[Path], out_dir: Path, profile_dir: Path) -> list[str]:
    """The LibreOffice command line that converts `docx_files` to PDF into `out_dir` (no shell).

    A private user profile (``-env:UserInstallation``, a ``file:`` URI) lets the conversion run
    while the secretariat has LibreOffice open.
    """
    return [soffice, f"-env:UserInstallation={Path(profile_dir).resolve().as_uri()}", "--headless", "--norestore",
            "--convert-to", "pdf", "--outdir", str(out_dir), *[str(f) for f in docx_files]]


#: Paragraph styles of the template -> HTML (mammoth style map); the print CSS below lays them out.
STYLE_MAP = "\n".join(f"p[style-name='Lettre - {name}'] => p.{cls}:fresh" for name, cls in (
    ("Marianne", "marianne"), ("Devise", "devise"), ("En-tête", "entete"), ("Date", "date"), ("Référence", "ref"),
    ("Destinataire", "dest"), ("Objet", "objet"), ("Corps", "corps"), ("Décision", "decision"), ("Motif", "motif"),
    ("Recours", "recours"), ("Formule", "formule"), ("Signature", "signature"), ("Pied", "pied"), ("Projet", "projet")))

#: Print CSS of the HTML route (A4); ``{footer}`` is the page footer text.
LETTER_CSS = """
@page { size: A4; margin: 14mm 20mm 18mm 20mm;
        @bottom-center { content: "{footer}" "   —   page " counter(page) " / " counter(pages);
                         font: 7.5pt Arial, "Liberation Sans", "DejaVu Sans", sans-serif; color: #555; } }
body { font: 10pt/1.3 Arial, "Liberation Sans", "DejaVu Sans", sans-serif; color: #000; }
p { margin: 0 0 5pt 0; text-align: justify; }
p.marianne { font-weight: bold; font-size: 11pt; letter-spacing: .04em; margin: 0; text-align: left; }
p.devise { font-style: italic; font-size: 9pt; margin: 0 0 8pt 0; text-align: left; }
p.entete { margin: 0; font-size: 10pt; text-align: left; }
p.date { text-align: right; margin: 10pt 0 8pt 0; }
p.ref { margin: 0; font-size: 9.5pt; text-align: left; }
p.dest { margin: 0 0 0 9cm; text-align: left; }
p.objet { margin: 10pt 0 10pt 0; text-align: left; }
p.decision { font-weight: bold; }
p.motif { margin: 0 0 3pt 6mm; }
p.recours { font-size: 8.5pt; color: #444; margin-top: 8pt; }
table { width: 100%; border-collapse: collapse; break-inside: avoid; }
td { padding: 0; vertical-align: top; }
p.formule { margin-bottom: 8pt; break-after: avoid; }
p.signature { margin: 0 0 0 9cm; text-align: left; break-inside: avoid; break-before: avoid; min-height: 1em; }
p.pied { font-size: 7.5pt; color: #555; text-align: center; margin-top: 10pt; }
p.projet { font-weight: bold; font-size: 12pt; color: #c00000; text-align: center; margin: 0 0 6pt 0; }
"""


def _css_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


#: Page header of a draft letter (HTML route: mammoth does not carry the DOCX header over).
DRAFT_CSS = """
@page { @top-center { content: "{mark}"; font: bold 11pt Arial, "Liberation Sans", "DejaVu Sans", sans-serif;
                      color: #c00000; } }
"""


def _html_page(docx: bytes, footer: str, draft: str = "") -> tuple[str, list[str]]:
    """The HTML page of a filled DOCX (mammoth, style map :data:`STYLE_MAP`, print CSS :data:`LETTER_CSS`).

    `draft`, when not empty, is printed at the top of every page (:data:`DRAFT_MARK`).
    """
    import html

    import mammoth

    result = mammoth.convert_to_html(io.BytesIO(docx), style_map=STYLE_MAP)
    css = LETTER_CSS.replace("{footer}", _css_string(footer))
    if draft:
        css += DRAFT_CSS.replace("{mark}", _css_string(draft))
    page = (f"<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{html.escape(footer)}</title>"
            f"<style>{css}</style></head><body>{result.value}</body></html>")
    return page, [str(m.message) for m in result.messages]


def docx_to_pdf_html(docx_files: list[bytes], footers: list[str], draft: str = "") -> tuple[list[bytes], bytes, list[str]]:
    """Filled DOCX files to A4 PDFs through HTML (mammoth, then WeasyPrint): one PDF each, and all of them merged.

    Each letter is laid out on its own (its pages numbered « page X / Y » of that letter, `footers`
    giving the text before), then all pages are written once as the merged PDF — the fonts are
    embedded once — and each letter's PDF is cut from it (pypdf).  Images, headers and footers of
    the DOCX are not carried over (mammoth converts the body).

    Returns
    -------
    (list of bytes, bytes, list of str)
        One PDF per DOCX, the merged PDF, mammoth's messages.
    """
    from pypdf import PdfReader, PdfWriter
    from weasyprint import HTML

    documents, messages = [], []
    for data, footer in zip(docx_files, footers):
        page, msgs = _html_page(data, footer, draft)
        documents.append(HTML(string=page).render())
        messages += msgs
    merged = documents[0].copy([p for d in documents for p in d.pages]).write_pdf()
    reader = PdfReader(io.BytesIO(merged))
    singles, start = [], 0
    for d in documents:
        writer = PdfWriter()
        for i in range(start, start + len(d.pages)):
            writer.add_page(reader.pages[i])
        start += len(d.pages)
        buf = io.BytesIO()
        writer.write(buf)
        singles.append(buf.getvalue())
    return singles, merged, messages


def merge_pdfs(pdfs: list[bytes]) -> bytes:
    """The PDFs one after another in one document (pypdf)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for data in pdfs:
        writer.append(PdfReader(io.BytesIO(data)))
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@dataclass(frozen=True)
class LettersResult:
    """What :func:`write_letters` wrote.

    Attributes
    ----------
    out_dir : Path
    route : str
        ``libreoffice`` or ``html``.
    template : Path
    count : int
        Letters (one DOCX and one PDF each).
    pages : int
        Pages of the merged PDF.
    messages : tuple of str
        Conversion warnings (mammoth).
    merged_name : str
        The merged PDF's name: ``lettres_a_signer.pdf``, or ``projets_de_lettres.pdf`` for drafts.
    provisional : bool
        Draft letters of a provisional decision (marked :data:`DRAFT_MARK` on every page).
    archived : Path or None
        Where the letters of another decision that were in the folder were moved (never deleted).
    """

    out_dir: Path
    route: str
    template: Path
    count: int
    pages: int
    messages: tuple = ()
    merged_name: str = MERGED_NAME
    provisional: bool = False
    archived: Path | None = None


def _umask() -> int:
    from ditp_model.inputs.io import _UMASK

    return _UMASK


def _file_names(ids) -> list[str]:
    from ditp_model.outputs.feedback import safe_filename

    names, seen = [], {}
    for aid in ids:
        name = safe_filename(aid)
        k = seen.get(name.lower(), 0)
        seen[name.lower()] = k + 1
        names.append(f"{name}_{k + 1}" if k else name)
    return names


def write_letters(manifest_path: str | Path, out_dir: str | Path | None = None, *, template: str | Path | None = None,
                  day: dt.date | None = None, route: str = "auto", letterhead_call: str | Path | None = None) -> LettersResult:
    """Write ``<id>.docx`` and ``<id>.pdf`` per application, ``lettres_a_signer.pdf`` and ``lettres.json`` into `out_dir`.

    Parameters
    ----------
    manifest_path : path
        ``manifest.json`` of a published decision (``allocation.csv`` beside it).
    out_dir : path, optional
        Default: the folder ``lettres`` beside the manifest.  Replaced as a whole (see
        :func:`replace_folder`); refused if it holds anything else than letters.
    template : path, optional
        A ``.docx`` template (default :data:`DEFAULT_TEMPLATE`).
    day : date, optional
        Date of the letters (default: today).
    route : str
        ``auto``, ``libreoffice`` or ``html`` (:func:`pdf_route`).
    letterhead_call : path, optional
        A call file whose ``[authority]`` table replaces the one recorded in the manifest (letterhead,
        signatory, appeal route: e.g. the signatory's name filled in after the decision).  Nothing
        else of that file is used.

    Raises
    ------
    InputError
        Unreadable decision (:func:`read_published_decision`).
    LetterTemplateError
        Unusable template (:func:`check_template`).
    ValueError
        Output folder refused, LibreOffice requested and absent.
    RuntimeError
        LibreOffice failed to convert a letter (French, naming it); another run holds the decision's
        folder (:class:`ditp_model.publication.FolderLockedError`).

    Notes
    -----
    For a provisional decision (manifest ``provisional``) the letters are drafts: the template
    field ``projet`` (page header and first line of the default template) reads
    :data:`DRAFT_MARK`, the HTML route prints it at the top of every page, the merged PDF is
    ``projets_de_lettres.pdf`` and ``lettres.json`` records ``provisional: true``.  ``lettres.json``
    holds the SHA-256 of every file written (``sha256``), checked by ``ditp-model verify``
    (:func:`ditp_model.outputs.letters_check.letters_folder_differences`).
    """
    mp = Path(manifest_path)
    decision = read_published_decision(mp)
    if letterhead_call is not None:
        from dataclasses import replace

        from ditp_model.inputs.call import load_call_rules

        authority = load_call_rules(letterhead_call).authority
        decision = replace(decision, rules=decision.rules.model_copy(update={"authority": authority}))
    from ditp_model.publication import folder_lock

    tpl = Path(template) if template else DEFAULT_TEMPLATE
    used = check_template(tpl)
    out = Path(out_dir) if out_dir else mp.parent / "lettres"
    _check_out_dir(out, mp)
    chosen = pdf_route(route)
    contexts = letter_contexts(decision, day=day)
    draft = DRAFT_MARK if decision.manifest.get("provisional") else ""
    if draft and "projet" not in used:  # a secretariat template without the field: the mark goes into the subject
        for c in contexts:
            c["objet"] = f"{draft} — {c['objet']}"
    merged_name = DRAFT_MERGED_NAME if draft else MERGED_NAME
    names = _file_names(c["dossier"] for c in contexts)
    out.parent.mkdir(parents=True, exist_ok=True)
    # the decision's folder is locked while the letters are written: a concurrent verify or allocate waits or is refused
    with folder_lock(mp.parent, command="ditp-model lettres"):
        return _write_letters_locked(mp, decision, out, tpl, contexts, names, chosen, day, draft, merged_name)


def _write_letters_locked(mp: Path, decision: PublishedDecision, out: Path, tpl: Path, contexts: list, names: list,
                          chosen: str, day, draft: str, merged_name: str) -> LettersResult:
    """The body of :func:`write_letters`, under the decision folder's lock."""
    from pypdf import PdfReader

    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.nouveau-", dir=out.parent))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700: give the folder the usual permissions
    messages: list[str] = []
    try:
        docx_paths = []
        for name, ctx in zip(names, contexts):
            p = staging / f"{name}.docx"
            p.write_bytes(render_docx(tpl, ctx))
            docx_paths.append(p)
        pdfs, merged = [], None
        if chosen == "libreoffice":
            profile = Path(tempfile.mkdtemp(prefix="ditp-lo-profil-"))
            try:
                done = subprocess.run(soffice_argv(_soffice(), docx_paths, staging, profile), capture_output=True, text=True,
                                      timeout=60 + 20 * len(docx_paths))
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"LibreOffice n'a pas fini de convertir les {len(docx_paths)} lettres en "
                                   f"{60 + 20 * len(docx_paths)} s ; --pdf html pour passer par WeasyPrint") from None
            finally:
                shutil.rmtree(profile, ignore_errors=True)
            for name in names:
                pdf = staging / f"{name}.pdf"
                if not pdf.is_file():
                    raise RuntimeError(f"LibreOffice n'a pas converti la lettre {name}.docx en PDF (code {done.returncode}) : "
                                       f"{done.stderr.strip()[-300:]}")
                pdfs.append(pdf.read_bytes())
            merged = merge_pdfs(pdfs)
        else:
            footers = [" — ".join(x for x in (c["autorite"], c["adresse"]) if x) for c in contexts]
            pdfs, merged, msgs = docx_to_pdf_html([p.read_bytes() for p in docx_paths], footers, draft)
            messages += list(dict.fromkeys(msgs))
            for name, pdf in zip(names, pdfs):
                (staging / f"{name}.pdf").write_bytes(pdf)
        (staging / merged_name).write_bytes(merged)
        pages = len(PdfReader(io.BytesIO(merged)).pages)
        digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(staging.iterdir()) if p.is_file()}
        index = {
            # relative to the letters folder (trial 1, S10): a decision folder moved or archived whole still verifies
            "manifest": _relative(mp.resolve(), out.resolve()), "decision_sha256": decision.manifest["decision_sha256"],
            "template": str(tpl.resolve()), "template_sha256": hashlib.sha256(tpl.read_bytes()).hexdigest(),
            "pdf_route": chosen, "date": (day or dt.date.today()).isoformat(), "letters": len(contexts),
            "merged_pdf": merged_name, "merged_pages": pages, "provisional": bool(draft),
            "files": [{"application_id": c["dossier"], "decision": c["decision"], "docx": f"{n}.docx", "pdf": f"{n}.pdf"}
                      for c, n in zip(contexts, names)],
            "sha256": digest,
        }
        (staging / MARKER).write_text(json.dumps(index, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        archived = _archive_for(out, mp, decision.manifest["decision_sha256"])
        replace_folder(staging, out, archived)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return LettersResult(out, chosen, tpl, len(contexts), pages, tuple(messages), merged_name, bool(draft), archived)

