"""``ditp-model comite`` and ``ditp-model lab``: the command lines they start (no server is started here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ditp_model.cli import main, servers

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def started(monkeypatch):
    seen: list[list[str]] = []
    monkeypatch.setattr(servers, "_run", lambda argv: seen.append(argv) or 0)
    monkeypatch.setattr(servers, "_need", lambda *a: None)
    return seen


def test_comite_serves_the_committee_notebook_on_localhost_with_culling(started):
    assert main(["comite"]) == 0
    argv = started[0]
    assert argv[:3] == [sys.executable, "-m", "ditp_model.cli.voila_start"]
    assert Path(argv[3]) == ROOT / "notebooks" / "02_seance_comite.ipynb" and Path(argv[3]).is_file()
    assert set(argv[4:]) == {"--Voila.ip=127.0.0.1", "--port=8866", "--MappingKernelManager.cull_idle_timeout=120",
                             "--MappingKernelManager.cull_interval=30", "--VoilaConfiguration.preheat_kernel=True",
                             "--VoilaConfiguration.default_pool_size=1", "--VoilaKernelManager.fill_delay=10",
                             "--template=ditp-comite"}


def test_comite_options(started, tmp_path):
    nb = tmp_path / "page.ipynb"
    nb.write_text("{}", encoding="utf-8")
    assert main(["comite", "--notebook", str(nb), "--port", "9000", "--cull-idle", "600", "--cull-interval", "60",
                 "--sans-navigateur"]) == 0
    assert started[0][3:] == [str(nb), "--Voila.ip=127.0.0.1", "--port=9000", "--MappingKernelManager.cull_idle_timeout=600",
                              "--MappingKernelManager.cull_interval=60", "--VoilaConfiguration.preheat_kernel=True",
                              "--VoilaConfiguration.default_pool_size=1", "--VoilaKernelManager.fill_delay=10",
                              "--template=ditp-comite", "--no-browser"]


def test_comite_refusals_in_french(started, tmp_path, capsys):
    assert main(["comite", "--cull-idle", "30", "--cull-interval", "60"]) == 2
    assert "--cull-interval 60" in capsys.readouterr().err
    assert main(["comite", "--notebook", str(tmp_path / "absent.ipynb")]) == 2
    assert "notebook de séance introuvable" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["comite", "--cull-idle", "0"])
    assert "secondes > 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["comite", "--port", "80"])
    assert not started


def test_lab_opens_the_notebooks_folder_on_localhost(started, tmp_path):
    assert main(["lab"]) == 0
    assert started[0] == [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT / 'notebooks'}",
                          "--ServerApp.ip=127.0.0.1"]
    assert main(["lab", "--dossier", str(tmp_path), "--port", "8899", "--sans-navigateur"]) == 0
    assert started[1][3:] == [f"--ServerApp.root_dir={tmp_path}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port=8899",
                              "--ServerApp.open_browser=False"]


def test_missing_server_package_is_a_french_error(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "voila" else real(name, *a))
    monkeypatch.setattr(servers, "_run", lambda argv: pytest.fail("started without Voilà"))
    assert main(["comite"]) == 2
    assert "Voilà n'est pas installé" in capsys.readouterr().err


def test_the_modules_the_commands_run_exist():
    import importlib.util

    for module in ("voila", "jupyterlab"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} absent")
        assert importlib.util.find_spec(f"{module}.__main__") is not None  # python -m works


def test_run_waits_for_the_server_and_returns_its_code():
    code = servers._run([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert code == 3
