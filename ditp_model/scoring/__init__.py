"""Scoring: eligibility with every reason, review aggregation and the composite score, the
Bayesian review model, and the evaluation step that chains them (``pipeline.evaluate``)."""
