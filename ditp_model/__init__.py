"""ditp-allocation: decision support for a public funding committee.

Flow (DESIGN.md): rules + applications + reviews -> eligibility -> scores ->
allocation -> explanation / robustness -> report.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ditp-allocation")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"

from .call import CallRules, load_call_rules
from .io import Inputs, load_inputs
from .pipeline import Evaluation, evaluate
from .schema import InputError, Problem
from .scoring import Weights, parse_weights

__all__ = ["CallRules", "load_call_rules", "Inputs", "load_inputs", "Evaluation", "evaluate", "InputError", "Problem",
           "Weights", "parse_weights", "__version__"]
