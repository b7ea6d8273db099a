"""Transaction Status (spec §13)."""
