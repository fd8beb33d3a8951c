"""Sub-commands ``ditp-model report`` and ``ditp-model verify`` (messages in French).

``report`` runs the report notebook (papermill), renders it to a
self-contained HTML without code and lays it out as an A4 PDF, and publishes into ``--out``:
``rapport.html``, ``rapport.pdf`` (a provisional decision, published with ``--provisoire``: « PROVISOIRE » on every page), ``allocation.xlsx`` (decision, eligibility, scores by
reviewer, parameters, provenance), ``allocation.csv``, ``manifest.json``,
``retours_candidats.csv`` and ``retours/<id>.md`` (feedback to applicants),
then appends an entry to the journal ``decisions.jsonl``.  The inputs come
from ``--scenario FILE`` (a committee session's snapshot) or from the same
flags as ``allocate``, with ``--conflits FICHIER`` (declarations of conflicts of
interest: the reviews under a declared conflict are left out, listed in the
report's « Annexe de procédure », and the file is an input of the manifest that
``verify`` re-reads); the decision rule, the ex aequo band and the overall
quality threshold are ``--rule``, ``--tie-band`` and ``--min-score``
(:func:`ditp_model.cli.common.add_rule_options`; default: the call's).  Every rule
decides: the report publishes the rule the committee chose.

``verify MANIFEST`` re-runs the decision from the manifest's inputs with the
recorded rule and says « identique » or lists what differs (a changed rule,
δ or threshold included).

Exit codes: 0 success (``verify``: identical); 1 ``verify`` found
differences; 2 bad input or parameters; 3 no proven decision (no report
published); 4 the journal is damaged (nothing published, nothing appended);
5 the report notebook or its rendering failed (nothing published); 6 the
decision would be provisional (an application awaiting reviews could still
enter the list of laureates) and ``--provisoire`` was not given (nothing
published, :mod:`ditp_model.rules.held`); 7 the output folder is held by
another run, or the new report could not be switched in (the previous one is
back in place, :mod:`ditp_model.publication`).

``register(subparsers)`` adds both sub-commands to ``ditp-model``'s parser.
"""

from __future__ import annotations

import shlex
import sys

from ditp_model.cli.common import EXIT_INPUT, EXIT_NOT_OPTIMAL, EXIT_PROVISIONAL

__all__ = ["register", "cmd_report", "cmd_verify", "published_line_fr", "EXIT_DIFFERENT", "EXIT_JOURNAL", "EXIT_NOTEBOOK"]

EXIT_DIFFERENT = 1
EXIT_JOURNAL = 4
EXIT_NOTEBOOK = 5

#: Error class names raised inside the notebook -> exit code.
_NOTEBOOK_ENAMES = {"ReportParameterError": EXIT_INPUT, "InputError": EXIT_INPUT, "ValueError": EXIT_INPUT,
                    "ReportNotOptimalError": EXIT_NOT_OPTIMAL, "NotOptimalError": EXIT_NOT_OPTIMAL,
                    "AllocationError": EXIT_NOT_OPTIMAL}



#: Files ``report`` writes into ``--out`` (``retours/``: every file of that folder).
REPORT_OUTPUTS = ("rapport.html", "rapport.pdf", "allocation.xlsx", "allocation.csv", "manifest.json", "retours_candidats.csv", "retours/",
                  "decisions.jsonl")


def register(subparsers) -> None:
    """Add ``report`` and ``verify`` to the sub-parsers of ``ditp-model``."""
    from ditp_model.cli.common import add_due_process_options, add_rule_options, count, euros, group_rule, out_dir, seconds

    r = subparsers.add_parser("report", help="rapport de sélection reproductible (HTML, PDF, XLSX, manifeste, journal)",
                              description="Produit rapport.html, rapport.pdf (A4), allocation.xlsx, allocation.csv, manifest.json et les retours "
                                          "aux candidats, et ajoute une entrée au journal decisions.jsonl. Entrées : --scenario "
                                          "FICHIER, ou --call, --applications, --reviews et les options d'allocate.")
    r.add_argument("--scenario", metavar="FICHIER", help="scénario enregistré par le comité (JSON) : fichiers, pondérations et règles")
    r.add_argument("--call", metavar="FICHIER.toml", help="règles de l'appel (TOML), par ex. data/appel_2021.toml")
    r.add_argument("--applications", metavar="FICHIER", help="candidatures (CSV ou XLSX)")
    r.add_argument("--reviews", metavar="FICHIER", help="évaluations (CSV ou XLSX)")
    r.add_argument("--conflits", default=None, metavar="FICHIER",
                   help="déclarations de conflits d'intérêts (CSV ou XLSX : person_id, application_id, nature, role, "
                        "declared_on) ; un avis sous conflit déclaré est écarté (compté comme manquant) et listé dans "
                        "l'annexe de procédure ; le fichier est inscrit au manifeste (SHA-256) et relu par verify ; "
                        "un scénario enregistre les siennes (--conflits n'y est alors pas à redonner)")
    r.add_argument("--weights", metavar="CRITÈRE=POIDS,…", help="pondérations, par ex. impact=0.5,openness=0.3,collective=0.2 (défaut : celles de l'appel)")
    r.add_argument("--normalisation", choices=["raw_mean", "reviewer_zscore", "reviewer_effects"],
                   help="agrégation des notes (défaut : celle de l'appel)")
    add_due_process_options(r)
    r.add_argument("--envelope", type=euros, metavar="EUROS",
                   help="enveloppe en euros entiers, par ex. \"2 500 000\" ou \"2,5 M€\" (défaut : celle de l'appel)")
    r.add_argument("--committed", type=euros, metavar="EUROS", help="montant déjà engagé lors de vagues précédentes (euros)")
    r.add_argument("--reserve", type=euros, metavar="EUROS", help="réserve gardée pour des vagues suivantes (euros)")
    r.add_argument("--min-share", type=float, metavar="PART", help="part minimale de la demande attribuée (1 = pas de réduction)")
    r.add_argument("--min-count", type=lambda s: group_rule(s, "min"), action="append", default=[], metavar="COL=VAL:N",
                   help="au moins N lauréats dans un groupe, par ex. region=Bretagne:1")
    r.add_argument("--max-share", type=lambda s: group_rule(s, "max"), action="append", default=[], metavar="COL=VAL:PART",
                   help="au plus cette part de l'enveloppe pour un groupe, par ex. region=Île-de-France:0.25")
    r.add_argument("--max-awards", type=count, metavar="N", help="nombre maximal de lauréats (entier ≥ 0)")
    add_rule_options(r)
    r.add_argument("--solver", choices=["highs", "cbc"], help="solveur (défaut : highs)")
    r.add_argument("--time-limit", type=seconds, metavar="SECONDES", help="temps maximal par résolution, en secondes, > 0 (défaut : 60)")
    r.add_argument("--ranking-variant", choices=["skip", "stop"],
                   help="règle du classement (règle de décision --rule ranking, et colonne de comparaison) : passer un "
                        "dossier qui ne rentre pas (skip, défaut) ou s'arrêter (stop)")
    r.add_argument("--no-gaps", action="store_true", help="ne pas calculer les écarts d'entrée et marges de sortie")
    r.add_argument("--near-line", type=int, metavar="N", help="dossiers montrés de part et d'autre de la ligne de financement (défaut : 8)")
    r.add_argument("--waves-from", metavar="AAAA-MM-JJ",
                   help="ajoute la section « Sélection en vagues » : rejeu en vagues hebdomadaires de cette date à la date "
                        "limite de l'appel, comparé à l'optimum en une fois (défaut : pas de section)")
    r.add_argument("--with-reviewer-ids", action="store_true",
                   help="garder l'identité des évaluateurs dans les exports (seulement à la demande expresse du secrétariat ; "
                        "sinon R01, R02…)")
    r.add_argument("--journal", metavar="FICHIER", help="journal des décisions (défaut : DOSSIER/decisions.jsonl)")
    r.add_argument("--notebook", metavar="FICHIER.ipynb", help="notebook du rapport (défaut : notebooks/04_rapport.ipynb du dépôt)")
    r.add_argument("--out", required=True, type=out_dir, metavar="DOSSIER", help="dossier du rapport (créé si besoin)")
    r.set_defaults(func=cmd_report)

    v = subparsers.add_parser("verify", help="vérifier une décision publiée : « identique » ou la liste des différences",
                              description="Relit les entrées du manifeste, refait le calcul et compare ; vérifie aussi le "
                                          "journal decisions.jsonl et les fichiers publiés.")
    v.add_argument("manifest", metavar="MANIFESTE", help="manifest.json d'un rapport (ou d'allocate)")
    v.add_argument("--no-rerun", action="store_true", help="vérifier les empreintes sans refaire le calcul")
    v.add_argument("--conflits", default=None, metavar="FICHIER",
                   help="déclarations de conflits d'intérêts faites après la décision : le re-calcul les applique et liste "
                        "chaque note et chaque décision qu'elles changent")
    v.set_defaults(func=cmd_verify)


def report_values(args) -> dict:
    """The report parameters given on the command line (flags left out keep the report's defaults)."""
    from dataclasses import asdict

    v: dict = {}
    for name, flag in (("scenario", "scenario"), ("call", "call"), ("applications", "applications"), ("reviews", "reviews"),
                       ("conflicts", "conflits"),
                       ("weights", "weights"), ("normalisation", "normalisation"), ("envelope_eur", "envelope"),
                       ("committed_eur", "committed"), ("reserve_eur", "reserve"), ("min_share", "min_share"),
                       ("max_awards", "max_awards"), ("rule", "rule"), ("tie_band_points", "tie_band"),
                       ("min_score", "min_score"), ("solver", "solver"),
                       ("time_limit_s", "time_limit"), ("ranking_variant", "ranking_variant"), ("near_line", "near_line"),
                       ("waves_from", "waves_from")):
        x = getattr(args, flag)
        if x is not None:
            v[name] = x
    from ditp_model.cli.common import committee_locks

    lock_in, lock_out, reasons = committee_locks(args)
    if lock_in:
        v["lock_in"] = [f"{a}={reasons[a]}" if reasons.get(a) else a for a in lock_in]
    if lock_out:
        v["lock_out"] = [f"{a}={reasons[a]}" if reasons.get(a) else a for a in lock_out]
    rules = list(args.min_count) + list(args.max_share)
    if rules:
        v["group_rules"] = [{k: x for k, x in asdict(r).items() if x is not None} for r in rules]
    if args.no_gaps:
        v["gaps"] = False
    if args.with_reviewer_ids:
        v["personal_data"] = True
    if getattr(args, "provisoire", False):
        v["provisional"] = True
    return v


def published_line_fr(out_dir, written) -> str:
    """« Rapport publié dans DOSSIER : allocation.csv, …, retours/ (110 retours aux candidats) ».

    The files of ``retours/`` are the Markdown feedback to applicants, counted as « retours »: the letters
    (Word, PDF) are ``ditp-model lettres``'s, written elsewhere.
    """
    from pathlib import Path

    out_dir = Path(out_dir)
    names = sorted({Path(p).relative_to(out_dir).parts[0] for p in written})
    n = sum(1 for p in written if Path(p).parent == out_dir / "retours")
    return f"Rapport publié dans {out_dir} : " + ", ".join(
        f"retours/ ({n} retour{'s' if n > 1 else ''} aux candidats)" if name == "retours" else name for name in names)


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def cmd_report(args) -> int:
    """``ditp-model report``: see the module docstring for outputs and exit codes."""
    from ditp_model.rules.allocation import AllocationError, NotOptimalError
    from ditp_model.outputs.record import JournalError
    from ditp_model.outputs.report import (ReportNotebookError, ReportNotOptimalError, ReportProvisionalError, produce_report,
                                           validate_parameters)
    from ditp_model.outputs.report_pdf import ReportPdfError
    from ditp_model.french import count_fr, format_eur
    from ditp_model.inputs.schema import InputError

    from ditp_model.cli.common import EXIT_PUBLICATION, check_inputs_not_outputs, output_lock
    from ditp_model.publication import PublicationError

    argv = getattr(args, "_argv", None) or sys.argv[1:]
    command = "ditp-model " + " ".join(shlex.quote(a) for a in argv)
    try:
        check_inputs_not_outputs(args.out, {"--scenario": args.scenario, "--call": args.call,
                                            "--applications": args.applications, "--reviews": args.reviews,
                                            "--conflits": args.conflits, "--verrous": args.verrous,
                                            "--notebook": args.notebook}, REPORT_OUTPUTS)
        params = validate_parameters(**report_values(args), command=command)
        with output_lock(args):  # the whole run: a second report into the same folder stops at once
            pub = produce_report(params, args.out, journal=args.journal, notebook=args.notebook,
                                 provisional_allowed=args.provisoire, locks_file=args.verrous)
    except ReportProvisionalError as exc:
        _err(str(exc))
        return EXIT_PROVISIONAL
    except InputError as exc:
        _err(f"Erreur : données d'entrée invalides — aucun rapport publié.\n{exc}")
        return EXIT_INPUT
    except PublicationError as exc:
        _err(f"Erreur : {exc}\nAucun rapport publié.")
        return EXIT_PUBLICATION
    except ReportNotOptimalError as exc:
        _err(str(exc))
        return EXIT_NOT_OPTIMAL
    except (AllocationError, NotOptimalError) as exc:
        _err(f"Erreur : résultat rejeté — aucun rapport publié.\n{exc}")
        return EXIT_NOT_OPTIMAL
    except JournalError as exc:
        _err(f"Erreur : {exc}")
        return EXIT_JOURNAL
    except ReportNotebookError as exc:
        _err(f"Erreur : le notebook du rapport a échoué — aucun rapport publié.\n{exc}")
        return _NOTEBOOK_ENAMES.get(exc.ename, EXIT_NOTEBOOK)
    except ReportPdfError as exc:
        _err(f"Erreur : {exc}")
        return EXIT_NOTEBOOK
    except (ValueError, FileNotFoundError) as exc:
        from ditp_model.cli.common import located_lock_error

        located = located_lock_error(exc, args)  # an imposed application that cannot be funded: its row in --verrous
        _err(f"Erreur : données d'entrée invalides — aucun rapport publié.\n{located}" if located
             else f"Erreur : {exc}\nAucun rapport publié.")
        return EXIT_INPUT
    m, e = pub.manifest, pub.entry
    print(published_line_fr(pub.out_dir, pub.written))
    print(f"Décision : {count_fr(m['funded_count'], 'lauréat', none='aucun lauréat')}, {format_eur(m['total_awarded_eur'])} ; empreinte {m['decision_sha256']}")
    if m.get("provisional"):
        from ditp_model.outputs.workbook import decision_status_fr

        print(f"Décision {decision_status_fr(m)} — à ne pas notifier avant la décision définitive (les lettres seraient des "
              "projets : ditp-model lettres --provisoire).")
    print(f"Journal : {pub.journal_path} — entrée n° {e['seq']} (empreinte {e['entry_sha256'][:16]}…)")
    for info in (m.get("stale_letters") or {}).values():  # letters of the decision this report replaces
        print(f"ATTENTION : {info['note_fr']} : ditp-model lettres --manifest {pub.out_dir / 'manifest.json'}")
    print(f"Vérifier : ditp-model verify {pub.out_dir / 'manifest.json'}")
    for note in pub.notes:
        _err(f"Remarque (sortie d'erreur du notebook, non reprise dans le rapport) : {note}")
    return 0


def cmd_verify(args) -> int:
    """``ditp-model verify MANIFEST``: 0 identical, 1 differences, 2 unreadable manifest."""
    from ditp_model.outputs.record import verify
    from ditp_model.inputs.schema import InputError

    try:
        result = verify(args.manifest, rerun=not args.no_rerun, conflicts=args.conflits)
    except InputError as exc:
        _err(f"Erreur : {exc}")
        return EXIT_INPUT
    print(result.text_fr())
    return 0 if result.identical else EXIT_DIFFERENT
