"""Helpers for the thin notebooks: where the sample data are, and French display tables.

Notebooks only call these; all logic stays in the package where it is tested.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ditp_model.scoring.pipeline import Evaluation
from ditp_model.french import format_eur, format_number, format_points
from ditp_model.inputs.schema import MATURITY_LABELS_FR, ORG_TYPE_LABELS_FR

__all__ = ["repo_data", "sample_inputs", "wait_for_page_request", "eligibility_frame_fr", "ranked_frame_fr", "eligibility_counts_fr",
           "selection_frame_fr", "not_fundable_frame_fr"]


def repo_data() -> Path:
    """The ``data/`` folder of the source checkout (beside the package).

    Raises
    ------
    FileNotFoundError
        When the package is not run from a checkout (French message).
    """
    p = Path(__file__).resolve().parents[2] / "data"
    if not (p / "appel_2021.toml").exists():
        raise FileNotFoundError(f"dossier data/ introuvable à côté du paquet ({p}) : ouvrir les notebooks depuis le dépôt")
    return p


def wait_for_page_request() -> bool:
    """In a kernel that Voilà pre-heats, wait here until a person opens the page; elsewhere return at once.

    ``ditp-model comite`` asks Voilà to keep one kernel started in advance
    (``--VoilaConfiguration.preheat_kernel=True``): it runs the page's notebook up to this call
    (the imports, most of the kernel's start-up) before anyone asks for the page, then waits.
    When the page is requested, Voilà hands it that kernel and the notebook goes on: the data
    are read and the panel is computed *after* the request, never before, so a page never
    shows files or saved scenarios as they were when the kernel was pre-heated.

    Outside such a kernel (JupyterLab, nbval, papermill, or a kernel Voilà starts for a
    request, whose ``VOILA_PREHEAT`` is ``"False"``), nothing is imported and the call
    returns at once.

    Returns
    -------
    bool
        True when it waited for a request, False when there was nothing to wait for.

    Raises
    ------
    RuntimeError
        In a pre-heated kernel whose wait ended without the request's details (Voilà's
        request socket could not be reached): the page is not built from data read before
        anyone asked for it (French message).
    """
    if os.environ.get("VOILA_PREHEAT") != "True":
        return False
    from voila.utils import wait_for_request  # imported only in a pre-heated kernel, before the request

    wait_for_request()
    # Voilà copies the request's CGI-like variables into the environment once the request has arrived
    if not os.environ.get("SCRIPT_NAME"):
        raise RuntimeError("noyau préchauffé : la demande de la page n'a pas été reçue (canal de requête de Voilà "
                           "injoignable) ; recharger la page, ou relancer « ditp-model comite »")
    return True


def sample_inputs():
    """The 2021 call rules and the fictitious sample applications and reviews, loaded.

    Returns
    -------
    ditp_model.inputs.io.Inputs
    """
    from ditp_model.inputs.io import load_inputs

    d = repo_data()
    return load_inputs(d / "appel_2021.toml", d / "candidatures_exemple.csv", d / "evaluations_exemple.csv")


def eligibility_counts_fr(ev: Evaluation) -> pd.DataFrame:
    """Counts per eligibility status, French labels.

    Returns
    -------
    pandas.DataFrame
        Columns ``Statut``, ``Dossiers`` (int).
    """
    t = ev.table
    rows = [("Candidatures", len(t)), ("Éligibles et classées", int((t["eligible"] & t["scored"]).sum())),
            ("Éligibles, avis insuffisants", int((t["eligible"] & ~t["scored"]).sum())),
            ("Non éligibles", int((~t["eligible"]).sum()))]
    return pd.DataFrame(rows, columns=["Statut", "Dossiers"])


def eligibility_frame_fr(ev: Evaluation) -> pd.DataFrame:
    """Ineligible applications with every reason, French column names.

    Returns
    -------
    pandas.DataFrame
        ``Dossier``, ``Porteur``, ``Type de porteur``, ``Motifs`` — one row per
        ineligible application, in input order (index reset).
    """
    t = ev.table[~ev.table["eligible"]]
    return pd.DataFrame({
        "Dossier": t["application_id"],
        "Porteur": t["lead_org"],
        "Type de porteur": t["lead_org_type"].map(ORG_TYPE_LABELS_FR),
        "Motifs": t["reasons"],
    }).reset_index(drop=True)


def ranked_frame_fr(ev: Evaluation, top: int | None = None) -> pd.DataFrame:
    """Ranked eligible, scored applications, French columns, amounts and scores formatted the French way.

    Returns
    -------
    pandas.DataFrame
        Index ``Rang``; columns ``Dossier``, ``Intitulé``, ``Région``,
        ``Maturité``, ``Note`` (text ``72,50``), one column per criterion
        (text, 0–100 % of the criterion), ``Demandé`` (text ``120 000 €``).
    """
    t = ev.table[ev.table["rank"].notna()].sort_values("rank")
    if top is not None:
        t = t.head(top)
    out = pd.DataFrame({
        "Rang": t["rank"].astype(int),
        "Dossier": t["application_id"],
        "Intitulé": t["title"],
        "Région": t["region"],
        "Maturité": t["maturity"].map(MATURITY_LABELS_FR),
        "Note": t["score"].map(format_points),
    })
    for c in ev.rules.criteria:
        out[c.label] = (100 * t[f"{c.name}_score"]).map(lambda v: format_points(v).split(",")[0] + " %")
    out["Demandé"] = t["requested_eur"].map(format_eur)
    return out.set_index("Rang")


def selection_frame_fr(ev: Evaluation, params=None) -> pd.DataFrame:
    """The decision rule, the quality thresholds and the ex aequo band δ in force, French labels.

    Parameters
    ----------
    ev : Evaluation
    params : AllocationParams, optional
        The committee's values; None: the call's ``[selection]`` values.

    Returns
    -------
    pandas.DataFrame
        Columns ``Réglage``, ``Valeur`` (text).
    """
    from ditp_model.rules.allocation import RULE_LABELS_FR, AllocationParams, quality_thresholds

    params = params or AllocationParams()
    rules = ev.rules
    sel = rules.selection
    overall, per = quality_thresholds(ev, params)
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    band = sel.tie_band_points if params.tie_band_points is None else params.tie_band_points
    rows = [("Règle de décision", RULE_LABELS_FR[params.rule or sel.rule]),
            ("Note globale minimale", f"{format_points(overall)} sur 100" if overall > 0 else "aucune")]
    for c in rules.criteria:
        if c.source == "reviews":
            v = per.get(c.name)
            rows.append((f"Minimum « {c.label} »",
                         f"{format_number(v, 2)} sur l'échelle {format_number(lo, 0)}–{format_number(hi, 0)}" if v is not None
                         else "aucun"))
    rows.append(("Bande d'ex aequo δ", "calculée à partir des évaluations (« auto »)" if band == "auto"
                 else f"{format_points(float(band))} point(s)"))
    return pd.DataFrame(rows, columns=["Réglage", "Valeur"])


def not_fundable_frame_fr(ev: Evaluation, params=None) -> pd.DataFrame:
    """Eligible, scored applications below a quality threshold, with the reason, best rank first.

    Returns
    -------
    pandas.DataFrame
        Index ``Rang``; columns ``Dossier``, ``Intitulé``, ``Note`` (text
        ``48,20``), ``Motif`` (« non finançable : ouverture 2,10/5 sous le seuil de 2,50 »).
    """
    from ditp_model.rules.allocation import threshold_failures

    why = threshold_failures(ev, params)
    t = ev.table[ev.table["application_id"].isin(why)].sort_values("rank")
    return pd.DataFrame({
        "Rang": t["rank"].astype(int),
        "Dossier": t["application_id"],
        "Intitulé": t["title"],
        "Note": t["score"].map(format_points),
        "Motif": t["application_id"].map(why),
    }).set_index("Rang")
