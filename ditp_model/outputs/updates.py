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
                                       canonical_bytes, check_journal, journal_entry, replay_params, seal_manifest)

__all__ = ["UPDATE_EVENTS", "publish_update", "RecordedDecision", "recorded_decision"]

#: Journal events of a decision updated after it was published (:mod:`ditp_model.timeline.withdrawal`).
UPDATE_EVENTS = ("desistement", "reduction")


def publish_update(out_dir: str | Path, files: dict[str, bytes], manifest: dict, *, event: str,
                   journal_path: str | Path) -> Publication:
    """:func:`publish` for a decision updated after a withdrawal or a reduction (event ``desistement`` or ``reduction``).

    Same steps under the same lock (journal checked, manifest sealed at the next position, files
    written atomically, manifest last, entry appended); the entry's ``event`` is `event` and it
    copies the manifest's ``withdrawals`` (every change since the decision) and
    ``previous_manifest`` (the manifest it updates: path and ``manifest_sha256``), which
    :func:`verify` compares with the manifest.
    """
    from ditp_model.rules.manifest import manifest_bytes, write_outputs

    if event not in UPDATE_EVENTS:
        raise ValueError(f"événement « {event} » : {', '.join(UPDATE_EVENTS)} attendu")
    out = Path(out_dir)
    jp = Path(journal_path)
    with _locked(jp.parent):
        state = check_journal(jp)
        seq = len(state.entries) + 1
        sealed = seal_manifest(manifest, out_dir=out, journal_path=jp, seq=seq, previous=state.head)
        all_files = {**files, "manifest.json": manifest_bytes(sealed)}
        written = write_outputs(out, all_files)
        entry = journal_entry(sealed, all_files, seq=seq, previous=state.head, out_dir=out)
        entry.pop("entry_sha256")
        entry["event"] = event
        entry["withdrawals"] = sealed.get("withdrawals")
        entry["previous_manifest"] = sealed.get("previous_manifest")
        entry["entry_sha256"] = _sha(canonical_bytes(entry))
        append_entry(jp, entry)
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
        Its decision table (without explanations), before the recorded changes.
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
    from ditp_model.inputs.io import load_inputs
    from ditp_model.inputs.schema import InputError, Problem
    from ditp_model.rules.allocation import allocate, ranking_rule
    from ditp_model.rules.manifest import decision_table
    from ditp_model.scoring.aggregate import Weights
    from ditp_model.scoring.pipeline import evaluate

    mp = Path(manifest_path)
    try:
        manifest = json.loads(mp.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or "decision_sha256" not in manifest:
            raise ValueError("ce fichier n'est pas un manifeste de décision (clé decision_sha256 absente)")
    except OSError as exc:
        raise InputError(Problem(str(mp), None, None, None, f"manifeste illisible : {exc.strerror}", "unreadable")) from None
    except ValueError as exc:
        raise InputError(Problem(str(mp), None, None, None, f"manifeste illisible : {exc}", "bad_manifest")) from None
    base = mp.resolve().parent
    roles = manifest.get("input_files") or _roles_from_command(manifest)
    paths = {}
    for role in ("call", "applications", "reviews"):
        p = _resolve(roles.get(role) or {}, base)
        if p is None:
            shown = (roles.get(role) or {}).get("path", "?")
            raise InputError(Problem(str(mp), None, "input_files", shown,
                                     f"entrée introuvable ({_ROLE_FR[role]}) : {shown}", "missing_input"))
        paths[role] = p
    inputs = load_inputs(paths["call"], paths["applications"], paths["reviews"])
    weights = Weights(tuple((k, float(v)) for k, v in manifest["weights"]["raw"].items()))
    ev = evaluate(inputs, weights, manifest.get("normalisation") or None)
    params = replay_params(manifest)
    alloc = allocate(ev, params)
    if not alloc.is_optimal:
        raise ValueError(f"la décision enregistrée n'est pas reproduite : {alloc.status.label_fr} — {alloc.message}")
    ranking = ranking_rule(ev, params, manifest.get("ranking_variant", "skip"))
    jinfo = manifest.get("journal")
    jp = None
    if jinfo:
        jp = Path(jinfo["path"])
        jp = jp if jp.is_absolute() else base / jp
    return RecordedDecision(mp, manifest, ev, alloc, decision_table(ev, alloc, ranking, None), jp)
