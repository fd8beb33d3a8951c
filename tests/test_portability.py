"""Nothing in the package assumes a POSIX system (issue 14: the secretariat may run it on Windows).

Read from the source with ``ast`` (nothing imported or run), every module of ``ditp_model/`` is
checked for:

* processes and users that Windows does not have: ``os.fork``, ``os.getuid``, ``os.killpg``,
  ``os.setsid``…, signals ``SIGKILL``, ``SIGHUP``, ``SIGUSR1``…;
* a shell: ``shell=True`` (a command line goes as a list, no ``sh``/``cmd`` quoting);
* POSIX-only modules (``fcntl``, ``pwd``, ``grp``, ``termios``, ``resource``, ``pty``…) imported
  outside a ``try`` that catches ``ImportError`` (the Windows fallback);
* hard-coded POSIX locations (``/tmp``, ``/dev/null``, ``/usr/…``, ``/home/…``) outside docstrings;
* paths glued with ``"/"`` (``folder + "/" + name``, ``"/".join(parts)``, ``os.sep`` assumed);
* text files opened without ``encoding=`` (``open``, ``read_text``, ``write_text``): Windows would use
  its ANSI code page (cp1252) instead of UTF-8.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ditp_model"

POSIX_OS = {"fork", "forkpty", "getuid", "geteuid", "getgid", "getegid", "setuid", "setgid", "killpg", "setsid", "getpgid",
            "setpgrp", "setpgid", "mkfifo", "getppid_posix", "wait3", "wait4", "getloadavg", "sched_setaffinity",
            "sched_getaffinity", "nice", "chown", "lchown", "fchown", "statvfs", "sync", "ttyname", "openpty"}
POSIX_SIGNALS = {"SIGKILL", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGPIPE", "SIGQUIT", "SIGSTOP", "SIGTSTP",
                 "SIGCONT"}
POSIX_MODULES = {"fcntl", "pwd", "grp", "termios", "resource", "pty", "tty", "posix", "crypt", "syslog", "spwd"}
POSIX_PLACES = ("/tmp", "/dev/", "/usr/", "/home/", "/etc/", "/var/", "/proc/", "/bin/", "/opt/")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def _guarded_imports(tree: ast.AST) -> set[int]:
    """Import nodes inside a ``try`` whose handlers catch ImportError (or ModuleNotFoundError, or everything)."""
    ids = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        names = set()
        for h in node.handlers:
            if h.type is None:
                names.add("ImportError")
            for t in ([h.type] if not isinstance(h.type, ast.Tuple) else h.type.elts):
                if isinstance(t, ast.Name):
                    names.add(t.id)
        if names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}:
            for stmt in node.body:
                ids.update(id(n) for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return ids


def _is_slash(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ("/", "\\\\", "\\")


def _text_mode(call: ast.Call, mode_index: int) -> bool:
    mode = None
    if len(call.args) > mode_index:
        mode = call.args[mode_index]
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    if mode is None:
        return True
    return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "b" in mode.value)


def problems_in(source: str, name: str = "<source>") -> list[str]:
    """Every POSIX assumption of one module's source, as « name:line: what »."""
    tree = ast.parse(source)
    docs, guarded = _docstrings(tree), _guarded_imports(tree)
    found = []

    def say(node, what):
        found.append(f"{name}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr in POSIX_OS:
                say(node, f"os.{node.attr} n'existe pas sous Windows")
            if node.value.id == "signal" and node.attr in POSIX_SIGNALS:
                say(node, f"signal.{node.attr} n'existe pas sous Windows")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                if m.split(".")[0] in POSIX_MODULES and id(node) not in guarded:
                    say(node, f"import {m} sans repli Windows (try/except ImportError)")
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "shell" and isinstance(kw.value, ast.Constant) and kw.value.value is True:
                    say(node, "shell=True")
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "join" and _is_slash(f.value):
                say(node, "chemin assemblé avec \"/\".join (utiliser pathlib)")
            if isinstance(f, ast.Name) and f.id == "open" and _text_mode(node, 1) and not any(k.arg == "encoding" for k in node.keywords):
                say(node, "open() en mode texte sans encoding= (cp1252 sous Windows)")
            if (isinstance(f, ast.Attribute) and f.attr in ("read_text", "write_text")
                    and not any(k.arg == "encoding" for k in node.keywords)
                    and len(node.args) < (2 if f.attr == "write_text" else 1)):
                say(node, f".{f.attr}() sans encoding= (cp1252 sous Windows)")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and (_is_slash(node.left) or _is_slash(node.right)):
            say(node, "chemin assemblé avec + \"/\" (utiliser pathlib)")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
              and node.value.startswith(POSIX_PLACES)):
            say(node, f"emplacement POSIX écrit en dur : {node.value[:30]!r}")
    return found


def test_the_checker_finds_each_kind_of_assumption():
    bad = '''
import fcntl
import os, signal, subprocess
from pathlib import Path
try:
    import pwd
except ImportError:
    pwd = None
def f(folder, name, parts):
    os.fork()
    os.kill(1, signal.SIGKILL)
    subprocess.run("ls", shell=True)
    p = folder + "/" + name
    q = "/".join(parts)
    open(p).read()
    open(p, "rb").read()
    open(p, "w", encoding="utf-8")
    Path(p).read_text()
    Path(p).write_text("x")
    Path(p).write_text("x", encoding="utf-8")
    return "/tmp/x"
'''
    found = problems_in(bad)
    kinds = [x.split(": ", 1)[1] for x in found]
    assert len(found) == 10, found
    assert kinds[0].startswith("import fcntl") and not any("pwd" in k for k in kinds)  # the guarded import is fine
    for piece in ("os.fork", "SIGKILL", "shell=True", '+ "/"', '"/".join', "open() en mode texte", ".read_text()",
                  ".write_text()", "/tmp/x"):
        assert any(piece in k for k in kinds), piece


def test_no_posix_assumption_in_the_package():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += problems_in(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert not found, "\n".join(found)


def test_bayesian_extra_absent_is_a_french_message_not_a_traceback(monkeypatch, tmp_path, capsys):
    """Without NumPyro and JAX (an install without the ``bayes`` extra), ``lottery`` says what to install."""
    import sys

    from ditp_model.cli import main
    from ditp_model.scoring.review_model import BAYES_EXTRA_FR

    monkeypatch.setitem(sys.modules, "numpyro", None)  # « import numpyro » raises ImportError
    root = PACKAGE.parent
    code = main(["lottery", "--call", str(root / "data" / "appel_2021.toml"),
                 "--applications", str(root / "data" / "candidatures_exemple.csv"),
                 "--reviews", str(root / "data" / "evaluations_exemple.csv"), "--no-draw", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and BAYES_EXTRA_FR in err and "Traceback" not in err
    assert "pip install" in err and "environment.yml" in err
