"""The sandbox's test credentials, as ``handset --help``, the README and the settings have them.

The values are built once (server.sandbox_credentials) from the settings; these tests check that
the help and the README print exactly that, and that a config file extends the organisations
by default or replaces them when asked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from server.daraja.catalogue import SANDBOX_INITIATOR_PASSWORDS, SANDBOX_ORGANISATIONS, SANDBOX_PASSKEY
from server.sandbox_credentials import sandbox_credentials
from server.settings import FLAGS, Credential, MerchantConfig, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_defaults_are_the_portals_values() -> None:
    creds = sandbox_credentials(Settings())
    assert (creds.stk_shortcode, creds.passkey, creds.test_msisdn) == ("174379", SANDBOX_PASSKEY, "254708374149")
    assert creds.organisations == tuple(code for code, _ in SANDBOX_ORGANISATIONS)
    assert {"600000", "600984", "600992"} <= set(creds.organisations)
    assert creds.tills == ("600101",)
    assert (creds.initiator, creds.initiator_passwords) == ("testapi", SANDBOX_INITIATOR_PASSWORDS)
    env = dict(line.split("=", 1) for line in creds.env_block().splitlines() if not line.startswith("#"))
    assert env["MPESA_BASE_URL"] == "http://127.0.0.1:8400"
    assert env["MPESA_PASSKEY"] == SANDBOX_PASSKEY and env["MPESA_INITIATOR_PASSWORD"] == "Safaricom123!!"


def test_configured_credentials_and_merchants_show_as_they_are() -> None:
    settings = Settings(
        credentials=[Credential(key="ck", secret="cs")],
        merchants=[MerchantConfig(shortcode="600100", name="Shop", passkey="pk")],
        sandbox_organisations="replace",
    )
    creds = sandbox_credentials(settings, "https://tunnel.example")
    assert (creds.base_url, creds.consumer_key, creds.any_credentials) == ("https://tunnel.example", "ck", False)
    assert (creds.stk_shortcode, creds.passkey, creds.organisations, creds.tills) == ("600100", "pk", ("600100",), ())
    assert "MPESA_CONSUMER_SECRET=cs" in creds.env_block()
    assert ("Consumer Key/Secret", "ck / cs (as configured)") in creds.rows()


def test_help_lists_the_defaults_and_the_env_block() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSET_")}
    shown = subprocess.run(
        [sys.executable, "-m", "handset", "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert shown.returncode == 0, shown.stderr
    creds = sandbox_credentials(Settings())
    for line in [*creds.table().splitlines(), *creds.env_block().splitlines()]:
        assert f"  {line}\n" in shown.stdout, line


def test_the_readme_shows_what_the_emulator_has() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    creds = sandbox_credentials(Settings())
    assert creds.env_block() in readme
    assert creds.table() in readme


def test_a_config_file_extends_the_sandbox_organisations_or_replaces_them(tmp_path: Path) -> None:
    config = tmp_path / "handset.toml"
    mine = '[[merchants]]\nshortcode = "600000"\nname = "My Paybill"\nbalances = { working = 5 }\n'
    config.write_text(mine)
    extended = load_settings(config)
    codes = [m.shortcode for m in extended.merchants]
    # Mine first, replacing the default 600000; the others stay, each once.
    assert codes[0] == "600000" and extended.merchants[0].name == "My Paybill"
    assert sorted(codes) == sorted(m.shortcode for m in Settings().merchants)
    config.write_text('sandbox_organisations = "replace"\n' + mine)
    assert [m.shortcode for m in load_settings(config).merchants] == ["600000"]


def test_the_readmes_configuration_example_loads_and_names_every_setting(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration") :]
    example = section[section.index("```toml\n") + len("```toml\n") :]
    example = example[: example.index("```")]
    config = tmp_path / "readme.toml"
    config.write_text(example)
    settings = load_settings(config)  # the example is a valid file...
    assert settings.merchants[0].shortcode == "600100" and settings.merchants[1].initiators[0].name == "payouts-api"
    # ...and names every setting that is not a flag (the flags have their own paragraph).
    keys = {line.split("=", 1)[0].strip() for line in example.splitlines() if "=" in line.split("#", 1)[0]}
    flags = {path.split(".")[0] for path in FLAGS} - {"prompt_timeout"}
    missing = sorted(set(Settings.model_fields) - flags - keys - {"credentials", "merchants", "handsets"})
    assert missing == [], f"the README's configuration example lacks {missing}"
