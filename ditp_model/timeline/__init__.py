"""Decisions over time: waves, reserve advice, milestones follow-up."""
