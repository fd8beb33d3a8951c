"""Committee scenarios: a named, saved set of weights, envelope, locks and rules, with the inputs it applies to.

A scenario file is JSON (UTF-8)::

    {
      "format": "ditp-scenario/1",
      "name": "Séance du 12 octobre — ouverture renforcée",
      "inputs": {"call": "data/appel_2021.toml", "applications": "...", "reviews": "...",
                 "sha256": {"<path>": "<hex>", ...}},
      "weights": {"impact": 0.45, "openness": 0.35, "collective": 0.2},
      "normalisation": "reviewer_zscore",
      "params": {"envelope_eur": 3000000, "lock_in": ["P012"], "group_rules": [...], ...},
      "ranking_variant": "skip",
      "decision_rule": "optimum"
    }

Input paths are stored relative to the scenario file's folder and resolved
against it when loading, so a folder of scenarios and data can be moved.  The committee panel saves and reloads these; the
report command takes one (``ditp-model report --scenario FILE``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .allocation import AllocationParams, GroupRule
from .io import Inputs, load_inputs, sha256_file, write_text_atomic
from .pipeline import Evaluation, evaluate
from .schema import InputError, Problem
from .scoring import Weights

__all__ = ["Scenario", "save_scenario", "load_scenario", "SCENARIO_FORMAT"]

SCENARIO_FORMAT = "ditp-scenario/1"


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
    normalisation : str
        ``raw_mean`` or ``reviewer_zscore``.
    ranking_variant : str
        ``skip`` or ``stop``.
    decision_rule : str
        ``optimum`` (the optimal allocation) or ``ranking`` (the ranking rule
        was the committee's choice in the session).
    sha256 : dict
        Path -> SHA-256 of the inputs when the scenario was saved ({} if unknown).
    """

    name: str
    call: str
    applications: str
    reviews: str
    weights: Weights
    params: AllocationParams = field(default_factory=AllocationParams)
    normalisation: str = "reviewer_zscore"
    ranking_variant: str = "skip"
    sha256: dict = field(default_factory=dict)
    decision_rule: str = "optimum"

    def __post_init__(self):
        if self.decision_rule not in ("optimum", "ranking"):
            raise ValueError(f"règle de décision « {self.decision_rule} » inconnue : optimum ou ranking")

    def load_inputs(self) -> Inputs:
        """Read the scenario's inputs (see :func:`ditp_model.io.load_inputs`)."""
        return load_inputs(self.call, self.applications, self.reviews)

    def evaluate(self, inputs: Inputs | None = None) -> Evaluation:
        """Eligibility and scores under the scenario's weights and normalisation."""
        return evaluate(inputs or self.load_inputs(), self.weights, self.normalisation)

    def changed_inputs(self) -> list[str]:
        """Input paths whose SHA-256 differs from the one saved (French-free: paths only)."""
        return [p for p, h in self.sha256.items() if not Path(p).exists() or sha256_file(p) != h]

    def to_dict(self) -> dict:
        """JSON-ready dict (see the module docstring for the layout)."""
        p = dataclasses.asdict(self.params)
        p["lock_in"] = sorted(self.params.lock_in)
        p["lock_out"] = sorted(self.params.lock_out)
        p["group_rules"] = [dataclasses.asdict(r) for r in self.params.group_rules]
        return {
            "format": SCENARIO_FORMAT,
            "name": self.name,
            "inputs": {"call": self.call, "applications": self.applications, "reviews": self.reviews, "sha256": self.sha256},
            "weights": self.weights.as_dict(),
            "normalisation": self.normalisation,
            "params": p,
            "ranking_variant": self.ranking_variant,
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

        if data.get("format") != SCENARIO_FORMAT:
            raise bad("format", data.get("format"), f"format attendu « {SCENARIO_FORMAT} »")
        try:
            inputs = data["inputs"]

            def resolve(p):
                q = Path(p)
                return str(q if q.is_absolute() or base is None else (base / q))

            params = dict(data.get("params", {}))
            params["lock_in"] = frozenset(params.get("lock_in", ()))
            params["lock_out"] = frozenset(params.get("lock_out", ()))
            params["group_rules"] = tuple(GroupRule(**r) for r in params.get("group_rules", ()))
            return cls(
                name=str(data.get("name", "")),
                call=resolve(inputs["call"]), applications=resolve(inputs["applications"]), reviews=resolve(inputs["reviews"]),
                weights=Weights(tuple((k, float(v)) for k, v in data["weights"].items())),
                params=AllocationParams(**params),
                normalisation=data.get("normalisation", "reviewer_zscore"),
                ranking_variant=data.get("ranking_variant", "skip"),
                decision_rule=data.get("decision_rule", "optimum"),
                sha256={resolve(k): v for k, v in inputs.get("sha256", {}).items()},
            )
        except KeyError as exc:
            raise bad(str(exc.args[0]), None, "clé obligatoire absente") from None
        except (TypeError, ValueError) as exc:
            raise bad("params", None, str(exc)) from None

    @classmethod
    def from_run(cls, name: str, call, applications, reviews, weights: Weights, params: AllocationParams,
                 normalisation: str = "reviewer_zscore", ranking_variant: str = "skip",
                 decision_rule: str = "optimum") -> "Scenario":
        """A scenario for these inputs, recording their current SHA-256."""
        paths = [str(Path(x).resolve()) for x in (call, applications, reviews)]
        return cls(name, *paths, weights=weights, params=params, normalisation=normalisation,
                   ranking_variant=ranking_variant, sha256={p: sha256_file(p) for p in paths}, decision_rule=decision_rule)


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
    for k in ("call", "applications", "reviews"):
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
