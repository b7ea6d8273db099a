"""Widgets of the handset TUI."""
