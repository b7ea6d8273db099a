"""Typed settings: defaults < TOML file < environment (``HANDSET_*``) < CLI flags.

Everything a user can tune lives here, including the Daraja behaviours that
the spec marks as "varies", each with the spec's default.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .rules import CallbackPlan, Unattended
from .daraja.catalogue import (
    SANDBOX_MERCHANT_NAME,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
    SANDBOX_TEST_MSISDN,
)

# [0-9], not \d (any Unicode digit); \Z, not $ (which allows a final newline in Python's re).
MSISDN_PATTERN = re.compile(r"^254[17][0-9]{8}\Z")
PIN_PATTERN = re.compile(r"^[0-9]{4}\Z")


class MerchantConfig(BaseModel):
    """A merchant the emulator knows: a PayBill or a Till with its passkey."""

    model_config = ConfigDict(extra="forbid")

    shortcode: str = Field(pattern=r"^[0-9]{5,7}$")
    passkey: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=60)
    kind: Literal["paybill", "till"] = "paybill"


class HandsetConfig(BaseModel):
    """A customer's phone as configured at start (and after a reset)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    msisdn: str = Field(pattern=r"^254[17][0-9]{8}$")
    name: str = Field(min_length=1, max_length=40)
    pin: str = Field(default="1234", pattern=r"^[0-9]{4}$")
    balance: float = Field(default=10_000.0, ge=0, le=500_000)


class Credential(BaseModel):
    """A consumer key and secret that may get tokens."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1)
    secret: str = Field(min_length=1)


def _default_merchants() -> list[MerchantConfig]:
    return [MerchantConfig(shortcode=SANDBOX_SHORTCODE, passkey=SANDBOX_PASSKEY, name=SANDBOX_MERCHANT_NAME)]


def _default_handsets() -> list[HandsetConfig]:
    return [
        HandsetConfig(msisdn=SANDBOX_TEST_MSISDN, name="Wanjiku Kamau"),
        HandsetConfig(msisdn="254712345678", name="Otieno Odhiambo"),
        HandsetConfig(msisdn="254722000111", name="Achieng Njeri", balance=500.0),
    ]


def default_db_path() -> Path:
    """Where the database lives when ``--db`` is not given."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("mpesa-handset", appauthor=False)) / "handset.db"


class Settings(BaseModel):
    """All settings of one emulator instance."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=0, le=65535)
    # The base URL to tell merchants, when it is not where we listen (a tunnel, a proxy, a fixed
    # URL for screenshots); None means the address we are bound to.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/\s]+(/[^\s]*)?$")
    db: Path | None = None
    fresh: bool = False

    prompt_timeout: float = Field(default=60.0, gt=0)
    token_lifetime: int = Field(default=3600, ge=1)
    credentials: list[Credential] = Field(default_factory=list)
    merchants: list[MerchantConfig] = Field(default_factory=_default_merchants)
    handsets: list[HandsetConfig] = Field(default_factory=_default_handsets)

    # A push to a number with no handset: make one, or treat it as unreachable (1037).
    unknown_msisdn: Literal["provision", "unreachable"] = "provision"
    default_pin: str = Field(default="1234", pattern=r"^[0-9]{4}$")
    default_balance: float = Field(default=10_000.0, ge=0, le=500_000)

    # Spec "varies" switches, each defaulting to what the spec calls current.
    busy_phone: Literal["callback", "error"] = "callback"
    query_pending: Literal["current", "legacy"] = "current"
    account_reference: Literal["strict", "relaxed"] = "strict"
    result_desc_style: Literal["current", "legacy"] = "current"

    callback_timeout: float = Field(default=10.0, gt=0)
    callback_retries: int = Field(default=0, ge=0, le=20)
    callback_backoff: float = Field(default=1.0, gt=0)
    callback_backoff_cap: float = Field(default=60.0, gt=0)
    callback_plan: CallbackPlan = Field(default_factory=CallbackPlan)
    late_callback_delay: float = Field(default=300.0, ge=0)  # "late": after the merchant gave up

    unattended: Unattended = Field(default_factory=Unattended)

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # When set, /simulator requires "Authorization: Bearer <control_token>", so a shared
    # instance cannot be driven by anyone who merely holds Daraja credentials.
    control_token: str | None = Field(default=None, min_length=8)

    @field_validator("merchants")
    @classmethod
    def _unique_shortcodes(cls, merchants: list[MerchantConfig]) -> list[MerchantConfig]:
        codes = [m.shortcode for m in merchants]
        if len(codes) != len(set(codes)):
            raise ValueError("two merchants share a shortcode")
        return merchants

    @field_validator("handsets")
    @classmethod
    def _unique_msisdns(cls, handsets: list[HandsetConfig]) -> list[HandsetConfig]:
        numbers = [h.msisdn for h in handsets]
        if len(numbers) != len(set(numbers)):
            raise ValueError("two handsets share an MSISDN")
        return handsets

    def db_path(self) -> Path:
        return self.db if self.db is not None else default_db_path()


class SettingsError(Exception):
    """A settings file, variable or flag that cannot be used; the message says why."""


_SCALAR_ENV = (
    "host", "port", "db", "prompt_timeout", "token_lifetime", "unknown_msisdn", "busy_phone",
    "query_pending", "account_reference", "callback_timeout", "callback_retries", "control_token",
    "result_desc_style", "public_url",
)

# Settings a running emulator may change (control API and TUI); the rest need a restart.
RUNTIME_SETTINGS = (
    "prompt_timeout", "token_lifetime", "unknown_msisdn", "busy_phone", "query_pending", "account_reference",
    "result_desc_style", "callback_timeout", "callback_retries", "callback_backoff", "callback_backoff_cap",
    "callback_plan", "late_callback_delay",
)


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    unattended: dict[str, Any] | None = None,
) -> Settings:
    """Build settings from the layers, later layers winning."""
    data: dict[str, Any] = {}
    if config_file is not None:
        try:
            data.update(tomllib.loads(Path(config_file).read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise SettingsError(f"config file not found: {config_file}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {config_file} is not valid TOML: {exc}") from exc
    env = os.environ if environ is None else environ
    for name in _SCALAR_ENV:
        value = env.get(f"HANDSET_{name.upper()}")
        if value is not None:
            data[name] = value
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if unattended:
        data["unattended"] = {**data.get("unattended", {}), **unattended}
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from exc
