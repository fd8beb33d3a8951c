"""Helpers for the thin notebooks: where the sample data are, and French display tables.

Notebooks only call these; all logic stays in the package where it is tested.

What a committee member reads in a notebook is French (trial 2, D8): every table
returned here has French headers (the data dictionary's labels,
:data:`ditp_model.inputs.schema.COLUMN_LABELS_FR`, and the call's criterion labels),
French values as text (amounts « 629 370 € », scores « 64,21 » with a decimal comma,
dates « 30/06/2022 », « oui » / « non », lists of applications « P027, P053 » or « — »),
and a meaningful index (« Dossier », « Rang », « Vague »…), never a bare 0, 1, 2.
:func:`frame_fr` does the formatting; each ``*_frame_fr`` helper names the columns
of one analysis.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from ditp_model.scoring.pipeline import Evaluation
from ditp_model.french import format_eur, format_number, format_points
from ditp_model.inputs.schema import COLUMN_LABELS_FR, MATURITY_LABELS_FR, ORG_TYPE_LABELS_FR

__all__ = ["repo_data", "sample_inputs", "wait_for_page_request", "voila_request_info_url", "eligibility_frame_fr", "ranked_frame_fr", "eligibility_counts_fr",
           "selection_frame_fr", "not_fundable_frame_fr", "format_percent", "format_date", "format_ids", "frame_fr",
           "criterion_labels", "counts_frame_fr", "robustness_counts_fr", "agreement_counts_fr",
           "milestone_status_counts_fr", "swing_frame_fr", "stability_frame_fr", "envelope_sweep_frame_fr",
           "near_optimal_frame_fr", "member_weights_frame_fr", "contested_frame_fr", "posterior_fit_fr",
           "reviewer_leniency_frame_fr", "grey_zone_frame_fr", "lottery_summary_fr", "waves_frame_fr",
           "waves_comparison_fr", "waves_difference_frame_fr", "reserve_replay_frame_fr", "best_reserve_fr",
           "reserve_advice_header_fr", "reserve_advice_frame_fr", "followup_frame_fr"]


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


def voila_request_info_url() -> str:
    """The address where a kernel pre-heated by Voilà receives the details of the page request.

    Voilà's own address (``voila.utils.wait_for_request``, Voilà 0.5): ``VOILA_WS_PROTOCOL``
    (default ``ws``), ``VOILA_APP_IP`` (``127.0.0.1``), ``VOILA_APP_PORT`` (``8866``), then
    ``VOILA_WS_BASE_URL`` or else ``VOILA_SERVER_URL`` (``/``), ``voila/query/`` and the kernel's
    id ``VOILA_KERNEL_ID``, all from the kernel's environment, which Voilà sets.
    """
    env = os.environ
    base = env.get("VOILA_WS_BASE_URL", env.get("VOILA_SERVER_URL", "/"))
    return (f"{env.get('VOILA_WS_PROTOCOL', 'ws')}://{env.get('VOILA_APP_IP', '127.0.0.1')}:"
            f"{env.get('VOILA_APP_PORT', '8866')}{base}voila/query/{env.get('VOILA_KERNEL_ID')}")


def _receive_request_info(url: str, timeout_s: float = 5.0) -> str | None:
    """The one message Voilà's request-info socket sends (JSON text), or None when it cannot be reached.

    Run in a thread of its own with its own event loop, as Voilà does: the kernel's loop is busy
    running the cell that waits.
    """
    import asyncio
    import threading

    import websockets  # a dependency of Voilà, light (Voilà's own module imports its whole server)

    async def receive():
        try:
            async with websockets.connect(url, open_timeout=timeout_s) as ws:
                return await ws.recv()
        except (TimeoutError, OSError, websockets.exceptions.WebSocketException):
            return None  # refused, timed out, or closed before sending: the caller refuses to go on

    box: list = []
    thread = threading.Thread(target=lambda: box.append(asyncio.run(receive())))
    thread.start()
    thread.join()
    return box[0] if box else None


def wait_for_page_request() -> bool:
    """In a kernel that Voilà pre-heats, wait here until a person opens the page; elsewhere return at once.

    ``ditp-model comite`` asks Voilà to keep one kernel started in advance
    (``--VoilaConfiguration.preheat_kernel=True``): it runs the page's notebook up to this call
    (the imports, most of the kernel's start-up) before anyone asks for the page, then waits.
    When the page is requested, Voilà hands it that kernel and the notebook goes on: the data
    are read and the panel is computed *after* the request, never before, so a page never
    shows files or saved scenarios as they were when the kernel was pre-heated.

    The wait is Voilà's ``voila.utils.wait_for_request`` done here without importing Voilà's
    module, which imports Voilà's whole server (over 2 s: jupyter_server, jsonschema…) into the
    kernel: connect to :func:`voila_request_info_url`, receive the request's details (a JSON
    object of CGI-like variables, ``SCRIPT_NAME``, ``QUERY_STRING``…) and put them in the
    environment, as Voilà does.  On the first page after ``ditp-model comite`` starts, that import
    was on the page's way.

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
    import json

    info = _receive_request_info(voila_request_info_url())
    if info is not None:
        for k, v in json.loads(info).items():
            os.environ[k] = v
    # Voilà sends the request's CGI-like variables once the request has arrived
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
        Index ``Statut``; column ``Dossiers`` (int).
    """
    t = ev.table
    rows = [("Candidatures", len(t)), ("Éligibles et classées", int((t["eligible"] & t["scored"]).sum())),
            ("Éligibles, avis insuffisants", int((t["eligible"] & ~t["scored"]).sum())),
            ("Non éligibles", int((~t["eligible"]).sum()))]
    return pd.DataFrame(rows, columns=["Statut", "Dossiers"]).set_index("Statut")


def eligibility_frame_fr(ev: Evaluation) -> pd.DataFrame:
    """Ineligible applications with every reason, French column names.

    Returns
    -------
    pandas.DataFrame
        Index ``Dossier``; columns ``Porteur``, ``Type de porteur``, ``Motifs``
        (every reason, whole) — one row per ineligible application, in input order.
    """
    t = ev.table[~ev.table["eligible"]]
    return pd.DataFrame({
        "Dossier": t["application_id"].to_numpy(),
        "Porteur": t["lead_org"].to_numpy(),
        "Type de porteur": t["lead_org_type"].map(ORG_TYPE_LABELS_FR).to_numpy(),
        "Motifs": t["reasons"].to_numpy(),
    }).set_index("Dossier")


def ranked_frame_fr(ev: Evaluation, top: int | None = None) -> pd.DataFrame:
    """Ranked eligible, scored applications, French columns, amounts and scores formatted the French way.

    Returns
    -------
    pandas.DataFrame
        Index ``Rang``; columns ``Dossier``, ``Intitulé``, ``Région``,
        ``Maturité``, ``Note`` (text ``72,50``), one column per criterion
        (text, share of the criterion's maximum in whole percents, rounded to
        the nearest: 0,9071 → « 91 % »), ``Demandé`` (text ``120 000 €``).
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
        out[c.label] = t[f"{c.name}_score"].map(lambda v: format_percent(v, 0))
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
        Index ``Réglage``; column ``Valeur`` (text).
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
    return pd.DataFrame(rows, columns=["Réglage", "Valeur"]).set_index("Réglage")


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


# --------------------------------------------------------------------------- French values (trial 2, D8)


def format_percent(share: float, digits: int = 1) -> str:
    """A share of 1 as a French percentage, rounded half up (never truncated): ``0.9071`` -> ``"90,7 %"``.

    Parameters
    ----------
    share : float
        0–1 (a probability, a normalised weight, a criterion score); NaN or None -> ``"—"``.
    digits : int
        Decimals of the percentage (``0``: ``0.6667`` -> ``"67 %"``).
    """
    from decimal import ROUND_HALF_UP, Decimal

    if share is None or pd.isna(share):
        return "—"
    # repr: the shortest decimal that is this float (0.725 -> "0.725", not 0.72499999…), then half up
    v = (Decimal(repr(float(share))) * 100).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{format_number(float(v), digits)}\u00a0%"


def format_date(value) -> str:
    """A date as a French reader writes it: ``2022-06-30`` -> ``"30/06/2022"``.

    `value`: a date, datetime, Timestamp or ISO text; empty -> ``"—"``.
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return "—"
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return f"{value:%d/%m/%Y}"


def format_ids(ids) -> str:
    """Applications (or members) as a French list: ``("P027", "P053")`` -> ``"P027, P053"``; empty -> ``"—"``."""
    if ids is None or (not isinstance(ids, (list, tuple, set, frozenset, str)) and pd.isna(ids)):
        return "—"
    ids = [ids] if isinstance(ids, str) else list(ids)
    return ", ".join(str(i) for i in ids) if ids else "—"


def _formatter(kind):
    if callable(kind):
        return kind
    if isinstance(kind, tuple):  # ("number", digits)
        return lambda v, d=kind[1]: format_number(float(v), d) if pd.notna(v) else "—"
    return {
        "text": lambda v: "—" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v),
        "int": lambda v: "—" if pd.isna(v) else format_number(int(v), 0),
        "eur": lambda v: "—" if pd.isna(v) else format_eur(int(v)),
        "points": lambda v: format_points(float(v)) if pd.notna(v) else "—",
        "percent": lambda v: format_percent(v, 1),
        "percent0": lambda v: format_percent(v, 0),
        "bool": lambda v: "—" if v is None or (not isinstance(v, bool) and pd.isna(v)) else ("oui" if bool(v) else "non"),
        "ids": format_ids,
        "date": format_date,
    }[kind]


def frame_fr(frame: pd.DataFrame, columns: dict, *, index: str | None = None) -> pd.DataFrame:
    """A table for a French reader: chosen columns, French headers, every value as French text.

    Parameters
    ----------
    frame : pandas.DataFrame
        The analysis' table (not modified).
    columns : dict
        Source column -> ``(French header, kind)``, in the order shown.  Kinds: ``"text"``,
        ``"int"`` (« 1 500 »), ``"eur"`` (whole euros, « 629 370 € »), ``"points"`` (two
        decimals, « 64,21 »), ``("number", k)`` (k decimals), ``"percent"`` / ``"percent0"``
        (a share of 1, rounded half up to 1 or 0 decimal: « 97,5 % »), ``"bool"`` (« oui » /
        « non »), ``"ids"`` (a tuple of ids, « P027, P053 », « — » when empty), ``"date"``
        (« 30/06/2022 »), or any function value -> text.
    index : str, optional
        French header of the column that becomes the index (« Dossier »…); None: the
        first column shown.

    Returns
    -------
    pandas.DataFrame
        Text values; the index named `index` (never a bare 0, 1, 2).
    """
    out = pd.DataFrame({label: [_formatter(kind)(v) for v in frame[col]] for col, (label, kind) in columns.items()})
    return out.set_index(index or next(iter(columns.values()))[0])


def criterion_labels(rules) -> dict[str, str]:
    """Criterion code -> the call's label (``{"impact": "Impact", "openness": "Ouverture", …}``)."""
    return {c.name: c.label for c in rules.criteria}


def counts_frame_fr(labels, what: str, counted: str = "Dossiers", order=None) -> pd.DataFrame:
    """How many rows have each French label (most frequent first, or in `order`): index `what`, column `counted` (int)."""
    counts = pd.Series(list(labels), dtype="object").value_counts(sort=True)
    if order is not None:
        counts = counts.reindex([o for o in order if o in counts.index])
    return pd.DataFrame({what: counts.index.astype(str), counted: counts.to_numpy(dtype="int64")}).set_index(what)


# --------------------------------------------------------------------------- notebook 03: robustness


def robustness_counts_fr(mc) -> pd.DataFrame:
    """Candidates per robustness class of a weight Monte-Carlo (« toujours financé », « incertain », « jamais financé »)."""
    from ditp_model.uncertainty.robustness import ROBUSTNESS_CLASSES_FR

    t = mc.table[mc.table["candidate"].astype(bool)]
    return counts_frame_fr(t["robustness"].map(ROBUSTNESS_CLASSES_FR), "Robustesse aux pondérations",
                           order=list(ROBUSTNESS_CLASSES_FR.values()))


def agreement_counts_fr(analysis) -> pd.DataFrame:
    """Candidates per agreement of the members' portfolios (« consensus », « contesté », « écarté »)."""
    from ditp_model.uncertainty.members import MEMBER_CLASSES_FR

    t = analysis.table[analysis.table["candidate"].astype(bool)]
    return counts_frame_fr(t["agreement"].map(MEMBER_CLASSES_FR), "Accord des membres",
                           order=list(MEMBER_CLASSES_FR.values()))


def swing_frame_fr(mc) -> pd.DataFrame:
    """Applications funded in some weight draws only (``robustness == "swing"``), most likely first.

    Parameters
    ----------
    mc : ditp_model.uncertainty.robustness.WeightMonteCarlo

    Returns
    -------
    pandas.DataFrame
        Index ``Dossier``; ``Note`` (points at the committee's weights), ``Financé aux pondérations du comité``
        (oui/non), ``Probabilité d'être financé`` (%), ``Montant espéré`` (whole euros).
    """
    t = mc.table[mc.table["robustness"] == "swing"].sort_values(["p_funded", "application_id"], ascending=[False, True],
                                                                 kind="mergesort")
    return frame_fr(t, {"application_id": ("Dossier", "text"), "score": ("Note", "points"),
                        "funded_at_weights": ("Financé aux pondérations du comité", "bool"),
                        "p_funded": ("Probabilité d'être financé", "percent"),
                        "expected_award_eur": ("Montant espéré", "eur")})


def stability_frame_fr(table: pd.DataFrame, rules) -> pd.DataFrame:
    """:func:`ditp_model.uncertainty.robustness.stability_intervals` with the call's criterion labels.

    Returns
    -------
    pandas.DataFrame
        Index ``Critère`` (« Impact »…); ``Poids du comité``, ``Bas``, ``Haut`` (normalised weights,
        three decimals: the search's precision is 0,001), and for each side of the interval the
        applications that enter and leave the list beyond it.
    """
    labels = criterion_labels(rules)
    w3 = ("number", 3)
    return frame_fr(table.assign(criterion=table["criterion"].map(lambda c: labels.get(c, c))), {
        "criterion": ("Critère", "text"), "weight": ("Poids du comité", w3), "low": ("Bas", w3), "high": ("Haut", w3),
        "below_enters": ("Sous le bas : entrent", "ids"), "below_leaves": ("Sous le bas : sortent", "ids"),
        "above_enters": ("Au-dessus du haut : entrent", "ids"), "above_leaves": ("Au-dessus du haut : sortent", "ids")})


def envelope_sweep_frame_fr(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`ditp_model.uncertainty.robustness.envelope_sweep`: index ``Enveloppe`` (euros); laureates, sum of
    scores (points), awarded (euros), applications entering and leaving since the previous envelope."""
    return frame_fr(table, {"envelope_eur": ("Enveloppe", "eur"), "n_funded": ("Lauréats", "int"),
                            "total_score": ("Somme des notes des lauréats", "points"),
                            "total_awarded_eur": ("Attribué", "eur"), "entered": ("Entrent", "ids"),
                            "left": ("Sortent", "ids")})


def near_optimal_frame_fr(near) -> pd.DataFrame:
    """:func:`ditp_model.uncertainty.robustness.near_optimal_portfolios` for a reader.

    ``gap_pct`` is labelled for what it is: under the merit order, the money the portfolio spends less
    than the decision (percent of the decision's spending); under an optimisation rule, the value it
    loses (trial 2, S10).  Portfolio 0 is the decision itself.

    Returns
    -------
    pandas.DataFrame
        Index ``Portefeuille`` (« décision », « 1 », « 2 »…); sum of scores (points), the gap,
        laureates, awarded (euros), applications it funds that the decision does not and the reverse.
    """
    merit = near.rule in ("merit_order", "ranking")
    gap = "Dépense en moins que la décision" if merit else "Valeur en moins que la décision"
    t = near.table.assign(portfolio=["décision" if p == 0 else str(p) for p in near.table["portfolio"]])
    return frame_fr(t, {"portfolio": ("Portefeuille", "text"), "total_score": ("Somme des notes des lauréats", "points"),
                        "gap_pct": (gap, lambda v: format_percent(v / 100, 2)), "n_funded": ("Lauréats", "int"),
                        "total_awarded_eur": ("Attribué", "eur"), "enters": ("Entrent (par rapport à la décision)", "ids"),
                        "leaves": ("Sortent", "ids")})


def member_weights_frame_fr(analysis, rules) -> pd.DataFrame:
    """Each member's normalised weights (%), laureates and sum of scores at their weights (index ``Membre``)."""
    cols = {"member": ("Membre", "text")}
    cols.update({c.name: (c.label, "percent0") for c in rules.criteria})
    cols.update({"n_funded": ("Lauréats", "int"), "total_score": ("Somme des notes des lauréats", "points")})
    return frame_fr(analysis.members, cols)


def contested_frame_fr(analysis) -> pd.DataFrame:
    """Applications some members fund and others do not (``agreement == "contested"``), input order.

    Returns
    -------
    pandas.DataFrame
        Index ``Dossier``; members who fund it (count and names), funded by a strict majority,
        at the average weights, at the closest weights that fund the majority (oui/non).
    """
    t = analysis.table[analysis.table["agreement"] == "contested"]
    return frame_fr(t, {"application_id": ("Dossier", "text"), "n_members": ("Membres qui le financent", "int"),
                        "members": ("Lesquels", "ids"), "majority": ("Majorité", "bool"),
                        "funded_at_average": ("Financé aux pondérations moyennes", "bool"),
                        "funded_at_closest": ("Financé aux pondérations les plus proches", "bool")})


def posterior_fit_fr(votes, posterior) -> str:
    """One French line on the fit of the review model: sizes, draws, R̂ and effective size
    (:meth:`ditp_model.scoring.review_model.ReviewPosterior.convergence_fr`), decimal comma."""
    return (f"{len(votes.proposals)} dossiers, {len(votes.assessors)} évaluateurs, {len(votes.table)} notes ; "
            f"{format_number(posterior.n_draws, 0)} tirages ; {posterior.convergence_fr()}"
            + ("" if posterior.converged else " — ATTENTION : chaînes non convergées (R̂ ≥ 1,01)"))


def reviewer_leniency_frame_fr(votes, posterior) -> pd.DataFrame:
    """Each reviewer's estimated leniency (posterior mean of ν, points of the 0–5 scale), most severe first.

    Returns
    -------
    pandas.DataFrame
        Index ``Évaluateur`` (most severe first: the index's order is the check of the
        notebook); ``Indulgence (points)`` (text, two decimals: negative = severe).
    """
    nu = pd.Series(posterior.nu.mean(axis=0), index=[str(a) for a in votes.assessors]).sort_values(kind="mergesort")
    return pd.DataFrame({"Évaluateur": nu.index,
                         # round first: a leniency of -0.004 reads « 0,00 », not « -0,00 »
                         "Indulgence (points)": [format_number(round(float(v), 2) + 0.0, 2) for v in nu.to_numpy()]}
                        ).set_index("Évaluateur")


def grey_zone_frame_fr(funding) -> pd.DataFrame:
    """The grey zone of :func:`ditp_model.uncertainty.grey_zone.posterior_funding`, in order of rank.

    Returns
    -------
    pandas.DataFrame
        Index ``Rang`` (the decision's); application, score (points), requested (euros), funded at the
        committee's weights, expected rank (two decimals), probability of being funded (%), expected award.
    """
    t = funding.table[funding.table["zone"] == "grey"]
    return frame_fr(t, {"rank": ("Rang", "int"), "application_id": ("Dossier", "text"), "score": ("Note", "points"),
                        "requested_eur": ("Demandé", "eur"), "funded_at_weights": ("Financé aux pondérations du comité", "bool"),
                        "er": ("Rang espéré", "points"), "p_funded": ("Probabilité d'être financé", "percent"),
                        "expected_award_eur": ("Montant espéré", "eur")})


def lottery_summary_fr(lottery) -> str:
    """French lines on a grey-zone lottery: counts, amounts, the draw's order and its check from the seed."""
    from ditp_model.uncertainty.grey_zone import check_lottery_order

    return "\n".join([
        f"Solides : {len(lottery.solid)} ; zone grise : {len(lottery.grey)} ; tirés : {len(lottery.winners)} ; "
        f"attribué : {format_eur(lottery.awarded_eur)} ; reste : {format_eur(lottery.remaining_eur)}",
        f"Ordre du tirage : {format_ids(lottery.order)}",
        "Ordre vérifié à partir de la graine : " + ("oui" if check_lottery_order(lottery.record) else "NON")])


# --------------------------------------------------------------------------- notebook 05: waves and reserve


def waves_frame_fr(waves) -> pd.DataFrame:
    """:func:`ditp_model.timeline.waves.waves_table` for a reader (index ``Vague``; dates, euros, points, status in French)."""
    from ditp_model.rules.base import SolveStatus
    from ditp_model.timeline.waves import waves_table

    return frame_fr(waves_table(waves), {
        "wave": ("Vague", "int"), "cutoff": ("Date limite", "date"), "candidates": ("Candidats", "int"),
        "funded": ("Financés", "int"), "awarded_eur": ("Attribué", "eur"), "committed_before_eur": ("Engagé avant", "eur"),
        "reserve_eur": ("Réserve", "eur"), "remaining_eur": ("Reste", "eur"), "cumulative_funded": ("Lauréats cumulés", "int"),
        "total_score": ("Somme des notes des lauréats", "points"),
        "status": ("Statut du calcul", lambda v: SolveStatus(v).label_fr)})


def waves_comparison_fr(cmp: dict) -> str:
    """French lines comparing the waves with the decision taken at once (:func:`ditp_model.timeline.waves.compare_with_all_at_once`)."""
    return "\n".join([
        f"Vagues : {len(cmp['waves_funded'])} lauréats, {format_eur(cmp['waves_awarded_eur'])}, somme des notes des "
        f"lauréats {format_points(cmp['waves_total_score'])} points",
        f"En une fois : {len(cmp['all_at_once_funded'])} lauréats, {format_eur(cmp['all_at_once_awarded_eur'])}, somme des "
        f"notes des lauréats {format_points(cmp['all_at_once_total_score'])} points",
        f"Financés par les vagues seulement : {format_ids(cmp['only_in_waves'])}",
        f"Financés en une fois seulement : {format_ids(cmp['only_in_all_at_once'])}",
        f"Dont mieux notés que le dernier lauréat des vagues : {format_ids(cmp['passed_over']).replace('—', 'aucun')}"])


def waves_difference_frame_fr(evaluation: Evaluation, cmp: dict) -> pd.DataFrame:
    """The applications funded by one way only: index ``Dossier``; score, requested, submitted on, funded by."""
    t = evaluation.table.set_index("application_id")
    ids = list(cmp["only_in_waves"]) + list(cmp["only_in_all_at_once"])
    view = t.loc[ids, ["score", "requested_eur", "submitted_at"]].reset_index()
    view["by"] = ["les vagues"] * len(cmp["only_in_waves"]) + ["la décision en une fois"] * len(cmp["only_in_all_at_once"])
    return frame_fr(view, {"application_id": (COLUMN_LABELS_FR["application_id"], "text"), "score": ("Note", "points"),
                           "requested_eur": (COLUMN_LABELS_FR["requested_eur"], "eur"),
                           "submitted_at": (COLUMN_LABELS_FR["submitted_at"], "date"), "by": ("Financé par", "text")})


def reserve_replay_frame_fr(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`ditp_model.timeline.reserve.reserve_replay_table` for a reader (index ``Réserve``)."""
    return frame_fr(table, {"reserve_eur": ("Réserve", "eur"), "funded": ("Lauréats", "int"),
                            "awarded_eur": ("Attribué", "eur"),
                            "waves_total_score": ("Somme des notes des vagues", "points"),
                            "score_gap": ("Écart à la décision en une fois (points)", "points"),
                            "gap_closed": ("Part de l'écart comblée", "percent0")})


def best_reserve_fr(table: pd.DataFrame) -> str:
    """The constant reserve that closes the gap most, in French (ties: the smallest reserve)."""
    best = table.sort_values(["score_gap", "reserve_eur"], kind="mergesort").iloc[0]
    return (f"Réserve qui comble le plus l'écart : {format_eur(int(best['reserve_eur']))} (écart "
            f"{format_points(best['score_gap'])} points, {format_percent(best['gap_closed'], 0)} de l'écart sans réserve comblé)")


def reserve_advice_header_fr(advice: pd.DataFrame) -> str:
    """The rule, the date of the first decision, applications seen, seed and simulations of
    :func:`ditp_model.timeline.reserve.reserve_advice`, in one French line (date « 29/09/2021 »)."""
    from ditp_model.rules.base import RULE_LABELS_FR

    a = advice.attrs
    return (f"Règle : {RULE_LABELS_FR[a['rule']]} ; dossiers vus au {format_date(a['seen_cutoff'])} : {a['seen']} ; "
            f"graine : {a['seed']} ; simulations : {a['n_sims']}")


def reserve_advice_frame_fr(advice: pd.DataFrame) -> pd.DataFrame:
    """:func:`ditp_model.timeline.reserve.reserve_advice` for a reader: index ``Réserve, seuil`` (one row per couple)."""
    t = advice.assign(couple=[f"{format_eur(int(r))}, seuil {format_number(float(s), 0)} points"
                              for r, s in zip(advice["reserve_eur"], advice["threshold"])])
    return frame_fr(t, {"couple": ("Réserve, seuil de note", "text"), "now_funded": ("Financés maintenant", "int"),
                        "now_awarded_eur": ("Attribué maintenant", "eur"),
                        "mean_ratio": ("Notes / décision en une fois (moyenne)", "percent"),
                        "p10_ratio": ("10 %", "percent"), "p90_ratio": ("90 %", "percent"),
                        "mean_awarded_eur": ("Dépensé (moyenne)", "eur"),
                        "mean_missed": ("Lauréats manqués (moyenne)", ("number", 1))})


# --------------------------------------------------------------------------- notebook 06: follow-up


def milestone_status_counts_fr(milestones: pd.DataFrame) -> pd.DataFrame:
    """Milestones per status as written in the file (:data:`ditp_model.timeline.followup.MILESTONE_STATUS_LABELS_FR`)."""
    from ditp_model.timeline.followup import MILESTONE_STATUS_LABELS_FR

    return counts_frame_fr(milestones["status"].map(MILESTONE_STATUS_LABELS_FR), "Statut dans le fichier", "Jalons")


def followup_frame_fr(table: pd.DataFrame) -> pd.DataFrame:
    """A follow-up table of :mod:`ditp_model.timeline.followup` (French headers already) for a reader.

    Columns ending in « (€) » (whole euros) are written « 54 000 € » under the same header without
    « (€) »; dates « 30/06/2022 »; counts of days and other integers with French grouping; the
    index is ``Dossier``.
    """
    cols = {}
    for c in table.columns:
        s = table[c]
        if c.endswith(" (€)"):
            cols[c] = (c.removesuffix(" (€)"), "eur")
        elif pd.api.types.is_datetime64_any_dtype(s) or any(isinstance(v, dt.date) for v in s.dropna().head(1)):
            cols[c] = (c, "date")
        elif pd.api.types.is_integer_dtype(s):
            cols[c] = (c, "int")
        elif pd.api.types.is_float_dtype(s):
            cols[c] = (c, ("number", 1))
        else:
            cols[c] = (c, "text")
    return frame_fr(table, cols, index="Dossier")
