"""The emulator's answer to the portal's "test credentials" page, built from the settings.

A team that already talks to the Daraja sandbox has an ``.env`` filled from that page; what it
needs to know is which of those values work here (all of them, by default) and where to point
the base URL. ``handset --help``, the TUI's connect panel and the README show what this module
builds, so the three never disagree with each other or with the organisations really loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from .daraja.catalogue import SANDBOX_INITIATOR, SANDBOX_TEST_MSISDN
from .settings import Settings

DEFAULT_BASE_URL = "http://127.0.0.1:8400"


@dataclass(frozen=True)
class SandboxCredentials:
    """What the portal's page lists, as this emulator has it."""

    base_url: str
    consumer_key: str
    consumer_secret: str
    any_credentials: bool
    stk_shortcode: str
    passkey: str
    organisations: tuple[str, ...]  # paybills and B2C shortcodes: C2B, B2C, status, balance, reversal
    tills: tuple[str, ...]
    initiator: str
    initiator_passwords: tuple[str, ...]
    test_msisdn: str

    def rows(self) -> list[tuple[str, str]]:
        """Label and value, in the order the portal shows them."""
        credentials = (
            "any non-empty pair"
            if self.any_credentials
            else f"{self.consumer_key} / {self.consumer_secret} (as configured)"
        )
        password, *older = self.initiator_passwords or ("(none)",)
        return [
            ("Base URL", self.base_url),
            ("Consumer Key/Secret", credentials),
            ("Business Shortcode", f"{self.stk_shortcode} (STK Push)"),
            ("Passkey", self.passkey),
            ("Shortcodes", " ".join(self.organisations) + " (C2B, B2C, status, balance, reversal)"),
            *([("Till", " ".join(self.tills) + " (Buy Goods)")] if self.tills else []),
            ("Initiator Name", self.initiator),
            ("Initiator Password", password + (f" ({', '.join(older)} works too)" if older else "")),
            ("SecurityCredential", "any base64, e.g. the password encrypted with the sandbox certificate"),
            ("Test MSISDN", self.test_msisdn),
        ]

    def table(self) -> str:
        """The rows as aligned text, for a terminal."""
        width = max(len(label) for label, _ in self.rows())
        return "\n".join(f"{label:<{width}}  {value}" for label, value in self.rows())

    def env(self) -> dict[str, str]:
        """The variables Daraja client libraries commonly read, with these values."""
        variables = {
            "MPESA_BASE_URL": self.base_url,
            "MPESA_CONSUMER_KEY": self.consumer_key,
            "MPESA_CONSUMER_SECRET": self.consumer_secret,
            "MPESA_SHORTCODE": self.stk_shortcode,
            "MPESA_PASSKEY": self.passkey,
        }
        if self.organisations:
            variables["MPESA_C2B_SHORTCODE"] = variables["MPESA_B2C_SHORTCODE"] = self.organisations[0]
        variables["MPESA_INITIATOR_NAME"] = self.initiator
        variables["MPESA_INITIATOR_PASSWORD"] = self.initiator_passwords[0] if self.initiator_passwords else ""
        variables["MPESA_TEST_MSISDN"] = self.test_msisdn
        return variables

    def env_block(self) -> str:
        """A copy-ready ``.env`` with the names Daraja client libraries commonly read."""
        lines = ["# The Daraja sandbox test credentials, pointed at mpesa-handset"]
        return "\n".join(lines + [f"{name}={value}" for name, value in self.env().items()])


def sandbox_credentials(settings: Settings, base_url: str = DEFAULT_BASE_URL) -> SandboxCredentials:
    """The test credentials that work against an emulator with these settings."""
    merchants = settings.merchants
    stk = next((m for m in merchants if m.passkey), merchants[0])
    creds = settings.credentials
    key, secret = (creds[0].key, creds[0].secret) if creds else ("any-key", "any-secret")
    organisations = tuple(m.shortcode for m in merchants if m.kind != "till" and m is not stk)
    # The sandbox initiator when it is there, else the first one an organisation has.
    initiators = [i for m in merchants for i in m.initiators]
    sandbox = [i for i in initiators if i.name == SANDBOX_INITIATOR]
    chosen = sandbox or initiators
    name = chosen[0].name if chosen else "(none)"
    passwords = tuple(dict.fromkeys(i.password for i in chosen if i.name == name))
    handsets = [h.msisdn for h in settings.handsets]
    return SandboxCredentials(
        base_url=base_url,
        consumer_key=key,
        consumer_secret=secret,
        any_credentials=not creds,
        stk_shortcode=stk.shortcode,
        passkey=stk.passkey or "(none: STK Push needs a passkey)",
        organisations=organisations or (stk.shortcode,),
        tills=tuple(m.shortcode for m in merchants if m.kind == "till"),
        initiator=name,
        initiator_passwords=passwords,
        test_msisdn=SANDBOX_TEST_MSISDN if SANDBOX_TEST_MSISDN in handsets or not handsets else handsets[0],
    )
