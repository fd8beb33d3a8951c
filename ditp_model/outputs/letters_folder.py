"""The letters folder of ``ditp-model lettres``: where it may be, how it is replaced, what it announces.

Cut from :mod:`ditp_model.outputs.letters` (which keeps the letters' content and their rendering):

* :func:`replace_folder` — the new folder swapped in by renames, never a mix of old and new letters;
  letters of another decision (perhaps signed and sent) are moved to ``archives/…`` instead of deleted
  (:func:`_archive_for`, trial 1, item 3);
* :func:`_check_out_dir` — a folder that holds something else than letters is refused, and so is a
  folder inside a published decision's folder other than its own ``lettres`` (``verify`` would find
  files no publication lists: trial 1, item 13);
* :func:`letters_decision` — the decision the letters announce (``decision_sha256`` of ``lettres.json``),
  which ``verify`` compares with the decision in force (:mod:`ditp_model.outputs.letters_check`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["MARKER", "replace_folder", "letters_decision"]

#: The index of a letters folder (template, route, decision, SHA-256 of each file).
MARKER = "lettres.json"


def replace_folder(staging: Path, target: Path, keep_old_as: Path | None = None) -> None:
    """Put the complete folder `staging` in place of `target` (renames only: never a mix of old and new files).

    The old folder is renamed aside, the new one renamed in, then the old one deleted — or, with
    `keep_old_as`, kept there (letters of another decision, perhaps signed and sent, are archived, never
    deleted); if the second rename fails the old folder is put back.  Works on Windows (no rename over a folder).
    """
    target = Path(target)
    old = None
    if target.exists() and keep_old_as is not None:
        keep_old_as.parent.mkdir(parents=True, exist_ok=True)
        os.replace(target, keep_old_as)
        try:
            os.replace(staging, target)
        except BaseException:
            os.replace(keep_old_as, target)
            raise
        return
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.ancien-", dir=target.parent))
        old.rmdir()
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _relative(path: Path, start: Path) -> str:
    """`path` relative to `start` with ``/`` (the absolute path when they are on two Windows drives)."""
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:
        return str(path)


def letters_decision(folder: str | Path) -> str | None:
    """The ``decision_sha256`` a letters folder's index records (None: no readable index)."""
    try:
        index = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = index.get("decision_sha256") if isinstance(index, dict) else None
    return value if isinstance(value, str) else None


def _archive_for(out: Path, manifest_path: Path, decision_sha256: str) -> Path | None:
    """Where the letters in `out` go instead of being deleted when new letters replace them (None: simply replaced).

    Letters are archived when they announce another decision than `decision_sha256`, or when they are
    final letters (not drafts of a provisional decision): they may have been signed or sent, and a signed
    letter is never deleted silently.  Drafts of the same decision are simply replaced.  The archive is
    ``archives/AAAA-MM-JJ_HHMMSS/lettres`` in the decision's folder for its own ``lettres``, else beside
    `out` (:func:`ditp_model.publication.archive_folder_name`); ``verify`` leaves the archives aside.
    """
    from ditp_model.publication import archive_folder_name

    if not (out / MARKER).is_file():
        return None
    try:
        draft = bool(json.loads((out / MARKER).read_text(encoding="utf-8")).get("provisional"))
    except (OSError, ValueError, AttributeError):
        draft = False
    if draft and letters_decision(out) == decision_sha256:
        return None
    home = manifest_path.resolve().parent if out.resolve() == manifest_path.resolve().parent / "lettres" else out.parent
    return home / archive_folder_name(folder=home) / out.name


def _check_out_dir(out: Path, manifest_path: Path) -> None:
    """Refuse an output folder that holds something else than letters (it is replaced as a whole), or one inside a
    published decision's folder other than its own ``lettres`` (``verify`` would find files no publication
    lists: trial 1, item 13)."""
    out_r, man_dir = out.resolve(), manifest_path.resolve().parent
    if out_r == man_dir or out_r in man_dir.parents:
        raise ValueError(f"--out {out} : ce dossier contient la décision publiée ({manifest_path.name}) ; il serait remplacé "
                         "en entier — choisir un sous-dossier, par ex. lettres")
    for folder in out_r.parents:
        if (folder / "manifest.json").is_file() and out_r != man_dir / "lettres":
            mine = folder == man_dir
            raise ValueError(
                f"--out {out} : ce dossier est à l'intérieur du dossier d'une décision publiée ({folder}) ; verify y "
                "trouverait des fichiers qu'aucune publication ne liste, et desistement ou reduction refuseraient ensuite "
                "de mettre la décision à jour. "
                + (f"Sans --out, les lettres vont dans {man_dir / 'lettres'}, leur place vérifiée" if mine else
                   f"Les lettres d'une décision vont dans le dossier lettres à côté de son manifeste ({man_dir / 'lettres'})")
                + ", ou choisir un dossier hors de ce dossier publié.")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise ValueError(f"--out {out} : ce dossier existe et ne contient pas des lettres écrites par ditp-model lettres "
                         f"(pas de {MARKER}) ; il serait remplacé en entier — choisir un dossier vide ou nouveau")
