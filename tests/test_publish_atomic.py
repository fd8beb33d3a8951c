"""A set of output files is published as a whole, under a lock on its folder (issue 15).

The folder holds the whole old set or the whole new one: a write that fails on
the second of three files (disk full), a switch that fails half-way (a file
open in a spreadsheet on Windows), a journal append that fails, and a run
killed at any point of the switch (a real process ended with ``os._exit``)
all leave — after the next run's recovery — the old set, byte for byte, or
the new one.  A second run into a held folder is refused with a French
message naming the folder and the holder; a lock left by a killed run is
taken over.
"""

from __future__ import annotations

import ast
import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ditp_model import publication as P
from ditp_model.cli import main
from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

ROOT = Path(__file__).resolve().parents[1]
OLD = {"a.csv": b"ancien a\n", "b.xlsx": b"ancien b\n", "manifest.json": b'{"ancien": true}\n'}
NEW = {"a.csv": b"nouveau a\n", "b.xlsx": b"nouveau b\n", "manifest.json": b'{"nouveau": true}\n'}


def _contents(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative name -> bytes), the machinery's own names included."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _old_folder(tmp_path: Path) -> Path:
    out = tmp_path / "resultats"
    out.mkdir()
    for name, data in OLD.items():
        (out / name).write_bytes(data)
    return out


# --------------------------------------------------------------------------- failures inside the process


def test_disk_full_on_the_second_file_leaves_the_old_set(tmp_path, monkeypatch):
    out = _old_folder(tmp_path)
    real = P.write_file_durably
    calls = []

    def full(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(P, "write_file_durably", full)
    with pytest.raises(OSError) as exc:
        P.publish_files(out, NEW)
    assert exc.value.errno == errno.ENOSPC
    assert _contents(out) == OLD  # nothing new, no staging folder, no lock left


def test_disk_full_into_a_new_folder_leaves_no_folder(tmp_path, monkeypatch):
    out = tmp_path / "jamais"
    monkeypatch.setattr(P, "write_file_durably", lambda path, data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "plein")))
    with pytest.raises(OSError):
        P.publish_files(out, NEW)
    assert not out.exists()


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5, 6])
def test_a_switch_that_fails_half_way_puts_the_old_set_back(tmp_path, monkeypatch, fail_at):
    """Each of the six renames (old -> backup, new -> place, for three files) fails in turn: the old set is back."""
    out = _old_folder(tmp_path)
    real = os.replace
    n = []

    def flaky(src, dst):
        if "plan" not in str(src):  # the renames of the switch (and, after the failure, of the roll-back)
            n.append(src)
            if len(n) == fail_at:
                raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real(src, dst)

    monkeypatch.setattr(P.os, "replace", flaky)
    with pytest.raises(P.PublicationError) as exc:
        P.publish_files(out, NEW)
    assert "remis en place" in str(exc.value) and "rien n'est publié" in str(exc.value)
    assert _contents(out) == OLD


def test_a_failing_commit_step_puts_the_old_set_back(tmp_path):
    out = _old_folder(tmp_path)

    def journal_full():
        raise OSError(errno.ENOSPC, "journal plein")

    with pytest.raises(OSError):
        P.publish_files(out, NEW, commit=journal_full)
    assert _contents(out) == OLD


def test_success_switches_every_file_and_cleans_up(tmp_path):
    out = _old_folder(tmp_path)
    (out / "autre.txt").write_bytes(b"pas a nous")  # a file of someone else stays
    written = P.publish_files(out, {**NEW, "retours/P1.md": b"lettre"})
    assert [p.relative_to(out).as_posix() for p in written] == [*NEW, "retours/P1.md"]
    assert _contents(out) == {**NEW, "autre.txt": b"pas a nous", "retours/P1.md": b"lettre"}


def test_owned_folder_loses_stale_files_with_the_switch_and_keeps_them_on_failure(tmp_path):
    out = _old_folder(tmp_path)
    (out / "retours").mkdir()
    (out / "retours" / "P1.md").write_bytes(b"ancienne lettre P1")
    (out / "retours" / "P9.md").write_bytes(b"lettre d'un dossier retire")
    before = _contents(out)
    with pytest.raises(RuntimeError):
        P.publish_files(out, {**NEW, "retours/P1.md": b"nouvelle P1"}, owned=("retours/",),
                        commit=lambda: (_ for _ in ()).throw(RuntimeError("arrêt")))
    assert _contents(out) == before
    P.publish_files(out, {**NEW, "retours/P1.md": b"nouvelle P1"}, owned=("retours/",))
    assert _contents(out) == {**NEW, "retours/P1.md": b"nouvelle P1"}


@pytest.mark.parametrize("name", ["../dehors.csv", "/abs.csv", ".ditp-verrou", ".ditp-publication/x"])
def test_names_outside_the_folder_or_of_the_machinery_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="nom de fichier publié invalide"):
        P.publish_files(tmp_path / "o", {name: b"x"})


# --------------------------------------------------------------------------- a run killed during the switch

_KILLED = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from ditp_model import publication as P
    out, kill_after, journal = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    new = json.loads(sys.argv[4])
    real = os.replace
    count = [0]
    def replace(src, dst):
        real(src, dst)
        if "plan.json" not in str(src):
            count[0] += 1
            if count[0] == kill_after:
                os._exit(9)   # killed: no finally, no clean-up
    P.os.replace = replace
    def commit():
        with open(journal, "ab") as fh:
            fh.write(b'{{"entry_sha256":"feed"}}\\n')
        if kill_after == 0:
            os._exit(9)       # killed just after the journal's append
    P.publish_files(out, {{k: v.encode() for k, v in new.items()}}, commit=commit,
                    journal={{"path": journal, "entry_sha256": "feed"}})
""")


def _run_killed(out: Path, kill_after: int, journal: Path) -> int:
    script = out.parent / "tue.py"
    script.write_text(_KILLED.format(root=str(ROOT)), encoding="utf-8")
    new = {k: v.decode() for k, v in NEW.items()}
    return subprocess.run([sys.executable, str(script), str(out), str(kill_after), str(journal), json.dumps(new)],
                          timeout=60).returncode


@pytest.mark.parametrize("kill_after", [1, 2, 3, 4, 5])
def test_killed_during_the_switch_then_recovered_gives_the_old_set(tmp_path, kill_after):
    out = _old_folder(tmp_path)
    journal = tmp_path / "journal.jsonl"
    assert _run_killed(out, kill_after, journal) == 9
    assert P.pending_publication(out) is not None  # half-switched: the next run sees it
    assert "annulée" in P.recover(out)
    (out / P.LOCK_NAME).unlink()  # the killed run's lock (taken over by the next run: see below)
    assert _contents(out) == OLD


@pytest.mark.parametrize("kill_after", [1, 4])
def test_the_next_publication_recovers_then_takes_over_the_dead_lock(tmp_path, kill_after):
    out = _old_folder(tmp_path)
    assert _run_killed(out, kill_after, tmp_path / "journal.jsonl") == 9
    assert (out / P.LOCK_NAME).exists()  # the killed run's lock, its process gone
    P.publish_files(out, {"a.csv": b"troisieme"})
    assert _contents(out) == {**OLD, "a.csv": b"troisieme"}


def test_killed_after_the_journal_append_is_rolled_forward(tmp_path):
    out = _old_folder(tmp_path)
    journal = tmp_path / "journal.jsonl"
    assert _run_killed(out, 0, journal) == 9
    assert "terminée" in P.recover(out)
    (out / P.LOCK_NAME).unlink()
    assert _contents(out) == NEW


def test_killed_before_the_journal_append_is_rolled_back_even_with_every_file_in_place(tmp_path):
    out = _old_folder(tmp_path)
    journal = tmp_path / "journal.jsonl"
    assert _run_killed(out, 6, journal) == 9  # the sixth rename is the last new file: all new, no journal entry
    assert {n: (out / n).read_bytes() for n in NEW} == NEW
    P.recover(out)
    (out / P.LOCK_NAME).unlink()
    assert _contents(out) == OLD


# --------------------------------------------------------------------------- the lock

_HOLDER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from ditp_model import publication as P
    with P.folder_lock(sys.argv[1], command="ditp-model allocate --out resultats (séance du matin)"):
        print("pret", flush=True)
        sys.stdin.readline()
""")


@pytest.fixture
def holder(tmp_path):
    out = tmp_path / "resultats"
    script = tmp_path / "tient.py"
    script.write_text(_HOLDER.format(root=str(ROOT)), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "pret"
    yield out, proc
    if not proc.stdin.closed:
        proc.stdin.close()
    proc.wait(timeout=30)
    proc.stdout.close()


def test_a_second_run_is_refused_naming_the_folder_and_the_holder(holder):
    out, proc = holder
    with pytest.raises(P.FolderLockedError) as exc:
        P.publish_files(out, NEW)
    text = str(exc.value)
    assert str(out) in text and f"processus {proc.pid}" in text and "séance du matin" in text
    assert socket.gethostname() in text and "supprimer le fichier de verrou" in text
    assert not (out / "a.csv").exists()


def test_allocate_into_a_held_folder_exits_7_in_french(holder, capsys):
    out, proc = holder
    code = main(["allocate", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS),
                 "--reviews", str(SAMPLE_REVIEWS), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 7
    assert "en cours d'écriture par une autre exécution" in err and str(out) in err and str(proc.pid) in err
    assert sorted(p.name for p in out.iterdir()) == [P.LOCK_NAME]


def test_the_lock_is_released_when_the_holder_ends(holder):
    out, proc = holder
    proc.stdin.write("fin\n")
    proc.stdin.close()
    proc.wait(timeout=30)
    assert not (out / P.LOCK_NAME).exists()
    P.publish_files(out, NEW)
    assert _contents(out) == NEW


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def _lock_file(out: Path, **holder) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    p = out / P.LOCK_NAME
    p.write_text(json.dumps(holder), encoding="utf-8")
    return p


def test_a_lock_whose_process_is_gone_is_taken_over(tmp_path):
    out = tmp_path / "resultats"
    _lock_file(out, pid=_dead_pid(), host=socket.gethostname(), command="ditp-model report", started_at="hier")
    P.publish_files(out, NEW)
    assert _contents(out) == NEW


def test_a_lock_older_than_the_limit_is_taken_over_even_with_a_live_pid(tmp_path):
    out = tmp_path / "resultats"
    p = _lock_file(out, pid=os.getppid(), host="autre-poste", command="ditp-model report", started_at="il y a longtemps")
    old = time.time() - P.STALE_AFTER_S - 60
    os.utime(p, (old, old))
    P.publish_files(out, NEW)
    assert _contents(out) == NEW


def test_a_recent_lock_of_another_machine_is_respected(tmp_path):
    out = tmp_path / "resultats"
    _lock_file(out, pid=_dead_pid(), host="autre-poste", command="ditp-model report --out resultats", started_at="ce matin")
    with pytest.raises(P.FolderLockedError, match="autre-poste"):
        P.publish_files(out, NEW)


@pytest.mark.parametrize("age, taken", [(1, False), (60, True)])
def test_an_empty_lock_file_is_stale_only_once_old(tmp_path, age, taken):
    out = tmp_path / "resultats"
    p = out / P.LOCK_NAME
    out.mkdir()
    p.write_bytes(b"")
    t = time.time() - age
    os.utime(p, (t, t))
    if taken:
        P.publish_files(out, NEW)
        assert _contents(out) == NEW
    else:
        with pytest.raises(P.FolderLockedError):
            P.publish_files(out, NEW)


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    out = tmp_path / "resultats"
    with P.folder_lock(out, command="rapport"):
        with P.folder_lock(out):
            P.publish_files(out, NEW)
        assert (out / P.LOCK_NAME).exists()
    assert not (out / P.LOCK_NAME).exists()


def test_a_failed_run_into_a_new_folder_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "nouveau"
    code = main(["allocate", "--call", str(RULES_PATH), "--applications", str(tmp_path / "absent.csv"),
                 "--reviews", str(SAMPLE_REVIEWS), "--out", str(out)])
    assert code == 2 and not out.exists()


def test_no_posix_only_lock():
    """Windows has no fcntl: neither the publication nor the journal relies on it."""
    for path in (ROOT / "ditp_model" / "publication.py", ROOT / "ditp_model" / "outputs" / "record.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "fcntl" not in names | mods, path


# --------------------------------------------------------------------------- through the command line


def test_allocate_disk_full_on_the_second_file_keeps_a_consistent_folder(tmp_path, monkeypatch, capsys):
    """The folder's manifest always describes the CSV and XLSX beside it (SHA-256 listed in the manifest)."""
    out = tmp_path / "resultats"
    base = ["allocate", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews",
            str(SAMPLE_REVIEWS), "--provisoire", "--out", str(out)]  # the sample decision is provisional (issue 13)
    assert main(base + ["--weights", "impact=0.5,openness=0.3,collective=0.2"]) == 0
    before = _contents(out)
    real = P.write_file_durably
    calls = []

    def full(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(P, "write_file_durably", full)
    capsys.readouterr()
    assert main(base + ["--weights", "impact=0.2,openness=0.3,collective=0.5"]) == 2
    assert "écriture impossible" in capsys.readouterr().err
    assert _contents(out) == before
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["weights"]["raw"]["impact"] == 0.5
    for name, digest in m["published_files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("argv", [
    ["score", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews", str(SAMPLE_REVIEWS)],
    ["import-ds", str(ROOT / "data" / "dossiers_ds_exemple.xlsx"), "--mapping", str(ROOT / "data" / "mapping_ds_exemple.toml")],
    ["report", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews", str(SAMPLE_REVIEWS)],
], ids=["score", "import-ds", "report"])
def test_every_command_that_writes_a_set_respects_the_lock(holder, capsys, argv):
    out, proc = holder
    assert main([*argv, "--out", str(out)]) == 7
    err = capsys.readouterr().err
    assert "en cours d'écriture par une autre exécution" in err and str(proc.pid) in err
    assert sorted(p.name for p in out.iterdir()) == [P.LOCK_NAME]


def test_import_ds_publishes_its_files_as_one_set(tmp_path, capsys):
    out = tmp_path / "import"
    argv = ["import-ds", str(ROOT / "data" / "dossiers_ds_exemple.xlsx"), "--mapping", str(ROOT / "data" / "mapping_ds_exemple.toml"),
            "--out", str(out)]
    assert main(argv) == 0
    files = _contents(out)
    assert set(files) == {"candidatures.csv", "evaluations.csv", "rapport_import.json"}
    provenance = json.loads(files["rapport_import.json"])
    for name in ("candidatures.csv", "evaluations.csv"):
        assert provenance["outputs"][name] == hashlib.sha256(files[name]).hexdigest()
