"""Which Jupyter kernel a notebook will run with, checked before running it.

papermill (``report``) and nbval start the kernel a notebook names in its
metadata (``metadata.kernelspec.name``); a name this installation does not
have ends in jupyter_client's raw ``NoSuchKernel`` traceback, and a notebook
without the metadata in an English ``ValueError``.  :func:`notebook_kernel`
answers first, in French, naming the notebook, the kernel asked for and the
kernels available.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["NotebookKernelError", "available_kernels", "notebook_kernel"]


class NotebookKernelError(ValueError):
    """The kernel a notebook needs cannot be started (French message).

    Attributes
    ----------
    notebook : str
    kernel : str or None
        The kernel asked for (None: the notebook names none).
    available : tuple of str
    """

    def __init__(self, message: str, *, notebook: str, kernel: str | None, available: tuple[str, ...]):
        super().__init__(message)
        self.notebook = notebook
        self.kernel = kernel
        self.available = available


def available_kernels() -> tuple[str, ...]:
    """Names of the kernels jupyter_client can start here (sorted), the current Python's ``python3`` included."""
    from jupyter_client.kernelspec import KernelSpecManager

    return tuple(sorted(KernelSpecManager().find_kernel_specs()))


def notebook_kernel(path: str | Path, kernel_name: str | None = None) -> str:
    """The kernel that will run the notebook at `path`, after checking it exists.

    Parameters
    ----------
    path : str or Path
        The notebook (``.ipynb``).
    kernel_name : str, optional
        A kernel imposed by the caller (papermill's ``kernel_name``), which
        takes precedence over the notebook's metadata.

    Returns
    -------
    str
        The kernel name, to pass on as ``kernel_name=`` to papermill.

    Raises
    ------
    NotebookKernelError
        The notebook is unreadable, names no kernel, or names one that is not
        installed; or jupyter_client is missing.
    """
    nb = str(path)
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError, AttributeError) as exc:
        raise NotebookKernelError(f"notebook « {nb} » illisible : {exc}", notebook=nb, kernel=kernel_name, available=()) from None
    spec = meta.get("kernelspec") if isinstance(meta, dict) else None
    name = kernel_name or (spec.get("name") if isinstance(spec, dict) else None)
    try:
        available = available_kernels()
    except ImportError:
        raise NotebookKernelError("jupyter_client n'est pas installé : installer les extras « notebooks » (pip install -e '.[notebooks]')",
                                  notebook=nb, kernel=name, available=()) from None
    shown = ", ".join(available) or "aucun"
    if not name or not isinstance(name, str):
        raise NotebookKernelError(f"le notebook « {nb} » ne nomme aucun noyau (métadonnées « kernelspec » absentes) : "
                                  f"ajoutez-les (Noyau > Changer de noyau dans JupyterLab, puis enregistrer) ; noyaux disponibles : {shown}",
                                  notebook=nb, kernel=None, available=available)
    if name not in available:
        raise NotebookKernelError(f"le notebook « {nb} » demande le noyau « {name} », absent de cette installation ; "
                                  f"noyaux disponibles : {shown} (changez le noyau du notebook, ou installez « {name} »)",
                                  notebook=nb, kernel=name, available=available)
    return name
