"""``ditp-model pabulib FILE.pb``: a Pabulib participatory-budgeting instance decided by the same engine."""

from __future__ import annotations

import argparse

from ditp_model.cli.common import EXIT_NOT_OPTIMAL, SOLVER_HELP, seconds

__all__ = ["register", "cmd_pabulib"]


def cmd_pabulib(args) -> int:
    import json

    from ditp_model.inputs.pabulib import read_pabulib
    from ditp_model.rules.pabulib import allocate_pabulib

    result = allocate_pabulib(read_pabulib(args.file), solver=args.solver, time_limit_s=args.time_limit)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{result['file']} : {result['status']} ({result['solver']}, {result['seconds']} s)")
        if result["selected"] is not None:
            print(f"Projets retenus ({len(result['selected'])}) : {', '.join(result['selected'])}")
            print(f"Coût total : {result['total_cost']} {result['currency'] or ''} sur {result['budget']} ; "
                  f"score total : {result['total_score']}")
    return 0 if result["status"] == "optimal" else EXIT_NOT_OPTIMAL


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``pabulib`` to the sub-parsers of ``ditp-model``."""
    pb = subparsers.add_parser("pabulib", help="allocation optimale sur un fichier Pabulib (.pb) de budget participatif")
    pb.add_argument("file", metavar="FICHIER.pb", help="fichier .pb")
    pb.add_argument("--json", action="store_true", help="un objet JSON : statut, projets retenus, coût, score, solveur, secondes")
    pb.add_argument("--solver", choices=["highs", "cbc"], default="highs", help=SOLVER_HELP)
    pb.add_argument("--time-limit", type=seconds, default=600.0, metavar="SECONDES", help="temps maximal de résolution (secondes, > 0 ; défaut 600)")
    pb.set_defaults(func=cmd_pabulib)
    return pb
