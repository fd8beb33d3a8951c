"""Reading applications and reviews as a committee secretariat produces them; atomic writes.

Accepted files (DESIGN.md, ``io.py``):

* CSV with ``,``, ``;`` or tab separators, in UTF-8, UTF-8 with BOM or cp1252
  (Windows Excel "CSV (séparateur : point-virgule)"); a UTF-16 file (Excel's
  « Texte Unicode ») or a file mixing UTF-8 and Windows-1252 bytes is refused
  with one message naming the encoding (and the line of the first stray
  byte); the encoding read is kept (``RawTable.encoding``, the tables'
  ``attrs["encoding"]``, :attr:`Inputs.encodings`);
* rows numbered as a spreadsheet shows them (header = row 1, a cell holding
  a line break stays one row); when a quoted cell spans several lines of the
  text file, messages give both (« ligne 3 du tableur (ligne 4 du fichier
  texte) »); a quote left open is reported, never allowed to shift cells;
* control characters in cells: a vertical tab, form feed, lone carriage
  return or Unicode line separator (what Word writes for a manual line break)
  becomes a line break; any other (NUL, escape…) is refused naming the row
  and column;
* XLSX (first sheet, or the sheet named ``sheet``); a cell holding a formula
  saved without its computed value (a workbook written by a program that does
  not compute formulas) is reported (« formule sans valeur calculée »), never
  read as blank; a decimal of an XLSX cell is shown in messages with the
  decimal comma French Excel shows (``98000,4``);
* French or canonical headers (matching ignores case, accents and spacing);
* French numbers: decimal comma, thousands separated by an ordinary, no-break
  (U+00A0) or narrow no-break (U+202F) space, an optional ``€``; an amount in
  scientific notation (``1,23E+05``: what Excel shows in a narrow column, the
  exact amount is lost) is refused;
* day-first dates (``15/10/2021``, ``15/10/2021 14:30``), ISO 8601, or an
  Excel serial date (``44484`` = 15/10/2021, origin 1899-12-30);
* identifiers kept as text (``007`` stays ``007``);
* a text the tool's own writer neutralised against formulas (``'=HYPERLINK(…)``,
  :func:`ditp_model.inputs.tables.neutralise_formula`) is read without its
  ``'``, so ``import-ds``'s ``candidatures.csv`` reads back as imported.

Every problem of a file is gathered and raised together in one
:class:`~ditp_model.inputs.schema.InputError`; no row is dropped silently (fully
blank lines are skipped and counted in the table's ``attrs["blank_rows"]``).

Why this module is longer than 800 lines: the reading of a
spreadsheet is one chain — bytes and encoding, raw table with the rows
numbered as the spreadsheet shows them (and the XLSX formulas without a
value), header aliases, cell parsing (amounts, scores, dates, categories)
with a French message per cell and its hints (nearest known value, a decimal
comma in a comma file) — shared by the applications and the reviews, and its
conventions (listed above) are documented once, here.  The CSV writer and reader of the tables a person opens
already live in :mod:`ditp_model.inputs.tables`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io as _io
import math
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd

from ditp_model.inputs.call import CallRules, load_call_rules
from ditp_model.inputs.tables import csv_bytes, restore_formula
from ditp_model.inputs.schema import (
    APPLICATION_COLUMNS,
    EXPENSE_COLUMNS,
    LIST_SEPARATOR,
    MATURITY_LABELS_FR,
    ORG_TYPE_LABELS_FR,
    REVIEW_KEY_COLUMNS,
    Column,
    InputError,
    Problem,
    Suggester,
    date_problem_fr,
    normalise_header,
)

__all__ = [
    "RawTable",
    "Inputs",
    "read_raw_table",
    "parse_amount",
    "parse_typed_amount",
    "parse_score",
    "parse_date",
    "read_applications",
    "read_reviews",
    "category_lookup",
    "map_headers",
    "open_table",
    "parse_cells",
    "decode_text",
    "read_input_bytes",
    "cell_text",
    "clean_cell",
    "load_inputs",
    "sha256_file",
    "write_bytes_atomic",
    "write_text_atomic",
    "write_csv_atomic",
    "csv_text",
]


# --------------------------------------------------------------------------- raw reading


@dataclass(frozen=True)
class RawTable:
    """A table as written in its file, every cell as text.

    Attributes
    ----------
    path : str
        The file, as given.
    frame : pandas.DataFrame
        One column per header (as written), one row per non-blank data line,
        every cell a ``str`` ("" when blank).
    rows : tuple of int
        For each row of `frame`, its row number as a spreadsheet shows it
        (header = 1; a cell holding line breaks does not add rows).
    encoding : str
        ``utf-8``, ``utf-8-sig``, ``cp1252`` or ``xlsx``.
    separator : str
        CSV separator found, or ``""`` for XLSX.
    blank_rows : int
        Fully blank lines skipped.
    sha256 : str
        SHA-256 of the file's bytes.
    header_row : int
        Row of the header (1 unless blank lines precede it; those are
        counted in `blank_rows`).
    text_lines : tuple of int
        For each row of `frame`, the line of the text file where it starts
        (differs from `rows` after a quoted cell holding line breaks; equal
        for XLSX).
    formulas : dict
        XLSX cells holding a formula saved without its value (blank in
        `frame`): (row, header as written) -> the formula; reported by the
        readers (« formule sans valeur calculée »), never read as blank.
    """

    path: str
    frame: pd.DataFrame
    rows: tuple[int, ...]
    encoding: str
    separator: str
    blank_rows: int
    sha256: str
    header_row: int = 1
    text_lines: tuple[int, ...] = ()
    formulas: dict = field(default_factory=dict)

    def formula_problem(self, row: int, header: str) -> Problem | None:
        """The problem of a cell that holds a formula without its computed value (XLSX), or None."""
        formula = self.formulas.get((row, header))
        if formula is None:
            return None
        return Problem(self.path, row, header, formula,
                       "formule sans valeur calculée : le fichier a été enregistré par un programme qui ne calcule pas "
                       "les formules ; ouvrir et enregistrer le fichier dans Excel (ou LibreOffice), ou remplacer la "
                       "formule par sa valeur", "formula_without_value")


def sha256_file(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_input_bytes(path: str | Path) -> tuple[bytes, str]:
    """An input file's bytes and their SHA-256 (hex), read once.

    Raises
    ------
    InputError
        The file does not exist (« fichier introuvable »; code ``unreadable`` like every unreadable file)
        or cannot be read (French message with the system's reason).
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(Problem(str(path), None, None, None, f"fichier introuvable : {path} ; vérifier le chemin",
                                 "unreadable")) from None
    except IsADirectoryError:
        raise InputError(Problem(str(path), None, None, None, f"{path} est un dossier : indiquer un fichier", "unreadable")) from None
    except OSError as exc:
        raise InputError(Problem(str(path), None, None, None, f"fichier illisible : {exc.strerror}", "unreadable")) from None
    return raw, hashlib.sha256(raw).hexdigest()


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_SAVE_AS_UTF8 = "enregistrez le fichier en « CSV UTF-8 (délimité par des virgules) » depuis Excel ou LibreOffice"


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def decode_text(raw: bytes, path: str) -> tuple[str, str]:
    """Decode a text file's bytes: UTF-8 with BOM, UTF-8, else Windows-1252; returns (text, encoding).

    Raises
    ------
    InputError
        One problem (code ``encoding``) naming the encoding: UTF-16 or UTF-32
        (Excel's « Texte Unicode »: a BOM, or NUL bytes between the letters),
        a UTF-8 file with stray Windows-1252 bytes (mixed encodings: the line
        and byte of the first one), or bytes that are neither UTF-8 nor
        Windows-1252.  Never a cascade of errors on garbled cells.
    """
    for bom, name in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                      (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if raw.startswith(bom):
            raise InputError(Problem(path, None, None, None,
                                     f"fichier encodé en {name} (« Texte Unicode » d'Excel) : encodage non accepté ; "
                                     f"{_SAVE_AS_UTF8}", "encoding"))
    head = raw[:4096]
    if head and head.count(b"\x00") * 4 >= len(head):  # letters interleaved with NUL bytes: UTF-16 without BOM
        raise InputError(Problem(path, None, None, None,
                                 "fichier encodé en UTF-16 sans marque d'ordre (un octet nul entre les lettres) : "
                                 f"encodage non accepté ; {_SAVE_AS_UTF8}", "encoding"))
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            start = exc.start + 3
            raise InputError(Problem(path, None, None, None,
                                     f"fichier marqué UTF-8 (BOM) mais l'octet {raw[start]:#04x} ligne {_line_of(raw, start)} "
                                     "n'est pas de l'UTF-8 "
                                     f"(mélange d'encodages) ; {_SAVE_AS_UTF8}", "encoding")) from None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first = exc.start
    if _UTF8_MULTIBYTE.search(raw):
        # Valid UTF-8 accents elsewhere: the file is UTF-8 with stray Windows-1252 bytes (a cell pasted
        # from another file).  Reading it all as Windows-1252 would garble every accent: refuse once.
        stray = len(raw.decode("utf-8", errors="replace").split("\ufffd")) - 1
        shown = raw[first:first + 1].decode("cp1252", errors="replace")
        raise InputError(Problem(path, None, None, None,
                                 f"mélange d'encodages : fichier en UTF-8 sauf {stray} octet(s) d'un autre encodage, le premier "
                                 f"ligne {_line_of(raw, first)} (octet {raw[first]:#04x}, « {shown} » en Windows-1252) ; "
                                 f"corrigez ce caractère ou {_SAVE_AS_UTF8}", "encoding"))
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise InputError(Problem(path, None, None, None,
                                 f"encodage non reconnu : ni UTF-8 ni Windows-1252 (octet {raw[exc.start]:#04x} "
                                 f"ligne {_line_of(raw, exc.start)}) ; {_SAVE_AS_UTF8}", "encoding")) from None


def cell_text(v) -> str:
    """A spreadsheet cell as text: numbers without a trailing ``.0``, dates ISO 8601, blank as ``""``."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


#: What Word, Excel or a paste leaves for a line break inside a cell: read as a line break.
_LINE_BREAK_RE = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
#: Other control characters (NUL, escape, C1 controls, non-characters): refused, they break every output.
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")


def _visible(text: str, n: int = 80) -> str:
    """A cell shown in a message: control characters as ``\\x00``, line breaks as ``⏎``, cut at `n` characters."""
    shown = _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text).replace("\n", "⏎")
    return shown if len(shown) <= n else shown[: n - 1] + "…"


def clean_cell(text: str) -> str:
    """A cell's text with Word / Excel line breaks (vertical tab, form feed, lone CR, U+2028) made ``\\n``.

    Raises
    ------
    ValueError
        Another control character (NUL, escape…), named with its code point (French).
    """
    text = _LINE_BREAK_RE.sub("\n", text)
    bad = _CONTROL_RE.search(text)
    if bad:
        c = ord(bad.group())
        name = {0: " (NUL, octet nul)", 0x1b: " (échappement)", 0x7f: " (suppression)"}.get(c, "")
        raise ValueError(f"caractère de contrôle U+{c:04X}{name} dans la cellule : invisible à l'écran, il empêche "
                         "d'écrire les résultats ; supprimez-le (ou retapez la cellule)")
    return text


def _locate(raw: "RawTable", problems: list[Problem]) -> list[Problem]:
    """Add the text file's line to the problems of `raw` whose spreadsheet row differs from it."""
    lines = dict(zip(raw.rows, raw.text_lines)) if raw.text_lines else {}
    return [replace(p, text_line=lines[p.row]) if p.file == raw.path and p.text_line is None and p.row in lines
            and lines[p.row] != p.row else p for p in problems]


def _formulas_without_value(raw: bytes, sheet: str | None, blanks: set[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """The blank cells of an XLSX sheet that hold a formula: (row, column index from 0) -> the formula.

    A workbook written by a program that does not compute formulas (a script, a web export) stores
    ``=SUM(M3:P3)`` without its value: read for its values, the cell is blank.  Only when the file
    holds formulas at all (a ``<f>`` element in a sheet) is it read a second time, for them.
    """
    import zipfile

    if not blanks:
        return {}
    try:
        with zipfile.ZipFile(_io.BytesIO(raw)) as z:
            if not any(re.search(rb"<(?:\w+:)?f[ >]", z.read(n)) for n in z.namelist()
                       if n.startswith("xl/worksheets/") and n.endswith(".xml")):
                return {}
    except (zipfile.BadZipFile, KeyError, OSError):
        return {}
    import openpyxl

    wb = openpyxl.load_workbook(_io.BytesIO(raw), read_only=True, data_only=False)
    try:
        ws = wb[sheet] if sheet else wb.worksheets[0]
        found = {}
        for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
            for j, v in enumerate(row):
                if (i, j) in blanks and isinstance(v, str) and v.startswith("="):
                    found[(i, j)] = v
        return found
    finally:
        wb.close()


def read_raw_table(path: str | Path, sheet: str | None = None) -> RawTable:
    """Read a CSV or XLSX file into text cells, keeping each row's number.

    Rows are numbered as a spreadsheet shows them (header = 1, blank lines
    counted, a quoted cell holding line breaks stays one row); for CSV files,
    :attr:`RawTable.text_lines` gives the line of the text file where each row
    starts, and problems name both when they differ.

    Parameters
    ----------
    path : str or Path
        ``.csv`` / ``.txt`` (any accepted encoding and separator) or ``.xlsx``.
    sheet : str, optional
        XLSX sheet name; default the first sheet.

    Returns
    -------
    RawTable

    Raises
    ------
    InputError
        Unreadable file, unknown or mixed encoding, empty file, duplicated or
        blank headers, a quote left open (``unbalanced_quote``), a row with
        more cells than headers, a control character in a cell.
    """
    p = Path(path)
    name = str(path)
    raw, digest = read_input_bytes(path)
    formulas: dict[tuple[int, int], str] = {}
    # (spreadsheet row, line of the text file where it starts, cells)
    records: list[tuple[int, int, list[str]]] = []
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        try:
            wb = openpyxl.load_workbook(_io.BytesIO(raw), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types on a broken file
            raise InputError(Problem(name, None, None, None, f"classeur Excel illisible : {exc}", "unreadable")) from None
        try:
            ws = wb[sheet] if sheet else wb.worksheets[0]
        except KeyError:
            raise InputError(Problem(name, None, None, sheet, f"feuille absente ; feuilles : {', '.join(wb.sheetnames)}", "sheet")) from None
        blanks: set[tuple[int, int]] = set()
        for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
            records.append((i, i, [cell_text(v) for v in row]))
            blanks.update((i, j) for j, v in enumerate(row) if v is None)
        wb.close()
        formulas = _formulas_without_value(raw, sheet, blanks)
        encoding, sep = "xlsx", ""
    else:
        text, encoding = decode_text(raw, name)
        if "\n" in text:
            # Lines end with LF or CRLF: a lone CR is a line break typed inside a cell (and often left
            # unquoted), not the end of a row; read it as one (clean_cell makes it "\n").
            text = re.sub("\r(?!\n)", "\u2028", text)
        first = next((ln for ln in text.splitlines() if ln.strip()), "")  # the header: first non-blank line
        sep = max([";", ",", "\t"], key=lambda s: first.count(s))
        reader = csv.reader(_io.StringIO(text, newline=""), delimiter=sep, strict=True)
        start, number = 1, 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error:
                # A quote opened and never closed (the rest of the file would be one cell), or text
                # after a closing quote: either way the cells of the row would shift.  Refuse.
                bad = text.splitlines()[start - 1] if start <= len(text.splitlines()) else ""
                raise InputError(Problem(name, number + 1, None, _visible(bad),
                                         "guillemet non fermé ou mal placé : la ligne ne peut pas être découpée en cellules "
                                         "sans décaler les suivantes ; fermer le guillemet, ou le doubler (\"\") à l'intérieur "
                                         "d'une cellule entre guillemets", "unbalanced_quote", text_line=start)) from None
            number += 1
            records.append((number, start, fields))
            start = reader.line_num + 1
    # Blank lines above the header are skipped (and counted), not read as an empty header.
    leading = 0
    while leading < len(records) and not any(f.strip() for f in records[leading][2]):
        leading += 1
    records = records[leading:]
    if not records:
        raise InputError(Problem(name, None, None, None, "fichier vide (aucune ligne d'en-tête)", "empty"))
    header_line, header_text_line, header = records[0]
    while header and not header[-1].strip():
        header = header[:-1]
    problems = []
    seen: dict[str, int] = {}
    for j, h in enumerate(header):
        if not h.strip():
            problems.append(Problem(name, header_line, f"n° {j + 1}", "", "en-tête vide : nommez la colonne ou supprimez-la", "blank_header"))
        try:
            clean_cell(h)
        except ValueError as exc:
            problems.append(Problem(name, header_line, f"n° {j + 1}", _visible(h), str(exc), "control_character",
                                    text_line=header_text_line))
        key = h.strip()
        if key in seen:
            problems.append(Problem(name, header_line, key, key, f"en-tête en double (colonnes {seen[key] + 1} et {j + 1})", "duplicate_header"))
        seen[key] = j
    if problems:
        raise InputError(problems)
    width = len(header)
    data, rows, text_lines, blank = [], [], [], leading
    formula_cells: dict[tuple[int, str], str] = {}
    for line, text_line, fields in records[1:]:
        if not any(f.strip() for f in fields):
            blank += 1
            continue
        loc = {"text_line": text_line} if text_line != line else {}
        swallowed = None
        if len(fields) != width:
            swallowed = next((j for j, f in enumerate(fields[:width - 1]) if "\n" in f
                              and f.split("\n", 1)[0].count(sep) >= width - j - 1), None)
        if swallowed is not None:
            # A quote opened in this cell was closed lines later: the rest of the row (all its
            # separators) went into one cell, and the row has the wrong number of cells.  (A cell
            # holding a line break and every separator a row has left is no real text.)
            problems.append(Problem(name, line, header[swallowed].strip(), _visible(fields[swallowed]),
                                    "guillemet non fermé : la cellule avale la fin de la ligne et les lignes suivantes "
                                    "(les cellules seraient décalées) ; fermer le guillemet, ou le doubler (\"\") à l'intérieur "
                                    "d'une cellule entre guillemets", "unbalanced_quote", **loc))
            continue
        if len(fields) > width and any(f.strip() for f in fields[width:]):
            problems.append(Problem(name, line, None, LIST_SEPARATOR.join(fields[width:]),
                                    f"la ligne a {len(fields)} cellules pour {width} colonnes (séparateur ou guillemets ?)"
                                    f"{_decimal_comma_hint(fields, sep)}", "extra_cells", **loc))
            continue
        fields = (fields + [""] * width)[:width]
        cells = []
        for j, (h, f) in enumerate(zip(header, fields)):
            if (line, j) in formulas:
                formula_cells[(line, h.strip())] = formulas[(line, j)]
            try:
                cells.append(restore_formula(clean_cell(f).strip()))
            except ValueError as exc:
                problems.append(Problem(name, line, h.strip(), _visible(f), str(exc), "control_character", **loc))
                cells.append("")
        data.append(cells)
        rows.append(line)
        text_lines.append(text_line)
    if problems:
        raise InputError(problems)
    frame = pd.DataFrame(data, columns=[h.strip() for h in header], dtype=object)
    return RawTable(name, frame, tuple(rows), encoding, sep, blank, digest, header_line, tuple(text_lines), formula_cells)


_XLSX_DECIMAL_RE = re.compile(r"-?\d+\.\d+")


def as_seen(raw: "RawTable", text: str) -> str:
    """A cell's text as a person sees it in the file, for a message: a decimal number of an XLSX cell (read as
    ``98000.4``) with the decimal comma French Excel shows (``98000,4``); any other text unchanged."""
    return text.replace(".", ",") if raw.encoding == "xlsx" and _XLSX_DECIMAL_RE.fullmatch(text) else text


def _decimal_comma_hint(fields: list[str], sep: str) -> str:
    """In a file separated by commas, two neighbouring cells that read as one French decimal number (« 3 » then
    « 5 »: « 3,5 » written without quotes): the hint, naming them; ``""`` otherwise."""
    if sep != ",":
        return ""
    for left, right in zip(fields, fields[1:]):
        if re.fullmatch(r"\s*-?\d+", left) and re.fullmatch(r"\d+\s*", right):
            number = f"{left.strip()},{right.strip()}"
            return (f" ; une note écrite {number} dans un fichier séparé par des virgules ? l'écrire {number.replace(',', '.')} "
                    f"ou entre guillemets (\"{number}\"), ou enregistrer le fichier avec le séparateur point-virgule")
    return ""


# --------------------------------------------------------------------------- cell parsers

_SPACE_RE = re.compile(r"[\s\u00a0\u202f\u2009\u2007]")
_CURRENCY_RE = re.compile(r"^(€|eur)\s*|\s*(€|eur|euros)$", re.IGNORECASE)
_DOT_THOUSANDS = re.compile(r"^-?\d{1,3}(\.\d{3})+$")
_COMMA_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+$")
_SCIENTIFIC_RE = re.compile(r"^[-+]?(\d[\d.,]*|[.,]\d+)[eE][-+]?\d+$")


def _to_decimal(text: str) -> Decimal:
    t = _CURRENCY_RE.sub("", text.strip())
    t = _SPACE_RE.sub("", t)
    if "," in t:
        if t.count(",") > 1:
            raise ValueError("nombre mal écrit (plusieurs virgules)")
        t = t.replace(".", "").replace(",", ".")
    elif _DOT_THOUSANDS.match(t):
        t = t.replace(".", "")
    try:
        d = Decimal(t)
    except InvalidOperation:
        raise ValueError("n'est pas un nombre") from None
    if not d.is_finite():
        raise ValueError("n'est pas un nombre fini")
    return d


def parse_amount(text: str) -> int:
    """Parse an amount in whole euros written the French or the canonical way.

    ``"120 000 €"`` (ordinary, U+00A0 or U+202F spaces), ``"120000"``,
    ``"120 000,00"``, ``"120.000"`` all give ``120000``.  The one parser of
    amounts: cells of every table and the command line's ``--envelope``,
    ``--committed``, ``--reserve``.

    Raises
    ------
    ValueError
        With a French reason: scientific notation (``1,23E+05``, ``1e9``: the
        exact amount is lost), not a number, negative, not whole euros, or
        ambiguous (``"120,000"``: a comma followed by exactly three digits
        could be a decimal comma or an English thousands separator).
    """
    if _SCIENTIFIC_RE.match(_SPACE_RE.sub("", _CURRENCY_RE.sub("", text.strip()))):
        # "1,23E+05": what Excel shows of 123 456 in a narrow column, and writes so into a CSV.
        raise ValueError("montant en notation scientifique : le montant exact est perdu (Excel l'affiche ainsi dans une "
                         "colonne trop étroite) ; élargir la colonne ou lui donner le format « Nombre » avant "
                         "d'enregistrer, ou écrire le montant en chiffres, par ex. 123 456 €")
    if _COMMA_THOUSANDS.match(_SPACE_RE.sub("", _CURRENCY_RE.sub("", text.strip()))):
        # "120,000": 120 € with a French decimal comma, or 120 000 € written the English way?
        # Euros have two decimals, never three: refuse rather than read 120 €.
        raise ValueError("montant ambigu (virgule suivie de trois chiffres : séparateur de milliers à l'anglaise ?) : "
                         "écrire 120 000 € ou 120000")
    try:
        d = _to_decimal(text)
    except ValueError as exc:
        raise ValueError(f"{exc} : montant attendu en euros entiers, par ex. 120 000 €") from None
    if d < 0:
        raise ValueError("montant négatif")
    if d != d.to_integral_value():
        raise ValueError("montant avec des centimes : les montants sont en euros entiers")
    return int(d)


#: Multipliers written after an amount a person types: « 2,5 M€ », « 300 k€ », « 2,5 millions d'euros ».
_UNIT_RE = re.compile(r"^(?P<number>.*?)\s*(?P<unit>m|md|k|millions?|milliards?|mille)\s*(?:€|eur|euros?|d['’]\s*euros?)?\s*$",
                      re.IGNORECASE)
_MULTIPLIERS = {"k": 1_000, "mille": 1_000, "m": 1_000_000, "million": 1_000_000, "millions": 1_000_000,
                "md": 1_000_000_000, "milliard": 1_000_000_000, "milliards": 1_000_000_000}
_DIGITS_RE = re.compile(r"^[+-]?(\d+|\d{1,3}(?:[ \u00a0\u202f]\d{3})+)(?:[.,]\d+)?$")


def parse_typed_amount(text: str) -> int:
    """An amount in whole euros as a person types it: the panel's envelope field and the command line's
    ``--envelope``, ``--committed`` and ``--reserve`` (one parser for both).

    Accepted: everything :func:`parse_amount` accepts (``"2 500 000"``, ``"2 500 000 €"``, ``"2500000"``,
    ``"2 500 000,00 €"``), and a number followed by a multiplier: ``"2,5 M€"``, ``"2.5 M"``, ``"2,5M"``,
    ``"2,5 millions d'euros"``, ``"300 k€"``, ``"1,2 Md€"`` (computed exactly, in decimal).  Cells of the
    input tables stay with :func:`parse_amount`: a spreadsheet never writes « M€ » in a number.

    Returns
    -------
    int
        Whole euros, ≥ 0.

    Raises
    ------
    ValueError
        The reason in French, without the text (the caller quotes it): scientific notation (``1e9``:
        the exact amount is lost), negative, not whole euros (« 2,5555555 M€ », « 12,5 € »),
        ambiguous (« 120,000 »), not an amount.
    """
    raw = (text or "").strip()
    m = _UNIT_RE.match(raw)
    if m is None:
        return parse_amount(raw)
    number, multiplier = m.group("number").strip(), _MULTIPLIERS[m.group("unit").lower()]
    if not _DIGITS_RE.match(number):
        raise ValueError("n'est pas un montant : écrire par ex. 2,5 M€, 300 k€ ou 2 500 000 €")
    try:
        d = Decimal(re.sub(r"[ \u00a0\u202f]", "", number).replace(",", ".")) * multiplier
    except InvalidOperation:
        raise ValueError("n'est pas un montant : écrire par ex. 2,5 M€ ou 2 500 000 €") from None
    if d < 0:
        raise ValueError("montant négatif")
    if d != d.to_integral_value():
        raise ValueError("montant avec des centimes : les montants sont en euros entiers")
    return int(d)


def parse_score(text: str) -> float:
    """Parse a review score (``"3,5"`` or ``"3.5"``); blank gives NaN.

    Raises
    ------
    ValueError
        Not a number.
    """
    if not text.strip():
        return math.nan
    try:
        return float(_to_decimal(text))
    except ValueError:
        raise ValueError("n'est pas une note (nombre attendu, par ex. 3,5)") from None


_DATE_FORMATS = (
    "%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d-%m-%Y", "%d.%m.%Y",
    "%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S",
)


#: Excel's serial dates count days from 1899-12-30 (Excel's 1900 leap-year bug included).
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
#: Serial numbers read as dates: 1 January 1950 to 31 December 2099 (a bare number outside is not a date).
_SERIAL_RANGE = (18264, 73415)
_SERIAL_RE = re.compile(r"^\d{5}([.,]\d+)?$")


def parse_date(text: str) -> pd.Timestamp:
    """Parse a day-first or ISO 8601 date or date-time (naive, local time), or an Excel serial date.

    An Excel date cell formatted as a number shows its serial number
    (``44484`` is 15/10/2021, ``44484,5`` noon that day; origin 1899-12-30);
    serials from 1950 to 2099 are converted, to the second.

    Raises
    ------
    ValueError
        Not one of the accepted forms (``15/10/2021``, ``15/10/2021 14:30``,
        ``2021-10-15``, ``2021-10-15T14:30:00``, ``44484``); a day that does not exist
        (``31/02/2021``) is named by :func:`ditp_model.inputs.schema.date_problem_fr`
        (« date impossible : le 31 février 2021 n'existe pas … »).
    """
    t = text.strip()
    if _SERIAL_RE.match(t):
        serial = Decimal(t.replace(",", "."))
        if _SERIAL_RANGE[0] <= serial <= _SERIAL_RANGE[1]:
            seconds = int((serial * 86400).to_integral_value())
            return pd.Timestamp(EXCEL_EPOCH + dt.timedelta(seconds=seconds))
        raise ValueError(f"nombre {t} : pris pour une date Excel (numéro de série), il tomberait hors de 1950–2099 ; "
                         "écrire JJ/MM/AAAA (par ex. 15/10/2021) ou AAAA-MM-JJ")
    for fmt in _DATE_FORMATS:
        try:
            return pd.Timestamp(dt.datetime.strptime(t, fmt))
        except ValueError:
            continue
    impossible = date_problem_fr(t)  # written as a date, but no such day: say which day does not exist
    if impossible:
        raise ValueError(impossible)
    raise ValueError("date non reconnue : écrire JJ/MM/AAAA (par ex. 15/10/2021) ou AAAA-MM-JJ")


def _aliases(labels: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    out = {normalise_header(k): k for k in labels}
    for k, lab in labels.items():
        out[normalise_header(lab)] = k
    for alias, k in extra.items():
        out[normalise_header(alias)] = k
    return out


_ORG_ALIASES = _aliases(ORG_TYPE_LABELS_FR, {
    "administration centrale": "ministry", "ministere": "ministry", "secretariat general": "ministry",
    "operateur": "state_operator", "operateur de l'etat": "state_operator",
    "prefecture": "deconcentrated_service", "service deconcentre": "deconcentrated_service",
    "administration territoriale de l'etat": "deconcentrated_service",
    "collectivite": "local_authority", "commune": "local_authority", "departement": "local_authority",
    "entreprise": "private_company", "entreprise privee": "private_company",
})
_MATURITY_ALIASES = _aliases(MATURITY_LABELS_FR, {"experimentation": "testing", "deploiement": "deployment"})


# --------------------------------------------------------------------------- canonical tables


def map_headers(raw: RawTable, columns: tuple[Column, ...], problems: list[Problem]) -> dict[str, str]:
    """Canonical name -> header as written, for the columns found (canonical or French headers, folded).

    Appends to `problems` a missing required column or two headers naming the same column.
    """
    lookup: dict[str, str] = {}
    for col in columns:
        for h in (col.name, *col.headers_fr):
            lookup[normalise_header(h)] = col.name
    found: dict[str, str] = {}
    for header in raw.frame.columns:
        canon = lookup.get(normalise_header(header))
        if canon is None:
            continue
        if canon in found:
            problems.append(Problem(raw.path, raw.header_row, header, header,
                                    f"deux colonnes désignent « {canon} » (« {found[canon]} » et « {header} ») : n'en garder qu'une",
                                    "ambiguous_header"))
            continue
        found[canon] = header
    for col in columns:
        if col.required and col.name not in found:
            accepted = ", ".join(f"« {h} »" for h in (col.name, *col.headers_fr[:2]))
            problems.append(Problem(raw.path, raw.header_row, col.name, None,
                                    f"colonne obligatoire absente (en-têtes acceptés : {accepted})", "missing_column"))
    return found


def open_table(path: str | Path, columns: tuple[Column, ...], nothing: str, sheet: str | None = None) -> tuple[RawTable, dict[str, str]]:
    """Read a table, find its columns, and refuse a header-only file: the opening of every reader.

    Parameters
    ----------
    path, sheet : see :func:`read_raw_table`.
    columns : tuple of Column
        The schema columns to find (:func:`map_headers`).
    nothing : str
        What a header-only file lacks, e.g. ``"aucune candidature"`` (French).

    Returns
    -------
    (RawTable, dict)
        The table and canonical name -> header found.

    Raises
    ------
    InputError
        Missing required columns (all of them at once), or no data row.
    """
    raw = read_raw_table(path, sheet)
    problems: list[Problem] = []
    found = map_headers(raw, columns, problems)
    if problems:
        raise InputError(_locate(raw, problems))
    if raw.frame.empty:
        raise InputError(Problem(raw.path, None, None, None, f"{nothing} : le fichier n'a que sa ligne d'en-tête", "no_rows"))
    return raw, found


def category_lookup(col: Column, rules: CallRules) -> tuple[dict[str, str], tuple[str, ...]]:
    """Accepted spellings of a category column: (folded text -> canonical value, canonical values).

    Org types and maturity accept their code, French label and aliases; regions
    and priority reforms the call's lists.  Matching folds case, accents and spaces.
    """
    if col.name in ("lead_org_type", "partner_types"):
        return _ORG_ALIASES, tuple(ORG_TYPE_LABELS_FR)
    if col.name == "maturity":
        return _MATURITY_ALIASES, tuple(MATURITY_LABELS_FR)
    if col.name in ("region", "regions_covered"):
        vals = rules.lists.regions
    elif col.name == "priority_reform":
        vals = rules.lists.priority_reforms
    else:  # pragma: no cover - every category column is listed above
        raise KeyError(col.name)
    return {normalise_header(v): v for v in vals}, vals


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in re.split(r"[;|\n]", text) if x.strip())


def parse_cells(raw: RawTable, columns: tuple[Column, ...], found: dict[str, str], problems: list[Problem],
                lookups: dict[str, tuple[dict[str, str], str, str]] | None = None) -> dict[str, list]:
    """Parse every cell of a table by its column's kind, gathering the problems.

    Parameters
    ----------
    raw : RawTable
    columns : tuple of Column
        The schema (amounts, dates, categories, lists, text).
    found : dict
        Canonical name -> header as written (:func:`map_headers`); an absent
        optional column reads as blank.
    problems : list of Problem
        Appended to: blank required cells (``missing_value``) and unreadable
        values (``bad_<kind>``), naming file, line, column and value.
    lookups : dict, optional
        For category and list columns: name -> (folded text -> canonical value,
        allowed values as shown in the message, French label of an unknown value).

    Returns
    -------
    dict
        Column name -> parsed values in row order: ``int`` euros, ``Timestamp``,
        canonical codes, tuples for lists, ``str``; a blank amount is ``None``
        (not 0, so that it does not also break a sum check), a blank date
        ``NaT``, a blank list ``()``; an unreadable value ``None``.
    """
    lookups = lookups or {}
    n = len(raw.frame)
    out: dict[str, list] = {}
    for col in columns:
        header = found.get(col.name)
        cells = raw.frame[header].tolist() if header else [""] * n
        shown = header or col.name
        lookup = lookups.get(col.name)
        suggest = Suggester(dict.fromkeys(lookup[0].values()), fold=normalise_header) if lookup is not None else None
        values: list = []
        for text, line in zip(cells, raw.rows):
            formula = raw.formula_problem(line, header) if header and not text else None
            if formula is not None:
                problems.append(formula)
                values.append(None)
                continue
            if not text:
                if col.required:
                    problems.append(Problem(raw.path, line, shown, "", "valeur obligatoire manquante", "missing_value"))
                values.append(None if col.kind == "amount" else (() if col.kind == "list" else ("" if col.kind != "date" else pd.NaT)))
                continue
            try:
                if col.kind == "amount":
                    values.append(parse_amount(text))
                elif col.kind == "date":
                    values.append(parse_date(text))
                elif col.kind == "category" and lookup is not None:
                    code = lookup[0].get(normalise_header(text))
                    if code is None:
                        raise ValueError(f"{lookup[2]} ; valeurs admises : {lookup[1]}{suggest(text)}")
                    values.append(code)
                elif col.kind == "list":
                    items = _split_list(text)
                    if lookup is not None:
                        bad = [x for x in items if normalise_header(x) not in lookup[0]]
                        if bad:
                            raise ValueError(f"valeur(s) inconnue(s) {', '.join(bad)} ; valeurs admises : {lookup[1]}"
                                             f"{''.join(suggest(x) for x in bad)}")
                        items = tuple(lookup[0][normalise_header(x)] for x in items)
                    values.append(items)
                else:
                    values.append(text)
            except ValueError as exc:
                problems.append(Problem(raw.path, line, shown, as_seen(raw, text), str(exc), f"bad_{col.kind}"))
                values.append(None)
        out[col.name] = values
    return out


def read_applications(path: str | Path, rules: CallRules, *, sheet: str | None = None) -> pd.DataFrame:
    """Read and validate the applications table.

    Parameters
    ----------
    path : str or Path
        CSV or XLSX file, one row per application (see ``data/README.md``).
    rules : CallRules
        Gives the accepted regions and priority reforms.
    sheet : str, optional
        XLSX sheet name.

    Returns
    -------
    pandas.DataFrame
        One row per application, in file order, columns of
        :data:`~ditp_model.inputs.schema.APPLICATION_COLUMNS` (ids and text as
        ``str``; ``partners``, ``partner_types``, ``regions_covered`` as tuples
        of ``str``; amounts as ``int64`` euros; ``submitted_at`` as
        ``datetime64``) plus ``source_row`` (line in the file).  ``attrs``
        holds ``path``, ``sha256``, ``blank_rows``, ``encoding``.

    Raises
    ------
    InputError
        All problems of the file at once: missing columns, blank required
        cells, duplicated ids, non-numeric / negative / fractional amounts, an
        expense breakdown that does not add up to the request, partner types
        not matching partners, unknown categories, bad dates.
    """
    raw, found = open_table(path, APPLICATION_COLUMNS, "aucune candidature", sheet)
    problems: list[Problem] = []
    lookups = {}
    for col in APPLICATION_COLUMNS:
        if col.kind in ("category", "list") and col.name != "partners":
            aliases, allowed = category_lookup(col, rules)
            lookups[col.name] = (aliases, ", ".join(allowed), "valeur inconnue")
    out = parse_cells(raw, APPLICATION_COLUMNS, found, problems, lookups)
    frame = pd.DataFrame(out)
    frame["source_row"] = list(raw.rows)
    # Row-level rules.
    dup = frame["application_id"].duplicated(keep="first") & (frame["application_id"] != "")
    first_row = frame.drop_duplicates("application_id").set_index("application_id")["source_row"]
    for i in frame.index[dup]:
        aid = frame.at[i, "application_id"]
        problems.append(Problem(raw.path, int(frame.at[i, "source_row"]), found["application_id"], aid,
                                f"identifiant en double (déjà utilisé ligne {first_row[aid]})", "duplicate_id"))
    # Cross-column rules read the parsed Python values (``out``), not the frame, where a
    # None (blank or unreadable amount) has become NaN and would fail the sum check too.
    for i, line in enumerate(raw.rows):
        partners, types = out["partners"][i], out["partner_types"][i]
        if partners is not None and types is not None and len(partners) != len(types):
            problems.append(Problem(raw.path, line, found.get("partner_types", "partner_types"), LIST_SEPARATOR.join(types),
                                    f"{len(types)} type(s) pour {len(partners)} partenaire(s) : un type par partenaire, dans le même ordre",
                                    "partner_types_count"))
        amounts = [out[c][i] for c in EXPENSE_COLUMNS]
        req = out["requested_eur"][i]
        if req is not None and None not in amounts and sum(amounts) != req:
            from ditp_model.french import format_eur

            problems.append(Problem(raw.path, line, found.get("requested_eur"), req,
                                    f"la ventilation des dépenses ({' + '.join(format_eur(a) for a in amounts)} = "
                                    f"{format_eur(sum(amounts))}) ne fait pas le montant demandé ({format_eur(req)})",
                                    "expense_sum"))
    if problems:
        raise InputError(_locate(raw, problems))
    for c in APPLICATION_COLUMNS:
        if c.kind == "amount":
            frame[c.name] = frame[c.name].astype("int64")
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"])
    frame.attrs.update(path=raw.path, sha256=raw.sha256, blank_rows=raw.blank_rows, encoding=raw.encoding)
    return frame


def read_reviews(path: str | Path, rules: CallRules, application_ids, *, sheet: str | None = None) -> pd.DataFrame:
    """Read and validate the reviews table.

    Parameters
    ----------
    path : str or Path
        CSV or XLSX, one row per (application, reviewer): ``application_id``,
        ``reviewer_id`` and one score column per sub-criterion of the call
        (``<criterion>_<subcriterion>``, e.g. ``impact_reform``).
    rules : CallRules
        Gives the score columns and the scale.
    application_ids : iterable of str or None
        Known applications; a review of another id is an error.  ``None``
        when they cannot be known (unreadable applications file): the check
        is then skipped rather than reporting every review.

    Returns
    -------
    pandas.DataFrame
        ``application_id``, ``reviewer_id`` (str), score columns (float,
        points on the call's scale, NaN when blank), ``source_row``.

    Raises
    ------
    InputError
        Missing columns, blank ids, unknown applications, a reviewer reviewing
        the same application twice, non-numeric scores, scores outside the scale.
    """
    score_cols = tuple(Column(c, "score", "points", required=True) for c in rules.review_columns)
    raw, found = open_table(path, REVIEW_KEY_COLUMNS + score_cols, "aucune évaluation", sheet)
    problems: list[Problem] = []
    known = None if application_ids is None else set(application_ids)
    suggest = Suggester(sorted(known)) if known is not None else None
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    out: dict[str, list] = {"application_id": [], "reviewer_id": []}
    for key in ("application_id", "reviewer_id"):
        for text, line in zip(raw.frame[found[key]], raw.rows):
            if not text:
                problems.append(raw.formula_problem(line, found[key])
                                or Problem(raw.path, line, found[key], "", "valeur obligatoire manquante", "missing_value"))
            elif key == "application_id" and known is not None and text not in known:
                problems.append(Problem(raw.path, line, found[key], text, "évaluation d'un dossier inconnu (absent du fichier "
                                        f"des candidatures){suggest(text)}", "unknown_application"))
            out[key].append(text)
    for col in rules.review_columns:
        vals = []
        for text, line in zip(raw.frame[found[col]], raw.rows):
            formula = raw.formula_problem(line, found[col]) if not text else None
            if formula is not None:  # not a blank score (« non notée »): a value the file lost
                problems.append(formula)
            try:
                v = parse_score(text)
            except ValueError as exc:
                problems.append(Problem(raw.path, line, found[col], as_seen(raw, text), str(exc), "bad_score"))
                v = math.nan
            if not math.isnan(v) and not lo <= v <= hi:
                problems.append(Problem(raw.path, line, found[col], as_seen(raw, text), f"note hors de l'échelle {lo:g} à {hi:g}",
                                        "score_out_of_scale"))
            vals.append(v)
        out[col] = vals
    frame = pd.DataFrame(out)
    frame["source_row"] = list(raw.rows)
    dup = frame.duplicated(["application_id", "reviewer_id"], keep="first")
    first_row = frame.drop_duplicates(["application_id", "reviewer_id"]).set_index(["application_id", "reviewer_id"])["source_row"]
    for i in frame.index[dup]:
        pair = (frame.at[i, "application_id"], frame.at[i, "reviewer_id"])
        problems.append(Problem(raw.path, int(frame.at[i, "source_row"]), found["reviewer_id"], frame.at[i, "reviewer_id"],
                                f"cet évaluateur a déjà noté le dossier {pair[0]} ligne {int(first_row[pair])} : n'en garder "
                                "qu'une ligne", "duplicate_review"))
    if problems:
        raise InputError(_locate(raw, problems))
    frame[list(rules.review_columns)] = frame[list(rules.review_columns)].astype("float64")
    frame.attrs.update(path=raw.path, sha256=raw.sha256, blank_rows=raw.blank_rows, encoding=raw.encoding)
    return frame


@dataclass(frozen=True)
class Inputs:
    """Everything read from disk for one run.

    Attributes
    ----------
    rules : CallRules
    applications : pandas.DataFrame
        See :func:`read_applications`.
    reviews : pandas.DataFrame
        See :func:`read_reviews`.
    files : dict
        Input path -> SHA-256 of its bytes (rules, applications, reviews).
    encodings : dict
        Input path -> encoding it was read with (``utf-8``, ``utf-8-sig``,
        ``cp1252``, ``xlsx``; the rules are always UTF-8).
    conflicts : pandas.DataFrame or None
        Declarations of conflicts of interest
        (:func:`ditp_model.inputs.conflicts.read_conflicts`), None when no
        declarations file was given; its path is then the fourth entry of `files`.
    """

    rules: CallRules
    applications: pd.DataFrame
    reviews: pd.DataFrame
    files: dict
    encodings: dict = field(default_factory=dict)
    conflicts: pd.DataFrame | None = None


def load_inputs(call: str | Path, applications: str | Path, reviews: str | Path) -> Inputs:
    """Load the call rules, applications and reviews, reporting problems of all files together.

    With a declarations file of conflicts of interest:
    :func:`ditp_model.inputs.conflicts.load_inputs_with_conflicts`.

    Raises
    ------
    InputError
        Every problem of every file (reviews are checked against the
        application ids even when the applications file has problems of its own).
    """
    rules = load_call_rules(call)
    problems: list[Problem] = []
    apps = None
    try:
        apps = read_applications(applications, rules)
        ids = apps["application_id"].tolist()
    except InputError as exc:
        problems += exc.problems
        # Ids as written, for the reviews check; None when they cannot be read, so
        # that an unreadable applications file does not flag every review as unknown.
        try:
            raw = read_raw_table(applications)
            col = map_headers(raw, APPLICATION_COLUMNS[:1], [])
            ids = (raw.frame[col["application_id"]].tolist() or None) if col else None
        except InputError:
            ids = None
    revs = None
    try:
        revs = read_reviews(reviews, rules, ids)
    except InputError as exc:
        problems += exc.problems
    if problems:
        raise InputError(problems)
    files = {str(call): sha256_file(call), str(applications): apps.attrs["sha256"], str(reviews): revs.attrs["sha256"]}
    encodings = {str(call): "utf-8", str(applications): apps.attrs["encoding"], str(reviews): revs.attrs["encoding"]}
    return Inputs(rules, apps, revs, files, encodings)


# --------------------------------------------------------------------------- atomic writes

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically: a temporary file in the same folder, then ``os.replace``.

    A crash or error leaves either the old file or the new one, never a half-written file.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600: give the file the usual permissions
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def csv_text(frame: pd.DataFrame) -> str:
    """A table as the text of a CSV file French Excel opens, BOM included (:func:`ditp_model.inputs.tables.csv_bytes`).

    ``csv_text(t).encode("utf-8") == csv_bytes(t)``: the one writer, for callers that assemble text.
    """
    return csv_bytes(frame).decode("utf-8")


def write_csv_atomic(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table atomically as a CSV file French Excel opens (:func:`ditp_model.inputs.tables.csv_bytes`).

    UTF-8 with BOM, ``;`` separator, decimal comma, formulas neutralised;
    tuples (lists of partners...) are joined with ``; ``.
    """
    write_bytes_atomic(path, csv_bytes(frame))
