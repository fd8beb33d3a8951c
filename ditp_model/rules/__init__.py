"""Decision rules: the rule interface and the rules themselves (merit order, ranking,
optimisation objectives; the MILP with its exact re-check), the decision record (manifest,
decision table and hash), scenarios, and explanations of a decision."""
