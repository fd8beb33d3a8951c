"""Sub-commands ``ditp-model desistement`` and ``ditp-model reduction``: a laureate withdraws, or its award is
reduced after budget review; the money freed goes to the reserve list (issue 13 item 4).

    ditp-model desistement --manifest DIR/manifest.json P012 --motif "…" [--out DIR2]
    ditp-model reduction   --manifest DIR/manifest.json P012 --montant 80000 --motif "…" [--out DIR2]

1. ``verify`` the manifest first (the decision in force must be reproduced from its inputs,
   earlier withdrawals and reductions replayed): otherwise nothing is published (exit 1);
2. apply the change (:mod:`ditp_model.timeline.withdrawal`): the money freed plus the money
   left is offered to the reserve list in order under the decision's rule, every other award
   unchanged; a motif is mandatory and the application must be funded in the decision in force;
3. publish into the manifest's folder, or ``--out``: ``allocation.csv`` (the decision table in
   force, with ``list``, ``reserve_rank``, ``change`` and ``change_note``) and a new
   ``manifest.json`` chained to the one it updates (``previous_manifest``, every change in
   ``withdrawals``), with an entry in the journal the manifest points to (or
   ``DIR/decisions.jsonl``) — :func:`ditp_model.outputs.updates.publish_update`.
   ``ditp-model verify`` on the new manifest replays the original decision and every change.
   In the same publication, rebuilt from the updated table and manifest
   (:func:`ditp_model.outputs.updates.updated_files`): ``allocation.xlsx`` and, when the folder
   holds them (a report's folder), ``retours_candidats.csv`` and ``retours/``.  ``rapport.html`` and
   ``rapport.pdf`` cannot be rebuilt without re-running the report: the manifest records
   (``stale_report``) and the command and ``verify`` say « le rapport décrit la décision avant le
   désistement n° N du JJ/MM/AAAA ; publier un nouveau rapport (ditp-model report) ».  Letters written by
   ``ditp-model lettres`` for the decision before the change are not rewritten (dated, perhaps signed
   or sent): the manifest records them (``stale_letters``), and the command and ``verify`` say
   « les lettres de lettres/ décrivent la décision … ; les récrire (ditp-model lettres) »
   (:mod:`ditp_model.outputs.letters_check`).

The decision in force is re-computed exactly as it was recorded — the same inputs (the
declarations of conflicts of interest included), weights, normalisation, parameters (envelope,
thresholds, locks and their reasons) and rule — through the replay of ``verify``
(:func:`ditp_model.outputs.record.recompute_decision`).  A reduction below the call's floor
(``funding.award_floor_eur``) is refused (exit 2): the route is a withdrawal.  A provisional
decision stays provisional, and the command says so.

A manifest already updated (an entry of the journal names it as ``previous_manifest``) is
refused: start from the latest manifest, so that two updates never branch off the same decision.

Exit codes: 0 published; 1 the manifest does not verify (differences listed); 2 bad arguments
(motif missing, application not funded, amount not below the award in force or below the call's floor…); 3 no proven
decision; 4 damaged journal (nothing published).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

__all__ = ["register", "cmd_desistement", "cmd_reduction"]

#: Files of a published report that an update cannot rebuild (the report's notebook must be re-run): recorded as
#: describing the decision before the update (manifest ``stale_report``), said by the command and by ``verify``.
_STALE = ("rapport.html", "rapport.pdf")
#: Files of a published decision that an update rebuilds from the updated table and manifest, in the same publication.
_FEEDBACK = ("retours_candidats.csv", "retours")


def register(subparsers) -> None:
    """Add ``desistement`` and ``reduction`` to the sub-parsers of ``ditp-model``."""
    from ditp_model.cli.common import euros, out_dir

    for name, help_, desc in (
        ("desistement", "un lauréat se désiste : l'argent libéré va à la liste complémentaire, décision mise à jour et vérifiable",
         "Enregistre le désistement d'un lauréat (motif obligatoire) : l'argent libéré et le reliquat sont proposés à la "
         "liste complémentaire dans l'ordre, selon la même règle ; les autres montants ne changent pas. Publie la décision "
         "mise à jour (allocation.csv, manifest.json chaîné au précédent) et une entrée du journal ; « ditp-model verify » "
         "la rejoue."),
        ("reduction", "montant d'un lauréat réduit après revue budgétaire : la différence va à la liste complémentaire",
         "Enregistre la réduction du montant d'un lauréat (nouveau montant --montant, motif obligatoire) : la différence et "
         "le reliquat sont proposés à la liste complémentaire dans l'ordre, selon la même règle. Publie la décision mise à "
         "jour et une entrée du journal ; « ditp-model verify » la rejoue."),
    ):
        p = subparsers.add_parser(name, help=help_, description=desc)
        p.add_argument("--manifest", required=True, metavar="DOSSIER/manifest.json",
                       help="manifeste de la décision en vigueur (rapport, allocate ou mise à jour précédente)")
        p.add_argument("application_id", metavar="DOSSIER", help="identifiant du lauréat, par ex. P012")
        if name == "reduction":
            p.add_argument("--montant", required=True, type=euros, metavar="EUROS",
                           help="nouveau montant attribué, en euros entiers (par ex. 80000 ou \"80 000\")")
        p.add_argument("--motif", required=True, metavar="TEXTE",
                       help="motif écrit, repris au manifeste et au journal (obligatoire)")
        p.add_argument("--out", type=out_dir, default=None, metavar="DOSSIER",
                       help="dossier de la décision mise à jour (défaut : celui du manifeste)")
        p.set_defaults(func=cmd_desistement if name == "desistement" else cmd_reduction)


def cmd_desistement(args) -> int:
    """``ditp-model desistement``: see the module docstring."""
    return _run(args, "desistement", None)


def cmd_reduction(args) -> int:
    """``ditp-model reduction``: see the module docstring."""
    return _run(args, "reduction", args.montant)


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def change_fr(change, number: int) -> str:
    """« le désistement de P011 (n° 1, 03/12/2026) » (today, UTC): what superseded a decision, for the stale letters' note."""
    import datetime as dt

    what = "le désistement" if change.kind == "desistement" else "la réduction du montant"
    day = dt.datetime.now(dt.timezone.utc).date().strftime("%d/%m/%Y")
    return f"{what} de {change.application_id} (changement n° {number}, {day})"


def _run(args, kind: str, amount: int | None) -> int:
    from ditp_model.cli.common import EXIT_NOT_OPTIMAL, check_out_dir
    from ditp_model.cli.report import EXIT_DIFFERENT, EXIT_JOURNAL
    from ditp_model.french import count_fr, format_eur
    from ditp_model.outputs.record import JOURNAL_NAME, JournalError, check_journal, manifest_digest, verify
    from ditp_model.outputs.letters_check import stale_letters_record
    from ditp_model.outputs.updates import publish_update, recorded_decision, stale_report_record, updated_files
    from ditp_model.rules.allocation import AllocationError
    from ditp_model.rules.manifest import csv_bytes
    from ditp_model.timeline.withdrawal import Change, change_sentence_fr, replay_changes, updated_manifest

    change = Change(kind, args.application_id.strip(), args.motif, amount)  # blank motif: ValueError, exit 2
    mp = Path(args.manifest)
    out = check_out_dir(args.out if args.out is not None else mp.resolve().parent)
    result = verify(mp)
    if not result.identical:
        print(result.text_fr())
        _err("Aucune mise à jour publiée : la décision en vigueur ne se vérifie pas (voir les écarts ci-dessus).")
        return EXIT_DIFFERENT
    rec = recorded_decision(mp)
    earlier = [Change.from_record(r) for r in rec.manifest.get("withdrawals") or []]
    try:
        table, update = replay_changes(rec.evaluation, rec.allocation, rec.table, earlier + [change])
    except AllocationError as exc:
        _err(f"Erreur : {exc}\nAucune mise à jour publiée.")
        return EXIT_NOT_OPTIMAL
    previous_sha = rec.manifest.get("manifest_sha256") or manifest_digest(rec.manifest)
    journal = rec.journal_path or (out / JOURNAL_NAME)
    try:
        state = check_journal(journal)
    except JournalError as exc:
        _err(f"Erreur : {exc}")
        return EXIT_JOURNAL
    later = [e for e in state.entries if (e.get("previous_manifest") or {}).get("manifest_sha256") == previous_sha]
    if later:
        e = later[-1]
        raise ValueError(f"ce manifeste a déjà été mis à jour (entrée n° {e['seq']} du journal {journal}, "
                         f"{e.get('event')} publié dans {e.get('out_dir')}) : partir du manifeste de cette mise à jour")
    command = "ditp-model " + " ".join(shlex.quote(a) for a in (getattr(args, "_argv", None) or sys.argv[1:]))
    manifest = updated_manifest(rec.manifest, table, earlier + [change], command=command,
                                previous_path=str(mp.resolve()), previous_sha256=previous_sha)
    stale = [n for n in _STALE if (out / n).exists()]
    if stale and not manifest.get("stale_report"):  # the first update after the report: the report describes the decision before it
        manifest["stale_report"] = stale_report_record(stale, change, len(earlier) + 1, rec.manifest)
    # letters (ditp-model lettres) of the decision before this change: recorded as stale, never rewritten nor deleted here
    letters = stale_letters_record(out, manifest["decision_sha256"], change_fr(change, len(earlier) + 1),
                                   rec.manifest.get("stale_letters"))
    manifest.pop("stale_letters", None)
    if letters:
        manifest["stale_letters"] = letters
    # the applicant feedback is rebuilt when the decision updated had published it, or the folder holds it
    feedback = "retours_candidats.csv" in (rec.manifest.get("published_files") or {}) or any((out / n).exists() for n in _FEEDBACK)
    files = {"allocation.csv": csv_bytes(table), **updated_files(rec, table, manifest, feedback=feedback)}
    try:
        pub = publish_update(out, files, manifest, event=kind, journal_path=journal)
    except JournalError as exc:
        _err(f"Erreur : {exc}")
        return EXIT_JOURNAL
    print(change_sentence_fr(update.steps[-1], update.reserve))
    print(f"Décision en vigueur : {count_fr(len(update.awards), 'lauréat', none='aucun lauréat')}, {format_eur(update.total_awarded_eur)} attribués sur "
          f"{format_eur(update.available_eur)} ; liste complémentaire en attente : {', '.join(update.waiting) or 'aucun dossier'}.")
    letters = [p for p in pub.written if Path(p).parent.name == "retours"]
    for p in pub.written:
        if p not in letters:
            print(f"Écrit : {p}")
    if letters:
        print(f"Écrit : {Path(letters[0]).parent} ({len(letters)} retours aux candidats, un par dossier)")
    print(f"Journal : {pub.journal_path} — entrée n° {pub.entry['seq']} ({kind}, empreinte {pub.entry['entry_sha256'][:16]}…)")
    if manifest.get("provisional"):
        print("DÉCISION PROVISOIRE : la décision mise à jour reste provisoire (des dossiers en attente d'évaluation "
              "pourraient entrer dans la liste des lauréats) ; elle n'est pas définitive.")
    if manifest.get("stale_report") and any((out / n).exists() for n in manifest["stale_report"]["files"]):
        print(f"ATTENTION : {manifest['stale_report']['note_fr']} ({', '.join(manifest['stale_report']['files'])} "
              f"dans {out}).")
    for name, info in (manifest.get("stale_letters") or {}).items():
        print(f"ATTENTION : {info['note_fr']} : ditp-model lettres --manifest {pub.out_dir / 'manifest.json'}")
    print(f"Vérifier : ditp-model verify {pub.out_dir / 'manifest.json'}")
    return 0
