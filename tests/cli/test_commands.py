"""The crm-ews commands, end to end (the simulator over loopback HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_ews._cli import cli
from crm_ews.repository import EntityType, SQLiteCRM
from crm_ews.testing import ExchangeSimulator, ServiceAccount, SimulatorServer

SVC = "svc-crm@example.com"
PASSWORD = "cli-test-password"
ALICE = "alice@example.com"
BOB = "bob@example.com"
CEO = "ceo@example.com"

CONFIG = """
[exchange]
url = "{url}"
username = "{svc}"

[crm]
adapter = "crm_ews.repository:SQLiteCRM"
options = {{ path = "{crm}" }}

[state]
path = "{state}"

[sync]
mailboxes = ["{alice}", "{bob}"]

[policies.contact]
conflict = "crm_wins"

[policies.task]
conflict = "exchange_wins"

[doctor]
unenrolled_sample = ["{ceo}"]
"""


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[ExchangeSimulator, str]]:
    scope = getattr(request, "param", frozenset({ALICE, BOB}))
    simulator = ExchangeSimulator(
        service_accounts=[ServiceAccount(SVC, PASSWORD, scope=scope)],
        mailboxes=[ALICE, BOB, CEO],
        seed=3,
    )
    simulator.seed_items(3, mailboxes=[ALICE, BOB])
    with SimulatorServer(simulator) as server:
        yield simulator, server.url


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "crm-ews.toml"
    path.write_text(
        CONFIG.format(
            url=url,
            svc=SVC,
            crm=tmp_path / "crm.db",
            state=tmp_path / "state.db",
            alice=ALICE,
            bob=BOB,
            ceo=CEO,
        ),
        encoding="utf-8",
    )
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, list(args), env={"CRM_EWS_PASSWORD": PASSWORD}, catch_exceptions=False
    )
    return result.exit_code, result.output


def test_demo_converges_and_exits_zero() -> None:
    """The offline demo syncs twice, ends converged and exits 0."""
    code, output = _run("demo", "--mailboxes", "2", "--items", "4")

    assert code == 0
    assert "Both sides converged." in output


def test_demo_json_reports_each_pass() -> None:
    """--json prints the run reports with the idle pass costing 3 calls per mailbox."""
    code, output = _run("demo", "--mailboxes", "2", "--items", "3", "--json")

    data = json.loads(output)
    assert code == 0
    assert data["converged"] is True
    assert [run["name"] for run in data["runs"]] == ["initial", "after edits", "idle"]
    assert data["runs"][2]["ews_calls_per_mailbox"] == 3.0
    assert data["runs"][2]["calls_by_operation"] == {"SyncFolderItems": 6}


@pytest.mark.network
def test_sync_against_a_served_simulator(
    served: tuple[ExchangeSimulator, str], tmp_path: Path
) -> None:
    """sync copies Exchange items into the configured SQLite CRM."""
    simulator, url = served
    config = _config(tmp_path, url)

    code, output = _run("sync", "--config", str(config), "--json")

    assert code == 0, output
    report = json.loads(output)
    assert report["totals"]["failed_mailboxes"] == 0
    with SQLiteCRM(tmp_path / "crm.db") as crm:
        assert len(crm.repository(EntityType.CONTACT).records(ALICE)) == 3
        assert len(crm.repository(EntityType.TASK).records(BOB)) == 3
        assert crm.repository(EntityType.APPOINTMENT).records(ALICE) == []
    assert all(call.account == SVC for call in simulator.calls)


@pytest.mark.network
def test_sync_dry_run_changes_nothing(
    served: tuple[ExchangeSimulator, str], tmp_path: Path
) -> None:
    """--dry-run prints the plan and writes nothing to the CRM."""
    _simulator, url = served
    config = _config(tmp_path, url)

    code, output = _run("sync", "--config", str(config), "--dry-run")

    assert code == 0, output
    assert "CreateInCRM" in output
    with SQLiteCRM(tmp_path / "crm.db") as crm:
        assert crm.repository(EntityType.CONTACT).records(ALICE) == []


@pytest.mark.network
def test_sync_refuses_a_mailbox_that_is_not_enrolled(
    served: tuple[ExchangeSimulator, str], tmp_path: Path
) -> None:
    """--mailbox naming an unenrolled mailbox fails before any call."""
    simulator, url = served

    code, output = _run(
        "sync", "--config", str(_config(tmp_path, url)), "--mailbox", CEO
    )

    assert code != 0
    assert "not enrolled" in output
    assert simulator.calls == []


@pytest.mark.network
def test_doctor_passes_with_a_tight_scope(
    served: tuple[ExchangeSimulator, str], tmp_path: Path
) -> None:
    """Enrolled reachable, the CEO not: doctor exits 0."""
    _simulator, url = served

    code, output = _run("doctor", "--config", str(_config(tmp_path, url)), "--json")

    assert code == 0, output
    data = json.loads(output)
    assert data["scope_too_wide"] is False
    assert [row["status"] for row in data["unenrolled"]] == ["impersonation_denied"]


@pytest.mark.network
@pytest.mark.parametrize("served", [None], indirect=True)
def test_doctor_flags_a_scope_wider_than_needed(
    served: tuple[ExchangeSimulator, str], tmp_path: Path
) -> None:
    """Without a management scope the CEO is reachable too: doctor exits 1."""
    _simulator, url = served

    code, output = _run("doctor", "--config", str(_config(tmp_path, url)))

    assert code == 1
    assert "narrow its management scope" in output


def test_scope_script_prints_the_shell_commands(tmp_path: Path) -> None:
    """scope-script prints the tagging, scope and role assignment commands."""
    config = _config(tmp_path, "https://mail.example.com/EWS/Exchange.asmx")

    code, output = _run("scope-script", "--config", str(config))

    assert code == 0
    assert f"Set-Mailbox -Identity '{BOB}'" in output
    assert f"-User '{SVC}' -CustomRecipientWriteScope" in output


def test_missing_password_is_a_clean_error(tmp_path: Path) -> None:
    """Without $CRM_EWS_PASSWORD the command says so and exits non-zero."""
    config = _config(tmp_path, "https://mail.example.com/EWS/Exchange.asmx")
    result = CliRunner().invoke(cli, ["doctor", "--config", str(config)], env={})

    assert result.exit_code == 1
    assert "CRM_EWS_PASSWORD" in result.output
