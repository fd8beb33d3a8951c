"""Feedback to applicants: a short French letter fragment per application, generated from the decision table.

Each fragment gives the decision and the award; the score on each criterion
and the overall score against the median of the funded applications; the
rank; and, when the application is not funded, its *entry gap* — the score
points it lacked, everything else unchanged (``ditp_model.explain``) — or the
rule that kept it out.  Ineligible applications get the reasons.  Nothing
about reviewers is written (no identities, no individual scores).

Applicant-supplied text (title, organisation) is escaped for Markdown and
HTML in the ``.md`` files, and neutralised against spreadsheet formulas in the
CSV (:func:`ditp_model.report.csv_bytes`).

With ``objective="total_score"`` the portfolio value is the sum of the funded
scores, so an entry gap is directly the score increase the application needed.
With ``"score_weighted_award"`` it is in points × euros: divided by the
award the application would get (its capped request, when the call does not
cut requests) it is again a score increase.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from .call import CallRules
from .report_format import format_eur, format_number, format_points

__all__ = ["feedback_table", "letter_fr", "feedback_files", "safe_filename"]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}#|!<>~]|&(?=#?\w+;))")


def _md(text) -> str:
    """Applicant text made inert in Markdown (and in the HTML a Markdown renderer makes), on one line.

    Markdown punctuation, ``<`` and ``>`` and an ``&`` that would start an
    entity are backslash-escaped (CommonMark): ``<script>`` shows as text.
    """
    t = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", t)


def safe_filename(application_id: str) -> str:
    """A file name for an application id: letters, digits, ``.``, ``_``, ``-`` only, no leading dot.

    Other characters become ``_``; ``../x`` cannot leave the folder.
    """
    name = re.sub(r"[^A-Za-z0-9._-]", "_", str(application_id)).lstrip(".")
    return name or "_"


def _ordinal(n: int) -> str:
    return "1er" if n == 1 else f"{n}e"


def _pct(x) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{format_number(100 * x, 1)} / 100"


def _decision_kind(row, lock_out) -> str:
    if not row.eligible:
        return "non recevable"
    if row.funded:
        return "retenu"
    if row.application_id in lock_out:
        return "écarté par le comité"
    if pd.isna(row.rank):
        return "non classé"
    return "non retenu"


def letter_fr(row, rules: CallRules, medians: dict, n_ranked: int, *, objective: str = "total_score",
              gaps_computed: bool = True, lock_out=frozenset(), worst_funded_rank: int | None = None,
              envelope_eur: int | None = None, footer: str = "") -> str:
    """The Markdown letter fragment of one application (a row of :func:`ditp_model.report.decision_table`).

    Parameters
    ----------
    row : namedtuple
        One row of the decision table (``itertuples``).
    rules : CallRules
        Criterion labels.
    medians : dict
        ``"score"`` and ``"<criterion>_score"`` -> median over funded applications.
    n_ranked : int
        Number of ranked (eligible, scored) applications.
    """
    kind = _decision_kind(row, lock_out)
    lines = [f"### Dossier {_md(row.application_id)} — « {_md(row.title)} »", "", f"Porteur : {_md(row.lead_org)}", ""]
    if kind == "retenu":
        detail = f"montant demandé : {format_eur(row.requested_eur)}"
        if int(row.award_eur) < int(row.requested_eur):
            cap = int(row.award_cap_eur)
            if cap < int(row.requested_eur) and int(row.award_eur) == cap:
                detail += f" ; plafond applicable : {format_eur(cap)}"
            else:
                detail += f" ; montant ajusté par le comité dans la limite de {format_eur(cap)}"
        lines.append(f"**Décision : retenu — montant attribué : {format_eur(int(row.award_eur))}** ({detail}).")
    elif kind == "non recevable":
        lines.append("**Décision : non recevable.** Le dossier ne remplit pas les conditions de l'appel : "
                     f"{_md(row.reasons)}.")
    elif kind == "écarté par le comité":
        lines.append("**Décision : non retenu** — écarté par décision du comité.")
    elif kind == "non classé":
        reason = getattr(row, "keeps_out", "") or "avis des évaluateurs insuffisants"
        lines.append(f"**Décision : non retenu** — le dossier n'a pas pu être classé : {_md(reason)}.")
    else:
        lines.append("**Décision : non retenu.**")
    if kind == "non recevable" or pd.isna(row.score):
        if footer:
            lines += ["", f"_{_md(footer)}_"]
        return "\n".join(lines) + "\n"

    lines += ["", "| Critère | Votre dossier | Médiane des lauréats |", "|---|---|---|"]
    for c in rules.criteria:
        lines.append(f"| {_md(c.label)} | {_pct(getattr(row, f'{c.name}_score'))} | {_pct(medians.get(f'{c.name}_score'))} |")
    med = medians.get("score")
    med_s = "—" if med is None or (isinstance(med, float) and math.isnan(med)) else f"{format_points(med)} / 100"
    lines.append(f"| **Note globale** | **{format_points(row.score)} / 100** | **{med_s}** |")
    lines.append("")
    if not pd.isna(row.rank):
        lines.append(f"Classement par note : {_ordinal(int(row.rank))} sur {n_ranked} dossiers éligibles notés.")
    if kind == "non retenu":
        gap = getattr(row, "entry_gap", math.nan)
        keeps = getattr(row, "keeps_out", "") or ""
        if gap is not None and not pd.isna(gap) and math.isfinite(gap):
            if objective == "total_score":
                need = gap
            elif int(row.award_floor_eur) == int(row.award_cap_eur) and int(row.award_cap_eur) > 0:
                need = gap / int(row.award_cap_eur)
            else:
                need = None
            if need is not None and need <= 0:
                lines.append("Écart d'entrée : nul — le dossier était à égalité avec la sélection retenue, départagée par "
                             "la règle de départage de l'appel (note, puis date de dépôt, puis identifiant).")
            elif need is not None:
                lines.append(f"Écart d'entrée : {format_points(need)} points — il aurait fallu une note globale supérieure "
                             f"d'au moins {format_points(need)} points pour que le dossier soit retenu, les autres dossiers "
                             "restant inchangés.")
            else:
                lines.append(f"Écart d'entrée : {format_number(gap / 1000, 1)} points × k€ de valeur de portefeuille.")
        elif keeps.startswith("impossible"):
            lines.append(f"Le dossier ne pouvait pas être retenu avec les règles fixées par le comité : {_md(keeps)}.")
        elif not gaps_computed:
            lines.append("Écart d'entrée : non calculé pour ce rapport.")
        if (objective == "total_score" and worst_funded_rank is not None and not pd.isna(row.rank)
                and int(row.rank) < worst_funded_rank):
            env = f" de {format_eur(envelope_eur)}" if envelope_eur else ""
            lines.append("La sélection retient l'ensemble de dossiers dont la somme des notes est la plus élevée dans "
                         f"l'enveloppe{env} : un dossier bien noté mais dont la demande est élevée "
                         f"({format_eur(int(row.requested_eur))}) peut laisser la place à plusieurs dossiers moins coûteux.")
    if footer:
        lines += ["", f"_{_md(footer)}_"]
    return "\n".join(lines) + "\n"


def feedback_table(table: pd.DataFrame, rules: CallRules, *, objective: str = "total_score", gaps_computed: bool = True,
                   lock_out=frozenset(), envelope_eur: int | None = None, footer: str = "") -> pd.DataFrame:
    """One letter fragment per application, in the table's order.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`ditp_model.report.decision_table` (with entry gaps when computed).
    rules : CallRules
    objective : {"total_score", "score_weighted_award"}
        Units of the entry gaps.
    gaps_computed : bool
    lock_out : set of str
        Applications the committee excluded.
    envelope_eur : int, optional
        Shown in the explanation of the optimum.
    footer : str
        A closing line (source of the decision).

    Returns
    -------
    pandas.DataFrame
        ``application_id``, ``intitule``, ``decision`` (``retenu``, ``non
        retenu``, ``non recevable``, ``non classé``, ``écarté par le
        comité``), ``montant_attribue_eur`` (int), ``lettre`` (Markdown).
    """
    funded = table[table["funded"]]
    medians = {c: (float(funded[c].median()) if len(funded) else math.nan)
               for c in ["score", *[f"{c.name}_score" for c in rules.criteria]]}
    n_ranked = int(table["rank"].notna().sum())
    worst = int(funded["rank"].max()) if len(funded) and funded["rank"].notna().any() else None
    rows = []
    for row in table.itertuples(index=False):
        text = letter_fr(row, rules, medians, n_ranked, objective=objective, gaps_computed=gaps_computed, lock_out=lock_out,
                         worst_funded_rank=worst, envelope_eur=envelope_eur, footer=footer)
        rows.append((str(row.application_id), str(row.title), _decision_kind(row, lock_out), int(row.award_eur), text))
    out = pd.DataFrame(rows, columns=["application_id", "intitule", "decision", "montant_attribue_eur", "lettre"])
    out["montant_attribue_eur"] = out["montant_attribue_eur"].astype("int64")
    return out


def feedback_files(table: pd.DataFrame, rules: CallRules, **kwargs) -> dict[str, bytes]:
    """``retours_candidats.csv`` (all fragments, formulas neutralised) and one ``retours/<id>.md`` per application.

    Keyword arguments are those of :func:`feedback_table`.
    """
    from .report import csv_bytes

    fb = feedback_table(table, rules, **kwargs)
    files = {"retours_candidats.csv": csv_bytes(fb)}
    seen: dict[str, int] = {}
    for aid, text in zip(fb["application_id"], fb["lettre"]):
        name = safe_filename(aid)
        k = seen.get(name.lower(), 0)
        seen[name.lower()] = k + 1
        if k:
            name = f"{name}_{k + 1}"
        files[f"retours/{name}.md"] = text.encode("utf-8")
    return files
