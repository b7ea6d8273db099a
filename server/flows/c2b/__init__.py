"""C2B: register URL, simulate, and the validation and confirmation calls to the merchant (spec §9-§11)."""
