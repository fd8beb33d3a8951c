"""The ``ditp-model lottery`` sub-command: review uncertainty, grey zone and a recorded lottery.

``ditp-model lottery --call … --applications … --reviews … --seed N --out DIR``

1. fits the SNSF review model (:mod:`ditp_model.review_model`, extra ``bayes``);
2. re-solves the allocation on the posterior draws (:func:`ditp_model.grey_zone.posterior_funding`):
   probability of funding and zone of each candidate;
3. unless ``--no-draw``: funds the solid applications and draws lots in the grey
   zone with the published seed (:func:`ditp_model.grey_zone.grey_zone_lottery`),
   and appends the draw to the decision journal (``DIR/decisions.jsonl`` or
   ``--journal``), chained like the reports.

Writes atomically ``DIR/probabilites_financement.csv`` and, with a draw,
``DIR/tirage_au_sort.json`` (the journal's payload) — only once everything is
computed, so a failure leaves the previous files in place.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register", "cmd_lottery"]


def _grey_zone(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x.strip().rstrip("%").replace(",", ".")) / (100 if x.strip().endswith("%") else 1)
                  for x in text.split(";" if ";" in text else "/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"« {text} » : écrire deux probabilités, par ex. 0.1/0.9 ou 10%/90%") from None
    if not 0 <= lo < hi <= 1:
        raise argparse.ArgumentTypeError(f"« {text} » : 0 ≤ basse < haute ≤ 1 attendu")
    return lo, hi


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"« {text} » : la graine est un nombre entier positif ou nul") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"« {text} » : la graine est un nombre entier positif ou nul")
    return v


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``lottery`` to the sub-parsers of ``ditp-model``."""
    from .cli import _common, _euros

    p = subparsers.add_parser(
        "lottery", help="incertitude des évaluations (modèle bayésien du FNS) : zone grise et tirage au sort enregistré",
        description="Ajuste le modèle bayésien des évaluations (méthode du Fonds national suisse), résout de nouveau "
                    "l'allocation pour chaque tirage a posteriori, classe chaque dossier (solide, zone grise, écarté), puis "
                    "tire au sort dans la zone grise avec la graine publiée et inscrit le tirage au journal des décisions.")
    _common(p)
    p.add_argument("--seed", type=_seed, required=True, help="graine du tirage au sort, publiée avant le tirage")
    p.add_argument("--grey-zone", type=_grey_zone, default=(0.1, 0.9), metavar="BASSE/HAUTE",
                   help="bornes de la zone grise en probabilité de financement (défaut 0.1/0.9)")
    p.add_argument("--draws", type=int, default=500, help="tirages a posteriori sur lesquels l'allocation est résolue (défaut 500)")
    p.add_argument("--mcmc-seed", type=int, default=1991, help="graine du MCMC (défaut 1991, celle du FNS)")
    p.add_argument("--mcmc-draws", type=int, default=2500, help="tirages MCMC par chaîne, 4 chaînes (défaut 2500)")
    p.add_argument("--envelope", type=_euros, default=None, help="enveloppe en euros entiers (défaut : celle de l'appel)")
    p.add_argument("--journal", default=None, help="journal des décisions (défaut : DIR/decisions.jsonl)")
    p.add_argument("--no-draw", action="store_true", help="seulement les probabilités et la zone grise, sans tirage")
    p.set_defaults(func=cmd_lottery)
    return p


def cmd_lottery(args) -> int:
    from .allocation import AllocationParams
    from .cli import _evaluate
    from .grey_zone import grey_zone_lottery, posterior_funding, record_lottery
    from .report import csv_bytes, write_outputs
    from .report_format import format_eur
    from .review_model import fit_review_model, votes_from_reviews

    if args.draws < 1 or args.mcmc_draws < 1:
        raise ValueError(f"--draws {args.draws} / --mcmc-draws {args.mcmc_draws} : au moins un tirage")
    ev = _evaluate(args)
    params = AllocationParams(envelope_eur=args.envelope)
    votes = votes_from_reviews(ev)
    post = fit_review_model(votes, seed=args.mcmc_seed, num_samples=args.mcmc_draws)
    print(f"Modèle des évaluations : {len(votes.proposals)} dossiers, {len(votes.assessors)} évaluateurs, "
          f"{len(votes.table)} notes ; R̂ max {post.r_hat:.3f}"
          + ("" if post.converged else " — ATTENTION : chaînes non convergées (R̂ ≥ 1,01), résultats à ne pas publier"))
    funding = posterior_funding(ev, post, params, n_draws=args.draws, grey_zone=args.grey_zone)
    counts = funding.zone_counts()
    lo, hi = funding.grey_zone
    print(f"Sur {funding.n_draws} tirages : {counts['funded']} solides (financés dans au moins {hi * 100:g} % des tirages), "
          f"{counts['grey']} en zone grise, {counts['not_funded']} écartés (au plus {lo * 100:g} %).")
    files = {"probabilites_financement.csv": csv_bytes(funding.table)}
    lottery = None
    if not args.no_draw:
        if not post.converged:
            raise ValueError("chaînes MCMC non convergées (R̂ ≥ 1,01) : pas de tirage au sort sur ce résultat")
        lottery = grey_zone_lottery(ev, funding, params, seed=args.seed)
        files["tirage_au_sort.json"] = (json.dumps(lottery.record, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    for path in write_outputs(args.out, files):
        print(f"Écrit : {path}")
    if lottery is not None:
        journal = Path(args.journal) if args.journal else Path(args.out) / "decisions.jsonl"
        entry = record_lottery(lottery, journal)
        print(f"Tirage au sort (graine {lottery.seed}) : ordre {', '.join(lottery.order) or '—'}")
        print(f"Tirés : {', '.join(lottery.winners) or 'aucun'} ; passés (ne tenaient plus) : {', '.join(lottery.passed) or 'aucun'}")
        print(f"Attribué : {format_eur(lottery.awarded_eur)} sur {format_eur(lottery.available_eur)} ; "
              f"reste {format_eur(lottery.remaining_eur)}")
        print(f"Inscrit au journal {journal} (entrée n° {entry['seq']}, empreinte {entry['entry_sha256'][:12]}…)")
    return 0
