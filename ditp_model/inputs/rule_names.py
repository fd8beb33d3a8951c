"""The names of the decision rules, in a module light enough for the command line's start-up.

The rules themselves live in :mod:`ditp_model.rules.allocation` (``RULES``,
``get_rule``); the first name is the default (DESIGN.md, "The decision rules").
"""

#: Decision rules a call (or a committee) may choose; the first is the default.
RULE_NAMES = ("merit_order", "ranking", "max_total_score", "max_score_weighted_award")
