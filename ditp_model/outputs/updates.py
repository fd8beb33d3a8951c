"""Publishing a decision updated after a withdrawal or a reduction (issue 13 item 4), next to :mod:`.record`.

:func:`publish_update` is :func:`ditp_model.outputs.record.publish` for an updated decision: same
lock, same checks, same sealing, a journal entry whose ``event`` is ``desistement`` or
``reduction`` and which copies the changes; :func:`recorded_decision` re-computes a published
decision from its manifest's inputs (what ``ditp-model desistement`` and ``reduction`` start
from).  ``verify`` replays the recorded changes (:func:`ditp_model.timeline.withdrawal.replay_recorded`).
Kept apart from :mod:`.record` so that module stays about the journal and ``verify``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ditp_model.outputs.record import (_ROLE_FR, Publication, _locked, _resolve, _roles_from_command, _sha, append_entry,
                                       canonical_bytes, check_journal, journal_entry, seal_manifest)

__all__ = ["UPDATE_EVENTS", "publish_update", "RecordedDecision", "recorded_decision", "updated_files", "stale_report_record",
           "stale_report_note", "recorded_gaps", "recorded_personal_data"]

#: Journal events of a decision updated after it was published (:mod:`ditp_model.timeline.withdrawal`).
UPDATE_EVENTS = ("desistement", "reduction")


def publish_update(out_dir: str | Path, files: dict[str, bytes], manifest: dict, *, event: str,
                   journal_path: str | Path) -> Publication:
    """:func:`publish` for a decision updated after a withdrawal or a reduction (event ``desistement`` or ``reduction``).

    Same steps under the same locks (journal checked, manifest sealed at the next position with
    the folder's files as they stand after the update in ``published_files``, files published as
    one set with the entry's append as the last step: :func:`ditp_model.publication.publish_files`); the entry's ``event`` is `event` and it
    copies the manifest's ``withdrawals`` (every change since the decision) and
    ``previous_manifest`` (the manifest it updates: path and ``manifest_sha256``), which
    :func:`verify` compares with the manifest.
    """
    from ditp_model.inputs.io import sha256_file
    from ditp_model.publication import folder_lock, publish_files, recover
    from ditp_model.rules.manifest import manifest_bytes

    if event not in UPDATE_EVENTS:
        raise ValueError(f"événement « {event} » : {', '.join(UPDATE_EVENTS)} attendu")
    out = Path(out_dir)
    jp = Path(journal_path)
    command = manifest.get("command", "") or f"mise à jour ({event})"
    with folder_lock(out, command=command), _locked(jp.parent):
        recover(out)
        state = check_journal(jp)
        seq = len(state.entries) + 1
        # The files of the folder as it stands after the update (``verify`` checks each one and flags any other):
        # the rewritten ones, and those of the updated publication still in this folder.
        listed = {name: sha256_file(out / name) for name in (manifest.get("published_files") or {})
                  if name not in files and (out / name).is_file()}
        listed.update({name: _sha(data) for name, data in files.items()})
        sealed = seal_manifest(dict(manifest, published_files=dict(sorted(listed.items()))), out_dir=out, journal_path=jp,
                               seq=seq, previous=state.head)
        all_files = {**files, "manifest.json": manifest_bytes(sealed)}
        entry = journal_entry(sealed, all_files, seq=seq, previous=state.head, out_dir=out)
        entry.pop("entry_sha256")
        entry["event"] = event
        entry["withdrawals"] = sealed.get("withdrawals")
        entry["previous_manifest"] = sealed.get("previous_manifest")
        entry["entry_sha256"] = _sha(canonical_bytes(entry))
        # one set, staged then switched in, the journal's append as its last step (ditp_model.publication)
        written = publish_files(out, all_files, command=command, commit=lambda: append_entry(jp, entry),
                                journal={"path": jp, "entry_sha256": entry["entry_sha256"]})
    return Publication(out, tuple(written), sealed, entry, jp)


@dataclass(frozen=True)
class RecordedDecision:
    """A published decision re-computed from its manifest's inputs (:func:`recorded_decision`).

    Attributes
    ----------
    manifest_path : Path
    manifest : dict
    evaluation : Evaluation
    allocation : Allocation
        The original decision (before any withdrawal or reduction).
    table : pandas.DataFrame
        Its decision table before the recorded changes, with the explanations of the decision as made
        (:func:`ditp_model.rules.explain.explain`, entry gaps computed when the decision computed them:
        :func:`recorded_gaps`).
    journal_path : Path or None
        The journal the manifest points to (None: a manifest of ``allocate``, not journaled).
    """

    manifest_path: Path
    manifest: dict
    evaluation: object
    allocation: object
    table: object
    journal_path: Path | None


def recorded_decision(manifest_path: str | Path) -> RecordedDecision:
    """Re-read a manifest's inputs and re-compute its original decision with the recorded weights, parameters and rule.

    Raises
    ------
    ditp_model.inputs.schema.InputError
        The manifest is unreadable or an input is missing (French, naming the file).
    ValueError
        No proven decision at the replay (French).
    """
    from ditp_model.inputs.schema import InputError, Problem
    from ditp_model.outputs.record import read_decision_manifest, recompute_decision
    from ditp_model.rules.explain import explain
    from ditp_model.rules.manifest import decision_table

    mp = Path(manifest_path)
    manifest = read_decision_manifest(mp)
    base = mp.resolve().parent
    roles = manifest.get("input_files") or _roles_from_command(manifest)
    missing = [r for r in ("call", "applications", "reviews") if r not in roles]
    if missing:
        raise InputError(Problem(str(mp), None, "input_files", None,
                                 f"le manifeste ne dit pas quel fichier est quelle entrée ({_ROLE_FR[missing[0]]}) : "
                                 "re-calcul impossible", "missing_input"))
    paths = {}
    for role, info in roles.items():  # every recorded input: call, applications, reviews, conflicts of interest
        p = _resolve(info or {}, base)
        if p is None:
            shown = (info or {}).get("path", "?")
            raise InputError(Problem(str(mp), None, "input_files", shown,
                                     f"entrée introuvable ({_ROLE_FR.get(role, role)}) : {shown}", "missing_input"))
        paths[role] = p
    ev, alloc, ranking, table = recompute_decision(manifest, paths)
    if table is None:
        raise ValueError(f"la décision enregistrée n'est pas reproduite : {alloc.status.label_fr} — {alloc.message}")
    # The explanations of the decision as made at selection, by the same function and with the same choice of entry
    # gaps as the decision (turn-by-turn reasons and scores needed of the merit rules; entry gaps and exit margins of
    # the optimisation rules, one solve per application, unless the decision left them out): kept for the rows an
    # update does not change (updated_table), so that the rebuilt letters explain as the original ones did.
    table = decision_table(ev, alloc, ranking, explain(ev, alloc, gaps=recorded_gaps(manifest)))
    jinfo = manifest.get("journal")
    jp = None
    if jinfo:
        jp = Path(jinfo["path"])
        jp = jp if jp.is_absolute() else base / jp
    return RecordedDecision(mp, manifest, ev, alloc, table, jp)


def recorded_gaps(manifest: dict) -> bool:
    """Whether a published decision computed entry gaps and exit margins (:func:`ditp_model.rules.explain.explain`).

    A report records it (``report.gaps``, false with ``--no-gaps``); ``allocate`` records ``explanations.gaps``;
    a manifest of ``allocate`` written before that key says it by its command (``--no-gaps``).
    """
    import shlex

    for rec in (manifest.get("report"), manifest.get("explanations")):
        if isinstance(rec, dict) and "gaps" in rec:
            return bool(rec["gaps"])
    try:
        words = shlex.split(manifest.get("command") or "")
    except ValueError:
        words = str(manifest.get("command") or "").split()
    return "--no-gaps" not in words


def recorded_personal_data(manifest: dict) -> bool:
    """Whether a published decision kept the reviewers' identities in its exports (``--with-reviewer-ids`` of
    ``report``: ``report.personal_data``, or of ``allocate``: ``reviewer_identities``); else pseudonyms."""
    return bool((manifest.get("report") or {}).get("personal_data", False) or manifest.get("reviewer_identities", False))


def stale_report_record(files, change, number: int, previous: dict, *, when=None) -> dict:
    """The manifest's ``stale_report``: the report files left describing the decision before an update.

    Parameters
    ----------
    files : list of str
        The report's files in the folder (``rapport.html``, ``rapport.pdf``), which an update cannot rebuild.
    change : ditp_model.timeline.withdrawal.Change
        The first change made after the report.
    number : int
        Its position among the recorded changes (1 for the first).
    previous : dict
        The manifest the report belongs to (its ``decision_sha256`` is recorded).
    when : datetime.date, optional
        Date of the change (default today, UTC).

    Returns
    -------
    dict
        ``files``, ``change`` (kind, number, application, date ISO), ``decision_sha256`` (the decision the
        report describes) and ``note_fr`` (:func:`stale_report_note`).
    """
    import datetime as dt

    day = when or dt.datetime.now(dt.timezone.utc).date()
    rec = {"files": list(files), "kind": change.kind, "number": int(number), "application_id": change.application_id,
           "date": day.isoformat(), "decision_sha256": previous.get("decision_sha256")}
    rec["note_fr"] = stale_report_note(rec)
    return rec


def stale_report_note(rec: dict) -> str:
    """« le rapport décrit la décision avant le désistement n° 1 du 03/12/2026 ; publier un nouveau rapport (ditp-model report) »."""
    import datetime as dt

    what = "le désistement" if rec.get("kind") == "desistement" else "la réduction"
    day = dt.date.fromisoformat(rec["date"]).strftime("%d/%m/%Y")
    return (f"le rapport décrit la décision avant {what} n° {rec['number']} du {day} ; publier un nouveau rapport "
            "(ditp-model report)")


def updated_files(rec: RecordedDecision, table, manifest: dict, *, feedback: bool) -> dict[str, bytes]:
    """The files rebuilt from the updated decision table and manifest, published with it (name -> bytes).

    ``allocation.xlsx``, the secretariat's workbook (:func:`ditp_model.outputs.workbook.workbook_bytes`: the
    decision in force, the reserve list with the applications funded since, the procedure sheet), and,
    when `feedback`, ``retours_candidats.csv`` and ``retours/<id>.md``
    (:func:`ditp_model.outputs.feedback.feedback_files`) for every application.  The explanations in the
    table are those of the decision at selection (:func:`recorded_decision`), cleared for the rows the
    updates changed (:func:`ditp_model.timeline.withdrawal.updated_table`); the letters' footer says so.
    The letters are written as the decision's were: the same arguments
    (:func:`ditp_model.outputs.feedback.decision_feedback_kwargs`: imposed applications, motifs, δ, envelope) and the
    entry gaps when the decision computed them (:func:`recorded_gaps`).  The workbook is built as the decision's
    (:func:`ditp_model.outputs.report.decision_workbook`): reviewers pseudonymised unless the decision was published
    with their identities (:func:`recorded_personal_data`).
    """
    import datetime as dt

    from ditp_model.outputs.feedback import decision_feedback_kwargs, feedback_files
    from ditp_model.outputs.record import replay_params
    from ditp_model.outputs.report import decision_workbook
    from ditp_model.rules.held import provisional_status

    from ditp_model.timeline.withdrawal import CHANGE_LABELS_FR

    ev, alloc = rec.evaluation, rec.allocation
    shown = table.assign(change=[CHANGE_LABELS_FR.get(c, c) for c in table["change"]])  # French in the workbook
    prov = provisional_status(ev, replay_params(rec.manifest)) if manifest.get("held") else None
    # produced now: the manifest's ``generated_at`` (copied from the decision updated) is the report's date
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    files = {"allocation.xlsx": decision_workbook(ev, alloc, shown, manifest, personal_data=recorded_personal_data(rec.manifest),
                                                  provisional=prov, generated_at=now)}
    if feedback:
        n = len(manifest.get("withdrawals") or [])
        footer = (f"Source : décision mise à jour après {n} changement(s) (désistement ou réduction), décision "
                  f"{manifest['decision_sha256'][:12]} ; l'explication du rang est celle de la décision de sélection.")
        files.update(feedback_files(table, ev.rules, footer=footer,
                                    **decision_feedback_kwargs(alloc, gaps_computed=recorded_gaps(rec.manifest))))
    return files
