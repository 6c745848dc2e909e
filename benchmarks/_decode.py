"""Decode throughput: the same response bytes through three decoders.

The bytes come from the simulator (in this process; building them is not
timed): the first page of a SyncFolderItems on a calendar (``Create``
changes with crm_ews's full calendar shape) and one FindItem page of
contacts with crm_ews's summary shape.

Decoders, each given the complete body as ``bytes``:

* ``floor``: :func:`crm_ews._soap.parse_xml` alone, the hardened lxml parse
  every decoder has to do at least;
* ``crm_ews``: :func:`crm_ews._soap.decode_envelope` then the operation's
  ``parse``, exactly what the client does after the transport has read the
  body: envelope, response messages, items into frozen pydantic models;
* ``exchangelib``: the service's own response parsing without I/O.  For
  SyncFolderItems that is ``SyncFolderItems(account=...).parse(bytes)``
  (``to_xml`` with exchangelib's forgiving parser, ``_get_soap_parts``,
  ``_get_soap_messages``, ``_get_elements_in_response``, then
  ``_elem_to_obj`` -> ``Item.from_xml`` per change), consumed to the end.
  FindItem responses are paged, so ``parse`` does not apply; the same steps
  ``_paged_call`` takes are called in order: ``_get_soap_parts``,
  ``_get_soap_messages``, ``_get_page``, ``_get_elems_from_page``, then
  ``_elems_to_objs`` (``Contact.from_xml`` per item).  The ``Account`` is
  built without autodiscover and never sends anything.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks._harness import cpu_seconds
from benchmarks._server import PASSWORD, SERVICE_ACCOUNT
from crm_ews._soap import decode_envelope, parse_xml
from crm_ews.auth import BasicAuth
from crm_ews.ews import (
    CalendarItem,
    Contact,
    DistinguishedFolderId,
    DistinguishedFolderName,
    EWSClient,
    FindItem,
    IndexedPageView,
    SyncFolderItems,
)
from crm_ews.testing import ExchangeSimulator, ServiceAccount, SimulatorTransport

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials
    from exchangelib import Version as ELVersion
    from exchangelib.services import FindItem as ELFindItem
    from exchangelib.services import SyncFolderItems as ELSyncFolderItems
    from exchangelib.util import DummyResponse
    from exchangelib.version import EXCHANGE_2016

__all__ = ["DecodeCase", "DecodeFigures", "build_cases", "run_decoder"]

_MAILBOX = "decode@example.com"
_CALENDAR = DistinguishedFolderId(id=DistinguishedFolderName.CALENDAR)
_CONTACTS = DistinguishedFolderId(id=DistinguishedFolderName.CONTACTS)


@dataclass(frozen=True, slots=True)
class DecodeCase:
    """One response body and how many items it carries."""

    name: str
    operation: str
    body: bytes
    items: int


@dataclass(frozen=True, slots=True)
class DecodeFigures:
    """Throughput of one decoder on one case."""

    decoder: str
    repeats: int
    cpu_seconds: float
    mb_per_cpu_second: float
    items_per_cpu_second: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "decoder": self.decoder,
            "repeats": self.repeats,
            "cpu_seconds": round(self.cpu_seconds, 4),
            "mb_per_cpu_second": round(self.mb_per_cpu_second, 2),
            "items_per_cpu_second": round(self.items_per_cpu_second, 1),
        }


class _Capture(httpx.BaseTransport):
    """Keeps the last response body that passed through."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.last = b""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.last = response.read()
        return response


def build_cases(sync_changes: int, find_items: int) -> list[DecodeCase]:
    """Build a ``sync_changes``-change SyncFolderItems and a ``find_items``
    FindItem page from a seeded simulator."""
    simulator = ExchangeSimulator(
        service_accounts=[ServiceAccount(SERVICE_ACCOUNT, PASSWORD)],
        mailboxes=[_MAILBOX],
        seed=2026,
    )
    simulator.seed_items(max(sync_changes, find_items), mailboxes=[_MAILBOX])
    capture = _Capture(SimulatorTransport(simulator))
    with EWSClient(
        "http://simulator.invalid/EWS/Exchange.asmx",
        auth=BasicAuth(SERVICE_ACCOUNT, PASSWORD),
        http_transport=capture,
    ) as client:
        page = client.sync_folder_items(
            _CALENDAR,
            CalendarItem,
            max_changes_returned=sync_changes,
            mailbox=_MAILBOX,
        )
        sync_body = capture.last
        found = client.call(
            FindItem(
                _CONTACTS, Contact, view=IndexedPageView(0, max_entries=find_items)
            ),
            mailbox=_MAILBOX,
        )
        find_body = capture.last
    return [
        DecodeCase(
            f"SyncFolderItems {len(page.changes)} changes (calendar)",
            "SyncFolderItems",
            sync_body,
            len(page.changes),
        ),
        DecodeCase(
            f"FindItem {len(found.items)} items (contacts)",
            "FindItem",
            find_body,
            len(found.items),
        ),
    ]


def _floor(case: DecodeCase) -> Callable[[], int]:
    def decode() -> int:
        return len(parse_xml(case.body))

    return decode


def _crm_ews(case: DecodeCase) -> Callable[[], int]:
    if case.operation == "SyncFolderItems":
        sync = SyncFolderItems(_CALENDAR, CalendarItem, max_changes_returned=512)

        def decode() -> int:
            response = decode_envelope(
                case.body, operation="SyncFolderItems", mailbox=_MAILBOX
            )
            return len(sync.parse(response, mailbox=_MAILBOX).changes)

        return decode

    find = FindItem(_CONTACTS, Contact, view=IndexedPageView(0, 1000))

    def decode_find() -> int:
        response = decode_envelope(case.body, operation="FindItem", mailbox=_MAILBOX)
        return len(find.parse(response, mailbox=_MAILBOX).items)

    return decode_find


def _exchangelib_account() -> Any:
    # Nothing listens on this port: building the Account must not send.
    config = Configuration(
        service_endpoint="http://127.0.0.1:9/EWS/Exchange.asmx",
        credentials=Credentials(SERVICE_ACCOUNT, PASSWORD),
        auth_type=BASIC,
        version=ELVersion(build=EXCHANGE_2016),
    )
    return Account(
        primary_smtp_address=_MAILBOX,
        access_type=IMPERSONATION,
        autodiscover=False,
        config=config,
    )


def _exchangelib(case: DecodeCase) -> Callable[[], int]:
    account = _exchangelib_account()
    if case.operation == "SyncFolderItems":

        def decode() -> int:
            service = ELSyncFolderItems(account=account)
            changes = list(service.parse(case.body))
            if any(isinstance(change, Exception) for change in changes):
                raise RuntimeError("exchangelib returned an error element")
            return len(changes)

        return decode

    def decode_find() -> int:
        service = ELFindItem(account=account, page_size=1000)
        service.shape = "AllProperties"  # anything but IdOnly: build items
        service.additional_fields = None
        _header, body = service._get_soap_parts(DummyResponse(content=case.body))
        items = 0
        for message in service._get_soap_messages(body):
            page, _next_offset = service._get_page(message)
            if isinstance(page, Exception):
                raise page
            elements = service._get_elems_from_page(page, None, 0)
            items += sum(1 for _ in service._elems_to_objs(elements))
        return items

    return decode_find


_DECODERS: dict[str, Callable[[DecodeCase], Callable[[], int]]] = {
    "floor": _floor,
    "crm_ews": _crm_ews,
    "exchangelib": _exchangelib,
}


def run_decoder(name: str, case: DecodeCase, *, min_cpu: float) -> DecodeFigures:
    """Decode ``case`` repeatedly for at least ``min_cpu`` CPU seconds.

    One warm-up run first (caches, lazy imports); ``floor`` counts the
    envelope's top-level children as its "items", so its items-per-second
    figure is left at the case's item count per parse for comparison.
    """
    decode = _DECODERS[name](case)
    produced = decode()
    if name != "floor" and produced != case.items:
        raise RuntimeError(f"{name} decoded {produced} items, expected {case.items}")
    repeats = 0
    began = cpu_seconds()
    wall = time.perf_counter()
    while True:
        decode()
        repeats += 1
        spent = cpu_seconds() - began
        if spent >= min_cpu and repeats >= 3:
            break
        if time.perf_counter() - wall > 60 * max(min_cpu, 1.0):
            break
    megabytes = len(case.body) * repeats / 1e6
    return DecodeFigures(
        decoder=name,
        repeats=repeats,
        cpu_seconds=spent,
        mb_per_cpu_second=megabytes / spent if spent else 0.0,
        items_per_cpu_second=case.items * repeats / spent if spent else 0.0,
    )
