"""The reproducible allocation report.

Every file written carries its provenance: the decision table and the manifest
come from :mod:`ditp_model.rules.manifest` (the decision record shared with the
journal, feedback letters and waves).

The report (issue 5) is one pipeline of named steps::

    validate_parameters  ->  run_report  ->  export_files / report_manifest
    (French errors)          (evaluate, allocate, ranking rule, explain)

``ditp-model report`` (:mod:`ditp_model.cli.report`) runs the parameterised
notebook ``notebooks/04_rapport.ipynb`` with papermill, which calls these
functions, displays the sections of :mod:`ditp_model.outputs.report_sections` and
stages the exports; :func:`render_html` turns the executed notebook into a
self-contained HTML file without code; :func:`produce_report` publishes it all
atomically with a new entry in the decision journal (:mod:`ditp_model.outputs.record`).
A failed or non-optimal run publishes nothing.

Why this module is longer than 800 lines (about 1 200): it is the report's
pipeline, whose steps have names (``validate_parameters``, ``run_report``,
``report_manifest``, ``export_files``, ``stage_outputs``,
``execute_report_notebook``, ``render_html``, ``produce_report``) and share
the parameter and run records (``ReportParams``, ``ReportRun``); about a third
of the lines are the French checks of the notebook's parameters.  The
sections, the annexes, the PDF and the workbook already live in their own
modules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from ditp_model.rules.allocation import Allocation, AllocationError, AllocationParams, GroupRule, RankingResult
from ditp_model.inputs.call import RULE_NAMES
from ditp_model.rules.explain import Explanation
from ditp_model.rules.manifest import (build_manifest, csv_bytes, decision_hash, decision_table, manifest_bytes, package_versions,
                                       write_outputs)
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.privacy import pseudonymise_reviewers, reviewer_pseudonyms  # noqa: F401 - pseudonymise_reviewers re-exported

__all__ = ["REPORT_PARAMETERS", "ReportParameterError", "ReportNotOptimalError",
           "ReportParams", "validate_parameters", "ReportRun", "run_report", "report_manifest", "pseudonymise_reviewers",
           "reviewer_scores_sheet", "report_workbook", "export_files", "stage_outputs", "REPORT_NOTEBOOK",
           "execute_report_notebook", "render_html", "produce_report", "ReportNotebookError", "failed_notebook_path",
           "keep_failed_notebook"]

#: Packages that only render the report (their versions are recorded, not compared by ``verify``).
_REPORT_TOOLS = ("matplotlib", "papermill", "nbconvert", "nbformat", "ipykernel")


# --------------------------------------------------------------------------- report parameters


@dataclass(frozen=True)
class ReportParameter:
    """One parameter of the report notebook (papermill ``-p NAME VALUE``).

    Attributes
    ----------
    name : str
        Variable name in the notebook's cell tagged ``parameters``.
    default : object
        Its default (``None``: the call's value, or the sample data).
    label : str
        French label shown in the report.
    expected : str
        French description of the type expected, with an example.
    """

    name: str
    default: object
    label: str
    expected: str


#: The report notebook's parameters, in the order of its ``parameters`` cell (a test checks the notebook against it).
REPORT_PARAMETERS: tuple[ReportParameter, ...] = (
    ReportParameter("scenario", None, "Scénario du comité",
                    "un chemin de fichier de scénario JSON (texte) ou None ; il fixe fichiers, pondérations et règles"),
    ReportParameter("call", None, "Règles de l'appel", "un chemin de fichier TOML (texte) ou None (données d'exemple)"),
    ReportParameter("applications", None, "Candidatures", "un chemin de fichier CSV ou XLSX (texte) ou None (données d'exemple)"),
    ReportParameter("reviews", None, "Évaluations", "un chemin de fichier CSV ou XLSX (texte) ou None (données d'exemple)"),
    ReportParameter("conflicts", None, "Déclarations de conflits d'intérêts",
                    "un chemin de fichier CSV ou XLSX (texte : person_id, application_id, nature, role, declared_on) "
                    "ou None (aucune déclaration)"),
    ReportParameter("weights", None, "Pondérations",
                    "un texte « impact=0.5,openness=0.3,collective=0.2 », un dictionnaire {\"impact\": 0.5, …} "
                    "ou None (celles de l'appel)"),
    ReportParameter("normalisation", None, "Agrégation des notes", "« raw_mean », « reviewer_zscore », « reviewer_effects » ou None (celle de l'appel)"),
    ReportParameter("envelope_eur", None, "Enveloppe", "un nombre entier d'euros ≥ 0 (par ex. 2500000) ou None (celle de l'appel)"),
    ReportParameter("committed_eur", 0, "Déjà engagé (vagues précédentes)", "un nombre entier d'euros ≥ 0"),
    ReportParameter("reserve_eur", 0, "Réserve pour les vagues suivantes", "un nombre entier d'euros ≥ 0"),
    ReportParameter("min_share", None, "Part minimale de la demande attribuée",
                    "un nombre dans ]0 ; 1] (1 : pas de réduction) ou None (celle de l'appel)"),
    ReportParameter("lock_in", [], "Dossiers imposés par le comité",
                    "une liste d'identifiants, chacun suivi de son motif, par ex. [\"P012=motif du comité\", \"P040\"]"),
    ReportParameter("lock_out", [], "Dossiers exclus par le comité",
                    "une liste d'identifiants, chacun suivi de son motif, par ex. [\"P007=motif du comité\"]"),
    ReportParameter("group_rules", [], "Règles de portefeuille",
                    "une liste de dictionnaires {\"column\": \"region\", \"value\": \"Bretagne\", \"min_count\": 1} "
                    "ou {…, \"max_share\": 0.25}"),
    ReportParameter("max_awards", None, "Nombre maximal de lauréats", "un nombre entier ≥ 0 ou None (pas de maximum)"),
    ReportParameter("rule", None, "Règle de décision",
                    "« merit_order » (ordre de mérite), « ranking » (règle du classement), « max_total_score » ou "
                    "« max_score_weighted_award » (optimisations), ou None (celle de l'appel)"),
    ReportParameter("tie_band_points", None, "Bande d'ex aequo δ (points)",
                    "un nombre de points entre 0 et 100 (par ex. 0.5), « auto » (calculée à partir des évaluations) "
                    "ou None (celle de l'appel)"),
    ReportParameter("min_score", None, "Seuil de qualité : note globale minimale",
                    "un nombre de points entre 0 et 100 (par ex. 50) ou None (celui de l'appel)"),
    ReportParameter("solver", "highs", "Solveur", "« highs » ou « cbc »"),
    ReportParameter("time_limit_s", 60.0, "Temps maximal par résolution (s)", "un nombre de secondes > 0"),
    ReportParameter("ranking_variant", "skip", "Variante de la règle du classement", "« skip » ou « stop »"),
    ReportParameter("gaps", True, "Écarts d'entrée et marges de sortie calculés", "True ou False"),
    ReportParameter("near_line", 8, "Dossiers montrés de part et d'autre de la ligne", "un nombre entier ≥ 1"),
    ReportParameter("waves_from", None, "Sélection en vagues : première date limite",
                    "une date AAAA-MM-JJ (par ex. « 2021-09-15 ») au plus tard à la date limite de l'appel, "
                    "ou None / texte vide (pas de section sur les vagues)"),
    ReportParameter("personal_data", False, "Identité des évaluateurs dans les exports",
                    "True ou False (True seulement à la demande expresse du secrétariat)"),
    ReportParameter("provisional", False, "Décision provisoire acceptée (--provisoire)",
                    "True ou False (True : l'appelant accepte de publier une décision provisoire ; la mention "
                    "« PROVISOIRE » vient des données, des dossiers en attente d'évaluation à portée de la ligne)"),
    ReportParameter("output_dir", None, "Dossier de préparation des exports", "un chemin de dossier (texte) ou None (aucun export)"),
    ReportParameter("command", "", "Commande", "un texte"),
)
_PARAM_BY_NAME = {p.name: p for p in REPORT_PARAMETERS}
#: Parameters a scenario file fixes: giving them with ``scenario`` is an error.
_SCENARIO_FIXES = ("call", "applications", "reviews", "weights", "normalisation", "envelope_eur", "committed_eur",
                   "reserve_eur", "min_share", "lock_in", "lock_out", "group_rules", "max_awards", "rule", "tie_band_points",
                   "min_score", "solver", "time_limit_s", "ranking_variant")


class ReportParameterError(ValueError):
    """One or more report parameters of the wrong type or value; the message (French) lists them all."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} paramètre{'s' if n > 1 else ''} du rapport invalide{'s' if n > 1 else ''} :"
        super().__init__("\n".join([head] + [f"  - {p}" for p in self.problems]))


class ReportProvisionalError(RuntimeError):
    """The decision would be provisional (applications awaiting reviews within reach of the line) and was not
    allowed to be: nothing published.  The message (French) lists the held applications."""

    def __init__(self, provisional):
        self.provisional = provisional
        super().__init__("\n".join(["Aucun rapport publié : la décision serait provisoire.", *provisional.lines_fr(),
                                    provisional.what_to_do_fr("publier un rapport provisoire (« PROVISOIRE » en tête de chaque page, lettres en projet)")]))


class ReportNotOptimalError(RuntimeError):
    """No proven optimum: no report is produced.  The message names the status and, if any, the rules in conflict."""

    def __init__(self, allocation: Allocation):
        self.status = allocation.status
        self.conflicts = tuple(allocation.conflicts)
        lines = [f"Aucun rapport publié — {allocation.status.label_fr}.", allocation.message]
        lines += [f"  - {c}" for c in self.conflicts]
        super().__init__("\n".join(lines))


def _received(v) -> str:
    kinds = {str: "le texte", bool: "le booléen", int: "l'entier", float: "le nombre", list: "la liste", tuple: "la liste",
             dict: "le dictionnaire", type(None): "None"}
    return f"reçu {kinds.get(type(v), 'un objet ' + type(v).__name__)} {v!r}"


def _problem(name: str, v, what: str | None = None) -> str:
    p = _PARAM_BY_NAME[name]
    return f"« {name} » ({p.label}) : {what or 'valeur attendue : ' + p.expected} ; {_received(v)}"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class ReportParams:
    """Validated parameters of one report (immutable; build it with :func:`validate_parameters`).

    Attributes
    ----------
    call, applications, reviews : str
        Absolute paths of the inputs.
    conflicts : str or None
        Absolute path of the declarations of conflicts of interest
        (:func:`ditp_model.inputs.conflicts.read_conflicts`): a review under a
        declared conflict is left out of the scores, the file is recorded in
        the manifest (SHA-256) and ``verify`` re-reads it; None: no declaration.
        Allowed with a scenario (the scenario does not fix it).
    weights : None, str, dict or Weights
        Checked against the call's criteria when the report runs.
    normalisation : str or None
    allocation : AllocationParams
    ranking_variant : str
    gaps : bool
    near_line : int
    waves_from : str or None
        First weekly cut-off (ISO ``AAAA-MM-JJ``) of the replay in waves shown
        in the section « Sélection en vagues »; None: no such section.
    personal_data : bool
        Reviewer identities kept in the exports (otherwise R01, R02…).
    provisional : bool
        The caller accepted a provisional decision (``--provisoire``).  Whether
        the decision *is* provisional comes from the data, never from this
        parameter (:attr:`ReportRun.is_provisional`): a provisional decision gets
        « PROVISOIRE » in the running header of every printed page and as a
        diagonal watermark whatever this says.
    scenario : dict or None
        ``{"path", "name", "sha256"}`` when the run comes from a committee scenario.
    output_dir : str or None
        Where :func:`stage_outputs` writes the exports (used by ``ditp-model report``).
    command : str
    sample_data : bool
        The inputs are the fictitious sample of ``data/``.
    given : tuple of str
        Names of the parameters given with a value other than their default.
    """

    call: str
    applications: str
    reviews: str
    conflicts: str | None = None
    weights: object = None
    normalisation: str | None = None
    allocation: AllocationParams = field(default_factory=AllocationParams)
    ranking_variant: str = "skip"
    gaps: bool = True
    near_line: int = 8
    personal_data: bool = False
    provisional: bool = False
    scenario: dict | None = None
    waves_from: str | None = None
    output_dir: str | None = None
    command: str = ""
    sample_data: bool = False
    given: tuple[str, ...] = ()

    def notebook_parameters(self) -> dict:
        """The papermill parameters that reproduce this run in ``notebooks/04_rapport.ipynb``."""
        common = {"conflicts": self.conflicts, "gaps": self.gaps, "near_line": self.near_line, "waves_from": self.waves_from,
                  "personal_data": self.personal_data, "provisional": self.provisional,
                  "output_dir": self.output_dir, "command": self.command}
        if self.scenario:
            return {"scenario": self.scenario["path"], **common}
        a = self.allocation
        w = self.weights
        if w is not None and hasattr(w, "as_dict"):
            w = w.as_dict()
        return {"call": self.call, "applications": self.applications, "reviews": self.reviews, "weights": w,
                "normalisation": self.normalisation, "envelope_eur": a.envelope_eur, "committed_eur": a.committed_eur,
                "reserve_eur": a.reserve_eur, "min_share": a.min_share, "lock_in": _lock_items(a.lock_in, dict(a.lock_reasons)),
                "lock_out": _lock_items(a.lock_out, dict(a.lock_reasons)), "group_rules": [dataclasses.asdict(r) for r in a.group_rules],
                "max_awards": a.max_awards, "rule": a.rule, "tie_band_points": a.tie_band_points,
                "min_score": a.min_score, "solver": a.solver, "time_limit_s": a.time_limit_s,
                "ranking_variant": self.ranking_variant, **common}


def _id_list(name: str, v, problems: list[str]) -> frozenset:
    if isinstance(v, str):
        v = [x for x in re.split(r"[\s,;]+", v) if x]
    if not isinstance(v, (list, tuple, set, frozenset)) or not all(isinstance(x, str) and x.strip() for x in v):
        problems.append(_problem(name, v))
        return frozenset()
    return frozenset(x.strip() for x in v)


def _lock_list(name: str, v, problems: list[str]) -> tuple[frozenset, dict]:
    """Locked ids and their reasons from ``["P012=motif du comité", "P040"]`` (issue 13: every lock has a written reason)."""
    from ditp_model.inputs.locks import parse_lock_item

    if isinstance(v, (list, tuple, set, frozenset)) and all(isinstance(x, str) and x.strip() for x in v):
        pairs = [parse_lock_item(x) for x in v]
        return frozenset(a for a, _ in pairs), {a: w for a, w in pairs if w}
    return _id_list(name, v, problems), {}


def _lock_items(ids, reasons: dict) -> list[str]:
    """The notebook's form of locks: ``"P012=motif"`` (or the bare id without a reason), sorted."""
    return [f"{a}={reasons[a]}" if reasons.get(a) else a for a in sorted(ids)]


def _group_rules(v, problems: list[str]) -> tuple[GroupRule, ...]:
    if not isinstance(v, (list, tuple)):
        problems.append(_problem("group_rules", v))
        return ()
    out = []
    for k, r in enumerate(v):
        if isinstance(r, GroupRule):
            out.append(r)
            continue
        if not isinstance(r, dict) or not {"column", "value"} <= set(r) or not set(r) <= {"column", "value", "min_count", "max_share"}:
            problems.append(_problem("group_rules", r, f"règle n° {k + 1} : un dictionnaire avec « column », « value » et "
                                                      "« min_count » ou « max_share » est attendu"))
            continue
        if r.get("min_count") is not None and not _is_int(r["min_count"]):
            problems.append(_problem("group_rules", r, f"règle n° {k + 1} : « min_count » doit être un nombre entier"))
            continue
        if r.get("max_share") is not None and not _is_number(r["max_share"]):
            problems.append(_problem("group_rules", r, f"règle n° {k + 1} : « max_share » doit être un nombre entre 0 et 1"))
            continue
        try:
            out.append(GroupRule(str(r["column"]), str(r["value"]), r.get("min_count"), r.get("max_share")))
        except ValueError as exc:
            problems.append(_problem("group_rules", r, f"règle n° {k + 1} : {exc}"))
    return tuple(out)


def _path(name: str, v, problems: list[str], *, must_exist: bool = True) -> str | None:
    if v is None:
        return None
    if not isinstance(v, (str, os.PathLike)) or not str(v).strip():
        problems.append(_problem(name, v))
        return None
    p = Path(v).expanduser()
    if must_exist and not p.is_file():
        problems.append(_problem(name, v, f"fichier introuvable : {p}"))
        return None
    return str(p.resolve())


def _waves_from(v, problems: list[str]) -> str | None:
    """``waves_from``: None or empty text (no wave section), an ISO date text ``AAAA-MM-JJ`` or a date."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v.isoformat()
    if not isinstance(v, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v.strip()):
        problems.append(_problem("waves_from", v))
        return None
    try:
        return dt.date.fromisoformat(v.strip()).isoformat()
    except ValueError:
        problems.append(_problem("waves_from", v, "date inexistante ; valeur attendue : "
                                                  + _PARAM_BY_NAME["waves_from"].expected))
        return None


def _waves_rules(waves_from: str | None, group_rules, problems: list[str]) -> None:
    """The replay in waves refuses group rules (they bind the whole call): say so with the parameter."""
    if waves_from is not None and group_rules:
        problems.append("« waves_from » : les règles de portefeuille (group_rules) portent sur tout l'appel et ne sont pas "
                        "prises en charge vague par vague ; retirer les règles de portefeuille ou la section sur les vagues")


def validate_parameters(**values) -> ReportParams:
    """Check every report parameter (type and value) and resolve the defaults.

    Parameters
    ----------
    **values
        Any of :data:`REPORT_PARAMETERS` (missing ones take their default).

    Returns
    -------
    ReportParams

    Raises
    ------
    ReportParameterError
        Every wrong parameter at once, in French: the name, what is expected
        (with an example) and what was received.  Also an unknown parameter
        name, a scenario given together with a parameter it fixes, or the
        three input files not given together.
    """
    problems: list[str] = []
    unknown = sorted(set(values) - set(_PARAM_BY_NAME))
    for name in unknown:
        problems.append(f"« {name} » : paramètre inconnu ; paramètres du rapport : {', '.join(_PARAM_BY_NAME)}")
    v = {p.name: values.get(p.name, p.default) for p in REPORT_PARAMETERS}
    given = tuple(p.name for p in REPORT_PARAMETERS if p.name in values and values[p.name] != p.default)

    # Report-level parameters (allowed with a scenario).
    gaps = v["gaps"]
    if not isinstance(gaps, bool):
        problems.append(_problem("gaps", gaps))
    personal = v["personal_data"]
    if not isinstance(personal, bool):
        problems.append(_problem("personal_data", personal))
    provisional = v["provisional"]
    if not isinstance(provisional, bool):
        problems.append(_problem("provisional", provisional))
    near = v["near_line"]
    if not _is_int(near) or near < 1:
        problems.append(_problem("near_line", near))
    command = v["command"]
    if not isinstance(command, str):
        problems.append(_problem("command", command))
    waves_from = _waves_from(v["waves_from"], problems)
    conflicts = _path("conflicts", v["conflicts"], problems)
    output_dir = v["output_dir"]
    if output_dir is not None and (not isinstance(output_dir, (str, os.PathLike)) or not str(output_dir).strip()):
        problems.append(_problem("output_dir", output_dir))
        output_dir = None

    scenario = None
    if v["scenario"] is not None:
        from ditp_model.rules.scenario import load_scenario, scenario_params
        from ditp_model.inputs.schema import InputError

        path = _path("scenario", v["scenario"], problems)
        clash = [n for n in _SCENARIO_FIXES if n in given]
        for n in clash:
            problems.append(f"« {n} » : donné avec « scenario », qui fixe déjà ce paramètre ; retirer l'un des deux")
        if path and not clash:
            try:
                sc = load_scenario(path)
            except InputError as exc:
                problems.append(f"« scenario » : {exc}")
            else:
                # every input as recorded, the declarations of conflicts of interest included (rules/scenario.py)
                inp = sc.input_problems(path)
                problems += [f"« scenario » : {p}" for p in inp]
                from ditp_model.inputs.io import sha256_file

                if sc.conflicts:  # the scenario's declarations are used; --conflits may only repeat them
                    if conflicts is not None and (Path(conflicts).resolve() != Path(sc.conflicts).resolve()
                                                  and sha256_file(conflicts) != sc.sha256.get(sc.conflicts)):
                        problems.append(f"« conflicts » : le scénario enregistre déjà les déclarations de conflits d'intérêts "
                                        f"{sc.conflicts} ; retirer --conflits {conflicts}, ou enregistrer à nouveau le scénario "
                                        "avec ces déclarations")
                    conflicts = str(Path(sc.conflicts).resolve())

                scenario = {"path": path, "name": sc.name, "sha256": sha256_file(path)}
                gone = {p.column for p in inp if p.code == "scenario_input_missing"}  # said once, above
                files = [None if f"inputs.{n}" in gone else _path(n, getattr(sc, n), problems)
                         for n in ("call", "applications", "reviews")]
                _waves_rules(waves_from, sc.params.group_rules, problems)
                if problems:
                    raise ReportParameterError(problems)
                return ReportParams(*files, conflicts=conflicts, weights=sc.weights, normalisation=sc.normalisation, allocation=scenario_params(sc),
                                    ranking_variant=sc.ranking_variant, gaps=gaps, near_line=near, personal_data=personal,
                                    provisional=provisional,
                                    scenario=scenario, output_dir=None if output_dir is None else str(output_dir),
                                    waves_from=waves_from, command=command,
                                    sample_data=_is_sample(dict(zip(("call", "applications", "reviews"), files))), given=given)
        raise ReportParameterError(problems)

    files = {n: _path(n, v[n], problems) for n in ("call", "applications", "reviews")}
    if all(v[n] is None for n in files):
        files = _sample_files()
    elif any(v[n] is None for n in files):
        missing = [n for n in files if v[n] is None]
        problems.append(f"« {', '.join(missing)} » : les trois fichiers (call, applications, reviews) se donnent ensemble, "
                        "ou aucun pour les données d'exemple")

    weights = v["weights"]
    if weights is not None:
        if isinstance(weights, str):
            if "=" not in weights:
                problems.append(_problem("weights", weights))
        elif isinstance(weights, dict):
            if not weights or not all(isinstance(k, str) and _is_number(x) and x >= 0 for k, x in weights.items()):
                problems.append(_problem("weights", weights, "un dictionnaire critère -> nombre positif ou nul est attendu, "
                                                             "par ex. {\"impact\": 0.5, \"openness\": 0.3, \"collective\": 0.2}"))
        elif not hasattr(weights, "as_dict"):
            problems.append(_problem("weights", weights))
    norm = v["normalisation"]
    if norm is not None and norm not in ("raw_mean", "reviewer_zscore", "reviewer_effects"):
        problems.append(_problem("normalisation", norm))

    amounts = {}
    for n in ("envelope_eur", "committed_eur", "reserve_eur"):
        x = v[n]
        if x is None and n == "envelope_eur":
            amounts[n] = None
        elif not _is_int(x) or x < 0:
            problems.append(_problem(n, x))
        else:
            amounts[n] = x
    min_share = v["min_share"]
    if min_share is not None and (not _is_number(min_share) or not 0 < min_share <= 1):
        problems.append(_problem("min_share", min_share))
    lock_in, reasons_in = _lock_list("lock_in", v["lock_in"], problems)
    lock_out, reasons_out = _lock_list("lock_out", v["lock_out"], problems)
    rules = _group_rules(v["group_rules"], problems)
    max_awards = v["max_awards"]
    if max_awards is not None and (not _is_int(max_awards) or max_awards < 0):
        problems.append(_problem("max_awards", max_awards))
    for n, allowed in (("rule", (None, *RULE_NAMES)), ("solver", ("highs", "cbc")), ("ranking_variant", ("skip", "stop"))):
        if v[n] not in allowed:
            problems.append(_problem(n, v[n]))
    tie_band = v["tie_band_points"]
    if tie_band is not None and tie_band != "auto" and (not _is_number(tie_band) or not 0 <= tie_band <= 100):
        problems.append(_problem("tie_band_points", tie_band))
    min_score = v["min_score"]
    if min_score is not None and (not _is_number(min_score) or not 0 <= min_score <= 100):
        problems.append(_problem("min_score", min_score))
    tl = v["time_limit_s"]
    if not _is_number(tl) or tl <= 0:
        problems.append(_problem("time_limit_s", tl))
    _waves_rules(waves_from, rules, problems)
    if problems:
        raise ReportParameterError(problems)
    try:
        params = AllocationParams(envelope_eur=amounts["envelope_eur"], committed_eur=amounts["committed_eur"],
                                  reserve_eur=amounts["reserve_eur"], min_share=None if min_share is None else float(min_share),
                                  lock_in=lock_in, lock_out=lock_out, lock_reasons={**reasons_in, **reasons_out},
                                  group_rules=rules, max_awards=max_awards,
                                  rule=v["rule"], ranking_variant=v["ranking_variant"],
                                  tie_band_points=tie_band if tie_band in (None, "auto") else float(tie_band),
                                  min_score=None if min_score is None else float(min_score),
                                  solver=v["solver"], time_limit_s=float(tl))
    except ValueError as exc:
        raise ReportParameterError([f"paramètres d'allocation incompatibles : {exc}"]) from None
    return ReportParams(files["call"], files["applications"], files["reviews"], conflicts=conflicts, weights=weights,
                        normalisation=norm,
                        allocation=params, ranking_variant=v["ranking_variant"], gaps=gaps, near_line=near,
                        personal_data=personal, provisional=provisional, scenario=None, output_dir=None if output_dir is None else str(output_dir),
                        waves_from=waves_from, command=command, sample_data=_is_sample(files), given=given)


def _sample_files() -> dict[str, str]:
    from ditp_model.outputs.notebook import repo_data

    d = repo_data()
    return {"call": str(d / "appel_2021.toml"), "applications": str(d / "candidatures_exemple.csv"),
            "reviews": str(d / "evaluations_exemple.csv")}


def _is_sample(files: dict) -> bool:
    """The applications or reviews are the fictitious sample files of ``data/`` (the report then says so)."""
    try:
        sample = _sample_files()
    except FileNotFoundError:
        return False
    return any(files.get(k) and Path(files[k]).resolve() == Path(sample[k]).resolve() for k in ("applications", "reviews"))


# --------------------------------------------------------------------------- the report run


@dataclass(frozen=True)
class ReportRun:
    """Everything the report shows, from one run (immutable).

    Attributes
    ----------
    params : ReportParams
    evaluation : Evaluation
    allocation : Allocation
        A proven optimum (:func:`run_report` refuses anything else).
    ranking : RankingResult
    explanation : Explanation
    table : pandas.DataFrame
        :func:`decision_table`.
    manifest : dict
        :func:`report_manifest` (not yet sealed into the journal).
    generated_at : str
        ISO 8601 local time with offset.
    seconds : float
        Wall time of the computation.
    comparison : ditp_model.rules.explain.OptimumComparison or None
        « Si l'on maximisait la somme des notes » : the ``max_total_score``
        portfolio beside the decision, for comparison only (None when the
        decision is that rule itself, or when it has no proven optimum).
    suggested_tie_band_points : float
        The ex aequo band the reviews suggest
        (:func:`ditp_model.scoring.aggregate.tie_band_from_reviews`), whatever δ was used.
    provisional : ditp_model.rules.held.Provisional or None
        The held applications and whether the decision is provisional
        (:func:`ditp_model.rules.held.provisional_status`); ``provisional.is_provisional``
        sets the report's « provisoire » mark.
    reserve_list : pandas.DataFrame or None
        The reserve list (« liste complémentaire »), one row per application in
        the order of call-up, shown by
        :func:`ditp_model.outputs.report_annexes.reserve_list_section`; None
        or empty: no such section.
    procedure : pandas.DataFrame, list of str or None
        The « Annexe de procédure » (conflicts of interest, applications held,
        reasons for the committee's locks): a table with French headers or
        French lines, shown by
        :func:`ditp_model.outputs.report_annexes.procedure_annex_html`; None or
        empty: no such annex.
    """

    params: ReportParams
    evaluation: Evaluation
    allocation: Allocation
    ranking: RankingResult
    explanation: Explanation
    table: pd.DataFrame
    manifest: dict
    generated_at: str
    seconds: float
    comparison: object = None
    suggested_tie_band_points: float | None = None
    provisional: object = None

    @property
    def is_provisional(self) -> bool:
        """True when an application awaiting reviews could still enter the list of laureates (issue 13)."""
        return bool(self.provisional is not None and self.provisional.is_provisional)
    reserve_list: object = None
    procedure: object = None

    @property
    def rules(self):
        return self.evaluation.rules

    @property
    def funded(self) -> pd.DataFrame:
        """Funded rows of :attr:`table`, by rank."""
        t = self.table[self.table["funded"]]
        return t.sort_values(["rank", "application_id"], kind="mergesort")


def resolve_weights(raw, rules):
    """Weights from a report parameter: None (the call's), a ``"impact=0.5,…"`` text, a dict or a Weights.

    Criteria left out of a text or a dict weigh 0.

    Raises
    ------
    ValueError
        An unknown criterion or a bad value (French).
    """
    from ditp_model.scoring.aggregate import Weights, parse_weights

    if raw is None:
        return Weights.from_rules(rules)
    if isinstance(raw, str):
        return parse_weights(raw, rules)
    d = raw.as_dict() if hasattr(raw, "as_dict") else dict(raw)
    unknown = sorted(set(d) - set(rules.criterion_names))
    if unknown:
        raise ValueError(f"pondérations : critère(s) inconnu(s) {', '.join(unknown)} ; critères de l'appel : "
                         f"{', '.join(rules.criterion_names)}")
    return Weights(tuple((c, float(d.get(c, 0.0))) for c in rules.criterion_names))


def run_report(params: ReportParams) -> ReportRun:
    """Read the inputs (with the declarations of conflicts of interest when ``params.conflicts`` is set), then evaluate → decide by the rule → ranking rule → explain, and build the manifest.

    The decision is that of the rule in the parameters (None: the call's,
    merit order by default); the ranking rule and, unless it is the decision
    rule, the portfolio maximising the sum of scores are computed beside it,
    for comparison only.

    Raises
    ------
    ditp_model.inputs.schema.InputError
        Bad input files (French, naming file, row, column, value and rule).
    ValueError
        Weights or parameters that do not fit the data (French).
    ReportNotOptimalError
        No proven optimum (infeasible rules, time limit): no report.
    """
    from ditp_model.rules.allocation import allocate, ranking_rule
    from ditp_model.rules.explain import explain, optimum_comparison
    from ditp_model.inputs.conflicts import load_inputs_with_conflicts
    from ditp_model.scoring.pipeline import evaluate
    from ditp_model.scoring.aggregate import tie_band_from_reviews

    t0 = time.perf_counter()
    inputs = load_inputs_with_conflicts(params.call, params.applications, params.reviews, params.conflicts)
    deadline = inputs.rules.call.deadline
    if params.waves_from is not None and dt.date.fromisoformat(params.waves_from) > deadline:
        raise ReportParameterError([_problem("waves_from", params.waves_from,
                                             f"date postérieure à la date limite de l'appel ({deadline:%d/%m/%Y}) ; "
                                             "la première vague doit la précéder ou tomber ce jour-là")])
    weights = resolve_weights(params.weights, inputs.rules)
    ev = evaluate(inputs, weights, params.normalisation)
    alloc = allocate(ev, params.allocation)
    if not alloc.is_optimal:
        raise ReportNotOptimalError(alloc)
    ranking = ranking_rule(ev, params.allocation, params.ranking_variant)
    expl = explain(ev, alloc, gaps=params.gaps)
    table = decision_table(ev, alloc, ranking, expl)
    comparison = optimum_comparison(ev, alloc) if alloc.rule != "max_total_score" else None
    suggested = tie_band_from_reviews(ev.reviews, ev.rules, ev.weights, normalisation=ev.normalisation)
    from ditp_model.rules.held import provisional_status

    provisional = provisional_status(ev, params.allocation, funded_ids=alloc.funded_ids if alloc.is_optimal else None)
    generated = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    run = ReportRun(params, ev, alloc, ranking, expl, table, {}, generated, time.perf_counter() - t0, comparison, suggested,
                    provisional)
    return replace(run, manifest=report_manifest(run), reserve_list=_reserve_list_for_report(table),
                   procedure=_procedure_for_report(run))


def _reserve_list_for_report(table):
    """The reserve list in call-up order for the report's section (None when the table has none)."""
    if "reserve_rank" not in table:
        return None
    from ditp_model.rules.reserve_list import reserve_list_table

    r = reserve_list_table(table)
    return r if len(r) else None


#: Rubric of the procedure annex's reminder of the lists (issue 13, « Done when »).
LISTS_RUBRIC_FR = "Liste principale et liste complémentaire"


def _list_rows(table: pd.DataFrame) -> list[tuple[str, str, str, str, str]]:
    """The annex's reminder of the published lists (rows in the columns of
    :data:`ditp_model.outputs.procedure.PROCEDURE_COLUMNS`).

    One row for the main list (number of laureates, total awarded in whole euros) and, when the decision table
    has a reserve list (``reserve_rank``), one row naming its applications in call-up order with the amount
    each would receive (``award_cap_eur``: the capped request, whole euros).
    """
    from ditp_model.french import format_eur

    main = table[table["funded"]]
    n = len(main)
    s = "s" if n > 1 else ""
    rows = [(LISTS_RUBRIC_FR, "", "", f"liste principale : {n} dossier{s} financé{s} pour "
             f"{format_eur(int(main['award_eur'].sum()))} (section « Lauréats et montants attribués »)", "")]
    if "reserve_rank" in table:
        r = table[table["reserve_rank"].notna()].sort_values("reserve_rank", kind="mergesort")
        if len(r):
            order = " ; ".join(f"{int(k)}. {a} ({format_eur(int(w))})"
                               for k, a, w in zip(r["reserve_rank"], r["application_id"], r["award_cap_eur"]))
            s = "s" if len(r) > 1 else ""
            rows.append((LISTS_RUBRIC_FR, "", "", f"liste complémentaire : {len(r)} dossier{s}, appelé{s} dans cet ordre "
                         f"avec le montant que chacun recevrait : {order}", ""))
    return rows


def _procedure_for_report(run):
    """The procedure annex's rows with French headers, reviewers pseudonymised unless ``personal_data``: conflicts of
    interest and excluded reviews, held applications, locks and exceptions with their reasons
    (:func:`ditp_model.outputs.procedure.run_procedure_table`), then a reminder of the main and reserve lists
    (:func:`_list_rows`) when there is anything else to record."""
    from ditp_model.outputs.procedure import run_procedure_table

    names = reviewer_pseudonyms(run.evaluation, identities=run.params.personal_data)
    t = run_procedure_table(run, pseudonyms=names)
    if not len(t):
        return None
    t = pd.concat([t, pd.DataFrame(_list_rows(run.table), columns=list(t.columns))], ignore_index=True)
    return t.rename(columns={"rubrique": "Rubrique", "application_id": "Dossier", "personne": "Personne",
                             "detail": "Ce qui a été fait", "motif": "Motif"})


def report_manifest(run: ReportRun) -> dict:
    """:func:`build_manifest` plus what the report adds.

    Added keys: ``ranking_variant``, ``ranking_rule`` (the ranking rule's
    funded count, total, value and decision hash), ``scenario`` (path, name,
    SHA-256, or None), ``report`` (gaps computed, near line, first wave
    cut-off ``waves_from``, shadow price (optimisation rules only), sample
    data, personal data, ``provisional`` (the decision is provisional, from the
    data: :attr:`ReportRun.is_provisional`) and ``provisional_accepted`` (the
    parameter), the ex aequo band the reviews suggest, and the
    comparison « si l'on maximisait la somme des notes »), ``generated_at``
    and ``report_tools`` (versions of the rendering packages, recorded but
    not compared by ``verify``).
    """
    p = run.params
    m = build_manifest(run.evaluation, run.allocation, run.table, command=p.command, provisional=run.provisional,
                       reviewer_identities=p.personal_data)
    rk = run.ranking
    rk_table = run.table.assign(funded=run.table["ranking_rule_award_eur"] > 0, award_eur=run.table["ranking_rule_award_eur"])
    m["ranking_variant"] = p.ranking_variant
    m["ranking_rule"] = {"variant": rk.variant, "funded_count": len(rk.funded_ids), "total_awarded_eur": int(rk.total_awarded_eur),
                         "total_score": round(float(rk.total_score), 4), "unmet_rules": list(rk.unmet_rules),
                         "decision_sha256": decision_hash(rk_table)}
    m["scenario"] = p.scenario
    sp = run.explanation.shadow_price_per_keur
    cmp = run.comparison
    m["report"] = {"gaps": p.gaps, "near_line": p.near_line, "waves_from": p.waves_from, "sample_data": p.sample_data,
                   "personal_data": p.personal_data, "provisional": run.is_provisional, "provisional_accepted": p.provisional,
                   "shadow_price_per_keur": None if sp is None else round(float(sp), 6),
                   "suggested_tie_band_points": run.suggested_tie_band_points,
                   "comparison": None if cmp is None else {
                       "rule": cmp.rule, "funded_count": cmp.n_funded, "total_awarded_eur": int(cmp.awarded_eur),
                       "funded": list(cmp.funded_ids), "leaves_out": [a for a, _ in cmp.left_out],
                       "adds": [a for a, _ in cmp.added]}}
    m["generated_at"] = run.generated_at
    m["report_tools"] = package_versions(_REPORT_TOOLS)
    return m


# --------------------------------------------------------------------------- exports


def reviewer_scores_sheet(evaluation: Evaluation, *, identities: bool = False) -> pd.DataFrame:
    """Scores by reviewer: one row per review, reviewers pseudonymised unless `identities`.

    Columns: ``application_id``, ``evaluateur``, one column per
    sub-criterion (points as given), then, when reviews are normalised per
    reviewer, ``<sub-criterion>_corrige`` (the corrected points used in the
    score), and ``ligne_fichier`` (line in the reviews file).  No other field
    of the reviews file is exported.
    """
    from ditp_model.scoring.aggregate import reviews_as_aggregated

    r = evaluation.reviews
    cols = list(evaluation.rules.review_columns)
    out = r[["application_id", "reviewer_id", *cols]].copy()
    if "source_row" in r:
        out["ligne_fichier"] = r["source_row"].to_numpy()
    if evaluation.normalisation in ("reviewer_zscore", "reviewer_effects") and len(r):
        corr = reviews_as_aggregated(r, evaluation.rules, evaluation.normalisation)[["application_id", "reviewer_id", *cols]]
        corr = corr.rename(columns={c: f"{c}_corrige" for c in cols})
        for c in cols:
            corr[f"{c}_corrige"] = corr[f"{c}_corrige"].round(4)
        out = out.merge(corr, on=["application_id", "reviewer_id"], how="left", validate="one_to_one")
        out = out[["application_id", "reviewer_id", *cols, *[f"{c}_corrige" for c in cols],
                   *(["ligne_fichier"] if "ligne_fichier" in out else [])]]
    if not identities:  # the same pseudonyms as every other output of the decision (ditp_model.privacy)
        mapping = reviewer_pseudonyms(evaluation)
        out["reviewer_id"] = out["reviewer_id"].astype(str).map(mapping)
    out = out.rename(columns={"reviewer_id": "evaluateur"})
    return out.sort_values(["application_id", "evaluateur"], kind="mergesort").reset_index(drop=True)


def report_workbook(run: ReportRun) -> bytes:
    """``allocation.xlsx`` of the report: the secretariat's workbook (:func:`ditp_model.outputs.workbook.workbook_bytes`).

    Sheets « Décision », « Liste complémentaire », « Éligibilité », « Notes par
    évaluateur » (pseudonymised unless the run's ``personal_data`` is set),
    « Procédure » (:func:`ditp_model.outputs.procedure.procedure_table`: conflicts of
    interest and excluded reviews, applications awaiting reviews, locks and exceptions
    to merit order, each with its reason), « Paramètres », « Provenance »; applicant
    text never becomes a formula.
    """
    return decision_workbook(run.evaluation, run.allocation, run.table, run.manifest, personal_data=run.params.personal_data,
                             provisional=run.provisional, generated_at=run.manifest.get("generated_at"))


def decision_workbook(evaluation: Evaluation, allocation: Allocation, table: pd.DataFrame, manifest: dict, *,
                      personal_data: bool = False, provisional=None, generated_at: str | None = None) -> bytes:
    """The secretariat's ``allocation.xlsx`` of a decision (:func:`ditp_model.outputs.workbook.workbook_bytes`).

    The one way it is built, by ``allocate``, by the report (:func:`report_workbook`) and after a withdrawal or a
    reduction (:func:`ditp_model.outputs.updates.updated_files`): reviewers are pseudonymised (R01, R02…:
    :func:`ditp_model.privacy.reviewer_pseudonyms`) in the « Notes par évaluateur » sheet *and* in the procedure sheet (declarations
    of conflicts of interest, reviews left out), unless `personal_data` (the secretariat's express request, recorded
    in the report's manifest as ``report.personal_data``).

    Parameters
    ----------
    evaluation, allocation
        The decision's evaluation and allocation (the procedure sheet: declarations, held applications, locks,
        exceptions).
    table : pandas.DataFrame
        The decision table shown (:func:`ditp_model.rules.manifest.decision_table`, or the table in force after
        changes).
    manifest : dict
        The decision's manifest (parameters and provenance sheets).
    personal_data : bool
        Keep the reviewers' identities.
    provisional : ditp_model.rules.held.Provisional, optional
        Adds the best case of each application awaiting reviews to the procedure sheet.
    generated_at : str, optional
        ISO time shown in the provenance sheet.
    """
    from ditp_model.outputs.procedure import procedure_table
    from ditp_model.outputs.workbook import workbook_bytes

    names = reviewer_pseudonyms(evaluation, identities=personal_data)  # the same pseudonyms in every output (ditp_model.privacy)
    return workbook_bytes(table, evaluation.eligibility, manifest,
                          reviewer_scores=reviewer_scores_sheet(evaluation, identities=personal_data),
                          generated_at=generated_at,
                          procedure=procedure_table(evaluation, allocation, provisional=provisional, pseudonyms=names))


def export_files(run: ReportRun) -> dict[str, bytes]:
    """The report's exports in memory (name -> bytes); the manifest and the HTML are added at publication.

    ``allocation.csv`` (decision table), ``allocation.xlsx``
    (:func:`report_workbook`), ``retours_candidats.csv`` and one
    ``retours/<id>.md`` per application (:mod:`ditp_model.outputs.feedback`).
    """
    from ditp_model.outputs.feedback import decision_feedback_kwargs, feedback_files

    footer = (f"Source : rapport de sélection établi le {_date_fr(run.generated_at)}, "
              f"décision {run.manifest['decision_sha256'][:12]}.")
    files = {"allocation.csv": csv_bytes(run.table), "allocation.xlsx": report_workbook(run)}
    files.update(feedback_files(run.table, run.rules, footer=footer,
                                **decision_feedback_kwargs(run.allocation, gaps_computed=run.params.gaps)))
    return files


def _date_fr(iso: str) -> str:
    t = dt.datetime.fromisoformat(iso)
    return f"{t:%d/%m/%Y} à {t:%H:%M}"


def stage_outputs(run: ReportRun, directory: str | Path) -> list[Path]:
    """Write :func:`export_files` and the (unsealed) ``manifest.json`` into `directory` (a private staging folder).

    ``ditp-model report`` gives the notebook a temporary folder here, then
    publishes its content with the HTML (:func:`produce_report`).
    """
    files = {**export_files(run), "manifest.json": manifest_bytes(run.manifest)}
    return write_outputs(directory, files)


# --------------------------------------------------------------------------- notebook, HTML, publication

#: The report notebook of the source checkout.
REPORT_NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04_rapport.ipynb"


class ReportNotebookError(RuntimeError):
    """The report notebook stopped on an error, or its HTML is not self-contained.

    Attributes
    ----------
    ename, evalue : str
        Exception class name and message raised in the notebook (French for the package's own errors).
    kept : Path or None
        The executed notebook kept for diagnosis by :func:`produce_report`
        (:func:`failed_notebook_path`), named in the message.
    """

    def __init__(self, ename: str, evalue: str, where: str = ""):
        self.ename = ename
        self.evalue = evalue
        self.kept = None  # the executed notebook kept for diagnosis (produce_report), if any
        super().__init__(f"{evalue}" + (f" ({where})" if where else ""))


def execute_report_notebook(parameters: dict, output_path: str | Path, *, notebook: str | Path | None = None,
                            start_timeout: int = 120) -> Path:
    """Run the report notebook with papermill and save the executed copy to `output_path`.

    Raises
    ------
    FileNotFoundError
        The notebook is missing (French).
    ReportNotebookError
        A cell raised; ``ename`` / ``evalue`` give the notebook's error.
    """
    try:
        import papermill as pm
        from papermill.exceptions import PapermillExecutionError
    except ImportError:
        raise ReportNotebookError("ImportError", "papermill n'est pas installé : installer les extras "
                                  "« notebooks » (pip install -e '.[notebooks]')") from None

    nb = Path(notebook) if notebook else REPORT_NOTEBOOK
    if not nb.is_file():
        raise FileNotFoundError(f"notebook du rapport introuvable : {nb} (lancer la commande depuis le dépôt, ou --notebook)")
    from ditp_model.outputs.kernels import NotebookKernelError, notebook_kernel

    try:
        kernel = notebook_kernel(nb)
    except NotebookKernelError as exc:
        raise ReportNotebookError("NoSuchKernel", str(exc)) from None
    with warnings.catch_warnings():
        # Third-party deprecation notices (jupyter_client, nbformat) are not the committee's business.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        try:
            pm.execute_notebook(str(nb), str(output_path), parameters=parameters, progress_bar=False, log_output=False,
                                cwd=str(nb.parent), start_timeout=start_timeout, kernel_name=kernel,
                                # the kernel's own log (e.g. ipykernel's notice about TCP transport) stays quiet
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except PapermillExecutionError as exc:
            raise ReportNotebookError(exc.ename, exc.evalue, f"cellule {exc.exec_count} du notebook {nb.name}") from None
    return Path(output_path)


_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{% from 'celltags.j2' import celltags %}
{#- A markdown cell is wrapped in a block carrying its tags (``paysage``: landscape printed pages, report_pdf). -#}
{% block markdowncell scoped %}<div class="ditp-md {{ celltags(cell) }}">{{ super() }}</div>{% endblock markdowncell %}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
     alt="{{ (output | get_metadata('alt', 'image/png')) or 'Graphique du rapport' | escape_html }}">
</div>
{%- endblock data_png %}
{%- block extra_css -%}
<style type="text/css">
  body.jp-Notebook { max-width: 1180px; margin: 0 auto; padding: 12px 24px 48px; background: #fff; }
  .jp-Cell { padding: 0 !important; }
  .jp-RenderedMarkdown h2 { border-bottom: 2px solid #000091; padding-bottom: 4px; margin-top: 28px; color: #000091; }
  .jp-RenderedMarkdown h3 { color: #161616; margin-top: 18px; }
  .jp-RenderedMarkdown p, .jp-RenderedMarkdown li { font-size: 13px; line-height: 1.5; }
  .jp-OutputArea-output img { max-width: 100%; }
</style>
{%- endblock extra_css -%}
{%- block html_head_css -%}
{{ resources.ditp_print_css }}
{%- endblock html_head_css -%}
"""

_EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import\s+["']""", re.I)


def render_html(executed: str | Path, *, title: str = "Rapport de sélection") -> tuple[str, list[str]]:
    """The executed report notebook as one self-contained HTML page without code.

    nbconvert's ``lab`` template with inputs and prompts excluded (what
    ``jupyter nbconvert --to html --no-input`` does), without the scripts it
    would fetch from a CDN; images are embedded.  Standard-error outputs
    (third-party notices) are left out of the page and returned.  The print
    style sheet :data:`ditp_model.outputs.report_pdf.PRINT_CSS` comes last, so
    that a browser prints the page as ``rapport.pdf`` is laid out.

    Returns
    -------
    (str, list of str)
        The HTML and the standard-error texts left out.

    Raises
    ------
    ReportNotebookError
        An error output in the notebook, or a reference to an external resource in the page.
    """
    try:
        import nbformat
        from jinja2 import DictLoader
        from nbconvert import HTMLExporter
    except ImportError:
        raise ReportNotebookError("ImportError", "nbconvert n'est pas installé : installer les extras "
                                  "« notebooks » (pip install -e '.[notebooks]')") from None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        nb = nbformat.read(str(executed), as_version=4)
    dropped: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        keep = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                raise ReportNotebookError(out.get("ename", "Erreur"), out.get("evalue", ""), "sortie d'erreur dans le notebook")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                dropped.append(out.get("text", ""))
                continue
            keep.append(out)
        cell["outputs"] = keep
    nb.metadata["title"] = title
    exporter = HTMLExporter(extra_loaders=[DictLoader({"ditp_rapport.html.j2": _TEMPLATE})], template_file="ditp_rapport.html.j2",
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.language_code = "fr"
    from ditp_model.outputs.report_pdf import PRINT_CSS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        body, _ = exporter.from_notebook_node(nb, resources={"ditp_print_css": PRINT_CSS})
    m = external_reference(body)
    if m:
        start = max(0, m.start() - 60)
        raise ReportNotebookError("ExternalResource", "le rapport HTML appelle une ressource externe : "
                                  f"« {body[start:m.end() + 60]} » ; il doit être autonome")
    return body, dropped


def external_reference(body: str):
    """The first reference to an external resource in an HTML page, or None.

    Only markup is searched — tag attributes (``src``, ``href``) and style
    sheets (``url(…)``, ``@import``) — never the text: an applicant's title
    that reads « voir href=//www.service-public.fr » is escaped text, shown
    as written, and must not stop the report.
    """
    for tag in re.finditer(r"<(?!/)[^<>]+>", body):
        m = _EXTERNAL.search(body, tag.start(), tag.end())
        if m:
            return m
    for style in re.finditer(r"<style[^>]*>(.*?)</style>", body, re.S | re.I):
        m = _EXTERNAL.search(body, style.start(1), style.end(1))
        if m:
            return m
    return None


def produce_report(params: ReportParams, out_dir: str | Path, *, journal: str | Path | None = None,
                   notebook: str | Path | None = None, provisional_allowed: bool | None = None,
                   provisional: bool | None = None, locks_file: str | Path | None = None):
    """Run, render and publish one report: ``rapport.html``, ``rapport.pdf``, exports, ``manifest.json`` and a journal entry.

    Steps: a quick run without entry gaps (a non-optimal or invalid run
    stops here, before anything is started); the journal is checked; the
    report notebook runs with papermill and stages the exports in a private
    temporary folder; the HTML is rendered, and laid out as the A4 PDF
    (:func:`ditp_model.outputs.report_pdf.html_to_pdf`); the decision of the
    notebook run must equal the quick run's; then every file is written atomically into
    `out_dir` and one entry is appended to the journal
    (:func:`ditp_model.outputs.record.publish`).  Any failure publishes nothing and
    leaves the previous report in place.

    Parameters
    ----------
    params : ReportParams
    out_dir : path
    journal : path, optional
        Default ``<out_dir>/decisions.jsonl``.
    notebook : path, optional
        Default :data:`REPORT_NOTEBOOK`.
    provisional_allowed : bool, optional
        ``False``: a provisional decision (:mod:`ditp_model.rules.held`) is
        refused (:class:`ReportProvisionalError`), and a final one needs a
        written reason for every lock (:class:`ReportParameterError`);
        ``True``: a provisional report is published (locks without reason
        allowed while provisional); ``None`` (default): no such check.
    provisional : bool, optional
        Overrides ``params.provisional`` (the caller accepts a provisional
        decision).  The « PROVISOIRE » mark (running header and watermark)
        comes from the data: a decision found provisional
        (:mod:`ditp_model.rules.held`) is always marked so, a final one never.
    locks_file : path, optional
        The committee's locks file (``--verrous``) the locks of ``params`` were read from: a lock without a
        reason is refused naming this file and its row (:func:`ditp_model.inputs.locks.missing_reasons_fr`, the
        wording of ``allocate``), and the manifest records it (``locks_file``: path and SHA-256).

    Returns
    -------
    ditp_model.outputs.record.Publication

    Raises
    ------
    ditp_model.inputs.schema.InputError, ValueError, ReportParameterError
        Bad inputs or parameters.
    ReportNotOptimalError
        No proven optimum.
    ReportProvisionalError
        A provisional decision with ``provisional_allowed=False``.
    ditp_model.outputs.record.JournalError
        The journal is damaged: nothing is appended to it.
    ReportNotebookError
        The notebook failed or its HTML is not self-contained.
    ditp_model.outputs.report_pdf.ReportPdfError
        The PDF could not be laid out (WeasyPrint missing or failing).
    AllocationError
        The notebook's decision differs from the quick run's.
    """
    from ditp_model.outputs import record
    from ditp_model.outputs.report_pdf import html_to_pdf

    if provisional is not None:
        params = replace(params, provisional=bool(provisional))
    quick = run_report(replace(params, gaps=False, output_dir=None))
    if quick.is_provisional and not params.provisional:
        params = replace(params, provisional=True)  # a decision found provisional is marked so on every page
    if provisional_allowed is not None:
        if quick.is_provisional and not provisional_allowed:
            raise ReportProvisionalError(quick.provisional)
        missing = params.allocation.missing_lock_reasons()
        if missing and not quick.is_provisional:
            from ditp_model.inputs.locks import missing_reasons_fr

            raise ReportParameterError([missing_reasons_fr(missing, params.allocation.lock_out, locks_file)])
    out = Path(out_dir)
    journal_path = Path(journal) if journal else out / record.JOURNAL_NAME
    record.check_published_against_journal(out, record.check_journal(journal_path))
    staging = Path(tempfile.mkdtemp(prefix="ditp-rapport-"))
    try:
        exports = staging / "exports"
        executed = execute_report_notebook({**params.notebook_parameters(), "output_dir": str(exports)},
                                           staging / "rapport.ipynb", notebook=notebook)
        manifest = json.loads((exports / "manifest.json").read_text(encoding="utf-8"))
        if locks_file:  # the locks file read (--verrous), recorded as allocate records it
            from ditp_model.inputs.locks import locks_file_record

            manifest["locks_file"] = locks_file_record(locks_file)
        if manifest.get("decision_sha256") != quick.manifest["decision_sha256"]:
            raise AllocationError("la décision du notebook diffère de celle du calcul de contrôle "
                                  f"({manifest.get('decision_sha256', '?')[:12]} ≠ {quick.manifest['decision_sha256'][:12]}) : "
                                  "aucun rapport publié")
        html, stderr = render_html(executed, title=f"Rapport de sélection — {quick.rules.call.name}")
        # The journal entry's anchor, printed in the annex (the entry itself is written by record.publish).
        head = record.check_journal(journal_path)
        recorded_at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        html = record.insert_journal_anchor(html, record.journal_anchor_html(
            seq=len(head.entries) + 1, previous=head.head, recorded_at=recorded_at, journal_name=journal_path.name))
        files = {"rapport.html": html.encode("utf-8"), "rapport.pdf": html_to_pdf(html)}
        for p in sorted(exports.rglob("*")):
            if p.is_file() and p.name != "manifest.json" and not p.name.endswith(".tmp"):
                files[p.relative_to(exports).as_posix()] = p.read_bytes()
        pub = record.publish(out, files, manifest, journal_path=journal_path, recorded_at=recorded_at,
                             expect_previous=head.head)
        return replace(pub, notes=tuple(s.strip() for s in stderr if s.strip()))
    except ReportNotebookError as exc:
        kept = keep_failed_notebook(staging / "rapport.ipynb", out)
        if kept is not None:
            exc.kept = kept
            exc.args = (f"{exc.args[0]}\nNotebook exécuté conservé pour le diagnostic (cellule en erreur comprise) : {kept}",)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def failed_notebook_path(out_dir: str | Path) -> Path:
    """Where the executed notebook of a failed report is kept: ``<dossier>_rapport_echec.ipynb`` beside the output folder.

    Beside it, not inside it: the output folder keeps the previous report,
    wholly (a file added there would not belong to its publication).
    """
    out = Path(out_dir).resolve()
    return out.parent / f"{out.name}_rapport_echec.ipynb"


def keep_failed_notebook(executed: Path, out_dir: str | Path) -> Path | None:
    """Copy the executed notebook of a failed report to :func:`failed_notebook_path` (atomically); None if none was written."""
    from ditp_model.inputs.io import write_bytes_atomic

    if not Path(executed).is_file():
        return None
    target = failed_notebook_path(out_dir)
    write_bytes_atomic(target, Path(executed).read_bytes())
    return target
