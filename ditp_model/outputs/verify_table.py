"""What changed in a published ``allocation.csv``, cell by cell, for ``ditp-model verify`` (trial 1, S1).

The SHA-256 of ``allocation.csv`` tells that the file changed, not where.  The manifest records, for
every application, the columns that make the decision (``decisions``: eligibility, score, rank,
decision, award, ranking-rule award — :func:`ditp_model.rules.manifest.decisions_record`); the file
is read back (:func:`ditp_model.inputs.tables.read_output_csv`, either CSV dialect the tool wrote) and
compared with them: the first differing cells are named by row (line of the file), application,
column and both values, in French.  A change in another column (a title, a reason, an explanation)
is said as such.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["DECISION_COLUMNS_FR", "MAX_CELLS", "table_changes_fr"]

#: The columns the manifest records for each application, with their French names.
DECISION_COLUMNS_FR = {"eligible": "éligible", "score": "note", "rank": "rang", "funded": "financé", "award_eur": "montant attribué",
                       "ranking_rule_award_eur": "montant selon la règle du classement"}
#: How many differing cells are named before « … et N autre(s) ».
MAX_CELLS = 5


def _same(column: str, recorded, now) -> bool:
    if recorded is None:
        return now is None or (isinstance(now, float) and math.isnan(now)) or now == ""
    if column == "score":
        try:
            return abs(float(now) - float(recorded)) < 5e-4
        except (TypeError, ValueError):
            return False
    if isinstance(recorded, bool):
        return str(now) == str(recorded)
    try:
        return int(float(now)) == int(recorded) and float(now) == float(recorded)
    except (TypeError, ValueError):
        return False


def _show(v) -> str:
    """A cell in French: « oui »/« non », « 104 460 », « 67,39 », « vide », or the text in quotes."""
    from ditp_model.french import format_number

    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return "vide"
    if isinstance(v, bool) or str(v) in ("True", "False"):
        return "oui" if str(v) == "True" else "non"
    if isinstance(v, (int, float)) or hasattr(v, "dtype"):
        f = float(v)
        return format_number(f, 0) if f.is_integer() else format_number(f, 4).rstrip("0")
    return f"« {v} »"


def table_changes_fr(path: str | Path, manifest: dict) -> str:
    """A French sentence naming the first cells of `path` (``allocation.csv``) that differ from the manifest's decisions.

    Returns "" when the manifest records no decisions.  Lines are the file's (the header is line 1).
    """
    from ditp_model.inputs.tables import read_output_csv

    recorded = manifest.get("decisions") or []
    if not recorded:
        return ""
    try:
        table = read_output_csv(Path(path), dtype={"application_id": str})
    except Exception as exc:  # noqa: BLE001 - an unreadable file is itself the answer
        return f"le fichier ne se relit plus comme une table ({exc})"
    if "application_id" not in table.columns:
        return "la colonne application_id a disparu"
    rows = {str(a).strip(): i for i, a in enumerate(table["application_id"])}
    cells, missing = [], []
    for rec in recorded:
        aid = rec["application_id"]
        if aid not in rows:
            missing.append(aid)
            continue
        i = rows[aid]
        for col, label in DECISION_COLUMNS_FR.items():
            if col not in rec:
                continue
            if col not in table.columns:
                cells.append(f"colonne {col} ({label}) absente")
                continue
            now = table.at[i, col]
            if not _same(col, rec[col], now):
                cells.append(f"ligne {i + 2}, dossier {aid}, colonne {col} ({label}) : {_show(rec[col])} au manifeste, "
                             f"{_show(now)} dans le fichier")
    extra = sorted(set(rows) - {r["application_id"] for r in recorded})
    parts = []
    if cells:
        more = f" … et {len(cells) - MAX_CELLS} autre(s)" if len(cells) > MAX_CELLS else ""
        parts.append("; ".join(dict.fromkeys(cells[:MAX_CELLS])) + more)
    if missing:
        parts.append(f"ligne(s) supprimée(s) : {', '.join(missing[:MAX_CELLS])}{' …' if len(missing) > MAX_CELLS else ''}")
    if extra:
        parts.append(f"ligne(s) ajoutée(s) : {', '.join(extra[:MAX_CELLS])}{' …' if len(extra) > MAX_CELLS else ''}")
    if not parts:
        return ("les colonnes de la décision (" + ", ".join(DECISION_COLUMNS_FR) + ") sont celles du manifeste : la "
                "modification porte sur une autre colonne (intitulé, motifs, explications…) ou sur la mise en forme")
    return " ; ".join(parts)
