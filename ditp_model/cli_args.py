"""The command line's French: an argparse parser in French and the option types shared by every sub-command.

argparse writes English (``usage:``, ``show this help message and exit``,
``the following arguments are required``); :class:`FrenchArgumentParser`
writes French everywhere a committee member reads: the help (``utilisation :``,
``afficher cette aide et quitter``) and the errors (``Erreur : …``, exit 2).

Option types (each raises :class:`argparse.ArgumentTypeError` with a French
message naming the value and the rule, so that argparse exits with code 2
before anything is read or written):

* :func:`euros`: an amount written like in the spreadsheets (``2 500 000``,
  ``2500000 €``), through :func:`ditp_model.inputs.io.parse_amount`, the one parser
  of amounts (``allocate``, ``report`` and ``lottery`` alike);
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

__all__ = ["FrenchArgumentParser", "FrenchHelpFormatter", "euros", "count", "seconds", "out_dir",
           "check_inputs_not_outputs", "translate_error"]

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


class FrenchHelpFormatter(argparse.HelpFormatter):
    """argparse's help layout in French: ``utilisation : …``, section titles followed by `` :``."""

    def add_usage(self, usage, actions, groups, prefix=None):
        return super().add_usage(usage, actions, groups, "utilisation : " if prefix is None else prefix)

    def start_section(self, heading):
        # French typography: « options : », not « options: ».
        return super().start_section(None if heading is None else f"{heading} ")


class FrenchArgumentParser(argparse.ArgumentParser):
    """argparse in French: help (``utilisation :``, ``options``, ``-h, --help``) and errors (``Erreur : …``, exit 2).

    Sub-parsers made with :meth:`add_subparsers` are French too.
    """

    def __init__(self, *args, **kwargs):
        add_help = kwargs.pop("add_help", True)
        kwargs.setdefault("formatter_class", FrenchHelpFormatter)
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
    """A command-line amount in whole euros, written like in the spreadsheets (``2 500 000``, ``2500000 €``)."""
    from ditp_model.inputs.io import parse_amount

    try:
        return parse_amount(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"« {text} » : {exc}") from None


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
