"""mpesa-handset: an M-Pesa handset emulator in the terminal, speaking Daraja."""

from typing import Any


def __getattr__(name: str) -> Any:
    # ``handset.__version__`` comes from the installed package's metadata (pyproject.toml is the
    # one place the version is written), read only when asked for: start-up does not pay for it.
    if name == "__version__":
        from importlib.metadata import version

        return version("mpesa-handset")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
