"""The Textual app, driven with Pilot over the real embedded server."""
