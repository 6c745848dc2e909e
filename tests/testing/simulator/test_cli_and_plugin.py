"""The ``crm-ews simulator`` command and the pytest plugin's fixtures."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading

import httpx
import pytest
from click.testing import CliRunner

from crm_ews._cli import cli
from crm_ews._soap import Impersonation, build_envelope
from crm_ews.testing import (
    EWS_PATH,
    AsyncSimulatorTransport,
    ExchangeSimulator,
    SimulatorServer,
    SimulatorTransport,
)
from crm_ews.testing.pytest_plugin import PASSWORD, SERVICE_ACCOUNT
from tests.testing.simulator._ews import ALICE, request

_GET = (
    "<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds>'
)


def test_cli_group_lists_the_simulator_command() -> None:
    """crm-ews --help names the simulator command."""
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "simulator" in result.output


def test_cli_rejects_a_bad_account() -> None:
    """An account that is not an address is a usage error, not a traceback."""
    result = CliRunner().invoke(
        cli, ["simulator", "--service-account", "nobody", "--password", "pw"]
    )
    assert result.exit_code == 2
    assert "address" in result.output


@pytest.mark.network
def test_cli_serves_until_sigterm() -> None:
    """The command prints its URL, serves Basic-auth EWS and stops on SIGTERM."""
    command = [
        sys.executable,
        "-c",
        "from crm_ews._cli import main; main()",
        "simulator",
        "--port",
        "0",
        "--service-account",
        "svc-crm@example.com",
        "--password",
        "cli-secret-pw",
        "--mailbox",
        ALICE,
        "--seed-items",
        "2",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        summary = process.stdout.readline()
        url = first.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/EWS/Exchange.asmx")
        envelope = build_envelope(
            request("GetFolder", _GET), impersonation=Impersonation(ALICE)
        )
        with httpx.Client(auth=("svc-crm@example.com", "cli-secret-pw")) as client:
            assert client.post(url, content=envelope).status_code == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "cli-secret-pw" not in first + summary + out + err
    assert "6 sample items" in summary
    assert "simulator stopped" in out


@pytest.mark.ews_simulator(mailboxes=["carol@example.com"], seed_items=2, seed=7)
def test_marker_configures_the_fixture(ews_simulator: ExchangeSimulator) -> None:
    """The ews_simulator marker sets mailboxes, seed and sample items."""
    assert ews_simulator.mailboxes == ["svc-crm@example.com", "carol@example.com"]
    assert len(ews_simulator.items("carol@example.com", "contacts")) == 2


@pytest.mark.network
def test_server_fixture_serves_the_same_simulator(
    ews_simulator: ExchangeSimulator, ews_simulator_server: SimulatorServer
) -> None:
    """ews_simulator_server serves the ews_simulator instance on loopback."""
    assert ews_simulator_server.simulator is ews_simulator
    assert ews_simulator_server.port > 0


def test_transport_fixtures_answer_requests(
    ews_simulator_transport: SimulatorTransport,
    ews_simulator_async_transport: AsyncSimulatorTransport,
) -> None:
    """Both transport fixtures reach the same simulator."""
    envelope = build_envelope(
        request("GetFolder", _GET), impersonation=Impersonation(ALICE)
    )
    auth = (SERVICE_ACCOUNT, PASSWORD)
    with httpx.Client(transport=ews_simulator_transport, auth=auth) as client:
        assert client.post(f"http://sim{EWS_PATH}", content=envelope).status_code == 200

    async def post() -> int:
        async with httpx.AsyncClient(
            transport=ews_simulator_async_transport, auth=auth
        ) as client:
            response = await client.post(f"http://sim{EWS_PATH}", content=envelope)
            return response.status_code

    assert asyncio.run(post()) == 200


def test_plugin_imports_without_click() -> None:
    """The pytest plugin needs none of the cli extra."""
    code = (
        "import sys; sys.modules['click'] = None; sys.modules['rich'] = None\n"
        "import crm_ews.testing.pytest_plugin as plugin\n"
        "print(plugin.SERVICE_ACCOUNT)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "svc-crm@example.com"
