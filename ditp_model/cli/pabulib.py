"""``ditp-model pabulib FILE.pb``: a Pabulib participatory-budgeting instance decided by the same engine."""

from __future__ import annotations

import argparse

from ditp_model.cli.common import EXIT_NOT_OPTIMAL, SOLVER_HELP, seconds

__all__ = ["register", "cmd_pabulib", "summary_fr", "number_fr", "amount_fr"]


def _decide(args) -> dict:
    """The light route first (no pandas, no solver: ``rules/pabulib_fast.py``), the engine when it declines.

    The light reader accepts only files the full reader reads without a problem, and the exact search
    returns the engine's decision; any other case (a problem to report in French, a search that gives
    up) goes to the full reader and the engine, unchanged (issue 18).
    """
    from ditp_model.inputs.pabulib_light import read_pabulib_light

    light = read_pabulib_light(args.file)
    if light is not None:
        from ditp_model.rules.pabulib_fast import allocate_pabulib_light

        result = allocate_pabulib_light(light)
        if result is not None:
            return result
    from ditp_model.inputs.pabulib import read_pabulib
    from ditp_model.rules.pabulib import allocate_pabulib

    return allocate_pabulib(read_pabulib(args.file), solver=args.solver, time_limit_s=args.time_limit)


def number_fr(text) -> str:
    """A number written the French way, from its exact text (``"1057575.5"`` -> ``"1 057 575,5"``): thousands
    separated by a narrow no-break space (U+202F, as :func:`ditp_model.french.format_eur` writes them), decimal
    comma.  No babel: ``ditp-model pabulib`` stays light (issue 18)."""
    text = str(text)
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, decimals = digits.partition(".")
    groups = []
    while len(whole) > 3:
        whole, groups = whole[:-3], [whole[-3:], *groups]
    return sign + "\u202f".join([whole, *groups]) + (f",{decimals}" if decimals else "")


def amount_fr(text, currency: str | None) -> str:
    """An amount in the file's currency (META ``currency``): « 7 998 220 € », « 1 057 575 PLN », no unit when absent."""
    unit = {"EUR": "€"}.get(currency or "", currency or "")
    return number_fr(text) + (f"\u00a0{unit}" if unit else "")


def summary_fr(result: dict) -> list[str]:
    """The lines ``ditp-model pabulib`` prints without ``--json``: numbers and amounts written the French way."""
    lines = [f"{result['file']} : {result['status']} ({result['solver']}, {number_fr(result['seconds'])} s)"]
    if result["selected"] is not None:
        currency = result.get("currency")
        lines.append(f"Projets retenus ({len(result['selected'])}) : {', '.join(result['selected'])}")
        lines.append(f"Coût total : {amount_fr(result['total_cost'], currency)} sur {amount_fr(result['budget'], currency)} ; "
                     f"score total : {number_fr(result['total_score'])}")
    return lines


def cmd_pabulib(args) -> int:
    import json

    result = _decide(args)
    if args.json:  # for programs: unchanged, numbers as exact text
        print(json.dumps(result, ensure_ascii=False))
    else:
        print("\n".join(summary_fr(result)))
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
