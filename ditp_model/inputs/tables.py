"""The one writer (and reader) of every CSV table a person may open: French Excel's dialect, formulas neutralised.

Every CSV the tool writes for people to double-click — ``allocation.csv``,
``retours_candidats.csv``, ``probabilites_financement.csv``, ``scores.csv``,
and ``import-ds``'s ``candidatures.csv``, ``evaluations.csv``,
``donnees_personnelles.csv``, ``experts.csv`` — goes through
:func:`csv_bytes`; the tool reads them back through :func:`read_output_csv`.

The dialect (``data/README.md``, « Fichiers produits ») is the one French Excel
opens by a double-click without the import wizard:

* **UTF-8 with a BOM** (``EF BB BF``): without it, Excel reads the file as
  Windows-1252 and « é » shows as « Ã© »;
* **separator ``;``**: Excel splits a double-clicked CSV on the *list separator*
  of Windows' regional settings, which is ``;`` in French (``,`` is the decimal
  mark there); a ``,``-separated file opens in one column;
* **decimal comma** (``72,5``): French Excel reads ``72.5`` as text, and
  ``12.5`` as a date (« 12 mai »); integers are written without separator
  (``120000``), so they stay numbers; floats are never written in scientific
  notation (``1e-05``), which the tool itself refuses as an input amount;
* booleans ``True`` / ``False``, empty cell for a missing value, dates ISO
  8601 (``2021-10-15 23:59:59``, which Excel recognises in every language),
  lists joined by ``; `` (the cell is then quoted), lines ending ``\\r\\n``
  (RFC 4180);
* canonical English column names: the CSV files are for programs (and for a
  quick look in Excel); the formatted French workbook for people is
  ``allocation.xlsx`` (:mod:`ditp_model.outputs.workbook`).

Text that a spreadsheet would run as a formula (``=HYPERLINK(…)``, ``+cmd``,
``-2+3``, ``@SUM(…)``, a leading tab or carriage return) is prefixed with
``'`` (OWASP, "CSV Injection"); numbers are left alone.  The readers take the
prefix off again (:func:`restore_formula`), so a table read back equals the
table written.

This module imports nothing from the package: the input readers
(:mod:`ditp_model.inputs.io`), the decision record
(:mod:`ditp_model.rules.manifest`) and every command use it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["FORMULA_START", "CSV_ENCODING", "CSV_SEPARATOR", "CSV_DECIMAL", "CSV_BOM", "neutralise_formula", "restore_formula",
           "csv_cell", "csv_bytes", "read_output_csv"]

#: Encoding of the CSV files written (Python's name for UTF-8 with a BOM).
CSV_ENCODING = "utf-8-sig"
#: The three bytes a CSV file starts with.
CSV_BOM = b"\xef\xbb\xbf"
#: Cell separator: the list separator of French Windows.
CSV_SEPARATOR = ";"
#: Decimal mark of the numbers written.
CSV_DECIMAL = ","

#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value):
    """Prefix with ``'`` a text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR).

    Source: OWASP, "CSV Injection".  Numbers (and anything not a ``str``) are
    returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def restore_formula(value):
    """Undo :func:`neutralise_formula`: ``"'=SUM(A1)"`` -> ``"=SUM(A1)"``; any other value unchanged."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def _float_text(x: float) -> str:
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    # Shortest exact digits, never scientific notation, decimal comma.
    return np.format_float_positional(x, trim="-").replace(".", CSV_DECIMAL)


def csv_cell(value) -> str:
    """One cell's text in the CSV dialect (see the module docstring); text is neutralised.

    ``None``, NaN, ``pd.NA`` and ``NaT`` are the empty cell; ``bool`` ->
    ``True`` / ``False``; integers as digits; floats with a decimal comma and
    no exponent; dates ISO 8601 (space between date and time); tuples and
    lists joined by ``; ``.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return _float_text(float(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return neutralise_formula("; ".join(str(v) for v in value))
    return neutralise_formula(str(value))


def csv_bytes(table: pd.DataFrame) -> bytes:
    """The table as the bytes of a CSV file French Excel opens (UTF-8 BOM, ``;``, decimal comma), formulas neutralised.

    Columns keep their (canonical English) names; the index is not written.
    See the module docstring for the dialect and its reasons.
    """
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=CSV_SEPARATOR, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow([neutralise_formula(str(c)) for c in table.columns])
    columns = [table[c].tolist() for c in table.columns]
    for row in zip(*columns):
        w.writerow([csv_cell(v) for v in row])
    return buf.getvalue().encode(CSV_ENCODING)


_INT_RE = re.compile(r"^-?\d+$")


def _number_re(decimal: str) -> re.Pattern:
    d = re.escape(decimal)
    return re.compile(rf"^-?(\d+({d}\d*)?|{d}\d+|inf)$")


def read_output_csv(source, *, dtype: dict | type | None = None) -> pd.DataFrame:
    """Read back a CSV table the tool wrote (any of its outputs): the table as it was written.

    The dialect is recognised: the current one (BOM, ``;``, decimal comma),
    or the one written before (no BOM, ``,``, decimal point), so older
    results still read.  Cells are read as text, the neutralising ``'`` is
    taken off (:func:`restore_formula`), then each column gets its type:
    ``application_id`` stays text; a column of ``True`` / ``False`` is
    ``bool``; a column of integers without blanks is ``int64``; a column of
    numbers (blanks allowed, read NaN) is ``float64``; any other column is
    text, blanks being ``""``.  A column of blanks only is text (``""``):
    give its type in `dtype` when it is numeric.

    Parameters
    ----------
    source : str, Path or bytes
        The file, or its bytes.
    dtype : dict or ``str``, optional
        Column -> ``str``, ``int``, ``float`` or ``bool``: overrides the guess;
        ``str``: every column as the text written (blanks ``""``).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        A cell of a column given as ``int``/``float``/``bool`` that is not one (French message).
    """
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    bom = raw.startswith(CSV_BOM)
    text = raw.decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    sep = ";" if (bom or first.count(";") > first.count(",")) else ","
    decimal = CSV_DECIMAL if sep == ";" else "."
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    rows = [r for r in rows if r]
    header = [restore_formula(h) for h in rows[0]] if rows else []
    body = [(r + [""] * len(header))[: len(header)] for r in rows[1:]]
    number = _number_re(decimal)
    if dtype is str:
        dtype = {name: str for name in header}
    types = {"application_id": str, **(dtype or {})}
    out = {}
    for j, name in enumerate(header):
        cells = [restore_formula(r[j]) for r in body]
        filled = [c for c in cells if c != ""]
        kind = types.get(name)
        if kind is None:
            if not filled:
                kind = str
            elif all(c in ("True", "False") for c in filled) and len(filled) == len(cells):
                kind = bool
            elif all(_INT_RE.match(c) for c in filled) and len(filled) == len(cells):
                kind = int
            elif all(number.match(c) for c in filled):
                kind = float
            else:
                kind = str
        out[name] = _convert(cells, kind, name, decimal)
    return pd.DataFrame(out, columns=header)


def _convert(cells: list[str], kind, name: str, decimal: str):
    checks = {bool: lambda c: c in ("True", "False"), int: lambda c: bool(_INT_RE.match(c)),
              float: lambda c: c == "" or bool(_number_re(decimal).match(c))}
    if kind is str:
        return pd.Series(cells, dtype=str)
    if kind not in checks:
        raise ValueError(f"colonne « {name} » : type inconnu {kind!r} (str, int, float ou bool)")
    bad = next((c for c in cells if not checks[kind](c)), None)
    if bad is not None:
        raise ValueError(f"colonne « {name} » : la valeur « {bad} » n'est pas du type attendu ({kind.__name__})")
    if kind is bool:
        return pd.Series([c == "True" for c in cells], dtype=bool)
    if kind is int:
        return pd.Series([int(c) for c in cells], dtype="int64")
    return pd.Series([math.nan if c == "" else float(c.replace(decimal, ".")) for c in cells], dtype="float64")
