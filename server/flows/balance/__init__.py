"""Account Balance (spec §14)."""
