"""The engine and the HTTP server, over real HTTP."""
