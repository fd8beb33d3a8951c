"""Every ``ditp-model`` command README.md shows works verbatim on the sample (trial 2, D5).

A newcomer copies the commands of README.md into a shell, in a fresh clone.  This test reads them the same
way — each line of a code block that starts with ``.venv/bin/ditp-model`` or ``ditp-model``, with its ``\\``
continuation lines, split as a POSIX shell splits it (``shlex``) — then:

* every command that is not a synopsis (a synopsis shows optional parts in ``[…]``, or placeholders such as
  ``FICHIER``) is accepted by the command's parser, as typed;
* the cheap ones (``score``, ``allocate``, ``verify`` of a folder an earlier command wrote, ``import-ds``) are run,
  in README's order, in a copy of ``data/``, and must exit 0;
* the sample's decision is provisional (shown by running ``allocate`` without ``--provisoire``: exit 6), so every
  command on the sample that publishes a decision, a report, letters or a draw carries ``--provisoire``;
* every application a README example locks in (``--lock-in P…``) can be funded and is not, in the sample's
  decision, and every one it locks out is funded: a lock that fails or changes nothing would be a bad example.

``report``, ``lottery``, ``lettres``, ``desistement``, ``reduction``, ``pabulib``, ``comite`` and ``lab`` are only
parsed here (they take from 20 s to minutes, or start a server); their own tests run them.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from ditp_model.cli import build_parser, main
from ditp_model.inputs.tables import read_output_csv

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Sub-commands cheap enough to run here (seconds each).
CHEAP = {"score", "allocate", "verify", "import-ds"}
#: Sub-commands that publish a decision or what depends on it: refused (exit 6) on a provisional decision.
NEEDS_PROVISOIRE = {"allocate", "report", "lottery", "lettres"}
#: Placeholders a synopsis uses for what the reader fills in.
PLACEHOLDERS = re.compile(r"\b(FICHIER|DOSSIER|MANIFESTE|CRITÈRE|EUROS)\b|\[|…")
SAMPLE = "data/candidatures_exemple.csv"


def readme_commands(text: str) -> list[str]:
    """The ``ditp-model`` command lines of README's code blocks (fenced or indented), continuations joined.

    Lines inside a fenced ``text`` block are a synopsis by declaration and left out; inline code (between
    backquotes in a sentence) is not a command to copy.
    """
    commands, fence, pending = [], None, None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip() or "sh")
            continue
        if fence == "text":
            continue
        if pending is not None:
            pending += " " + stripped.rstrip("\\").strip()
            if not stripped.endswith("\\"):
                commands.append(pending)
                pending = None
            continue
        if stripped.startswith((".venv/bin/ditp-model ", "ditp-model ")):
            if stripped.endswith("\\"):
                pending = stripped.rstrip("\\").strip()
            else:
                commands.append(stripped)
    assert pending is None, f"commande coupée en fin de README : {pending}"
    return commands


def argv_of(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[0] in (".venv/bin/ditp-model", "ditp-model"), command
    return words[1:]


def is_synopsis(command: str) -> bool:
    return bool(PLACEHOLDERS.search(command))


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))
RUNNABLE = [c for c in COMMANDS if not is_synopsis(c)]


def test_the_extraction_finds_the_commands_a_reader_sees():
    """Guard against a test that checks nothing: README's main commands are found, with their continuations."""
    subs = [argv_of(c)[0] for c in RUNNABLE]
    for sub in ("score", "allocate", "verify", "report", "lottery", "desistement", "reduction", "import-ds",
                "lettres", "comite", "lab", "pabulib"):
        assert sub in subs, f"aucune commande « {sub} » exécutable trouvée dans README.md"
    first = next(c for c in RUNNABLE if argv_of(c)[0] == "allocate")
    assert "--reviews data/evaluations_exemple.csv" in first and first.endswith("--out resultats")
    assert len(COMMANDS) > len(RUNNABLE)  # the synopses are recognised as such


@pytest.mark.parametrize("command", RUNNABLE)
def test_every_readme_command_is_accepted_as_typed(command):
    try:
        build_parser().parse_args(argv_of(command))
    except SystemExit as exc:  # argparse: unknown option, bad value…
        pytest.fail(f"README.md : commande refusée (code {exc.code}) : {command}")


@pytest.fixture(scope="module")
def sample_folder(tmp_path_factory):
    """A fresh clone's working folder, for what the commands read (``data/``) and write."""
    root = tmp_path_factory.mktemp("clone")
    shutil.copytree(ROOT / "data", root / "data")
    return root


@pytest.fixture(scope="module")
def ran(sample_folder):
    """Run README's cheap commands in its order; returns [(command, exit code, decision table or None)]."""
    import os

    here = Path.cwd()
    os.chdir(sample_folder)
    results = []
    try:
        written: set[str] = set()
        for command in RUNNABLE:
            argv = argv_of(command)
            sub = argv[0]
            if sub not in CHEAP:
                continue
            if sub == "verify" and Path(argv[1]).parent.as_posix() not in written:
                continue  # the manifest of a command not run here (report)
            code = main(argv)
            table = None
            if "--out" in argv:
                out = argv[argv.index("--out") + 1].rstrip("/")
                written.add(out)
                if sub == "allocate" and code == 0 and SAMPLE in argv:
                    table = read_output_csv(Path(out) / "allocation.csv")
            results.append((command, code, table))
    finally:
        os.chdir(here)
    return results


def test_the_cheap_commands_work_verbatim(ran, capsys):
    assert ran, "aucune commande exécutée"
    failed = [(c, code) for c, code, _t in ran if code != 0]
    assert not failed, "\n".join(f"code {code} : {c}" for c, code in failed)
    subs = [argv_of(c)[0] for c, _code, _t in ran]
    # score, allocate and verify of the sample, the import walkthrough (import-ds, then allocate on the import)
    assert {"score", "allocate", "verify", "import-ds"} <= set(subs) and subs.count("allocate") >= 2


def test_the_sample_decision_is_provisional_so_its_commands_say_provisoire(sample_folder, capsys, monkeypatch):
    monkeypatch.chdir(sample_folder)
    first = next(c for c in RUNNABLE if argv_of(c)[0] == "allocate" and SAMPLE in c)
    argv = [a for a in argv_of(first) if a != "--provisoire"]
    argv[argv.index("--out") + 1] = "sans_provisoire"
    assert main(argv + ["--no-gaps"]) == 6  # refused: the sample's decision is provisional
    assert not (sample_folder / "sans_provisoire" / "manifest.json").exists()
    capsys.readouterr()
    on_sample = []
    for c in RUNNABLE:
        argv = argv_of(c)
        decided_on_sample = SAMPLE in argv or (argv[0] == "lettres" and any(
            m in argv for m in ("resultats/manifest.json", "rapport/manifest.json")))
        if argv[0] in NEEDS_PROVISOIRE and decided_on_sample:
            on_sample.append(c)
            assert "--provisoire" in argv, f"README.md : sans --provisoire, refusé (code 6) sur l'échantillon : {c}"
    assert {argv_of(c)[0] for c in on_sample} == NEEDS_PROVISOIRE


def test_lock_examples_name_applications_a_lock_changes(ran):
    """« --lock-in P012 » failed (P012 is below the quality threshold): every lock shown must be a real choice."""
    table = next(t for _c, _code, t in ran if t is not None).set_index("application_id")
    text = README.read_text(encoding="utf-8")
    locked_in = set(re.findall(r"--lock-in (P\d{3})", text))
    locked_out = set(re.findall(r"--lock-out (P\d{3})", text))
    assert locked_in and locked_out
    for a in locked_in:
        row = table.loc[a]
        fundable = bool(row["eligible"]) and not str(row["not_fundable"] or "").strip() and not str(row["review_status"] or "").strip()
        assert fundable and not bool(row["funded"]), f"--lock-in {a} : dossier non finançable ou déjà financé"
    for a in locked_out:
        assert bool(table.at[a, "funded"]), f"--lock-out {a} : dossier qui n'est pas financé (le verrou ne changerait rien)"


def test_outside_an_activated_environment_the_commands_name_the_venv():
    """In a fresh clone, a shell knows ``.venv/bin/ditp-model`` (after ``make``), not ``ditp-model``: a bare
    ``ditp-model`` is for the sections where an environment is activated first (Windows, conda)."""
    section, fence, bare = "", None, []
    for line in README.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if line.startswith("## "):
            section = line
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip() or "sh")
            continue
        if fence != "text" and stripped.startswith("ditp-model ") and not section.startswith(("## Sous Windows", "## Route conda")):
            bare.append(f"{section} : {stripped}")
    assert not bare, "\n".join(bare)
