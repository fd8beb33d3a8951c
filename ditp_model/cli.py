"""The ``ditp-model`` command (messages in French).

Sub-commands: ``score`` (eligibility and ranked list), ``allocate`` (the
funding decision), ``pabulib`` (a Pabulib instance through the same engine),
``import-ds`` (:mod:`ditp_model.cli_ds`), ``report`` and ``verify``
(:mod:`ditp_model.cli_report`), ``lottery`` (:mod:`ditp_model.cli_lottery`).
Exit codes: 0 success; 2 bad input or bad arguments; 3 no proven optimum.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

# Start-up (issue 18): `ditp-model --help` and `ditp-model pabulib` import only
# what they use; pandas, pulp, babel, pydantic... are imported inside the
# sub-command functions that need them.
if TYPE_CHECKING:
    from .pipeline import Evaluation

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
    from .report_format import format_eur, format_points

    t = ev.table
    r = t[t["rank"].notna()].sort_values("rank")
    lines = [f"Classement ({ev.weights.describe_fr(ev.rules)}) :", f"{'rang':>4}  {'dossier':<8} {'note':>7}  {'demandé':>11}  intitulé"]
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


def check_out_dir(path) -> Path:
    """Refuse, before any computation, an output folder that is an existing file (French message)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out « {out} » est un fichier existant : indiquer un dossier")
    return out


def _evaluate(args) -> Evaluation:
    from .io import load_inputs
    from .pipeline import evaluate
    from .scoring import parse_weights

    check_out_dir(args.out)
    inputs = load_inputs(args.call, args.applications, args.reviews)
    weights = parse_weights(args.weights, inputs.rules) if args.weights else None
    return evaluate(inputs, weights, args.normalisation)


def cmd_score(args) -> int:
    from .io import write_csv_atomic

    ev = _evaluate(args)
    print(eligibility_summary_fr(ev))
    print()
    print(ranked_list_fr(ev))
    out = Path(args.out)
    write_csv_atomic(ev.table, out / "scores.csv")
    print(f"\nÉcrit : {out / 'scores.csv'}")
    return 0


class FrenchArgumentParser(argparse.ArgumentParser):
    """argparse with its errors in French (``Erreur : …``, exit 2) and French sub-parsers."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("add_help", True)
        super().__init__(*args, **kwargs)
        self._optionals.title = "options"
        self._positionals.title = "arguments"

    def add_subparsers(self, **kwargs):
        kwargs.setdefault("parser_class", FrenchArgumentParser)
        return super().add_subparsers(**kwargs)

    def error(self, message: str):
        for en, fr in (("the following arguments are required", "arguments obligatoires manquants"),
                       ("invalid choice", "choix invalide"), ("choose from", "choisir parmi"),
                       ("unrecognized arguments", "arguments non reconnus"), ("expected one argument", "une valeur attendue"),
                       ("argument ", "option "), ("invalid int value", "nombre entier attendu"),
                       ("invalid float value", "nombre attendu"), ("expected at least one argument", "au moins une valeur attendue")):
            message = message.replace(en, fr)
        self.exit(2, f"Erreur : {message}\n(aide : {self.prog} --help)\n")


def _euros(text: str) -> int:
    """A command-line amount in whole euros, written like in the spreadsheets (``2 500 000``, ``2500000 €``)."""
    from .io import parse_amount

    try:
        return parse_amount(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"« {text} » : {exc}") from None


def _group_rule(text: str, kind: str):
    from .allocation import GroupRule

    example = "region=Bretagne:1" if kind == "min" else "region=Île-de-France:0.25 (ou 25%)"
    form = f"écrire colonne=valeur:{'nombre' if kind == 'min' else 'part'} (par ex. {example})"
    if ":" not in text or "=" not in text.rsplit(":", 1)[0]:
        raise argparse.ArgumentTypeError(f"« {text} » : {form}")
    left, n = text.rsplit(":", 1)
    col, val = (x.strip() for x in left.split("=", 1))
    n = n.strip()
    try:
        if kind == "min":
            return GroupRule(col, val, min_count=int(n))
        share = float(n.rstrip("%").strip().replace(",", ".")) / (100 if n.endswith("%") else 1)
        return GroupRule(col, val, max_share=share)
    except ValueError as exc:
        detail = str(exc) if "règle" in str(exc) else f"« {n} » n'est pas {'un nombre entier' if kind == 'min' else 'une part'}"
        raise argparse.ArgumentTypeError(f"« {text} » : {detail} ; {form}") from None


def allocation_params(args):
    """AllocationParams from the ``allocate`` command-line arguments."""
    from .allocation import AllocationParams

    return AllocationParams(
        envelope_eur=args.envelope, committed_eur=args.committed, reserve_eur=args.reserve, min_share=args.min_share,
        lock_in=frozenset(args.lock_in), lock_out=frozenset(args.lock_out),
        group_rules=tuple(args.min_count) + tuple(args.max_share), max_awards=args.max_awards,
        objective=args.objective, solver=args.solver, time_limit_s=args.time_limit)


def allocation_summary_fr(ev: Evaluation, alloc, ranking, expl) -> str:
    """The French summary printed by ``ditp-model allocate``."""
    from .report_format import format_eur, format_number, format_points

    c = alloc.candidates
    t = ev.table.set_index("application_id")
    d = alloc.decisions
    funded = d[d["funded"]]
    spent = int(d["award_eur"].sum())
    lines = [
        f"Décision de financement — {ev.rules.call.name}",
        f"Statut : {alloc.message}",
        f"Pondérations : {ev.weights.describe_fr(ev.rules)}",
        f"Enveloppe : {format_eur(c.envelope_eur)} ; engagé : {format_eur(c.committed_eur)} ; réserve : {format_eur(c.reserve_eur)} ; "
        f"disponible : {format_eur(c.available_eur)}",
        f"Lauréats : {len(funded)} ; attribué : {format_eur(spent)} ; non attribué : {format_eur(c.available_eur - spent)}",
        f"Somme des notes des lauréats : {format_points(alloc.total_score)} points "
        f"(règle du classement : {format_points(ranking.total_score)} points, {len(ranking.funded_ids)} lauréats, "
        f"{format_eur(ranking.total_awarded_eur)})",
    ]
    weighted = c.params.objective == "score_weighted_award"
    if weighted:
        lines.append(f"Valeur maximisée (somme des notes × montants) : {format_number(alloc.objective / 1000, 1)} points × k€")
    if not len(funded):
        lines.append("Attention : aucun lauréat avec ces paramètres (enveloppe, verrous, règles) ; vérifier avant de publier.")
    if expl is not None:
        if expl.shadow_price_per_keur is not None and not weighted:
            lines.append(f"Prix implicite de l'enveloppe : {format_number(expl.shadow_price_per_keur)} point(s) pour 1 000 € de plus")
        lines.append(expl.funding_line_fr())
    lines += ["", f"{'rang':>4}  {'dossier':<8} {'note':>7}  {'attribué':>11}  intitulé"]
    for aid, award in sorted(zip(funded["application_id"], funded["award_eur"]), key=lambda p: t.at[p[0], "rank"]):
        lines.append(f"{int(t.at[aid, 'rank']):>4}  {aid:<8} {format_points(t.at[aid, 'score']):>7}  {format_eur(award):>11}  "
                     f"{_short(t.at[aid, 'title'])}")
    enter = sorted(set(alloc.funded_ids) - set(ranking.funded_ids))
    leave = sorted(set(ranking.funded_ids) - set(alloc.funded_ids))
    lines.append("")
    if enter or leave:
        lines.append(f"Par rapport à la règle du classement, l'optimum finance en plus : {', '.join(enter) or 'aucun'} ; "
                     f"et ne finance pas : {', '.join(leave) or 'aucun'}.")
    else:
        lines.append("L'optimum et la règle du classement financent les mêmes dossiers.")
    return "\n".join(lines)


def cmd_allocate(args) -> int:
    import shlex

    from .allocation import allocate, ranking_rule
    from .explain import explain
    from .report import build_manifest, csv_bytes, decision_table, manifest_bytes, parameters_sheet, write_outputs, xlsx_bytes

    ev = _evaluate(args)
    params = allocation_params(args)
    alloc = allocate(ev, params)
    if not alloc.is_optimal:
        print(f"Aucune décision publiée — {alloc.status.label_fr}.\n{alloc.message}", file=sys.stderr)
        for c in alloc.conflicts:
            print(f"  - {c}", file=sys.stderr)
        return EXIT_NOT_OPTIMAL
    ranking = ranking_rule(ev, params, args.ranking_variant)
    expl = explain(ev, alloc, gaps=not args.no_gaps)
    table = decision_table(ev, alloc, ranking, expl)
    manifest = build_manifest(ev, alloc, table, command="ditp-model " + " ".join(shlex.quote(a) for a in args._argv))
    files = {
        "allocation.csv": csv_bytes(table),
        "allocation.xlsx": xlsx_bytes({"decision": table, "eligibilite": ev.eligibility, "parametres": parameters_sheet(manifest)}),
        "manifest.json": manifest_bytes(manifest),
    }
    print(allocation_summary_fr(ev, alloc, ranking, expl))
    for p in write_outputs(args.out, files):
        print(f"Écrit : {p}")
    return 0


def cmd_pabulib(args) -> int:
    import json

    from .pabulib import allocate_pabulib, read_pabulib

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


def build_parser() -> argparse.ArgumentParser:
    parser = FrenchArgumentParser(prog="ditp-model", description="Aide à la décision du comité de sélection (appel DITP).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("score", help="éligibilité et classement des candidatures")
    _common(p)
    p.set_defaults(func=cmd_score)
    a = sub.add_parser("allocate", help="décision de financement optimale, règle du classement et explications")
    _common(a)
    a.add_argument("--lock-in", nargs="+", action="extend", default=[], metavar="ID", help="dossiers imposés par le comité")
    a.add_argument("--lock-out", nargs="+", action="extend", default=[], metavar="ID", help="dossiers exclus par le comité")
    a.add_argument("--envelope", type=_euros, default=None, help="enveloppe en euros entiers (défaut : celle de l'appel)")
    a.add_argument("--committed", type=_euros, default=0, help="montant déjà engagé lors de vagues précédentes (euros)")
    a.add_argument("--reserve", type=_euros, default=0, help="réserve gardée pour des vagues suivantes (euros)")
    a.add_argument("--min-share", type=float, default=None, help="part minimale de la demande attribuée (1 = pas de réduction)")
    a.add_argument("--min-count", type=lambda s: _group_rule(s, "min"), action="append", default=[], metavar="COL=VAL:N",
                   help="au moins N lauréats dans un groupe, par ex. region=Bretagne:1")
    a.add_argument("--max-share", type=lambda s: _group_rule(s, "max"), action="append", default=[], metavar="COL=VAL:PART",
                   help="au plus cette part de l'enveloppe pour un groupe, par ex. region=Île-de-France:0.25")
    a.add_argument("--max-awards", type=int, default=None, help="nombre maximal de lauréats")
    a.add_argument("--objective", choices=["total_score", "score_weighted_award"], default="total_score",
                   help="valeur du portefeuille : somme des notes (défaut) ou notes pondérées par les montants")
    a.add_argument("--solver", choices=["highs", "cbc"], default="highs")
    a.add_argument("--time-limit", type=float, default=60.0, help="temps maximal par résolution (secondes)")
    a.add_argument("--ranking-variant", choices=["skip", "stop"], default="skip",
                   help="règle du classement : passer un dossier qui ne rentre pas (skip) ou s'arrêter (stop)")
    a.add_argument("--no-gaps", action="store_true", help="ne pas calculer les écarts d'entrée et marges de sortie")
    a.set_defaults(func=cmd_allocate)
    pb = sub.add_parser("pabulib", help="allocation optimale sur un fichier Pabulib (.pb) de budget participatif")
    pb.add_argument("file", help="fichier .pb")
    pb.add_argument("--json", action="store_true", help="un objet JSON : statut, projets retenus, coût, score, solveur, secondes")
    pb.add_argument("--solver", choices=["highs", "cbc"], default="highs")
    pb.add_argument("--time-limit", type=float, default=600.0)
    pb.set_defaults(func=cmd_pabulib)
    from .cli_ds import register as register_import_ds

    register_import_ds(sub)
    from .cli_report import register as register_report

    register_report(sub)
    from .cli_lottery import register as register_lottery

    register_lottery(sub)
    return parser


def _loaded(module: str, name: str):
    """``module.name`` if that module is already imported, else ``()`` (an ``except`` clause that matches nothing).

    Its exceptions cannot have been raised when the module was never imported,
    so ``main`` need not import it (and pandas, pulp...) to catch them.
    """
    mod = sys.modules.get(module)
    return getattr(mod, name) if mod is not None else ()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ditp-model``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        return args.func(args)
    except _loaded("ditp_model.schema", "InputError") as exc:
        print(f"Erreur : données d'entrée invalides.\n{exc}", file=sys.stderr)
        return EXIT_INPUT
    except ValueError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:  # output piped into `head`: not an error of ours
        sys.stderr.close()
        return 0
    except OSError as exc:
        print(f"Erreur : écriture impossible — {exc.strerror} : {exc.filename}", file=sys.stderr)
        return EXIT_INPUT
    except _loaded("ditp_model.allocation", "AllocationError") as exc:
        print(f"Erreur : résultat du solveur rejeté par la vérification exacte — {exc}", file=sys.stderr)
        return EXIT_NOT_OPTIMAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
