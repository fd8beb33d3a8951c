"""The ``ditp-model lottery`` sub-command: review uncertainty, grey zone and a recorded lottery.

``ditp-model lottery --call … --applications … --reviews … --seed N --out DIR``

1. fits the SNSF review model (:mod:`ditp_model.scoring.review_model`, extra ``bayes``), or reads
   the fit back from the cache (the user's cache folder, :func:`~ditp_model.scoring.review_model.default_cache_dir`,
   or ``--cache``; keyed by the SHA-256 of the votes,
   the MCMC settings and the library versions, :func:`~ditp_model.scoring.review_model.fit_review_model_cached`),
   so that ``--no-draw`` then a draw fit once; a progress bar on stderr (a terminal) follows the fit
   and the re-solves;
2. decides each posterior draw by the decision rule (``--rule``, default the
   call's: the merit order; :func:`ditp_model.uncertainty.grey_zone.posterior_funding`):
   probability of funding and one zone per candidate, a band in rank order;
3. unless ``--no-draw``: funds the solid applications and draws lots in the grey
   zone with the published seed (:func:`ditp_model.uncertainty.grey_zone.grey_zone_lottery`),
   and appends the draw to the decision journal (``DIR/decisions.jsonl`` or
   ``--journal``), chained like the reports.

The journal is checked before anything is computed (a damaged journal: exit 4,
nothing written).  A draw is recorded in the journal first, then
``DIR/probabilites_financement.csv`` and ``DIR/tirage_au_sort.json`` (the
journal's payload) are written atomically; a failure before that leaves the
previous files in place.  A second draw on the same inputs and weights is
refused unless ``--replace-draw`` is given (the new entry then names the one
it replaces), so that seeds cannot be tried until one pleases.  The draw
refines a decision: a rule other than the one recorded for these inputs (last
draw or published report in the journal, or an earlier
``probabilites_financement.csv`` in DIR) is refused; the rule is recorded
with the draw and in the probabilities' ``rule`` column.
Exit codes: 0 success; 2 bad input or arguments; 3 no proven optimum; 4
damaged journal.
"""

from __future__ import annotations

import argparse
import json
import sys
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
    from ditp_model.cli.common import add_input_options, add_rule_options, euros

    p = subparsers.add_parser(
        "lottery", help="incertitude des évaluations (modèle bayésien du FNS) : zone grise et tirage au sort enregistré",
        description="Ajuste le modèle bayésien des évaluations (méthode du Fonds national suisse), résout de nouveau "
                    "l'allocation pour chaque tirage a posteriori, classe chaque dossier (solide, zone grise, écarté), puis "
                    "tire au sort dans la zone grise avec la graine publiée et inscrit le tirage au journal des décisions.")
    add_input_options(p)
    p.add_argument("--seed", type=_seed, default=None, help="graine du tirage au sort, publiée avant le tirage (obligatoire sauf avec --no-draw)")
    p.add_argument("--grey-zone", type=_grey_zone, default=(0.1, 0.9), metavar="BASSE/HAUTE",
                   help="bornes de la zone grise en probabilité de financement (défaut 0.1/0.9)")
    p.add_argument("--draws", type=int, default=500, help="tirages a posteriori sur lesquels l'allocation est résolue (défaut 500)")
    p.add_argument("--mcmc-seed", type=_seed, default=1991, help="graine du MCMC (défaut 1991, celle du FNS)")
    p.add_argument("--mcmc-draws", type=int, default=2500, help="tirages MCMC par chaîne, 4 chaînes (défaut 2500)")
    p.add_argument("--envelope", type=euros, default=None, help="enveloppe en euros entiers (défaut : celle de l'appel)")
    add_rule_options(p)
    p.add_argument("--journal", default=None, help="journal des décisions (défaut : DIR/decisions.jsonl)")
    p.add_argument("--no-draw", action="store_true", help="seulement les probabilités et la zone grise, sans tirage")
    p.add_argument("--cache", default=None, metavar="DOSSIER",
                   help="cache des ajustements du modèle (défaut : le cache de l'utilisateur, ~/.cache/ditp-model "
                        "ou %%LOCALAPPDATA%%\\ditp-model\\cache, ou DITP_MODEL_CACHE) : mêmes notes et mêmes réglages, "
                        "modèle repris sans nouvel ajustement")
    p.add_argument("--no-cache", action="store_true", help="ajuster le modèle sans lire ni écrire le cache")
    p.add_argument("--replace-draw", action="store_true",
                   help="autoriser un nouveau tirage alors que le journal en contient déjà un pour ces entrées et "
                        "pondérations (le nouveau tirage cite celui qu'il remplace)")
    p.set_defaults(func=cmd_lottery)
    return p


def _previous_draws(state, inputs: dict, weights: dict) -> list[dict]:
    """Journal entries of earlier draws on the same input contents (SHA-256, wherever the files lie) and weights."""
    same = sorted(inputs.values())
    return [e for e in state.entries if e.get("event") == "tirage_au_sort"
            and sorted(((e.get("payload") or {}).get("inputs_sha256") or {}).values()) == same
            and (e.get("payload") or {}).get("weights") == weights]


def _recorded_rule(state, inputs: dict, default_rule: str, out_dir: Path) -> tuple[str, str] | None:
    """The rule of the decision a draw refines, and where it is recorded; None when nothing is recorded.

    The last journal entry on the same input contents (SHA-256): a draw
    (``tirage_au_sort``, its ``rule``) or a published report (``rapport``,
    its parameters' ``rule``, the call's when not set); else the
    ``rule`` column of an earlier ``DIR/probabilites_financement.csv``.
    """
    same = sorted(inputs.values())
    for e in reversed(state.entries):
        payload = e.get("payload") or {}
        if e.get("event") == "tirage_au_sort" and sorted((payload.get("inputs_sha256") or {}).values()) == same:
            if payload.get("rule"):
                return payload["rule"], f"tirage au sort du journal, entrée n° {e['seq']}"
        elif e.get("event") == "rapport" and sorted((e.get("inputs") or {}).values()) == same:
            rule = e.get("rule") or (e.get("parameters") or {}).get("rule") or default_rule
            return rule, f"rapport publié, entrée n° {e['seq']} du journal"
    probs = out_dir / "probabilites_financement.csv"
    if probs.exists():
        import pandas as pd

        try:
            rules = set(pd.read_csv(probs, usecols=["rule"])["rule"].dropna())
        except (ValueError, OSError):
            rules = set()
        if len(rules) == 1:
            return rules.pop(), f"fichier {probs}"
    return None


def cmd_lottery(args) -> int:
    from ditp_model.rules.allocation import RULE_LABELS_FR, AllocationParams, check
    from ditp_model.cli.common import evaluate_inputs
    from ditp_model.cli.report import EXIT_JOURNAL
    from ditp_model.outputs.record import record_lottery
    from ditp_model.uncertainty.grey_zone import grey_zone_lottery, posterior_funding
    from ditp_model.outputs.record import JournalError, check_journal
    from ditp_model.rules.manifest import csv_bytes, write_outputs
    from ditp_model.french import format_eur
    from ditp_model.scoring.review_model import default_cache_dir, fit_review_model_cached, votes_from_reviews

    if args.draws < 1:
        raise ValueError(f"--draws {args.draws} : au moins un tirage a posteriori")
    if args.mcmc_draws < 1:
        raise ValueError(f"--mcmc-draws {args.mcmc_draws} : au moins un tirage MCMC par chaîne")
    if args.seed is None and not args.no_draw:
        raise ValueError("--seed : la graine du tirage au sort est obligatoire (publiée avant le tirage) ; "
                         "--no-draw pour les seules probabilités")
    journal = Path(args.journal) if args.journal else Path(args.out) / "decisions.jsonl"
    try:
        state = check_journal(journal)  # before the ~30 s of computation
    except JournalError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return EXIT_JOURNAL
    ev = evaluate_inputs(args)
    params = AllocationParams(envelope_eur=args.envelope, rule=args.rule, tie_band_points=args.tie_band,
                              min_score=args.min_score)
    cands = check(ev, params)  # bad envelope or rules: refused before the fit
    recorded = _recorded_rule(state, ev.files, ev.rules.selection.rule, Path(args.out))
    if recorded is not None and recorded[0] != cands.rule:
        raise ValueError(f"la décision que ce tirage complète a été prise selon la règle « {RULE_LABELS_FR.get(recorded[0], recorded[0])} » "
                         f"({recorded[1]}) : la règle « {RULE_LABELS_FR[cands.rule]} » est refusée ; relancer avec "
                         f"--rule {recorded[0]}")
    print(f"Règle de décision : {RULE_LABELS_FR[cands.rule]} (appliquée à chaque tirage a posteriori) ; "
          f"{len(cands.table)} dossiers finançables, {len(cands.excluded)} hors calcul (non éligibles, non notés, "
          "sous un seuil de qualité ou exclus)")
    if len(cands.table) and int(cands.table["upper_eur"].min()) > cands.available_eur:
        raise ValueError(f"aucun dossier ne tient dans l'enveloppe disponible ({format_eur(cands.available_eur)}) : "
                         "rien à tirer au sort")
    weights = {k: round(float(v), 6) for k, v in ev.weights.normalised().items()}
    earlier = _previous_draws(state, ev.files, weights)
    if earlier and not args.no_draw and not args.replace_draw:
        raise ValueError(f"le journal {journal} contient déjà un tirage au sort pour ces entrées et ces pondérations "
                         f"(entrée n° {earlier[-1]['seq']}, graine {earlier[-1]['payload'].get('seed')}) : un second tirage "
                         "n'est fait qu'avec --replace-draw, et le journal en garde la trace")
    votes = votes_from_reviews(ev)
    print("Modèle des évaluations : ajustement (MCMC) ou reprise du cache…", flush=True)
    cache = None if args.no_cache else (Path(args.cache) if args.cache else default_cache_dir())
    post = fit_review_model_cached(votes, cache, seed=args.mcmc_seed, num_samples=args.mcmc_draws,
                                   progress=sys.stderr.isatty(), on_note=lambda t: print(f"Remarque : {t}"))
    print(f"Modèle des évaluations : {len(votes.proposals)} dossiers, {len(votes.assessors)} évaluateurs, "
          f"{len(votes.table)} notes ; "
          + ("ajustement repris du cache (mêmes notes, mêmes réglages) ; " if post.from_cache
             else f"ajusté en {post.seconds:.0f} s ; ")
          + f"R̂ max {post.r_hat:.3f}"
          + ("" if post.converged else " — ATTENTION : chaînes non convergées (R̂ ≥ 1,01), résultats à ne pas publier"))
    funding = posterior_funding(ev, post, params, n_draws=args.draws, grey_zone=args.grey_zone)
    print(f"Sur {funding.n_draws} tirages a posteriori : {funding.zone_counts_fr()}.")
    files = {"probabilites_financement.csv": csv_bytes(funding.table)}
    lottery = None
    if not args.no_draw:
        if not post.converged:
            raise ValueError("chaînes MCMC non convergées (R̂ ≥ 1,01) : pas de tirage au sort sur ce résultat")
        lottery = grey_zone_lottery(ev, funding, params, seed=args.seed)
        if earlier:
            lottery.record["replaces_entry"] = int(earlier[-1]["seq"])
        files["tirage_au_sort.json"] = (json.dumps(lottery.record, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
        try:
            entry = record_lottery(lottery, journal)  # the record first: the files below only copy it
        except JournalError as exc:
            print(f"Erreur : {exc}", file=sys.stderr)
            return EXIT_JOURNAL
        print(f"Tirage au sort (graine {lottery.seed}) : ordre {', '.join(lottery.order) or '—'}")
        print(f"Tirés : {', '.join(lottery.winners) or 'aucun'} ; passés (ne tenaient plus) : {', '.join(lottery.passed) or 'aucun'}")
        print(f"Attribué : {format_eur(lottery.awarded_eur)} sur {format_eur(lottery.available_eur)} ; "
              f"reste {format_eur(lottery.remaining_eur)}")
        print(f"Inscrit au journal {journal} (entrée n° {entry['seq']}, empreinte {entry['entry_sha256'][:12]}…)")
    elif (Path(args.out) / "tirage_au_sort.json").exists():
        print(f"Remarque : {Path(args.out) / 'tirage_au_sort.json'} (tirage antérieur) n'est pas modifié ; "
              "il porte ses propres entrées et pondérations.")
    for path in write_outputs(args.out, files):
        print(f"Écrit : {path}")
    return 0
