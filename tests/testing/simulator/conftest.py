"""Fixtures for the simulator's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_ews.testing import ExchangeSimulator
from tests.testing.simulator._ews import SOAPClient


@pytest.fixture
def ews(ews_simulator: ExchangeSimulator) -> Iterator[SOAPClient]:
    """A SOAP client bound in-process to the ``ews_simulator`` fixture."""
    with SOAPClient(ews_simulator) as client:
        yield client
