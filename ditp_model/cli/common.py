"""What every ``ditp-model`` sub-command shares: the French argparse parser, the option types, the input
options and their evaluation, the decision-rule options, the output-folder checks and the exit codes.

The command line's French:

argparse writes English (``usage:``, ``show this help message and exit``,
``the following arguments are required``); :class:`FrenchArgumentParser`
writes French everywhere a committee member reads: the help (``utilisation :``,
``afficher cette aide et quitter``) and the errors (``Erreur : …``, exit 2).

Option types (each raises :class:`argparse.ArgumentTypeError` with a French
message naming the value and the rule, so that argparse exits with code 2
before anything is read or written):

* :func:`euros`: an amount written like in the spreadsheets (``2 500 000``,
  ``2500000 €``) or with a multiplier (``2,5 M€``, ``300 k€``), through
  :func:`ditp_model.inputs.io.parse_typed_amount`, the parser of the panel's envelope field
  (``allocate``, ``report`` and ``lottery`` alike);
* :func:`count`: a whole number ≥ 0 (``--max-awards``);
* :func:`seconds`: a time limit > 0 (``--time-limit``);
* :func:`out_dir`: an output folder, never ``""`` (which would be the
  current folder).

:func:`check_inputs_not_outputs` refuses an input file that a run would
overwrite (an input inside ``--out`` with an output's name).
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ditp_model.scoring.pipeline import Evaluation

__all__ = ["EXIT_INPUT", "EXIT_NOT_OPTIMAL", "EXIT_PROVISIONAL", "EXIT_PUBLICATION", "EXIT_CODES_FR", "command_line", "output_lock", "lock_item",
           "add_due_process_options", "committee_locks", "SOLVER_HELP", "OUTPUTS", "short", "add_input_options", "add_reviewer_ids_option", "check_out_dir",
           "evaluate_inputs", "group_rule", "tie_band", "add_rule_options", "FrenchArgumentParser", "FrenchHelpFormatter", "euros", "count", "seconds", "out_dir",
           "check_inputs_not_outputs", "translate_error", "envelope_option_problem", "located_lock_error"]

#: argparse's English error fragments -> French (French typography: a space before « : »).
_ERRORS_FR = (
    ("the following arguments are required: ", "arguments obligatoires manquants : "),
    ("one of the arguments ", "une de ces options est obligatoire : "),
    (" is required", ""),
    ("invalid choice: ", "choix invalide : "),
    ("choose from ", "choisir parmi "),
    ("unrecognized arguments: ", "arguments non reconnus : "),
    ("expected one argument", "une valeur attendue"),
    ("expected at most one argument", "au plus une valeur attendue"),
    ("expected at least one argument", "au moins une valeur attendue"),
    ("ambiguous option: ", "option ambiguë : "),
    (" could match ", " peut désigner "),
    ("not allowed with argument ", "incompatible avec l'option "),
    ("ignored explicit argument ", "valeur ignorée "),
    ("invalid int value: ", "nombre entier attendu : "),
    ("invalid float value: ", "nombre attendu : "),
)
_ARGUMENT_RE = re.compile(r"^argument (\S+?): ")


def translate_error(message: str) -> str:
    """An argparse error message in French (``argument --x: invalid choice: …`` -> ``option --x : choix invalide : …``)."""
    message = _ARGUMENT_RE.sub(r"option \1 : ", message)
    for en, fr in _ERRORS_FR:
        message = message.replace(en, fr)
    return message


#: The exit codes of every command, at the foot of each ``--help`` (one text for all: :class:`FrenchArgumentParser`).
EXIT_CODES_FR = """codes de sortie :
  0  succès (verify : « identique »)
  1  verify : différences trouvées ; desistement, reduction : la décision en vigueur ne se vérifie pas
  2  données, paramètres ou options invalides (le message nomme le fichier, la ligne, la colonne, la valeur et la règle) ; lettres : aussi une conversion en PDF en échec
  3  pas d'optimum prouvé ou règles incompatibles (le message nomme les règles en conflit) : aucune décision publiée
  4  journal des décisions altéré (report, lottery, desistement, reduction) : rien n'est publié
  5  échec du notebook du rapport ou de sa mise en page (report) : aucun rapport publié
  6  décision provisoire refusée faute de --provisoire (allocate, report, lottery, lettres) : rien n'est publié
  7  dossier des résultats verrouillé par une autre commande, ou nouvel ensemble impossible à mettre en place (fichier ouvert dans un tableur…) : l'ancien ensemble est remis en place"""


class FrenchHelpFormatter(argparse.HelpFormatter):
    """argparse's help layout in French: ``utilisation : …``, section titles followed by `` :``.

    A description or epilogue written on several lines (:data:`EXIT_CODES_FR`) keeps its lines, each wrapped
    to the terminal's width under its own indentation; a one-line text is filled as argparse does.
    """

    def add_usage(self, usage, actions, groups, prefix=None):
        return super().add_usage(usage, actions, groups, "utilisation : " if prefix is None else prefix)

    def start_section(self, heading):
        # French typography: « options : », not « options: ».
        return super().start_section(None if heading is None else f"{heading} ")

    def _fill_text(self, text, width, indent):
        import textwrap

        if "\n" not in text:
            return super()._fill_text(text, width, indent)
        lines = []
        for line in text.splitlines():
            body = line.lstrip()
            lead = indent + " " * (len(line) - len(body))
            hang = lead + "   " if re.match(r"\d\s", body) else lead  # a code's text wraps under its text
            lines.append(textwrap.fill(body, width, initial_indent=lead, subsequent_indent=hang) if body else "")
        return "\n".join(lines)


class FrenchArgumentParser(argparse.ArgumentParser):
    """argparse in French: help (``utilisation :``, ``options``, ``-h, --help``, the exit codes
    :data:`EXIT_CODES_FR` as epilogue) and errors (``Erreur : …``, exit 2).

    Sub-parsers made with :meth:`add_subparsers` are French too.
    """

    def __init__(self, *args, **kwargs):
        add_help = kwargs.pop("add_help", True)
        kwargs.setdefault("formatter_class", FrenchHelpFormatter)
        kwargs.setdefault("epilog", EXIT_CODES_FR)  # every command and sub-command: the exit codes at the foot of --help
        super().__init__(*args, add_help=False, **kwargs)
        self._optionals.title = "options"
        self._positionals.title = "arguments"
        if add_help:
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help="afficher cette aide et quitter")

    def add_subparsers(self, **kwargs):
        kwargs.setdefault("parser_class", FrenchArgumentParser)
        kwargs.setdefault("title", "commandes")
        return super().add_subparsers(**kwargs)

    def _subcommands(self) -> list[str]:
        return [name for a in self._actions if isinstance(a, argparse._SubParsersAction) for name in a.choices]

    def error(self, message: str):
        required = "the following arguments are required: "
        subs = self._subcommands()
        if message.startswith(required) and subs:
            names = [n.strip() for n in message[len(required):].split(",")]
            sub_dest = next((a.dest for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)
            if sub_dest in names:
                names = [n for n in names if n != sub_dest]
                message = f"commande manquante : choisir parmi {', '.join(subs)}"
                if names:
                    message += f" ; arguments obligatoires manquants : {', '.join(names)}"
                self.exit(2, f"Erreur : {message}\n(aide : {self.prog} --help)\n")
        self.exit(2, f"Erreur : {translate_error(message)}\n(aide : {self.prog} --help)\n")


def euros(text: str) -> int:
    """A command-line amount in whole euros, written as the panel's envelope field accepts it: like in the
    spreadsheets (``2 500 000``, ``2500000 €``) or with a multiplier (``2,5 M€``, ``300 k€``), through
    :func:`ditp_model.inputs.io.parse_typed_amount`, the panel's parser too."""
    from ditp_model.inputs.io import parse_typed_amount

    try:
        return parse_typed_amount(text)
    except ValueError as exc:
        why = str(exc)
        if why.startswith("montant en notation scientifique"):  # the spreadsheet advice makes no sense on a command line
            why = "montant en notation scientifique : écrire le montant en chiffres, par ex. 123 456 ou \"123 456 €\""
        raise argparse.ArgumentTypeError(f"« {text} » : {why}") from None


def envelope_option_problem(args) -> str | None:
    """The command line's ``--envelope``, checked after parsing by the call file's own rule
    (:func:`ditp_model.inputs.call.envelope_problem`: an envelope of 0 € is refused alike in both); French, or None."""
    value = getattr(args, "envelope", None)
    if value is None:
        return None
    from ditp_model.inputs.call import envelope_problem

    why = envelope_problem(value)
    return f"option --envelope : « {value} » : {why}" if why else None


def count(text: str) -> int:
    """A whole number ≥ 0 (``--max-awards``); the message shows the value given."""
    try:
        n = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"« {text} » : un nombre entier positif ou nul est attendu") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"« {text} » : nombre négatif ; un nombre entier positif ou nul est attendu")
    return n


def seconds(text: str) -> float:
    """A time limit in seconds, strictly positive and finite (``60``, ``2,5``)."""
    try:
        s = float(text.strip().replace(",", "."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"« {text} » : un nombre de secondes est attendu, par ex. 60") from None
    if not math.isfinite(s) or s <= 0:
        raise argparse.ArgumentTypeError(f"« {text} » : la limite de temps doit être un nombre de secondes strictement "
                                         "positif, par ex. 60")
    return s


def out_dir(text: str) -> str:
    """An output folder: not blank (``--out ""`` would write into the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("« » : dossier des résultats vide ; indiquer un dossier, par ex. --out resultats "
                                         "(« . » pour le dossier courant)")
    return text


def check_inputs_not_outputs(out: str | Path, inputs: dict[str, object], outputs) -> None:
    """Refuse, before anything is read or written, an input file that an output would overwrite.

    Parameters
    ----------
    out : path
        The output folder (``--out``).
    inputs : dict
        Option -> path given (``{"--applications": "r/allocation.csv"}``); ``None`` values are skipped.
    outputs : iterable of str
        Names written inside `out` (``allocation.csv``, ``retours/``: a name
        ending in ``/`` is a folder whose every file is an output).

    Raises
    ------
    ValueError
        French message naming the option, the file and the output it would be.
    """
    base = Path(out).resolve()
    for flag, path in inputs.items():
        if path is None or not str(path).strip():
            continue
        p = Path(path).resolve()
        for name in outputs:
            target = base / name.rstrip("/")
            if p == target or (name.endswith("/") and target in p.parents):
                raise ValueError(f"{flag} « {path} » est dans le dossier des résultats --out « {out} » et porte le nom "
                                 f"d'un fichier que la commande écrit ({name}) : il serait écrasé ; déplacer ce fichier "
                                 "ou choisir un autre dossier --out")


EXIT_INPUT = 2
EXIT_NOT_OPTIMAL = 3
#: A provisional decision (an application awaiting reviews is within reach of the funding line) refused
#: without ``--provisoire``: nothing is published (:mod:`ditp_model.rules.held`).
EXIT_PROVISIONAL = 6
#: The output folder is held by another run, or the new set could not be switched in (the old one is back).
EXIT_PUBLICATION = 7


def command_line(args) -> str:
    """The command line of this run (``ditp-model allocate --call …``), as recorded and shown to a concurrent run."""
    import shlex

    argv = getattr(args, "_argv", None)
    return "ditp-model " + " ".join(shlex.quote(a) for a in (argv if argv is not None else [args.command]))


def output_lock(args):
    """Lock ``--out`` for the whole run (:func:`ditp_model.publication.folder_lock`): a second run into the same
    folder stops at once with a French message naming the folder and this run."""
    from ditp_model.publication import folder_lock

    check_out_dir(args.out)
    return folder_lock(args.out, command=command_line(args))



#: Help of every ``--solver`` option.
SOLVER_HELP = ("solveur du programme linéaire en nombres entiers : highs (défaut, intégré) ou cbc (livré avec PuLP, "
               "pour recouper un résultat)")



def short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"



def add_reviewer_ids_option(p: argparse.ArgumentParser) -> None:
    """``--with-reviewer-ids``: reviewers' identities kept in the console and the files (default: R01, R02…,
    :func:`ditp_model.privacy.reviewer_pseudonyms`)."""
    p.add_argument("--with-reviewer-ids", action="store_true",
                   help="garder l'identité des évaluateurs à l'écran et dans les fichiers (seulement à la demande expresse "
                        "du secrétariat ; sinon R01, R02…)")


def add_input_options(p: argparse.ArgumentParser) -> None:
    """``--call``, ``--applications``, ``--reviews``, ``--weights``, ``--normalisation`` and ``--out``."""
    p.add_argument("--call", required=True, metavar="FICHIER.toml", help="règles de l'appel (TOML), par ex. data/appel_2021.toml")
    p.add_argument("--applications", required=True, metavar="FICHIER", help="candidatures (CSV ou XLSX)")
    p.add_argument("--reviews", required=True, metavar="FICHIER", help="évaluations (CSV ou XLSX)")
    p.add_argument("--weights", default=None, metavar="CRITÈRE=POIDS,…",
                   help="pondérations, par ex. impact=0.5,openness=0.3,collective=0.2 ou impact=50,ouverture=30,"
                        "\"candidature collective\"=20 (noms ou libellés des critères ; total 1 ou 100, à 0,1 %% près ; "
                        "défaut : celles de l'appel)")
    p.add_argument("--normalisation", choices=["raw_mean", "reviewer_zscore", "reviewer_effects"], default=None,
                   help="agrégation des notes : moyenne simple, z-score par évaluateur ou modèle additif de l'effet "
                        "évaluateur (défaut : celle de l'appel)")
    p.add_argument("--conflits", default=None, metavar="FICHIER",
                   help="déclarations de conflits d'intérêts (CSV ou XLSX : person_id, application_id, nature, role, "
                        "declared_on) ; un avis sous conflit déclaré est écarté (compté comme manquant)")
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



def evaluate_inputs(args) -> Evaluation:
    """Check ``--out``, read the three inputs and evaluate them (eligibility, scores) with the given weights."""
    from ditp_model.inputs.conflicts import load_inputs_with_conflicts
    from ditp_model.scoring.pipeline import evaluate
    from ditp_model.scoring.aggregate import parse_weights

    conflicts = getattr(args, "conflits", None)
    check_out_dir(args.out, {"--call": args.call, "--applications": args.applications, "--reviews": args.reviews,
                             "--conflits": conflicts, "--verrous": getattr(args, "verrous", None)},
                  OUTPUTS.get(getattr(args, "command", None), ()))
    inputs = load_inputs_with_conflicts(args.call, args.applications, args.reviews, conflicts)
    weights = parse_weights(args.weights, inputs.rules) if args.weights else None
    return evaluate(inputs, weights, args.normalisation)



def group_rule(text: str, kind: str):
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



def tie_band(text: str):
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
    p.add_argument("--tie-band", type=tie_band, default=None, metavar="POINTS|auto",
                   help="bande d'ex aequo δ en points de note (défaut : celle de l'appel ; auto : calculée à partir des évaluations)")
    p.add_argument("--min-score", type=float, default=None, metavar="POINTS",
                   help="seuil de qualité : note composite minimale sur 100 (défaut : celui de l'appel)")


def lock_item(text: str) -> tuple[str, str]:
    """``--lock-in P012`` or ``--lock-in P012="raison du comité"`` -> (id, reason or "")."""
    from ditp_model.inputs.locks import parse_lock_item

    try:
        return parse_lock_item(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_due_process_options(p: argparse.ArgumentParser) -> None:
    """``--lock-in``, ``--lock-out`` (with reasons), ``--verrous`` and ``--provisoire`` (``allocate`` and ``report``)."""
    p.add_argument("--lock-in", nargs="+", action="extend", default=[], type=lock_item, metavar="ID[=MOTIF]",
                   help="dossiers imposés par le comité, chacun avec son motif : P012=\"motif du comité\" (motif obligatoire "
                        "pour une décision définitive)")
    p.add_argument("--lock-out", nargs="+", action="extend", default=[], type=lock_item, metavar="ID[=MOTIF]",
                   help="dossiers exclus par le comité, chacun avec son motif : P007=\"motif du comité\"")
    p.add_argument("--verrous", default=None, metavar="FICHIER",
                   help="verrous du comité (CSV ou XLSX : application_id, decision in/out, motif), en plus de --lock-in/--lock-out")
    p.add_argument("--provisoire", action="store_true",
                   help="publier une décision provisoire : des dossiers en attente d'évaluation pourraient encore entrer "
                        "dans la liste des lauréats (sans cette option : aucune publication, code de sortie 6) ; le rapport porte alors "
                        "« PROVISOIRE » en tête de chaque page et en filigrane")


def located_lock_error(exc: Exception, args):
    """The refusal of imposed applications that cannot be funded (:class:`ditp_model.rules.candidates.ImpossibleLockError`,
    told by its ``reasons``) as an :class:`~ditp_model.inputs.schema.InputError` naming, for each, the locks file's row,
    column and value (``--verrous``), or the option that imposed it; None for any other error.
    """
    reasons = getattr(exc, "reasons", None)
    if not isinstance(exc, ValueError) or not isinstance(reasons, dict) or not reasons:
        return None
    from ditp_model.inputs.locks import impossible_lock_problems
    from ditp_model.inputs.schema import InputError, Problem

    in_file = impossible_lock_problems(args.verrous, reasons) if getattr(args, "verrous", None) else {}
    on_line = {a if isinstance(a, str) else a[0] for a in getattr(args, "lock_in", ())}
    problems = []
    for aid, why in reasons.items():
        if aid in in_file:
            problems.append(in_file[aid])
            continue
        source = "option --lock-in" if aid in on_line or not getattr(args, "scenario", None) else f"scénario {args.scenario}"
        problems.append(Problem(source, None, None, aid, f"dossier {aid} imposé par le comité mais impossible à financer : "
                                f"{why} ; retirer ce verrou", "impossible_lock"))
    return InputError(problems)


def committee_locks(args, application_ids=None):
    """(lock_in, lock_out, {id: reason}) from ``--lock-in``/``--lock-out`` (``ID=motif``) and ``--verrous``.

    Raises
    ------
    InputError
        A bad locks file (French, file, row, column, value).
    ValueError
        An application both imposed and excluded, or given two reasons.
    """
    from ditp_model.inputs.locks import merge_locks, read_locks

    def pairs(items):
        return [(a, "") if isinstance(a, str) else a for a in items]

    li, lo = pairs(args.lock_in), pairs(args.lock_out)
    cli = ([a for a, _ in li], [a for a, _ in lo], {a: w for a, w in li + lo if w})
    sources = [cli]
    if getattr(args, "verrous", None):
        sources.append(read_locks(args.verrous, application_ids))
    return merge_locks(*sources)
