"""pytest fixtures for a merchant's own test suite: ``mpesa_handset``, a real emulator to test against.

Installed with the package (the ``pytest11`` entry point), so a suite that has mpesa-handset in
its test dependencies just asks for the fixture::

    def test_checkout_is_paid(mpesa_handset, monkeypatch):
        for name, value in mpesa_handset.env.items():    # MPESA_BASE_URL, MPESA_PASSKEY...
            monkeypatch.setenv(name, value)
        order = shop.checkout(phone="254708374149", amount=10)
        prompt = mpesa_handset.wait_for_prompt("254708374149")
        mpesa_handset.enter_pin(prompt["checkout_request_id"])
        ...

One emulator serves the whole session (per xdist worker), on a free port with a fresh database;
each test gets it reset to the configured handsets, organisations, settings and rules. A TOML
config (``--mpesa-handset-config`` or the ``mpesa_handset_config`` ini option) sets merchants,
handsets and behaviours as for ``handset serve``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import BackgroundEmulator


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mpesa-handset", "the M-Pesa handset emulator (mpesa_handset fixture)")
    group.addoption(
        "--mpesa-handset-config",
        default=None,
        help="TOML settings for the mpesa_handset fixture's emulator (merchants, handsets, behaviours)",
    )
    parser.addini("mpesa_handset_config", "TOML settings for the mpesa_handset fixture's emulator", default="")


@pytest.fixture(scope="session")
def mpesa_handset_server(pytestconfig: pytest.Config) -> Iterator[BackgroundEmulator]:
    """The session's emulator, started on first use; tests normally ask for ``mpesa_handset``."""
    # The engine loads only for suites that use it.
    from .settings import SettingsError
    from .testing import BackgroundEmulator

    option = pytestconfig.getoption("mpesa_handset_config") or pytestconfig.getini("mpesa_handset_config")
    config = Path(option) if option else None
    if config is not None and not config.is_absolute():
        config = pytestconfig.rootpath / config
    refusal = None
    try:
        emulator = BackgroundEmulator(config=config).start()
    except (SettingsError, RuntimeError) as exc:
        refusal = str(exc)
    if refusal is not None:
        # The one line `handset serve` would print (a bad config, a port...), not a traceback.
        pytest.fail(f"mpesa_handset: {refusal}", pytrace=False)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def mpesa_handset(mpesa_handset_server: BackgroundEmulator) -> BackgroundEmulator:
    """The emulator, reset for this test: configured phones and money, no history, default rules."""
    mpesa_handset_server.reset()
    return mpesa_handset_server
