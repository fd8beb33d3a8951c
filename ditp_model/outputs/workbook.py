"""The secretariat's workbook ``allocation.xlsx``: the decision as people read it, in French (issue 14, item 2).

Written by ``ditp-model allocate`` and by the report (:func:`ditp_model.outputs.report.report_workbook`),
with openpyxl, one sheet per view:

* « Décision » — one row per application, sorted by decision (:data:`DECISION_ORDER`:
  funded, reserve list, not funded, below a quality threshold, not ranked, not eligible)
  then rank, then file number;
* « Liste complémentaire » — the rows whose ``list`` column says ``reserve`` (in
  ``reserve_rank`` order), or one line saying there is none;
* « Éligibilité » — every application, the rules it breaks (labels of
  :data:`ditp_model.scoring.eligibility.REASON_CODES`) and the detail;
* « Notes par évaluateur » — one row per review, reviewers pseudonymised by the caller
  (:func:`ditp_model.outputs.report.reviewer_scores_sheet`);
* « Procédure » — conflicts of interest and excluded reviews, applications awaiting
  reviews, locks and exceptions to merit order, each with its reason
  (:func:`ditp_model.outputs.procedure.procedure_table`);
* « Paramètres » — two columns, French label -> value in French formatting;
* « Provenance » — input files and their SHA-256, command, versions, solver, date.

Headers are the French labels of the data dictionary
(:data:`ditp_model.inputs.schema.COLUMN_LABELS_FR`) and of :data:`OUTPUT_LABELS_FR`;
coded values are shown by their French label (type of organisation, maturity, why not
funded, yes/no).  Amounts are numbers in whole euros with the format
:data:`AMOUNT_FORMAT` (French Excel shows « 120 000 € »); scores have two decimals;
the header row is frozen (with the file-number column where there is one) and has
filters; columns are sized to their content.

Applicant text is written as a text cell (never a formula), with Excel's « quote
prefix » when it starts like a formula (``=``, ``+``, ``-``, ``@``): the person sees
the text exactly as the applicant wrote it, and Excel does not run it even when the
cell is edited (OWASP, "CSV Injection").  The machine-readable tables are the CSV files
(:mod:`ditp_model.inputs.tables`), with their canonical English columns.
"""

from __future__ import annotations

import datetime as dt
import io
import math

import pandas as pd

from ditp_model.french import format_eur, format_number, format_points
from ditp_model.inputs.schema import COLUMN_LABELS_FR, MATURITY_LABELS_FR, ORG_TYPE_LABELS_FR
from ditp_model.inputs.tables import FORMULA_START
from ditp_model.scoring.eligibility import REASON_CODES
from ditp_model.scoring.reviewer_effects import NORMALISATION_LABELS_FR

__all__ = ["AMOUNT_FORMAT", "SCORE_FORMAT", "SHEETS", "DECISION_ORDER", "OUTPUT_LABELS_FR", "REASON_LABELS_FR",
           "decision_label", "decision_sort", "workbook_bytes", "parameters_rows", "provenance_rows"]

#: Number format of amounts (whole euros): the thousands separator is the locale's, so French Excel shows « 120 000 € ».
#: (OOXML stores format codes in the US notation: ``,`` groups thousands, whatever the language of Excel.)
AMOUNT_FORMAT = '#,##0\\ "€"'
#: Number format of scores and score points.
SCORE_FORMAT = "0.00"
#: Number format of counts and ranks.
INT_FORMAT = "0"
#: The sheets, in order.
SHEETS = ("Décision", "Liste complémentaire", "Éligibilité", "Notes par évaluateur", "Procédure", "Paramètres", "Provenance")

#: Decision of an application (« Décision » column), in the order of the sheet.
DECISION_ORDER = ("Financé", "Liste complémentaire", "Non financé", "Non finançable (seuil de qualité)",
                  "En attente d'évaluation (avis insuffisants)", "Non éligible")

#: French headers of the decision table's output columns (the input columns' come from the data dictionary).
OUTPUT_LABELS_FR = {
    "decision": "Décision",
    "eligible": "Éligible",
    "reasons": "Motifs de non-éligibilité",
    "n_reviews": "Nombre d'avis",
    "score": "Note globale (/100)",
    "rank": "Rang",
    "large_collective": "Candidature collective d'envergure",
    "not_fundable": "Seuil de qualité non atteint",
    "award_floor_eur": "Montant minimal possible",
    "award_cap_eur": "Montant maximal possible",
    "funded": "Financé",
    "award_eur": "Montant attribué",
    "ranking_rule_award_eur": "Montant selon la règle du classement (comparaison)",
    "entry_gap": "Écart d'entrée (points)",
    "exit_margin": "Marge de sortie (points)",
    "keeps_out": "Ce qui l'écarte",
    "ex_aequo": "Ex aequo à la ligne de financement",
    "score_needed": "Note qu'il aurait fallu (/100)",
    "better_ranked_awarded_eur": "Attribué aux mieux classés",
    "left_when_turn_eur": "Restant à son tour",
    "needed_eur": "Montant qu'il lui fallait",
    "reason": "Motif (non financé)",
    # Columns other parts of the tool add to the decision table.
    "list": "Liste",
    "reserve_rank": "Rang sur la liste complémentaire",
    "reviewer_disagreement": "Désaccord fort entre évaluateurs",
    "reviewer_range": "Écart entre évaluateurs (points de l'échelle)",
    "reviewer_corrected": "Évaluateur corrigé",
    "review_status": "Statut des avis",
    "reviews_missing": "Avis manquants",
    "situation": "Situation",
    "change": "Changement depuis la décision",
    "change_note": "Détail du changement",
    "status": "Statut",
    "reason_codes": "Règles non respectées",
    "evaluateur": "Évaluateur",
    "ligne_fichier": "Ligne du fichier des évaluations",
}
#: Why a ranked application is not funded (``reason`` column), in French.
REASON_LABELS_FR = {"funded": "", "envelope": "reste de l'enveloppe insuffisant à son rang",
                    "tie": "ex aequo, départagé par le montant dépensé",
                    "limit": "règle du comité (nombre de lauréats, part d'un groupe)",
                    "none": "aucune place avec les règles du comité", "exception": "exception nommée à l'ordre de mérite",
                    "excluded": "écarté par le comité"}
_LIST_FR = {"main": "liste principale", "reserve": "liste complémentaire", "none": "", "withdrawn": "désistement"}
_ORG_SHORT_FR = {k: v.split(" (")[0] for k, v in ORG_TYPE_LABELS_FR.items()}
#: Coded values shown by their French label, per column.
_VALUE_LABELS = {"lead_org_type": _ORG_SHORT_FR, "maturity": MATURITY_LABELS_FR, "reason": REASON_LABELS_FR, "list": _LIST_FR}
#: Columns whose -1 (or 0 for the bounds) means "not applicable": shown as an empty cell.
_NOT_APPLICABLE = {"better_ranked_awarded_eur": -1, "left_when_turn_eur": -1, "needed_eur": -1,
                   "award_floor_eur": 0, "award_cap_eur": 0}
_SCORE_COLUMNS = {"score", "entry_gap", "exit_margin", "score_needed", "reviewer_range"}
_INT_COLUMNS = {"rank", "n_reviews", "reserve_rank", "reviews_missing", "ligne_fichier"}
#: Order of the « Décision » sheet's columns (those present; any other column follows, in the table's order).
_DECISION_COLUMNS = ("decision", "rank", "application_id", "title", "lead_org", "lead_org_type", "region", "maturity",
                     "priority_reform", "score", "*criteria", "requested_eur", "award_eur", "ranking_rule_award_eur",
                     "list", "reserve_rank", "reason", "keeps_out", "ex_aequo", "not_fundable", "eligible", "reasons",
                     "n_reviews", "large_collective", "award_floor_eur", "award_cap_eur", "entry_gap", "exit_margin",
                     "score_needed", "better_ranked_awarded_eur", "left_when_turn_eur", "needed_eur")
_HIDDEN = {"funded"}  # said by « Décision »


# --------------------------------------------------------------------------- what each row says


def decision_label(row) -> str:
    """The « Décision » of one row of the decision table (one of :data:`DECISION_ORDER`).

    Funded; else on the reserve list (``list == "reserve"``, when the column
    exists); else not eligible; else below a quality threshold
    (``not_fundable``); else waiting for reviews (no rank: too few reviews);
    else not funded.
    """
    get = row.get if hasattr(row, "get") else lambda k, d=None: getattr(row, k, d)
    if bool(get("funded", False)):
        return DECISION_ORDER[0]
    if str(get("list", "") or "") == "reserve":
        return DECISION_ORDER[1]
    if not bool(get("eligible", True)):
        return DECISION_ORDER[5]
    nf = get("not_fundable", "")
    if isinstance(nf, str) and nf.strip():
        return DECISION_ORDER[3]
    rank = get("rank", None)
    if rank is None or (isinstance(rank, float) and math.isnan(rank)):
        return DECISION_ORDER[4]
    return DECISION_ORDER[2]


def decision_sort(table: pd.DataFrame) -> pd.DataFrame:
    """The decision table with a ``decision`` column (French), sorted by decision, then rank, then file number.

    Within the reserve list the order is ``reserve_rank`` when the column exists.
    Rows without a rank come last in their group.
    """
    t = table.copy()
    t["decision"] = [decision_label(r) for r in t.to_dict("records")]
    order = {d: i for i, d in enumerate(DECISION_ORDER)}
    key_rank = t["rank"].astype(float).fillna(math.inf) if "rank" in t else pd.Series(math.inf, index=t.index)
    if "reserve_rank" in t:
        rr = pd.to_numeric(t["reserve_rank"], errors="coerce").astype(float)
        key_rank = key_rank.where(t["decision"] != DECISION_ORDER[1], rr.fillna(math.inf))
    keys = pd.DataFrame({"d": t["decision"].map(order), "r": key_rank, "id": t["application_id"].astype(str)})
    idx = keys.sort_values(["d", "r", "id"], kind="mergesort").index
    return t.loc[idx].reset_index(drop=True)


# --------------------------------------------------------------------------- cells


def _criteria(manifest: dict) -> list[dict]:
    return list((manifest.get("call_rules") or {}).get("criteria") or [])


def _labels(manifest: dict) -> dict[str, str]:
    labels = {**COLUMN_LABELS_FR, **OUTPUT_LABELS_FR}
    for c in _criteria(manifest):
        labels[f"{c['name']}_score"] = f"{c['label']} (indice 0–1)"
        for s in c.get("subcriteria") or []:
            labels[f"{c['name']}_{s['name']}"] = f"{c['label']} — {s['label']}"
            labels[f"{c['name']}_{s['name']}_corrige"] = f"{c['label']} — {s['label']} (corrigée)"
    return labels


def _is_missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _kind(col: str, series: pd.Series) -> str:
    if col.endswith("_eur"):
        return "amount"
    if col in _SCORE_COLUMNS or col.endswith("_score") or col.endswith("_corrige"):
        return "score"
    if col in _INT_COLUMNS:
        return "int"
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_float_dtype(series):
        return "score"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    return "text"


def _cell_value(col: str, kind: str, v):
    """The value written in a cell (None: empty), coded values in French."""
    if _is_missing(v):
        return None
    if col in _NOT_APPLICABLE and not isinstance(v, str) and v == _NOT_APPLICABLE[col]:
        return None
    if kind == "bool" or isinstance(v, bool):
        return "oui" if bool(v) else "non"
    if col in _VALUE_LABELS:
        return _VALUE_LABELS[col].get(str(v), str(v)) or None
    if col == "reason_codes":
        return " ; ".join(REASON_CODES.get(c, c) for c in str(v).split(",") if c) or None
    if kind in ("amount", "int"):
        try:
            return int(v)
        except (TypeError, ValueError):
            return str(v)
    if kind == "score":
        x = float(v)
        if math.isinf(x):
            return "illimitée" if x > 0 else "—"
        return x
    if isinstance(v, (tuple, list)):
        return " ; ".join(str(x) for x in v)
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return v.strftime("%d/%m/%Y %H:%M:%S")
    return str(v)


def _set(cell, value, number_format: str | None = None) -> None:
    """Write one cell; a text is always a text cell (quote prefix when it starts like a formula)."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
        if value.startswith(FORMULA_START):
            cell.quotePrefix = True
    elif number_format and isinstance(value, (int, float)):
        cell.number_format = number_format


_FORMATS = {"amount": AMOUNT_FORMAT, "score": SCORE_FORMAT, "int": INT_FORMAT}


def _shown_width(value, kind: str) -> int:
    if value is None:
        return 0
    if kind == "amount" and isinstance(value, int):
        return len(format_eur(value))
    if kind == "score" and isinstance(value, float):
        return len(format_points(value))
    return max((len(line) for line in str(value).split("\n")), default=0)


def _write_table(ws, headers: list[str], kinds: list[str], rows: list[list], *, freeze: str = "A2",
                 max_width: int = 60) -> None:
    """Header row (bold, wrapped, frozen, filters) then the rows; columns sized to their content."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDE3F0")
    head_align = Alignment(wrap_text=True, vertical="center")
    for j, h in enumerate(headers, 1):
        c = ws.cell(row=1, column=j)
        _set(c, h)
        c.font, c.fill, c.alignment = bold, fill, head_align
    for i, row in enumerate(rows, 2):
        for j, (v, k) in enumerate(zip(row, kinds), 1):
            _set(ws.cell(row=i, column=j), v, _FORMATS.get(k))
    for j, (h, k) in enumerate(zip(headers, kinds), 1):
        content = max((_shown_width(r[j - 1], k) for r in rows), default=0)
        head = max((len(w) for w in h.split()), default=0)  # the header wraps: its longest word must fit
        width = min(max_width, max(content, head, min(len(h), 18), 6) + 2)
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.row_dimensions[1].height = 45 if any(len(h) > 18 for h in headers) else 30
    ws.freeze_panes = freeze
    last = f"{get_column_letter(max(1, len(headers)))}{max(1, len(rows) + 1)}"
    ws.auto_filter.ref = f"A1:{last}"


def _frame_sheet(ws, frame: pd.DataFrame, columns: list[str], labels: dict[str, str], *, freeze: str) -> None:
    kinds = [_kind(c, frame[c]) for c in columns]
    rows = [[_cell_value(c, k, v) for c, k, v in zip(columns, kinds, rec)]
            for rec in zip(*(frame[c].tolist() for c in columns))] if len(frame) else []
    _write_table(ws, [labels.get(c, c) for c in columns], kinds, rows, freeze=freeze)


def _decision_columns(table: pd.DataFrame, manifest: dict) -> list[str]:
    crit = [f"{c['name']}_score" for c in _criteria(manifest) if f"{c['name']}_score" in table]
    if not crit:
        crit = [c for c in table.columns if c.endswith("_score")]
    cols = []
    for c in _DECISION_COLUMNS:
        if c == "*criteria":
            cols += crit
        elif c in table:
            cols.append(c)
    cols += [c for c in table.columns if c not in cols and c not in _HIDDEN]
    return cols


def _message_sheet(ws, header: str, text: str) -> None:
    _write_table(ws, [header], ["text"], [[text]], freeze="A2", max_width=90)


# --------------------------------------------------------------------------- parameters and provenance


def _pct(x: float) -> str:
    return f"{format_number(100 * x, 0 if abs(100 * x - round(100 * x)) < 1e-9 else 1)} %"


def _eur_or(v, default: str = "") -> str:
    return format_eur(int(v)) if v is not None else default


def _ids(ids) -> str:
    return ", ".join(str(i) for i in ids) if ids else "aucun"


def decision_status_fr(manifest: dict) -> str:
    """« définitive », or « provisoire : dossiers en attente d'évaluation P047, P072 » (manifest ``provisional``, ``held``)."""
    if not manifest.get("provisional"):
        return "définitive"
    held = [str(h.get("application_id", "?")) if isinstance(h, dict) else str(h) for h in manifest.get("held") or []]
    return "provisoire" + (f" : dossiers en attente d'évaluation {', '.join(held)}" if held else "")


def parameters_rows(manifest: dict, table: pd.DataFrame | None = None) -> list[tuple[str, str]]:
    """The « Paramètres » sheet: (French label, value in French formatting), in reading order.

    From the manifest (:func:`ditp_model.rules.manifest.build_manifest`): first
    the status of the decision (:func:`decision_status_fr`), then the
    decision rule, the money (envelope, committed, reserve, floor, cap), the
    weights, the normalisation of reviews, the quality thresholds and the tie
    band, the tie-break order, the committee's locks and portfolio rules, and
    the result (laureates, total awarded) and, for the merit rules when the
    decision table is given, the funding line
    (:func:`ditp_model.rules.explain.merit_funding_line`, the one the report
    and the letters state: imposed applications named apart).
    """
    from ditp_model.rules.allocation import GroupRule
    from ditp_model.rules.base import tie_break_fr

    call = manifest.get("call_rules") or {}
    funding = call.get("funding") or {}
    p = manifest.get("parameters") or {}
    rule = manifest.get("decision_rule") or {}
    crit = {c["name"]: c for c in _criteria(manifest)}
    rows: list[tuple[str, str]] = []
    add = rows.append
    add(("Statut de la décision", decision_status_fr(manifest)))
    if call.get("call", {}).get("name"):
        add(("Appel", call["call"]["name"]))
    if manifest.get("scenario"):
        s = manifest["scenario"]
        add(("Scénario du comité", str(s.get("name") or s.get("path") or s) if isinstance(s, dict) else str(s)))
    if rule.get("label"):
        add(("Règle de décision", rule["label"]))
    add(("Enveloppe de l'appel", _eur_or(funding.get("envelope_eur"))))
    if p.get("envelope_eur") is not None:
        add(("Enveloppe fixée par le comité", _eur_or(p["envelope_eur"])))
    add(("Montant déjà engagé", _eur_or(p.get("committed_eur", 0))))
    add(("Réserve gardée", _eur_or(p.get("reserve_eur", 0))))
    add(("Enveloppe disponible pour cette décision", _eur_or(p.get("available_eur"))))
    add(("Montant minimal par projet (plancher)", _eur_or(p.get("award_floor_eur") if p.get("award_floor_eur") is not None
                                                          else funding.get("award_floor_eur"))))
    add(("Montant maximal par projet (plafond)", _eur_or(p.get("award_cap_eur") if p.get("award_cap_eur") is not None
                                                         else funding.get("award_cap_eur"))))
    ext = funding.get("extended_cap") or {}
    if ext:
        add(("Plafond d'une candidature collective d'envergure",
             f"{_eur_or(p.get('extended_cap_eur') or ext.get('award_cap_eur'))} (dès {ext.get('min_partners')} partenaires "
             f"ou {ext.get('min_regions')} régions)"))
    if p.get("amount_step_used_eur"):
        add(("Pas des montants", _eur_or(p["amount_step_used_eur"])))
    share = p.get("min_share") if p.get("min_share") is not None else funding.get("min_share")
    if share is not None:
        add(("Part minimale de la demande attribuée", "la demande entière (pas de réduction)" if float(share) >= 1
             else _pct(float(share))))
    weights = (manifest.get("weights") or {}).get("normalised") or {}
    if weights:
        add(("Pondérations des critères", " ; ".join(f"{crit.get(k, {}).get('label', k)} {_pct(float(w))}"
                                                    for k, w in weights.items())))
    norm = manifest.get("normalisation")
    if norm:
        add(("Traitement des notes des évaluateurs", NORMALISATION_LABELS_FR.get(norm, norm)))
    if rule.get("min_score") is not None:
        add(("Note globale minimale (seuil de qualité)", f"{format_points(float(rule['min_score']))} / 100"))
    mc = rule.get("min_criterion") or {}
    if mc:
        scale = call.get("scoring") or {}
        top = f" / {format_number(float(scale['scale_max']), 0)}" if scale.get("scale_max") is not None else ""
        add(("Note minimale par critère", " ; ".join(f"{crit.get(k, {}).get('label', k)} {format_number(float(v), 1)}{top}"
                                                     for k, v in mc.items())))
    if rule.get("name") == "merit_order":
        from ditp_model.rules.candidates import tie_band_fr

        add(("Bande d'ex aequo", tie_band_fr(float(rule.get("tie_band_points", 0)), rule.get("tie_band_source") or "")))
    if manifest.get("tie_break_rule") or rule.get("name"):
        add(("Règle de départage", ("entre dossiers ex aequo : " if rule.get("name") == "merit_order" else "")
             + tie_break_fr(rule.get("name"))))
    variant = rule.get("ranking_variant") or p.get("ranking_variant")
    if variant:
        add(("Règle du classement (comparaison)", {"skip": "passer un dossier qui ne rentre pas dans le reste de l'enveloppe "
                                                           "et continuer",
                                                   "stop": "s'arrêter au premier dossier qui ne rentre pas"}.get(variant, variant)))
    add(("Dossiers imposés par le comité", _ids(p.get("lock_in"))))
    add(("Dossiers écartés par le comité", _ids(p.get("lock_out"))))
    groups = []
    for g in p.get("group_rules") or []:
        try:
            groups.append(GroupRule(**g).label_fr())
        except (TypeError, ValueError):
            groups.append(str(g))
    add(("Règles de portefeuille", " ; ".join(groups) if groups else "aucune"))
    add(("Nombre maximal de lauréats", str(p["max_awards"]) if p.get("max_awards") is not None else "sans limite"))
    for k, e in enumerate(rule.get("exceptions") or [], 1):
        add((f"Exception à l'ordre de mérite n° {k}", e))
    if table is not None and rule.get("name") in ("merit_order", "ranking") and "reason" in table:
        from ditp_model.rules.funding_line import imposed_from_manifest, merit_funding_line

        line = merit_funding_line(table, imposed_from_manifest(manifest))
        add(("Ligne de financement", line.sentence_fr().removeprefix("Ligne de financement — ")
             .removeprefix("Ligne de financement : ")))
    if manifest.get("funded_count") is not None:
        add(("Nombre de lauréats", str(manifest["funded_count"])))
    if manifest.get("total_awarded_eur") is not None:
        add(("Total attribué", _eur_or(manifest["total_awarded_eur"])))
    return [(k, v) for k, v in rows if v != ""]


_ROLES_FR = {"call": "Règles de l'appel", "applications": "Candidatures", "reviews": "Évaluations"}
_ENCODINGS_FR = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 avec BOM", "cp1252": "Windows-1252", "xlsx": "classeur XLSX"}


def _date_fr(value: str | None) -> str:
    t = dt.datetime.fromisoformat(value) if value else dt.datetime.now(dt.timezone.utc).astimezone()
    offset = t.strftime("%z")
    return f"{t:%d/%m/%Y à %H:%M:%S}" + (f" (UTC{offset[:3]}:{offset[3:]})" if offset else "")


def provenance_rows(manifest: dict, *, generated_at: str | None = None) -> list[tuple[str, str]]:
    """The « Provenance » sheet: (French label, value): date, command, input files and SHA-256, versions, solver.

    `generated_at` (ISO 8601) is the date shown; default the manifest's
    ``generated_at``, else now.
    """
    rows: list[tuple[str, str]] = [("Date de production", _date_fr(generated_at or manifest.get("generated_at")))]
    if manifest.get("command"):
        rows.append(("Commande", manifest["command"]))
    files = manifest.get("input_files") or {}
    if files:
        for role, info in files.items():
            name = _ROLES_FR.get(role, role)
            rows.append((f"{name} : fichier", str(info.get("path", ""))))
            rows.append((f"{name} : SHA-256", str(info.get("sha256", ""))))
            if info.get("encoding"):
                rows.append((f"{name} : encodage lu", _ENCODINGS_FR.get(info["encoding"], info["encoding"])))
    else:
        for path, digest in (manifest.get("inputs") or {}).items():
            rows += [("Fichier d'entrée", str(path)), ("SHA-256", str(digest))]
    if manifest.get("decision_sha256"):
        rows.append(("Empreinte de la décision (SHA-256)", manifest["decision_sha256"]))
    if manifest.get("manifest_version") is not None:
        rows.append(("Version du manifeste", str(manifest["manifest_version"])))
    s = manifest.get("solver") or {}
    if s:
        status = {"optimal": "optimum prouvé"}.get(s.get("status"), s.get("status", ""))
        rows.append(("Calcul de la décision", f"{s.get('version') or s.get('name')} — {status}, "
                                              f"{format_number(float(s.get('seconds') or 0), 2)} s"))
    rule = (manifest.get("decision_rule") or {}).get("name")
    if rule in ("max_total_score", "max_score_weighted_award") and manifest.get("objective") is not None:
        rows.append(("Valeur de l'objectif (règle d'optimisation)", format_number(float(manifest["objective"]), 2)))
    other = manifest.get("other_optimal_portfolios")
    if other is not None:
        rows.append(("Autre portefeuille de même valeur", "oui" if other else "non"))
    v = manifest.get("versions") or {}
    names = {"python": "Version de Python", "platform": "Système d'exploitation", "ditp_model": "Version de ditp-model"}
    for k, x in v.items():
        rows.append((names.get(k, f"Version de {k}"), "non installé" if x is None else str(x)))
    for k, x in (manifest.get("report_tools") or {}).items():
        rows.append((f"Version de {k} (rapport)", "non installé" if x is None else str(x)))
    lock = manifest.get("environment_lock") or {}
    if lock.get("name"):
        state = "versions installées conformes" if lock.get("installed_matches") else \
            f"{lock.get('differences_count', 0)} écart(s) avec les versions installées"
        rows.append(("Verrou des versions", f"{lock['name']} ({lock.get('packages', '?')} paquets) — {state}"))
        if lock.get("sha256"):
            rows.append(("Verrou des versions : SHA-256", lock["sha256"]))
    return rows


# --------------------------------------------------------------------------- the workbook


def workbook_bytes(table: pd.DataFrame, eligibility: pd.DataFrame, manifest: dict, *,
                   reviewer_scores: pd.DataFrame | None = None, generated_at: str | None = None,
                   procedure: pd.DataFrame | None = None) -> bytes:
    """``allocation.xlsx`` for the secretariat: the seven sheets of :data:`SHEETS` (see the module docstring).

    Parameters
    ----------
    table : pandas.DataFrame
        The decision table (:func:`ditp_model.rules.manifest.decision_table`),
        with the ``list`` / ``reserve_rank`` columns when a reserve list exists.
    eligibility : pandas.DataFrame
        :attr:`ditp_model.scoring.pipeline.Evaluation.eligibility`
        (``application_id``, ``eligible``, ``reason_codes``, ``reasons``).
    manifest : dict
        The run's manifest: criterion labels, parameters, provenance.
    reviewer_scores : pandas.DataFrame, optional
        One row per review, reviewers already pseudonymised
        (:func:`ditp_model.outputs.report.reviewer_scores_sheet`); ``None``:
        the sheet says the scores are not exported.
    generated_at : str, optional
        ISO 8601 date shown in « Provenance » (default the manifest's, else now).
    procedure : pandas.DataFrame, optional
        :func:`ditp_model.outputs.procedure.procedure_table` (conflicts of interest and excluded reviews,
        applications awaiting reviews, locks and exceptions with their reasons) for the « Procédure »
        sheet; ``None`` or empty: the sheet says there is nothing to record.

    Returns
    -------
    bytes
        The XLSX file.
    """
    import openpyxl

    labels = _labels(manifest)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = SHEETS[0]
    # the status is printed at the top of every page of the « Décision » sheet (its first row stays the header)
    ws.oddHeader.center.text = f"Statut de la décision : {decision_status_fr(manifest)}"
    t = decision_sort(table)
    if "reason" in t:  # « excluded » is said by the decision (not eligible, below a threshold) unless the committee locked it out
        t["reason"] = t["reason"].where((t["reason"] != "excluded") | (t["decision"] == DECISION_ORDER[2]), "")
    _frame_sheet(ws, t, _decision_columns(t, manifest), labels, freeze="D2")

    ws = wb.create_sheet(SHEETS[1])
    on_list = pd.to_numeric(t["reserve_rank"], errors="coerce").notna() if "reserve_rank" in t else \
        (t["list"].astype(str) == "reserve") if "list" in t else pd.Series(False, index=t.index)
    if on_list.any():
        # Every application given a place on the list, in its order (one funded since, after a withdrawal, says so).
        r = t[on_list].copy()
        if "reserve_rank" in r:
            r = r.assign(_k=pd.to_numeric(r["reserve_rank"], errors="coerce")).sort_values("_k", kind="mergesort")
        r["situation"] = ["financé après désistement ou réduction" if f else "en attente" for f in r["funded"]]
        cols = [c for c in ("reserve_rank", "application_id", "title", "lead_org", "region", "score", "rank", "requested_eur",
                            "award_cap_eur", "situation", "award_eur") if c in r]
        _frame_sheet(ws, r, cols, {**labels, "award_cap_eur": "Montant si financé"},
                     freeze="C2" if cols[:1] == ["reserve_rank"] else "B2")
    else:
        _message_sheet(ws, "Liste complémentaire", "Pas de liste complémentaire pour cette décision.")

    ws = wb.create_sheet(SHEETS[2])
    el = eligibility.copy()
    info = table.set_index("application_id")
    for c in ("title", "lead_org", "lead_org_type"):
        if c in info:
            el[c] = [info.at[a, c] if a in info.index else "" for a in el["application_id"]]
    el = el.sort_values(["eligible", "application_id"], kind="mergesort")  # the ineligible first
    cols = [c for c in ("application_id", "title", "lead_org", "lead_org_type", "eligible", "reason_codes", "reasons") if c in el]
    cols += [c for c in el.columns if c not in cols]
    _frame_sheet(ws, el, cols, {**labels, "reasons": "Détail des motifs"}, freeze="B2")

    ws = wb.create_sheet(SHEETS[3])
    if reviewer_scores is None:
        _message_sheet(ws, "Notes par évaluateur", "Notes des évaluateurs non exportées.")
    else:
        _frame_sheet(ws, reviewer_scores, list(reviewer_scores.columns), labels, freeze="C2")

    ws = wb.create_sheet(SHEETS[4])
    if procedure is None or not len(procedure):
        _message_sheet(ws, "Procédure", "Aucun conflit d'intérêts déclaré, aucun dossier en attente, aucun verrou du comité.")
    else:
        _frame_sheet(ws, procedure, list(procedure.columns),
                     {"rubrique": "Rubrique", "application_id": "Dossier", "personne": "Personne", "detail": "Ce qui a été fait",
                      "motif": "Motif"}, freeze="B2")

    ws = wb.create_sheet(SHEETS[5])
    _write_table(ws, ["Paramètre", "Valeur"], ["text", "text"], [list(r) for r in parameters_rows(manifest, table)], max_width=100)
    ws = wb.create_sheet(SHEETS[6])
    _write_table(ws, ["Élément", "Valeur"], ["text", "text"],
                 [list(r) for r in provenance_rows(manifest, generated_at=generated_at)], max_width=100)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
