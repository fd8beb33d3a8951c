"""The procedure annex: every conflict of interest and excluded review, every held application, every lock and
every exception to merit order, each with its reason (issue 13, items 1, 2 and 5).

:func:`procedure_table` returns one row per item (a pandas DataFrame for the workbook and the report's annex);
:func:`procedure_lines_fr` the same in French sentences (command line, report).  The report helper's PDF has a
hook for this table; nothing here renders.
"""

from __future__ import annotations

import pandas as pd

from ditp_model.french import format_eur, format_points, plural_fr
from ditp_model.inputs.conflicts import ROLE_LABELS_FR
from ditp_model.rules.allocation import Allocation, AllocationParams
from ditp_model.rules.held import HELD_STATUS_FR, Provisional, held_applications, held_effect_fr
from ditp_model.scoring.pipeline import Evaluation

__all__ = ["PROCEDURE_COLUMNS", "SECTIONS_FR", "NO_REASON_FR", "procedure_table", "procedure_lines_fr", "run_procedure_table"]

#: Columns of :func:`procedure_table`.
PROCEDURE_COLUMNS = ("rubrique", "application_id", "personne", "detail", "motif")

#: Section code -> French title, in the annex's order.
SECTIONS_FR = {
    "conflict": "Conflits d'intérêts déclarés",
    "held": "Dossiers en attente d'évaluation",
    "lock": "Verrous du comité",
    "exception": "Exceptions à l'ordre de mérite",
}

#: Written in place of a missing reason (allowed only in a provisional decision).
NO_REASON_FR = "MOTIF NON RENSEIGNÉ"


def _date_fr(ts) -> str:
    return "" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%d/%m/%Y")


def procedure_table(evaluation: Evaluation, allocation: Allocation | None = None, *,
                    provisional: Provisional | None = None, params: AllocationParams | None = None,
                    pseudonyms=None) -> pd.DataFrame:
    """Every procedural item of a decision, one row each.

    Parameters
    ----------
    evaluation : Evaluation
        Gives the declarations (``evaluation.conflicts``), the excluded reviews and the held applications.
    allocation : Allocation, optional
        Gives the locks (its parameters), the decision for each locked application and the exceptions to
        merit order with their causes.
    provisional : Provisional, optional
        :func:`ditp_model.rules.held.provisional_status`: adds the best-case score and whether each held
        application is within reach of the funding line.
    params : AllocationParams, optional
        The locks and their reasons, when no allocation is given.
    pseudonyms : mapping, optional
        Reviewer id -> pseudonym shown instead (the report's exports name reviewers R01, R02… unless the
        secretariat asks otherwise); committee members are shown as written in their file (pseudonyms).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PROCEDURE_COLUMNS`: ``rubrique`` (a title of :data:`SECTIONS_FR`),
        ``application_id`` (for an exception by a maximum share: the ids it holds out, comma-separated),
        ``personne`` (reviewer or member id, "" otherwise), ``detail`` (French: what
        was done) and ``motif`` (the nature of the link, or the committee's reason; :data:`NO_REASON_FR`
        when a lock has none).  Sections in the order of :data:`SECTIONS_FR`.
    """
    rows: list[tuple[str, str, str, str, str]] = []
    decl = evaluation.conflicts
    if decl is not None and len(decl):
        ex = evaluation.excluded_reviews
        excluded = {} if ex is None else {(str(r.reviewer_id), str(r.application_id)): r for r in ex.itertuples()}
        for r in decl.itertuples():
            shown = str(r.person_id) if r.role != "reviewer" or pseudonyms is None else pseudonyms.get(str(r.person_id), "R?")
            who = f"{ROLE_LABELS_FR.get(r.role, r.role)} {shown}"
            when = f" (déclaré le {_date_fr(r.declared_on)})" if _date_fr(r.declared_on) else ""
            if r.role == "member":
                detail = f"{who}{when} : ses pondérations ne sont pas utilisées pour ce dossier dans les vues par membre"
            elif (str(r.person_id), str(r.application_id)) in excluded:
                x = excluded[(str(r.person_id), str(r.application_id))]
                where = f" (ligne {int(x.review_row)} du fichier des évaluations)" if pd.notna(x.review_row) else ""
                detail = f"{who}{when} : avis écarté{where}, compté comme manquant"
            else:
                detail = f"{who}{when} : n'a pas évalué ce dossier, aucun avis écarté"
            rows.append((SECTIONS_FR["conflict"], str(r.application_id), shown, detail, str(r.nature)))
    held = provisional.held if provisional is not None else held_applications(evaluation)
    for r in held.itertuples():
        detail = (f"{HELD_STATUS_FR} : {r.n_reviews} avis {plural_fr(r.n_reviews, 'valable')} sur {r.min_reviews} requis, il en manque "
                  f"{r.reviews_missing}")
        if provisional is not None:
            detail += (f" ; note au mieux {format_points(r.best_case_score)} : "
                       + held_effect_fr(bool(r.within_reach), getattr(r, "excluded", ""), long=True))
        rows.append((SECTIONS_FR["held"], str(r.application_id), "", detail, ""))
    p = allocation.candidates.params if allocation is not None else params
    if p is not None:
        funded = {}
        if allocation is not None and allocation.is_optimal:
            d = allocation.decisions
            funded = dict(zip(d["application_id"], d["award_eur"].where(d["funded"], 0)))
        for kind, ids in (("imposé par le comité", sorted(p.lock_in)), ("exclu par le comité", sorted(p.lock_out))):
            for a in ids:
                outcome = ""
                if allocation is not None and allocation.is_optimal:
                    outcome = f" : financé {format_eur(int(funded[a]))}" if funded.get(a) else " : non financé"
                rows.append((SECTIONS_FR["lock"], a, "", kind + outcome, p.lock_reason(a) or NO_REASON_FR))
    if allocation is not None:
        for e in getattr(allocation, "exceptions", ()):
            if getattr(e, "held_out", False):  # a maximum share or number of awards: better-ranked held out
                below = f" ; financés plus bas : {', '.join(e.funded_instead)}" if e.funded_instead else ""
                rows.append((SECTIONS_FR["exception"], ", ".join(e.passed_over), "",
                             f"non financé{'s' if len(e.passed_over) > 1 else ''} malgré {'son' if len(e.passed_over) == 1 else 'leur'} "
                             f"rang{below}", e.cause))
            else:
                rows.append((SECTIONS_FR["exception"], e.funded, "", f"financé avant {', '.join(e.passed_over)}", e.cause))
    return pd.DataFrame(rows, columns=list(PROCEDURE_COLUMNS))


def procedure_lines_fr(table: pd.DataFrame) -> list[str]:
    """The annex in French lines: one heading per section present, then one line per item."""
    lines: list[str] = []
    for title in SECTIONS_FR.values():
        part = table[table["rubrique"] == title]
        if not len(part):
            continue
        lines.append(f"{title} ({len(part)}) :")
        for r in part.itertuples():
            label = "lien déclaré" if title == SECTIONS_FR["conflict"] else "motif"
            motif = f" — {label} : {r.motif}" if r.motif else ""
            lines.append(f"  - {r.application_id} : {r.detail}{motif}")
    return lines


def run_procedure_table(run, *, pseudonyms=None) -> pd.DataFrame:
    """:func:`procedure_table` of a report run (:class:`ditp_model.outputs.report.ReportRun`): the hook of the report's
    procedure annex."""
    return procedure_table(run.evaluation, run.allocation, provisional=getattr(run, "provisional", None),
                           pseudonyms=pseudonyms)
