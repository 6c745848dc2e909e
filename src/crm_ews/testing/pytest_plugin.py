"""pytest fixtures for testing against the Exchange simulator.

Registered as the ``crm_ews`` pytest plugin, so installing crm_ews makes
these fixtures available everywhere:

* ``ews_simulator``: an in-process :class:`~crm_ews.testing.ExchangeSimulator`
  with the service account ``svc-crm@example.com`` (password
  ``simulator-password``) and the mailboxes ``alice@example.com`` and
  ``bob@example.com``;
* ``ews_simulator_transport`` / ``ews_simulator_async_transport``: httpx
  transports bound to it, for ``httpx.Client`` and ``httpx.AsyncClient``;
* ``ews_simulator_server``: the same simulator served over real HTTP on
  127.0.0.1 and an ephemeral port.

Mark a test to change the set-up::

    @pytest.mark.ews_simulator(mailboxes=["carol@example.com"], seed_items=5)

Requests are validated against the EWS schema when the environment variable
``CRM_EWS_SCHEMA_DIR`` names the folder holding ``messages.xsd``.

This module imports nothing beyond the library's core dependencies.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from lxml import etree

from crm_ews.testing._config import ServiceAccount
from crm_ews.testing._server import SimulatorServer
from crm_ews.testing._simulator import ExchangeSimulator
from crm_ews.testing._transports import AsyncSimulatorTransport, SimulatorTransport

#: Login of the fixtures' service account.
SERVICE_ACCOUNT: Final = "svc-crm@example.com"
#: Its password.
PASSWORD: Final = "simulator-password"  # noqa: S105 -- a fixed test credential
#: Mailboxes the fixtures create unless a marker says otherwise.
MAILBOXES: Final = ("alice@example.com", "bob@example.com")

_MARKER: Final = "ews_simulator"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``ews_simulator`` marker (tests run with strict markers)."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(mailboxes=..., scope=..., seed=..., seed_items=..., "
        "can_impersonate=...): configure the ews_simulator fixture",
    )


@functools.cache
def _schema(folder: str) -> etree.XMLSchema:
    path = Path(folder) / "messages.xsd"
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def _schema_from_environment() -> etree.XMLSchema | None:
    folder = os.environ.get("CRM_EWS_SCHEMA_DIR")
    if not folder or not (Path(folder) / "messages.xsd").is_file():
        return None
    return _schema(folder)


@pytest.fixture
def ews_simulator(request: pytest.FixtureRequest) -> ExchangeSimulator:
    """A fresh in-process Exchange simulator (see the module docstring)."""
    marker = request.node.get_closest_marker(_MARKER)
    options = dict(marker.kwargs) if marker is not None else {}
    scope = options.get("scope")
    account = ServiceAccount(
        SERVICE_ACCOUNT,
        PASSWORD,
        can_impersonate=bool(options.get("can_impersonate", True)),
        scope=frozenset(scope) if scope is not None else None,
    )
    simulator = ExchangeSimulator(
        service_accounts=[account],
        mailboxes=options.get("mailboxes", MAILBOXES),
        seed=int(options.get("seed", 0)),
        schema=_schema_from_environment(),
    )
    seed_items = int(options.get("seed_items", 0))
    if seed_items:
        simulator.seed_items(seed_items, mailboxes=options.get("mailboxes", MAILBOXES))
    return simulator


@pytest.fixture
def ews_simulator_transport(ews_simulator: ExchangeSimulator) -> SimulatorTransport:
    """An httpx transport that answers from ``ews_simulator`` in-process."""
    return SimulatorTransport(ews_simulator)


@pytest.fixture
def ews_simulator_async_transport(
    ews_simulator: ExchangeSimulator,
) -> AsyncSimulatorTransport:
    """An asyncio httpx transport that answers from ``ews_simulator``."""
    return AsyncSimulatorTransport(ews_simulator)


@pytest.fixture
def ews_simulator_server(
    ews_simulator: ExchangeSimulator,
) -> Iterator[SimulatorServer]:
    """``ews_simulator`` served over HTTP on 127.0.0.1; ``.url`` is the endpoint."""
    with SimulatorServer(ews_simulator) as server:
        yield server
