"""``ditp-model score``: eligibility with every reason and the ranked list (``DIR/scores.csv``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ditp_model.cli.common import add_input_options, add_reviewer_ids_option, command_line, evaluate_inputs, output_lock, short

if TYPE_CHECKING:
    from ditp_model.scoring.pipeline import Evaluation

__all__ = ["register", "cmd_score", "eligibility_summary_fr", "ranked_list_fr"]


def eligibility_summary_fr(ev: Evaluation, *, reviewer_identities: bool = False) -> str:
    """French summary: counts, then each ineligible application with its reasons.

    Reviewers appear under their pseudonym (:func:`ditp_model.privacy.reviewer_pseudonyms`) unless
    `reviewer_identities` (``--with-reviewer-ids``).
    """
    from ditp_model.privacy import reviewer_pseudonyms

    names = reviewer_pseudonyms(ev, identities=reviewer_identities)
    t = ev.table
    n, ne = len(t), int(t["eligible"].sum())
    lines = [f"Candidatures : {n} ; éligibles : {ne} ; non éligibles : {n - ne}."]
    for row in t[~t["eligible"]].itertuples():
        lines.append(f"  - {row.application_id} ({short(row.title, 50)}) : {row.reasons}")
    from ditp_model.french import plural_fr
    from ditp_model.scoring.aggregate import uncorrected_reviewers, uncorrected_reviewers_fr

    table = uncorrected_reviewers(ev.reviews, ev.rules, ev.normalisation)
    uncorrected = uncorrected_reviewers_fr(table.assign(reviewer_id=[names.get(str(r), str(r)) for r in table["reviewer_id"]]))
    if uncorrected:
        lines.append(uncorrected)
    unscored = t[t["eligible"] & ~t["scored"]]
    if len(unscored):
        need = ev.rules.scoring.min_reviews
        lines.append(f"Éligibles en attente d'évaluation (pas rejetées) : {len(unscored)}.")
        for row in unscored.itertuples():
            missing = max(0, need - int(row.n_reviews))
            detail = (f"{int(row.n_reviews)} avis {plural_fr(int(row.n_reviews), 'valable')} sur {need} requis, il en manque {missing}" if missing
                      else row.score_flag)
            lines.append(f"  - {row.application_id} : {detail}")
    ex = ev.excluded_reviews
    if ev.conflicts is not None:
        lines.append(f"Conflits d'intérêts déclarés : {len(ev.conflicts)} ; avis écartés (comptés comme manquants) : "
                     f"{0 if ex is None else len(ex)}.")
        for r in ([] if ex is None else ex.itertuples()):
            lines.append(f"  - {r.application_id} : avis de {names.get(str(r.reviewer_id), r.reviewer_id)} écarté — lien déclaré : {r.nature}")
    return "\n".join(lines)


def ranked_list_fr(ev: Evaluation) -> str:
    """French ranked list of eligible, scored applications.

    An application below one of the call's quality thresholds (``[selection]``
    ``min_score`` / ``min_criterion``, :func:`ditp_model.rules.candidates.threshold_failures`)
    is marked « non finançable » with the threshold it misses, as ``allocate`` counts it:
    a rank is not a promise of funding.
    """
    from ditp_model.french import format_eur, format_points
    from ditp_model.rules.candidates import threshold_failures

    t = ev.table
    r = t[t["rank"].notna()].sort_values("rank")
    below = threshold_failures(ev)
    lines = [f"Classement ({ev.weights.describe_fr(ev.rules)}) :"]
    if below:
        lines.append(f"{len(below)} dossier(s) classé(s) sous un seuil de qualité de l'appel : « non finançable », "
                     "quel que soit l'argent disponible.")
    lines.append(f"{'rang':>4}  {'dossier':<8} {'note':>7}  {'demandé':>11}  intitulé")
    for row in r.itertuples():
        mark = f"  [{below[row.application_id]}]" if row.application_id in below else ""  # the motive says « non finançable : »
        lines.append(f"{int(row.rank):>4}  {row.application_id:<8} {format_points(row.score):>7}  "
                     f"{format_eur(row.requested_eur):>11}  {short(row.title)}{mark}")
    return "\n".join(lines)


def cmd_score(args) -> int:
    """``ditp-model score``: ``scores.csv`` published under a lock on ``--out`` (:func:`ditp_model.cli.common.output_lock`)."""
    from ditp_model.inputs.io import csv_text
    from ditp_model.publication import publish_files

    with output_lock(args):
        ev = evaluate_inputs(args)
        print(eligibility_summary_fr(ev, reviewer_identities=args.with_reviewer_ids))
        print()
        print(ranked_list_fr(ev))
        out = Path(args.out)
        publish_files(out, {"scores.csv": csv_text(ev.table).encode("utf-8")}, command=command_line(args))
    print(f"\nÉcrit : {out / 'scores.csv'}")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``score`` to the sub-parsers of ``ditp-model``."""
    p = subparsers.add_parser("score", help="éligibilité et classement des candidatures")
    add_input_options(p)
    add_reviewer_ids_option(p)
    p.set_defaults(func=cmd_score)
    return p
