"""Decision table, manifest (decision record) and exports (CSV, XLSX, JSON), written atomically.

Every file written carries its provenance: the manifest holds SHA-256 of each
input, the call rules, weights and all parameters, package and solver
versions, status, objective, tie-break rule and a hash of the decision table
(DESIGN.md, "Reproducibility").
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from . import __version__
from .allocation import Allocation, AllocationParams, RankingResult
from .explain import Explanation
from .io import write_bytes_atomic
from .pipeline import Evaluation
from .scoring import TIE_BREAK_RULE, TIE_BREAK_RULE_FR

__all__ = ["decision_table", "build_manifest", "decision_hash", "neutralise_formula", "write_outputs", "MANIFEST_VERSION",
           "csv_bytes", "xlsx_bytes", "parameters_sheet", "manifest_bytes"]

MANIFEST_VERSION = 1
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value):
    """Prefix with ``'`` a text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR).

    Source: OWASP, "CSV Injection".  Numbers are left alone.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def decision_table(evaluation: Evaluation, allocation: Allocation, ranking: RankingResult,
                   explanation: Explanation | None) -> pd.DataFrame:
    """One row per application (every application, input order): who is funded, with how much, and why.

    Columns: ``application_id``, ``title``, ``lead_org``, ``lead_org_type``,
    ``region``, ``maturity``, ``priority_reform``, ``requested_eur`` (int),
    ``eligible``, ``reasons``, ``n_reviews``, ``<criterion>_score`` (0–1),
    ``score`` (0–100), ``rank``, ``large_collective``, ``award_floor_eur``
    and ``award_cap_eur`` (bounds of a candidate, int, 0 otherwise),
    ``funded`` (bool), ``award_eur`` (int), ``ranking_rule_award_eur`` (int),
    ``entry_gap``, ``exit_margin`` (score points), ``keeps_out`` (French).

    Raises
    ------
    NotOptimalError
        The allocation is not a proven optimum.
    """
    t = evaluation.table
    d = allocation.decisions.set_index("application_id")
    r = ranking.decisions.set_index("application_id")
    b = allocation.candidates.table.set_index("application_id")
    crit = [f"{c}_score" for c in evaluation.rules.criterion_names]
    out = t[["application_id", "title", "lead_org", "lead_org_type", "region", "maturity", "priority_reform",
             "requested_eur", "eligible", "reasons", "n_reviews", *crit, "score", "rank", "large_collective"]].copy()
    ids = out["application_id"]
    out["award_floor_eur"] = [int(b.at[a, "lower_eur"]) if a in b.index else 0 for a in ids]
    out["award_cap_eur"] = [int(b.at[a, "upper_eur"]) if a in b.index else 0 for a in ids]
    out["funded"] = [bool(d.at[a, "funded"]) if a in d.index else False for a in ids]
    out["award_eur"] = pd.array([int(d.at[a, "award_eur"]) if a in d.index else 0 for a in ids], dtype="int64")
    out["ranking_rule_award_eur"] = pd.array([int(r.at[a, "award_eur"]) if a in r.index else 0 for a in ids], dtype="int64")
    if explanation is not None:
        e = explanation.table.set_index("application_id")
        out["entry_gap"] = [e.at[a, "entry_gap"] for a in ids]
        out["exit_margin"] = [e.at[a, "exit_margin"] for a in ids]
        out["keeps_out"] = [e.at[a, "keeps_out"] for a in ids]
    for c in (*crit, "score"):
        out[c] = out[c].round(4)
    assert len(out) == len(t)
    return out


def decision_hash(table: pd.DataFrame) -> str:
    """SHA-256 of the decision itself: sorted ``application_id,funded,award_eur`` lines."""
    lines = sorted(f"{a},{int(f)},{int(w)}" for a, f, w in zip(table["application_id"], table["funded"], table["award_eur"]))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _versions() -> dict:
    out = {"python": sys.version.split()[0], "platform": platform.platform(), "ditp_model": __version__}
    for pkg in ("pandas", "numpy", "pulp", "highspy", "cbcbox", "openpyxl", "pydantic"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _params_dict(params: AllocationParams) -> dict:
    d = dataclasses.asdict(params)
    d["lock_in"] = sorted(params.lock_in)
    d["lock_out"] = sorted(params.lock_out)
    d["group_rules"] = [dataclasses.asdict(r) for r in params.group_rules]
    return d


def build_manifest(evaluation: Evaluation, allocation: Allocation, table: pd.DataFrame, *, command: str = "") -> dict:
    """The decision record of one run (JSON-ready dict).

    Keys: ``manifest_version``, ``command``, ``inputs`` (path -> SHA-256),
    ``call_rules`` (the validated rules), ``weights`` (raw and normalised),
    ``normalisation``, ``parameters`` (allocation parameters, the envelope
    actually available), ``versions``, ``solver`` (name, version, status,
    gap, seconds), ``objective`` (score points), ``tie_break_rule``,
    ``other_optimal_portfolios``, ``funded_count``, ``total_awarded_eur``,
    ``decision_sha256`` (see :func:`decision_hash`).  No timestamp inside
    the hashed part: two runs on the same inputs give the same manifest,
    seconds aside.
    """
    c = allocation.candidates
    return {
        "manifest_version": MANIFEST_VERSION,
        "command": command,
        "inputs": dict(sorted(evaluation.files.items())),
        "call_rules": json.loads(evaluation.rules.model_dump_json()),
        "weights": {"raw": evaluation.weights.as_dict(), "normalised": evaluation.weights.normalised()},
        "normalisation": evaluation.normalisation,
        "parameters": {**_params_dict(c.params), "available_eur": c.available_eur, "envelope_used_eur": c.envelope_eur,
                       "amount_step_used_eur": c.step_eur},
        "versions": _versions(),
        "solver": {"name": allocation.solver, "version": allocation.solver_version, "status": allocation.status.value,
                   "mip_gap": allocation.mip_gap, "seconds": round(allocation.seconds, 4)},
        "objective": allocation.objective,
        "tie_break_rule": {"name": TIE_BREAK_RULE, "description": TIE_BREAK_RULE_FR},
        "other_optimal_portfolios": allocation.other_optimal_portfolios,
        "funded_count": int(table["funded"].sum()),
        "total_awarded_eur": int(table["award_eur"].sum()),
        "decision_sha256": decision_hash(table),
    }


def _safe(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(neutralise_formula)
    return out


def csv_bytes(table: pd.DataFrame) -> bytes:
    """UTF-8 CSV (``,``, ``\\n``), formulas neutralised."""
    return _safe(table).to_csv(index=False, lineterminator="\n").encode("utf-8")


def xlsx_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    """An XLSX workbook (openpyxl) with one sheet per table, formulas neutralised."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        for name, df in sheets.items():
            _safe(df).to_excel(xw, sheet_name=name[:31], index=False)
    return buf.getvalue()


def parameters_sheet(manifest: dict) -> pd.DataFrame:
    """The manifest flattened to (key, value) rows for the XLSX parameters sheet."""
    rows = []

    def walk(prefix, v):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), x)
        else:
            rows.append((prefix, json.dumps(v, ensure_ascii=False) if isinstance(v, (list, tuple)) else v))

    walk("", manifest)
    return pd.DataFrame(rows, columns=["parametre", "valeur"]).astype({"valeur": str})


def write_outputs(out_dir: str | Path, files: dict[str, bytes]) -> list[Path]:
    """Write every output file atomically, only after all were produced in memory.

    A failure before this point leaves the previous results untouched; each
    file is replaced atomically (temporary file + ``os.replace``).
    """
    out = Path(out_dir)
    written = []
    for name, data in files.items():
        write_bytes_atomic(out / name, data)
        written.append(out / name)
    return written


def manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")

