"""The ``ditp-model`` command (messages in French).

Sub-commands: ``score`` (eligibility and ranked list), ``allocate`` (the
funding decision), ``pabulib`` (a Pabulib instance through the same engine).
Exit codes: 0 success; 2 bad input or bad arguments; 3 no proven optimum.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .io import load_inputs, write_csv_atomic
from .pipeline import Evaluation, evaluate
from .report_format import format_eur, format_points
from .schema import InputError
from .scoring import parse_weights

__all__ = ["main"]

EXIT_INPUT = 2
EXIT_NOT_OPTIMAL = 3


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def eligibility_summary_fr(ev: Evaluation) -> str:
    """French summary: counts, then each ineligible application with its reasons."""
    t = ev.table
    n, ne = len(t), int(t["eligible"].sum())
    lines = [f"Candidatures : {n} ; éligibles : {ne} ; non éligibles : {n - ne}."]
    for row in t[~t["eligible"]].itertuples():
        lines.append(f"  - {row.application_id} ({_short(row.title, 50)}) : {row.reasons}")
    unscored = t[t["eligible"] & ~t["scored"]]
    if len(unscored):
        lines.append(f"Éligibles mais non classées faute d'avis suffisants : {len(unscored)}.")
        for row in unscored.itertuples():
            lines.append(f"  - {row.application_id} : {row.score_flag}")
    return "\n".join(lines)


def ranked_list_fr(ev: Evaluation) -> str:
    """French ranked list of eligible, scored applications."""
    t = ev.table
    r = t[t["rank"].notna()].sort_values("rank")
    lines = [f"Classement ({ev.weights.describe_fr()}) :", f"{'rang':>4}  {'dossier':<8} {'note':>7}  {'demandé':>11}  intitulé"]
    for row in r.itertuples():
        lines.append(f"{int(row.rank):>4}  {row.application_id:<8} {format_points(row.score):>7}  "
                     f"{format_eur(row.requested_eur):>11}  {_short(row.title)}")
    return "\n".join(lines)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--call", required=True, help="règles de l'appel (TOML), par ex. data/appel_2021.toml")
    p.add_argument("--applications", required=True, help="candidatures (CSV ou XLSX)")
    p.add_argument("--reviews", required=True, help="évaluations (CSV ou XLSX)")
    p.add_argument("--weights", default=None,
                   help="pondérations, par ex. impact=0.5,openness=0.3,collective=0.2 (défaut : celles de l'appel)")
    p.add_argument("--normalisation", choices=["raw_mean", "reviewer_zscore"], default=None,
                   help="agrégation des notes (défaut : celle de l'appel)")
    p.add_argument("--out", required=True, help="dossier des résultats (créé si besoin)")


def _evaluate(args) -> Evaluation:
    inputs = load_inputs(args.call, args.applications, args.reviews)
    weights = parse_weights(args.weights, inputs.rules) if args.weights else None
    ev = evaluate(inputs, weights)
    if args.normalisation:
        from .scoring import score_applications

        scores = score_applications(ev.applications, ev.reviews, ev.rules, ev.weights, ev.eligibility,
                                    normalisation=args.normalisation)
        ev = Evaluation(ev.rules, ev.applications, ev.reviews, ev.weights, ev.eligibility, scores, ev.files)
    return ev


def cmd_score(args) -> int:
    ev = _evaluate(args)
    print(eligibility_summary_fr(ev))
    print()
    print(ranked_list_fr(ev))
    out = Path(args.out)
    write_csv_atomic(ev.table, out / "scores.csv")
    print(f"\nÉcrit : {out / 'scores.csv'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ditp-model", description="Aide à la décision du comité de sélection (appel DITP).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("score", help="éligibilité et classement des candidatures")
    _common(p)
    p.set_defaults(func=cmd_score)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ditp-model``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"Erreur : données d'entrée invalides.\n{exc}", file=sys.stderr)
        return EXIT_INPUT
    except ValueError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
