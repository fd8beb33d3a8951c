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
