"""Publishing a set of output files as a whole, under a lock on the output folder.

One mechanism for every command that writes a set of files (``allocate``,
``score``, ``report``, ``lottery``, ``import-ds``) and for the decision journal
(issue 15, « Outputs that can disagree with each other »):

* :func:`folder_lock` — an exclusive lock on a folder, as a lock file
  ``.ditp-verrou`` created with ``O_CREAT | O_EXCL`` (works the same on
  Windows and POSIX, no ``fcntl``).  The file names its holder (process id,
  machine, command, start time).  A second run gets
  :class:`FolderLockedError`, a French message naming the folder and the
  holder.  A lock left by a run that was killed is *stale* and taken over:
  its process no longer exists on this machine, or it is older than
  :data:`STALE_AFTER_S`.  The lock is re-entrant within one process (a report
  holding its folder's lock also appends to the journal kept in it).
* :func:`publish_files` — stage, then switch, so that the folder always holds
  the whole old set or the whole new set.  Every new file is first written
  (and flushed to disk) in the staging folder ``.ditp-publication/new`` inside
  the output folder, so a failure while writing (disk full on the second of
  three files) leaves the folder untouched.  Then the plan is written
  (``plan.json``: the names of the set), and the switch renames each old file
  into ``.ditp-publication/old`` and each new file into place (a rename inside
  one folder is atomic on every file system; on Windows a folder cannot be
  renamed over another one, so the switch is done file by file).  An optional
  *commit* step (the journal's append) runs next; then the plan is marked
  ``committed`` and the staging folder is deleted.  If anything fails during
  the switch, the old files are put back before the error is raised.
* :func:`recover` — a run killed during a switch leaves ``.ditp-publication``
  behind; the next publication into that folder (and ``verify``) finishes it:
  a committed plan (or one whose journal entry is in the journal) is rolled
  forward (the backups are deleted), any other is rolled back (the old files
  are put back, the new ones removed).

Names may contain ``/`` (a sub-folder of the output folder).  A name ending in
``/`` in `owned` is a sub-folder the set owns: files found there that the new
set does not contain are removed with the switch (a letter to an applicant who
is no longer in the decision does not stay beside the new letters).

* Archiving (trial 1, item 4) — a publication that replaces another command's
  (``allocate --remplacer`` into a report's folder) moves the older publication's
  files, whole, into a dated sub-folder of :data:`ARCHIVE_DIR`
  (:func:`archive_folder_name`: ``archives/2026-12-03_071502``) as part of the same
  switch (`archive` of :func:`publish_files`): nothing is deleted, the moves are
  recorded in the plan and undone with the rest if the switch fails.  An archived
  publication keeps its relative layout, so its own manifest still verifies there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

__all__ = ["LOCK_NAME", "STAGING_NAME", "STALE_AFTER_S", "INTERNAL_NAMES", "ARCHIVE_DIR", "FolderLockedError", "PublicationError",
           "folder_lock", "lock_holder", "publish_files", "recover", "pending_publication", "write_file_durably",
           "archive_folder_name", "folder_counts_fr", "foreign_files"]

#: Lock file inside a locked folder.
LOCK_NAME = ".ditp-verrou"
#: Staging folder of a publication inside the output folder.
STAGING_NAME = ".ditp-publication"
#: A lock older than this (seconds) is stale whatever its process: 12 hours, longer than any run of the tool.
STALE_AFTER_S = 12 * 3600
#: Names inside an output folder that belong to the publication machinery, never to a published set.
INTERNAL_NAMES = (LOCK_NAME, STAGING_NAME)
#: Sub-folder of an output folder holding older publications moved aside whole (never part of a published set).
ARCHIVE_DIR = "archives"

_HELD: dict[str, int] = {}
_HELD_GUARD = threading.Lock()
_UMASK = os.umask(0)
os.umask(_UMASK)


class PublicationError(RuntimeError):
    """A set of files could not be published; the folder keeps its previous set (French message)."""


class FolderLockedError(PublicationError):
    """Another run holds the output folder (French message naming the folder and the holder)."""


# --------------------------------------------------------------------------- lock


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (Windows: OpenProcess; POSIX: signal 0)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: the process exists
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def lock_holder(folder: str | Path) -> dict | None:
    """What the lock file of `folder` says about its holder (``pid``, ``host``, ``command``, ``started_at``), or None."""
    p = Path(folder) / LOCK_NAME
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def _stale(holder: dict, lock_path: Path) -> str | None:
    """Why a lock is stale (French), or None when its holder may still be running."""
    try:
        age = time.time() - lock_path.stat().st_mtime
    except FileNotFoundError:
        return "verrou disparu"
    if not holder:
        # written by O_EXCL then filled: an empty file for more than a few seconds was left by a run killed in between
        return "verrou vide ou illisible laissé par une exécution interrompue" if age > 10 else None
    if age > STALE_AFTER_S:
        return f"verrou posé il y a plus de {STALE_AFTER_S // 3600} heures"
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) and not _pid_alive(holder["pid"]):
        return f"le processus {holder['pid']} qui l'avait posé n'existe plus (exécution arrêtée)"
    return None


def when_fr(started_at: str) -> str:
    """A lock's ISO 8601 time as a person reads it: ``2026-12-03T06:46:55+00:00`` -> « 03/12/2026 à 06:46 (UTC) »,
    « … (UTC+01:00) » for another offset; a text that is not ISO 8601 is shown as written."""
    try:
        t = dt.datetime.fromisoformat(str(started_at))
    except ValueError:
        return str(started_at)
    shown = f"{t:%d/%m/%Y} à {t:%H:%M}"
    offset = t.utcoffset()
    if offset is None:
        return shown
    if not offset:
        return f"{shown} (UTC)"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{shown} (UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d})"


def _holder_fr(holder: dict) -> str:
    if not holder:
        return "une exécution dont le verrou est en cours d'écriture"
    command = holder.get("command") or "commande inconnue"
    return (f"« {command} » (processus {holder.get('pid', '?')} sur {holder.get('host', '?')}, "
            f"depuis le {when_fr(holder.get('started_at', '?'))})")


def _try_create(lock_path: Path, command: str) -> bool:
    try:
        fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                   "started_at": dt.datetime.now().astimezone().isoformat(timespec="seconds")}, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    return True


@contextlib.contextmanager
def folder_lock(folder: str | Path, *, command: str = "", wait_s: float = 0.0):
    """Hold an exclusive lock on `folder` (created if needed) for the duration of the ``with`` block.

    Parameters
    ----------
    folder : path
        The output folder.  Created when missing; removed again on exit if the
        run left it empty (a failed first run leaves no empty folder behind).
    command : str
        What the holder is doing, shown to a second run (e.g. the command line).
    wait_s : float
        How long to wait for another holder to finish before giving up
        (0: give up at once, the default for an output folder; the journal's
        appends, which take milliseconds, wait a few seconds).

    Raises
    ------
    FolderLockedError
        Another live run holds the folder (French: the folder, the holder, what to do).
    ValueError
        `folder` is an existing file.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"« {folder} » est un fichier existant : indiquer un dossier")
    key = str(folder.resolve())
    with _HELD_GUARD:
        if _HELD.get(key):
            _HELD[key] += 1
            reentrant = True
        else:
            reentrant = False
    if reentrant:
        try:
            yield folder
        finally:
            with _HELD_GUARD:
                _HELD[key] -= 1
        return
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / LOCK_NAME
    deadline = time.monotonic() + max(0.0, wait_s)
    while not _try_create(lock_path, command):
        holder = lock_holder(folder)
        if holder is None:
            continue  # released between our attempt and the read: try again
        why = _stale(holder, lock_path)
        if why is not None:
            # Remove it only if it is still the same stale lock (another run may have taken it over meanwhile).
            if lock_holder(folder) == holder:
                with contextlib.suppress(FileNotFoundError):
                    lock_path.unlink()
            continue
        if time.monotonic() < deadline:
            time.sleep(0.05)
            continue
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise FolderLockedError(
            f"le dossier « {folder} » est en cours d'écriture par une autre exécution : {_holder_fr(holder)}. "
            f"Attendre la fin de cette exécution ; si elle a été arrêtée, supprimer le fichier de verrou « {lock_path} ».")
    with _HELD_GUARD:
        _HELD[key] = 1
    try:
        yield folder
    finally:
        with _HELD_GUARD:
            _HELD.pop(key, None)
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when the run wrote nothing


# --------------------------------------------------------------------------- stage, then switch


def write_file_durably(path: Path, data: bytes) -> None:
    """Write `data` to `path` (a new file in a staging folder), flushed to disk, with the usual permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o666 & ~_UMASK)


def _check_name(name: str) -> str:
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts or (parts and parts[0] in INTERNAL_NAMES):
        raise ValueError(f"nom de fichier publié invalide : « {name} » (chemin relatif au dossier des résultats attendu)")
    return Path(name).as_posix()


def _write_plan(staging: Path, plan: dict) -> None:
    tmp = staging / "plan.json.tmp"
    write_file_durably(tmp, (json.dumps(plan, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    os.replace(tmp, staging / "plan.json")


def pending_publication(folder: str | Path) -> dict | None:
    """The plan of a publication left unfinished in `folder` (its staging folder exists), or None."""
    staging = Path(folder) / STAGING_NAME
    if not staging.is_dir():
        return None
    try:
        return json.loads((staging / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"state": "staging"}  # killed while staging: nothing was switched yet


def _journal_has(plan: dict) -> bool:
    info = plan.get("journal") or {}
    path, digest = info.get("path"), info.get("entry_sha256")
    if not path or not digest:
        return False
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return False
    return f'"entry_sha256":"{digest}"'.encode() in raw


def recover(folder: str | Path) -> str | None:
    """Finish or undo a publication left half-done in `folder` (a run killed during the switch).

    Call it while holding :func:`folder_lock`.  A plan marked ``committed``,
    or whose journal entry is already in the journal, is rolled forward
    (the old files kept as backup are deleted); any other plan is rolled back:
    each old file is put back, each new file that had no old one is removed.

    Returns
    -------
    str or None
        A French sentence saying what was done, or None when nothing was pending.
    """
    folder = Path(folder)
    plan = pending_publication(folder)
    if plan is None:
        return None
    staging = folder / STAGING_NAME
    old, new = staging / "old", staging / "new"
    if plan.get("state") == "committed" or _journal_has(plan):
        shutil.rmtree(staging, ignore_errors=True)
        return f"publication interrompue dans « {folder} » terminée (les nouveaux fichiers étaient tous en place)"
    names = list(plan.get("files", [])) + list(plan.get("removed", []))
    archived = [tuple(pair) for pair in plan.get("archived", [])]
    for name in names:
        backup = old / name
        target = folder / name
        if backup.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(backup, target)
        elif name in plan.get("files", []) and not (new / name).exists() and plan.get("state") == "switching":
            with contextlib.suppress(FileNotFoundError):
                target.unlink()  # a new file moved into place where there was none: undo
    for src, dst in archived:  # the older publication moved into the archive: back in place
        if (folder / dst).is_file() and not (folder / src).exists():
            (folder / src).parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder / dst, folder / src)
    for src, dst in archived:  # the archive folders left empty by the undo
        _remove_empty_parents(folder / dst, folder)
    shutil.rmtree(staging, ignore_errors=True)
    return f"publication interrompue dans « {folder} » annulée : les fichiers précédents ont été remis en place"


def _remove_empty_parents(path: Path, stop: Path) -> None:
    """Remove the empty folders from ``path.parent`` up to (not including) `stop`."""
    p = path.parent
    while p != stop and stop in p.parents:
        try:
            p.rmdir()
        except OSError:
            return
        p = p.parent


def archive_folder_name(now: dt.datetime | None = None, folder: str | Path | None = None) -> str:
    """``archives/AAAA-MM-JJ_HHMMSS`` (local time): where :func:`publish_files` moves an older publication.

    With `folder`, a name not yet used in it (``…_HHMMSS-2`` for a second archive in the same second).
    """
    now = now or dt.datetime.now()
    name = f"{ARCHIVE_DIR}/{now.strftime('%Y-%m-%d_%H%M%S')}"
    k = 1
    while folder is not None and (Path(folder) / (name if k == 1 else f"{name}-{k}")).exists():
        k += 1
    return name if k == 1 else f"{name}-{k}"


def foreign_files(folder: str | Path, own=(), keep=()) -> list[str]:
    """Files of `folder` (relative names, ``/``) that a new set would leave beside it: a mixed folder.

    Left out: the names of the new set (`own`), the paths in `keep` (e.g. the run's input files,
    other commands' outputs that ``verify`` knows), the publication machinery (:data:`INTERNAL_NAMES`)
    and the archives (:data:`ARCHIVE_DIR`).  Empty when `folder` does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    own = {Path(n).as_posix() for n in own}
    kept = set()
    for k in keep:
        with contextlib.suppress(OSError):
            kept.add(Path(k).resolve())
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if (not p.is_file() or rel.parts[0] in INTERNAL_NAMES or rel.parts[0] == ARCHIVE_DIR or rel.as_posix() in own
                or p.resolve() in kept):
            continue
        out.append(rel.as_posix())
    return out


def folder_counts_fr(names) -> list[str]:
    """Names grouped by top-level folder, in French: ``rapport.pdf``, ``retours/ (110 fichiers)``…

    A file at the top level is named; the files of a sub-folder are counted on one line.
    """
    top: dict[str, int] = {}
    for n in names:
        parts = Path(n).parts
        key = n if len(parts) == 1 else f"{parts[0]}/"
        top[key] = top.get(key, 0) + 1
    return [k if not k.endswith("/") else f"{k} ({v} fichier{'s' if v > 1 else ''})" for k, v in sorted(top.items())]


def _owned_strays(folder: Path, names: set[str], owned) -> list[str]:
    """Files inside the owned sub-folders (names ending in ``/``) that the new set does not contain."""
    out = []
    for o in owned:
        if not o.endswith("/"):
            continue
        sub = folder / o.rstrip("/")
        if sub.is_dir():
            for p in sorted(sub.rglob("*")):
                rel = p.relative_to(folder).as_posix()
                if p.is_file() and rel not in names:
                    out.append(rel)
    return out


def publish_files(folder: str | Path, files: dict[str, bytes], *, owned=(), command: str = "", commit=None,
                  journal: dict | None = None, archive: dict[str, str] | None = None) -> list[Path]:
    """Publish `files` into `folder` as a whole: stage, then switch (see the module's docstring).

    Parameters
    ----------
    folder : path
        The output folder (created when missing).
    files : dict
        Name (relative, ``/`` for a sub-folder) -> content.
    owned : iterable of str
        Sub-folders (``"retours/"``) whose files not in `files` are removed with the switch.
    command : str
        Shown to a concurrent run (see :func:`folder_lock`).
    commit : callable, optional
        Called once every new file is in place, before the publication is
        final (the journal's append).  If it raises, the old set is put back.
    journal : dict, optional
        ``{"path", "entry_sha256"}`` of the entry `commit` appends: a run killed
        after the append and before the end is rolled forward by :func:`recover`.
    archive : dict, optional
        Existing file name -> name it is moved to (under :data:`ARCHIVE_DIR`), first step of
        the switch: the older publication set aside whole, never deleted.  A name of the new
        set may be archived too (its old file goes to the archive instead of being replaced).

    Returns
    -------
    list of Path
        The files written, in the order given.

    Raises
    ------
    FolderLockedError
        Another run holds the folder.
    PublicationError
        A file could not be switched into place (e.g. open in a spreadsheet on
        Windows); the previous set is back in place (French message).
    OSError
        Writing the staged files failed (disk full...); the folder is untouched.
    """
    folder = Path(folder)
    names = {_check_name(n): data for n, data in files.items()}
    moves = [(_check_name(a), Path(b).as_posix()) for a, b in (archive or {}).items()]
    for _, b in moves:
        if len(Path(b).parts) < 2 or Path(b).parts[0] != ARCHIVE_DIR or ".." in Path(b).parts:
            raise ValueError(f"archivage invalide : « {b} » (un chemin sous {ARCHIVE_DIR}/ attendu)")
    with folder_lock(folder, command=command):
        recover(folder)
        staging = folder / STAGING_NAME
        shutil.rmtree(staging, ignore_errors=True)
        old, new = staging / "old", staging / "new"
        try:
            for name, data in names.items():
                write_file_durably(new / name, data)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        moved = {a for a, _ in moves}
        removed = [n for n in _owned_strays(folder, set(names), owned) if n not in moved]
        existing = [(a, b) for a, b in moves if (folder / a).is_file()]
        plan = {"state": "switching", "files": list(names), "removed": removed, "archived": [list(m) for m in existing],
                "journal": {"path": str(Path(journal["path"]).resolve()), "entry_sha256": journal["entry_sha256"]}
                if journal else None}
        try:
            _write_plan(staging, plan)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        current = ""
        try:
            for src, dst in existing:  # the older publication set aside first, whole
                current = src
                if (folder / dst).exists():
                    raise FileExistsError(f"« {folder / dst} » existe déjà dans les archives")
                (folder / dst).parent.mkdir(parents=True, exist_ok=True)
                os.replace(folder / src, folder / dst)
            for src, _ in existing:  # folders emptied by the archive (e.g. retours/ of an older report)
                _remove_empty_parents(folder / src, folder)
            for name in names:
                current = name
                target = folder / name
                if target.exists():
                    (old / name).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(target, old / name)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(new / name, target)
            for name in removed:
                current = name
                (old / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(folder / name, old / name)
            current = ""
            if commit is not None:
                commit()
            plan["state"] = "committed"
            _write_plan(staging, plan)
        except BaseException as exc:
            if plan["state"] != "committed":
                recover(folder)
            if isinstance(exc, OSError) and current:
                raise PublicationError(
                    f"impossible de mettre « {folder / current} » en place ({exc.strerror or exc}) — fichier ouvert dans "
                    "une autre application ? Les fichiers précédents ont été remis en place ; rien n'est publié.") from exc
            raise
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / n for n in names]

