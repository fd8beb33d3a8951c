"""ditp-allocation: decision support for a public funding committee.

Flow (DESIGN.md): rules + applications + reviews -> eligibility -> scores ->
allocation -> explanation / robustness -> report.

Layers (docs/architecture.md): inputs/ -> scoring/ -> rules/ -> uncertainty/ ->
timeline/ -> outputs/ -> session/, cli/.  The public names below are what a
notebook uses first: load a call and the inputs, evaluate, decide with a rule
(its parameters, a portfolio rule ``GroupRule``), explain, report.

The names below are loaded on first use (PEP 562), so that ``import
ditp_model`` -- and the ``ditp-model`` command, which imports it -- does not
pay for pandas, pydantic and the rest before a sub-command needs them.
"""

from importlib import import_module

#: Public name -> sub-module that defines it (imported on first access).
_LAZY = {
    "CallRules": "inputs.call", "load_call_rules": "inputs.call",
    "Inputs": "inputs.io", "load_inputs": "inputs.io",
    "Evaluation": "scoring.pipeline", "evaluate": "scoring.pipeline",
    "InputError": "inputs.schema", "Problem": "inputs.schema",
    "Weights": "scoring.aggregate", "parse_weights": "scoring.aggregate",
    "AllocationParams": "rules.allocation", "GroupRule": "rules.allocation", "allocate": "rules.allocation",
    "get_rule": "rules.allocation",
    "explain": "rules.explain",
    "validate_parameters": "outputs.report", "produce_report": "outputs.report",
}

__all__ = ["CallRules", "load_call_rules", "Inputs", "load_inputs", "Evaluation", "evaluate", "InputError", "Problem",
           "Weights", "parse_weights", "AllocationParams", "GroupRule", "allocate", "get_rule", "explain", "validate_parameters",
           "produce_report", "__version__"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ditp-allocation")
    except PackageNotFoundError:  # running from a source tree without install
        return "0.0.0+source"


def __getattr__(name: str):
    if name == "__version__":  # reading the installed metadata costs tens of milliseconds
        globals()[name] = value = _version()
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
