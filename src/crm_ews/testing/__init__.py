"""Test doubles for crm_ews: a stateful Exchange simulator speaking EWS.

In the spirit of moto for AWS: :class:`ExchangeSimulator` answers the SOAP an
on-premises Exchange Server 2016/2019/SE answers, with mailboxes, folders,
items, sync states, impersonation, throttling and fault injection, so that
clients (ours, or one nobody here wrote) run against it unchanged.

Run it in-process with :class:`SimulatorTransport` /
:class:`AsyncSimulatorTransport` (or ``httpx.WSGITransport(app=simulator)``),
over real HTTP with :class:`SimulatorServer`, from the command line with
``crm-ews simulator``, or through the pytest fixtures ``ews_simulator`` and
``ews_simulator_server``.

Recorded traffic (:class:`RecordingTransport`, :class:`ReplayTransport` and the
scrubbing rules) is re-exported here too.
"""

from __future__ import annotations

from crm_ews.testing._config import (
    FaultInjection,
    ServerProfile,
    ServiceAccount,
    ThrottlingPolicy,
)
from crm_ews.testing._recording import (
    AsyncRecordingTransport,
    AsyncReplayTransport,
    RecordedExchange,
    RecordingTransport,
    ReplayMatch,
    ReplayMismatchError,
    ReplayTransport,
    Scrubber,
    ScrubRules,
    load_recording,
)
from crm_ews.testing._response import Disconnect, SimulatedResponse
from crm_ews.testing._samples import calendar_item, contact, task
from crm_ews.testing._server import SimulatorServer
from crm_ews.testing._simulator import (
    EWS_PATH,
    CallInfo,
    CallRecord,
    ExchangeSimulator,
    FaultKind,
    SimulatedItem,
)
from crm_ews.testing._transports import (
    AsyncSimulatorTransport,
    SimulatedDisconnect,
    SimulatorTransport,
)

__all__ = [
    "EWS_PATH",
    "AsyncRecordingTransport",
    "AsyncReplayTransport",
    "AsyncSimulatorTransport",
    "CallInfo",
    "CallRecord",
    "Disconnect",
    "ExchangeSimulator",
    "FaultInjection",
    "FaultKind",
    "RecordedExchange",
    "RecordingTransport",
    "ReplayMatch",
    "ReplayMismatchError",
    "ReplayTransport",
    "ScrubRules",
    "Scrubber",
    "ServerProfile",
    "ServiceAccount",
    "SimulatedDisconnect",
    "SimulatedItem",
    "SimulatedResponse",
    "SimulatorServer",
    "SimulatorTransport",
    "ThrottlingPolicy",
    "calendar_item",
    "contact",
    "load_recording",
    "task",
]
