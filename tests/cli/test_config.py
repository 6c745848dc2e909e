"""The crm-ews configuration file: validation, secrets and adapters."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_ews._config import ConfigError, load_config
from crm_ews.auth import BasicAuth, Secret
from crm_ews.repository import EntityType, SQLiteContactRepository
from crm_ews.sync import ConflictPolicy

GOOD = """
[exchange]
url = "https://mail.example.com/EWS/Exchange.asmx"
username = "svc-crm@example.com"

[crm]
adapter = "crm_ews.repository:SQLiteCRM"
options = {{ path = "{crm}" }}

[sync]
mailboxes = ["alice@example.com"]

[policies.contact]
conflict = "crm_wins"

[policies.appointment]
conflict = "park"
window_past_days = 7
window_future_days = 90
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crm-ews.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_builds_policies_auth_and_repositories(tmp_path: Path) -> None:
    """A complete file yields policies, credentials from the env and the adapter."""
    config = load_config(_write(tmp_path, GOOD.format(crm=tmp_path / "crm.db")))

    policies = {p.entity: p for p in config.entity_policies()}
    assert policies[EntityType.CONTACT].conflict is ConflictPolicy.CRM_WINS
    assert policies[EntityType.APPOINTMENT].window is not None
    auth = config.auth({"CRM_EWS_PASSWORD": "from-env"})
    assert isinstance(auth, BasicAuth)
    assert "from-env" not in repr(auth)
    repositories = config.repositories()
    assert isinstance(repositories[EntityType.CONTACT], SQLiteContactRepository)
    assert set(repositories) == {EntityType.CONTACT, EntityType.APPOINTMENT}


def test_password_in_the_file_is_refused(tmp_path: Path) -> None:
    """Secrets belong in the environment; the error names the key, not the value."""
    text = GOOD.format(crm="x").replace(
        'username = "svc-crm@example.com"',
        'username = "svc-crm@example.com"\npassword = "hunter2-secret"',
    )

    with pytest.raises(ConfigError, match="password must not be in the file") as info:
        load_config(_write(tmp_path, text))
    assert "hunter2" not in str(info.value)


def test_unknown_keys_and_bad_values_are_refused(tmp_path: Path) -> None:
    """A typo or an unknown policy fails loudly, naming where."""
    text = GOOD.format(crm="x").replace('conflict = "crm_wins"', 'conflct = "crm_wins"')

    with pytest.raises(ConfigError, match=r"policies\.contact"):
        load_config(_write(tmp_path, text))


def test_plain_http_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    """Credentials never travel in clear text except to loopback."""
    text = GOOD.format(crm="x").replace("https://mail", "http://mail")

    with pytest.raises(ConfigError, match="plain http"):
        load_config(_write(tmp_path, text))


def test_missing_password_variable_is_a_clear_error(tmp_path: Path) -> None:
    """Without the password variable, auth() says which variable to set."""
    config = load_config(_write(tmp_path, GOOD.format(crm="x")))

    with pytest.raises(ConfigError, match=r"\$CRM_EWS_PASSWORD"):
        config.auth({})


def test_environment_overrides_url_and_username(tmp_path: Path) -> None:
    """CRM_EWS_URL and CRM_EWS_USERNAME win over the file."""
    config = load_config(
        _write(tmp_path, GOOD.format(crm="x")),
        {
            "CRM_EWS_URL": "https://other.example.com/EWS/Exchange.asmx",
            "CRM_EWS_USERNAME": "svc2@example.com",
        },
    )

    assert config.exchange.url.startswith("https://other.example.com")
    assert config.exchange.username == "svc2@example.com"
    assert Secret("x") != Secret("y")


def test_bad_adapter_path_is_a_config_error(tmp_path: Path) -> None:
    """An adapter that cannot be imported is reported as a ConfigError."""
    text = GOOD.format(crm="x").replace(
        "crm_ews.repository:SQLiteCRM", "nowhere.at_all:Thing"
    )
    config = load_config(_write(tmp_path, text))

    with pytest.raises(ConfigError, match=r"cannot import nowhere\.at_all"):
        config.repositories()


def test_missing_file_and_broken_toml(tmp_path: Path) -> None:
    """Unreadable or malformed files raise ConfigError, never OSError."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[exchange\nurl="))


def test_callable_conflict_policy_is_refused_in_the_file(tmp_path: Path) -> None:
    """The callable policy needs code, so the file refuses it with a clear error."""
    text = GOOD.format(crm="x").replace(
        'conflict = "crm_wins"', 'conflict = "callable"'
    )

    with pytest.raises(ConfigError, match="needs Python code"):
        load_config(_write(tmp_path, text))


def test_one_window_bound_keeps_the_other_default(tmp_path: Path) -> None:
    """Giving only window_future_days keeps TimeWindow's default past span."""
    text = GOOD.format(crm="x").replace("window_past_days = 7\n", "")
    config = load_config(_write(tmp_path, text))

    [appointments] = [p for p in config.entity_policies() if p.window is not None]
    assert appointments.window is not None
    assert appointments.window.past.days == 30
    assert appointments.window.future.days == 90
