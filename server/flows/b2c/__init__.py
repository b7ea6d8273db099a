"""B2C payments (v1, v3) and Business to Pochi (spec §12)."""
