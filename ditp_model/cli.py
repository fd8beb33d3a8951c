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

from ditp_model.cli_args import FrenchArgumentParser, check_inputs_not_outputs, count, out_dir, seconds
from ditp_model.cli_args import euros as _euros

# Start-up (issue 18): `ditp-model --help` and `ditp-model pabulib` import only
# what they use; pandas, pulp, babel, pydantic... are imported inside the
# sub-command functions that need them.
if TYPE_CHECKING:
    from ditp_model.scoring.pipeline import Evaluation

__all__ = ["main"]

EXIT_INPUT = 2
EXIT_NOT_OPTIMAL = 3

#: Help of every ``--solver`` option.
SOLVER_HELP = ("solveur du programme linéaire en nombres entiers : highs (défaut, intégré) ou cbc (livré avec PuLP, "
               "pour recouper un résultat)")


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
    from ditp_model.french import format_eur, format_points

    t = ev.table
    r = t[t["rank"].notna()].sort_values("rank")
    lines = [f"Classement ({ev.weights.describe_fr(ev.rules)}) :", f"{'rang':>4}  {'dossier':<8} {'note':>7}  {'demandé':>11}  intitulé"]
    for row in r.itertuples():
        lines.append(f"{int(row.rank):>4}  {row.application_id:<8} {format_points(row.score):>7}  "
                     f"{format_eur(row.requested_eur):>11}  {_short(row.title)}")
    return "\n".join(lines)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--call", required=True, metavar="FICHIER.toml", help="règles de l'appel (TOML), par ex. data/appel_2021.toml")
    p.add_argument("--applications", required=True, metavar="FICHIER", help="candidatures (CSV ou XLSX)")
    p.add_argument("--reviews", required=True, metavar="FICHIER", help="évaluations (CSV ou XLSX)")
    p.add_argument("--weights", default=None, metavar="CRITÈRE=POIDS,…",
                   help="pondérations, par ex. impact=0.5,openness=0.3,collective=0.2 ou impact=50,ouverture=30,"
                        "\"candidature collective\"=20 (noms ou libellés des critères ; défaut : celles de l'appel)")
    p.add_argument("--normalisation", choices=["raw_mean", "reviewer_zscore"], default=None,
                   help="agrégation des notes (défaut : celle de l'appel)")
    p.add_argument("--out", required=True, type=out_dir, metavar="DOSSIER", help="dossier des résultats (créé si besoin)")


#: Files each sub-command writes into ``--out`` (an input there with one of these names is refused).
OUTPUTS = {"score": ("scores.csv",), "allocate": ("allocation.csv", "allocation.xlsx", "manifest.json"),
           "lottery": ("probabilites_financement.csv", "tirage_au_sort.json", "decisions.jsonl")}


def check_out_dir(path, inputs: dict | None = None, outputs=()) -> Path:
    """Refuse, before any computation, a blank output folder, one that is an existing file, or one
    where an input file would be overwritten by an output (French messages)."""
    if not str(path).strip():
        raise ValueError("--out : dossier des résultats vide ; indiquer un dossier (« . » pour le dossier courant)")
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out « {out} » est un fichier existant : indiquer un dossier")
    check_inputs_not_outputs(out, inputs or {}, outputs)
    return out


def _evaluate(args) -> Evaluation:
    from ditp_model.inputs.io import load_inputs
    from ditp_model.scoring.pipeline import evaluate
    from ditp_model.scoring.aggregate import parse_weights

    check_out_dir(args.out, {"--call": args.call, "--applications": args.applications, "--reviews": args.reviews},
                  OUTPUTS.get(getattr(args, "command", None), ()))
    inputs = load_inputs(args.call, args.applications, args.reviews)
    weights = parse_weights(args.weights, inputs.rules) if args.weights else None
    return evaluate(inputs, weights, args.normalisation)


def cmd_score(args) -> int:
    from ditp_model.inputs.io import write_csv_atomic

    ev = _evaluate(args)
    print(eligibility_summary_fr(ev))
    print()
    print(ranked_list_fr(ev))
    out = Path(args.out)
    write_csv_atomic(ev.table, out / "scores.csv")
    print(f"\nÉcrit : {out / 'scores.csv'}")
    return 0


def _group_rule(text: str, kind: str):
    from ditp_model.rules.allocation import GroupRule

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
    from ditp_model.rules.allocation import AllocationParams

    return AllocationParams(
        envelope_eur=args.envelope, committed_eur=args.committed, reserve_eur=args.reserve, min_share=args.min_share,
        lock_in=frozenset(args.lock_in), lock_out=frozenset(args.lock_out),
        group_rules=tuple(args.min_count) + tuple(args.max_share), max_awards=args.max_awards,
        rule=args.rule, ranking_variant=args.ranking_variant, tie_band_points=args.tie_band,
        min_score=args.min_score, solver=args.solver, time_limit_s=args.time_limit)


def _tie_band(text: str):
    """``--tie-band``: a number of score points (``0,5`` or ``0.5``) or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"« {text} » : un nombre de points (par ex. 0,5) ou « auto » est attendu") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"« {text} » : la bande d'ex aequo est entre 0 et 100 points")
    return value


def add_rule_options(p: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """The decision-rule options shared by ``allocate``, ``report`` and ``lottery``."""
    from ditp_model.inputs.rule_names import RULE_NAMES

    p.add_argument("--rule", choices=list(RULE_NAMES), default=None,
                   help="règle de décision (défaut : celle de l'appel, ordre de mérite) : merit_order (classement au-dessus "
                        "des seuils, coupure à la ligne budgétaire), ranking (règle du classement), max_total_score ou "
                        "max_score_weighted_award (optimisations, pour comparaison)")
    p.add_argument("--tie-band", type=_tie_band, default=None, metavar="POINTS|auto",
                   help="bande d'ex aequo δ en points de note (défaut : celle de l'appel ; auto : calculée à partir des évaluations)")
    p.add_argument("--min-score", type=float, default=None,
                   help="seuil de qualité : note composite minimale sur 100 (défaut : celui de l'appel)")


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
    from ditp_model.french import format_number

    overall, per = quality_thresholds(ev, params)
    parts = []
    if overall > 0:
        parts.append(f"note ≥ {format_number(overall, 2)}/100")
    hi = ev.rules.scoring.scale_max
    for name, v in per.items():
        parts.append(f"{ev.rules.criterion(name).label.lower()} ≥ {format_number(v, 2)}/{format_number(hi, 0)}")
    if not parts:
        return "Seuils de qualité : aucun"
    return f"Seuils de qualité : {' ; '.join(parts)} — {len(cands.not_fundable)} dossier(s) non finançable(s)"


def allocation_summary_fr(ev: Evaluation, alloc, ranking, expl, comparison=None) -> str:
    """The French summary printed by ``ditp-model allocate``."""
    from ditp_model.french import format_eur, format_number, format_points
    from ditp_model.scoring.aggregate import tie_band_from_reviews

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
        f"Pondérations : {ev.weights.describe_fr(ev.rules)}",
        f"Enveloppe : {format_eur(c.envelope_eur)} ; engagé : {format_eur(c.committed_eur)} ; réserve : {format_eur(c.reserve_eur)} ; "
        f"disponible : {format_eur(c.available_eur)}",
        f"Lauréats : {len(funded)} ; attribué : {format_eur(spent)} ; non attribué : {format_eur(c.available_eur - spent)}",
    ]
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
                     f"{_short(t.at[aid, 'title'])}")
    lines.append("")
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


def record_encodings(manifest: dict, ev: Evaluation) -> dict:
    """Add to each of the manifest's ``input_files`` the encoding it was read with (``utf-8``, ``cp1252``, ``xlsx``…)."""
    roles = manifest.get("input_files") or {}
    for role, encoding in (("call", "utf-8"), ("applications", ev.applications.attrs.get("encoding")),
                           ("reviews", ev.reviews.attrs.get("encoding"))):
        if role in roles and encoding:
            roles[role]["encoding"] = encoding
    return manifest


def cmd_allocate(args) -> int:
    import shlex

    from ditp_model.rules.allocation import allocate, ranking_rule
    from ditp_model.rules.explain import explain, optimum_comparison
    from ditp_model.rules.manifest import build_manifest, csv_bytes, decision_table, manifest_bytes, parameters_sheet, write_outputs, xlsx_bytes

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
    comparison = optimum_comparison(ev, alloc) if alloc.rule in ("merit_order", "ranking") else None
    table = decision_table(ev, alloc, ranking, expl)
    manifest = build_manifest(ev, alloc, table, command="ditp-model " + " ".join(shlex.quote(a) for a in args._argv))
    record_encodings(manifest, ev)
    files = {
        "allocation.csv": csv_bytes(table),
        "allocation.xlsx": xlsx_bytes({"decision": table, "eligibilite": ev.eligibility, "parametres": parameters_sheet(manifest)}),
        "manifest.json": manifest_bytes(manifest),
    }
    print(allocation_summary_fr(ev, alloc, ranking, expl, comparison))
    for p in write_outputs(args.out, files):
        print(f"Écrit : {p}")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = FrenchArgumentParser(prog="ditp-model", description="Aide à la décision du comité de sélection (appel DITP).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("score", help="éligibilité et classement des candidatures")
    _common(p)
    p.set_defaults(func=cmd_score)
    a = sub.add_parser("allocate", help="décision de financement (ordre de mérite par défaut), comparaisons et explications")
    _common(a)
    a.add_argument("--lock-in", nargs="+", action="extend", default=[], metavar="ID", help="dossiers imposés par le comité")
    a.add_argument("--lock-out", nargs="+", action="extend", default=[], metavar="ID", help="dossiers exclus par le comité")
    a.add_argument("--envelope", type=_euros, default=None, metavar="EUROS", help="enveloppe en euros entiers (défaut : celle de l'appel)")
    a.add_argument("--committed", type=_euros, default=0, metavar="EUROS", help="montant déjà engagé lors de vagues précédentes (euros)")
    a.add_argument("--reserve", type=_euros, default=0, metavar="EUROS", help="réserve gardée pour des vagues suivantes (euros)")
    a.add_argument("--min-share", type=float, default=None, metavar="PART", help="part minimale de la demande attribuée (1 = pas de réduction)")
    a.add_argument("--min-count", type=lambda s: _group_rule(s, "min"), action="append", default=[], metavar="COL=VAL:N",
                   help="au moins N lauréats dans un groupe, par ex. region=Bretagne:1")
    a.add_argument("--max-share", type=lambda s: _group_rule(s, "max"), action="append", default=[], metavar="COL=VAL:PART",
                   help="au plus cette part de l'enveloppe pour un groupe, par ex. region=Île-de-France:0.25")
    a.add_argument("--max-awards", type=count, default=None, metavar="N", help="nombre maximal de lauréats (entier ≥ 0)")
    add_rule_options(a)
    a.add_argument("--solver", choices=["highs", "cbc"], default="highs", help=SOLVER_HELP)
    a.add_argument("--time-limit", type=seconds, default=60.0, metavar="SECONDES", help="temps maximal par résolution (secondes, > 0)")
    a.add_argument("--ranking-variant", choices=["skip", "stop"], default="skip",
                   help="règle du classement : passer un dossier qui ne rentre pas (skip) ou s'arrêter (stop)")
    a.add_argument("--no-gaps", action="store_true", help="ne pas calculer les écarts d'entrée et marges de sortie")
    a.set_defaults(func=cmd_allocate)
    pb = sub.add_parser("pabulib", help="allocation optimale sur un fichier Pabulib (.pb) de budget participatif")
    pb.add_argument("file", metavar="FICHIER.pb", help="fichier .pb")
    pb.add_argument("--json", action="store_true", help="un objet JSON : statut, projets retenus, coût, score, solveur, secondes")
    pb.add_argument("--solver", choices=["highs", "cbc"], default="highs", help=SOLVER_HELP)
    pb.add_argument("--time-limit", type=seconds, default=600.0, metavar="SECONDES", help="temps maximal de résolution (secondes, > 0 ; défaut 600)")
    pb.set_defaults(func=cmd_pabulib)
    from ditp_model.cli_ds import register as register_import_ds

    register_import_ds(sub)
    from ditp_model.cli_report import register as register_report

    register_report(sub)
    from ditp_model.cli_lottery import register as register_lottery

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
    except _loaded("ditp_model.inputs.schema", "InputError") as exc:
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
    except _loaded("ditp_model.rules.allocation", "AllocationError") as exc:
        print(f"Erreur : résultat du solveur rejeté par la vérification exacte — {exc}", file=sys.stderr)
        return EXIT_NOT_OPTIMAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
