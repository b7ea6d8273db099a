"""Modal screens of the handset TUI."""
