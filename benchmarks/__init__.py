"""Benchmarks of mpesa-handset, run apart from the tests: ``python -m benchmarks.run``."""
