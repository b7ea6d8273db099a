"""Reversal (spec §15)."""
