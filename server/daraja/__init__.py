"""The Daraja-compatible surface: wire models, the error catalogue and the aiohttp views."""
