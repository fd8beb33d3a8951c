"""Shared builders of tiny input files for the foundation's tests.

Everything here writes files the way a committee secretariat would (CSV in
several dialects, XLSX through openpyxl) from plain Python values; nothing is
computed with the package under test.  Tests import it as ``helpers`` (pytest
puts ``tests/`` on ``sys.path`` because the folder has no ``__init__.py``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
RULES_PATH = DATA / "appel_2021.toml"
SAMPLE_APPLICATIONS = DATA / "candidatures_exemple.csv"
SAMPLE_REVIEWS = DATA / "evaluations_exemple.csv"

#: Canonical header of the applications table, in the schema's order.
APP_HEADER = [
    "application_id", "title", "lead_org", "lead_org_type", "partners", "partner_types", "region",
    "regions_covered", "priority_reform", "maturity", "requested_eur", "expense_services_eur",
    "expense_digital_tools_eur", "expense_training_eur", "expense_other_eur", "submitted_at",
]

#: Review score columns of the shipped rules (``<criterion>_<subcriterion>``).
SCORE_COLUMNS = ["impact_reform", "impact_replicability", "openness_codesign", "openness_methods"]
REVIEW_HEADER = ["application_id", "reviewer_id", *SCORE_COLUMNS]


def app_row(application_id: str = "A01", **changes: object) -> dict[str, str]:
    """A valid, eligible application under the 2021 rules, as text cells (canonical spelling).

    A ministry alone in Île-de-France, 100 000 € all in intellectual services,
    submitted on 2021-10-01; keyword arguments replace cells.
    """
    row = {
        "application_id": application_id,
        "title": f"Projet {application_id}",
        "lead_org": "Direction interministérielle du numérique",
        "lead_org_type": "ministry",
        "partners": "",
        "partner_types": "",
        "region": "Île-de-France",
        "regions_covered": "",
        "priority_reform": "France Services",
        "maturity": "testing",
        "requested_eur": "100000",
        "expense_services_eur": "100000",
        "expense_digital_tools_eur": "0",
        "expense_training_eur": "0",
        "expense_other_eur": "0",
        "submitted_at": "2021-10-01",
    }
    unknown = set(changes) - set(row)
    assert not unknown, unknown
    row.update({k: str(v) for k, v in changes.items()})
    return row


def csv_text(header: list[str], rows: list[list[str]], sep: str = ",", lineterminator: str = "\n") -> str:
    """CSV text (``\\n`` line ends by default), quoting only where needed."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator=lineterminator)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, sep: str = ",",
              encoding: str = "utf-8", lineterminator: str = "\n") -> Path:
    """Write a CSV file (``encoding="utf-8-sig"`` adds the BOM Excel writes)."""
    path.write_bytes(csv_text(header, rows, sep, lineterminator).encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]], sheet: str = "Feuil1") -> Path:
    """Write a one-sheet XLSX workbook with openpyxl; cells keep their Python type."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for r in rows:
        ws.append(list(r))
    wb.save(path)
    return path


def write_applications(path: Path, rows: list[dict[str, str]], **kwargs) -> Path:
    """Write application rows (dicts as from :func:`app_row`) with the canonical header."""
    return write_csv(path, APP_HEADER, [[r[h] for h in APP_HEADER] for r in rows], **kwargs)


def write_reviews(path: Path, rows: list[tuple], **kwargs) -> Path:
    """Write review rows ``(application_id, reviewer_id, s1, s2, s3, s4)``; numbers become text."""
    def cell(v: object) -> str:
        return "" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))

    return write_csv(path, REVIEW_HEADER, [[cell(v) for v in r] for r in rows], **kwargs)


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV file (BOM tolerated) as dicts: to copy and alter a sample file in a test."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, rows: list[dict]) -> None:
    """Write dict rows (the first row's keys as header) to a UTF-8 CSV file."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
