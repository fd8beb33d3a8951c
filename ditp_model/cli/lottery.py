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
refused unless a written reason is given (``--motif``, with or without
``--replace-draw``; the new entry then names the one it replaces and the reason),
so that seeds cannot be tried until one pleases.

Seed governance (:mod:`ditp_model.uncertainty.lottery_governance`): the seed is
fixed and recorded before the probabilities are known.  ``--annoncer-graine N``
(or ``--annoncer-source-publique TEXTE``, a public value named in advance) only
appends a « graine annoncée » entry for these inputs and weights; a later draw
must use that seed (``--seed`` may be left out; ``--valeur-publique`` gives the
public value).  A draw with ``--seed`` and no announcement announces it as its
first journal entry, before the fit — refused when the probabilities of these
inputs are already recorded (``--no-draw`` records its computation).  With
``--journal-precedent FICHIER`` (repeatable), a draw on the same inputs
(SHA-256) already recorded in that other journal is refused unless ``--motif``.  The draw
refines a decision: a rule other than the one recorded for these inputs (last
draw or published report in the journal, or an earlier
``probabilites_financement.csv`` in DIR) is refused; the rule is recorded
with the draw and in the probabilities' ``rule`` column.

A draw completes a decision, so a **provisional** decision (an application awaiting reviews is within reach
of the funding line, :mod:`ditp_model.rules.held`) is refused without ``--provisoire``, by the check of
``allocate`` (:func:`ditp_model.cli.allocate.due_process_check`, same message, exit 6), before the seed is
announced and before the fit: nothing is written.  With ``--provisoire``, the draw's record (journal entry and
``tirage_au_sort.json``) keeps ``provisional`` and ``held`` (:meth:`ditp_model.rules.held.Provisional.record`),
as a decision's manifest does.  ``--no-draw`` decides nothing: it is not refused, and its journal entry
records ``provisional`` and ``held`` too.

Exit codes: 0 success; 2 bad input or arguments; 3 no proven optimum; 4
damaged journal; 6 provisional decision refused (no ``--provisoire``).
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
    p.add_argument("--seed", type=_seed, default=None, metavar="GRAINE", help="graine du tirage au sort, publiée avant le tirage : celle annoncée au journal "
                        "(--annoncer-graine ; alors facultative), sinon annoncée au journal par ce tirage avant tout calcul")
    p.add_argument("--grey-zone", type=_grey_zone, default=(0.1, 0.9), metavar="BASSE/HAUTE",
                   help="bornes de la zone grise en probabilité de financement (défaut 0.1/0.9)")
    p.add_argument("--draws", type=int, default=500, metavar="N", help="tirages a posteriori sur lesquels l'allocation est résolue (défaut 500)")
    p.add_argument("--mcmc-seed", type=_seed, default=1991, metavar="GRAINE", help="graine du MCMC (défaut 1991, celle du FNS)")
    p.add_argument("--mcmc-draws", type=int, default=2500, metavar="N", help="tirages MCMC par chaîne, 4 chaînes (défaut 2500)")
    p.add_argument("--envelope", type=euros, default=None, metavar="EUROS",
                   help="enveloppe en euros entiers, par ex. \"2 500 000\" ou \"2,5 M€\" (défaut : celle de l'appel)")
    add_rule_options(p)
    p.add_argument("--journal", default=None, metavar="FICHIER", help="journal des décisions (défaut : DIR/decisions.jsonl)")
    p.add_argument("--no-draw", action="store_true", help="seulement les probabilités et la zone grise, sans tirage")
    p.add_argument("--provisoire", action="store_true",
                   help="tirer au sort quand même sur une décision provisoire : des dossiers en attente d'évaluation "
                        "pourraient encore entrer dans la liste des lauréats (sans cette option : aucun tirage, code de "
                        "sortie 6) ; le journal garde « provisional » et les dossiers en attente avec le tirage")
    p.add_argument("--cache", default=None, metavar="DOSSIER",
                   help="cache des ajustements du modèle (défaut : le cache de l'utilisateur, ~/.cache/ditp-model "
                        "ou %%LOCALAPPDATA%%\\ditp-model\\cache, ou DITP_MODEL_CACHE) : mêmes notes et mêmes réglages, "
                        "modèle repris sans nouvel ajustement ; le programme compilé de l'échantillonneur y est gardé "
                        "aussi (sous-dossier jax/, qui ne doit être modifiable que par vous), repris pour des notes de "
                        "même forme (une note corrigée)")
    p.add_argument("--no-cache", action="store_true", help="ajuster le modèle sans lire ni écrire le cache")
    p.add_argument("--replace-draw", action="store_true",
                   help="autoriser un nouveau tirage alors que le journal en contient déjà un pour ces entrées et "
                        "pondérations (avec --motif, obligatoire ; le nouveau tirage cite celui qu'il remplace)")
    p.add_argument("--motif", default=None, metavar="TEXTE",
                   help="motif écrit d'un tirage qui en remplace un autre (obligatoire pour remplacer un tirage, "
                        "inscrit au journal)")
    p.add_argument("--annoncer-graine", type=_seed, default=None, metavar="N",
                   help="annoncer la graine N au journal pour ces entrées et pondérations, sans rien calculer ; "
                        "le tirage devra l'utiliser")
    p.add_argument("--annoncer-source-publique", default=None, metavar="TEXTE",
                   help="annoncer, au lieu d'un nombre, la valeur publique future dont la graine sera dérivée "
                        "(par ex. \"tirage du Loto du 5 décembre 2026, numéros dans l'ordre\")")
    p.add_argument("--valeur-publique", default=None, metavar="TEXTE",
                   help="valeur de la source publique annoncée, une fois connue (graine = SHA-256 de la source et de la valeur)")
    p.add_argument("--journal-precedent", action="append", default=[], metavar="FICHIER",
                   help="autre journal des décisions à consulter : un tirage sur les mêmes entrées y figurant interdit "
                        "un nouveau tirage sans --motif (répétable)")
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
        from ditp_model.inputs.tables import read_output_csv

        try:
            table = read_output_csv(probs, dtype={"rule": str})
            rules = {r for r in table["rule"] if r} if "rule" in table else set()
        except (ValueError, OSError, UnicodeDecodeError):
            rules = set()
        if len(rules) == 1:
            return rules.pop(), f"fichier {probs}"
    return None


def cmd_lottery(args) -> int:
    """``ditp-model lottery``, holding a lock on ``--out`` for the whole run (:func:`ditp_model.cli.common.output_lock`)."""
    from ditp_model.cli.common import output_lock

    with output_lock(args):
        return _lottery(args)


def _lottery(args) -> int:
    from ditp_model.rules.allocation import RULE_LABELS_FR, AllocationParams, allocate, check
    from ditp_model.cli.common import command_line, evaluate_inputs
    from ditp_model.cli.allocate import due_process_check
    from ditp_model.cli.report import EXIT_JOURNAL
    import hashlib
    from dataclasses import replace

    from ditp_model.outputs.record import append_event, record_lottery, record_seed_announcement
    from ditp_model.uncertainty.lottery_governance import PROBABILITIES_EVENT, draws_elsewhere, seed_for_draw
    from ditp_model.uncertainty.grey_zone import grey_zone_lottery, posterior_funding
    from ditp_model.outputs.record import JournalError, check_journal
    from ditp_model.rules.manifest import csv_bytes, write_outputs
    from ditp_model.french import format_eur
    from ditp_model.scoring.review_model import default_cache_dir, fit_review_model_cached, votes_from_reviews

    if args.draws < 1:
        raise ValueError(f"--draws {args.draws} : au moins un tirage a posteriori")
    if args.mcmc_draws < 1:
        raise ValueError(f"--mcmc-draws {args.mcmc_draws} : au moins un tirage MCMC par chaîne")
    announcing = args.annoncer_graine is not None or args.annoncer_source_publique is not None
    if args.annoncer_graine is not None and args.annoncer_source_publique is not None:
        raise ValueError("--annoncer-graine et --annoncer-source-publique : annoncer l'un ou l'autre")
    if args.annoncer_source_publique is not None and not args.annoncer_source_publique.strip():
        raise ValueError("--annoncer-source-publique : nommer la source publique (par ex. un tirage officiel daté)")
    if args.motif is not None and not args.motif.strip():
        raise ValueError("--motif : le motif est vide ; écrire pourquoi ce tirage en remplace un autre")
    if args.replace_draw and args.motif is None:
        raise ValueError("--replace-draw : un tirage n'en remplace un autre qu'avec un motif écrit (--motif \"…\")")
    journal = Path(args.journal) if args.journal else Path(args.out) / "decisions.jsonl"
    try:
        state = check_journal(journal)  # before the ~30 s of computation
        others = {str(Path(f)): check_journal(f).entries for f in args.journal_precedent
                  if Path(f).resolve() != journal.resolve()}
    except JournalError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return EXIT_JOURNAL
    for f in args.journal_precedent:
        if not Path(f).is_file():
            raise ValueError(f"--journal-precedent « {f} » : fichier introuvable")
    ev = evaluate_inputs(args)
    weights = {k: round(float(v), 6) for k, v in ev.weights.normalised().items()}
    if announcing:
        return _announce(args, ev, weights, state, journal)
    params = AllocationParams(envelope_eur=args.envelope, rule=args.rule, tie_band_points=args.tie_band,
                              min_score=args.min_score)
    cands = check(ev, params)  # bad envelope or rules: refused before the fit
    # a draw completes a decision: a provisional one (held applications within reach of the line) is refused
    # without --provisoire, by the same check and message as allocate, before the seed is announced and the fit
    # (the decision without the held applications names, like allocate's message, the laureates they would displace)
    base = allocate(ev, params)
    prov, refusal = due_process_check(ev, params, provisional_allowed=args.provisoire or args.no_draw,
                                      funded_ids=base.funded_ids if base.is_optimal else None)
    if refusal is not None:
        print(refusal[1], file=sys.stderr)
        return refusal[0]
    recorded = _recorded_rule(state, ev.files, ev.rules.selection.rule, Path(args.out))
    if recorded is not None and recorded[0] != cands.rule:
        raise ValueError(f"la décision que ce tirage complète a été prise selon la règle « {RULE_LABELS_FR.get(recorded[0], recorded[0])} » "
                         f"({recorded[1]}) : la règle « {RULE_LABELS_FR[cands.rule]} » est refusée ; relancer avec "
                         f"--rule {recorded[0]}")
    print(f"Règle de décision : {RULE_LABELS_FR[cands.rule]} (appliquée à chaque tirage a posteriori) ; "
          f"{len(cands.table)} dossiers finançables, {len(cands.excluded)} hors calcul (non éligibles, non notés, "
          "sous un seuil de qualité ou exclus)")
    if len(prov.held):
        print("\n".join(prov.lines_fr()))
        if prov.is_provisional:
            print("Tirage au sort sur une décision provisoire (--provisoire) : le journal l'inscrit avec le tirage."
                  if not args.no_draw else "Probabilités calculées sur une décision provisoire : le journal l'inscrit.")
    if len(cands.table) and int(cands.table["upper_eur"].min()) > cands.available_eur:
        raise ValueError(f"aucun dossier ne tient dans l'enveloppe disponible ({format_eur(cands.available_eur)}) : "
                         "rien à tirer au sort")
    earlier = _previous_draws(state, ev.files, weights)
    if earlier and not args.no_draw and args.motif is None:
        raise ValueError(f"le journal {journal} contient déjà un tirage au sort pour ces entrées et ces pondérations "
                         f"(entrée n° {earlier[-1]['seq']}, graine {earlier[-1]['payload'].get('seed')}) : un second tirage "
                         "n'est fait qu'avec --replace-draw --motif \"…\", et le journal en garde la trace")
    elsewhere = draws_elsewhere(others, ev.files)
    if elsewhere and not args.no_draw and args.motif is None:
        path, e = elsewhere[-1]
        raise ValueError(f"ces entrées (mêmes empreintes SHA-256) ont déjà un tirage au sort dans le journal {path} "
                         f"(entrée n° {e['seq']}, graine {(e.get('payload') or {}).get('seed')}) : un nouveau tirage dans "
                         f"un autre dossier est refusé ; pour le remplacer, donner le motif (--motif \"…\"), que le "
                         "nouveau tirage inscrit avec la référence de l'ancien")
    choice = None
    if not args.no_draw:
        seed = args.seed
        if elsewhere:  # a replacement keeps the seed of the draw it replaces: the seed is never chosen after the fact
            prior = (elsewhere[-1][1].get("payload") or {}).get("seed")
            if seed is not None and prior is not None and int(seed) != int(prior):
                raise ValueError(f"--seed {seed} refusée : le tirage remplacé ({elsewhere[-1][0]}, entrée n° "
                                 f"{elsewhere[-1][1]['seq']}) avait la graine {prior}, que le nouveau tirage reprend")
            seed = prior if prior is not None else seed
        choice = seed_for_draw(state.entries, ev.files, weights, seed=seed, public_value=args.valeur_publique)
        if choice.announce_first:  # recorded before anything is computed
            try:
                first = record_seed_announcement(journal, _announcement(ev, weights, seed=choice.seed))
            except JournalError as exc:
                print(f"Erreur : {exc}", file=sys.stderr)
                return EXIT_JOURNAL
            choice = replace(choice, announcement=first)
            print(f"Graine {choice.seed} annoncée au journal {journal} (entrée n° {first['seq']}) avant tout calcul.")
        else:
            a = choice.announcement
            print(f"Graine {choice.seed} : celle annoncée au journal (entrée n° {a['seq']}, {a.get('recorded_at', '')})"
                  + (f", dérivée de la valeur publique « {choice.public_value} »" if choice.public_value else "") + ".")
    votes = votes_from_reviews(ev)
    print("Modèle des évaluations : ajustement (MCMC) ou reprise du cache…", flush=True)
    cache = None if args.no_cache else (Path(args.cache) if args.cache else default_cache_dir())
    post = fit_review_model_cached(votes, cache, seed=args.mcmc_seed, num_samples=args.mcmc_draws,
                                   progress=sys.stderr.isatty(), on_note=lambda t: print(f"Remarque : {t}"))
    print(f"Modèle des évaluations : {len(votes.proposals)} dossiers, {len(votes.assessors)} évaluateurs, "
          f"{len(votes.table)} notes ; "
          + ("ajustement repris du cache (mêmes notes, mêmes réglages) ; " if post.from_cache
             else f"ajusté en {post.seconds:.0f} s ; ")
          + post.convergence_fr()
          + ("" if post.converged else " — ATTENTION : chaînes non convergées (R̂ ≥ 1,01), résultats à ne pas publier"))
    funding = posterior_funding(ev, post, params, n_draws=args.draws, grey_zone=args.grey_zone)
    print(f"Sur {funding.n_draws} tirages a posteriori : {funding.zone_counts_fr()}.")
    files = {"probabilites_financement.csv": csv_bytes(funding.table)}
    lottery = None
    if args.no_draw:
        try:
            computed = append_event(journal, PROBABILITIES_EVENT, {
                **_announcement(ev, weights), **prov.record(), "rule": funding.rule, "grey_zone_bounds": list(funding.grey_zone),
                "n_posterior_draws": funding.n_draws,
                "probabilities_sha256": hashlib.sha256(files["probabilites_financement.csv"]).hexdigest()})
        except JournalError as exc:
            print(f"Erreur : {exc}", file=sys.stderr)
            return EXIT_JOURNAL
        print(f"Calcul des probabilités inscrit au journal {journal} (entrée n° {computed['seq']}) : une graine annoncée "
              "après ce calcul ne sera pas acceptée pour ces entrées.")
    if not args.no_draw:
        if not post.converged:
            raise ValueError("chaînes MCMC non convergées (R̂ ≥ 1,01) : pas de tirage au sort sur ce résultat")
        lottery = grey_zone_lottery(ev, funding, params, seed=choice.seed)
        governance = {"seed_announcement": choice.record(), **prov.record()}  # provisional (bool) and the held applications
        if earlier:
            lottery.record["replaces_entry"] = int(earlier[-1]["seq"])
        if elsewhere:
            governance["replaces"] = [{"journal": path, "seq": int(e["seq"]), "entry_sha256": e["entry_sha256"]}
                                      for path, e in elsewhere]
        if earlier or elsewhere:
            governance["motif"] = args.motif
        lottery.record.update(governance)
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
    for path in write_outputs(args.out, files, command=command_line(args)):
        print(f"Écrit : {path}")
    return 0


def _announcement(ev, weights: dict, *, seed: int | None = None, public_source: str | None = None) -> dict:
    """Payload of a seed announcement (and the identity part of a computation entry): inputs, weights, seed or source."""
    out = {"inputs_sha256": dict(sorted(ev.files.items())), "weights": weights}
    if seed is not None or public_source is not None:
        out.update({"seed": seed, "public_source": public_source})
    return out


def _announce(args, ev, weights: dict, state, journal: Path) -> int:
    """``--annoncer-graine N`` / ``--annoncer-source-publique TEXTE``: one journal entry, nothing computed."""
    from ditp_model.cli.report import EXIT_JOURNAL
    from ditp_model.outputs.record import JournalError, record_seed_announcement
    from ditp_model.uncertainty.lottery_governance import check_announcement

    check_announcement(state.entries, ev.files, weights)
    source = args.annoncer_source_publique.strip() if args.annoncer_source_publique is not None else None
    payload = _announcement(ev, weights, seed=args.annoncer_graine, public_source=source)
    try:
        entry = record_seed_announcement(journal, payload)
    except JournalError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return EXIT_JOURNAL
    what = f"graine {args.annoncer_graine}" if source is None else f"source publique « {source} »"
    print(f"Annoncé au journal {journal} (entrée n° {entry['seq']}, {entry['recorded_at']}) : {what}, pour ces entrées "
          f"({len(ev.files)} fichiers, empreintes SHA-256) et ces pondérations ({ev.weights.describe_fr(ev.rules)}).")
    print("Le tirage au sort devra utiliser cette graine" + (" (--valeur-publique \"…\" une fois la valeur connue)." if source else "."))
    return 0
