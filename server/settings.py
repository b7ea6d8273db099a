"""Typed settings: defaults < TOML file < environment (``HANDSET_*``) < CLI flags.

Everything a user can tune lives in one model, ``Settings``, including the
Daraja behaviours that the spec marks as "varies", each with the spec's
default. Every field can come from the TOML file, from a ``HANDSET_<FIELD>``
variable (nested ones as ``HANDSET_UNATTENDED__MODE``, lists and tables as
JSON), and the fields in ``FLAGS`` from the command line; pydantic-settings
does the layering, so a new field needs no code to be read from anywhere.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from .daraja.catalogue import (
    SANDBOX_INITIATOR,
    SANDBOX_INITIATOR_PASSWORDS,
    SANDBOX_MERCHANT_NAME,
    SANDBOX_ORGANISATIONS,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
    SANDBOX_TEST_MSISDN,
    SANDBOX_TILL,
)
from .rules import CallbackPlan, Unattended

# [0-9], not \d (any Unicode digit); \Z, not $ (which allows a final newline in Python's re).
MSISDN_PATTERN = re.compile(r"^254[17][0-9]{8}\Z")
PIN_PATTERN = re.compile(r"^[0-9]{4}\Z")


class InitiatorConfig(BaseModel):
    """An API user of an organisation, for B2C, Transaction Status, Account Balance and Reversal."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1)


def _sandbox_initiators() -> list[InitiatorConfig]:
    return [InitiatorConfig(name=SANDBOX_INITIATOR, password=p) for p in SANDBOX_INITIATOR_PASSWORDS]


ACCOUNT_KINDS = ("working", "utility", "charges_paid", "merchant", "organization_settlement")
# The accounts of each kind of shortcode (spec §14); server.ledger has the same table.
KIND_ACCOUNTS = {
    "paybill": ("working", "utility", "charges_paid", "organization_settlement"),
    "till": ("merchant", "working", "charges_paid"),
    "b2c": ("working", "utility", "charges_paid"),
}


class MerchantConfig(BaseModel):
    """An organisation shortcode: a PayBill (STK with a passkey, C2B, B2C), a Till, or a B2C shortcode."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    shortcode: str = Field(pattern=r"^[0-9]{5,7}$")
    # Lipa na M-PESA Online (STK Push) needs one; without it, pushes to the shortcode are refused.
    passkey: str | None = Field(default=None, min_length=1)
    name: str = Field(min_length=1, max_length=60)
    kind: Literal["paybill", "till", "b2c"] = "paybill"
    # Money each account starts with (KES), when the shortcode is first seen.
    balances: dict[str, float] = Field(default_factory=dict)
    initiators: list[InitiatorConfig] = Field(default_factory=_sandbox_initiators)

    @model_validator(mode="after")
    def _known_accounts(self) -> MerchantConfig:
        unknown = sorted(set(self.balances) - set(KIND_ACCOUNTS[self.kind]))
        if unknown:
            raise ValueError(
                f"a {self.kind} has no {', '.join(unknown)} account; it has {', '.join(KIND_ACCOUNTS[self.kind])}"
            )
        if any(abs(kes) > 1e12 for kes in self.balances.values()):
            raise ValueError("balances must be below 1,000,000,000,000 KES")
        return self

    # C2B: call the ValidationURL before completing a payment (Safaricom turns this on per
    # shortcode on request; on here, so registered validation URLs are exercised).
    external_validation: bool = True


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


# Enough that the first B2C payments, reversals and balance queries succeed, as in the sandbox.
SANDBOX_ORGANISATION_BALANCES = {"working": 100_000.0, "utility": 1_000_000.0}


def _default_merchants() -> list[MerchantConfig]:
    """The organisations of the sandbox's test credentials page, there from the first start."""
    return [
        MerchantConfig(shortcode=SANDBOX_SHORTCODE, passkey=SANDBOX_PASSKEY, name=SANDBOX_MERCHANT_NAME),
        *(
            MerchantConfig(shortcode=code, name=name, balances=dict(SANDBOX_ORGANISATION_BALANCES))
            for code, name in SANDBOX_ORGANISATIONS
        ),
        MerchantConfig(shortcode=SANDBOX_TILL[0], name=SANDBOX_TILL[1], kind="till"),
    ]


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
    # Configured merchants "extend" the sandbox's organisations (one with the same shortcode
    # replaces the default), or "replace" them: only the configured ones exist.
    sandbox_organisations: Literal["extend", "replace"] = "extend"
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

    # C2B (spec §9-§11). How long a ValidationURL may take before ResponseType decides (§10.1).
    c2b_validation_timeout: float = Field(default=8.0, gt=0, le=120)
    # Registering URLs again for a shortcode: "overwrite" as the sandbox docs say, or "production":
    # the 500.003.1001 duplicate error (§9 varies).
    c2b_register: Literal["overwrite", "production"] = "overwrite"
    # The register-URL answer: the docs' form, or the 2026 sandbox's bare {"ResponseDescription"} (§9).
    c2b_register_ack: Literal["docs", "bare"] = "docs"
    # Words refused in C2B URLs: "mpesa" as observed, or "strict": the docs' whole list too (§9).
    c2b_url_words: Literal["mpesa", "strict"] = "mpesa"
    # MiddleName/LastName in validation and confirmation bodies: omitted since 2022, "" in the docs (§10.2).
    c2b_names: Literal["omit", "empty", "full"] = "omit"
    # MSISDN for URLs registered through v1: SHA-256 since November 2023, or the plain number (§10.3).
    c2b_v1_msisdn: Literal["hashed", "plain"] = "hashed"
    # An STK payment into a paybill with a ConfirmationURL also fires the C2B confirmation (§10.1).
    stk_c2b_confirmation: bool = True
    # Simulate calls back for any number, or, "sandbox", only for the test MSISDN as the sandbox does (§10.1).
    c2b_simulate: Literal["any", "sandbox"] = "any"

    # The initiator APIs: B2C, Transaction Status, Account Balance, Reversal (spec §8, §12-§15).
    result_delay: float = Field(default=3.0, ge=0, le=3600)  # seconds before the Result (§8.4)
    result_codes: Literal["numbers", "strings"] = "numbers"  # ResultType/ResultCode in Results (§8.4)
    result_escape_slashes: bool = True  # "\\/" in Results, as the raw captures show (§8.4)
    b2c_insufficient_code: int = 1  # the docs' 1, or the 4001 the 2026 sandbox sends (§19)
    # A B2C recipient with no phone here: give it one, or fail 2040 as the sandbox does (§12).
    b2c_unknown_msisdn: Literal["provision", "2040"] = "provision"
    b2c_legacy_order: bool = False  # the 2019/2020 order of the Result's parameters (§12)
    # SecurityCredential: "base64" takes any base64 value (Safaricom's certificate cannot be
    # undone here); "check" decrypts it with the emulator's own key and compares the password.
    security_credential: Literal["base64", "check"] = "base64"

    # A push with the same phone, shortcode, amount and AccountReference as one accepted less than
    # duplicate_window seconds ago: "flag" marks it (log, events, the transaction), "reject"
    # refuses it with a 409, "allow" says nothing. Daraja itself accepts them.
    duplicate_push: Literal["allow", "flag", "reject"] = "flag"
    duplicate_window: float = Field(default=60.0, gt=0, le=86_400)

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # When set, /simulator requires "Authorization: Bearer <control_token>", so a shared
    # instance cannot be driven by anyone who merely holds Daraja credentials.
    control_token: str | None = Field(default=None, min_length=8)
    # One line per request, settlement and callback attempt (and, in the TUI, warnings) here too.
    log_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _extend_sandbox_organisations(cls, data: Any) -> Any:
        # Before validation, so that the unique-shortcode check sees the whole list; a second
        # pass (the layers validate twice) adds nothing, as every default is then present.
        if not isinstance(data, dict) or data.get("sandbox_organisations", "extend") != "extend":
            return data
        configured = data.get("merchants")
        if not isinstance(configured, list):
            return data
        codes = {m.get("shortcode") if isinstance(m, dict) else getattr(m, "shortcode", None) for m in configured}
        missing = [m for m in _default_merchants() if m.shortcode not in codes]
        return {**data, "merchants": [*configured, *missing]} if missing else data

    @field_validator("b2c_insufficient_code")
    @classmethod
    def _insufficient(cls, code: int) -> int:
        if code not in (1, 4001):
            raise ValueError("must be 1 (the docs) or 4001 (the 2026 sandbox)")
        return code

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


ENV_PREFIX = "HANDSET_"

# Settings that are also command-line flags: the setting's path -> the flag.
FLAGS: dict[str, str] = {
    "host": "--host",
    "port": "--port",
    "db": "--db",
    "fresh": "--fresh",
    "prompt_timeout": "--prompt-timeout",
    "public_url": "--public-url",
    "log_file": "--log-file",
    "unattended.mode": "--mode",
    "unattended.think_time": "--think-time",
    "unattended.seed": "--seed",
}

# Settings a running emulator may change (control API and TUI); the rest need a restart.
RUNTIME_SETTINGS = (
    "prompt_timeout",
    "token_lifetime",
    "unknown_msisdn",
    "busy_phone",
    "query_pending",
    "account_reference",
    "result_desc_style",
    "callback_timeout",
    "callback_retries",
    "callback_backoff",
    "callback_backoff_cap",
    "callback_plan",
    "late_callback_delay",
    "duplicate_push",
    "duplicate_window",
    "c2b_validation_timeout",
    "c2b_register",
    "c2b_register_ack",
    "c2b_url_words",
    "c2b_names",
    "c2b_v1_msisdn",
    "stk_c2b_confirmation",
    "c2b_simulate",
    "result_delay",
    "result_codes",
    "result_escape_slashes",
    "b2c_insufficient_code",
    "b2c_unknown_msisdn",
    "b2c_legacy_order",
    "security_credential",
)


def env_name(path: str) -> str:
    """The variable a setting is read from: ``unattended.mode`` -> ``HANDSET_UNATTENDED__MODE``."""
    return ENV_PREFIX + path.replace(".", "__").upper()


def load_settings(config_file: Path | None = None, flags: dict[str, Any] | None = None) -> Settings:
    """Build settings from the layers, later layers winning: defaults, the TOML file,
    ``HANDSET_*`` variables, then ``flags`` (setting paths as in ``FLAGS``; None = not given).

    The config file is ``config_file``, or ``HANDSET_CONFIG`` when that is None.
    Raises SettingsError with one line naming the file, variable or flag at fault.
    """
    if config_file is None and os.environ.get(f"{ENV_PREFIX}CONFIG"):
        config_file = Path(os.environ[f"{ENV_PREFIX}CONFIG"])
    from_file = _read_toml(config_file) if config_file is not None else {}
    given = _nest({path: value for path, value in (flags or {}).items() if value is not None})
    _refuse_unknown_variables()

    class Layered(Settings, BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix=ENV_PREFIX,
            env_nested_delimiter="__",
            case_sensitive=False,
            extra="forbid",
        )

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            # First wins: flags, then the environment, then the file; defaults fill the rest.
            return init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=from_file)

    try:
        layered = Layered(**given)
    except SourceError as exc:
        raise SettingsError(f"invalid settings: {_source_problem(exc)}") from None
    except ValidationError as exc:
        problems = "; ".join(_describe(err, config_file, given) for err in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from None
    return Settings.model_validate(layered.model_dump())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None


def _nest(paths: dict[str, Any]) -> dict[str, Any]:
    """``{"unattended.mode": "approve"}`` -> ``{"unattended": {"mode": "approve"}}``."""
    nested: dict[str, Any] = {}
    for path, value in paths.items():
        *parents, leaf = path.split(".")
        target = nested
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return nested


def _refuse_unknown_variables() -> None:
    """A mistyped ``HANDSET_*`` variable would be ignored without a word: say so instead."""
    known = {name.upper() for name in Settings.model_fields} | {"CONFIG"}
    for variable in os.environ:
        if variable.upper().startswith(ENV_PREFIX):
            field = variable[len(ENV_PREFIX) :].upper().split("__", 1)[0]
            if field not in known:
                names = [env_name(name) for name in Settings.model_fields]
                close = difflib.get_close_matches(variable.upper(), names, n=1)
                hint = f"did you mean {close[0]}?" if close else "the README's Configuration lists every setting"
                raise SettingsError(f"{variable} is not a setting ({hint})")


def _describe(error: Any, config_file: Path | None, given: dict[str, Any]) -> str:
    """One validation error, with where its value came from: a flag, a variable or the file."""
    location = [str(part) for part in error["loc"]]
    path = ".".join(location)
    message = f"{path}: {error['msg']}"
    top = ".".join(location[:2]) if location[0] == "unattended" else location[0]
    if top in FLAGS and _lookup(given, top.split(".")) is not None:
        return f"{message} (from {FLAGS[top]})"
    for depth in range(len(location), 0, -1):
        variable = env_name(".".join(location[:depth]))
        if variable in {name.upper() for name in os.environ}:
            value = next(v for k, v in os.environ.items() if k.upper() == variable)
            return f"{message} (from {variable}={value!r})"
    if config_file is not None:
        return f"{message} (in {config_file})"
    return message


def _lookup(tree: dict[str, Any], parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _source_problem(exc: SourceError) -> str:
    # pydantic-settings says 'error parsing value for field "merchants" from source "EnvSettingsSource"'.
    match = re.search(r'field "([^"]+)"', str(exc))
    if match:
        return f"{env_name(match.group(1))} is not valid JSON for {match.group(1)}"
    return str(exc)
