"""``ditp-model allocate``: the funding decision by the chosen rule, with the ranking rule and the optimum for
comparison, explanations, and ``allocation.csv``, ``allocation.xlsx``, ``manifest.json``."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ditp_model.cli.common import (EXIT_INPUT, EXIT_NOT_OPTIMAL, EXIT_PROVISIONAL, SOLVER_HELP, add_due_process_options,
                                   add_reviewer_ids_option,
                                   add_input_options, add_rule_options, command_line, committee_locks, count, euros,
                                   evaluate_inputs, group_rule, output_lock, seconds, short)

if TYPE_CHECKING:
    from ditp_model.scoring.pipeline import Evaluation

__all__ = ["register", "cmd_allocate", "due_process_check", "record_locks_file", "allocation_params", "allocation_summary_fr", "rule_summary_fr", "thresholds_summary_fr",
           "record_encodings"]


def allocation_params(args, locks=None):
    """AllocationParams from the ``allocate`` command-line arguments.

    `locks` is ``(lock_in, lock_out, {id: reason})`` from :func:`ditp_model.cli.common.committee_locks`
    (default: ``--lock-in`` / ``--lock-out`` alone).
    """
    from ditp_model.rules.allocation import AllocationParams

    lock_in, lock_out, reasons = locks if locks is not None else committee_locks(args)
    return AllocationParams(
        envelope_eur=args.envelope, committed_eur=args.committed, reserve_eur=args.reserve, min_share=args.min_share,
        lock_in=frozenset(lock_in), lock_out=frozenset(lock_out), lock_reasons=reasons,
        group_rules=tuple(args.min_count) + tuple(args.max_share), max_awards=args.max_awards,
        rule=args.rule, ranking_variant=args.ranking_variant, tie_band_points=args.tie_band,
        min_score=args.min_score, solver=args.solver, time_limit_s=args.time_limit)


def rule_summary_fr(alloc) -> list[str]:
    """French lines: the rule, the thresholds and the ex aequo band used, and the band suggested by the reviews."""
    from ditp_model.rules.allocation import RULE_LABELS_FR, quality_thresholds
    from ditp_model.french import format_number

    c = alloc.candidates
    lines = [f"Règle de décision : {RULE_LABELS_FR[c.rule]}"]
    if c.rule == "merit_order":
        lines.append(f"Bande d'ex aequo δ : {c.tie_band_source}")
    return lines


def thresholds_summary_fr(ev, params, cands) -> str:
    """French line: the quality thresholds in force and how many applications fall below them."""
    from ditp_model.rules.allocation import quality_thresholds
    from ditp_model.french import count_fr, format_number

    overall, per = quality_thresholds(ev, params)
    parts = []
    if overall > 0:
        parts.append(f"note ≥ {format_number(overall, 2)}/100")
    hi = ev.rules.scoring.scale_max
    for name, v in per.items():
        parts.append(f"{ev.rules.criterion(name).label.lower()} ≥ {format_number(v, 2)}/{format_number(hi, 0)}")
    if not parts:
        return "Seuils de qualité : aucun"
    return f"Seuils de qualité : {' ; '.join(parts)} — {count_fr(len(cands.not_fundable), 'dossier non finançable', 'dossiers non finançables', none='aucun dossier non finançable')}"


def allocation_summary_fr(ev: Evaluation, alloc, ranking, expl, comparison=None, *, reviewer_identities: bool = False) -> str:
    """The French summary printed by ``ditp-model allocate`` (reviewers pseudonymised unless `reviewer_identities`)."""
    from ditp_model.privacy import reviewer_pseudonyms

    from ditp_model.french import format_eur, format_number, format_points
    from ditp_model.scoring.aggregate import tie_band_from_reviews, uncorrected_reviewers, uncorrected_reviewers_fr

    c = alloc.candidates
    t = ev.table.set_index("application_id")
    d = alloc.decisions
    funded = d[d["funded"]]
    spent = int(d["award_eur"].sum())
    lines = [
        f"Décision de financement — {ev.rules.call.name}",
        f"Statut : {alloc.message}",
        *rule_summary_fr(alloc),
        thresholds_summary_fr(ev, c.params, c),
        f"Règles de portefeuille : {c.params.portfolio_rules_fr(c.available_eur)}",
        f"Pondérations : {ev.weights.describe_fr(ev.rules)}",
        f"Enveloppe : {format_eur(c.envelope_eur)} ; engagé : {format_eur(c.committed_eur)} ; réserve : {format_eur(c.reserve_eur)} ; "
        f"disponible : {format_eur(c.available_eur)}",
        f"Lauréats : {len(funded)} ; attribué : {format_eur(spent)} ; non attribué : {format_eur(c.available_eur - spent)}",
    ]
    names = reviewer_pseudonyms(ev, identities=reviewer_identities)
    loose = uncorrected_reviewers(ev.reviews, ev.rules, ev.normalisation)
    uncorrected = uncorrected_reviewers_fr(loose.assign(reviewer_id=[names.get(str(r), str(r)) for r in loose["reviewer_id"]]))
    if uncorrected:
        lines.insert(lines.index(f"Pondérations : {ev.weights.describe_fr(ev.rules)}") + 1, uncorrected)
    if c.rule == "merit_order":
        suggested = tie_band_from_reviews(ev.reviews, ev.rules, ev.weights, normalisation=ev.normalisation)
        lines.append(f"Pour information : l'écart-type médian de la différence de deux notes, estimé à partir des évaluations, "
                     f"est de {format_number(suggested, 2)} points (option --tie-band auto).")
    weighted = c.params.objective == "score_weighted_award"
    if c.params.objective is not None:
        lines.append(f"Somme des notes des lauréats : {format_points(alloc.total_score)} points "
                     f"(règle du classement : {format_points(ranking.total_score)} points, {len(ranking.funded_ids)} lauréats, "
                     f"{format_eur(ranking.total_awarded_eur)})")
    if weighted:
        lines.append(f"Valeur maximisée (somme des notes × montants) : {format_number(alloc.objective / 1000, 1)} points × k€")
    if not len(funded):
        lines.append("Attention : aucun lauréat avec ces paramètres (enveloppe, verrous, règles) ; vérifier avant de publier.")
    for e in alloc.exceptions:
        lines.append(f"Exception à l'ordre de mérite : {e.sentence_fr()}")
    if expl is not None:
        if expl.shadow_price_per_keur is not None and c.params.objective == "total_score":
            lines.append(f"Prix implicite de l'enveloppe : {format_number(expl.shadow_price_per_keur)} point(s) pour 1 000 € de plus")
        lines.append(expl.funding_line_fr())
        if expl.ex_aequo:
            lines.append(expl.ex_aequo_fr())
    lines += ["", f"{'rang':>4}  {'dossier':<8} {'note':>7}  {'attribué':>11}  intitulé"]
    for aid, award in sorted(zip(funded["application_id"], funded["award_eur"]), key=lambda p: t.at[p[0], "rank"]):
        lines.append(f"{int(t.at[aid, 'rank']):>4}  {aid:<8} {format_points(t.at[aid, 'score']):>7}  {format_eur(award):>11}  "
                     f"{short(t.at[aid, 'title'])}")
    lines.append("")
    lines.append(_reserve_line(ev, alloc))
    if c.rule != "ranking":
        enter = sorted(set(alloc.funded_ids) - set(ranking.funded_ids))
        leave = sorted(set(ranking.funded_ids) - set(alloc.funded_ids))
        if enter or leave:
            lines.append(f"Par rapport à la règle du classement, la décision finance en plus : {', '.join(enter) or 'aucun'} ; "
                         f"et ne finance pas : {', '.join(leave) or 'aucun'}.")
        else:
            lines.append("La décision et la règle du classement financent les mêmes dossiers.")
    if comparison is not None:
        lines.append(comparison.summary_fr())
    return "\n".join(lines)


def _reserve_line(ev: Evaluation, alloc) -> str:
    """« Liste complémentaire (10, dans l'ordre ; montant si financé) : P038 (140 000 €), … »."""
    from ditp_model.french import count_fr, format_eur
    from ditp_model.rules.reserve_list import reserve_ids

    size = ev.rules.selection.reserve_list_size
    ids = reserve_ids(alloc, size)
    if not ids:
        return "Liste complémentaire : aucun dossier."
    upper = dict(zip(alloc.candidates.table["application_id"], alloc.candidates.table["upper_eur"]))
    rule = "tous les dossiers finançables non financés" if size == "all" else f"au plus {size} selon l'appel"
    return (f"Liste complémentaire ({count_fr(len(ids), 'dossier')}, {rule} ; dans l'ordre, montant si financé) : "
            + ", ".join(f"{a} ({format_eur(int(upper[a]))})" for a in ids) + ".")


def record_encodings(manifest: dict, ev: Evaluation) -> dict:
    """Add to each of the manifest's ``input_files`` the encoding it was read with (``utf-8``, ``cp1252``, ``xlsx``…)."""
    roles = manifest.get("input_files") or {}
    for role, encoding in (("call", "utf-8"), ("applications", ev.applications.attrs.get("encoding")),
                           ("reviews", ev.reviews.attrs.get("encoding"))):
        if role in roles and encoding:
            roles[role]["encoding"] = encoding
    return manifest


def due_process_check(ev: Evaluation, params, *, provisional_allowed: bool, locks_file=None, funded_ids=None):
    """Whether the decision may be published: (Provisional, None) or (Provisional, (exit code, French message)).

    * A provisional decision (:func:`ditp_model.rules.held.provisional_status`) is refused without
      ``--provisoire``: exit :data:`~ditp_model.cli.common.EXIT_PROVISIONAL`, nothing published.
    * A final decision (not provisional) with a lock that has no written reason is refused: exit
      :data:`~ditp_model.cli.common.EXIT_INPUT`.
    """
    from ditp_model.rules.held import provisional_status

    prov = provisional_status(ev, params, funded_ids=funded_ids)
    if prov.is_provisional and not provisional_allowed:
        text = "\n".join(["Aucune décision publiée : la décision serait provisoire.", *prov.lines_fr(),
                          prov.what_to_do_fr(), f"(code de sortie {EXIT_PROVISIONAL})"])
        return prov, (EXIT_PROVISIONAL, text)
    missing = params.missing_lock_reasons()
    if missing and not prov.is_provisional:
        from ditp_model.inputs.locks import missing_reasons_fr

        text = f"Erreur : {missing_reasons_fr(missing, params.lock_out, locks_file)}. Aucune décision publiée."
        return prov, (EXIT_INPUT, text)
    return prov, None


def record_locks_file(manifest: dict, args) -> dict:
    """Add to the manifest the locks file (``--verrous``) read, with its SHA-256 (``locks_file``,
    :func:`ditp_model.inputs.locks.locks_file_record`)."""
    from ditp_model.inputs.locks import locks_file_record

    if getattr(args, "verrous", None):
        manifest["locks_file"] = locks_file_record(args.verrous)
    return manifest


def cmd_allocate(args) -> int:
    """``ditp-model allocate``, holding a lock on ``--out`` for the whole run (see :func:`ditp_model.cli.common.output_lock`)."""
    with output_lock(args):
        return _allocate(args)


#: What ``allocate`` publishes; any other file in ``--out`` (but its inputs and the outputs of ``score`` or
#: ``lottery`` that ``verify`` knows) belongs to another publication.
_OWN = ("allocation.csv", "allocation.xlsx", "manifest.json")


def older_publication(args) -> list[str]:
    """Files in ``--out`` that the new decision would leave beside it (a report, ``retours/``, letters, a journal…).

    ``allocate`` publishes three files; a folder that also holds another command's publication
    (``report``, ``lettres``) would mix two decisions (trial 1, item 4).  Not counted: the run's
    input files, the outputs of ``score``/``lottery``/``import-ds`` that ``verify`` lists apart, and a
    journal of lottery draws only (no decision published in it).
    """
    from ditp_model.outputs.record import _OTHER_OUTPUTS, JOURNAL_NAME, events_only_journal
    from ditp_model.publication import foreign_files

    out = Path(args.out)
    inputs = [getattr(args, k, None) for k in ("call", "applications", "reviews", "conflits", "verrous")]
    keep = [Path(i) for i in inputs if i] + [out / n for n in _OTHER_OUTPUTS]
    if events_only_journal(out / JOURNAL_NAME):  # a lottery's journal (README: lottery --out resultats) stays
        keep.append(out / JOURNAL_NAME)
    return foreign_files(out, _OWN, keep)


def refuse_mixed_folder(args, foreign: list[str]) -> str:
    """The French refusal of ``allocate --out`` into a folder holding another publication (exit 2)."""
    from ditp_model.publication import ARCHIVE_DIR, folder_counts_fr

    return (f"Erreur : le dossier « {args.out} » contient une autre publication que allocate ne remplace pas : "
            f"{', '.join(folder_counts_fr(foreign))}. Y publier la nouvelle décision laisserait ces fichiers décrire "
            "l'ancienne (dossier mêlant deux décisions). Choisir un autre --out, ou ajouter --remplacer pour déplacer "
            f"l'ancienne publication entière dans {ARCHIVE_DIR}/AAAA-MM-JJ_HHMMSS/ (rien n'est supprimé, lettres signées "
            "comprises). Aucune décision publiée.")


def _allocate(args) -> int:
    from ditp_model.rules.allocation import allocate, ranking_rule
    from ditp_model.rules.explain import explain, optimum_comparison
    from ditp_model.outputs.report import decision_workbook
    from ditp_model.rules.manifest import build_manifest, csv_bytes, decision_table, manifest_bytes, write_outputs
    from ditp_model.outputs.procedure import SECTIONS_FR, procedure_lines_fr, procedure_table
    from ditp_model.privacy import reviewer_pseudonyms

    from ditp_model.publication import archive_folder_name, folder_counts_fr

    foreign = older_publication(args)
    if foreign and not args.remplacer:
        print(refuse_mixed_folder(args, foreign), file=sys.stderr)
        return EXIT_INPUT
    ev = evaluate_inputs(args)
    params = allocation_params(args, committee_locks(args, ev.applications["application_id"].tolist()))
    alloc = allocate(ev, params)
    if not alloc.is_optimal:
        print(f"Aucune décision publiée — {alloc.status.label_fr}.\n{alloc.message}", file=sys.stderr)
        for c in alloc.conflicts:
            print(f"  - {c}", file=sys.stderr)
        return EXIT_NOT_OPTIMAL
    prov, refusal = due_process_check(ev, params, provisional_allowed=args.provisoire, funded_ids=alloc.funded_ids,
                                      locks_file=getattr(args, "verrous", None))
    if refusal is not None:
        code, text = refusal
        print(text, file=sys.stderr)
        return code
    ranking = ranking_rule(ev, params, args.ranking_variant)
    expl = explain(ev, alloc, gaps=not args.no_gaps)
    comparison = optimum_comparison(ev, alloc) if alloc.rule in ("merit_order", "ranking") else None
    table = decision_table(ev, alloc, ranking, expl)
    identities = bool(getattr(args, "with_reviewer_ids", False))
    manifest = build_manifest(ev, alloc, table, command=command_line(args), provisional=prov, reviewer_identities=identities)
    record_encodings(manifest, ev)
    record_locks_file(manifest, args)
    manifest["explanations"] = {"gaps": not args.no_gaps}  # what an update re-explains with (outputs/updates.recorded_gaps)
    archive = {}
    if foreign:  # --remplacer: the older publication, whole (its manifest and tables too), moved into the archive
        where = archive_folder_name(folder=args.out)
        moved = foreign + [n for n in _OWN if (Path(args.out) / n).is_file()]
        archive = {n: f"{where}/{n}" for n in moved}
        manifest["archived_publication"] = {"folder": where, "files": len(moved),
                                            "manifest": f"{where}/manifest.json" if "manifest.json" in moved else None}
    # one pseudonymisation for the console, the workbook and the manifest (ditp_model.privacy)
    procedure = procedure_table(ev, alloc, provisional=prov, pseudonyms=reviewer_pseudonyms(ev, identities=identities))
    files = {
        "allocation.csv": csv_bytes(table),
        "allocation.xlsx": decision_workbook(ev, alloc, table, manifest, personal_data=identities, provisional=prov),
    }
    # the manifest lists every other file of the set with its SHA-256: ``verify`` checks them all
    manifest["published_files"] = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
    files["manifest.json"] = manifest_bytes(manifest)
    print(allocation_summary_fr(ev, alloc, ranking, expl, comparison, reviewer_identities=identities))
    print()
    print("\n".join(prov.lines_fr()))
    lines = procedure_lines_fr(procedure[procedure["rubrique"] != SECTIONS_FR["held"]])
    if lines:
        print("\n".join(["", "Procédure :", *lines]))
    for p in write_outputs(args.out, files, command=command_line(args), archive=archive):
        print(f"Écrit : {p}")
    if archive:
        where = manifest["archived_publication"]["folder"]
        print(f"Publication précédente déplacée dans {Path(args.out) / where} ({len(archive)} fichiers : "
              f"{', '.join(folder_counts_fr(archive))}) ; rien n'a été supprimé."
              + (f" Elle se vérifie encore : ditp-model verify {Path(args.out) / where / 'manifest.json'}"
                 if manifest["archived_publication"]["manifest"] else ""))
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``allocate`` to the sub-parsers of ``ditp-model``."""
    a = subparsers.add_parser("allocate", help="décision de financement (ordre de mérite par défaut), comparaisons et explications")
    add_input_options(a)
    add_due_process_options(a)
    add_reviewer_ids_option(a)
    a.add_argument("--envelope", type=euros, default=None, metavar="EUROS", help="enveloppe en euros entiers (défaut : celle de l'appel)")
    a.add_argument("--committed", type=euros, default=0, metavar="EUROS", help="montant déjà engagé lors de vagues précédentes (euros)")
    a.add_argument("--reserve", type=euros, default=0, metavar="EUROS", help="réserve gardée pour des vagues suivantes (euros)")
    a.add_argument("--min-share", type=float, default=None, metavar="PART", help="part minimale de la demande attribuée (1 = pas de réduction)")
    a.add_argument("--min-count", type=lambda s: group_rule(s, "min"), action="append", default=[], metavar="COL=VAL:N",
                   help="au moins N lauréats dans un groupe, par ex. region=Bretagne:1")
    a.add_argument("--max-share", type=lambda s: group_rule(s, "max"), action="append", default=[], metavar="COL=VAL:PART",
                   help="au plus cette part de l'enveloppe pour un groupe, par ex. region=Île-de-France:0.25")
    a.add_argument("--max-awards", type=count, default=None, metavar="N", help="nombre maximal de lauréats (entier ≥ 0)")
    add_rule_options(a)
    a.add_argument("--solver", choices=["highs", "cbc"], default="highs", help=SOLVER_HELP)
    a.add_argument("--time-limit", type=seconds, default=60.0, metavar="SECONDES", help="temps maximal par résolution (secondes, > 0)")
    a.add_argument("--ranking-variant", choices=["skip", "stop"], default="skip",
                   help="règle du classement : passer un dossier qui ne rentre pas (skip) ou s'arrêter (stop)")
    a.add_argument("--no-gaps", action="store_true", help="ne pas calculer les écarts d'entrée et marges de sortie")
    a.add_argument("--remplacer", action="store_true",
                   help="si --out contient la publication d'une autre commande (rapport, retours, lettres, journal), la "
                        "déplacer entière dans archives/AAAA-MM-JJ_HHMMSS/ du même dossier avec la nouvelle publication "
                        "(sans cette option : refus, code de sortie 2)")
    a.set_defaults(func=cmd_allocate)
    return a
