"""Uncertainty around a decision: fast re-solve, weight Monte Carlo and stability, envelope
sweep, grey zone and lottery, per-member views."""
