"""The decision record: decision table, manifest, decision hash, and its writers (CSV, JSON).

What a decision is made of, written once for every view that records or publishes one: the
report (:mod:`ditp_model.outputs.report`), the journal and ``verify``
(:mod:`ditp_model.outputs.record`), feedback letters (:mod:`ditp_model.outputs.feedback`), waves
(:mod:`ditp_model.timeline.waves`) and the CLI.  It lives with the rules (below uncertainty,
timeline and outputs) because a wave makes a decision record of its own; it imports nothing
above ``rules/``.

The manifest holds SHA-256 of each input, the call rules, weights and all parameters, seeds,
package and solver versions, status, objective, tie-break rule, every application's score and
decision, and a hash of the decision table (DESIGN.md, "Reproducibility").

The CSV writer is :func:`ditp_model.inputs.tables.csv_bytes` (re-exported here), the one writer of
every CSV table a person may open; the secretariat's workbook ``allocation.xlsx`` is written above,
by :mod:`ditp_model.outputs.workbook`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from ditp_model import __version__
from ditp_model.inputs.tables import csv_bytes, neutralise_formula  # the one CSV writer, re-exported for the callers
from ditp_model.rules.allocation import RULE_LABELS_FR, Allocation, AllocationParams, GroupRule, RankingResult
from ditp_model.rules.explain import Explanation
from ditp_model.rules.held import Provisional, review_status_columns
from ditp_model.lockfile import lock_record
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.scoring.aggregate import TIE_BREAK_RULE, TIE_BREAK_RULE_FR, reviews_as_aggregated
from ditp_model.scoring.reviewer_effects import review_disagreement

__all__ = ["decision_table", "build_manifest", "decision_hash", "neutralise_formula", "write_outputs", "MANIFEST_VERSION",
           "csv_bytes", "manifest_bytes", "environment_versions", "decisions_record",
           "decision_rule_record", "allocation_params_from_manifest", "package_versions", "due_process_record"]

#: Version of the manifest layout.  2 added ``input_files`` (role of each
#: input), ``seeds`` and ``decisions`` (every application's score and decision); 3 added ``decision_rule`` (the
#: rule, δ and the quality thresholds as resolved) and the rule parameters (``rule``, ``tie_band_points``,
#: ``min_score``, ``min_criterion``) in place of ``objective``.
MANIFEST_VERSION = 3


def decision_table(evaluation: Evaluation, allocation: Allocation, ranking: RankingResult,
                   explanation: Explanation | None) -> pd.DataFrame:
    """One row per application (every application, input order): who is funded, with how much, and why.

    Columns: ``application_id``, ``title``, ``lead_org``, ``lead_org_type``,
    ``region``, ``maturity``, ``priority_reform``, ``requested_eur`` (int),
    ``eligible``, ``reasons``, ``n_reviews`` (valid reviews, after exclusions
    for a declared conflict of interest), ``review_status`` (« en attente
    d'évaluation » for an eligible application with fewer reviews than the
    call's minimum, "" otherwise), ``reviews_missing`` (int, the reviews it
    still needs, 0 otherwise), ``<criterion>_score`` (0–1),
    ``score`` (0–100), ``rank``, ``large_collective``, ``award_floor_eur``
    and ``award_cap_eur`` (bounds of a candidate, int, 0 otherwise),
    ``not_fundable`` (French: the quality threshold it fails, "" otherwise),
    ``funded`` (bool), ``award_eur`` (int), ``ranking_rule_award_eur`` (int,
    the ranking rule beside the decision, for comparison), ``entry_gap``,
    ``exit_margin`` (score points), ``keeps_out`` (French), and the columns
    of the merit rules (merit order, ranking rule): ``ex_aequo`` (bool,
    statistical tie at the funding line), ``score_needed`` (points; NaN when
    funded, not applicable or when no score on the scale suffices),
    ``better_ranked_awarded_eur``, ``left_when_turn_eur``, ``needed_eur`` (int
    euros, -1 when not applicable) and ``reason`` (``funded``, ``envelope``,
    ``limit``, ``tie``, ``none``, ``exception``, ``excluded``; "" under an
    optimisation rule, which gives no turn-by-turn reason).  Without an
    explanation these take their "not applicable" values.  Last, the lists
    (:mod:`ditp_model.rules.reserve_list`): ``list`` (``main``, ``reserve``,
    ``none``) and ``reserve_rank`` (position on the reserve list, nullable int).
    Then ``reviewer_range`` (highest minus lowest reviewer composite grade, points
    on the review scale, after the call's normalisation; NaN under two
    reviews) and ``reviewer_disagreement`` (bool, « désaccord fort entre
    évaluateurs »: the range reaches the call's ``scoring.disagreement_range``;
    :func:`ditp_model.scoring.reviewer_effects.review_disagreement`).

    Raises
    ------
    NotOptimalError
        The allocation is not a proven optimum.
    """
    t = evaluation.table
    d = allocation.decisions.set_index("application_id")
    r = ranking.decisions.set_index("application_id")
    b = allocation.candidates.table.set_index("application_id")
    crit = [f"{c}_score" for c in evaluation.rules.criterion_names]
    out = t[["application_id", "title", "lead_org", "lead_org_type", "region", "maturity", "priority_reform",
             "requested_eur", "eligible", "reasons", "n_reviews", *crit, "score", "rank", "large_collective"]].copy()
    ids = out["application_id"]
    status, missing = review_status_columns(evaluation)
    at = out.columns.get_loc("n_reviews") + 1
    out.insert(at, "review_status", status)
    out.insert(at + 1, "reviews_missing", pd.array(missing, dtype="int64"))
    out["award_floor_eur"] = [int(b.at[a, "lower_eur"]) if a in b.index else 0 for a in ids]
    out["award_cap_eur"] = [int(b.at[a, "upper_eur"]) if a in b.index else 0 for a in ids]
    out["funded"] = [bool(d.at[a, "funded"]) if a in d.index else False for a in ids]
    out["award_eur"] = pd.array([int(d.at[a, "award_eur"]) if a in d.index else 0 for a in ids], dtype="int64")
    out["ranking_rule_award_eur"] = pd.array([int(r.at[a, "award_eur"]) if a in r.index else 0 for a in ids], dtype="int64")
    nf = allocation.candidates.not_fundable
    out.insert(out.columns.get_loc("award_floor_eur"), "not_fundable", [nf.get(a, "") for a in ids])
    if explanation is not None:
        e = explanation.table.set_index("application_id")
        out["entry_gap"] = [e.at[a, "entry_gap"] for a in ids]
        out["exit_margin"] = [e.at[a, "exit_margin"] for a in ids]
        out["keeps_out"] = [e.at[a, "keeps_out"] for a in ids]
    merit = explanation is not None and "reason" in explanation.table
    for col, missing in _MERIT_COLUMNS:
        if merit:
            out[col] = [e.at[a, col] if a in e.index else missing for a in ids]
        else:
            out[col] = [missing] * len(ids)
    out["ex_aequo"] = out["ex_aequo"].astype(bool)
    for col in ("better_ranked_awarded_eur", "left_when_turn_eur", "needed_eur"):
        out[col] = pd.array([int(x) for x in out[col]], dtype="int64")
    out["score_needed"] = out["score_needed"].astype(float).round(4)
    for c in (*crit, "score"):
        out[c] = out[c].round(4)
    from ditp_model.rules.reserve_list import list_columns, reserve_ids

    out["list"], out["reserve_rank"] = list_columns(ids, out["funded"], reserve_ids(allocation, evaluation.rules.selection.reserve_list_size))

    revs = evaluation.reviews
    if not revs.empty and set(evaluation.rules.review_columns) <= set(revs.columns):
        revs = reviews_as_aggregated(revs, evaluation.rules, evaluation.normalisation)
    dis = review_disagreement(revs, evaluation.rules, evaluation.weights, ids.astype(str))
    out["reviewer_range"] = dis["reviewer_range"].to_numpy(dtype=float)
    out["reviewer_disagreement"] = dis["reviewer_disagreement"].to_numpy(dtype=bool)
    assert len(out) == len(t)
    return out


#: Columns of the merit rules' explanation copied into the decision table, with their "not applicable" value.
_MERIT_COLUMNS = (("ex_aequo", False), ("score_needed", math.nan), ("better_ranked_awarded_eur", -1),
                  ("left_when_turn_eur", -1), ("needed_eur", -1), ("reason", ""))


def decision_hash(table: pd.DataFrame) -> str:
    """SHA-256 of the decision itself: sorted ``application_id,funded,award_eur`` lines."""
    lines = sorted(f"{a},{int(f)},{int(w)}" for a, f, w in zip(table["application_id"], table["funded"], table["award_eur"]))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


_VERSIONED_PACKAGES = ("pandas", "numpy", "pulp", "highspy", "cbcbox", "openpyxl", "pydantic")


def package_versions(packages) -> dict:
    """Installed version of each package (``None`` when it is not installed)."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _versions() -> dict:
    return {"python": sys.version.split()[0], "platform": platform.platform(), "ditp_model": __version__,
            **package_versions(_VERSIONED_PACKAGES)}


def environment_versions() -> dict:
    """Python, platform and the versions of the packages that compute the decision (as in a manifest's ``versions``)."""
    return _versions()


def _params_dict(params: AllocationParams) -> dict:
    d = dataclasses.asdict(params)
    d["lock_in"] = sorted(params.lock_in)
    d["lock_out"] = sorted(params.lock_out)
    d["lock_reasons"] = dict(params.lock_reasons)
    d["group_rules"] = [dataclasses.asdict(r) for r in params.group_rules]
    if params.min_criterion is not None:
        d["min_criterion"] = [[str(k), float(v)] for k, v in params.min_criterion]
    return d


def allocation_params_from_manifest(parameters: dict) -> AllocationParams:
    """Rebuild the :class:`AllocationParams` recorded in a manifest's ``parameters`` (extra keys ignored).

    A manifest written before the decision rules (version 2) records an
    ``objective`` and no ``rule``: that run maximised the objective, so it is
    replayed with the matching optimisation rule.
    """
    from ditp_model.rules.allocation import OPTIMISATION_OBJECTIVES

    names = {f.name for f in dataclasses.fields(AllocationParams)}
    d = {k: v for k, v in parameters.items() if k in names}
    if "rule" not in parameters and parameters.get("objective"):
        by_objective = {v: k for k, v in OPTIMISATION_OBJECTIVES.items()}
        d["rule"] = by_objective.get(parameters["objective"])
    if d.get("min_criterion") is not None:
        d["min_criterion"] = tuple((str(k), float(v)) for k, v in d["min_criterion"])
    d["lock_in"] = frozenset(d.get("lock_in", ()))
    d["lock_out"] = frozenset(d.get("lock_out", ()))
    d["lock_reasons"] = dict(d.get("lock_reasons") or {})
    d["group_rules"] = tuple(GroupRule(**r) for r in d.get("group_rules", ()))
    return AllocationParams(**d)


_ROLES = ("call", "applications", "reviews", "conflicts")


def _input_files(files: dict) -> dict:
    """Role -> ``{"path", "absolute", "sha256"}``.

    Roles come from the order of :attr:`Evaluation.files`, which
    :func:`ditp_model.inputs.io.load_inputs` fills as call, applications,
    reviews, then the declarations of conflicts of interest when given.
    """
    if len(files) not in (3, 4):
        return {}
    return {role: {"path": str(path), "absolute": str(Path(path).resolve()), "sha256": digest}
            for role, (path, digest) in zip(_ROLES, files.items())}


def decisions_record(table: pd.DataFrame) -> list[dict]:
    """Every application's eligibility, score, rank and decision, JSON-ready (input order).

    Keys: ``application_id``, ``eligible``, ``score`` (points, 4 decimals, or
    None), ``rank`` (int or None), ``funded``, ``award_eur``,
    ``ranking_rule_award_eur``.  ``verify`` compares them one by one.
    """
    rows = []
    for a, el, s, rk, f, w, rw in zip(table["application_id"], table["eligible"], table["score"], table["rank"],
                                      table["funded"], table["award_eur"], table["ranking_rule_award_eur"]):
        rows.append({"application_id": str(a), "eligible": bool(el),
                     "score": None if pd.isna(s) else round(float(s), 4), "rank": None if pd.isna(rk) else int(rk),
                     "funded": bool(f), "award_eur": int(w), "ranking_rule_award_eur": int(rw)})
    return rows


def decision_rule_record(evaluation: Evaluation, allocation: Allocation) -> dict:
    """The decision rule as resolved for this run (JSON-ready): what ``verify`` replays and compares.

    Keys: ``name`` (:data:`ditp_model.inputs.call.RULE_NAMES`), ``label`` (French),
    ``ranking_variant``, ``tie_band_points`` (δ in points, as used),
    ``tie_band_source`` (French: declared, set by the committee or computed
    from the reviews), ``min_score`` (points), ``min_criterion`` (criterion ->
    minimum on the review scale), ``not_fundable`` (ids below a threshold)
    and ``exceptions`` (French sentences, each departure from merit order and
    its cause).  :func:`build_manifest` adds ``ex_aequo`` (ids flagged at the
    funding line) from the decision table.
    """
    from ditp_model.rules.allocation import quality_thresholds

    c = allocation.candidates
    overall, per = quality_thresholds(evaluation, c.params)
    merit = c.rule == "merit_order"
    why = dict(c.params.lock_reasons)
    return {"name": c.rule, "label": RULE_LABELS_FR[c.rule], "ranking_variant": c.params.ranking_variant,
            "tie_band_points": round(float(c.tie_band_points), 4) if merit else 0.0,
            "tie_band_source": c.tie_band_source if merit else "",
            "min_score": float(overall), "min_criterion": {k: float(v) for k, v in per.items()},
            "not_fundable": sorted(c.not_fundable),
            "exceptions": [e.sentence_fr() for e in getattr(allocation, "exceptions", ())],
            # applications funded first, whatever their rank: the committee's locks and the minimum-count rules'
            # choices, with their cause (the letters and the workbook set them apart from the funding line)
            "funded_first": {**{str(a): "imposé par le comité" + (f" : {why[a]}" if why.get(a) else "")
                                for a in sorted(c.params.lock_in)},
                             **{str(a): str(cause) for a, cause in sorted(dict(c.forced).items())}}}


def due_process_record(evaluation: Evaluation, provisional: Provisional | None = None, *,
                       reviewer_identities: bool = False) -> dict:
    """Conflicts of interest, excluded reviews and held applications, JSON-ready (issue 13).

    Keys (each only when known): ``conflicts`` (the declarations: ``person_id``,
    ``application_id``, ``nature``, ``role``, ``declared_on`` ISO date or None),
    ``excluded_reviews`` (``application_id``, ``reviewer_id``, ``nature``),
    ``provisional`` (bool) and ``held`` (see :meth:`ditp_model.rules.held.Provisional.record`).
    Reviewers are written under their pseudonym (:func:`ditp_model.privacy.reviewer_pseudonyms`, the
    same as in every other output) unless `reviewer_identities`; committee members as declared.
    """
    from ditp_model.privacy import reviewer_pseudonyms

    names = reviewer_pseudonyms(evaluation, identities=reviewer_identities)
    out: dict = {}
    if evaluation.conflicts is not None:
        out["conflicts"] = [{"person_id": names.get(str(r.person_id), str(r.person_id)) if r.role == "reviewer"
                             else str(r.person_id), "application_id": str(r.application_id), "nature": str(r.nature),
                             "role": str(r.role),
                             "declared_on": None if pd.isna(r.declared_on) else pd.Timestamp(r.declared_on).date().isoformat()}
                            for r in evaluation.conflicts.itertuples()]
        ex = evaluation.excluded_reviews
        out["excluded_reviews"] = [] if ex is None else [
            {"application_id": str(r.application_id), "reviewer_id": names.get(str(r.reviewer_id), str(r.reviewer_id)),
             "nature": str(r.nature)}
            for r in ex.itertuples()]
    if provisional is not None:
        out.update(provisional.record())
    return out


def build_manifest(evaluation: Evaluation, allocation: Allocation, table: pd.DataFrame, *, command: str = "",
                   provisional: Provisional | None = None, reviewer_identities: bool = False) -> dict:
    """The decision record of one run (JSON-ready dict).

    Keys: ``manifest_version``, ``command``, ``inputs`` (path -> SHA-256),
    ``input_files`` (role ``call`` / ``applications`` / ``reviews`` -> path,
    absolute path, SHA-256), ``call_rules`` (the validated rules), ``weights``
    (raw and normalised), ``normalisation``, ``parameters`` (allocation
    parameters, the envelope actually available), ``seeds`` (random seeds:
    none, the computation is deterministic), ``versions``, ``solver`` (name,
    version, status, gap, seconds), ``decision_rule`` (see
    :func:`decision_rule_record`), ``objective`` (score points; 0 under the
    merit order and the ranking rule, which maximise nothing),
    ``tie_break_rule``, ``other_optimal_portfolios``, ``funded_count``,
    ``total_awarded_eur``, ``decision_sha256`` (see :func:`decision_hash`),
    ``decisions`` (see :func:`decisions_record`), ``reserve_list`` (the reserve list:
    :func:`ditp_model.rules.reserve_list.reserve_record`), then, when known, the keys of
    :func:`due_process_record` (``conflicts``, ``excluded_reviews``,
    ``provisional``, ``held``; reviewers pseudonymised unless `reviewer_identities`, recorded as
    ``reviewer_identities``).  No timestamp inside the
    decision part: two runs on the same inputs give the same manifest,
    seconds aside.
    """
    c = allocation.candidates
    rule = decision_rule_record(evaluation, allocation)
    if "ex_aequo" in table:
        rule["ex_aequo"] = [str(a) for a, f in zip(table["application_id"], table["ex_aequo"]) if f]
    return {
        "manifest_version": MANIFEST_VERSION,
        "command": command,
        "inputs": dict(sorted(evaluation.files.items())),
        "input_files": _input_files(evaluation.files),
        "call_rules": json.loads(evaluation.rules.model_dump_json()),
        "weights": {"raw": evaluation.weights.as_dict(), "normalised": evaluation.weights.normalised()},
        "normalisation": evaluation.normalisation,
        "parameters": {**_params_dict(c.params), "available_eur": c.available_eur, "envelope_used_eur": c.envelope_eur,
                       "amount_step_used_eur": c.step_eur},
        "seeds": {},
        "versions": _versions(),
        "environment_lock": lock_record(),
        "solver": {"name": allocation.solver, "version": allocation.solver_version, "status": allocation.status.value,
                   "mip_gap": allocation.mip_gap, "seconds": round(allocation.seconds, 4)},
        "decision_rule": rule,
        "objective": allocation.objective,
        "tie_break_rule": {"name": TIE_BREAK_RULE, "description": TIE_BREAK_RULE_FR},
        "other_optimal_portfolios": allocation.other_optimal_portfolios,
        "funded_count": int(table["funded"].sum()),
        "total_awarded_eur": int(table["award_eur"].sum()),
        "decision_sha256": decision_hash(table),
        "decisions": decisions_record(table),
        **({"reserve_list": _lists_record(table, evaluation)} if "reserve_rank" in table else {}),
        "reviewer_identities": bool(reviewer_identities),
        **due_process_record(evaluation, provisional, reviewer_identities=reviewer_identities),
    }


def _lists_record(table: pd.DataFrame, evaluation: Evaluation) -> dict:
    from ditp_model.rules.reserve_list import reserve_record

    return reserve_record(table, evaluation.rules.selection.reserve_list_size)


def write_outputs(out_dir: str | Path, files: dict[str, bytes], *, owned=(), command: str = "",
                  archive: dict[str, str] | None = None) -> list[Path]:
    """Publish every output file as one set, only after all were produced in memory.

    A failure before this point leaves the previous results untouched; the
    set is staged then switched in under a lock on `out_dir`
    (:func:`ditp_model.publication.publish_files`): the folder holds the whole
    old set or the whole new one, even when writing the second of three files
    fails.  Names may contain ``/`` (a sub-folder of `out_dir`); `owned`
    names sub-folders (``"retours/"``) whose stale files go with the old set; `archive`
    moves an older publication aside whole in the same switch (name -> ``archives/…`` name).
    """
    from ditp_model.publication import publish_files

    return publish_files(out_dir, files, owned=owned, command=command, archive=archive)


def manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")
