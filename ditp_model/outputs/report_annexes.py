"""Report sections that are empty unless given content: the reserve list, the procedure annex, and the technical annex's opening.

The body of the report is for the person who signs (what was decided, on what
rules, who is funded with how much, the funding line and its exceptions, the
reserve list); the material a person checks with the tool — parameters as the
tool names them, solver, versions, platform, hashes, the tie-break rule's code
name — is in the « Annexe technique » at the end
(:func:`technical_annex_html`, then :func:`ditp_model.outputs.report_sections.parameters_html`,
``provenance_html``, ``environment_html``, ``annex_html``).

Hooks filled by other parts of the tool (each renders nothing without data):

* :func:`reserve_list_section` — the « liste complémentaire », from
  ``ReportRun.reserve_list`` (a table) or an explicit argument;
* :func:`procedure_annex_html` — the « Annexe de procédure » (conflicts of
  interest, applications held, reasons for locks), from ``ReportRun.procedure``
  (a table with French headers, or French lines) or an explicit argument.

Every text given is HTML-escaped.
"""

from __future__ import annotations

import math

import pandas as pd

from ditp_model.french import format_eur, format_points

__all__ = ["reserve_list_section", "procedure_annex_html", "technical_annex_html", "COLUMN_LABELS_FR"]

#: French headers of the decision table's canonical columns a reserve list may carry.
COLUMN_LABELS_FR = {"application_id": "Dossier", "title": "Intitulé", "lead_org": "Porteur", "region": "Région",
                    "rank": "Rang", "score": "Note /100", "requested_eur": "Demandé", "award_eur": "Montant",
                    "reserve_rank": "Ordre d'appel", "reason": "Motif"}


def _is_empty(data) -> bool:
    if data is None:
        return True
    if isinstance(data, pd.DataFrame):
        return data.empty
    if isinstance(data, str):
        return not data.strip()
    return len(data) == 0


def _cell(column: str, value):
    """A cell as shown: whole euros for ``*_eur`` columns, score points for ``score``, ranks as integers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if column.endswith("_eur"):
        return format_eur(int(value))
    if column == "score":
        return format_points(float(value))
    if column in ("rank", "reserve_rank") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _frame_table(frame: pd.DataFrame, *, id: str, caption: str | None = None) -> str:
    from ditp_model.outputs.report_sections import _table

    columns = [str(c) for c in frame.columns]
    headers = [COLUMN_LABELS_FR.get(c, c) for c in columns]
    numeric = [k for k, c in enumerate(columns) if c.endswith("_eur") or c in ("rank", "score", "reserve_rank")
               or pd.api.types.is_numeric_dtype(frame[frame.columns[k]])]
    rows = [[_cell(c, v) for c, v in zip(columns, r)] for r in frame.itertuples(index=False, name=None)]
    return _table(headers, rows, id=id, numeric=numeric, caption=caption)


def reserve_list_section(run, reserve=None) -> str:
    """« Liste complémentaire »: the applications called up, in order, if a laureate withdraws.

    Parameters
    ----------
    run : ditp_model.outputs.report.ReportRun
    reserve : pandas.DataFrame, optional
        One row per application in the order of call-up; canonical columns
        (``application_id``, ``title``, ``rank``, ``score``, ``requested_eur``…)
        get French headers (:data:`COLUMN_LABELS_FR`), ``*_eur`` columns are
        shown as whole euros; other columns are shown under their own (French)
        name.  Default: ``run.reserve_list``.

    Returns
    -------
    str
        HTML with its heading, table ``liste-complementaire``; empty text when
        there is no reserve list.
    """
    from ditp_model.outputs.report_sections import _div, _p

    data = getattr(run, "reserve_list", None) if reserve is None else reserve
    if _is_empty(data):
        return ""
    frame = pd.DataFrame(data)
    return _div('<h2 class="ditp-h2">Liste complémentaire</h2>',
                _p("Dossiers appelés, dans cet ordre, si un lauréat renonce ou si des crédits se libèrent ; un dossier "
                   "n'est appelé que si le montant disponible à son tour le permet."),
                _frame_table(frame, id="liste-complementaire"))


def procedure_annex_html(run, procedure=None) -> str:
    """« Annexe de procédure »: conflicts of interest, applications held, reasons for the committee's locks.

    Parameters
    ----------
    run : ditp_model.outputs.report.ReportRun
    procedure : pandas.DataFrame, list of str or str, optional
        A table with French headers, or French lines (one per fact).
        Default: ``run.procedure``.

    Returns
    -------
    str
        HTML starting on a new printed page, with its heading (table
        ``procedure`` or a list); empty text when there is nothing to record.
    """
    from ditp_model.outputs.report_sections import _div, _e, _p

    data = getattr(run, "procedure", None) if procedure is None else procedure
    if _is_empty(data):
        return ""
    head = '<h2 class="ditp-h2 ditp-annexe-debut">Annexe de procédure</h2>'
    intro = _p("Déports pour conflit d'intérêts et avis écartés, dossiers mis en attente d'évaluation, motifs des décisions "
               "du comité sur des dossiers nommés (dossiers imposés ou écartés) et rappel de la liste principale et de la "
               "liste complémentaire.")
    if isinstance(data, pd.DataFrame):
        return _div(head, intro, _frame_table(data, id="procedure"))
    lines = [data] if isinstance(data, str) else list(data)
    return _div(head, intro, '<ul id="procedure">' + "".join(f"<li>{_e(x)}</li>" for x in lines) + "</ul>")


def technical_annex_html(run) -> str:
    """Opening of the « Annexe technique » (new printed page): what it holds and who it is for."""
    from ditp_model.outputs.report_sections import _div, _p

    return _div('<h2 class="ditp-h2 ditp-annexe-debut">Annexe technique</h2>',
                _p("Pour la vérification et l'archivage : les paramètres tels que l'outil les nomme, les fichiers lus et "
                   "leurs empreintes, le calcul (solveur, règle de départage), l'empreinte de la décision et l'environnement "
                   "de calcul. « ditp-model verify » refait la décision à partir de ces éléments."))
