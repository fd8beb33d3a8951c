"""Decision rules, one module per rule with the same signature (``Candidates -> Allocation``, pabutools' ``rules/``).

* ``allocation``: the entry point (``allocate``), the rules by name (``RULES``, ``get_rule``);
* ``merit_order`` (default), ``ranking``, ``optimise`` (``max_total_score``, ``max_score_weighted_award``);
* shared: ``base`` (parameters, candidates, result), ``candidates`` (step « check »), ``merit_search`` (exact
  search, no solver), ``milp`` (model, HiGHS and CBC, lexicographic levels), ``recheck`` (exact integer re-check);
* around a decision: ``explain``, ``held`` (provisional decision), ``reserve_list``, ``manifest`` (decision record:
  table, manifest, hash), ``scenario``, ``pabulib`` (a Pabulib instance decided).
"""
