"""How ``ditp-model verify`` words the files of a published folder that its publication does not list (trial 1, items 4, 13).

Cut from :mod:`ditp_model.outputs.record` (the journal and the steps of ``verify``), which calls it
from its step ``_check_published_folder``:

* :func:`extra_files_fr` — a file the publication does not list was either added since or left by an
  earlier publication into the same folder (a report's ``retours/`` after ``allocate``, letters
  written inside the decision's folder): the line says both, never « ajouté » alone, and the files of
  one sub-folder make one line with their count and the first names;
* :func:`archives_notes_fr` — older publications moved whole into ``archives/`` (``allocate
  --remplacer``, letters of another decision rewritten by ``lettres``) are not checked with the
  current one: a remark names each, with the command that verifies it.
"""

from __future__ import annotations

from pathlib import Path

from ditp_model.publication import ARCHIVE_DIR, folder_counts_fr

__all__ = ["MAX_NAMES_PER_FOLDER", "extra_files_fr", "archives_notes_fr"]

#: How many file names a grouped « fichiers absents de la publication » line shows before « … ».
MAX_NAMES_PER_FOLDER = 5
_WHY = "ajouté depuis, ou laissé par une publication précédente"


def extra_files_fr(extra: list[str]) -> list[str]:
    """French lines for the files (relative names) of a published folder that its publication does not list.

    One line per file at the top of the folder, one per sub-folder (with its count and its first
    :data:`MAX_NAMES_PER_FOLDER` names) when it holds more than one, in name order.
    """
    groups: dict[str, list[str]] = {}
    for n in extra:
        parts = Path(n).parts
        groups.setdefault(f"{parts[0]}/" if len(parts) > 1 else "", []).append(n)
    single = groups.pop("", [])
    single += [names[0] for names in groups.values() if len(names) == 1]
    out = [f"fichier présent dans le dossier publié mais absent de la publication ({_WHY}) : {n}" for n in sorted(single)]
    for folder, names in sorted(groups.items()):
        if len(names) == 1:
            continue
        shown = ", ".join(Path(n).relative_to(folder).as_posix() for n in names[:MAX_NAMES_PER_FOLDER])
        more = " …" if len(names) > MAX_NAMES_PER_FOLDER else ""
        out.append(f"{len(names)} fichiers présents dans {folder} mais absents de la publication "
                   f"(ajoutés depuis, ou laissés par une publication précédente) : {shown}{more}")
    return out


def archives_notes_fr(base: str | Path) -> list[str]:
    """A French remark per sub-folder of ``archives/`` in `base`: what it holds, and how to verify it when it can be."""
    arch = Path(base) / ARCHIVE_DIR
    if not arch.is_dir():
        return []
    notes = []
    for sub in sorted(p for p in arch.iterdir() if p.is_dir()):
        names = [p.relative_to(sub).as_posix() for p in sorted(sub.rglob("*")) if p.is_file()]
        how = (f" ; cette publication se vérifie avec ditp-model verify {sub / 'manifest.json'}"
               if (sub / "manifest.json").is_file() else "")
        notes.append(f"archivé dans {ARCHIVE_DIR}/{sub.name} (non vérifié ici) : {', '.join(folder_counts_fr(names))}{how}")
    return notes
