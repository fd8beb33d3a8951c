"""Committee scenarios: a named, saved set of weights, envelope, locks and rules, with the inputs it applies to.

A scenario file is JSON (UTF-8)::

    {
      "format": "ditp-scenario/2",
      "name": "Séance du 12 octobre — ouverture renforcée",
      "inputs": {"call": "data/appel_2021.toml", "applications": "...", "reviews": "...",
                 "conflicts": "data/conflits_exemple.csv",
                 "sha256": {"<path>": "<hex>", ...}},
      "weights": {"impact": 0.45, "openness": 0.35, "collective": 0.2},
      "normalisation": "reviewer_effects",
      "params": {"envelope_eur": 3000000, "lock_in": ["P012"], "group_rules": [...],
                 "rule": "merit_order", "ranking_variant": "skip", "tie_band_points": 0.5,
                 "min_score": 50.0, "min_criterion": {"impact": 2.5, "openness": 2.5}, ...},
      "decision_rule": "merit_order"
    }

The decision rule (:data:`ditp_model.rules.allocation.RULES`), the ex aequo band δ
and the quality thresholds are allocation parameters: the scenario records them
in ``params`` (``null``: the call's value); ``decision_rule`` repeats the rule
for a reader of the file.  A file of the first format (``ditp-scenario/1``:
``decision_rule`` « optimum » or « ranking », ``params.objective``) is read as
the rule it named: ``optimum`` with ``total_score`` -> ``max_total_score``,
with ``score_weighted_award`` -> ``max_score_weighted_award``; ``ranking`` ->
``ranking`` with the file's ``ranking_variant``.

``inputs.conflicts`` (absent when none was used) is the declarations of
conflicts of interest the session used (:mod:`ditp_model.inputs.conflicts`,
``--conflits``), with its SHA-256 among the others: the scenario's inputs are
read with it (:meth:`Scenario.load_inputs`), and a replay refuses a file that
changed or vanished since the scenario was saved (:meth:`Scenario.check_inputs`,
French, naming the file and what was recorded).

Input paths are stored relative to the scenario file's folder and resolved
against it when loading, so a folder of scenarios and data can be moved.  The committee panel saves and reloads these; the
report command takes one (``ditp-model report --scenario FILE``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ditp_model.rules.allocation import AllocationParams, GroupRule
from ditp_model.inputs.io import Inputs, sha256_file, write_text_atomic
from ditp_model.scoring.pipeline import Evaluation, evaluate
from ditp_model.inputs.schema import InputError, Problem
from ditp_model.scoring.aggregate import Weights

__all__ = ["Scenario", "save_scenario", "load_scenario", "scenario_params", "SCENARIO_FORMAT"]

SCENARIO_FORMAT = "ditp-scenario/2"
#: Earlier format still read (decision_rule "optimum"/"ranking", params.objective).
_FORMAT_1 = "ditp-scenario/1"
_OBJECTIVE_RULES = {"total_score": "max_total_score", "score_weighted_award": "max_score_weighted_award"}


def _params_from_v1(params: dict, decision_rule: str, ranking_variant: str) -> dict:
    """Parameters of a ``ditp-scenario/1`` file in today's terms: the rule it named instead of an objective."""
    params = dict(params)
    objective = params.pop("objective", None) or "total_score"
    if decision_rule == "ranking":
        params["rule"] = "ranking"
    elif decision_rule == "optimum":
        if objective not in _OBJECTIVE_RULES:
            raise ValueError(f"objectif « {objective} » inconnu : total_score ou score_weighted_award")
        params["rule"] = _OBJECTIVE_RULES[objective]
    else:
        raise ValueError(f"règle de décision « {decision_rule} » inconnue : optimum ou ranking")
    params["ranking_variant"] = ranking_variant
    return params


@dataclass(frozen=True)
class Scenario:
    """One committee scenario (immutable).

    Attributes
    ----------
    name : str
    call, applications, reviews : str
        Input paths.
    weights : Weights
    params : AllocationParams
        Includes the decision rule (``params.rule``), the ranking variant,
        the ex aequo band δ and the quality thresholds (None: the call's).
    normalisation : str
        ``raw_mean``, ``reviewer_zscore`` or ``reviewer_effects``.
    sha256 : dict
        Path -> SHA-256 of the inputs when the scenario was saved ({} if unknown).
    conflicts : str or None
        The declarations of conflicts of interest used (path; None: none), its SHA-256 in `sha256`.
    """

    name: str
    call: str
    applications: str
    reviews: str
    weights: Weights
    params: AllocationParams = field(default_factory=AllocationParams)
    normalisation: str = "reviewer_effects"
    sha256: dict = field(default_factory=dict)
    conflicts: str | None = None

    @property
    def decision_rule(self) -> str | None:
        """The decision rule recorded (:data:`ditp_model.rules.allocation.RULES`); None: the call's ``[selection] rule``."""
        return self.params.rule

    @property
    def ranking_variant(self) -> str:
        """``skip`` or ``stop`` (the ranking rule and its comparison column)."""
        return self.params.ranking_variant

    def load_inputs(self) -> Inputs:
        """Read the scenario's inputs, with its declarations of conflicts of interest when it records some.

        See :func:`ditp_model.inputs.conflicts.load_inputs_with_conflicts` (a review under a declared conflict is
        left out).  The files are read as they are: :meth:`check_inputs` says whether they changed.
        """
        from ditp_model.inputs.conflicts import load_inputs_with_conflicts

        return load_inputs_with_conflicts(self.call, self.applications, self.reviews, self.conflicts)

    def evaluate(self, inputs: Inputs | None = None) -> Evaluation:
        """Eligibility and scores under the scenario's weights and normalisation."""
        return evaluate(inputs or self.load_inputs(), self.weights, self.normalisation)

    def changed_inputs(self) -> list[str]:
        """Input paths whose SHA-256 differs from the one saved (French-free: paths only)."""
        return [p for p, h in self.sha256.items() if not Path(p).exists() or sha256_file(p) != h]

    def input_problems(self, source: str = "scénario") -> list[Problem]:
        """Each input file that vanished or changed since the scenario was saved, as a French problem.

        Parameters
        ----------
        source : str
            The scenario file, named in each problem.

        Returns
        -------
        list of Problem
            One per file: the scenario file, the key (``inputs.call``, ``inputs.conflicts``…), the path, and the rule
            broken (« fichier introuvable » or « modifié depuis l'enregistrement du scénario », with the SHA-256
            recorded and the current one).  Empty when every recorded file is as it was.
        """
        roles = {"call": "règles de l'appel", "applications": "candidatures", "reviews": "évaluations",
                 "conflicts": "déclarations de conflits d'intérêts"}
        out = []
        for role, label in roles.items():
            path = getattr(self, role)
            if path is None:
                continue
            recorded = self.sha256.get(path)
            if not Path(path).is_file():
                out.append(Problem(source, None, f"inputs.{role}", path,
                                   f"{label} : fichier introuvable ; le scénario a été enregistré avec ce fichier"
                                   + (f" (SHA-256 {recorded[:12]}…)" if recorded else "")
                                   + " : le remettre en place, ou enregistrer à nouveau le scénario", "scenario_input_missing"))
            elif recorded and sha256_file(path) != recorded:
                out.append(Problem(source, None, f"inputs.{role}", path,
                                   f"{label} : fichier modifié depuis l'enregistrement du scénario (SHA-256 enregistré "
                                   f"{recorded[:12]}…, actuel {sha256_file(path)[:12]}…) ; enregistrer à nouveau le "
                                   "scénario sur les données actuelles", "scenario_input_changed"))
        return out

    def check_inputs(self, source: str = "scénario") -> None:
        """Raise :class:`InputError` (French, every file at once) when an input vanished or changed since saving.

        See :meth:`input_problems`.
        """
        problems = self.input_problems(source)
        if problems:
            raise InputError(problems)

    def to_dict(self) -> dict:
        """JSON-ready dict (see the module docstring for the layout)."""
        p = dataclasses.asdict(self.params)
        p["lock_in"] = sorted(self.params.lock_in)
        p["lock_out"] = sorted(self.params.lock_out)
        p["lock_reasons"] = dict(self.params.lock_reasons)
        p["group_rules"] = [dataclasses.asdict(r) for r in self.params.group_rules]
        if self.params.min_criterion is not None:
            p["min_criterion"] = dict(self.params.min_criterion)
        return {
            "format": SCENARIO_FORMAT,
            "name": self.name,
            "inputs": {"call": self.call, "applications": self.applications, "reviews": self.reviews,
                       **({"conflicts": self.conflicts} if self.conflicts else {}), "sha256": self.sha256},
            "weights": self.weights.as_dict(),
            "normalisation": self.normalisation,
            "params": p,
            "decision_rule": self.decision_rule,
        }

    @classmethod
    def from_dict(cls, data: dict, *, base: Path | None = None, source: str = "scénario") -> "Scenario":
        """Build a scenario from its dict; relative input paths are resolved against `base`.

        Raises
        ------
        InputError
            Wrong format tag, missing key, or invalid parameter (French, naming the key).
        """
        def bad(key, value, rule):
            return InputError(Problem(source, None, key, value, rule, "bad_scenario"))

        if data.get("format") not in (SCENARIO_FORMAT, _FORMAT_1):
            raise bad("format", data.get("format"), f"format attendu « {SCENARIO_FORMAT} »")
        try:
            inputs = data["inputs"]

            def resolve(p):
                q = Path(p)
                return str(q if q.is_absolute() or base is None else os.path.normpath(base / q))  # no « dossier/../ »

            params = dict(data.get("params", {}))
            if data["format"] == _FORMAT_1:
                params = _params_from_v1(params, data.get("decision_rule", "optimum"), data.get("ranking_variant", "skip"))
            elif "decision_rule" in data and data["decision_rule"] != params.get("rule"):
                raise ValueError(f"« decision_rule » ({data['decision_rule']}) et « params.rule » ({params.get('rule')}) "
                                 "se contredisent")
            if isinstance(params.get("min_criterion"), dict):
                params["min_criterion"] = tuple(params["min_criterion"].items())
            params["lock_in"] = frozenset(params.get("lock_in", ()))
            params["lock_out"] = frozenset(params.get("lock_out", ()))
            params["group_rules"] = tuple(GroupRule(**r) for r in params.get("group_rules", ()))
            return cls(
                name=str(data.get("name", "")),
                call=resolve(inputs["call"]), applications=resolve(inputs["applications"]), reviews=resolve(inputs["reviews"]),
                weights=Weights(tuple((k, float(v)) for k, v in data["weights"].items())),
                params=AllocationParams(**params),
                normalisation=data.get("normalisation", "reviewer_effects"),
                sha256={resolve(k): v for k, v in inputs.get("sha256", {}).items()},
                conflicts=resolve(inputs["conflicts"]) if inputs.get("conflicts") else None,
            )
        except KeyError as exc:
            raise bad(str(exc.args[0]), None, "clé obligatoire absente") from None
        except (TypeError, ValueError) as exc:
            raise bad("params", None, str(exc)) from None

    @classmethod
    def from_run(cls, name: str, call, applications, reviews, weights: Weights, params: AllocationParams,
                 normalisation: str = "reviewer_effects", ranking_variant: str | None = None,
                 decision_rule: str | None = None, conflicts=None) -> "Scenario":
        """A scenario for these inputs, recording their current SHA-256.

        `decision_rule` and `ranking_variant`, when given, replace ``params.rule``
        and ``params.ranking_variant``.  `conflicts`, the declarations of conflicts
        of interest used (path), is recorded with its SHA-256.
        """
        paths = [str(Path(x).resolve()) for x in (call, applications, reviews)]
        declared = None if conflicts is None else str(Path(conflicts).resolve())
        if decision_rule is not None:
            params = dataclasses.replace(params, rule=decision_rule)
        if ranking_variant is not None:
            params = dataclasses.replace(params, ranking_variant=ranking_variant)
        return cls(name, *paths, weights=weights, params=params, normalisation=normalisation,
                   sha256={p: sha256_file(p) for p in paths + ([declared] if declared else [])}, conflicts=declared)


def save_scenario(scenario: Scenario, path: str | Path) -> Path:
    """Write the scenario as JSON, atomically; input paths are stored relative to the file's folder.

    Returns the path.
    """
    p = Path(path)
    folder = p.resolve().parent

    def rel(x: str) -> str:
        return os.path.relpath(Path(x).resolve(), folder)

    data = scenario.to_dict()
    inputs = data["inputs"]
    for k in ("call", "applications", "reviews", "conflicts"):
        if inputs.get(k):
            inputs[k] = rel(inputs[k])
    inputs["sha256"] = {rel(k): v for k, v in inputs["sha256"].items()}
    write_text_atomic(p, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    return p


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file.

    Raises
    ------
    InputError
        Unreadable file, not JSON, or invalid content (French, naming the key).
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(Problem(str(p), None, None, None, f"scénario illisible : {exc.strerror}", "unreadable")) from None
    except json.JSONDecodeError as exc:
        raise InputError(Problem(str(p), exc.lineno, None, None, f"JSON mal formé : {exc.msg}", "bad_json")) from None
    return Scenario.from_dict(data, base=p.parent, source=str(p))

def scenario_params(sc) -> AllocationParams:
    """The allocation parameters of a scenario, with the rule the committee chose.

    Every rule decides: the report publishes the scenario's rule as it is.  A
    scenario saved before the rules were one object says ``decision_rule =
    "ranking"`` for the ranking rule; its parameters then name no rule.
    """
    p = sc.params
    if p.rule is None and getattr(sc, "decision_rule", None) == "ranking":
        return replace(p, rule="ranking", ranking_variant=sc.ranking_variant)
    if p.ranking_variant != sc.ranking_variant:
        return replace(p, ranking_variant=sc.ranking_variant)
    return p
