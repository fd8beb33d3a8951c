"""Due process in the committee panel (issue 13, item 8): conflicts of interest, applications awaiting reviews,
the reserve list, and the committee's reason for every lock — plain functions, no widget.

What the panel shows of them (tested without ipywidgets in ``tests/test_panel_due_process.py``):

* :func:`attach_conflicts` — a declarations file given to the panel (``CommitteePanel(..., conflicts=…)``,
  notebook 02's set-up): a review under a declared conflict is left out of the scores (treated as missing,
  :mod:`ditp_model.scoring.conflicts`); :func:`conflicts_table_fr` lists every declaration and what it did;
* :func:`held_table_fr` and :func:`provisional_banner_fr` — applications « en attente d'évaluation »
  (:mod:`ditp_model.rules.held`), the reviews each still needs, and the banner « Décision provisoire »
  when one of them could still enter the list of laureates;
* :func:`reserve_table_fr` — the reserve list (« liste complémentaire ») with the amount each would receive;
* :func:`lock_reasons_table_fr` — each lock with its written reason, or « motif à écrire »;
* :func:`final_publication_refusals`, :func:`check_final_publication` — why a final decision cannot be
  published from the state on display (a lock without a reason, a provisional decision), the rule
  ``ditp-model report`` applies without ``--provisoire``.

Kept apart from :mod:`ditp_model.session.state` so that it stays under 800 lines.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from ditp_model.french import format_eur, format_points
from ditp_model.inputs.io import Inputs
from ditp_model.rules.held import HELD_STATUS_FR, held_effect_fr
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.session.state import Outcome, PanelState, _list_fr

__all__ = ["NO_REASON_FR", "attach_conflicts", "conflicts_table_fr", "held_table_fr", "provisional_banner_fr",
           "reserve_table_fr", "lock_reasons_table_fr", "final_publication_refusals", "check_final_publication"]


#: Shown in place of a lock's missing reason (a final decision refuses it).
NO_REASON_FR = "motif à écrire"


def attach_conflicts(inputs: Inputs, conflicts) -> Inputs:
    """The panel's inputs with the declarations of conflicts of interest (reviews under a conflict are left out).

    Parameters
    ----------
    inputs : Inputs
        From :func:`ditp_model.inputs.io.load_inputs`.
    conflicts : path, pandas.DataFrame or None
        A declarations file (CSV or XLSX: ``person_id``, ``application_id``, ``nature``, ``role``,
        ``declared_on``), read and checked against the applications and the reviewers by
        :func:`ditp_model.inputs.conflicts.read_conflicts` and recorded among the files (SHA-256); a
        table already read; None: `inputs` unchanged.

    Raises
    ------
    InputError
        A declaration naming an unknown application or reviewer, a missing column… (French: file, row,
        column, value).
    """
    if conflicts is None:
        return inputs
    if isinstance(conflicts, pd.DataFrame):
        return replace(inputs, conflicts=conflicts)
    from ditp_model.inputs.conflicts import read_conflicts

    decl = read_conflicts(conflicts, inputs.applications["application_id"].tolist(), inputs.reviews["reviewer_id"].tolist())
    return replace(inputs, conflicts=decl, files={**inputs.files, str(conflicts): decl.attrs["sha256"]},
                   encodings={**inputs.encodings, str(conflicts): decl.attrs["encoding"]})


def conflicts_table_fr(evaluation: Evaluation) -> pd.DataFrame:
    """Every declared conflict of interest and what it did, in the declarations' order.

    Columns ``Dossier``, ``Personne``, ``Rôle`` (« évaluateur », « membre du comité »), ``Lien déclaré``
    and ``Effet`` (« avis écarté (ligne N du fichier des évaluations), compté comme manquant », « n'a pas
    évalué ce dossier », or, for a committee member, « pondérations non utilisées pour ce dossier (vues
    par membre) »).  Empty without declarations.
    """
    from ditp_model.inputs.conflicts import ROLE_LABELS_FR

    cols = ["Dossier", "Personne", "Rôle", "Lien déclaré", "Effet"]
    decl = evaluation.conflicts
    if decl is None or not len(decl):
        return pd.DataFrame(columns=cols)
    ex = evaluation.excluded_reviews
    lines = {} if ex is None else {(str(r.reviewer_id), str(r.application_id)): r.review_row for r in ex.itertuples()}
    rows = []
    for r in decl.itertuples():
        key = (str(r.person_id), str(r.application_id))
        if r.role == "member":
            effect = "pondérations non utilisées pour ce dossier (vues par membre)"
        elif key in lines:
            where = f" (ligne {int(lines[key])} du fichier des évaluations)" if pd.notna(lines[key]) else ""
            effect = f"avis écarté{where}, compté comme manquant"
        else:
            effect = "n'a pas évalué ce dossier : aucun avis écarté"
        rows.append((str(r.application_id), str(r.person_id), ROLE_LABELS_FR.get(r.role, r.role), str(r.nature), effect))
    return pd.DataFrame(rows, columns=cols)


def held_table_fr(outcome: Outcome) -> pd.DataFrame:
    """The applications « en attente d'évaluation » (fewer valid reviews than the call's minimum), input order.

    Columns ``Dossier``, ``Intitulé``, ``Avis valables`` (« 1 sur 2 »), ``Avis manquants`` (int),
    ``Note au mieux`` (points: the missing reviews at the scale's maximum) and ``Effet`` (« pourrait être
    financé : décision provisoire », « ne serait pas financé même ainsi » or « exclu par le comité (motif : …) … »).
    """
    cols = ["Dossier", "Intitulé", "Avis valables", "Avis manquants", "Note au mieux", "Effet"]
    held = outcome.provisional.held if outcome.provisional is not None else None
    if held is None or not len(held):
        return pd.DataFrame(columns=cols)
    return pd.DataFrame({
        "Dossier": held["application_id"].to_numpy(),
        "Intitulé": held["title"].to_numpy(),
        "Avis valables": [f"{int(n)} sur {int(m)}" for n, m in zip(held["n_reviews"], held["min_reviews"])],
        "Avis manquants": held["reviews_missing"].astype("int64").to_numpy(),
        "Note au mieux": held["best_case_score"].map(format_points).to_numpy(),
        "Effet": [held_effect_fr(bool(w), x) for w, x in
                  zip(held["within_reach"], held["excluded"] if "excluded" in held else [""] * len(held))],
    }, columns=cols)


def provisional_banner_fr(outcome: Outcome) -> str:
    """« Décision provisoire : … » naming the held applications that could still enter the list; "" when final."""
    if not outcome.is_provisional:
        return ""
    ids = outcome.provisional.within_reach
    k = len(ids)
    return (f"Décision provisoire : {_list_fr(ids)} {'sont' if k > 1 else 'est'} {HELD_STATUS_FR} et "
            f"pourrai{'en' if k > 1 else ''}t entrer dans la liste des lauréats avec les avis qui {'leur' if k > 1 else 'lui'} "
            "manquent ; obtenir ces avis avant de publier une décision définitive.")


def reserve_table_fr(outcome: Outcome) -> pd.DataFrame:
    """The reserve list (« liste complémentaire »), in call-up order.

    Columns ``Position`` (1, 2…), ``Rang``, ``Dossier``, ``Intitulé``, ``Note`` and ``Montant si financé``
    (whole euros, French text: the capped request, the award it would receive under the same rule).
    """
    cols = ["Position", "Rang", "Dossier", "Intitulé", "Note", "Montant si financé"]
    if not outcome.reserve or outcome.allocation is None:
        return pd.DataFrame(columns=cols)
    p = outcome.portfolio.set_index("application_id")
    cap = outcome.allocation.candidates.table.set_index("application_id")["upper_eur"]
    ids = list(outcome.reserve)
    return pd.DataFrame({
        "Position": list(range(1, len(ids) + 1)),
        "Rang": [int(p.at[a, "rank"]) for a in ids],
        "Dossier": ids,
        "Intitulé": [str(p.at[a, "title"]) for a in ids],
        "Note": [format_points(float(p.at[a, "score"])) for a in ids],
        "Montant si financé": [format_eur(int(cap.at[a])) for a in ids],
    }, columns=cols)


def lock_reasons_table_fr(state: PanelState) -> pd.DataFrame:
    """Every lock (imposed, then excluded, by id) with the committee's reason, or :data:`NO_REASON_FR`.

    Columns ``Dossier``, ``Verrou`` (« imposé » or « exclu »), ``Motif``.
    """
    reasons = state.lock_reasons
    rows = [(a, kind, reasons.get(a, NO_REASON_FR)) for kind, ids in (("imposé", state.params.lock_in),
                                                                     ("exclu", state.params.lock_out)) for a in sorted(ids)]
    return pd.DataFrame(rows, columns=["Dossier", "Verrou", "Motif"])


def final_publication_refusals(outcome: Outcome) -> list[str]:
    """Why a final decision cannot be published from this outcome (French lines; empty: it can).

    A lock without a written reason (issue 13, item 5: mandatory for a final decision, as
    ``ditp-model report`` without ``--provisoire`` refuses it) and a provisional decision (an
    application awaiting reviews could still enter the list).
    """
    out = []
    missing = outcome.state.params.missing_lock_reasons()
    if missing:
        out.append(f"verrou sans motif : {_list_fr(missing)} — écrire le motif du comité pour chaque dossier imposé ou exclu")
    if outcome.is_provisional:
        out.append(f"décision provisoire : {_list_fr(outcome.provisional.within_reach)} en attente d'évaluation "
                   "pourrai" + ("ent" if len(outcome.provisional.within_reach) > 1 else "t")
                   + " encore entrer dans la liste des lauréats")
    return out


def check_final_publication(outcome: Outcome) -> None:
    """Refuse (ValueError, French, every reason listed) to publish a final decision from `outcome`."""
    refusals = final_publication_refusals(outcome)
    if refusals:
        raise ValueError("décision définitive refusée : " + " ; ".join(refusals))
