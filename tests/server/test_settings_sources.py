"""Every setting comes from the file, from a HANDSET_* variable and, where it is a flag, from the
command line, with one precedence: flags > environment > file > defaults.

The tests enumerate ``Settings.model_fields``: a new setting without a sample here fails
``test_every_setting_has_a_sample``, so none can be forgotten by the layers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from handset.cli import build_parser, settings_from_args
from server.settings import FLAGS, Settings, SettingsError, env_name, load_settings

# setting -> (TOML text, environment text, the value either must give). Every value differs
# from the default.
SAMPLES: dict[str, tuple[str, str, Any]] = {
    "host": ('host = "0.0.0.0"', "0.0.0.0", "0.0.0.0"),
    "port": ("port = 9123", "9123", 9123),
    "public_url": ('public_url = "https://tunnel.example"', "https://tunnel.example", "https://tunnel.example"),
    "db": ('db = "/tmp/x/h.db"', "/tmp/x/h.db", Path("/tmp/x/h.db")),
    "fresh": ("fresh = true", "true", True),
    "prompt_timeout": ("prompt_timeout = 12.5", "12.5", 12.5),
    "token_lifetime": ("token_lifetime = 60", "60", 60),
    "credentials": (
        '[[credentials]]\nkey = "k1"\nsecret = "s1"',
        '[{"key": "k1", "secret": "s1"}]',
        [{"key": "k1", "secret": "s1"}],
    ),
    # A configured merchant comes first; the sandbox's organisations follow (sandbox_organisations).
    "merchants": (
        '[[merchants]]\nshortcode = "600100"\npasskey = "pk"\nname = "Shop"\nkind = "till"',
        '[{"shortcode": "600100", "passkey": "pk", "name": "Shop", "kind": "till"}]',
        [
            {
                "shortcode": "600100",
                "passkey": "pk",
                "name": "Shop",
                "kind": "till",
                "external_validation": True,
                "balances": {},
                "initiators": [
                    {"name": "testapi", "password": "Safaricom123!!"},
                    {"name": "testapi", "password": "Safaricom999!*!"},
                ],
            },
            *(merchant.model_dump() for merchant in Settings().merchants),
        ],
    ),
    "security_credential": ('security_credential = "check"', "check", "check"),
    "sandbox_organisations": ('sandbox_organisations = "replace"', "replace", "replace"),
    "handsets": (
        '[[handsets]]\nmsisdn = "254700000001"\nname = "One"',
        '[{"msisdn": "254700000001", "name": "One"}]',
        [{"msisdn": "254700000001", "name": "One", "pin": "1234", "balance": 10_000.0}],
    ),
    "unknown_msisdn": ('unknown_msisdn = "unreachable"', "unreachable", "unreachable"),
    "default_pin": ('default_pin = "9876"', "9876", "9876"),
    "default_balance": ("default_balance = 250", "250", 250.0),
    "busy_phone": ('busy_phone = "error"', "error", "error"),
    "query_pending": ('query_pending = "legacy"', "legacy", "legacy"),
    "account_reference": ('account_reference = "relaxed"', "relaxed", "relaxed"),
    "result_desc_style": ('result_desc_style = "legacy"', "legacy", "legacy"),
    "callback_timeout": ("callback_timeout = 3", "3", 3.0),
    "callback_retries": ("callback_retries = 4", "4", 4),
    "callback_backoff": ("callback_backoff = 0.5", "0.5", 0.5),
    "callback_backoff_cap": ("callback_backoff_cap = 9", "9", 9.0),
    "callback_plan": (
        'callback_plan = { mode = "delay", seconds = 5 }',
        '{"mode": "delay", "seconds": 5}',
        {"mode": "delay", "seconds": 5.0, "copies": 2},
    ),
    "late_callback_delay": ("late_callback_delay = 30", "30", 30.0),
    "unattended": (
        '[unattended]\nmode = "approve"\nthink_time = 2',
        '{"mode": "approve", "think_time": 2}',
        {"mode": "approve", "think_time": 2.0, "seed": None, "magic_numbers": True, "rules": [], "payout_rules": []},
    ),
    "c2b_validation_timeout": ("c2b_validation_timeout = 2.5", "2.5", 2.5),
    "c2b_register": ('c2b_register = "production"', "production", "production"),
    "c2b_register_ack": ('c2b_register_ack = "bare"', "bare", "bare"),
    "c2b_url_words": ('c2b_url_words = "strict"', "strict", "strict"),
    "c2b_names": ('c2b_names = "full"', "full", "full"),
    "c2b_v1_msisdn": ('c2b_v1_msisdn = "plain"', "plain", "plain"),
    "stk_c2b_confirmation": ("stk_c2b_confirmation = false", "false", False),
    "c2b_simulate": ('c2b_simulate = "sandbox"', "sandbox", "sandbox"),
    "result_delay": ("result_delay = 0.5", "0.5", 0.5),
    "result_codes": ('result_codes = "strings"', "strings", "strings"),
    "result_escape_slashes": ("result_escape_slashes = false", "false", False),
    "b2c_insufficient_code": ("b2c_insufficient_code = 4001", "4001", 4001),
    "b2c_unknown_msisdn": ('b2c_unknown_msisdn = "2040"', "2040", "2040"),
    "b2c_legacy_order": ("b2c_legacy_order = true", "true", True),
    "duplicate_push": ('duplicate_push = "reject"', "reject", "reject"),
    "duplicate_window": ("duplicate_window = 15", "15", 15.0),
    "max_body_bytes": ("max_body_bytes = 4096", "4096", 4096),
    "control_token": ('control_token = "secret-token"', "secret-token", "secret-token"),
    "log_file": ('log_file = "/tmp/x/h.log"', "/tmp/x/h.log", Path("/tmp/x/h.log")),
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("HANDSET_"):
            monkeypatch.delenv(name)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if hasattr(value, "model_dump"):
        return value.model_dump()
    return value


def test_every_setting_has_a_sample() -> None:
    assert set(SAMPLES) == set(Settings.model_fields)
    for name, (_, _, expected) in SAMPLES.items():
        assert _plain(getattr(Settings(), name)) != expected, f"{name}'s sample is its default"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_setting_from_the_file(name: str, tmp_path: Path) -> None:
    config = tmp_path / "handset.toml"
    config.write_text(SAMPLES[name][0] + "\n")
    assert _plain(getattr(load_settings(config), name)) == SAMPLES[name][2]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_setting_from_the_environment(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env_name(name), SAMPLES[name][1])
    assert _plain(getattr(load_settings(), name)) == SAMPLES[name][2]


# For settings whose default is None (the environment cannot say None): another value.
OTHER_VALUES = {
    "public_url": ("https://other.example", "https://other.example"),
    "db": ("/tmp/z/h.db", Path("/tmp/z/h.db")),
    "control_token": ("other-token", "other-token"),
    "log_file": ("/tmp/z/h.log", Path("/tmp/z/h.log")),
}


def _as_variable(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)) or hasattr(value, "model_dump"):
        return json.dumps(_plain(value))
    return str(value)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_environment_beats_the_file(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file says the sample; the variable says the default (or another value): the variable wins."""
    config = tmp_path / "handset.toml"
    config.write_text(SAMPLES[name][0] + "\n")
    default = getattr(Settings(), name)
    text, expected = OTHER_VALUES[name] if default is None else (_as_variable(default), _plain(default))
    monkeypatch.setenv(env_name(name), text)
    assert _plain(getattr(load_settings(config), name)) == expected


# flag path -> (command-line words, the value it gives)
FLAG_SAMPLES: dict[str, tuple[list[str], Any]] = {
    "host": (["--host", "0.0.0.0"], "0.0.0.0"),
    "port": (["--port", "9124"], 9124),
    "db": (["--db", "/tmp/y/h.db"], Path("/tmp/y/h.db")),
    "fresh": (["--fresh"], True),
    "prompt_timeout": (["--prompt-timeout", "7"], 7.0),
    "public_url": (["--public-url", "https://flag.example"], "https://flag.example"),
    "log_file": (["--log-file", "/tmp/y/h.log"], Path("/tmp/y/h.log")),
    "unattended.mode": (["--mode", "cancel"], "cancel"),
    "unattended.think_time": (["--think-time", "3"], 3.0),
    "unattended.seed": (["--seed", "42"], 42),
}


def _get(settings: Settings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


def test_every_flag_has_a_sample() -> None:
    assert set(FLAG_SAMPLES) == set(FLAGS)


@pytest.mark.parametrize("path", sorted(FLAG_SAMPLES))
@pytest.mark.parametrize("command", [[], ["serve"]], ids=["tui", "serve"])
def test_each_flag_beats_the_environment_and_the_file(
    path: str, command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    words, expected = FLAG_SAMPLES[path]
    top = path.split(".")[0]
    config = tmp_path / "handset.toml"
    config.write_text(SAMPLES[top][0] + "\n")
    if top != "unattended":  # the environment's value for the same setting, different again
        monkeypatch.setenv(env_name(top), SAMPLES[top][1])
    else:
        monkeypatch.setenv(env_name(path), {"mode": "timeout", "think_time": "9", "seed": "8"}[path.split(".")[1]])
    args = build_parser().parse_args([*command, *words, "--config", str(config)])
    settings = settings_from_args(args)
    assert _get(settings, path) == expected
    if top == "unattended":  # a flag for one nested field keeps the rest of the file's table
        from_file = {"mode": "approve", "think_time": 2.0, "seed": None}
        del from_file[path.split(".")[1]]
        assert {key: getattr(settings.unattended, key) for key in from_file} == from_file


def test_nested_variables_merge_with_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "handset.toml"
    config.write_text(
        '[unattended]\nmode = "approve"\nthink_time = 2\n[[unattended.rules]]\nmsisdn = "254712345678"\noutcome = "cancel"\n'
    )
    monkeypatch.setenv("HANDSET_UNATTENDED__THINK_TIME", "5")
    monkeypatch.setenv("HANDSET_CALLBACK_PLAN__MODE", "drop")
    settings = load_settings(config, {"unattended.seed": 3})
    assert (settings.unattended.mode, settings.unattended.think_time, settings.unattended.seed) == ("approve", 5.0, 3)
    assert [rule.msisdn for rule in settings.unattended.rules] == ["254712345678"]
    assert settings.callback_plan.mode == "drop"


def test_the_config_file_can_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "handset.toml"
    config.write_text("callback_backoff = 0.25\n")
    monkeypatch.setenv("HANDSET_CONFIG", str(config))
    assert load_settings().callback_backoff == 0.25


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("HANDSET_PORT", "eighty", ["port", "HANDSET_PORT='eighty'"]),
        ("HANDSET_CALLBACK_BACKOFF", "-1", ["callback_backoff", "HANDSET_CALLBACK_BACKOFF='-1'"]),
        ("HANDSET_UNATTENDED__MODE", "sometimes", ["unattended.mode", "HANDSET_UNATTENDED__MODE"]),
        ("HANDSET_MERCHANTS", "[not json", ["HANDSET_MERCHANTS", "not valid JSON"]),
        ("HANDSET_CALBACK_BACKOFF", "2", ["HANDSET_CALBACK_BACKOFF is not a setting", "HANDSET_CALLBACK_BACKOFF"]),
    ],
)
def test_a_bad_variable_is_named(variable: str, value: str, words: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    for word in words:
        assert word in str(refused.value)


def test_a_bad_flag_and_a_bad_file_value_are_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"prompt_timeout: .* \(from --prompt-timeout\)"):
        settings_from_args(build_parser().parse_args(["--prompt-timeout", "-3"]))
    config = tmp_path / "handset.toml"
    config.write_text("token_lifetime = 0\n")
    with pytest.raises(SettingsError, match=rf"token_lifetime: .* \(in {config}\)"):
        load_settings(config)
