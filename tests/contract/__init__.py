"""The OpenAPI document against the live server (schemathesis): marked slow."""
