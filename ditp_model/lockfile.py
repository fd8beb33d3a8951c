"""The lock of exact versions (``requirements.lock``) and what a manifest records about it.

``requirements.lock`` at the root of the repository pins every package that
``make`` installs (the project's dependencies and the ``notebooks`` and
``test`` extras, for Python 3.11 on Linux).  It is produced by pip-tools
(``make lock``; the command is written at the top of the file) and installed
by ``make`` with ``pip install -r requirements.lock`` then
``pip install --no-deps -e .``.

:func:`lock_record` is what a decision manifest keeps about it: the lock's
name and SHA-256, so that the committee can rebuild the environment a
decision was taken with, and whether the running environment has exactly
the locked versions (a lock lying next to the code proves nothing about the
packages that computed the decision).
"""

from __future__ import annotations

import hashlib
import re
from importlib import metadata
from pathlib import Path

__all__ = ["LOCK_NAME", "default_lock_path", "read_lock", "lock_differences", "lock_record"]

LOCK_NAME = "requirements.lock"

#: At most this many differences are listed in a record (their number is always given).
MAX_DIFFERENCES = 20

_PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)\s*(?:;.*)?$")


def _norm(name: str) -> str:
    """PEP 503 normalised project name (``Jupyter_Lab`` -> ``jupyter-lab``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def default_lock_path() -> Path:
    """``requirements.lock`` of the checkout this package is imported from (it may not exist: installed wheel)."""
    return Path(__file__).resolve().parents[1] / LOCK_NAME


def read_lock(path: str | Path) -> dict[str, str]:
    """Pinned packages of a lock (``name==version`` lines): normalised name -> version.

    Comments, blank lines, hash continuation lines and pip options (``--…``)
    are skipped.

    Raises
    ------
    ValueError
        A requirement line that is not an exact pin ``name==version``, or a
        package pinned twice (French message naming the line).
    """
    pins: dict[str, str] = {}
    for n, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip().rstrip("\\").strip()
        if not line or line.startswith(("#", "--")):
            continue
        m = _PIN_RE.match(line)
        if not m:
            raise ValueError(f"{path}, ligne {n} : « {raw.strip()} » n'est pas une version exacte (nom==version attendu)")
        name = _norm(m.group(1))
        if name in pins:
            raise ValueError(f"{path}, ligne {n} : « {name} » figure deux fois dans le verrou")
        pins[name] = m.group(2)
    return pins


def lock_differences(pins: dict[str, str]) -> list[str]:
    """Packages whose installed version differs from the lock (French, sorted): ``"pandas : verrou 3.1.1, installé 3.0.0"``."""
    out = []
    for name, want in sorted(pins.items()):
        try:
            got = metadata.version(name)
        except metadata.PackageNotFoundError:
            got = None
        if got != want:
            out.append(f"{name} : verrou {want}, " + (f"installé {got}" if got else "non installé"))
    return out


def lock_record(path: str | Path | None = None) -> dict:
    """What a manifest records about the lock of exact versions (JSON-ready, deterministic).

    Parameters
    ----------
    path : str or Path, optional
        The lock; default :func:`default_lock_path`.

    Returns
    -------
    dict
        ``name`` (file name), ``sha256`` (of its bytes, None when absent),
        ``packages`` (number of pins), ``installed_matches`` (every pinned
        package is installed at its locked version), ``differences`` (at most
        :data:`MAX_DIFFERENCES`, French), ``differences_count``; when the lock
        is missing or unreadable, ``note`` says so in French.
    """
    p = Path(path) if path is not None else default_lock_path()
    record: dict = {"name": p.name, "sha256": None, "packages": 0, "installed_matches": False, "differences": [], "differences_count": 0}
    try:
        raw = p.read_bytes()
    except OSError:
        record["note"] = f"verrou des versions « {p.name} » introuvable à côté du code (installation hors du dépôt ?)"
        return record
    record["sha256"] = hashlib.sha256(raw).hexdigest()
    try:
        pins = read_lock(p)
    except (ValueError, UnicodeDecodeError) as exc:
        record["note"] = f"verrou illisible : {exc}"
        return record
    diffs = lock_differences(pins)
    record.update(packages=len(pins), installed_matches=not diffs, differences=diffs[:MAX_DIFFERENCES], differences_count=len(diffs))
    return record
