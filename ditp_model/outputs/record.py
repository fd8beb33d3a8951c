"""The decision record: sealed manifests, the hash-chained journal ``decisions.jsonl``, and ``verify``.

What leaves the committee must be re-creatable to the euro from its inputs
(issue 5).  Three pieces:

* **the manifest** (``manifest.json``, built by :mod:`ditp_model.rules.manifest`):
  inputs with their SHA-256, call rules, weights, parameters, seeds, versions,
  solver status, objective, tie-break rule, every application's score and
  decision, and the decision hash.  :func:`seal_manifest` adds the journal
  position and ``manifest_sha256``, the SHA-256 of the manifest's canonical
  JSON (every key but ``manifest_sha256`` itself);
* **the journal** (``decisions.jsonl``): append-only, one JSON object per line
  and per published report, each carrying ``previous_sha256`` (the hash of
  the entry before it; 64 zeros for the first) and its own ``entry_sha256``
  (SHA-256 of its canonical JSON without that key).  An edited line no longer
  matches its hash; a deleted or inserted line breaks the chain and the
  numbering; a truncated file ends without a newline or stops before the
  entry a manifest points to.  The entry also copies the manifest's inputs,
  weights, parameters, decision rule (rule, δ, quality thresholds), versions
  and decision, and the SHA-256 of every published file, so an edited
  manifest or report is named field by field;
* **verify** (:func:`verify`): re-reads the inputs, re-computes the decision
  with the recorded parameters and the recorded decision rule, and says
  "identique" or lists exactly what differs: inputs changed, versions
  changed, rule, δ or threshold changed, decision (and scores) changed,
  manifest, journal or published files altered.

A hash chain kept beside the files cannot stop someone who rewrites the whole
journal and every manifest consistently; the report shows the decision hash,
and the signed report anchors it: its annex prints the journal entry's number,
date and the entry it follows (:func:`journal_anchor_html`), which the sealed
manifest also keeps, so a rewritten last entry shows even with its own hash
recomputed.  ``verify`` covers every file of the published folder: the
manifest lists each one with its SHA-256 (``published_files``), and a file
missing, changed or added (a forged letter in ``retours/``) is a difference.

Why one module of about 1 240 lines (over the 800 of STYLE.md): the journal's
format, its sealing and its checking must stay side by side — ``verify``
reads exactly what ``publish`` writes, and a change to one without the other
is the bug this module exists to prevent; about twenty callers (commands,
updates, tests) import both from here.  ``verify`` itself is cut into its
named steps (``_check_manifest_hashes``, ``_check_journal_entry``,
``_check_published_folder``, ``_check_inputs``, ``_check_versions``,
``_check_recomputation``).

Canonical JSON: ``json.dumps(obj, sort_keys=True, ensure_ascii=False,
separators=(",", ":"))`` encoded in UTF-8.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ditp_model.french import count_fr, format_eur, format_points
from ditp_model.publication import ARCHIVE_DIR, INTERNAL_NAMES, STAGING_NAME, pending_publication

__all__ = ["JOURNAL_NAME", "GENESIS", "canonical_bytes", "manifest_digest", "seal_manifest", "JournalError", "JournalState",
           "read_journal", "check_journal", "journal_entry", "append_entry", "append_event", "Publication", "publish", "Difference",
           "journal_anchor_html", "insert_journal_anchor",
           "Verification", "verify", "read_decision_manifest", "replay_params", "recompute_decision", "rule_changes", "record_lottery", "record_seed_announcement"]

JOURNAL_NAME = "decisions.jsonl"
#: ``previous_sha256`` of the first journal entry.
GENESIS = "0" * 64
_ROLE_FR = {"call": "règles de l'appel", "applications": "candidatures", "reviews": "évaluations",
            "conflicts": "déclarations de conflits d'intérêts"}
#: Manifest keys copied into each journal entry (and compared by :func:`verify`).
_RECORDED = ("inputs", "weights", "normalisation", "parameters", "decision_rule", "ranking_variant", "versions", "objective",
             "funded_count", "total_awarded_eur", "decision_sha256", "provisional")
#: Fields of a manifest's ``decision_rule`` that :func:`verify` replays and compares, with their French names.
_RULE_FIELDS = {"name": "règle de décision", "ranking_variant": "variante de la règle du classement",
                "tie_band_points": "bande d'ex aequo δ (points)", "min_score": "seuil de qualité sur la note globale",
                "min_criterion": "seuils de qualité par critère"}
#: How many per-application decision (and score) differences :func:`verify` lists before summing up the rest.
MAX_LISTED = 25
MAX_SCORES_LISTED = 10


def canonical_bytes(obj) -> bytes:
    """Canonical JSON (sorted keys, no spaces, UTF-8) of `obj`."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_digest(manifest: dict) -> str:
    """SHA-256 of the manifest's canonical JSON, every key but ``manifest_sha256``."""
    return _sha(canonical_bytes({k: v for k, v in manifest.items() if k != "manifest_sha256"}))


def seal_manifest(manifest: dict, *, out_dir: str | Path, journal_path: str | Path, seq: int, previous: str,
                  recorded_at: str | None = None) -> dict:
    """A copy of `manifest` with its journal position and its own hash ``manifest_sha256``.

    Adds ``journal`` (``path`` relative to `out_dir`, ``seq``,
    ``previous_sha256``, and, when given, ``recorded_at`` and ``out_dir``:
    the fields of the journal entry that nothing else records, so that the
    entry is anchored outside the journal — :func:`verify` recomputes the
    entry's hash from the manifest and the published files, and a rewritten
    last entry shows even with its own hash recomputed) and, for each input,
    its path relative to `out_dir` (``verify`` finds moved folders with it).
    """
    out = Path(out_dir).resolve()
    m = json.loads(json.dumps(manifest))
    for info in m.get("input_files", {}).values():
        with contextlib.suppress(ValueError):  # another drive on Windows
            info["relative_to_manifest"] = os.path.relpath(info["absolute"], out)
    j = Path(journal_path).resolve()
    try:
        jrel = os.path.relpath(j, out)
    except ValueError:
        jrel = str(j)
    m["journal"] = {"path": Path(jrel).as_posix(), "seq": int(seq), "previous_sha256": previous}
    if recorded_at is not None:
        m["journal"]["recorded_at"] = recorded_at
        m["journal"]["out_dir"] = str(out)
    m.pop("manifest_sha256", None)
    m["manifest_sha256"] = manifest_digest(m)
    return m


# --------------------------------------------------------------------------- journal


class JournalError(RuntimeError):
    """The journal is damaged; nothing is appended to it (French message listing the problems)."""


@dataclass(frozen=True)
class JournalState:
    """What :func:`read_journal` found.

    Attributes
    ----------
    path : Path
    entries : tuple of dict
        Entries that could be read, in file order.
    problems : tuple of str
        French, one per problem (edited line, broken chain, numbering, truncation).
    head : str
        ``entry_sha256`` of the last entry (:data:`GENESIS` when empty).
    """

    path: Path
    entries: tuple
    problems: tuple
    head: str

    @property
    def intact(self) -> bool:
        return not self.problems


def read_journal(path: str | Path) -> JournalState:
    """Read and check the whole journal: every line's hash, the chain, the numbering, the final newline.

    A missing file is an empty, intact journal.
    """
    p = Path(path)
    if not p.exists():
        return JournalState(p, (), (), GENESIS)
    raw = p.read_bytes()
    problems: list[str] = []
    if raw and not raw.endswith(b"\n"):
        last = raw.count(b"\n") + 1
        problems.append(f"dernière ligne incomplète (ligne {last}) : journal tronqué ou écriture interrompue")
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    entries = []
    prev: str | None = GENESIS
    for k, line in enumerate(lines, 1):
        try:
            e = json.loads(line.decode("utf-8"))
            if not isinstance(e, dict) or not isinstance(e.get("entry_sha256"), str):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            problems.append(f"ligne {k} illisible (JSON invalide ou sans empreinte) : journal modifié ou tronqué")
            prev = None
            continue
        body = {x: v for x, v in e.items() if x != "entry_sha256"}
        if _sha(canonical_bytes(body)) != e["entry_sha256"]:
            problems.append(f"ligne {k} (entrée n° {e.get('seq')}) modifiée : son contenu ne correspond plus à son empreinte SHA-256")
        if prev is not None and e.get("previous_sha256") != prev:
            problems.append(f"ligne {k} (entrée n° {e.get('seq')}) : chaînage rompu — l'empreinte de l'entrée précédente ne "
                            "correspond pas (entrée supprimée, insérée ou modifiée avant elle)")
        if e.get("seq") != k:
            problems.append(f"ligne {k} : entrée numérotée {e.get('seq')} au lieu de {k} (entrée supprimée ou insérée)")
        prev = e["entry_sha256"]
        entries.append(e)
    head = entries[-1]["entry_sha256"] if entries else GENESIS
    return JournalState(p, tuple(entries), tuple(problems), head)


def check_journal(path: str | Path) -> JournalState:
    """:func:`read_journal`, raising :class:`JournalError` when the journal is damaged."""
    state = read_journal(path)
    if state.problems:
        raise JournalError(f"journal des décisions altéré ({state.path}) — aucune publication :\n"
                           + "\n".join(f"  - {x}" for x in state.problems))
    return state


def check_published_against_journal(out_dir: str | Path, state: JournalState) -> None:
    """Refuse to publish over a report whose journal entry is no longer in the journal.

    The manifest already in `out_dir` names its entry (``journal.seq``) and
    its own hash; deleting the journal's last lines would otherwise go
    unnoticed (the chain of what remains is still consistent) and the next
    report would silently take their place.

    Raises
    ------
    JournalError
        The entry of the published report is missing or differs (French message).
    """
    mp = Path(out_dir) / "manifest.json"
    if not mp.exists():
        return
    try:
        published = json.loads(mp.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise JournalError(f"manifeste publié illisible ({mp}) : vérifier le dossier avant de publier à nouveau") from None
    info = published.get("journal") or {}
    seq = info.get("seq")
    jp = Path(info.get("path", ""))
    jp = jp if jp.is_absolute() else Path(out_dir) / jp
    if seq is None or jp.resolve() != state.path.resolve():
        return
    match = [e for e in state.entries if e.get("seq") == seq]
    if not match:
        raise JournalError(f"journal des décisions tronqué ({state.path}) — aucune publication : le rapport publié dans "
                           f"{out_dir} est l'entrée n° {seq}, le journal n'en compte que {len(state.entries)}")
    if match[0].get("manifest_sha256") != published.get("manifest_sha256"):
        raise JournalError(f"journal des décisions altéré ({state.path}) — aucune publication : l'entrée n° {seq} ne "
                           f"correspond plus au rapport publié dans {out_dir}")


def journal_entry(manifest: dict, files: dict[str, bytes], *, seq: int, previous: str, out_dir: str | Path,
                  recorded_at: str | None = None) -> dict:
    """The journal entry of one publication (with its ``entry_sha256``).

    Keys: ``seq``, ``previous_sha256``, ``recorded_at``, ``event``
    (``rapport``), ``out_dir``, ``command``, ``manifest_sha256``, a copy of
    the manifest's recorded fields (inputs, weights, normalisation,
    parameters, decision rule as resolved (rule, δ, thresholds), ranking
    variant, versions, objective, funded count, total, decision hash) and ``files`` (name -> SHA-256 of each published file).
    """
    e = {"seq": int(seq), "previous_sha256": previous,
         "recorded_at": recorded_at or dt.datetime.now().astimezone().isoformat(timespec="seconds"),
         "event": "rapport", "out_dir": str(Path(out_dir).resolve()), "command": manifest.get("command", ""),
         "manifest_sha256": manifest.get("manifest_sha256")}
    for k in _RECORDED:
        e[k] = manifest.get(k)
    e["files"] = {name: _sha(data) for name, data in sorted(files.items())}
    e["entry_sha256"] = _sha(canonical_bytes(e))
    return e


def append_entry(path: str | Path, entry: dict) -> None:
    """Append one entry (canonical JSON + newline) in a single write, then fsync."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    line = canonical_bytes(entry) + b"\n"
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        n = os.write(fd, line)
        if n != len(line):
            raise OSError(f"écriture partielle dans le journal {p}")
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(folder: Path):
    """Exclusive lock on `folder` for the read-append of the journal (:func:`ditp_model.publication.folder_lock`).

    Re-entrant within a process (a report holds its output folder, where the
    journal usually lives); another process's append is waited for a few
    seconds, then refused with a French message naming the holder.
    """
    from ditp_model.publication import folder_lock

    with folder_lock(folder, command="ajout au journal des décisions", wait_s=10.0):
        yield


@dataclass(frozen=True)
class Publication:
    """One published report.

    Attributes
    ----------
    out_dir : Path
    written : tuple of Path
    manifest : dict
        The sealed manifest.
    entry : dict
        Its journal entry.
    journal_path : Path
    notes : tuple of str
        Standard-error texts of the notebook left out of the HTML.
    """

    out_dir: Path
    written: tuple
    manifest: dict
    entry: dict
    journal_path: Path
    notes: tuple = ()


def journal_anchor_html(*, seq: int, previous: str, recorded_at: str, journal_name: str) -> str:
    """The report's annex that anchors its journal entry outside the journal (French HTML).

    Printed in ``rapport.html`` (and so on the signed report): the entry's
    number, date and the hash of the entry it follows.  :func:`verify` finds
    the same values in the manifest and in the journal; a rewritten entry
    (date, command, with its own hash recomputed) no longer matches them.
    """
    import html

    try:
        when = dt.datetime.fromisoformat(recorded_at).strftime("le %d/%m/%Y à %H:%M:%S")
    except ValueError:
        when = "le"
    return ('<div class="jp-Cell jp-MarkdownCell jp-Notebook-cell" id="ancrage-journal">'
            '<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput">'
            '<h2>Annexe — Ancrage du journal des décisions</h2>'
            f'<p>Ce rapport est l\'entrée n° <span id="ancrage-seq">{int(seq)}</span> du journal des décisions '
            f'« {html.escape(journal_name)} », inscrite {when} (<span id="ancrage-date">{html.escape(recorded_at)}</span>), '
            f'à la suite de l\'entrée d\'empreinte SHA-256 <code id="ancrage-precedente">{html.escape(previous)}</code> '
            '(64 zéros : première entrée).</p>'
            '<p>Le manifeste garde ces mêmes valeurs et l\'empreinte de chaque fichier publié : '
            '« ditp-model verify » signale une entrée du journal réécrite, même avec son empreinte recalculée.</p>'
            '</div></div>')


def insert_journal_anchor(page: str, anchor: str) -> str:
    """`page` with the anchor annex inserted at the end of its main content (before ``</main>``, else ``</body>``)."""
    for closing in ("</main>", "</body>"):
        k = page.rfind(closing)
        if k >= 0:
            return page[:k] + anchor + page[k:]
    return page + anchor


def publish(out_dir: str | Path, files: dict[str, bytes], manifest: dict, *, journal_path: str | Path | None = None,
            recorded_at: str | None = None, expect_previous: str | None = None) -> Publication:
    """Seal the manifest, publish every file into `out_dir` as a whole, and append the journal entry.

    Under an exclusive lock on `out_dir` and on the journal's folder
    (:func:`ditp_model.publication.folder_lock`): the journal is checked
    (:class:`JournalError` if damaged, nothing written), the manifest sealed at
    the next position with the list of published files and their SHA-256
    (``published_files``), then the set is staged and switched in
    (:func:`ditp_model.publication.publish_files`: the folder holds the whole
    old report or the whole new one; letters of ``retours/`` not in the new
    set are removed with the switch) and the entry appended as the last step
    of the switch: if the append fails, the old report is put back.  Letters
    of ``ditp-model lettres`` in the folder that announce another decision are
    recorded as stale (``stale_letters``,
    :func:`ditp_model.outputs.letters_check.stale_letters_record`), never rewritten.

    `recorded_at` and `expect_previous` are given when the report already
    prints its journal anchor (:func:`journal_anchor_html`): the entry gets
    that date, and a journal whose head moved since (another publication
    appended meanwhile) raises :class:`JournalError`, nothing published.
    """
    from ditp_model.outputs.letters_check import stale_letters_record
    from ditp_model.publication import folder_lock, publish_files, recover
    from ditp_model.rules.manifest import manifest_bytes

    out = Path(out_dir)
    jp = Path(journal_path) if journal_path else out / JOURNAL_NAME
    command = manifest.get("command", "") or "publication d'un rapport"
    with folder_lock(out, command=command), _locked(jp.parent):
        recover(out)
        state = check_journal(jp)
        if expect_previous is not None and state.head != expect_previous:
            raise JournalError(f"le journal des décisions {jp} a reçu une autre entrée pendant la préparation du rapport "
                               "(son ancrage imprimé ne serait plus exact) — aucune publication : relancer le rapport")
        seq = len(state.entries) + 1
        recorded_at = recorded_at or dt.datetime.now().astimezone().isoformat(timespec="seconds")
        listed = dict(manifest, published_files={name: _sha(data) for name, data in sorted(files.items())})
        listed.pop("stale_letters", None)
        day = dt.date.fromisoformat(recorded_at[:10]).strftime("%d/%m/%Y")
        stale = stale_letters_record(out, manifest.get("decision_sha256"), f"le rapport publié le {day}")
        if stale:  # letters of ditp-model lettres for the decision this report replaces (trial 1, item 3)
            listed["stale_letters"] = stale
        sealed = seal_manifest(listed, out_dir=out, journal_path=jp, seq=seq, previous=state.head, recorded_at=recorded_at)
        all_files = {**files, "manifest.json": manifest_bytes(sealed)}
        entry = journal_entry(sealed, all_files, seq=seq, previous=state.head, out_dir=out, recorded_at=recorded_at)
        written = publish_files(out, all_files, owned=("retours/",), command=command,
                                commit=lambda: append_entry(jp, entry),
                                journal={"path": jp, "entry_sha256": entry["entry_sha256"]})
    return Publication(out, tuple(written), sealed, entry, jp)


def append_event(journal_path: str | Path, event: str, payload: dict, *, recorded_at: str | None = None) -> dict:
    """Append an entry that is not a report publication (e.g. a lottery draw) to the journal.

    Chained and numbered like the reports' entries (same lock, same checks: a
    damaged journal raises :class:`JournalError` and nothing is appended), so
    that :func:`read_journal` detects any later edit of it.

    Parameters
    ----------
    journal_path : str or Path
        The journal (``decisions.jsonl``); created when missing.
    event : str
        Short code of the event, e.g. ``tirage_au_sort``; not ``rapport``.
    payload : dict
        JSON-serialisable content, stored under ``payload``.

    Returns
    -------
    dict
        The entry written (with ``seq`` and ``entry_sha256``).
    """
    if event == "rapport":
        raise ValueError("l'événement « rapport » est réservé aux publications (record.publish)")
    jp = Path(journal_path)
    with _locked(jp.parent):
        state = check_journal(jp)
        e = {"seq": len(state.entries) + 1, "previous_sha256": state.head,
             "recorded_at": recorded_at or dt.datetime.now().astimezone().isoformat(timespec="seconds"),
             "event": event, "payload": json.loads(json.dumps(payload))}
        e["entry_sha256"] = _sha(canonical_bytes(e))
        append_entry(jp, e)
    return e


# --------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class Difference:
    """One difference found by :func:`verify`.

    Attributes
    ----------
    kind : str
        ``entrées`` (an input file changed or missing), ``versions``,
        ``décision`` (the re-computed decision differs), ``notes`` (an
        application's score or rank differs), ``manifeste`` (the manifest was
        edited), ``journal`` (edited, truncated or broken chain), ``fichiers``
        (a published file changed), ``lettres`` (a letter of ``ditp-model lettres``
        differs from its ``lettres.json``), ``scénario``.
    message : str
        French.
    count : int
        How many differences this line stands for: 1, or the number left
        unlisted for a « … et N autre(s) écart(s) » line.
    """

    kind: str
    message: str
    count: int = 1


@dataclass(frozen=True)
class Verification:
    """Result of :func:`verify`: ``identical`` or the differences, each named."""

    manifest_path: Path
    identical: bool
    differences: tuple
    notes: tuple
    summary: str

    @property
    def kinds(self) -> set[str]:
        return {d.kind for d in self.differences}

    def text_fr(self) -> str:
        """The French report printed by ``ditp-model verify``."""
        lines = [f"Vérification de {self.manifest_path}"]
        if self.identical:
            lines.append(f"Résultat : identique — {self.summary}")
        else:
            n = sum(d.count for d in self.differences)
            listed = sum(1 for d in self.differences if d.count == 1)
            shown = "" if listed == n else f" ({listed} listés, les autres comptés par type)"
            lines.append(f"Résultat : DIFFÉRENT — {n} écart{'s' if n > 1 else ''}{shown} :")
            lines += [f"  [{d.kind}] {d.message}" for d in self.differences]
        if self.notes:
            lines.append("Remarques :")
            lines += [f"  - {x}" for x in self.notes]
        return "\n".join(lines)


def _leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, obj


def _label(path: str) -> str | None:
    """French name of a manifest field; None for derived fields not worth a line."""
    head, _, rest = path.partition(".")
    if head == "weights":
        kind, _, crit = rest.partition(".")
        return None if kind == "normalised" else f"pondération « {crit} »"
    if head == "parameters":
        return f"paramètre « {rest} »"
    if head == "inputs":
        return f"empreinte de l'entrée {rest}"
    if head == "versions":
        return f"version de {rest}"
    if head == "decision_rule":
        field_, _, crit = rest.partition(".")
        if field_ == "min_criterion":
            return f"seuil de qualité « {crit} »"
        return {**_RULE_FIELDS, "tie_band_source": "origine de δ", "not_fundable": "dossiers non finançables",
                "ex_aequo": "dossiers ex aequo", "exceptions": "exceptions à l'ordre de mérite"}.get(field_)
    return {"normalisation": "agrégation des notes", "ranking_variant": "variante de la règle du classement",
            "objective": "valeur du portefeuille", "funded_count": "nombre de lauréats", "total_awarded_eur": "total attribué",
            "decision_sha256": "empreinte de la décision"}.get(head, path)


def _show(v) -> str:
    return json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v


def _compare_fields(a: dict, b: dict, a_name: str, b_name: str) -> list[str]:
    """French lines naming each recorded field that differs between two records."""
    out = []
    for key in _RECORDED:
        la, lb = dict(_leaves(a.get(key), key)), dict(_leaves(b.get(key), key))
        for path in sorted(set(la) | set(lb)):
            va, vb = la.get(path, "(absent)"), lb.get(path, "(absent)")
            if va != vb:
                label = _label(path)
                if label:
                    out.append(f"{label} : {_show(va)} {a_name}, {_show(vb)} {b_name}")
    return out


def _roles_from_command(manifest: dict) -> dict:
    """Input roles of a version-1 manifest, read from its command line."""
    try:
        argv = shlex.split(manifest.get("command", ""))
    except ValueError:
        return {}
    by_flag = {"--call": "call", "--applications": "applications", "--reviews": "reviews"}
    out = {}
    for flag, role in by_flag.items():
        if flag in argv and argv.index(flag) + 1 < len(argv):
            path = argv[argv.index(flag) + 1]
            digest = manifest.get("inputs", {}).get(path)
            if digest:
                out[role] = {"path": path, "absolute": str(Path(path).resolve()), "sha256": digest}
    return out if len(out) == 3 else {}


def _resolve(info: dict, base: Path) -> Path | None:
    """The input file to check: beside the manifest first (a folder copied or moved with its data), then where it was.

    Order: ``relative_to_manifest`` from the manifest's folder, the recorded
    absolute path, the path as given (from the current folder), the path as
    given from the manifest's folder.
    """
    candidates = []
    if info.get("relative_to_manifest"):
        candidates.append(base / info["relative_to_manifest"])
    for key in ("absolute", "path"):
        if info.get(key):
            candidates.append(Path(info[key]))
    if info.get("path") and not Path(info["path"]).is_absolute():
        candidates.append(base / info["path"])
    for c in candidates:
        if c.is_file():
            return c
    return None


def replay_params(manifest: dict):
    """The :class:`AllocationParams` of a replay: the recorded parameters, with the recorded rule.

    A manifest's ``parameters.rule`` may be None (the call's rule); the rule
    actually applied is in ``decision_rule.name``, and the replay applies it,
    whatever the call now says.  δ and the thresholds are the recorded
    parameters (None: the call's), so a call that now declares other values
    shows up as a difference (:func:`rule_changes`).
    """
    from dataclasses import replace

    from ditp_model.rules.manifest import allocation_params_from_manifest

    params = allocation_params_from_manifest(manifest["parameters"])
    name = (manifest.get("decision_rule") or {}).get("name")
    return replace(params, rule=name) if name else params


def rule_changes(recorded: dict | None, now: dict) -> list[str]:
    """French lines naming each field of the decision rule (rule, variant, δ, thresholds) that differs at the replay."""
    if not recorded:
        return []
    out = []
    for key, label in _RULE_FIELDS.items():
        a, b = recorded.get(key, "(absent)"), now.get(key, "(absent)")
        if key == "ranking_variant" and "ranking" not in (recorded.get("name"), now.get("name")):
            continue
        if isinstance(a, float) or isinstance(b, float):
            same = isinstance(a, (int, float)) and isinstance(b, (int, float)) and round(a, 4) == round(b, 4)
        else:
            same = a == b
        if not same:
            out.append(f"{label} : {_show(a)} au manifeste, {_show(b)} au re-calcul")
    return out


def recompute_decision(manifest: dict, paths: dict):
    """Re-compute a manifest's original decision (before any withdrawal or reduction) from its input files.

    The one replay path of a recorded decision, used by :func:`verify` and by
    ``ditp-model desistement`` / ``reduction``
    (:func:`ditp_model.outputs.updates.recorded_decision`): every recorded
    input is read as the decision read it — call, applications, reviews and,
    when recorded, the declarations of conflicts of interest (their reviews
    excluded) — scored with the recorded weights and normalisation, and
    decided with the recorded parameters (envelope, thresholds, locks and
    their reasons, δ…) and rule (:func:`replay_params`).

    Parameters
    ----------
    manifest : dict
    paths : dict of str -> Path
        Role (``call``, ``applications``, ``reviews``, optionally ``conflicts``) -> file.

    Returns
    -------
    tuple
        ``(evaluation, allocation, ranking, table)``; ``table`` is the decision
        table without explanations, None when the allocation is not proven.
    """
    from ditp_model.rules.allocation import allocate, ranking_rule
    from ditp_model.inputs.conflicts import load_inputs_with_conflicts
    from ditp_model.scoring.pipeline import evaluate
    from ditp_model.rules.manifest import decision_table
    from ditp_model.scoring.aggregate import Weights

    inputs = load_inputs_with_conflicts(paths["call"], paths["applications"], paths["reviews"], paths.get("conflicts"))
    weights = Weights(tuple((k, float(v)) for k, v in manifest["weights"]["raw"].items()))
    ev = evaluate(inputs, weights, manifest.get("normalisation") or None)
    params = replay_params(manifest)
    alloc = allocate(ev, params)
    if not alloc.is_optimal:
        return ev, alloc, None, None
    # the variant the decision used: a report records it at the top, allocate in its parameters (--ranking-variant)
    ranking = ranking_rule(ev, params, manifest.get("ranking_variant") or params.ranking_variant)
    return ev, alloc, ranking, decision_table(ev, alloc, ranking, None)


def _rerun(manifest: dict, paths: dict):
    from ditp_model.rules.manifest import decision_rule_record

    ev, alloc, _, table = recompute_decision(manifest, paths)
    if table is None:
        return None, alloc, None
    if manifest.get("withdrawals"):  # a decision updated after withdrawals or reductions: replay them in order
        from ditp_model.timeline.withdrawal import replay_recorded

        table = replay_recorded(ev, alloc, table, manifest["withdrawals"])
    return table, alloc, decision_rule_record(ev, alloc)


def _decision_fr(funded: bool, award: int) -> str:
    return f"financé {format_eur(award)}" if funded else "non financé"


def _score_fr(s) -> str:
    return "non noté" if s is None or (isinstance(s, float) and math.isnan(s)) else format_points(s)


def read_decision_manifest(manifest_path: str | Path) -> dict:
    """Read a decision's ``manifest.json`` (``allocate``, ``report``, or an update).

    Raises
    ------
    ditp_model.inputs.schema.InputError
        The file cannot be read, is not JSON, or is not a decision manifest
        (no ``decision_sha256``), in French, naming the file.
    """
    from ditp_model.inputs.schema import InputError, Problem

    mp = Path(manifest_path)
    try:
        manifest = json.loads(mp.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or "decision_sha256" not in manifest:
            raise ValueError("ce fichier n'est pas un manifeste de décision (clé decision_sha256 absente)")
    except OSError as exc:
        raise InputError(Problem(str(mp), None, None, None, f"manifeste illisible : {exc.strerror}", "unreadable")) from None
    except ValueError as exc:
        raise InputError(Problem(str(mp), None, None, None, f"manifeste illisible : {exc}", "bad_manifest")) from None
    return manifest


def verify(manifest_path: str | Path, *, rerun: bool = True, conflicts: str | Path | None = None) -> Verification:
    """Check a published decision against its record, and re-compute it.

    Checks, in order: the manifest's own hash; the journal (whole chain, the
    entry the manifest points to, the manifest's fields against the entry's
    copy, the published files' hashes); each input file's SHA-256 (and the
    scenario file's, with the weights and rules it now holds); the package
    and solver versions; then re-reads the inputs and re-computes the
    decision with the recorded weights, parameters and decision rule
    (:func:`replay_params`), comparing the rule as resolved (rule, variant,
    δ, quality thresholds: :func:`rule_changes`), the decision hash and every
    application's decision, score and rank.  A report left in the folder
    from before a withdrawal or a reduction (manifest ``stale_report``) is
    said first among the remarks: « ATTENTION : le rapport décrit la
    décision avant le désistement n° N du JJ/MM/AAAA ; publier un nouveau
    rapport (ditp-model report) ».

    Parameters
    ----------
    manifest_path : path
    rerun : bool
        Re-compute the decision (default).  Without it only hashes are checked.
    conflicts : path, optional
        Declarations of conflicts of interest made after the decision: the
        re-computation reads them in place of the recorded ones (if any), and
        every score and decision they change is listed as a difference.

    Returns
    -------
    Verification

    Raises
    ------
    ditp_model.inputs.schema.InputError
        The manifest cannot be read (French).
    """

    mp = Path(manifest_path)
    manifest = read_decision_manifest(mp)
    base = mp.resolve().parent
    diffs: list[Difference] = []
    notes: list[str] = []
    _check_manifest_hashes(manifest, diffs, notes)                                         # 1.
    journal_summary = _check_journal_entry(manifest, base, diffs, notes)                   # 2.
    _check_published_folder(manifest, base, mp.name, diffs, notes)                         # 2b.
    roles, paths = _check_inputs(manifest, base, conflicts, diffs, notes)                  # 3.
    _check_versions(manifest, diffs, notes)                                                # 4.
    summary_decision = _check_recomputation(manifest, roles, paths, rerun, diffs, notes)   # 5.
    stale = manifest.get("stale_report") or {}
    shown = [n for n in stale.get("files") or [] if (base / n).exists()]
    if shown:  # a report left from before a withdrawal or reduction (ditp_model.outputs.updates.stale_report_record)
        notes.insert(0, f"ATTENTION : {stale.get('note_fr')} ({', '.join(shown)} dans {base})")

    parts = [f"mêmes entrées ({len(paths)} fichiers)", "mêmes versions"]
    if any(n.startswith("ATTENTION") for n in notes):
        parts.insert(0, "ATTENTION : des fichiers du dossier décrivent une décision antérieure (voir les remarques)")
    if summary_decision:
        parts.append(summary_decision)
    if journal_summary:
        parts.append(journal_summary)
    return Verification(mp, not diffs, tuple(diffs), tuple(notes), ", ".join(parts) + ".")


# The steps of :func:`verify`, in order.  Each appends to `diffs` (the differences) and `notes` (the remarks).


def _check_manifest_hashes(manifest: dict, diffs: list, notes: list) -> None:
    """Step 1: the manifest's own hash, and the decision list against the decision hash."""
    from ditp_model.rules.manifest import decision_hash

    own = manifest.get("manifest_sha256")
    if own is None:
        notes.append("manifeste sans empreinte propre (produit par « ditp-model allocate ») : pas de journal à vérifier")
    elif manifest_digest(manifest) != own:
        diffs.append(Difference("manifeste", "manifeste modifié après sa publication : son contenu ne correspond plus à "
                                             "son empreinte SHA-256"))
    if manifest.get("decisions"):
        listed = [{"application_id": r["application_id"], "funded": r["funded"], "award_eur": r["award_eur"]}
                  for r in manifest["decisions"]]
        if decision_hash(pd.DataFrame(listed)) != manifest["decision_sha256"]:
            diffs.append(Difference("manifeste", "la liste des décisions du manifeste ne correspond pas à son empreinte de décision"))


def _check_journal_entry(manifest: dict, base: Path, diffs: list, notes: list) -> str:
    """Step 2: the whole journal chain, the entry the manifest points to, its copy of the manifest's fields.

    Returns the summary « journal intègre (…) » when the chain is intact and the entry found, else "".
    """
    own = manifest.get("manifest_sha256")
    jinfo = manifest.get("journal")
    journal_summary = ""
    if jinfo:
        jp = Path(jinfo["path"])
        jp = jp if jp.is_absolute() else base / jp
        if not jp.exists():
            diffs.append(Difference("journal", f"journal introuvable : {jp}"))
        else:
            state = read_journal(jp)
            diffs += [Difference("journal", x) for x in state.problems]
            seq = jinfo.get("seq")
            match = [e for e in state.entries if e.get("seq") == seq]
            if not match:
                diffs.append(Difference("journal", f"journal tronqué : le manifeste renvoie à l'entrée n° {seq}, le journal "
                                                   f"n'en contient que {len(state.entries)}"))
            else:
                entry = match[0]
                if entry.get("manifest_sha256") != own:
                    diffs.append(Difference("journal", f"l'entrée n° {seq} du journal ne correspond pas à ce manifeste "
                                                       "(empreintes différentes)"))
                if entry.get("previous_sha256") != jinfo.get("previous_sha256"):
                    diffs.append(Difference("journal", f"l'entrée n° {seq} ne suit pas l'entrée que le manifeste indique "
                                                       "(chaînage différent)"))
                for line in _compare_fields(entry, manifest, "au journal", "dans le manifeste"):
                    diffs.append(Difference("manifeste", line))
                diffs += [Difference("journal", x) for x in _update_changes(entry, manifest)]
                diffs += [Difference("journal", x) for x in _anchor_changes(entry, manifest, jinfo, state)]
                if "published_files" not in manifest:
                    diffs += _file_changes(base, {n: d for n, d in entry.get("files", {}).items() if n != "manifest.json"},
                                           manifest)
            journal_summary = (f"journal intègre (entrée n° {seq} sur {len(state.entries)}, tête {state.head[:12]}…)"
                               if state.intact and match else "")
    elif own is not None:
        notes.append("aucun journal indiqué par le manifeste")
    return journal_summary


def _check_published_folder(manifest: dict, base: Path, manifest_name: str, diffs: list, notes: list) -> None:
    """Step 2b: no interrupted publication; the printed journal anchor; every published file, and nothing else."""
    from ditp_model.outputs.verify_folder import archives_notes_fr, extra_files_fr
    from ditp_model.publication import LOCK_NAME, _stale, lock_holder

    jinfo = manifest.get("journal")
    holder = lock_holder(base)
    if holder is not None and _stale(holder, base / LOCK_NAME) is None:
        # e.g. ditp-model lettres writing its folder, or allocate publishing: what is read now may be half-written
        diffs.append(Difference("fichiers", f"une autre commande écrit dans {base} en ce moment "
                                            f"({holder.get('command') or 'commande inconnue'}) : le dossier peut être "
                                            "incomplet ; relancer verify quand elle aura fini"))
    pending = pending_publication(base)
    if pending is not None:
        diffs.append(Difference("fichiers", f"publication interrompue dans {base} (dossier {STAGING_NAME}) : le dossier "
                                            "peut mêler l'ancien et le nouvel ensemble ; relancer la commande pour la terminer "
                                            "ou l'annuler"))
    page = base / "rapport.html"
    if jinfo and "recorded_at" in jinfo and page.is_file():
        diffs += [Difference("journal", x) for x in _printed_anchor_changes(page.read_text(encoding="utf-8", errors="replace"),
                                                                            jinfo)]
    if "published_files" in manifest:
        listed = manifest.get("published_files") or {}
        diffs += _file_changes(base, listed, manifest)
        extra, others = _extra_files(base, manifest, set(listed) | {manifest_name}, jinfo)
        diffs += [Difference("fichiers", m) for m in extra_files_fr(extra)]
        others = _check_letters_folders(base, manifest, others, diffs, notes)
        if others:
            notes.append("fichiers d'autres commandes dans le dossier, non vérifiés : " + ", ".join(others))
        notes += archives_notes_fr(base)


def _check_letters_folders(base: Path, manifest: dict, others: list[str], diffs: list, notes: list) -> list[str]:
    """The letters folders (``ditp-model lettres``) beside the manifest checked against their ``lettres.json``.

    Each file of ``others`` (other commands' outputs) in a folder holding a ``lettres.json`` is
    checked (:func:`ditp_model.outputs.letters.letters_folder_differences`): a letter replaced,
    forged, added or removed is a difference.  Letters written for another decision than the
    manifest's (the decision before a withdrawal, a reduction or a new report) are said first among
    the remarks when the command that superseded them recorded it (``stale_letters``), else they are
    a difference (:func:`ditp_model.outputs.letters_check.stale_letters_line`).  Returns the files of
    `others` left unchecked.
    """
    from ditp_model.outputs.letters import MARKER
    from ditp_model.outputs.letters_check import letters_folder_differences, stale_letters_line

    folders = sorted({Path(n).parts[0] for n in others if len(Path(n).parts) > 1 and (base / Path(n).parts[0] / MARKER).is_file()})
    for f in folders:
        found = letters_folder_differences(base / f)
        diffs += [Difference("lettres", x) for x in found]
        # letters of another decision than the one in force (trial 1, item 3): recorded by the command that
        # superseded them (manifest ``stale_letters``): a warning first among the remarks; not recorded: a difference
        stale, recorded = stale_letters_line(base / f, manifest)
        if stale and recorded:
            notes.insert(0, f"ATTENTION : {stale}")
        elif stale:
            diffs.append(Difference("lettres", stale))
        if not found and not stale:
            notes.append(f"lettres vérifiées ({f}/{MARKER}) : chaque fichier a l'empreinte SHA-256 enregistrée, "
                         "pour la décision en vigueur")
    return [n for n in others if Path(n).parts[0] not in folders]


def _check_inputs(manifest: dict, base: Path, conflicts, diffs: list, notes: list) -> tuple[dict, dict[str, Path]]:
    """Step 3: each input file's SHA-256, the conflicts declared since (when given), the scenario file.

    Returns the recorded roles and the path found for each (role -> path).
    """
    from ditp_model.inputs.io import sha256_file

    roles = manifest.get("input_files") or _roles_from_command(manifest)
    paths: dict[str, Path] = {}
    if not roles:
        diffs.append(Difference("entrées", "le manifeste ne dit pas quel fichier est quelle entrée : re-calcul impossible"))
    for role, info in roles.items():
        shown = info.get("path", "?")
        p = _resolve(info, base)
        if p is None:
            diffs.append(Difference("entrées", f"entrée introuvable ({_ROLE_FR.get(role, role)}) : {shown}"))
            continue
        paths[role] = p
        if info.get("absolute") and p.resolve() != Path(info["absolute"]).resolve():
            notes.append(f"{_ROLE_FR.get(role, role)} lues à côté du manifeste : {p} (enregistré : {info['absolute']})")
        cur = sha256_file(p)
        if cur != info.get("sha256"):
            diffs.append(Difference("entrées", f"entrée modifiée ({_ROLE_FR.get(role, role)}) : {shown} — SHA-256 "
                                               f"{str(info.get('sha256'))[:12]}… au manifeste, {cur[:12]}… aujourd'hui"))
    if conflicts is not None:
        recorded = (roles.get("conflicts") or {}).get("sha256")
        if recorded is None or sha256_file(conflicts) != recorded:
            diffs.append(Difference("entrées", f"déclarations de conflits d'intérêts lues dans {conflicts}, "
                                               + ("absentes du manifeste" if recorded is None else "autres que celles du manifeste")))
        paths["conflicts"] = Path(conflicts)
    sc = manifest.get("scenario")
    if sc:
        sp = _resolve({"absolute": sc.get("path"), "path": sc.get("path")}, base)
        if sp is None:
            diffs.append(Difference("entrées", f"scénario introuvable : {sc.get('path')}"))
        elif sha256_file(sp) != sc.get("sha256"):
            diffs.append(Difference("entrées", f"scénario modifié : {sc.get('path')}"))
            diffs += [Difference("scénario", x) for x in _scenario_changes(sp, manifest)]
    return roles, paths


def _check_versions(manifest: dict, diffs: list, notes: list) -> None:
    """Step 4: the package versions and the solver's (a difference each; another platform is a note)."""
    from ditp_model.rules.allocation import solver_version
    from ditp_model.rules.manifest import environment_versions

    current = environment_versions()
    for k, v in (manifest.get("versions") or {}).items():
        if k == "platform":
            if current.get(k) != v:
                notes.append(f"plateforme différente : {v} au manifeste, {current.get(k)} aujourd'hui")
            continue
        if current.get(k) != v:
            diffs.append(Difference("versions", f"version de {k} : {v} au manifeste, {current.get(k)} aujourd'hui"))
    solver = manifest.get("solver") or {}
    # A rule decided without a solver (the ranking rule: solver « aucun ») records how it computed, not a solver version.
    if solver.get("name") in ("highs", "cbc") and solver.get("version"):
        try:
            now = solver_version(solver["name"])
        except Exception as exc:  # noqa: BLE001 - a missing solver is a difference, not a crash
            now = f"indisponible ({exc})"
        if now != solver["version"]:
            diffs.append(Difference("versions", f"solveur : {solver['version']} au manifeste, {now} aujourd'hui"))


def _check_recomputation(manifest: dict, roles: dict, paths: dict, rerun: bool, diffs: list, notes: list) -> str:
    """Step 5: re-compute the decision with the recorded rule and parameters; compare rule, hash, each application.

    Returns the summary « même décision (…) », or "" when not re-computed.
    """
    from ditp_model.inputs.schema import InputError
    from ditp_model.rules.manifest import decision_hash

    summary_decision = ""
    if rerun and roles and set(roles) <= set(paths) and {"call", "applications", "reviews"} <= set(paths):
        try:
            table, alloc, rule_now = _rerun(manifest, paths)
        except (InputError, ValueError, KeyError) as exc:
            diffs.append(Difference("décision", f"re-calcul impossible : {exc}"))
        else:
            diffs += [Difference("règle", x) for x in rule_changes(manifest.get("decision_rule"), rule_now or {})]
            applied = (manifest.get("decision_rule") or {}).get("name")
            given = (manifest.get("parameters") or {}).get("rule")
            if applied and given and given != applied:
                diffs.append(Difference("règle", f"règle de décision : « {given} » dans les paramètres du manifeste, "
                                                 f"« {applied} » enregistrée comme appliquée (re-calcul avec « {applied} »)"))
            if table is None:
                diffs.append(Difference("décision", f"décision non reproduite : {alloc.status.label_fr} — {alloc.message}"))
            else:
                new_hash = decision_hash(table)
                diffs += _decision_changes(manifest, table, new_hash)
                n = int(table["funded"].sum())
                detail = (f"{count_fr(n, 'lauréat', none='aucun lauréat')}, {format_eur(int(table['award_eur'].sum()))}, "
                          f"empreinte {manifest['decision_sha256'][:12]}…")
                summary_decision = f"même décision ({detail})"
                if new_hash == manifest["decision_sha256"] and diffs:
                    notes.append(f"la décision recalculée est néanmoins la même ({detail})")
    elif not rerun:
        notes.append("décision non recalculée (--sans-recalcul) : seules les empreintes sont vérifiées")
    if rerun and manifest.get("withdrawals"):
        notes.append("décision mise à jour : la décision d'origine est recalculée à partir des entrées, puis les "
                     "changements enregistrés sont rejoués dans l'ordre : "
                     + " ; ".join(f"{'désistement' if w.get('kind') == 'desistement' else 'réduction'} de "
                                  f"{w.get('application_id')}" for w in manifest["withdrawals"]))
    return summary_decision


#: Files that other ``ditp-model`` commands write into an output folder (not part of a decision's set).
_OTHER_OUTPUTS = ("scores.csv", "probabilites_financement.csv", "tirage_au_sort.json", "candidatures.csv", "evaluations.csv",
                  "rapport_import.json", "donnees_personnelles.csv", "experts.csv")
#: Folders other commands write beside a manifest (``ditp-model lettres``: ``lettres/`` by default).
_OTHER_FOLDERS = ("lettres",)


def _file_changes(base: Path, listed: dict, manifest: dict | None = None) -> list[Difference]:
    """A difference for each published file (name -> SHA-256) missing from `base` or changed since."""
    from ditp_model.inputs.io import sha256_file

    out = []
    for name, digest in sorted(listed.items()):
        f = base / name
        if not f.is_file():
            out.append(Difference("fichiers", f"fichier publié absent : {name}"))
        elif sha256_file(f) != digest:
            detail = ""
            if name == "allocation.csv" and manifest is not None:  # which cells (trial 1, S1)
                from ditp_model.outputs.verify_table import table_changes_fr

                detail = table_changes_fr(f, manifest)
            out.append(Difference("fichiers", f"fichier publié modifié depuis la publication : {name}"
                                              + (f" — {detail}" if detail else "")))
    return out


def _extra_files(base: Path, manifest: dict, published: set, jinfo: dict | None) -> tuple[list[str], list[str]]:
    """Files in the published folder that the publication does not contain: (unexplained, other commands' outputs).

    Left out: the published set, the journal, the decision's input files and
    scenario, the lock and the staging folder of the publication machinery.
    """
    skip = set()
    if jinfo and jinfo.get("path"):
        jp = Path(jinfo["path"])
        skip.add((jp if jp.is_absolute() else base / jp).resolve())
    for info in (manifest.get("input_files") or {}).values():
        p = _resolve(info, base)
        if p is not None:
            skip.add(p.resolve())
    sc = (manifest.get("scenario") or {}).get("path")
    if sc:
        skip.add(Path(sc).resolve())
    extra, others = [], []
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base)
        if (not p.is_file() or rel.parts[0] in INTERNAL_NAMES or rel.parts[0] == ARCHIVE_DIR or rel.as_posix() in published
                or p.resolve() in skip):
            continue
        other = ((len(rel.parts) == 1 and rel.name in _OTHER_OUTPUTS) or (len(rel.parts) > 1 and rel.parts[0] in _OTHER_FOLDERS)
                 or (rel.as_posix() == JOURNAL_NAME and events_only_journal(p)))
        (others if other else extra).append(rel.as_posix())
    return extra, others


#: Journal events that publish a decision (a report, or its update); the others (a lottery, a seed announced) do not.
PUBLICATION_EVENTS = ("rapport", "desistement", "reduction")


def events_only_journal(path: str | Path) -> bool:
    """Whether the journal `path` records no decision publication (only e.g. lottery draws, ``ditp-model lottery``).

    Such a journal beside an ``allocate`` decision is another command's output, not a publication it
    would leave stale.  An unreadable or empty journal is not (False).
    """
    try:
        entries = read_journal(path).entries
    except (OSError, ValueError):
        return False
    return bool(entries) and all(e.get("event") not in PUBLICATION_EVENTS for e in entries)


def _printed_anchor_changes(page: str, jinfo: dict) -> list[str]:
    """French lines when the anchor printed in the report (:func:`journal_anchor_html`) differs from the manifest's."""
    import html
    import re

    found = {key: re.search(rf'id="{name}">([^<]*)<', page) for key, name in
             (("seq", "ancrage-seq"), ("recorded_at", "ancrage-date"), ("previous_sha256", "ancrage-precedente"))}
    if not any(found.values()):
        return ["le rapport n'imprime pas l'ancrage de son entrée au journal"]
    out = []
    labels = {"seq": "numéro d'entrée", "recorded_at": "date d'inscription", "previous_sha256": "entrée précédente"}
    for key, m in found.items():
        printed = html.unescape(m.group(1)) if m else "(absent)"
        if printed != str(jinfo.get(key)):
            out.append(f"ancrage imprimé dans le rapport : {labels[key]} « {printed} », « {jinfo.get(key)} » au manifeste")
    return out


def _anchor_changes(entry: dict, manifest: dict, jinfo: dict, state: JournalState) -> list[str]:
    """French lines when the journal entry of this publication was rewritten (its own hash recomputed or not).

    The manifest keeps the entry's fields that nothing else records (date,
    folder) and the command: the entry must agree with them.  The chain
    cannot show a rewrite of the journal's last entry; this anchor outside
    the journal does.
    """
    out = []
    seq = entry.get("seq")
    expected = {"command": manifest.get("command", ""), "seq": jinfo.get("seq"), "previous_sha256": jinfo.get("previous_sha256")}
    if "recorded_at" in jinfo:  # sealed by publish(): a report's entry (an update's entry names its own event)
        expected["event"] = "rapport"
        expected["recorded_at"] = jinfo["recorded_at"]
        expected["out_dir"] = jinfo.get("out_dir")
    names = {"event": "nature", "command": "commande", "seq": "numéro", "previous_sha256": "chaînage",
             "recorded_at": "date d'inscription", "out_dir": "dossier de publication"}
    for key, value in expected.items():
        if entry.get(key) != value:
            out.append(f"l'entrée n° {seq} du journal a été réécrite : {names[key]} « {_show(entry.get(key))} » au journal, "
                       f"« {_show(value)} » au manifeste")
    return out


def _decision_changes(manifest: dict, table, new_hash: str) -> list[Difference]:
    """Per-application differences between the recorded decisions and the re-computed table.

    Score changes are listed largest first (a changed review moves its
    application most, and every other score a little when reviews are
    normalised per reviewer), then decision changes, then the hash.
    """
    out: list[Difference] = []
    recorded = {r["application_id"]: r for r in manifest.get("decisions") or []}
    score_lines: list[tuple[float, str]] = []
    decision_lines: list[str] = []
    for a, s, rk, f, w in zip(table["application_id"], table["score"], table["rank"], table["funded"], table["award_eur"]):
        r = recorded.get(str(a))
        if r is None:
            if recorded:
                decision_lines.append(f"{a} : absent du manifeste, {_decision_fr(bool(f), int(w))} au re-calcul")
            continue
        s_new = None if pd.isna(s) else round(float(s), 4)
        rk_new = None if pd.isna(rk) else int(rk)
        if r.get("score") != s_new:
            delta = abs((s_new or 0.0) - (r.get("score") or 0.0)) if None not in (s_new, r.get("score")) else math.inf
            score_lines.append((delta, f"note de {a} : {_score_fr(r.get('score'))} au manifeste, {_score_fr(s_new)} au re-calcul"))
        elif r.get("rank") != rk_new:
            score_lines.append((0.0, f"rang de {a} : {r.get('rank')} au manifeste, {rk_new} au re-calcul"))
        if bool(r.get("funded")) != bool(f) or int(r.get("award_eur", 0)) != int(w):
            decision_lines.append(f"{a} : {_decision_fr(bool(r.get('funded')), int(r.get('award_eur', 0)))} au manifeste, "
                                  f"{_decision_fr(bool(f), int(w))} au re-calcul")
    missing = sorted(set(recorded) - {str(a) for a in table["application_id"]})
    decision_lines += [f"{a} : au manifeste, absent des entrées actuelles" for a in missing]
    score_lines.sort(key=lambda x: -x[0])
    for lines, kind, limit in (([x for _, x in score_lines], "notes", MAX_SCORES_LISTED), (decision_lines, "décision", MAX_LISTED)):
        out += [Difference(kind, x) for x in lines[:limit]]
        if len(lines) > limit:
            out.append(Difference(kind, f"… et {len(lines) - limit} autre(s) écart(s) du même type, plus petits"
                                  if kind == "notes" else f"… et {len(lines) - limit} autre(s) écart(s) du même type",
                                  len(lines) - limit))
    if new_hash != manifest["decision_sha256"]:
        out.append(Difference("décision", f"décision changée : empreinte {manifest['decision_sha256'][:12]}… au manifeste, "
                                          f"{new_hash[:12]}… au re-calcul"))
    return out


def _scenario_changes(path: Path, manifest: dict) -> list[str]:
    """French lines naming what a changed scenario file now says differently from the manifest."""
    from ditp_model.rules.manifest import _params_dict
    from ditp_model.rules.scenario import scenario_params
    from ditp_model.rules.scenario import load_scenario
    from ditp_model.inputs.schema import InputError

    try:
        sc = load_scenario(path)
    except InputError as exc:
        return [f"scénario illisible : {exc}"]
    now = {"weights": {"raw": sc.weights.as_dict()}, "normalisation": sc.normalisation, "ranking_variant": sc.ranking_variant,
           "parameters": _params_dict(scenario_params(sc))}
    rec = {"weights": {"raw": (manifest.get("weights") or {}).get("raw")}, "normalisation": manifest.get("normalisation"),
           "ranking_variant": manifest.get("ranking_variant"),
           "parameters": {k: v for k, v in (manifest.get("parameters") or {}).items() if k in now["parameters"]}}
    return _compare_fields(rec, now, "au manifeste", "dans le scénario")


def record_lottery(lottery, journal_path, *, governance: dict | None = None) -> dict:
    """Write a grey-zone draw (:class:`ditp_model.uncertainty.grey_zone.Lottery`) into the decision journal (event ``tirage_au_sort``, chained like the reports).

    Parameters
    ----------
    governance : dict, optional
        Added to the draw's record: ``seed_announcement`` (the journal entry that announced the
        seed, :meth:`ditp_model.uncertainty.lottery_governance.SeedChoice.record`), ``motif`` and
        what the draw replaces (:mod:`ditp_model.uncertainty.lottery_governance`).

    Returns
    -------
    dict
        The journal entry (see :func:`ditp_model.outputs.record.append_event`).

    Raises
    ------
    ValueError
        The journal announced another seed for the same inputs and weights (French); nothing is written.
    JournalError
        The journal is damaged.
    """
    from ditp_model.uncertainty.lottery_governance import announcements

    record = {**lottery.record, **(governance or {})}
    announced = announcements(check_journal(journal_path).entries, record.get("inputs_sha256") or {}, record.get("weights"))
    seed = (announced[0].get("payload") or {}).get("seed") if announced else None
    if seed is not None and int(seed) != int(record["seed"]):
        raise ValueError(f"tirage non inscrit : la graine annoncée au journal pour ces entrées et pondérations est {seed} "
                         f"(entrée n° {announced[0]['seq']}), le tirage a utilisé {record['seed']}")
    return append_event(journal_path, "tirage_au_sort", record)


def record_seed_announcement(journal_path, payload: dict) -> dict:
    """Announce the seed of a lottery in the decision journal before any probability is computed (event ``graine_annoncee``).

    `payload`: ``inputs_sha256``, ``weights`` (normalised, 6 decimals), and ``seed`` (int) or
    ``public_source`` (the public value named in advance); see
    :mod:`ditp_model.uncertainty.lottery_governance`.
    """
    return append_event(journal_path, "graine_annoncee", payload)



def _update_changes(entry: dict, manifest: dict) -> list[str]:
    """French lines when the journal entry of a decision updated after a withdrawal or a reduction
    (:mod:`ditp_model.outputs.updates`) and its manifest disagree on the changes or on the manifest updated."""
    out = []
    for key, label in (("withdrawals", "désistements et réductions"), ("previous_manifest", "manifeste précédent")):
        if key in entry or key in manifest:
            if entry.get(key) != manifest.get(key):
                out.append(f"{label} : {_show(entry.get(key))} au journal, {_show(manifest.get(key))} dans le manifeste")
    return out
