"""Packaging consistency: one source of versions, and CI runs what the README tells people to run.

* ``environment.yml`` (conda route) and ``pyproject.toml`` (pip route, the single source of
  versions) name the same packages with the same version ranges: the project's dependencies plus
  every extra, against the conda dependencies plus the ``pip:`` sub-list; ``python`` is checked
  against ``requires-python``; ``pip`` and ``-e .`` are the conda file's own.
* ``.ci/run`` calls the test command given in ``README.md``.

``environment.yml`` is read with a small line parser (PyYAML is not a dependency of the
project); when PyYAML happens to be installed the parser is checked against it.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
ENVIRONMENT = ROOT / "environment.yml"
CI_RUN = ROOT / ".ci" / "run"
README = ROOT / "README.md"


def parse_environment(text: str) -> dict:
    """The subset of YAML that ``environment.yml`` uses: ``name``, ``channels`` and ``dependencies``
    lists, and one nested ``- pip:`` list.  Comments (``#`` after a space or at line start) are dropped.
    """
    out: dict = {}
    key = None
    in_pip = False
    pip_indent = None
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if indent == 0:
            k, _, v = body.partition(":")
            key = k.strip()
            out[key] = v.strip() if v.strip() else []
            in_pip = False
            continue
        assert body.startswith("- "), f"unexpected line in environment.yml: {raw!r}"
        item = body[2:].strip()
        if in_pip and indent > pip_indent:
            out[key][-1]["pip"].append(item)
            continue
        in_pip = False
        if item == "pip:":
            in_pip, pip_indent = True, indent
            out[key].append({"pip": []})
        else:
            out[key].append(item)
    return out


def split_requirement(req: str) -> tuple[str, tuple[str, ...]]:
    """``"pandas>=2.2,<4"`` -> ``("pandas", ("<4", ">=2.2"))`` (name normalised, specifiers sorted)."""
    m = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*", req)
    assert m, req
    name = re.sub(r"[-_.]+", "-", m.group(1)).lower()
    specs = tuple(sorted(s.replace(" ", "") for s in m.group(2).split(",") if s.strip()))
    return name, specs


def pyproject_requirements() -> dict[str, tuple[str, ...]]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    reqs: dict[str, tuple[str, ...]] = {}
    groups = {"dependencies": project["dependencies"], **project.get("optional-dependencies", {})}
    for group, items in groups.items():
        for item in items:
            name, specs = split_requirement(item)
            assert reqs.get(name, specs) == specs, f"{name}: two ranges in pyproject.toml ({reqs[name]} and {specs} in {group})"
            reqs[name] = specs
    return reqs


def environment_requirements() -> tuple[dict[str, tuple[str, ...]], list[str]]:
    env = parse_environment(ENVIRONMENT.read_text(encoding="utf-8"))
    reqs: dict[str, tuple[str, ...]] = {}
    pip_items: list[str] = []
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        if isinstance(dep, dict):
            pip_items += items
        for item in items:
            if item in ("-e .", "-e ."):
                continue
            name, specs = split_requirement(item)
            assert name not in reqs, f"{name} listed twice in environment.yml"
            reqs[name] = specs
    return reqs, pip_items


def test_line_parser_on_a_known_text():
    text = """# comment
name: demo
channels:
  - conda-forge
dependencies:
  - python>=3.11
  - pandas>=2.2,<4   # a comment
  - pip
  - pip:
      - cbcbox>=2.9,<3   # PyPI only
      - -e .
"""
    assert parse_environment(text) == {
        "name": "demo", "channels": ["conda-forge"],
        "dependencies": ["python>=3.11", "pandas>=2.2,<4", "pip", {"pip": ["cbcbox>=2.9,<3", "-e ."]}],
    }


def test_line_parser_agrees_with_pyyaml_when_installed():
    yaml = pytest.importorskip("yaml")
    assert parse_environment(ENVIRONMENT.read_text(encoding="utf-8")) == yaml.safe_load(ENVIRONMENT.read_text(encoding="utf-8"))


def test_split_requirement():
    assert split_requirement("pandas>=2.2,<4") == ("pandas", ("<4", ">=2.2"))
    assert split_requirement("Jupyter_Lab >= 4.2, <5") == ("jupyter-lab", ("<5", ">=4.2"))
    assert split_requirement("pip") == ("pip", ())


def test_same_packages_and_ranges():
    env, _ = environment_requirements()
    env_python = env.pop("python")
    env.pop("pip")
    pyp = pyproject_requirements()
    missing_in_env = sorted(set(pyp) - set(env))
    missing_in_pyproject = sorted(set(env) - set(pyp))
    assert not missing_in_env, f"in pyproject.toml but not in environment.yml: {missing_in_env}"
    assert not missing_in_pyproject, f"in environment.yml but not in pyproject.toml: {missing_in_pyproject}"
    different = {n: (pyp[n], env[n]) for n in pyp if pyp[n] != env[n]}
    assert not different, f"different ranges (pyproject, environment): {different}"
    requires_python = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["requires-python"]
    assert env_python == split_requirement(f"python{requires_python}")[1]


def test_every_range_has_both_bounds():
    for name, specs in pyproject_requirements().items():
        assert any(s.startswith(">=") for s in specs) and any(s.startswith("<") for s in specs), name


def test_environment_ends_with_editable_install():
    _, pip_items = environment_requirements()
    assert pip_items and pip_items[-1] == "-e ."


def test_environment_name_is_the_project_name():
    env = parse_environment(ENVIRONMENT.read_text(encoding="utf-8"))
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert env["name"] == project["name"]


def test_pytest_turns_warnings_into_errors():
    opts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert opts["filterwarnings"][0] == "error"


# ---------------------------------------------------------------------------
# CI runs the README's test command
# ---------------------------------------------------------------------------
def readme_test_commands(text: str) -> list[str]:
    """Commands that run the tests, from fenced code blocks and inline code of the README."""
    candidates = []
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S):
        # shell lines: drop a "$ " prompt and a trailing "# comment"
        candidates += [re.sub(r"(^|\s)#.*$", "", ln.strip().removeprefix("$ ")).strip() for ln in block.splitlines()]
    candidates += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return [c for c in dict.fromkeys(candidates) if re.search(r"\bmake test\b|\bpytest\b", c)]


def ci_commands() -> list[str]:
    lines = CI_RUN.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def test_ci_script_is_strict_and_executable():
    assert CI_RUN.read_text(encoding="utf-8").startswith("#!")
    assert os.access(CI_RUN, os.X_OK)
    assert "set -euo pipefail" in ci_commands()


def test_readme_command_parser():
    text = "Install:\n\n```bash\n$ make setup\nmake test    # tout\n```\n\nor run `pytest tests -q` directly."
    assert readme_test_commands(text) == ["make test", "pytest tests -q"]


def test_ci_runs_the_readme_test_command():
    if not README.exists():
        pytest.skip("README.md does not exist yet (the lead writes it, with `make test`)")
    commands = readme_test_commands(README.read_text(encoding="utf-8"))
    assert commands, "README.md gives no test command (make test / pytest)"
    ci = ci_commands()
    assert commands[0] in ci, f"the README's test command {commands[0]!r} is not run by .ci/run: {ci}"
    if commands[0].startswith("make "):
        target = commands[0].split()[1]
        assert re.search(rf"^{re.escape(target)}:", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.M)


# ---------------------------------------------------------------------------
# The lock of exact versions (requirements.lock) and how make installs it
# ---------------------------------------------------------------------------
LOCK = ROOT / "requirements.lock"
MAKEFILE = ROOT / "Makefile"
MAKE_EXTRAS = {"notebooks", "test"}  # the extras make installs (the lock's --extra options)


def lock_pins() -> dict[str, str]:
    from ditp_model.lockfile import read_lock

    return read_lock(LOCK)


def test_lock_exists_and_says_how_it_was_made():
    head = LOCK.read_text(encoding="utf-8").split("\n\n", 1)[0]
    assert "autogenerated by pip-compile with Python 3.11" in head
    assert set(re.findall(r"--extra=(\S+)", head)) == MAKE_EXTRAS
    assert "pyproject.toml" in head and "--index-url=https://pypi.org/simple" in head  # PyPI only
    # the same command as `make lock`
    recipe = MAKEFILE.read_text(encoding="utf-8").split("\nlock:", 1)[1].split("\n\n", 1)[0]
    for opt in ("--strip-extras", "--extra notebooks", "--extra test", "--index-url=https://pypi.org/simple"):
        assert opt in recipe and opt.replace(" ", "=") in head


def test_lock_is_exact_pins_from_pypi_only():
    text = LOCK.read_text(encoding="utf-8")
    pins = lock_pins()
    assert len(pins) > 50
    for line in text.splitlines():
        body = line.strip()
        assert not body.startswith(("-e", "--", "-r", "-c")), f"option in the lock: {line!r}"
        assert "file:" not in body and "://" not in body.split("#")[0], f"not a PyPI release: {line!r}"
    for name, version in pins.items():
        assert "+" not in version, f"{name}=={version}: a local version (not on PyPI)"
        assert re.fullmatch(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?", version), f"{name}=={version}"
    assert "ditp-allocation" not in pins  # the project itself is installed by make with --no-deps -e .


def test_lock_names_every_package_make_installs_within_pyproject_ranges():
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"]) + [r for extra in sorted(MAKE_EXTRAS) for r in project["optional-dependencies"][extra]]
    pins = lock_pins()
    missing, outside = [], []
    for req in wanted:
        name, specs = split_requirement(req)
        if name not in pins:
            missing.append(name)
        elif pins[name] not in SpecifierSet(",".join(specs)):
            outside.append(f"{name}=={pins[name]} not in {','.join(specs)}")
    assert not missing, f"in pyproject.toml (dependencies or extras {sorted(MAKE_EXTRAS)}) but not in the lock: {missing}"
    assert not outside, f"locked outside pyproject.toml's ranges: {outside}"


def test_lock_check_catches_a_version_outside_the_ranges(tmp_path):
    """The check above on a broken lock (variant): a pandas outside pyproject's range, a package missing."""
    from packaging.specifiers import SpecifierSet

    from ditp_model.lockfile import read_lock

    text = re.sub(r"^pandas==\S+", "pandas==1.5.3", LOCK.read_text(encoding="utf-8"), flags=re.M)
    text = re.sub(r"^cbcbox==\S+\n", "", text, flags=re.M)
    (tmp_path / "broken.lock").write_text(text, encoding="utf-8")
    pins = read_lock(tmp_path / "broken.lock")
    reqs = pyproject_requirements()
    assert "cbcbox" not in pins
    assert pins["pandas"] not in SpecifierSet(",".join(reqs["pandas"]))


def test_read_lock_refuses_what_is_not_an_exact_pin(tmp_path):
    from ditp_model.lockfile import read_lock

    (tmp_path / "a.lock").write_text("# comment\npandas==3.1.1\n    # via x\nnumpy>=2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ligne 4 : « numpy>=2 » n'est pas une version exacte"):
        read_lock(tmp_path / "a.lock")
    (tmp_path / "b.lock").write_text("Jupyter_Lab==4.6.6\njupyter-lab==4.6.6\n", encoding="utf-8")
    with pytest.raises(ValueError, match="deux fois"):
        read_lock(tmp_path / "b.lock")
    (tmp_path / "c.lock").write_text("Jupyter_Lab[x]==4.6.6 ; python_version >= '3.11'\nfoo==1.0 \\\n    --hash=sha256:ab\n", encoding="utf-8")
    assert read_lock(tmp_path / "c.lock") == {"jupyter-lab": "4.6.6", "foo": "1.0"}


def test_lock_record_for_the_manifest(tmp_path):
    import hashlib

    from ditp_model.lockfile import lock_record

    rec = lock_record(LOCK)
    assert rec["name"] == "requirements.lock" and rec["sha256"] == hashlib.sha256(LOCK.read_bytes()).hexdigest()
    assert rec["packages"] == len(lock_pins()) and "note" not in rec
    assert lock_record() == rec  # the default is the checkout's lock
    assert isinstance(rec["installed_matches"], bool) and rec["differences_count"] >= len(rec["differences"])
    assert rec["installed_matches"] == (rec["differences_count"] == 0)
    # variants: a lock the environment does not match, a missing lock, an unreadable lock
    (tmp_path / "other.lock").write_text("pandas==0.1.0\nno-such-package-ditp==1.0\n", encoding="utf-8")
    other = lock_record(tmp_path / "other.lock")
    assert other["installed_matches"] is False and other["differences_count"] == 2
    assert other["differences"][0] == "no-such-package-ditp : verrou 1.0, non installé"
    assert other["differences"][1].startswith("pandas : verrou 0.1.0, installé ")
    missing = lock_record(tmp_path / "absent.lock")
    assert missing["sha256"] is None and missing["installed_matches"] is False and "introuvable" in missing["note"]
    (tmp_path / "bad.lock").write_text("pandas>=2\n", encoding="utf-8")
    bad = lock_record(tmp_path / "bad.lock")
    assert bad["sha256"] and "verrou illisible" in bad["note"]
    assert json.loads(json.dumps(rec)) == rec  # JSON-ready, for the manifest


def _make_dry_run(tmp_path: Path, target: str, *variables: str) -> str:
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "-C", str(tmp_path), target, *variables], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _project_copy(tmp_path: Path) -> Path:
    import shutil

    for name in ("Makefile", "pyproject.toml", "requirements.lock"):
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def test_make_installs_from_the_lock_then_the_project_without_dependencies(tmp_path):
    out = _make_dry_run(_project_copy(tmp_path), "setup")
    lines = [ln for ln in out.splitlines() if "pip install" in ln]
    assert any(ln.endswith("pip install --quiet -r requirements.lock") for ln in lines), out
    assert lines[-1].endswith("pip install --quiet --no-deps -e ."), out
    assert not any("[notebooks" in ln for ln in lines), "make must not resolve versions itself"


def test_make_is_idempotent_and_reinstalls_when_the_lock_changes(tmp_path):
    import os as _os
    import time

    root = _project_copy(tmp_path)
    venv = root / ".venv"
    (venv / "bin").mkdir(parents=True)
    stamp = venv / ".installed-stamp"
    stamp.write_text("", encoding="utf-8")
    now = time.time()
    for name in ("pyproject.toml", "requirements.lock"):
        _os.utime(root / name, (now - 100, now - 100))
    _os.utime(stamp, (now - 50, now - 50))
    assert "pip install" not in _make_dry_run(root, "setup")  # nothing to do: idempotent
    for name in ("requirements.lock", "pyproject.toml"):  # either file newer than the stamp reinstalls
        _os.utime(root / name, (now, now))
        assert "-r requirements.lock" in _make_dry_run(root, "setup"), name
        _os.utime(root / name, (now - 100, now - 100))


def test_make_test_names_the_kernel_and_sets_nbval_timeouts(tmp_path):
    nbval_plugin = Path(pytest.importorskip("nbval.plugin").__file__).read_text(encoding="utf-8")
    out = _make_dry_run(_project_copy(tmp_path), "test")
    cmd = re.sub(r"\\\s*", " ", out[out.index("-m pytest"):])
    assert re.search(r"--nbval-kernel-name python3\b", cmd), cmd
    for opt in ("--nbval-cell-timeout", "--nbval-kernel-startup-timeout"):
        m = re.search(rf"{opt} (\d+)\b", cmd)
        assert m and 0 < int(m.group(1)) <= 3600, f"{opt} missing or not a positive number of seconds: {cmd}"
    for opt in re.findall(r"--nbval[-a-z]*", cmd):  # options nbval really has
        assert f"'{opt}'" in nbval_plugin or f'"{opt}"' in nbval_plugin, opt
    # overridable from the command line
    assert "--nbval-cell-timeout 30 " in re.sub(r"\\\s*", " ", _make_dry_run(tmp_path, "test", "NBVAL_CELL_TIMEOUT=30"))


def _cull_options(text: str) -> dict[str, str]:
    return dict(re.findall(r"--MappingKernelManager\.(cull_idle_timeout|cull_interval)=(\S+)", text))


def test_voila_culls_idle_kernels_in_make_and_in_the_readme(tmp_path, monkeypatch):
    """``make comite`` runs ``ditp-model comite`` with its cull options, which reach Voilà; the README shows the same."""
    import shlex

    from ditp_model.cli import main, servers

    out = _make_dry_run(_project_copy(tmp_path), "comite")
    line = next(ln for ln in out.splitlines() if "ditp-model comite" in ln)
    args = shlex.split(line[line.index("ditp-model comite"):])[1:]
    seen = []
    monkeypatch.setattr(servers, "_run", lambda argv: seen.append(argv) or 0)
    monkeypatch.setattr(servers, "_need", lambda *a: None)
    assert main(args) == 0
    make_opts = _cull_options(" ".join(seen[0]))
    assert set(make_opts) == {"cull_idle_timeout", "cull_interval"}, seen
    assert all(int(v) > 0 for v in make_opts.values()) and int(make_opts["cull_interval"]) <= int(make_opts["cull_idle_timeout"])
    assert "--Voila.ip=127.0.0.1" in seen[0]
    readme = README.read_text(encoding="utf-8")
    block = readme[readme.index("python -m ditp_model.cli.voila_start notebooks/02_seance_comite.ipynb"):]
    block = re.sub(r"\\\n\s*", " ", block).split("\n", 1)[0]
    assert _cull_options(block) == make_opts, block
    assert block.split() == ["python", *[a if not a.endswith(".ipynb") else "notebooks/02_seance_comite.ipynb"
                                         for a in servers.comite_argv(servers.COMMITTEE_NOTEBOOK)[1:]]]


# ---------------------------------------------------------------------------
# Windows: the conda route resolves, the README's Windows steps use what exists there
# ---------------------------------------------------------------------------
#: conda-forge builds no jaxlib for Windows (win-64): JAX and NumPyro (which needs jaxlib) come from PyPI there.
NOT_ON_CONDA_FORGE_WINDOWS = {"jax", "jaxlib", "numpyro"}


def test_environment_takes_from_pip_what_conda_forge_has_not_for_windows():
    env = parse_environment(ENVIRONMENT.read_text(encoding="utf-8"))
    conda = {split_requirement(d)[0] for d in env["dependencies"] if isinstance(d, str)}
    _, pip_items = environment_requirements()
    pip = {split_requirement(i)[0] for i in pip_items if i != "-e ."}
    assert not conda & NOT_ON_CONDA_FORGE_WINDOWS, conda & NOT_ON_CONDA_FORGE_WINDOWS
    wanted = NOT_ON_CONDA_FORGE_WINDOWS & set(pyproject_requirements())
    assert wanted and wanted <= pip
    # no platform selectors (« # [win] ») that plain conda would ignore
    assert "[win]" not in ENVIRONMENT.read_text(encoding="utf-8") and "[unix]" not in ENVIRONMENT.read_text(encoding="utf-8")


def _windows_section() -> str:
    readme = README.read_text(encoding="utf-8")
    start = readme.index("## Sous Windows")
    return readme[start:readme.index("\n## ", start + 1)]


def test_readme_windows_steps_use_commands_that_exist_there():
    from ditp_model.cli import build_parser

    text = _windows_section()
    assert "conda env create -f environment.yml" in text and "conda activate ditp-allocation" in text
    commands = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("ditp-model ")]
    assert {c.split()[1] for c in commands} >= {"allocate", "report", "lettres", "comite", "lab"}
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for c in commands:
        assert c.split()[1] in sub.choices, c
    code = [ln for ln in text.splitlines() if ln.startswith("       ")]
    assert not any(".venv/bin" in ln or ln.strip().startswith(("make ", "source ", "export ")) for ln in code), code
    # every package the section names is installed by environment.yml
    env, _ = environment_requirements()
    for name in re.findall(r"`([a-z][a-z0-9_-]+)`", text):
        if name in ("pip", "make") or name.startswith("ditp"):
            continue
        assert name in env or name == "jaxlib", f"{name} named in the Windows steps but not in environment.yml"
