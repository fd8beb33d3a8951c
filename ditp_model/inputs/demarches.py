"""Reading applications from a démarches-simplifiées export ("Télécharger les dossiers").

The platform's standard export (XLSX, ODS or CSV) is described precisely in
``shared/formats/demarches-simplifiees-export.md`` and, convention by
convention with its source file, in ``docs/format_demarches_simplifiees.md``;
this module follows them:

* sheets ``Dossiers``, ``Etablissements``, ``Avis`` and one sheet per repeatable
  block (``(4811) Partenaires``) in XLSX and ODS; the CSV holds the Dossiers
  table only (no repeatable block, no Avis);
* columns are found by **header text, never by position**: the procedure's own
  field labels are given by a mapping file (TOML, see
  ``data/mapping_ds_2021.toml``), the fixed columns by their French headers,
  older variants included (``Archivé`` before ``À archiver``); a label used by
  two fields is told apart by its occurrence;
* ``ID`` and ``Dossier ID`` are read as text; ``État du dossier`` decides which
  dossiers are candidates (``En construction``, ``En instruction``, and
  ``Accepté`` on request), the others are reported, never silently dropped;
* the export's vintage (2021, 2023, 2024, current, template) is told from the
  headers that changed (:func:`detect_vintage`) and reported;
* dossier timestamps are Excel date-times in Paris time with microseconds
  (XLSX) or text with an offset and no fraction (``2021-10-15 23:59:00
  +0200``, ODS and CSV), all read as naive Paris wall-clock time truncated to
  the second, so that every format gives the same second; booleans
  ``true``/``false``, ``on``/``off``, ``Oui``/``Non`` (an ODS writes false as
  an empty cell); multiple choices joined with ``", "`` (split against the known options,
  longest match first); régions, communes and départements spread over
  several columns (``<libellé> (Code)``);
* **blank numbers are exported as 0 since April 2024** (empty cells before):
  in a current export a requested amount of 0 is a missing amount (an error,
  the amount being required), a score of 0 read from a number field is a
  missing score (reported); expense lines at 0 are kept as 0 € (their sum must
  equal the request, which reveals a forgotten line); in an older export a 0
  is a real 0 and a blank expense line is read as 0 € (reported);
* repeatable-block sheets are found by their stable id, or by the name the
  platform builds from the label (:func:`block_sheet_name`); a CSV (no block,
  no Avis) is refused for a mapping that needs them unless the caller opts out
  (``without_blocks``), and then the report says what is missing;
* text fields get the platform's current sanitising (emoji → space,
  :func:`sanitize_export_text`), are stripped (ODS strips them anyway) and
  their runs of spaces are reduced to one (:func:`canonical_text`);
* personal data (emails, names of applicants and contacts, instructors,
  experts) is dropped unless asked for, and even then kept apart from the
  canonical tables (``ImportReport.contacts`` and ``ImportReport.experts``);
  reviewers are pseudonymised (``E01``, ``E02``…).

Every problem of the export is gathered into one
:class:`~ditp_model.inputs.schema.InputError` naming the sheet, the row (as a
spreadsheet shows it: header = line 1), the column, the value and the rule, in
French.

The result is the canonical applications table of
:func:`ditp_model.inputs.io.read_applications` (same columns, same types) and, where
the Avis sheet or private annotations carry scores, the reviews table of
:func:`ditp_model.inputs.io.read_reviews`.

Why this module is longer than 800 lines (about 2 300): it is one external
format, read end to end — the export's three file types (XLSX, ODS, CSV) and
its vintages, the mapping file that names the procedure's fields, the import
into the canonical tables, the reviews (Avis sheet, scored annotations), the
personal data kept apart, and the mapping suggested for a new procedure.  The
platform's conventions (a 0 exported for a blank number since April 2024, a
« Nombre entier » field truncated by Ruby's ``to_i``, template exports) cut
across all of these steps, and each is documented once, here, beside the code
that applies it (``docs/format_demarches_simplifiees.md`` follows this file).
About half of the lines are the checks and their French messages.  The import
itself, :func:`import_export`, is cut into its named steps
(``_mapping_and_rules``, ``_candidate_dossiers``, ``_canonical_columns``,
``_partners``, ``_check_requested_amounts``, ``_avis_reviews``,
``_annotation_reviews``); splitting the reading of the file (``Export``,
``read_export``) from the mapping (``DsMapping``) into two modules is the next
cut if the module grows again.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import hashlib
import io as _io
import json
import math
import os
import re
import threading
import tomllib
import unicodedata
import warnings
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from ditp_model.inputs.call import CallRules, load_call_rules
from ditp_model.inputs.io import category_lookup, cell_text, decode_text, read_input_bytes, sha256_file, parse_amount, parse_date, parse_score
from ditp_model.inputs.schema import APPLICATION_COLUMNS, EXPENSE_COLUMNS, LIST_SEPARATOR, MATURITY_LEVELS, ORG_TYPES, InputError, Problem, date_problem_fr, normalise_header

__all__ = [
    "STATES",
    "CANDIDATE_STATES",
    "PERSONAL_HEADERS",
    "AnnotationReviews",
    "PartnersSpec",
    "Sheet",
    "Export",
    "read_export",
    "FieldRef",
    "DsMapping",
    "load_mapping",
    "suggest_mapping",
    "ExcludedDossier",
    "ImportReport",
    "import_export",
    "parse_ds_bool",
    "parse_ds_timestamp",
    "split_multiple_choice",
    "Vintage",
    "detect_vintage",
    "block_sheet_name",
    "sanitize_export_text",
    "canonical_text",
]

PARIS = ZoneInfo("Europe/Paris")

#: ``État du dossier`` as exported (locale fr) -> internal state.
STATES: dict[str, str] = {
    "En construction": "en_construction",
    "En instruction": "en_instruction",
    "Accepté": "accepte",
    "Refusé": "refuse",
    "Classé sans suite": "sans_suite",
    "Brouillon": "brouillon",  # never exported, accepted so that it is reported rather than refused
}
_STATE_BY_NORM = {normalise_header(k): k for k in STATES}

#: States whose dossiers are candidates by default (``Accepté`` is added on request).
CANDIDATE_STATES: tuple[str, ...] = ("En construction", "En instruction")

# Fixed columns of the Dossiers sheet read by the importer, with their older variants (the ID and
# "Déposé le" columns are mapped like the form's fields, by default to "ID" and "Déposé le").
_FIXED: dict[str, tuple[str, ...]] = {
    "archived": ("À archiver", "Archivé"),
    "state": ("État du dossier",),
}

#: Headers holding personal data, per sheet (normalised in matching).  Free-text
#: fields of the form that hold contacts are declared in the mapping
#: (``[personal_data] labels``).
PERSONAL_HEADERS: dict[str, tuple[str, ...]] = {
    "Dossiers": ("Email", "Civilité", "Nom", "Prénom", "Nom du mandataire", "Prénom du mandataire",
                 "Date de naissance", "Instructeurs", "Entreprise nom", "Entreprise prénom"),
    "Etablissements": ("Entreprise nom", "Entreprise prénom"),
    "Avis": ("Instructeur", "Expert"),
}

_SUFFIX_RE = re.compile(r"\((code|code insee|departement)\)$")
_BLOCK_SHEET_RE = re.compile(r"^\((\d+)\)\s*(.*)$")
_NUMBER_RE = re.compile(r"^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$")
_TS_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2})?)(?:\.\d+)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$")


# =========================================================================== reading the file


@dataclass(frozen=True)
class Sheet:
    """One sheet of an export, cells typed as the file stores them.

    Attributes
    ----------
    name : str
        Sheet name as written (``Dossiers``; ``Dossiers`` for a CSV too).
    header : tuple of str or None
        The first row (stripped); ``None`` for an empty sheet, which the
        platform writes without any header row.
    rows : tuple of (int, tuple)
        Non-blank data rows: the line as a spreadsheet shows it (header = 1)
        and the cells (``str``, ``int``, ``float``, ``bool``,
        ``datetime.datetime``, ``datetime.date`` or ``None``).
    header_row : int
        Line of the header (1 unless blank lines precede it).
    """

    name: str
    header: tuple[str, ...] | None
    rows: tuple[tuple[int, tuple], ...]
    header_row: int = 1

    def positions(self, label: str) -> list[int]:
        """Column positions whose header matches `label` (case, accents and spacing ignored)."""
        key = normalise_header(label)
        return [j for j, h in enumerate(self.header or ()) if normalise_header(h) == key]


@dataclass(frozen=True)
class Export:
    """A démarches-simplifiées export read into typed sheets.

    Attributes
    ----------
    path : str
    format : str
        ``xlsx``, ``ods`` or ``csv``.
    sha256 : str
        SHA-256 of the file's bytes.
    sheets : dict of str to Sheet
        In file order.  A CSV has the single sheet ``Dossiers``.
    encoding, separator : str
        For a CSV: the encoding and separator found.
    """

    path: str
    format: str
    sha256: str
    sheets: dict
    encoding: str = ""
    separator: str = ""

    def sheet(self, name: str) -> Sheet | None:
        """The sheet called `name` (case and accents ignored), or None."""
        key = normalise_header(name)
        for n, s in self.sheets.items():
            if normalise_header(n) == key:
                return s
        return None

    def where(self, sheet: str) -> str:
        """Location prefix of a problem: the file and the sheet."""
        return f"{self.path}, feuille « {sheet} »"

    def block_sheets(self) -> list[tuple[str, str, Sheet]]:
        """Repeatable-block sheets: (stable id, label as in the sheet name, sheet)."""
        out = []
        for n, s in self.sheets.items():
            m = _BLOCK_SHEET_RE.match(n.strip())
            if m:
                out.append((m.group(1), m.group(2).strip(), s))
        return out


def _sheet_from_records(name: str, records: list[tuple[int, list]]) -> Sheet:
    def blank(v) -> bool:
        return v is None or (isinstance(v, str) and not v.strip())

    records = [(line, cells) for line, cells in records if not all(blank(v) for v in cells)]
    if not records:
        return Sheet(name, None, ())
    header_row, header = records[0]
    header = list(header)
    while header and blank(header[-1]):
        header.pop()
    head = tuple("" if v is None else _text(v).strip() for v in header)
    rows = tuple((line, tuple(v.strip() if isinstance(v, str) else v for v in cells)) for line, cells in records[1:])
    return Sheet(name, head, rows, header_row)


def _excel_serial_to_datetime(value, epoch=None, timedelta=False):
    """An Excel serial date-time to the microsecond (openpyxl rounds to the millisecond).

    The platform writes ``Time#to_f`` seconds as a day fraction (caxlsx
    ``DateTimeConverter.time_to_serial``): rounding the float to the nearest
    microsecond undoes its binary error, so that truncating to the second later
    gives the second the platform's ODS and CSV exports print.  A serial that
    rounded to the millisecond could move 23:59:59.9996 to the next day.
    """
    from openpyxl.utils.datetime import WINDOWS_EPOCH, from_excel

    if value is None or timedelta or not 60 <= value:  # durations and times of day: openpyxl's own reading
        return from_excel(value, epoch or WINDOWS_EPOCH, timedelta=timedelta)
    day, fraction = divmod(value, 1)
    micro = round(fraction * 86_400_000_000)
    return (epoch or WINDOWS_EPOCH) + dt.timedelta(days=int(day), microseconds=micro)


_XLSX_LOCK = threading.Lock()


def _read_xlsx(raw: bytes, path: str) -> dict:
    import openpyxl
    from openpyxl.worksheet import _reader as ws_reader

    sheets = {}
    # openpyxl converts date cells while parsing, rounding them to the millisecond: its converter is
    # swapped for the microsecond one above while this workbook is read (under a lock).
    with _XLSX_LOCK:
        original = ws_reader.from_excel
        ws_reader.from_excel = _excel_serial_to_datetime
        try:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # openpyxl's notes on styles or extensions it skips
                    wb = openpyxl.load_workbook(_io.BytesIO(raw), read_only=True, data_only=True)
            except Exception as exc:  # openpyxl raises many types on a broken file
                raise InputError(Problem(path, None, None, None, f"classeur Excel illisible : {exc}", "unreadable")) from None
            try:
                for ws in wb.worksheets:
                    ws.reset_dimensions()  # do not trust the stored dimensions: read every row
                    records = [(i, list(row)) for i, row in enumerate(ws.iter_rows(values_only=True), start=1)]
                    sheets[ws.title] = _sheet_from_records(ws.title, records)
            finally:
                wb.close()
        finally:
            ws_reader.from_excel = original
    return sheets


_ODS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
}


def _q(ns: str, tag: str) -> str:
    return f"{{{_ODS[ns]}}}{tag}"


def _ods_text(el) -> str:
    parts = [el.text or ""]
    for ch in el:
        if ch.tag == _q("text", "s"):
            parts.append(" " * int(ch.get(_q("text", "c"), "1")))
        elif ch.tag == _q("text", "tab"):
            parts.append("\t")
        elif ch.tag == _q("text", "line-break"):
            parts.append("\n")
        elif ch.tag == _q("office", "annotation"):
            pass  # a cell comment is not the cell's value
        else:
            parts.append(_ods_text(ch))
        parts.append(ch.tail or "")
    return "".join(parts)


def _ods_value(cell):
    vt = cell.get(_q("office", "value-type"))
    if vt in ("float", "percentage", "currency"):
        v = float(cell.get(_q("office", "value")))
        return int(v) if v.is_integer() and abs(v) < 2**53 else v
    if vt == "date":
        text = cell.get(_q("office", "date-value"))
        return dt.datetime.fromisoformat(text) if "T" in text else dt.date.fromisoformat(text)
    if vt == "boolean":
        return cell.get(_q("office", "boolean-value")) == "true"
    paragraphs = [_ods_text(p) for p in cell.findall(_q("text", "p"))]
    if vt is None and not paragraphs:
        return None
    if not paragraphs and cell.get(_q("office", "string-value")) is not None:
        return cell.get(_q("office", "string-value"))
    text = "\n".join(paragraphs)
    return text if (text or vt) else None


def _read_ods(raw: bytes, path: str) -> dict:
    try:
        with zipfile.ZipFile(_io.BytesIO(raw)) as z:
            content = z.read("content.xml")
        root = ET.fromstring(content)
    except (zipfile.BadZipFile, KeyError, ET.ParseError) as exc:
        raise InputError(Problem(path, None, None, None, f"classeur ODS illisible : {exc}", "unreadable")) from None
    sheets = {}
    for table in root.iter(_q("table", "table")):
        name = table.get(_q("table", "name"), "")
        records: list[tuple[int, list]] = []
        line = 1
        for row in table.iter(_q("table", "table-row")):
            rep = int(row.get(_q("table", "number-rows-repeated"), "1"))
            runs = []
            for cell in row:
                if cell.tag not in (_q("table", "table-cell"), _q("table", "covered-table-cell")):
                    continue
                runs.append((_ods_value(cell), int(cell.get(_q("table", "number-columns-repeated"), "1"))))
            while runs and runs[-1][0] is None:  # trailing empty cells (often repeated thousands of times)
                runs.pop()
            if not runs:
                line += rep
                continue
            cells = [v for v, n in runs for _ in range(n)]
            for _ in range(rep):
                records.append((line, cells))
                line += 1
        sheets[name] = _sheet_from_records(name, records)
    return sheets


def _read_csv(raw: bytes, path: str) -> tuple[dict, str, str]:
    text, encoding = decode_text(raw, path)
    first = text.split("\n", 1)[0]
    # The platform writes ",", a file re-saved by French Excel ";": keep the one giving the most columns.
    sep = max([",", ";", "\t"], key=lambda s: len(next(csv.reader([first], delimiter=s), [])))
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=sep)
    # Lines as a spreadsheet shows them: one per record, even when a quoted text spans several lines.
    records = [(i, list(r)) for i, r in enumerate(reader, start=1)]
    return {"Dossiers": _sheet_from_records("Dossiers", records)}, encoding, sep


def _sniff_zip(raw: bytes) -> str:
    """``.ods`` or ``.xlsx`` from a zip's entries, not from its first bytes.

    The ODS writer the platform uses (rodf, ``lib/rodf/spreadsheet.rb`` via
    ``document.rb``) writes no ``mimetype`` entry, so the OpenDocument marker is
    not at the start of the file: an ODS is a zip with ``content.xml`` and no
    ``xl/workbook.xml``.
    """
    try:
        with zipfile.ZipFile(_io.BytesIO(raw)) as z:
            names = set(z.namelist())
    except zipfile.BadZipFile:
        return ".xlsx"  # let the XLSX reader say the file is broken
    if "xl/workbook.xml" in names:
        return ".xlsx"
    if "content.xml" in names:
        return ".ods"
    return ".xlsx"


def read_export(path: str | Path) -> Export:
    """Read an export file (``.xlsx``, ``.ods`` or ``.csv``) into typed sheets.

    Raises
    ------
    InputError
        Unreadable file or unknown encoding.
    """
    p = Path(path)
    name = str(path)
    raw, digest = read_input_bytes(path)
    suffix = p.suffix.lower()
    if raw[:2] == b"PK" and suffix not in (".xlsx", ".xlsm", ".ods"):
        suffix = _sniff_zip(raw)
    if suffix in (".xlsx", ".xlsm"):
        return Export(name, "xlsx", digest, _read_xlsx(raw, name))
    if suffix == ".ods":
        return Export(name, "ods", digest, _read_ods(raw, name))
    sheets, encoding, sep = _read_csv(raw, name)
    return Export(name, "csv", digest, sheets, encoding, sep)


# =========================================================================== vintage of the export


@dataclass(frozen=True)
class Vintage:
    """Which layout of the platform's standard export a file follows, told from headers that changed.

    Attributes
    ----------
    code : str
        ``courant`` (« À archiver », since November 2024), ``2024`` (« Archivé »
        and « FranceConnect ? », February to November 2024), ``2023``
        (« Archivé », no « FranceConnect ? », Avis with « Question »), ``2021``
        (Avis with « Question / Introduction »), ``avant 2024`` (« Archivé », no
        « FranceConnect ? », and no Avis header to tell 2021 from 2023: a CSV, or
        no opinion requested), ``modèle`` (export from a saved template).
    label_fr : str
        What the user is told.
    blank_numbers : str
        How an unfilled « Nombre entier » / « Nombre décimal » field is written:
        ``zero`` (as 0, since April 2024: a 0 may be a blank), ``empty`` (an
        empty cell: a 0 is a real 0) or ``uncertain`` (the 2024 layout spans
        the change: a 0 is read as a possible blank, a blank as a blank).
    evidence : tuple of str
        The headers that decided (French).

    Notes
    -----
    Sources (demarches-simplifiees.fr): ``Archivé`` renamed ``À archiver`` in
    commit 2138a01d09 (2024-11-06); ``FranceConnect ?`` added by c2675dfb4d
    (2024-02-19); blank numbers exported as 0 since 39364961ab / 99834e0cf5
    (2024-04-23, ``champ_default_export_value`` of
    ``app/models/types_de_champ/integer_number_type_de_champ.rb``); before,
    ``Champs::IntegerNumberChamp#for_export`` gave ``value&.to_i`` (nil for a
    blank); Avis header ``Question / Introduction`` in ``app/models/avis.rb``
    until ``Introduction`` + ``Question`` (3b3d5182bf, 2023-03-10).
    """

    code: str
    label_fr: str
    blank_numbers: str
    evidence: tuple[str, ...] = ()

    @property
    def zero_may_be_blank(self) -> bool:
        """True when a 0 in a number field may stand for a field left blank."""
        return self.blank_numbers in ("zero", "uncertain")


def detect_vintage(export: Export, *, template: bool = False) -> Vintage:
    """Tell the layout (vintage) of a standard export from the headers that changed over the years.

    Parameters
    ----------
    export : Export
    template : bool
        The export comes from a saved template (« à partir d'un modèle »): its
        blank numbers are empty cells, whatever its date.

    Returns
    -------
    Vintage
    """
    if template:
        return Vintage("modèle", "export « à partir d'un modèle » (un nombre non rempli y est une cellule vide)", "empty",
                       ("premières colonnes autres que « ID », « Email »",))
    dossiers = export.sheet("Dossiers")
    if dossiers is None or dossiers.header is None:
        return Vintage("inconnu", "inconnu (feuille Dossiers vide)", "uncertain")
    if dossiers.positions("À archiver"):
        return Vintage("courant", "format courant (depuis novembre 2024 : « À archiver » ; nombres non remplis exportés à 0)",
                       "zero", ("« À archiver »",))
    if dossiers.positions("FranceConnect ?"):
        return Vintage("2024", "format 2024 (« Archivé » et « FranceConnect ? », février à novembre 2024 ; un 0 peut y être "
                       "un nombre non rempli, exporté à 0 depuis avril 2024)", "uncertain", ("« Archivé »", "« FranceConnect ? »"))
    evidence = ["« Archivé »", "pas de « FranceConnect ? »"]
    avis = export.sheet("Avis")
    if avis is not None and avis.header is not None:
        if avis.positions("Question / Introduction"):
            return Vintage("2021", "format 2021 (feuille Avis « Question / Introduction » ; nombres non remplis laissés vides)", "empty",
                           tuple(evidence + ["Avis : « Question / Introduction »"]))
        if avis.positions("Question"):
            return Vintage("2023", "format 2023 (« Archivé », sans « FranceConnect ? », Avis avec « Question » ; nombres non remplis "
                           "laissés vides)", "empty", tuple(evidence + ["Avis : « Question »"]))
        return Vintage("avant 2024", "format antérieur à février 2024 (Avis sans « Question » ; nombres non remplis laissés vides)",
                       "empty", tuple(evidence + ["Avis : « Introduction » sans « Question »"]))
    where = "export CSV, sans feuille Avis" if export.format == "csv" else "feuille Avis vide"
    return Vintage("avant 2024", f"format antérieur à février 2024 (2021 ou 2023 : {where} pour les distinguer ; nombres non "
                   "remplis laissés vides)", "empty", tuple(evidence))


#: I18n's default transliteration table (gem i18n 1.14.7, ``lib/i18n/backend/transliterator.rb``,
#: ``HashTransliterator::DEFAULT_APPROXIMATIONS``); any other non-ASCII character becomes "?".
_I18N_APPROXIMATIONS = dict(zip(
    "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝàáâãäåçèéêëìíîïðñòóôõöøùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĐđĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİı"
    "ĴĵĶķĸĹĺĻļĽľĿŀŁłŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽž",
    "AAAAAACEEEEIIIIDNOOOOOxOUUUUYaaaaaaceeeeiiiidnoooooouuuuyyAaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi"
    "JjKkkLlLlLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZz"))
_I18N_APPROXIMATIONS.update({"Æ": "AE", "æ": "ae", "Þ": "Th", "þ": "th", "ß": "ss", "ẞ": "SS", "Ĳ": "IJ", "ĳ": "ij", "ŉ": "'n",
                             "Ŋ": "NG", "ŋ": "ng", "Œ": "OE", "œ": "oe"})


def block_sheet_name(stable_id: int | str, label: str) -> str:
    """The name the platform gives the sheet of a repeatable block.

    Reproduces, in order: ``RepetitionTypeDeChamp#libelle_for_export``
    (``"(#{stable_id}) #{libelle}"``, ``[ ] * ?`` deleted, then Rails'
    ``ActiveStorage::Filename#sanitized``: stripped, ``U+202E % $ | : ; /``, tab,
    CR, LF and backslash replaced by ``-``), then ``ProcedureExportService#options_for``
    (``I18n.transliterate``: ``œ`` → ``oe``, ``ß`` → ``ss``, ``é`` → ``e``, any
    other non-ASCII character → ``?``; then ``/ * ? [ ]`` deleted; then cut to 30
    characters).

    Parameters
    ----------
    stable_id : int or str
        The block's stable id (the number in parentheses).
    label : str
        The block's label (« libellé ») as the administrator typed it.

    Returns
    -------
    str

    Examples
    --------
    >>> block_sheet_name(7, "Sites : cœur ; 5 %")
    '(7) Sites - coeur - 5 -'
    >>> block_sheet_name(4811, "Partenaires associés au projet et à son déploiement")
    '(4811) Partenaires associes au'
    """
    name = re.sub(r"[\[\]*?]", "", f"({stable_id}) {label}")
    name = unicodedata.normalize("NFC", name).strip()
    name = re.sub("[\u202e%$|:;/\t\r\n\\\\]", "-", name)
    name = "".join(c if ord(c) < 128 else _I18N_APPROXIMATIONS.get(c, "?") for c in name)
    name = re.sub(r"[/*?\[\]]", "", name)
    return name[:30]


#: Characters the platform replaces by a space in text fields since May 2025 (``Sanitizers::Xml``,
#: ``app/lib/sanitizers/xml.rb``): outside XML 1.0 characters, so every emoji (above U+FFFD).
_INVALID_XML_CHARS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd]")


def sanitize_export_text(text: str) -> str:
    """A text as the current platform exports it: characters outside XML 1.0 (emoji…) become spaces.

    Applied to the text fields of every export, so that an export written before
    the platform began doing it (May 2025) gives the same canonical text.
    """
    return _INVALID_XML_CHARS.sub(" ", text)


#: A run of two or more spaces or tabs (ordinary, no-break, narrow no-break…), line breaks excepted.
_SPACE_RUN = re.compile(r"[^\S\r\n]{2,}")


def canonical_text(value) -> str:
    """A free-text cell as the canonical tables keep it: the platform's sanitising
    (:func:`sanitize_export_text`), leading and trailing spaces removed, and every run of spaces
    inside reduced to one ordinary space.

    Repeated spaces carry no meaning in an export: they are what the platform leaves of an emoji
    (« Accueil 🚀 des usagers » is exported « Accueil   des usagers » since May 2025), or typing
    slips; kept, they reach the decision table, the report and the letters.  Line breaks are kept.
    """
    return _SPACE_RUN.sub(" ", sanitize_export_text(_text(value)).strip())


# =========================================================================== cell conversions


_text = cell_text  # a cell as text (numbers without a trailing ``.0``, dates ISO)


def _id_text(v) -> str:
    return _text(v).strip()


_TRUE = {"true", "on", "oui", "1", "vrai"}
_FALSE = {"false", "off", "non", "0", "faux"}


def parse_ds_bool(v) -> bool | None:
    """A boolean as the platform writes it: ``true``/``false`` (fixed columns, Avis),
    ``on``/``off`` (checkbox), ``Oui``/``Non`` (yes/no field), a real boolean or
    ``1``/``0`` (template exports); blank gives None.

    Raises
    ------
    ValueError
        Any other value (French message).
    """
    if v is None or isinstance(v, bool):
        return v
    t = _text(v).strip().lower()
    if not t:
        return None
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError("booléen attendu (true/false, on/off ou Oui/Non)")


def parse_ds_timestamp(v) -> pd.Timestamp:
    """A dossier timestamp or date as naive Europe/Paris wall-clock time.

    Accepts an XLSX date-time (naive, already Paris time), text with an offset
    (``2021-10-15 23:59:00 +0200``, ``2021-10-15T23:59:00+02:00``), an ISO date
    and the forms of :func:`ditp_model.inputs.io.parse_date` (``15/10/2021 14:30``,
    for a CSV re-saved by a French spreadsheet).

    Raises
    ------
    ValueError
        Not a date (French message).
    """
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            return pd.Timestamp(v.astimezone(PARIS).replace(tzinfo=None)).floor("s")
        # Truncated to the second, as the platform's ODS and CSV exports print it (Time#to_s drops the
        # fraction): 23:59:59.720 stays on the deadline day whatever the format.
        return pd.Timestamp(v).floor("s")
    if isinstance(v, dt.date):
        return pd.Timestamp(dt.datetime(v.year, v.month, v.day))
    if isinstance(v, (int, float)):
        raise ValueError("date attendue (nombre trouvé : cellule au format date perdu ?)")
    t = _text(v).strip()
    m = _TS_RE.match(t)
    if m:
        day, time_, off = m.groups()
        fmt = "%Y-%m-%d %H:%M:%S" if time_.count(":") == 2 else "%Y-%m-%d %H:%M"
        try:
            naive = dt.datetime.strptime(f"{day} {time_}", fmt)
        except ValueError:
            raise ValueError(date_problem_fr(day) or "date et heure invalides") from None
        if off:
            tz = dt.timezone.utc if off in ("Z", "UTC") else dt.datetime.strptime(off.replace(":", ""), "%z").tzinfo
            naive = naive.replace(tzinfo=tz).astimezone(PARIS).replace(tzinfo=None)
        return pd.Timestamp(naive)
    return parse_date(t)


def _decimal(v) -> Decimal:
    """A number cell: native, or text written by the platform (``45000``, ``16.5``) or by hand (``45 000,50 €``)."""
    if isinstance(v, bool):
        raise ValueError("nombre attendu")
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("nombre fini attendu")
        return Decimal(repr(v))
    t = _text(v).strip()
    if _NUMBER_RE.match(t):  # the platform's own form: integer, or Ruby float with a "." (never a thousands separator)
        return Decimal(t)
    raise LookupError(t)  # not the platform's form: let the French parsers try


def _amount(v) -> int:
    try:
        d = _decimal(v)
    except LookupError as exc:
        return parse_amount(str(exc.args[0]))
    if d < 0:
        raise ValueError("montant négatif")
    if d != d.to_integral_value():
        raise ValueError("montant avec des centimes : les montants sont en euros entiers")
    return int(d)


def _score(v) -> float:
    if v is None or (isinstance(v, str) and not v.strip()):
        return math.nan
    try:
        return float(_decimal(v))
    except LookupError as exc:
        return parse_score(str(exc.args[0]))


def split_multiple_choice(text: str, options) -> tuple[list[str], list[str]]:
    """Split a "Choix multiple" cell (options joined with ``", "``) against the known options.

    An option may itself contain ``", "``: consecutive pieces are joined into the
    longest known option first.

    Returns
    -------
    (known, unknown) : lists of str
        The known options as written in `options`, in cell order, and the pieces
        matching no option.
    """
    lookup = {normalise_header(o): o for o in options}
    pieces = [p for p in text.split(", ")]
    known, unknown = [], []
    i = 0
    while i < len(pieces):
        for j in range(len(pieces), i, -1):
            cand = normalise_header(", ".join(pieces[i:j]))
            if cand in lookup:
                known.append(lookup[cand])
                i = j
                break
        else:
            if pieces[i].strip():
                unknown.append(pieces[i].strip())
            i += 1
    return known, unknown


# =========================================================================== the mapping file


@dataclass(frozen=True)
class FieldRef:
    """A column designated by its header text (and its occurrence when the label is used twice).

    Attributes
    ----------
    label : str
        Header as exported (the field's label, verbatim).
    occurrence : int or None
        1 for the first column with that header, 2 for the second…; None when
        the label must be unique.
    key : str
        Key of the mapping file that gave it (for messages).
    """

    label: str
    occurrence: int | None = None
    key: str = ""

    def shown(self) -> str:
        return self.label if self.occurrence is None else f"{self.label} (n° {self.occurrence})"


@dataclass(frozen=True)
class PartnersSpec:
    """Where the partners are: a repeatable block (XLSX/ODS) or numbered fields (any format)."""

    block: str | None = None
    block_id: str | None = None
    name: FieldRef | None = None
    type: FieldRef | None = None
    slots: tuple[tuple[FieldRef, FieldRef], ...] = ()


@dataclass(frozen=True)
class AnnotationReviews:
    """Scores held in number fields (usually private annotations), one review per dossier."""

    reviewer: str
    scores: dict


@dataclass(frozen=True)
class DsMapping:
    """A validated mapping from an export's headers to the canonical schema.

    Build it with :func:`load_mapping`.  See ``data/mapping_ds_2021.toml`` for
    the file layout.
    """

    path: str
    sha256: str
    call: str | None
    template: bool
    states: tuple[str, ...]
    state_column: FieldRef | None
    fields: dict
    partners: PartnersSpec | None
    values: dict
    personal_labels: tuple[str, ...]
    avis_scores: dict
    annotation_reviews: tuple[AnnotationReviews, ...]


_MAPPABLE = {c.name: c for c in APPLICATION_COLUMNS if c.name not in ("partners", "partner_types")}
_VALUE_COLUMNS = ("lead_org_type", "partner_types", "maturity", "region", "regions_covered", "priority_reform")
_DEFAULT_FIELDS = {"application_id": "ID", "submitted_at": "Déposé le"}


def _field_ref(value, key: str, path: str, problems: list[Problem]) -> FieldRef | None:
    if isinstance(value, str):
        if not value.strip():
            problems.append(Problem(path, None, key, value, "libellé vide : écrire l'en-tête de la colonne, tel qu'il figure dans l'export",
                                    "mapping_blank"))
            return None
        return FieldRef(value.strip(), None, key)
    if isinstance(value, dict):
        unknown = set(value) - {"label", "occurrence"}
        if unknown:
            problems.append(Problem(path, None, f"{key}.{sorted(unknown)[0]}", None, "clé inconnue : seules « label » et « occurrence » sont admises",
                                    "mapping_unknown_key"))
        label, occ = value.get("label"), value.get("occurrence")
        if not isinstance(label, str) or not label.strip():
            problems.append(Problem(path, None, f"{key}.label", label, "libellé attendu (texte entre guillemets)", "mapping_type"))
            return None
        if occ is not None and (not isinstance(occ, int) or isinstance(occ, bool) or occ < 1):
            problems.append(Problem(path, None, f"{key}.occurrence", occ, "un entier ≥ 1 est attendu (1 = première colonne de ce libellé)",
                                    "mapping_type"))
            return None
        return FieldRef(label.strip(), occ, key)
    problems.append(Problem(path, None, key, value, "libellé attendu : \"Libellé\" ou { label = \"Libellé\", occurrence = 2 }", "mapping_type"))
    return None


def _allowed_codes(col: str, rules: CallRules | None) -> tuple[str, ...] | None:
    if col in ("lead_org_type", "partner_types"):
        return ORG_TYPES
    if col == "maturity":
        return MATURITY_LEVELS
    if rules is None:
        return None
    if col in ("region", "regions_covered"):
        return rules.lists.regions
    return rules.lists.priority_reforms + ("",)


def load_mapping(path: str | Path, rules: CallRules | None = None) -> DsMapping:
    """Read and validate a mapping file (TOML, laid out as ``data/mapping_ds_2021.toml``).

    Parameters
    ----------
    path : str or Path
    rules : CallRules, optional
        When given, review columns and the codes of regions and priority
        reforms are checked against the call.

    Raises
    ------
    InputError
        Every problem of the file, each naming its key (``fields.title``…).
    """
    mapping, problems = _parse_mapping(path, rules)
    if problems:
        raise InputError(problems)
    return mapping


#: What --suggest-mapping writes where a code is to be chosen: refused by the loader as « à compléter ».
PLACEHOLDER_CODE = "À COMPLÉTER"


def _parse_mapping(path: str | Path, rules: CallRules | None) -> tuple[DsMapping | None, list[Problem]]:
    """:func:`load_mapping` without raising: the mapping built from what is valid, and every problem.

    The mapping is None only when the file cannot be read as TOML.
    """
    p = Path(path)
    name = str(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        what = "introuvable" if isinstance(exc, FileNotFoundError) else f"illisible : {exc.strerror}"
        return None, [Problem(name, None, None, None, f"fichier de correspondance {what}", "unreadable")]
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return None, [Problem(name, None, None, None, f"TOML mal formé : {exc}", "bad_toml")]
    problems: list[Problem] = []

    def table(key: str) -> dict:
        v = data.get(key, {})
        if not isinstance(v, dict):
            problems.append(Problem(name, None, key, None, f"une table [{key}] est attendue", "mapping_type"))
            return {}
        return v

    for k in data:
        if k not in ("export", "fields", "partners", "values", "personal_data", "reviews"):
            problems.append(Problem(name, None, k, None,
                                    "section inconnue (faute de frappe ?) ; sections admises : export, fields, partners, values, personal_data, reviews",
                                    "mapping_unknown_key"))
    # [export]
    ex = table("export")
    for k in ex:
        if k not in ("call", "template", "states", "state_column"):
            problems.append(Problem(name, None, f"export.{k}", None, "clé inconnue ; clés admises : call, template, states, state_column",
                                    "mapping_unknown_key"))
    state_column = _field_ref(ex["state_column"], "export.state_column", name, problems) if "state_column" in ex else None
    call = ex.get("call")
    if call is not None and not isinstance(call, str):
        problems.append(Problem(name, None, "export.call", call, "chemin du fichier des règles de l'appel attendu (texte)", "mapping_type"))
        call = None
    if isinstance(call, str) and not Path(call).is_absolute():
        call = str(p.parent / call)
    template = ex.get("template", False)
    if not isinstance(template, bool):
        problems.append(Problem(name, None, "export.template", template, "true ou false est attendu", "mapping_type"))
        template = False
    states_raw = ex.get("states", list(CANDIDATE_STATES))
    states: list[str] = []
    if not isinstance(states_raw, list) or not states_raw:
        problems.append(Problem(name, None, "export.states", states_raw, "liste non vide d'états attendue, par ex. [\"En construction\", \"En instruction\"]",
                                "mapping_type"))
    else:
        for s in states_raw:
            st = _STATE_BY_NORM.get(normalise_header(s)) if isinstance(s, str) else None
            if st is None:
                problems.append(Problem(name, None, "export.states", s, f"état inconnu ; états possibles : {', '.join(STATES)}", "mapping_state"))
            else:
                states.append(st)
    # [fields]
    fields: dict[str, FieldRef] = {}
    ftab = table("fields")
    for k, v in ftab.items():
        if k in ("partners", "partner_types"):
            problems.append(Problem(name, None, f"fields.{k}", None, "les partenaires se déclarent dans la section [partners]", "mapping_unknown_key"))
            continue
        if k not in _MAPPABLE:
            problems.append(Problem(name, None, f"fields.{k}", None,
                                    f"champ canonique inconnu ; champs admis : {', '.join(_MAPPABLE)}", "mapping_unknown_key"))
            continue
        ref = _field_ref(v, f"fields.{k}", name, problems)
        if ref is not None:
            fields[k] = ref
    for k, default in _DEFAULT_FIELDS.items():
        fields.setdefault(k, FieldRef(default, None, f"fields.{k}"))
    for col in APPLICATION_COLUMNS:
        if col.required and col.name in _MAPPABLE and col.name not in fields:
            problems.append(Problem(name, None, f"fields.{col.name}", None,
                                    f"champ obligatoire non associé : indiquez le libellé de la colonne de l'export qui donne « {col.description_fr} »",
                                    "mapping_missing_field"))
    # [partners]
    partners = None
    if "partners" in data:
        pt = table("partners")
        for k in pt:
            if k not in ("block", "block_id", "name", "type", "fields"):
                problems.append(Problem(name, None, f"partners.{k}", None, "clé inconnue ; clés admises : block, block_id, name, type, fields",
                                        "mapping_unknown_key"))
        has_block = "block" in pt or "block_id" in pt
        if has_block == ("fields" in pt):
            problems.append(Problem(name, None, "partners", None,
                                    "indiquez soit un bloc répétable (block, name, type), soit des champs numérotés (fields), pas les deux ni aucun",
                                    "mapping_partners"))
        elif has_block:
            block = pt.get("block")
            if block is not None and (not isinstance(block, str) or not block.strip()):
                problems.append(Problem(name, None, "partners.block", block, "libellé du bloc répétable attendu (texte)", "mapping_type"))
                block = None
            bid = pt.get("block_id")
            if bid is not None and (isinstance(bid, bool) or not isinstance(bid, (int, str)) or not str(bid).strip().isdigit()):
                problems.append(Problem(name, None, "partners.block_id", bid, "numéro du bloc attendu (le nombre entre parenthèses du nom de la feuille)",
                                        "mapping_type"))
                bid = None
            refs = {}
            for k in ("name", "type"):
                if k not in pt:
                    problems.append(Problem(name, None, f"partners.{k}", None, "libellé du champ du bloc attendu", "mapping_missing_field"))
                else:
                    refs[k] = _field_ref(pt[k], f"partners.{k}", name, problems)
            partners = PartnersSpec(block=block, block_id=None if bid is None else str(bid).strip(), name=refs.get("name"), type=refs.get("type"))
        else:
            slots = []
            fl = pt["fields"]
            if not isinstance(fl, list) or not fl:
                problems.append(Problem(name, None, "partners.fields", None,
                                        "liste attendue : [ { name = \"Partenaire 1\", type = \"Type du partenaire 1\" }, … ]", "mapping_type"))
            else:
                for i, slot in enumerate(fl, start=1):
                    key = f"partners.fields[{i}]"
                    if not isinstance(slot, dict) or set(slot) != {"name", "type"}:
                        problems.append(Problem(name, None, key, None, "{ name = \"…\", type = \"…\" } attendu", "mapping_type"))
                        continue
                    n_ref = _field_ref(slot["name"], f"{key}.name", name, problems)
                    t_ref = _field_ref(slot["type"], f"{key}.type", name, problems)
                    if n_ref and t_ref:
                        slots.append((n_ref, t_ref))
            partners = PartnersSpec(slots=tuple(slots))
    # [values]
    values: dict[str, dict[str, str]] = {}
    for col, tab in table("values").items():
        if col not in _VALUE_COLUMNS:
            problems.append(Problem(name, None, f"values.{col}", None, f"colonne inconnue ; colonnes admises : {', '.join(_VALUE_COLUMNS)}",
                                    "mapping_unknown_key"))
            continue
        if not isinstance(tab, dict):
            problems.append(Problem(name, None, f"values.{col}", None, "une table « option de l'export » = \"code\" est attendue", "mapping_type"))
            continue
        allowed = _allowed_codes(col, rules)
        out = {}
        for option, code in tab.items():
            key = f"values.{col}.{json.dumps(option, ensure_ascii=False)}"
            if not isinstance(code, str):
                problems.append(Problem(name, None, key, code, "code attendu (texte entre guillemets)", "mapping_type"))
                continue
            if (code == "" and col != "priority_reform") or code.strip() == PLACEHOLDER_CODE:
                shown = ", ".join(a if a else '"" (aucune)' for a in allowed or ())
                problems.append(Problem(name, None, key, code, "valeur à compléter" + (f" ; codes admis : {shown}" if shown else ""), "mapping_todo"))
                continue
            if allowed is not None and code not in allowed:
                shown = ", ".join(a if a else '""' for a in allowed)
                problems.append(Problem(name, None, key, code, f"code inconnu ; codes admis : {shown}", "mapping_value"))
                continue
            out[normalise_header(option)] = code
        values[col] = out
    # [personal_data]
    pd_tab = table("personal_data")
    labels = pd_tab.get("labels", [])
    for k in pd_tab:
        if k != "labels":
            problems.append(Problem(name, None, f"personal_data.{k}", None, "clé inconnue ; clé admise : labels", "mapping_unknown_key"))
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        problems.append(Problem(name, None, "personal_data.labels", None, "liste de libellés attendue", "mapping_type"))
        labels = []
    # [reviews]
    rv = table("reviews")
    avis_scores: dict[str, str] = {}
    annotations: list[AnnotationReviews] = []
    review_cols = None if rules is None else rules.review_columns
    for k in rv:
        if k not in ("avis", "annotations"):
            problems.append(Problem(name, None, f"reviews.{k}", None, "clé inconnue ; clés admises : avis, annotations", "mapping_unknown_key"))
    av = rv.get("avis", {})
    if not isinstance(av, dict):
        problems.append(Problem(name, None, "reviews.avis", None, "une table « colonne de note » = \"libellé dans la réponse\" est attendue",
                                "mapping_type"))
        av = {}
    for col, label in av.items():
        if review_cols is not None and col not in review_cols:
            problems.append(Problem(name, None, f"reviews.avis.{col}", None, f"colonne de note inconnue ; colonnes de l'appel : {', '.join(review_cols)}",
                                    "mapping_unknown_key"))
        elif not isinstance(label, str) or not label.strip():
            problems.append(Problem(name, None, f"reviews.avis.{col}", label, "libellé attendu (texte écrit devant la note dans la réponse)",
                                    "mapping_type"))
        else:
            avis_scores[col] = label.strip()
    ann = rv.get("annotations", [])
    if not isinstance(ann, list):
        problems.append(Problem(name, None, "reviews.annotations", None, "liste de tables [[reviews.annotations]] attendue", "mapping_type"))
        ann = []
    for i, slot in enumerate(ann, start=1):
        key = f"reviews.annotations[{i}]"
        if not isinstance(slot, dict):
            problems.append(Problem(name, None, key, None, "table attendue", "mapping_type"))
            continue
        reviewer = slot.get("reviewer")
        if not isinstance(reviewer, str) or not reviewer.strip() or re.fullmatch(r"E\d+", reviewer.strip()):
            problems.append(Problem(name, None, f"{key}.reviewer", reviewer,
                                    "identifiant d'évaluateur attendu (par ex. \"instruction\"), autre que E01, E02… (réservés aux experts des avis)",
                                    "mapping_type"))
            continue
        scores = {}
        for col, v in slot.items():
            if col == "reviewer":
                continue
            if review_cols is not None and col not in review_cols:
                problems.append(Problem(name, None, f"{key}.{col}", None, f"colonne de note inconnue ; colonnes de l'appel : {', '.join(review_cols)}",
                                        "mapping_unknown_key"))
                continue
            ref = _field_ref(v, f"{key}.{col}", name, problems)
            if ref is not None:
                scores[col] = ref
        if not scores:
            problems.append(Problem(name, None, key, None, "aucune colonne de note associée", "mapping_missing_field"))
        annotations.append(AnnotationReviews(reviewer.strip(), scores))
    return DsMapping(path=name, sha256=hashlib.sha256(raw).hexdigest(), call=call, template=template, states=tuple(states),
                     state_column=state_column,
                     fields=fields, partners=partners, values=values, personal_labels=tuple(x.strip() for x in labels),
                     avis_scores=avis_scores, annotation_reviews=tuple(annotations)), problems


# =========================================================================== the import


@dataclass(frozen=True)
class ExcludedDossier:
    """A dossier of the export that is not a candidate (its state), reported rather than dropped."""

    application_id: str
    state: str
    row: int


@dataclass(frozen=True, eq=False)
class ImportReport:
    """What the import did besides the canonical tables; no personal data except in `contacts` / `experts`.

    Attributes
    ----------
    export, export_format, export_sha256 : str
    mapping, mapping_sha256 : str
    call, call_sha256 : str
        The call's rules used (path and SHA-256; "" when built in code).
    layout : str
        ``standard`` or ``modèle`` (export from a saved template).
    identity : str
        ``particuliers``, ``personnes morales (SIRET)`` or ``inconnue``.
    header_variants : tuple of str
        Older header variants met (French sentences).
    n_dossiers, n_candidates : int
    states : dict
        Count of dossiers per ``État du dossier``.
    excluded : tuple of ExcludedDossier
        Non-candidate dossiers, in sheet order.
    zero_as_missing : tuple of str
        Cells where a 0 was read as a blank number (French lines).
    personal_data_dropped : tuple of str
        Columns of personal data left out (sheet and header, never values).
    personal_data_kept : bool
    avis : dict
        Counts of the Avis sheet's requests: ``with_scores``, ``without_scores``,
        ``unanswered`` (waiting or revoked: the export does not tell them apart),
        ``not_candidate``, ``superseded``.
    notes : tuple of str
        Other remarks (French).
    vintage : Vintage
        The export's layout (2021, 2023, 2024, current, template), as detected.
    missing_in_format : tuple of str
        What the format lacks and the mapping wanted (a CSV imported with
        ``without_blocks``), with what it changes (French lines).
    contacts : pandas.DataFrame or None
        Personal data per candidate dossier; only when asked for.
    experts : pandas.DataFrame or None
        ``reviewer_id`` -> expert email; only when asked for.
    """

    export: str
    export_format: str
    export_sha256: str
    mapping: str
    mapping_sha256: str
    call: str
    call_sha256: str
    layout: str
    identity: str
    header_variants: tuple[str, ...]
    n_dossiers: int
    n_candidates: int
    states: dict
    excluded: tuple[ExcludedDossier, ...]
    zero_as_missing: tuple[str, ...]
    personal_data_dropped: tuple[str, ...]
    personal_data_kept: bool
    avis: dict
    notes: tuple[str, ...]
    contacts: pd.DataFrame | None = None
    experts: pd.DataFrame | None = None
    vintage: Vintage | None = None
    missing_in_format: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready summary (without `contacts` and `experts`)."""
        return {
            "export": self.export, "export_format": self.export_format, "export_sha256": self.export_sha256,
            "mapping": self.mapping, "mapping_sha256": self.mapping_sha256, "call": self.call, "call_sha256": self.call_sha256,
            "layout": self.layout, "identity": self.identity,
            "header_variants": list(self.header_variants), "n_dossiers": self.n_dossiers, "n_candidates": self.n_candidates,
            "states": dict(self.states),
            "excluded": [{"application_id": e.application_id, "state": e.state, "row": e.row} for e in self.excluded],
            "zero_as_missing": list(self.zero_as_missing), "personal_data_dropped": list(self.personal_data_dropped),
            "personal_data_kept": self.personal_data_kept, "avis": dict(self.avis), "notes": list(self.notes),
            "vintage": None if self.vintage is None else {"code": self.vintage.code, "label": self.vintage.label_fr,
                                                          "blank_numbers": self.vintage.blank_numbers,
                                                          "evidence": list(self.vintage.evidence)},
            "missing_in_format": list(self.missing_in_format),
        }

    def summary_fr(self) -> str:
        """French summary printed by ``ditp-model import-ds``."""
        states = ", ".join(f"{k} : {v}" for k, v in self.states.items())
        lines = [f"Export {self.export_format.upper()} ({self.layout}, procédure pour {self.identity}) : {self.n_dossiers} dossier(s) ({states}).",
                 f"Candidatures retenues : {self.n_candidates}."]
        if self.vintage is not None:
            lines.append(f"Millésime de l'export : {self.vintage.label_fr}"
                         + (f" — reconnu à : {', '.join(self.vintage.evidence)}." if self.vintage.evidence else "."))
        if self.missing_in_format:
            lines.append("ATTENTION, import sans blocs répétables ni avis (--sans-blocs) :")
            lines += [f"  - {m}" for m in self.missing_in_format]
        if self.excluded:
            lines.append(f"Dossiers non candidats (écartés, non importés) : {len(self.excluded)}")
            lines += [f"  - {e.application_id} ({e.state}, ligne {e.row})" for e in self.excluded]
        lines += [f"Variante d'en-têtes : {v}" for v in self.header_variants]
        if self.zero_as_missing:
            lines.append(f"Valeurs 0 lues comme vides (un nombre vide est exporté à 0) : {len(self.zero_as_missing)}")
            lines += [f"  - {z}" for z in self.zero_as_missing]
        if any(self.avis.values()):
            a = self.avis
            lines.append(f"Avis : {a.get('with_scores', 0)} avec notes, {a.get('without_scores', 0)} sans note, "
                         f"{a.get('unanswered', 0)} sans réponse (en attente ou révoqués), {a.get('not_candidate', 0)} sur des dossiers non candidats, "
                         f"{a.get('superseded', 0)} remplacés par un avis plus récent du même expert.")
        if self.personal_data_kept:
            lines.append("Données personnelles conservées à part, à la demande (jamais dans les tables canoniques).")
        elif self.personal_data_dropped:
            lines.append("Données personnelles écartées : " + " ; ".join(self.personal_data_dropped) + ".")
        lines += self.notes
        return "\n".join(lines)


#: Column labels of template exports (``config/locales/models/procedure_presentation/fr.yml``) -> the standard
#: export's header for the same date (``app/models/concerns/dossier_export_concern.rb``).
_TEMPLATE_LABELS = {normalise_header("Date de dépôt"): "Déposé le",
                    normalise_header("Date de passage en instruction"): "Passé en instruction le",
                    normalise_header("Date de traitement"): "Traité le"}


class _Ctx:
    """Problems of one import and helpers to locate them."""

    def __init__(self, export: Export):
        self.export = export
        self.problems: list[Problem] = []

    def add(self, sheet: str, row: int | None, column: str | None, value, rule: str, code: str) -> None:
        self.problems.append(Problem(self.export.where(sheet), row, column, value, rule, code))

    def column(self, sheet: Sheet, ref: FieldRef, *, what: str = "") -> int | None:
        pos = sheet.positions(ref.label)
        if not pos:
            close = difflib.get_close_matches(ref.label, list(sheet.header or ()), n=3, cutoff=0.6)
            hint = f" ; en-têtes proches : {', '.join(f'« {c} »' for c in close)}" if close else ""
            standard = _TEMPLATE_LABELS.get(normalise_header(ref.label))
            if standard and sheet.positions(standard):
                hint += (f" ; « {ref.label} » est le libellé des exports « à partir d'un modèle » : dans l'export standard, "
                         f"la colonne s'appelle « {standard} »")
            self.add(sheet.name, sheet.header_row, ref.label, None,
                     f"colonne absente de l'export{what} (clé « {ref.key} » du fichier de correspondance){hint}", "missing_column")
            return None
        if ref.occurrence is None:
            if len(pos) > 1:
                nums = ", ".join(str(j + 1) for j in pos)
                self.add(sheet.name, sheet.header_row, ref.label, None,
                         f"libellé porté par {len(pos)} colonnes (n° {nums}) : précisez laquelle dans la correspondance, "
                         f"par ex. {ref.key} = {{ label = \"{ref.label}\", occurrence = 1 }}", "duplicate_label")
                return None
            return pos[0]
        if ref.occurrence > len(pos):
            self.add(sheet.name, sheet.header_row, ref.label, None,
                     f"occurrence {ref.occurrence} demandée mais le libellé ne porte que {len(pos)} colonne(s)", "duplicate_label")
            return None
        return pos[ref.occurrence - 1]


def _cell(cells: tuple, j: int | None):
    return cells[j] if j is not None and j < len(cells) else None


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _is_zero(v) -> bool:
    if isinstance(v, bool) or v is None:
        return False
    if isinstance(v, (int, float)):
        return v == 0
    t = str(v).strip()
    return bool(_NUMBER_RE.match(t)) and Decimal(t) == 0


def _lookup_for(col: str, mapping: DsMapping, rules: CallRules) -> tuple[dict, tuple]:
    """Normalised option text -> canonical code, and the allowed values (for messages)."""
    column = next(c for c in APPLICATION_COLUMNS if c.name == col)
    base, allowed = category_lookup(column, rules)
    table = dict(base)
    fallback = {"partner_types": "lead_org_type", "regions_covered": "region"}.get(col)
    if fallback:
        table.update(mapping.values.get(fallback, {}))
    table.update(mapping.values.get(col, {}))
    return table, allowed


def _csv_needs(mapping: DsMapping) -> list[tuple[str, str]]:
    """What a mapping reads from sheets a CSV export does not have: (what, what its absence changes), in French."""
    needs = []
    spec = mapping.partners
    if spec is not None and not spec.slots:
        needs.append((f"les partenaires (bloc répétable « {spec.block or spec.block_id} »)",
                      "chaque candidature est lue sans partenaire : le critère « candidature collective », le plafond des "
                      "candidatures collectives d'envergure et les règles d'éligibilité sur les partenaires (collectivité "
                      "associée à l'État) changent, donc l'éligibilité, les notes et la décision"))
    if mapping.avis_scores:
        needs.append(("les notes des experts (feuille Avis, [reviews.avis])",
                      "aucune évaluation n'est importée depuis les avis : la notation et la décision ne peuvent pas se faire "
                      "sur cet import seul (fournir evaluations.csv à part)"))
    return needs


def import_export(export: str | Path | Export, mapping: str | Path | DsMapping, rules: CallRules | str | Path | None = None, *,
                  include_accepted: bool = False, keep_personal_data: bool = False, without_blocks: bool = False
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None, ImportReport]:
    """Import a démarches-simplifiées export into the canonical tables.

    Parameters
    ----------
    export : path or Export
        ``.xlsx``, ``.ods`` or ``.csv`` as downloaded from the platform.
    mapping : path or DsMapping
        The procedure's field labels -> canonical fields (see
        ``data/mapping_ds_2021.toml``).
    rules : CallRules or path, optional
        The call's rules (regions, reforms, review columns, scale); default the
        file named by the mapping's ``[export] call``.
    include_accepted : bool
        Dossiers ``Accepté`` are candidates too (default: only ``En
        construction`` and ``En instruction``, or the mapping's ``states``).
    keep_personal_data : bool
        Keep the personal data apart in ``report.contacts`` and
        ``report.experts`` (never in the canonical tables).
    without_blocks : bool
        Accept a CSV export although the mapping reads repeatable blocks or
        the Avis sheet, which a CSV never carries (``--sans-blocs``): the
        partners of a block are then empty and no review is read from the
        Avis, and ``report.missing_in_format`` says what is missing and what
        it changes.  Without it such a CSV is refused.

    Returns
    -------
    applications : pandas.DataFrame
        As :func:`ditp_model.inputs.io.read_applications` returns it, one row per
        candidate dossier in the export's order; ``source_row`` is the line of
        the Dossiers sheet.
    reviews : pandas.DataFrame or None
        As :func:`ditp_model.inputs.io.read_reviews` returns it (``reviewer_id`` a
        pseudonym ``E01``… for experts), or None when the mapping declares no
        source of scores or none was found.
    report : ImportReport

    Raises
    ------
    InputError
        Every problem found, each naming the sheet, the row, the column, the
        value and the rule.  The problems of the mapping (its own, against
        the call, the columns and blocks it names but the export lacks) and
        of the call's file come in one round; the rows are read only once the
        mapping is sound, and their problems come together.
    """
    # Every problem of the mapping, of the call's file and of the export's headers is reported in one round:
    # the mapping's own problems, then those against the call, then the columns and blocks it names in the export.
    # Rows are read only once the mapping is sound (a broken mapping would make every row look wrong).
    mapping, rules, pre = _mapping_and_rules(mapping, rules)

    try:
        exp = export if isinstance(export, Export) else read_export(export)
    except InputError as exc:
        raise InputError(pre + exc.problems) from None
    ctx = _Ctx(exp)
    ctx.problems.extend(pre)
    dossiers = exp.sheet("Dossiers")
    if dossiers is None:
        ctx.problems.append(Problem(exp.path, None, None, "Dossiers",
                                    f"feuille « Dossiers » absente ; feuilles présentes : {', '.join(exp.sheets) or 'aucune'} "
                                    "(est-ce bien l'export « Télécharger les dossiers » de démarches-simplifiées ?)", "missing_sheet"))
        raise InputError(ctx.problems)
    if dossiers.header is None:
        ctx.add(dossiers.name, None, None, None, "l'export ne contient aucun dossier (feuille vide)", "empty")
        raise InputError(ctx.problems)
    D = dossiers.name
    header = dossiers.header
    standard = len(header) >= 2 and normalise_header(header[0]) == "id" and normalise_header(header[1]) == "email"
    if not standard and not mapping.template:
        ctx.add(D, dossiers.header_row, header[0] if header else None, None,
                "export « à partir d'un modèle » (les premières colonnes ne sont pas « ID », « Email ») : les valeurs y sont écrites "
                "autrement ; déclarez template = true dans [export] et vérifiez les libellés de la correspondance", "template_export")
        raise InputError(ctx.problems)
    vintage = detect_vintage(exp, template=not standard)
    zero_is_blank = vintage.zero_may_be_blank  # before April 2024 (and in template exports) a blank number is an empty cell

    notes: list[str] = []
    variants: list[str] = []
    if standard:
        if dossiers.positions("Archivé"):
            variants.append("« Archivé » (export antérieur à novembre 2024, aujourd'hui « À archiver »)")
        if not dossiers.positions("FranceConnect ?"):
            variants.append("sans « FranceConnect ? » ni colonnes de dépôt pour un tiers (export antérieur à février 2024)")
    missing_in_format: list[str] = []
    if exp.format == "csv":
        needs = _csv_needs(mapping)
        if needs and not without_blocks:
            ctx.add(D, None, None, None,
                    "l'export CSV ne contient ni les blocs répétables ni la feuille Avis, or la correspondance en a besoin : "
                    + " ; ".join(f"{what} (manquera : {effect})" for what, effect in needs)
                    + ". Téléchargez l'export XLSX ou ODS, ou, en connaissance de cause, importez sans eux "
                    "(option --sans-blocs de ditp-model import-ds)", "csv_without_blocks")
            raise InputError(ctx.problems)
        missing_in_format = [f"{what} : absent de l'export CSV ; conséquence : {effect}" for what, effect in needs]
    identity = ("personnes morales (SIRET)" if dossiers.positions("Entreprise raison sociale") or dossiers.positions("Établissement SIRET")
                else "particuliers" if dossiers.positions("Civilité") else "inconnue")

    # Personal data: never mapped to a canonical field unless asked for.
    personal_norm = {normalise_header(h) for h in PERSONAL_HEADERS["Dossiers"]} | {normalise_header(h) for h in mapping.personal_labels}
    for canon, ref in mapping.fields.items():
        if normalise_header(ref.label) in personal_norm and not keep_personal_data:
            ctx.add(D, dossiers.header_row, ref.label, None,
                    f"cette colonne contient des données personnelles : ne l'associez pas au champ « {canon} » "
                    "(ou importez avec --keep-personal-data en connaissance de cause)", "personal_data")

    # Fixed columns, found by header text (older variants included).
    def fixed(key: str) -> int | None:
        for h in _FIXED[key]:
            pos = dossiers.positions(h)
            if pos:
                return pos[0]
        return None

    id_ref = mapping.fields["application_id"]
    j_id = ctx.column(dossiers, id_ref)
    if mapping.state_column is not None:
        state_pos = ctx.column(dossiers, mapping.state_column)
    else:
        state_pos = fixed("state")
    if state_pos is None and mapping.state_column is None:
        ctx.add(D, dossiers.header_row, "État du dossier", None, "colonne de l'état du dossier absente : impossible de savoir quels dossiers sont candidats",
                "missing_column")
    j_archived = fixed("archived")
    cols: dict[str, int | None] = {}
    failed: set[str] = set()  # mapped but not found: reported once, their cells skipped
    for canon, ref in mapping.fields.items():
        if canon != "application_id":
            cols[canon] = ctx.column(dossiers, ref)
            if cols[canon] is None:
                failed.add(canon)
    if j_id is None or state_pos is None:
        if pre:
            _check_mapped_columns(ctx, exp, dossiers, mapping, {})
        raise InputError(ctx.problems)

    # States and ids: which rows are candidates.
    candidates, excluded, all_ids, states_count = _candidate_dossiers(ctx, dossiers, mapping, j_id, state_pos, j_archived,
                                                                       include_accepted, notes)
    if pre:  # the mapping or the call is wrong: report its columns and blocks too, and stop before reading the rows
        _check_mapped_columns(ctx, exp, dossiers, mapping, all_ids)
        raise InputError(ctx.problems)

    # Canonical columns, candidate rows only.
    out, zero_notes = _canonical_columns(ctx, dossiers, mapping, rules, candidates, cols, failed, vintage, notes)

    # Partners.
    partners, ptypes = _partners(ctx, exp, dossiers, mapping, candidates, all_ids, _lookup_for("partner_types", mapping, rules),
                                 notes)
    out["partners"], out["partner_types"] = partners, ptypes

    _check_requested_amounts(ctx, dossiers, rules, candidates, out, cols, failed)

    # Reviews.
    candidate_ids = {aid for _l, _c, aid in candidates}
    review_parts = []
    avis_counts = {"with_scores": 0, "without_scores": 0, "unanswered": 0, "not_candidate": 0, "superseded": 0}
    experts = None
    if mapping.avis_scores:
        frame, avis_counts, experts, avis_variant = _avis_reviews(ctx, exp, mapping, rules, all_ids, candidate_ids)
        if avis_variant:
            variants.append(avis_variant)
        if frame is not None:
            review_parts.append(frame)
    for slot in mapping.annotation_reviews:
        review_parts.append(_annotation_reviews(ctx, dossiers, slot, rules, candidates, zero_is_blank, zero_notes))

    if ctx.problems:
        raise InputError(ctx.problems)

    frame = pd.DataFrame(out)
    frame["source_row"] = [line for line, _c, _a in candidates]
    for c in APPLICATION_COLUMNS:
        if c.kind == "amount":
            frame[c.name] = frame[c.name].astype("int64")
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"])
    frame.attrs.update(path=exp.path, sha256=exp.sha256, blank_rows=0, encoding=exp.encoding or exp.format)

    reviews = None
    review_parts = [r for r in review_parts if len(r)]
    if review_parts:
        reviews = pd.concat(review_parts, ignore_index=True)
        reviews[list(rules.review_columns)] = reviews[list(rules.review_columns)].astype("float64")
        reviews.attrs.update(path=exp.path, sha256=exp.sha256, blank_rows=0, encoding=exp.encoding or exp.format)
    elif mapping.avis_scores and not mapping.annotation_reviews and exp.format == "csv":
        notes.append("L'export CSV ne contient pas les avis des experts : pas de table des évaluations "
                     "(téléchargez l'export XLSX ou ODS pour lire les notes des avis, ou fournissez evaluations.csv).")
    elif mapping.avis_scores or mapping.annotation_reviews:
        notes.append("Aucune note trouvée dans l'export (ni avis notés, ni annotations notées) : pas de table des évaluations.")

    # Personal data: what was left out, and what is kept apart on request.
    dropped = _personal_columns(exp, mapping)
    contacts = _contacts(exp, dossiers, mapping, candidates) if keep_personal_data else None
    report = ImportReport(
        export=exp.path, export_format=exp.format, export_sha256=exp.sha256, mapping=mapping.path, mapping_sha256=mapping.sha256,
        call=rules.source, call_sha256=sha256_file(rules.source) if rules.source and Path(rules.source).is_file() else "",
        layout="standard" if standard else "modèle", identity=identity, header_variants=tuple(variants),
        n_dossiers=len(all_ids), n_candidates=len(candidates), states=states_count, excluded=tuple(excluded),
        zero_as_missing=tuple(zero_notes), personal_data_dropped=() if keep_personal_data else dropped,
        personal_data_kept=keep_personal_data, avis=avis_counts, notes=tuple(notes), contacts=contacts,
        experts=experts if keep_personal_data else None, vintage=vintage, missing_in_format=tuple(missing_in_format))
    return frame, reviews, report


def _mapping_and_rules(mapping, rules) -> tuple[DsMapping, CallRules | None, list[Problem]]:
    """Step 1 of :func:`import_export`: the mapping and the call's rules, with every problem of both in one round.

    Returns
    -------
    (mapping, rules, problems)
        The problems do not stop the import yet: the export's headers are checked too before raising.

    Raises
    ------
    InputError
        The mapping cannot be read at all.
    """
    pre: list[Problem] = []
    if not isinstance(mapping, DsMapping):
        mapping_path = mapping
        if rules is not None and not isinstance(rules, CallRules):
            rules = _load_rules(rules, pre)
        mapping, problems = _parse_mapping(mapping_path, rules if isinstance(rules, CallRules) else None)
        if mapping is not None and rules is None and mapping.call is not None:
            rules = _load_rules(mapping.call, pre)
            if isinstance(rules, CallRules):  # the call's codes and review columns, checked with their keys
                mapping, problems = _parse_mapping(mapping_path, rules)
        pre = problems + pre
        if mapping is None:
            raise InputError(pre)
    else:
        if rules is not None and not isinstance(rules, CallRules):
            rules = _load_rules(rules, pre)
        elif rules is None and mapping.call is not None:
            rules = _load_rules(mapping.call, pre)
        if isinstance(rules, CallRules):  # a mapping built without the call: codes and review columns checked now
            pre += _call_problems(mapping, rules)
    if rules is None and mapping.call is None:
        pre.append(Problem(mapping.path, None, "export.call", None,
                           "règles de l'appel inconnues : indiquez call = \"appel.toml\" dans [export] ou passez --call", "no_rules"))
    return mapping, rules, pre


def _candidate_dossiers(ctx: _Ctx, dossiers: Sheet, mapping: DsMapping, j_id: int, state_pos: int, j_archived: int | None,
                        include_accepted: bool, notes: list[str]):
    """Step « states and ids » of :func:`import_export`: which rows of the Dossiers sheet are candidates.

    Returns
    -------
    (candidates, excluded, all_ids, states_count)
        ``(line, cells, id)`` of each candidate, the :class:`ExcludedDossier` list, every id with its line,
        and the number of dossiers per state.
    """
    D = dossiers.name
    header = dossiers.header
    id_ref = mapping.fields["application_id"]
    wanted = set(mapping.states) | ({"Accepté"} if include_accepted else set())
    states_count: dict[str, int] = {}
    excluded: list[ExcludedDossier] = []
    candidates: list[tuple[int, tuple, str]] = []
    all_ids: dict[str, int] = {}
    archived = 0
    for line, cells in dossiers.rows:
        aid = _id_text(_cell(cells, j_id))
        if not aid:
            ctx.add(D, line, id_ref.label, "", "numéro de dossier manquant", "missing_value")
            continue
        if aid in all_ids:
            ctx.add(D, line, id_ref.label, aid, f"numéro de dossier en double (déjà ligne {all_ids[aid]})", "duplicate_id")
            continue
        all_ids[aid] = line
        raw_state = _text(_cell(cells, state_pos)).strip()
        state = _STATE_BY_NORM.get(normalise_header(raw_state))
        if state is None:
            ctx.add(D, line, header[state_pos], raw_state,
                    f"état du dossier inconnu ; états possibles : {', '.join(s for s in STATES if s != 'Brouillon')}", "unknown_state")
            continue
        states_count[state] = states_count.get(state, 0) + 1
        if j_archived is not None:
            try:
                archived += bool(parse_ds_bool(_cell(cells, j_archived)))
            except ValueError as exc:
                ctx.add(D, line, header[j_archived], _text(_cell(cells, j_archived)), str(exc), "bad_bool")
        if state in wanted:
            candidates.append((line, cells, aid))
        else:
            excluded.append(ExcludedDossier(aid, state, line))
    if archived:
        notes.append(f"{archived} dossier(s) marqué(s) « à archiver » (gardés selon leur état).")
    if all_ids and not candidates:
        notes.append(f"Aucun dossier candidat : aucun n'est dans l'état {' ou '.join(sorted(wanted))} (voir [export] states).")
    return candidates, excluded, all_ids, states_count


def _canonical_columns(ctx: _Ctx, dossiers: Sheet, mapping: DsMapping, rules: CallRules, candidates, cols: dict, failed: set,
                       vintage, notes: list[str]) -> tuple[dict[str, list], list[str]]:
    """Step « canonical columns » of :func:`import_export`: each candidate's cells read into the canonical columns.

    Amounts in whole euros; a 0 read as a blank since April 2024 (``vintage.zero_may_be_blank``); categories through
    the mapping's ``[values]``.  Returns the columns (name -> values, candidates in order) and the « zéro = vide »
    notes, which the annotation reviews complete.
    """
    D = dossiers.name
    header = dossiers.header
    zero_is_blank = vintage.zero_may_be_blank
    out: dict[str, list] = {c.name: [] for c in APPLICATION_COLUMNS}
    zero_notes: list[str] = []
    expense_zeros = 0
    blank_expenses: list[str] = []
    lookups = {c: _lookup_for(c, mapping, rules) for c in ("lead_org_type", "partner_types", "maturity", "region", "regions_covered",
                                                           "priority_reform")}
    for line, cells, aid in candidates:
        for col in APPLICATION_COLUMNS:
            if col.name in ("partners", "partner_types"):
                continue
            if col.name == "application_id":
                out[col.name].append(aid)
                continue
            j = cols.get(col.name)
            shown = header[j] if j is not None else col.name
            v = _cell(cells, j)
            empty_value = None if col.kind == "amount" else (() if col.kind == "list" else (pd.NaT if col.kind == "date" else ""))
            if j is None:  # optional field not in the mapping, or a column not found (already reported)
                out[col.name].append(None if col.name in failed else empty_value)
                continue
            if col.kind == "amount" and _is_zero(v):
                if zero_is_blank:  # since April 2024 a 0 may be a blank; before, a 0 is a real 0 (kept)
                    if col.name == "requested_eur":
                        ctx.add(D, line, shown, _text(v),
                                "montant demandé à 0 : démarches-simplifiées exporte un nombre non rempli comme 0, il est donc traité comme "
                                "manquant ; valeur obligatoire", "zero_as_missing")
                        out[col.name].append(None)
                        continue
                    expense_zeros += 1
            if col.kind == "amount" and col.name != "requested_eur" and not zero_is_blank and _blank(v):
                # Before April 2024 an unfilled number is an empty cell; the current export writes the same blank as 0:
                # read it as 0 € so that both give the same table.
                blank_expenses.append(f"{aid} (ligne {line}), « {shown} »")
                out[col.name].append(0)
                continue
            if _blank(v):
                if col.required:
                    ctx.add(D, line, shown, "", "valeur obligatoire manquante", "missing_value")
                out[col.name].append(empty_value)
                continue
            try:
                if col.kind == "amount":
                    value = _amount(v)
                elif col.kind == "date":
                    value = parse_ds_timestamp(v)
                elif col.kind == "category":
                    table, allowed = lookups[col.name]
                    key = normalise_header(_text(v))
                    if key not in table:
                        raise ValueError(f"valeur inconnue, sans doute saisie dans le champ libre de l'option « Autre » (l'export écrit "
                                         f"alors le texte saisi à la place de l'option) ; valeurs admises : {', '.join(allowed)} "
                                         f"(ajoutez ce texte dans [values.{col.name}] avec son code, ou corrigez le dossier)")
                    value = table[key]
                    if value == "" and col.required:
                        raise ValueError("valeur obligatoire manquante")
                elif col.kind == "list":
                    table, allowed = lookups[col.name]
                    known, unknown = split_multiple_choice(_text(v), list(allowed) + [o for o in table])
                    if unknown:
                        raise ValueError(f"valeur(s) inconnue(s) {', '.join(unknown)} ; valeurs admises : {', '.join(allowed)}")
                    value = tuple(dict.fromkeys(table[normalise_header(k)] for k in known if table.get(normalise_header(k))))
                else:
                    value = canonical_text(v)
            except ValueError as exc:
                ctx.add(D, line, shown, _text(v), str(exc), f"bad_{col.kind}")
                value = None
            out[col.name].append(value)
    if blank_expenses:
        notes.append(f"{len(blank_expenses)} montant(s) de la ventilation des dépenses laissé(s) vide(s) lu(s) comme 0 € ({vintage.code} : "
                     "un nombre non rempli y est une cellule vide, exporté à 0 depuis avril 2024) : " + " ; ".join(blank_expenses[:5])
                     + (" ; …" if len(blank_expenses) > 5 else "") + ".")
    if expense_zeros:
        notes.append(f"{expense_zeros} montant(s) de la ventilation des dépenses à 0 € gardés tels quels (un nombre vide est exporté à 0 ; "
                     "la somme de la ventilation doit faire le montant demandé).")
    return out, zero_notes


def _check_requested_amounts(ctx: _Ctx, dossiers: Sheet, rules: CallRules, candidates, out: dict, cols: dict, failed: set) -> None:
    """Row rules of :func:`import_export` on the requested amount: a truncated thousand, and the expense breakdown's sum.

    A text field converted by an administrator to « Nombre entier » exports "45 000 €".to_i = 45 (Ruby
    String#to_i stops at the first space); the expense breakdown must add up to the request.
    """
    D = dossiers.name
    header = dossiers.header
    # A requested amount far under the floor that looks like a truncated thousand: a text field converted by an
    # administrator to « Nombre entier » exports "45 000 €".to_i = 45 (Ruby String#to_i stops at the first space).
    floor = rules.award_floor_eur
    floor_fr = f"{floor:,}".replace(",", "\u202f")
    if "requested_eur" not in failed:
        for i, (line, _cells, aid) in enumerate(candidates):
            req = out["requested_eur"][i]
            if req is not None and 0 < req < 1000 and req < floor:
                ctx.add(D, line, header[cols["requested_eur"]], req,
                        f"dossier {aid} : montant demandé de {req} €, sous le plancher de l'appel ({floor_fr} €) et qui ressemble à "
                        f"« {req} 000 € » tronqué (un champ texte converti en « Nombre entier » par l'administrateur est exporté par "
                        f"\"{req} 000 €\".to_i = {req}) ; vérifiez le montant dans le dossier et corrigez-le (ou l'export)",
                        "truncated_amount")

    # Row-level rule: the expense breakdown adds up to the request.
    for i, (line, _cells, _aid) in enumerate(candidates):
        amounts = [out[c][i] for c in EXPENSE_COLUMNS]
        req = out["requested_eur"][i]
        if req is not None and None not in amounts and sum(amounts) != req and "requested_eur" not in failed:
            ctx.add(D, line, header[cols["requested_eur"]], req,
                    f"la ventilation des dépenses ({' + '.join(str(a) for a in amounts)} = {sum(amounts)} €) ne fait pas le montant demandé",
                    "expense_sum")


def _partners(ctx: _Ctx, exp: Export, dossiers: Sheet, mapping: DsMapping, candidates, all_ids, lookup, notes):
    table, allowed = lookup
    n = len(candidates)
    names: list[list[str]] = [[] for _ in range(n)]
    types: list[list[str]] = [[] for _ in range(n)]
    index = {aid: i for i, (_l, _c, aid) in enumerate(candidates)}
    spec = mapping.partners

    def add(i: int, sheet: str, line: int, name_v, type_v, name_h: str, type_h: str) -> None:
        nm, tp = canonical_text(name_v), _text(type_v).strip()
        if not nm and not tp:
            return
        if not nm:
            ctx.add(sheet, line, name_h, "", "nom du partenaire manquant (son type est renseigné)", "missing_value")
            return
        if not tp:
            ctx.add(sheet, line, type_h, "", f"type du partenaire « {nm} » manquant", "missing_value")
            return
        code = table.get(normalise_header(tp))
        if not code:
            ctx.add(sheet, line, type_h, tp, f"type de partenaire inconnu ; valeurs admises : {', '.join(allowed)} "
                                             "(ou ajoutez l'option dans [values.partner_types])", "bad_category")
            return
        if LIST_SEPARATOR in nm:
            notes.append(f"Partenaire « {nm} » ({sheet}, ligne {line}) : « {LIST_SEPARATOR} » remplacé par « , » "
                         "(c'est le séparateur des listes du format canonique).")
            nm = nm.replace(LIST_SEPARATOR, ",")
        names[i].append(nm)
        types[i].append(code)

    if spec is None:
        notes.append("Aucun partenaire déclaré dans la correspondance ([partners]) : les candidatures sont lues sans partenaires.")
    elif spec.slots:
        D = dossiers.name
        pos = [(ctx.column(dossiers, a, what=" (partenaire)"), ctx.column(dossiers, b, what=" (type de partenaire)")) for a, b in spec.slots]
        for i, (line, cells, _aid) in enumerate(candidates):
            for jn, jt in pos:
                if jn is None or jt is None:
                    continue
                add(i, D, line, _cell(cells, jn), _cell(cells, jt), dossiers.header[jn], dossiers.header[jt])
    elif exp.format == "csv":
        pass  # refused earlier unless the user chose to go without blocks (--sans-blocs): no partner, as reported
    else:
        blocks = exp.block_sheets()
        found = []
        if spec.block_id is not None:  # the stable id is the reliable key: the label may be cut or transliterated
            found = [sheet for bid, _label, sheet in blocks if bid == spec.block_id]
            if found and spec.block is not None and found[0].name.strip() != block_sheet_name(spec.block_id, spec.block).strip():
                notes.append(f"Bloc « {spec.block} » trouvé par son numéro {spec.block_id} dans la feuille « {found[0].name} » "
                             f"(la plateforme l'aurait nommée « {block_sheet_name(spec.block_id, spec.block)} » : libellé changé depuis ?).")
        elif spec.block is not None:
            # The name the platform builds for this label with each sheet's stable id (Rails file-name sanitiser,
            # I18n transliteration, 30 characters), then, for a hand-renamed sheet, the looser comparison.
            found = [sheet for bid, _label, sheet in blocks if sheet.name.strip() == block_sheet_name(bid, spec.block).strip()]
            if not found:
                want = _sheet_label(spec.block)
                for _bid, label, sheet in blocks:
                    got = normalise_header(label)
                    if got and (want == got or (len(sheet.name) >= 30 and want.startswith(got))):
                        found.append(sheet)
        if len(found) > 1:
            ctx.add(found[0].name, None, None, None,
                    f"plusieurs feuilles de bloc répétable portent le libellé « {spec.block} » ({', '.join(s.name for s in found)}) : "
                    "indiquez block_id (le nombre entre parenthèses) dans [partners]", "ambiguous_block")
        elif not found:
            others = [s.name for _b, _l, s in blocks]
            if others:
                ctx.add(dossiers.name, None, None, None,
                        f"feuille du bloc répétable « {spec.block or spec.block_id} » introuvable ; feuilles de blocs présentes : "
                        f"{', '.join(others)} (corrigez [partners] block ou block_id)", "missing_block")
            else:
                notes.append(f"Pas de feuille pour le bloc « {spec.block or spec.block_id} » : aucun dossier exporté n'a de partenaire "
                             "(la plateforme ne crée la feuille que si une ligne existe).")
        else:
            sheet = found[0]
            if sheet.header is not None:
                j_d = _required(ctx, sheet, "Dossier ID")
                j_l = sheet.positions("Ligne")[0] if sheet.positions("Ligne") else None
                j_n = ctx.column(sheet, spec.name, what=" (bloc répétable)")
                j_t = ctx.column(sheet, spec.type, what=" (bloc répétable)")
                if None not in (j_d, j_n, j_t):
                    rows = []
                    for line, cells in sheet.rows:
                        did = _id_text(_cell(cells, j_d))
                        if did not in all_ids:
                            ctx.add(sheet.name, line, sheet.header[j_d], did, "ligne de bloc d'un dossier absent de la feuille Dossiers", "unknown_dossier")
                            continue
                        if did not in index:
                            continue
                        order = _cell(cells, j_l)
                        try:
                            rank = int(_decimal(order)) if not _blank(order) else 0
                        except (LookupError, ValueError, InvalidOperation):
                            ctx.add(sheet.name, line, "Ligne", _text(order), "numéro de ligne du bloc attendu (entier)", "bad_amount")
                            continue
                        rows.append((index[did], rank, line, cells))
                    for i, _rank, line, cells in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
                        add(i, sheet.name, line, _cell(cells, j_n), _cell(cells, j_t), sheet.header[j_n], sheet.header[j_t])
    return [tuple(x) for x in names], [tuple(x) for x in types]


def _load_rules(source, problems: list[Problem]) -> CallRules | None:
    """The call's rules, or None with their problems appended (reported with the mapping's)."""
    try:
        return load_call_rules(source)
    except InputError as exc:
        problems.extend(exc.problems)
        return None


def _call_problems(mapping: DsMapping, rules: CallRules) -> list[Problem]:
    """Codes of regions and reforms, and review columns, of a mapping built without the call."""
    out: list[Problem] = []
    for col, tab in mapping.values.items():
        allowed = _allowed_codes(col, rules)
        for code in tab.values():
            if allowed is not None and code not in allowed:
                out.append(Problem(mapping.path, None, f"values.{col}", code, f"code inconnu de l'appel ; codes admis : {', '.join(allowed)}",
                                   "mapping_value"))
    for col in list(mapping.avis_scores) + [c for a in mapping.annotation_reviews for c in a.scores]:
        if col not in rules.review_columns:
            out.append(Problem(mapping.path, None, "reviews", col, f"colonne de note inconnue ; colonnes de l'appel : {', '.join(rules.review_columns)}",
                               "mapping_unknown_key"))
    return out


def _check_mapped_columns(ctx: _Ctx, exp: Export, dossiers: Sheet, mapping: DsMapping, all_ids: dict) -> None:
    """Report the partner and annotation columns a mapping names but the export lacks, without reading any row."""
    if all_ids or mapping.partners is None or mapping.partners.slots:
        _partners(ctx, exp, dossiers, mapping, [], all_ids, ({}, ()), [])
    for slot in mapping.annotation_reviews:
        for ref in slot.scores.values():
            ctx.column(dossiers, ref, what=" (note)")


def _sheet_label(label: str) -> str:
    """A block label as the platform writes it into a sheet name: ``/`` and ``\\`` become ``-``,
    ``* ? [ ] :`` are removed, the rest transliterated to ASCII (the name is then cut at 30 characters)."""
    text = re.sub(r"[*?\[\]:]", "", re.sub(r"[\\/]", "-", label))
    return normalise_header(unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii"))


def _required(ctx: _Ctx, sheet: Sheet, header: str) -> int | None:
    pos = sheet.positions(header)
    if not pos:
        ctx.add(sheet.name, sheet.header_row, header, None, "colonne obligatoire absente de cette feuille", "missing_column")
        return None
    return pos[0]


_NO_SCORE = {"", "-", "–", "—", "nc", "n/a", "non note", "non notee", "sans objet", "so"}


def _avis_reviews(ctx: _Ctx, exp: Export, mapping: DsMapping, rules: CallRules, all_ids: dict, candidate_ids: set):
    counts = {"with_scores": 0, "without_scores": 0, "unanswered": 0, "not_candidate": 0, "superseded": 0}
    sheet = exp.sheet("Avis")
    variant = ""
    if exp.format == "csv":  # the CSV export has no Avis sheet
        return None, counts, None, ""
    if sheet is None:
        ctx.add("Avis", None, None, None, "feuille « Avis » absente alors que la correspondance lit les notes dans les avis ([reviews.avis])",
                "missing_sheet")
        return None, counts, None, ""
    if sheet.header is None:  # no opinion was requested: the platform writes an empty sheet, without header row
        return None, counts, None, ""
    A = sheet.name
    j_d = _required(ctx, sheet, "Dossier ID")
    j_r = _required(ctx, sheet, "Réponse")
    j_e = _required(ctx, sheet, "Expert")
    if not sheet.positions("Question"):
        variant = "feuille Avis sans « Question » ni « Réponse oui/non » (export antérieur à mars 2023)"
    if None in (j_d, j_r, j_e):
        return None, counts, None, variant
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    labels = {normalise_header(lab): col for col, lab in mapping.avis_scores.items()}
    pseudo: dict[str, str] = {}
    emails: dict[str, str] = {}
    for _line, cells in sheet.rows:
        e = _text(_cell(cells, j_e)).strip()
        if e and e.lower() not in pseudo:
            pseudo[e.lower()] = ""
            emails[e.lower()] = e
    width = max(2, len(str(len(pseudo))))
    for k, e in enumerate(pseudo, start=1):
        pseudo[e] = f"E{k:0{width}d}"
    kept: dict[tuple[str, str], dict] = {}
    for line, cells in sheet.rows:
        did = _id_text(_cell(cells, j_d))
        if did not in all_ids:
            ctx.add(A, line, sheet.header[j_d], did, "avis sur un dossier absent de la feuille Dossiers", "unknown_dossier")
            continue
        if did not in candidate_ids:
            counts["not_candidate"] += 1
            continue
        answer = _text(_cell(cells, j_r))
        if not answer.strip():
            counts["unanswered"] += 1
            continue
        expert = _text(_cell(cells, j_e)).strip()
        if not expert:
            ctx.add(A, line, sheet.header[j_e], "", "expert manquant", "missing_value")
            continue
        scores: dict[str, float] = {}
        bad = False
        for text_line in answer.splitlines():
            if ":" not in text_line:
                continue
            left, right = text_line.split(":", 1)
            col = labels.get(normalise_header(left.lstrip(" -•*·\t")))
            if col is None:
                continue
            raw = right.strip()
            value_text = re.sub(r"\s*(/|sur)\s*\d+([.,]\d+)?\s*$", "", raw, flags=re.IGNORECASE).strip()
            if col in scores:
                ctx.add(A, line, sheet.header[j_r], raw, f"note « {mapping.avis_scores[col]} » donnée deux fois dans la réponse", "duplicate_score")
                bad = True
                continue
            if normalise_header(value_text) in _NO_SCORE:
                scores[col] = math.nan
                continue
            try:
                v = _score(value_text)
            except ValueError as exc:
                ctx.add(A, line, sheet.header[j_r], raw, f"« {mapping.avis_scores[col]} » : {exc}", "bad_score")
                bad = True
                continue
            if not lo <= v <= hi:
                ctx.add(A, line, sheet.header[j_r], raw, f"« {mapping.avis_scores[col]} » : note hors de l'échelle {lo:g} à {hi:g}",
                        "score_out_of_scale")
                bad = True
                continue
            scores[col] = v
        if not scores:
            counts["without_scores"] += 1
            continue
        if bad:
            continue
        key = (did, expert.lower())
        if key in kept:
            counts["superseded"] += 1  # the same expert asked again: the later request (lower in the sheet) wins
        counts["with_scores"] += 1
        kept[key] = {"application_id": did, "reviewer_id": pseudo[expert.lower()],
                     **{c: scores.get(c, math.nan) for c in rules.review_columns}, "source_row": line}
    counts["with_scores"] -= counts["superseded"]
    frame = pd.DataFrame(list(kept.values()), columns=["application_id", "reviewer_id", *rules.review_columns, "source_row"])
    experts = pd.DataFrame({"reviewer_id": list(pseudo.values()), "expert_email": [emails[e] for e in pseudo]})
    return frame, counts, experts, variant


def _annotation_reviews(ctx: _Ctx, dossiers: Sheet, slot: AnnotationReviews, rules: CallRules, candidates, zero_is_blank: bool,
                        zero_notes: list[str]) -> pd.DataFrame:
    D = dossiers.name
    pos = {col: ctx.column(dossiers, ref, what=" (note)") for col, ref in slot.scores.items()}
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    rows = []
    if None in pos.values():
        return pd.DataFrame(rows)
    for line, cells, aid in candidates:
        vals = {}
        for col, j in pos.items():
            v = _cell(cells, j)
            if zero_is_blank and _is_zero(v):
                zero_notes.append(f"{aid} (ligne {line}), colonne « {dossiers.header[j]} » : note 0 lue comme non renseignée")
                vals[col] = math.nan
                continue
            try:
                s = _score(v)
            except ValueError as exc:
                ctx.add(D, line, dossiers.header[j], _text(v), str(exc), "bad_score")
                continue
            if not math.isnan(s) and not lo <= s <= hi:
                ctx.add(D, line, dossiers.header[j], _text(v), f"note hors de l'échelle {lo:g} à {hi:g}", "score_out_of_scale")
                continue
            vals[col] = s
        if any(not math.isnan(x) for x in vals.values()):
            rows.append({"application_id": aid, "reviewer_id": slot.reviewer, **{c: vals.get(c, math.nan) for c in rules.review_columns},
                         "source_row": line})
    return pd.DataFrame(rows, columns=["application_id", "reviewer_id", *rules.review_columns, "source_row"])


def _personal_columns(exp: Export, mapping: DsMapping) -> tuple[str, ...]:
    out = []
    extra = {"Dossiers": mapping.personal_labels}
    for sheet_name, headers in PERSONAL_HEADERS.items():
        sheet = exp.sheet(sheet_name)
        if sheet is None or sheet.header is None:
            continue
        for h in (*headers, *extra.get(sheet_name, ())):
            if sheet.positions(h):
                out.append(f"{sheet.name} : {h}")
    return tuple(dict.fromkeys(out))


def _contacts(exp: Export, dossiers: Sheet, mapping: DsMapping, candidates) -> pd.DataFrame:
    headers = [h for h in (*PERSONAL_HEADERS["Dossiers"], *mapping.personal_labels) if dossiers.positions(h)]
    data: dict[str, list] = {"application_id": [aid for _l, _c, aid in candidates]}
    for h in headers:
        j = dossiers.positions(h)[0]
        data[h] = [_text(_cell(cells, j)).strip() for _l, cells, _a in candidates]
    etab = exp.sheet("Etablissements")
    if etab is not None and etab.header is not None and etab.positions("Dossier ID"):
        j_d, j_c = etab.positions("Dossier ID")[0], (etab.positions("Champ") or [None])[0]
        for h in PERSONAL_HEADERS["Etablissements"]:
            if not etab.positions(h) or h in data:
                continue
            j = etab.positions(h)[0]
            by_id = {_id_text(_cell(c, j_d)): _text(_cell(c, j)).strip() for _l, c in etab.rows
                     if j_c is None or _text(_cell(c, j_c)).strip() == "Dossier"}
            data[h] = [by_id.get(aid, "") for aid in data["application_id"]]
    return pd.DataFrame(data)


# =========================================================================== suggesting a mapping

_HINTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "title": (("intitule",), ("titre",), ("nom du projet",)),
    "lead_org": (("structure porteuse",), ("organisation porteuse",), ("porteur",), ("entreprise raison sociale",)),
    "lead_org_type": (("type", "structure"), ("type", "porteur"), ("type", "organisation"), ("statut", "structure")),
    "region": (("region",),),
    "regions_covered": (("regions", "concernees"), ("autres regions",), ("regions couvertes",)),
    "priority_reform": (("reforme",), ("politique prioritaire",)),
    "maturity": (("maturite",), ("stade",)),
    "requested_eur": (("montant", "demande"), ("subvention", "demandee")),
    "expense_services_eur": (("prestations intellectuelles",),),
    "expense_digital_tools_eur": (("outils numeriques",),),
    "expense_training_eur": (("formation",),),
    "expense_other_eur": (("autres depenses",), ("autres", "depenses")),
}
_HINT_EXCLUDE: dict[str, tuple[str, ...]] = {
    "lead_org": ("type", "region", "referent"),
    "region": ("autres", "concernees", "couvertes", "partenaire"),
    "title": ("partenaire",),
    "expense_training_eur": ("autres",),
}
_PERSONAL_HINTS = ("telephone", "courriel", "e-mail", "email", "adresse electronique", "referent", "nom et prenom", "date de naissance",
                   "nom du contact", "contact")
_FIXED_ALL = {normalise_header(h) for h in (
    "ID", "Email", "FranceConnect ?", "Civilité", "Nom", "Prénom", "Dépôt pour un tiers", "Nom du mandataire", "Prénom du mandataire",
    "Date de naissance", "Entreprise raison sociale", "Domaine Fonctionnel", "Référentiel De Programmation", "Centre De Coût",
    "À archiver", "Archivé", "État du dossier", "Dernière mise à jour le", "Dernière mise à jour du dossier le", "Déposé le",
    "Passé en instruction le", "Date décision SVA", "Date décision SVR", "Traité le", "Motivation de la décision", "Instructeurs",
    "Groupe instructeur")}


_NONE_OPTIONS = {"aucune", "aucun", "sans objet", "non concerne", "non concernee", "neant"}


def _guess_code(option: str, look: dict[str, str], col: str) -> tuple[str, str] | None:
    """A code for an option spelled otherwise than the known labels, from its parts, or None.

    ``Test / expérimentation`` -> ``testing`` (from « Test »), ``Collectivité territoriale ou groupement`` ->
    ``local_authority``, ``Administration centrale (secrétariat général, …)`` -> ``ministry``; « Aucune »
    for a priority reform -> ``""``.  Only when every recognised part gives the same code.
    """
    if col == "priority_reform" and normalise_header(option).strip(" .") in _NONE_OPTIONS:
        return "", option
    outside = re.sub(r"\([^)]*\)", " ", option)
    inside = " , ".join(re.findall(r"\(([^)]*)\)", option))
    parts = [outside] + [x for t in (outside, inside) for x in re.split(r"\s*(?:/|,|;|\bou\b|\bet\b)\s*", t)]
    found: dict[str, str] = {}
    for part in parts:
        code = look.get(normalise_header(part))
        if part.strip() and code is not None:
            found.setdefault(code, part.strip())
    if len(found) != 1:
        return None
    code, part = next(iter(found.items()))
    return code, part


def _toml(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def suggest_mapping(export: str | Path | Export, rules: CallRules | None = None, mapping_dir: str | Path | None = None) -> str:
    """Propose a mapping file (TOML text) from an export's headers, for a secretariat to complete.

    Fields are guessed from their labels (``Intitulé…`` -> ``title``,
    ``Montant demandé…`` -> ``requested_eur``…); the options met in category
    columns are listed under ``[values.*]`` with a code when one is recognised
    (from the whole label, or from its parts: ``Test / expérimentation`` ->
    ``testing``, marked « à vérifier ») and :data:`PLACEHOLDER_CODE` otherwise, which
    the loader refuses as « valeur à compléter ».  Unrecognised required fields
    are left as comments marked ``À COMPLÉTER``, which the loader reports.

    What is proposed passes the importer's own rules: no half-filled partner
    slot, no empty ``[partners]`` table (CSV exports have no blocks), the
    renamed id, state and submission columns of an export « à partir d'un
    modèle ».  On the sample export (``data/dossiers_ds_exemple.xlsx``) it
    imports as proposed to the table of ``data/mapping_ds_exemple.toml``.

    Parameters
    ----------
    export : path or Export
    rules : CallRules, optional
        Gives the regions, reforms and sub-criteria of the call, to recognise
        more options and to propose ``[reviews.avis]``; its file becomes ``[export] call``.
    mapping_dir : path, optional
        Folder where the mapping will be saved: ``call`` is written relative to
        it (the importer resolves it so); absolute when not given.
    """
    exp = export if isinstance(export, Export) else read_export(export)
    dossiers = exp.sheet("Dossiers")
    if dossiers is None or dossiers.header is None:
        raise InputError(Problem(exp.path, None, None, "Dossiers", "feuille « Dossiers » absente ou vide : rien à proposer", "missing_sheet"))
    header = dossiers.header
    standard = len(header) >= 2 and normalise_header(header[0]) == "id" and normalise_header(header[1]) == "email"
    counts: dict[str, int] = {}
    for h in header:
        counts[normalise_header(h)] = counts.get(normalise_header(h), 0) + 1
    form = [h for h in header if normalise_header(h) not in _FIXED_ALL and not _SUFFIX_RE.search(normalise_header(h))
            and not normalise_header(h).startswith(("etablissement ", "entreprise ", "association "))]
    personal = [h for h in form if any(k in normalise_header(h) for k in _PERSONAL_HINTS)]
    by_schema = {normalise_header(x): c.name for c in APPLICATION_COLUMNS for x in (c.name, *c.headers_fr)}
    chosen: dict[str, str] = {}
    used: set[str] = set()
    for h in form:  # exact schema headers first
        c = by_schema.get(normalise_header(h))
        if c in _MAPPABLE and c not in chosen and h not in personal:
            chosen[c], _ = h, used.add(h)
    for canon, hints in _HINTS.items():
        if canon in chosen:
            continue
        for hint in hints:
            for h in form:
                n = normalise_header(h)
                if h in used or h in personal or any(x in n for x in _HINT_EXCLUDE.get(canon, ())):
                    continue
                if all(k in n for k in hint):
                    chosen[canon] = h
                    used.add(h)
                    break
            if canon in chosen:
                break
    if "lead_org" not in chosen and dossiers.positions("Entreprise raison sociale"):
        chosen["lead_org"] = "Entreprise raison sociale"

    lines = ["# Correspondance proposée par « ditp-model import-ds --suggest-mapping » : À RELIRE ET COMPLÉTER.",
             f"# Export lu : {Path(exp.path).name} ({exp.format.upper()}, {'export standard' if standard else 'export à partir d’un modèle'}).",
             "# Les colonnes sont reconnues par le texte de leur en-tête (jamais par leur position).", "",
             "[export]"]
    if rules is not None and rules.source:
        # the importer resolves `call` against the mapping file's folder: write it so (absolute when printed)
        src = Path(rules.source).resolve()
        call = os.path.relpath(src, Path(mapping_dir).resolve()) if mapping_dir is not None else str(src)
        lines.append(f"call = {_toml(Path(call).as_posix())}")
    else:
        lines.append("# call = \"appel_2021.toml\"   # À COMPLÉTER : règles de l'appel")
    lines.append(f"template = {'false' if standard else 'true'}")
    lines.append("states = [\"En construction\", \"En instruction\"]   # « --include-accepted » ajoute « Accepté »")
    if not any(dossiers.positions(h) for h in _FIXED["state"]):  # an export « à partir d'un modèle » may rename it
        state_h = next((h for h in header if normalise_header(h).startswith(("etat", "statut"))), None)
        lines.append(f"state_column = {_toml(state_h)}" if state_h else "# state_column = \"\"   # À COMPLÉTER : colonne de l'état du dossier")
    lines += ["", "[fields]"]
    for canon, default, hints in (("application_id", "ID", (("numero", "dossier"), ("numero",))),
                                  ("submitted_at", "Déposé le", (("date", "depot"), ("depose",)))):
        h = default if dossiers.positions(default) else next(
            (x for hint in hints for x in header if all(k in normalise_header(x) for k in hint)), None)
        lines.append(f"{canon} = {_toml(h)}" if h else f"# {canon} = \"\"   # À COMPLÉTER (obligatoire) : colonne « {default} » absente de l'export")
    for col in APPLICATION_COLUMNS:
        if col.name not in _MAPPABLE or col.name in _DEFAULT_FIELDS:
            continue
        h = chosen.get(col.name)
        if h is None:
            flag = "À COMPLÉTER (obligatoire)" if col.required else "facultatif"
            lines.append(f"# {col.name} = \"\"   # {flag} : {col.description_fr}")
        elif counts[normalise_header(h)] > 1:
            lines.append(f"{col.name} = {{ label = {_toml(h)}, occurrence = 1 }}   # libellé porté par {counts[normalise_header(h)]} colonnes : "
                         "vérifier l'occurrence")
        else:
            lines.append(f"{col.name} = {_toml(h)}")
    lines.append("")
    # Partners: a repeatable block if there is one, else numbered fields.
    block = next(((bid, label, s) for bid, label, s in exp.block_sheets() if "partenaire" in normalise_header(label)), None)
    slot_re = re.compile(r"partenaire\s*n?°?\s*(\d+)")
    slots: dict[int, dict[str, str]] = {}
    for h in form:
        m = slot_re.search(normalise_header(h))
        if m:
            slots.setdefault(int(m.group(1)), {})["type" if "type" in normalise_header(h) else "name"] = h
    if block is not None or slots:
        lines.append("[partners]")
    if block is not None:
        bid, label, s = block
        children = [h for h in (s.header or ()) if normalise_header(h) not in ("dossier id", "ligne")]
        name_h = next((h for h in children if "nom" in normalise_header(h)), children[0] if children else "")
        type_h = next((h for h in children if "type" in normalise_header(h)), "")
        lines += [f"block = {_toml(label)}   # feuille « {s.name} »", f"block_id = {bid}", f"name = {_toml(name_h)}",
                  f"type = {_toml(type_h)}" if type_h else "# type = \"\"   # À COMPLÉTER"]
    elif slots:
        lines.append("fields = [")
        for k in sorted(slots):
            sl = slots[k]
            if "name" in sl and "type" in sl:
                lines.append(f"  {{ name = {_toml(sl['name'])}, type = {_toml(sl['type'])} }},")
            else:  # half a slot would be refused (blank label): left for the secretariat
                lines.append(f"  # {{ name = {_toml(sl.get('name', ''))}, type = {_toml(sl.get('type', ''))} }},   # À COMPLÉTER : "
                             f"{'type' if 'name' in sl else 'nom'} du partenaire {k} introuvable")
        lines.append("]")
    else:
        lines += ["# Aucun bloc répétable ni champ numéroté « Partenaire N » trouvé" +
                  (" (l'export CSV ne contient pas les blocs répétables : proposez à partir de l'export XLSX ou ODS)." if exp.format == "csv" else "."),
                  "# [partners]", "# block = \"Partenaires\"", "# name = \"Nom du partenaire\"", "# type = \"Type de partenaire\""]
    lines.append("")
    # Options met in category columns.
    declared: dict[str, list[str]] = {}
    for col in ("lead_org_type", "maturity", "region", "regions_covered", "priority_reform", "partner_types"):
        if rules is None and col in ("region", "regions_covered"):
            continue  # checked against the call's lists only: see the comment written below
        texts: list[str] = []
        if col == "partner_types":
            if block is not None and block[2].header is not None:
                s = block[2]
                type_h = next((h for h in s.header if "type" in normalise_header(h)), None)
                if type_h:
                    j = s.positions(type_h)[0]
                    texts = [_text(_cell(c, j)) for _l, c in s.rows]
            else:
                for sl in slots.values():
                    if "type" in sl:
                        j = dossiers.positions(sl["type"])[0]
                        texts += [_text(_cell(c, j)) for _l, c in dossiers.rows]
        elif col in chosen:
            j = dossiers.positions(chosen[col])[0]
            texts = [_text(_cell(c, j)) for _l, c in dossiers.rows]
        opts: list[str] = []
        for t in texts:
            if col != "regions_covered":
                opts.append(t.strip())
            elif rules is not None:
                known, unknown = split_multiple_choice(t, rules.lists.regions)
                opts += known + unknown
            else:
                opts += [x.strip() for x in t.split(", ")]
        opts = [o for o in dict.fromkeys(opts) if o]
        if col == "partner_types":  # the lead organisation's table serves the partners too
            opts = [o for o in opts if o not in declared.get("lead_org_type", ())]
        if col == "priority_reform" and rules is None:  # without the call, only « Aucune » (code "") is known
            opts = [o for o in opts if normalise_header(o).strip(" .") in _NONE_OPTIONS]
        if not opts:
            continue
        declared[col] = opts
        look = None
        if rules is not None or col in ("lead_org_type", "partner_types", "maturity"):
            look = category_lookup(next(c for c in APPLICATION_COLUMNS if c.name == col), rules)[0]
        if look is not None and col in ("region", "regions_covered", "priority_reform") and all(normalise_header(o) in look for o in opts):
            continue  # options already spelled as in the call: nothing to declare
        allowed = _allowed_codes(col, rules)
        lines.append(f"[values.{col}]")
        for o in sorted(opts, key=normalise_header):
            code = look.get(normalise_header(o)) if look is not None else None
            guess = None if code is not None else _guess_code(o, look or {}, col)
            if code is not None:
                lines.append(f"{_toml(o)} = {_toml(code)}")
            elif guess is not None:
                lines.append(f"{_toml(o)} = {_toml(guess[0])}   # reconnu d'après « {guess[1]} » : à vérifier")
            else:
                codes = ", ".join(a if a else '"" (aucune)' for a in allowed or ())
                hint = f"   # codes : {codes}" if codes else ""
                lines.append(f"{_toml(o)} = {_toml(PLACEHOLDER_CODE)}{hint}")
        lines.append("")
    if rules is None:
        lines += ["# Régions et réformes : relancez avec --call appel.toml pour vérifier leurs options contre les listes de l'appel.", ""]
    lines += ["[personal_data]", "# Champs du formulaire qui contiennent des données personnelles (écartées à l'import) :",
              "labels = [" + ", ".join(_toml(h) for h in personal) + "]", ""]
    avis = exp.sheet("Avis")
    if avis is not None and avis.header is not None:
        lines += ["[reviews.avis]", "# Notes lues dans la réponse des experts, une ligne « Libellé : note » par sous-critère."]
        if rules is not None:
            for c in rules.criteria:
                for s in c.subcriteria:
                    lines.append(f"{c.name}_{s.name} = {_toml(s.label)}")
        else:
            lines.append("# impact_reform = \"Lien avec une réforme prioritaire\"   # À COMPLÉTER avec les sous-critères de l'appel")
        lines.append("")
    lines.append("# Autres colonnes du formulaire (non reprises) : " + " | ".join(h for h in form if h not in used and h not in personal))
    return "\n".join(lines) + "\n"

