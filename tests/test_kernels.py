"""The kernel a notebook runs with (issue 15, « Notebooks and reports »): checked before papermill or nbval start it.

A notebook naming a kernel this installation does not have must give a French message naming the notebook, the
kernel and the kernels available, never jupyter_client's raw ``NoSuchKernel`` traceback; every notebook of the
project names the kernel ``make test`` gives nbval (``--nbval-kernel-name python3``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("jupyter_client")

from ditp_model.outputs.kernels import NotebookKernelError, available_kernels, notebook_kernel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def write_notebook(path: Path, kernelspec: dict | None) -> Path:
    meta = {"language_info": {"name": "python"}}
    if kernelspec is not None:
        meta["kernelspec"] = kernelspec
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "a1", "metadata": {}, "outputs": [], "source": "1 + 1"}],
          "metadata": meta, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_python3_is_available():
    assert "python3" in available_kernels()


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_every_project_notebook_names_the_kernel_make_test_uses(nb):
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    wanted = re.search(r"^NBVAL_KERNEL\s*\?=\s*(\S+)", make, flags=re.M).group(1)
    assert notebook_kernel(nb) == wanted


def test_missing_kernel_is_a_french_error_naming_it(tmp_path):
    nb = write_notebook(tmp_path / "rapport.ipynb", {"name": "python-comite-2019", "display_name": "Comité 2019", "language": "python"})
    with pytest.raises(NotebookKernelError) as err:
        notebook_kernel(nb)
    msg = str(err.value)
    assert "rapport.ipynb" in msg and "« python-comite-2019 »" in msg and "absent de cette installation" in msg
    assert "noyaux disponibles : " in msg and "python3" in msg
    assert err.value.kernel == "python-comite-2019" and "python3" in err.value.available
    assert isinstance(err.value, ValueError)  # the command line's French « Erreur : … » path, exit 2


def test_papermill_alone_would_give_the_raw_traceback(tmp_path):
    """Why the check exists: jupyter_client's own error is English and technical."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    with pytest.raises(NoSuchKernel):
        KernelSpecManager().get_kernel_spec("python-comite-2019")


def test_notebook_without_kernelspec(tmp_path):
    nb = write_notebook(tmp_path / "sans.ipynb", None)
    with pytest.raises(NotebookKernelError, match="ne nomme aucun noyau"):
        notebook_kernel(nb)
    assert notebook_kernel(nb, "python3") == "python3"  # imposed by the caller (papermill's kernel_name)


def test_imposed_kernel_takes_precedence_and_is_checked(tmp_path):
    nb = write_notebook(tmp_path / "n.ipynb", {"name": "python3", "display_name": "Python 3"})
    assert notebook_kernel(nb) == "python3"
    with pytest.raises(NotebookKernelError, match="« inexistant »"):
        notebook_kernel(nb, "inexistant")


@pytest.mark.parametrize("content", ["{pas du json", "[]", ""])
def test_unreadable_notebook(tmp_path, content):
    (tmp_path / "casse.ipynb").write_text(content, encoding="utf-8")
    with pytest.raises(NotebookKernelError, match="illisible"):
        notebook_kernel(tmp_path / "casse.ipynb")
    with pytest.raises(NotebookKernelError, match="illisible"):
        notebook_kernel(tmp_path / "absent.ipynb")
