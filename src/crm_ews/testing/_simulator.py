"""The Exchange simulator: accounts, mailboxes, request pipeline, introspection.

:class:`ExchangeSimulator` answers EWS SOAP requests the way an on-premises
Exchange Server 2016/2019/SE does.  :meth:`ExchangeSimulator.handle` is the
transport-independent core; the WSGI application, the httpx transports and
the loopback HTTP server all call it.

One request runs through these steps, each able to end it the way Exchange
would:

1. HTTP method and path, then Basic authentication (401 with
   ``WWW-Authenticate``);
2. hardened XML parsing and the SOAP envelope (``ErrorSchemaValidation``);
3. ``RequestServerVersion`` (``ErrorInvalidServerVersion``) and the
   impersonation header's shape
   (``ErrorInvalidExchangeImpersonationHeaderData``);
4. schema validation of headers and body, when a schema was given;
5. the target mailbox: role, scope and existence
   (``ErrorImpersonateUserDenied``, ``ErrorNonExistentMailbox``);
6. throttling budgets (``ErrorExceededConnectionCount``, ``ErrorServerBusy``);
7. injected latency and faults, the test hook, then the operation itself
   under the mailbox's lock.

Every call is recorded in the call log with the ``X-AnchorMailbox`` it
carried.  Nothing below this module ever lets a Python exception reach the
HTTP body: an unexpected error becomes an ``ErrorInternalServerError`` fault.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Final

from lxml import etree

from crm_ews._soap import MESSAGES_NS, TYPES_NS, ServerVersion, parse_xml, soap, t
from crm_ews.errors import ResponseDecodeError
from crm_ews.testing._config import (
    FaultInjection,
    ServerProfile,
    ServiceAccount,
    ThrottlingPolicy,
)
from crm_ews.testing._context import OperationContext, children
from crm_ews.testing._fields import ITEM_TYPES, SERVER_MANAGED, insert_ordered, local
from crm_ews.testing._find_ops import find_item
from crm_ews.testing._folder_ops import (
    create_folder,
    delete_folder,
    find_folder,
    get_folder,
    sync_folder_hierarchy,
)
from crm_ews.testing._ids import IdFactory, SyncStateCodec
from crm_ews.testing._item_ops import (
    create_item,
    delete_item,
    get_item,
    move_item,
    update_item,
)
from crm_ews.testing._items import adopt, derive, prepare_new
from crm_ews.testing._response import Disconnect, SimulatedResponse
from crm_ews.testing._samples import seed_elements
from crm_ews.testing._store import Folder, Mailbox, StoredItem
from crm_ews.testing._sync_ops import sync_folder_items
from crm_ews.testing._transports import SimulatedDisconnect, wsgi_request
from crm_ews.testing._wire import (
    SOAP_CONTENT_TYPE,
    ItemError,
    SimulatorFault,
    fault_envelope,
    response_envelope,
    schema_fault,
)

logger = logging.getLogger(__name__)

#: The EWS endpoint path, matched case-insensitively as IIS does.
EWS_PATH: Final = "/EWS/Exchange.asmx"

#: Largest request body accepted.
MAX_REQUEST_BYTES: Final = 32 * 1024 * 1024

Handler = Callable[[OperationContext], etree._Element]

_OPERATIONS: Final[dict[str, Handler]] = {
    "GetFolder": get_folder,
    "FindFolder": find_folder,
    "CreateFolder": create_folder,
    "DeleteFolder": delete_folder,
    "SyncFolderHierarchy": sync_folder_hierarchy,
    "FindItem": find_item,
    "GetItem": get_item,
    "CreateItem": create_item,
    "UpdateItem": update_item,
    "DeleteItem": delete_item,
    "MoveItem": move_item,
    "SyncFolderItems": sync_folder_items,
}
_SYNC_OPERATIONS: Final = frozenset({"SyncFolderItems", "SyncFolderHierarchy"})

#: Versions an on-premises server accepts; the two newest are Online-only.
_ACCEPTED_VERSIONS: Final = frozenset(
    version.value
    for version in ServerVersion
    if version not in (ServerVersion.V2017_10_09, ServerVersion.V2018_01_08)
)
_SID_KINDS: Final = frozenset(
    {"PrimarySmtpAddress", "SmtpAddress", "PrincipalName", "SID"}
)


class FaultKind(Enum):
    """Failures that :meth:`ExchangeSimulator.schedule_fault` can inject."""

    #: HTTP 503 with ``Retry-After``; the operation does not run.
    HTTP_503 = "http_503"
    #: An ``ErrorServerBusy`` fault with ``BackOffMilliseconds``; nothing runs.
    SERVER_BUSY = "server_busy"
    #: The connection closes without an answer; nothing runs.
    DROP = "drop"
    #: The operation runs, then only part of the body is sent.
    TRUNCATE = "truncate"
    #: The operation runs and commits, then the connection closes unanswered.
    COMMIT_THEN_DROP = "commit_then_drop"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One entry of the call log.

    ``response_code`` is the fault code, the first error ResponseCode of the
    response messages, ``"NoError"``, or an HTTP-level marker such as
    ``"HTTP401"`` when EWS never ran.
    """

    sequence: int
    operation: str | None
    account: str | None
    mailbox: str | None
    anchor_mailbox: str | None
    status: int
    response_code: str
    request_version: str | None = None


@dataclass(frozen=True, slots=True)
class SimulatedItem:
    """A snapshot of one stored item, for assertions in tests."""

    item_id: str
    change_key: str
    folder: str
    item_class: str
    subject: str | None
    element: etree._Element

    def text(self, name: str) -> str | None:
        """The text of the item's ``t:<name>`` child, if present."""
        return self.element.findtext(t(name))


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What the ``before_operation`` hook learns about a call."""

    operation: str
    mailbox: str
    account: str
    request: etree._Element


@dataclass(slots=True)
class _Scheduled:
    kind: FaultKind
    operation: str | None
    mailbox: str | None
    remaining: int


@dataclass(slots=True)
class _Call:
    """Mutable facts about one call, filled in as the pipeline proceeds."""

    anchor: str | None
    account: ServiceAccount | None = None
    operation: str | None = None
    mailbox: Mailbox | None = None
    version: str | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ExchangeSimulator:
    """A stateful, in-memory Exchange Server speaking EWS.

    Args:
        service_accounts: Accounts that may log in (see :class:`ServiceAccount`);
            each also gets a mailbox of its own.
        mailboxes: Addresses of user mailboxes to create.
        seed: Seeds every id, change key and sync-state secret, so equal seeds
            and equal calls give equal results.
        server: The Exchange build reported in ``ServerVersionInfo``.
        throttling: Concurrency budgets.
        faults: Latency and fault injection (off by default).
        schema: Validate requests against this EWS schema: a compiled
            ``lxml.etree.XMLSchema`` or the folder holding ``messages.xsd``.
        clock: Returns the current time (timezone-aware) for timestamps.
        sleep: Called with seconds of injected latency; tests pass a fake.
        call_log_size: How many recent calls the call log keeps.

    Raises:
        ValueError: An address is malformed or appears twice.
    """

    def __init__(
        self,
        *,
        service_accounts: Iterable[ServiceAccount] = (),
        mailboxes: Iterable[str] = (),
        seed: int = 0,
        server: ServerProfile = ServerProfile.EXCHANGE_2016,
        throttling: ThrottlingPolicy | None = None,
        faults: FaultInjection | None = None,
        schema: etree.XMLSchema | str | Path | None = None,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
        call_log_size: int = 100_000,
    ) -> None:
        self._ids = IdFactory(seed)
        self._seed = seed
        self._sync_states = SyncStateCodec(self._ids.key() + self._ids.key())
        self.server = server
        self.throttling = throttling or ThrottlingPolicy()
        self._faults = faults or FaultInjection()
        self._fault_rng = random.Random(self._faults.seed)
        self._schema = _load_schema(schema)
        self._schema_lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

        self._lock = threading.Lock()
        self._accounts: dict[str, ServiceAccount] = {}
        self._mailboxes: dict[str, Mailbox] = {}
        self._by_sid: dict[str, Mailbox] = {}
        self._in_flight: Counter[str] = Counter()
        self._scheduled: list[_Scheduled] = []
        self._calls: deque[CallRecord] = deque(maxlen=call_log_size)
        self._counters: Counter[str] = Counter()
        self._sequence = 0

        #: Called after authentication and throttling, right before an
        #: operation runs; tests use it to change an item "concurrently".
        self.before_operation: Callable[[CallInfo], None] | None = None

        for account in service_accounts:
            self.add_service_account(account)
        for address in mailboxes:
            self.add_mailbox(address)

    # --- configuration ------------------------------------------------------

    @property
    def faults(self) -> FaultInjection:
        """The active fault injection; assigning one reseeds its RNG."""
        return self._faults

    @faults.setter
    def faults(self, value: FaultInjection) -> None:
        with self._lock:
            self._faults = value
            self._fault_rng = random.Random(value.seed)

    @property
    def validates_schema(self) -> bool:
        """Whether requests are checked against the EWS schema."""
        return self._schema is not None

    def add_service_account(self, account: ServiceAccount) -> ServiceAccount:
        """Register a login; its own mailbox is created if missing.

        Raises:
            ValueError: An account with that name exists.
        """
        with self._lock:
            if account.name in self._accounts:
                raise ValueError(f"service account {account.name} already exists")
            self._accounts[account.name] = account
        if account.name not in self._mailboxes:
            self.add_mailbox(account.name)
        return account

    def add_mailbox(self, address: str, *, display_name: str | None = None) -> str:
        """Create an empty mailbox with the distinguished folders.

        Returns:
            The normalised (lower-case) address.

        Raises:
            TypeError: ``address`` is not a string.
            ValueError: Not an address, or the mailbox exists.
        """
        if not isinstance(address, str):
            raise TypeError("address must be a str")
        normalized = address.strip().lower()
        local_part, _, domain = normalized.rpartition("@")
        if not local_part or not domain or any(c.isspace() for c in normalized):
            raise ValueError(f"{address!r} is not an address like user@example.com")
        with self._lock:
            if normalized in self._mailboxes:
                raise ValueError(f"mailbox {normalized} already exists")
            number = len(self._mailboxes) + 1000
            mailbox = Mailbox(
                normalized,
                display_name=display_name or local_part.replace(".", " ").title(),
                ids=IdFactory(f"{self._seed}:{normalized}"),
                sid=f"S-1-5-21-3623811015-3361044348-30300820-{number}",
            )
            self._mailboxes[normalized] = mailbox
            self._by_sid[mailbox.sid] = mailbox
        return normalized

    def schedule_fault(
        self,
        kind: FaultKind,
        *,
        operation: str | None = None,
        mailbox: str | None = None,
        times: int = 1,
    ) -> None:
        """Inject ``kind`` into the next ``times`` matching calls.

        Scheduled faults take precedence over the random rates.

        Args:
            kind: What to inject.
            operation: Only calls of this operation (e.g. ``"CreateItem"``).
            mailbox: Only calls targeting this mailbox.
            times: How many calls to hit.

        Raises:
            ValueError: ``times`` is below 1.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        target = mailbox.lower() if mailbox else None
        with self._lock:
            self._scheduled.append(_Scheduled(kind, operation, target, times))

    # --- data set-up and concurrent edits ----------------------------------

    def _mailbox(self, address: str) -> Mailbox:
        mailbox = self._mailboxes.get(address.strip().lower())
        if mailbox is None:
            raise ValueError(f"no mailbox {address!r} in the simulator")
        return self._ready(mailbox)

    def _ready(self, mailbox: Mailbox) -> Mailbox:
        """Materialise sample items promised by :meth:`seed_items`, once."""
        if not mailbox.pending_seeds:
            return mailbox
        with mailbox.lock:
            pending, mailbox.pending_seeds = mailbox.pending_seeds, []
            for count, anchor in pending:
                for folder, element in seed_elements(
                    mailbox.address, count, seed=self._seed, anchor=anchor
                ):
                    self._store(mailbox, element, folder)
        return mailbox

    def _folder(self, mailbox: Mailbox, folder: str) -> Folder:
        found = mailbox.distinguished.get(folder) or mailbox.folders.get(folder)
        if found is None:
            raise ValueError(f"no folder {folder!r} in {mailbox.address}")
        return found

    def add_item(
        self, mailbox: str, element: etree._Element, *, folder: str | None = None
    ) -> str:
        """Store an item as if a client had created it.

        Args:
            mailbox: The owner's address.
            element: A ``t:CalendarItem``, ``t:Contact``, ``t:Task`` or
                ``t:Message`` element (see :mod:`crm_ews.testing` builders).
            folder: A distinguished folder name or a FolderId; defaults to the
                item type's usual folder.

        Returns:
            The new ItemId.

        Raises:
            ValueError: Unknown mailbox, folder or item type, or the element
                is not a valid item.
        """
        return self._store(self._mailbox(mailbox), element, folder)

    def _store(self, box: Mailbox, element: etree._Element, folder: str | None) -> str:
        item_type = ITEM_TYPES.get(local(element))
        if item_type is None:
            raise ValueError(f"cannot store a {etree.QName(element).localname} element")
        default = {"CalendarItem": "calendar", "Contact": "contacts", "Task": "tasks"}
        with box.lock:
            target = self._folder(box, folder or default.get(item_type.tag, "drafts"))
            now = self._clock()
            try:
                stored_element = prepare_new(element, item_type, box, now)
                derived = derive(stored_element, item_type, now)
            except (ItemError, SimulatorFault) as exc:
                raise ValueError(f"invalid item: {exc}") from exc
            item = box.add(target, stored_element, item_type)
            adopt(item, derived)
            return item.item_id

    def seed_items(self, count: int, *, mailboxes: Iterable[str] | None = None) -> int:
        """Fill calendar, contacts and tasks with ``count`` sample items each.

        The data depends only on the simulator's seed and the address; the
        first calendar item of each mailbox is a weekly recurring series.
        Items are materialised when the mailbox is first used, so seeding
        thousands of mailboxes costs nothing until a test touches them.

        Returns:
            The number of items promised.

        Raises:
            ValueError: ``count`` is negative or a mailbox is unknown.
        """
        if count < 0:
            raise ValueError("count must not be negative")
        addresses = list(mailboxes) if mailboxes is not None else self.mailboxes
        boxes = [self._mailbox(address) for address in addresses]
        anchor = self._clock()
        for box in boxes:
            with box.lock:
                box.pending_seeds.append((count, anchor))
        return 3 * count * len(boxes)

    def modify_item(self, mailbox: str, item_id: str, **properties: str) -> str:
        """Change simple properties of an item, as another client would.

        The item gets a new ChangeKey and shows up as updated in sync; a
        client holding the old ChangeKey now meets a conflict.

        Args:
            mailbox: The owner's address.
            item_id: The ItemId.
            **properties: Element name to new text, e.g. ``Subject="moved"``.

        Returns:
            The new ChangeKey.

        Raises:
            ValueError: Unknown mailbox or item, or a property the item type
                lacks or the server manages.
        """
        box = self._mailbox(mailbox)
        with box.lock:
            item = box.items.get(item_id)
            if item is None:
                raise ValueError(f"no item {item_id!r} in {box.address}")
            for name, value in properties.items():
                if item.item_type.position(name) is None or name in SERVER_MANAGED:
                    raise ValueError(f"{name} cannot be set on a {item.item_type.tag}")
                existing = item.element.find(t(name))
                if existing is None:
                    existing = etree.Element(t(name))
                    insert_ordered(item.element, existing, item.item_type.order)
                existing.text = value
            derived = derive(item.element, item.item_type, self._clock())
            adopt(item, derived)
            box.touch(item, set(properties))
            return item.change_key

    def remove_item(self, mailbox: str, item_id: str) -> None:
        """Hard-delete an item, as another client would.

        Raises:
            ValueError: Unknown mailbox or item.
        """
        box = self._mailbox(mailbox)
        with box.lock:
            item = box.items.get(item_id)
            if item is None:
                raise ValueError(f"no item {item_id!r} in {box.address}")
            box.remove(item)

    # --- introspection ------------------------------------------------------

    @property
    def mailboxes(self) -> list[str]:
        """Every mailbox address, in creation order."""
        with self._lock:
            return list(self._mailboxes)

    def items(self, mailbox: str, folder: str = "calendar") -> list[SimulatedItem]:
        """Snapshots of the items in one folder, in creation order.

        Args:
            mailbox: The owner's address.
            folder: A distinguished folder name or a FolderId.

        Raises:
            ValueError: Unknown mailbox or folder.
        """
        box = self._mailbox(mailbox)
        with box.lock:
            target = self._folder(box, folder)
            return [_snapshot(item) for item in target.items.values()]

    def item(self, mailbox: str, item_id: str) -> SimulatedItem | None:
        """A snapshot of one item wherever it is, or ``None`` if it is gone."""
        box = self._mailbox(mailbox)
        with box.lock:
            stored = box.items.get(item_id)
            return _snapshot(stored) if stored is not None else None

    def mailbox_sid(self, mailbox: str) -> str:
        """The security identifier the simulator gave ``mailbox``.

        Raises:
            ValueError: Unknown mailbox.
        """
        return self._mailbox(mailbox).sid

    def folder_names(self, mailbox: str) -> dict[str, str]:
        """FolderId -> display name (or distinguished name) of every folder."""
        box = self._mailbox(mailbox)
        with box.lock:
            return {
                folder_id: folder.distinguished or folder.display_name
                for folder_id, folder in box.folders.items()
            }

    @property
    def calls(self) -> list[CallRecord]:
        """The call log, oldest first."""
        with self._lock:
            return list(self._calls)

    @property
    def counters(self) -> dict[str, int]:
        """Counts: ``requests``, ``operation.<name>``, ``status.<code>``,
        ``fault.<code>``, ``error.<code>`` and ``injected.<kind>``."""
        with self._lock:
            return dict(self._counters)

    def reset_calls(self) -> None:
        """Empty the call log and the counters."""
        with self._lock:
            self._calls.clear()
            self._counters.clear()

    # --- the request pipeline -----------------------------------------------

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> SimulatedResponse:
        """Answer one HTTP request.

        Args:
            method: The HTTP method.
            path: The request path (query string removed).
            headers: Request headers; names are matched case-insensitively.
            body: The request body.

        Returns:
            The response and how to end the connection.
        """
        lowered = {name.lower(): value for name, value in headers.items()}
        call = _Call(anchor=lowered.get("x-anchormailbox"))
        try:
            response = self._pipeline(method, path, lowered, body, call)
        except SimulatorFault as fault:
            response = self._fault_response(fault)
        except Exception:
            # The body must never carry a traceback; the log gets it instead.
            logger.exception("simulator failed on a request")
            response = self._fault_response(
                SimulatorFault(
                    "ErrorInternalServerError",
                    "An internal server error occurred. The operation failed.",
                )
            )
        self._record(call, response)
        return response

    def _pipeline(
        self, method: str, path: str, headers: dict[str, str], body: bytes, call: _Call
    ) -> SimulatedResponse:
        if path.rstrip("/").lower() != EWS_PATH.lower():
            return _plain(404, b"Not Found")
        if method.upper() != "POST":
            return _plain(405, b"Method Not Allowed", (("Allow", "POST"),))
        call.account = self._authenticate(headers.get("authorization"))
        if call.account is None:
            return _plain(
                401,
                b"401 - Unauthorized: Access is denied due to invalid credentials.",
                (("WWW-Authenticate", 'Basic realm="simulator"'),),
            )
        if len(body) > MAX_REQUEST_BYTES:
            return _plain(413, b"Request Entity Too Large")

        envelope = _parse_envelope(body)
        header = envelope.find(soap("Header"))
        request = _body_child(envelope)
        call.version = self._check_version(header)
        impersonated = _impersonation(header)
        self._validate(header, request)
        call.operation = _operation_name(request)
        call.mailbox = self._ready(self._target(call.account, impersonated))

        budgets = self._acquire(call.account.name, call.mailbox.address, call.operation)
        try:
            return self._run(call, request)
        finally:
            self._release(budgets)

    def _run(self, call: _Call, request: etree._Element) -> SimulatedResponse:
        if call.operation is None or call.mailbox is None or call.account is None:
            raise SimulatorFault("ErrorInternalServerError", "The call is incomplete.")
        injected = self._inject(call.operation, call.mailbox.address)
        if injected is FaultKind.HTTP_503:
            return _plain(
                503,
                b"Service Unavailable",
                (("Retry-After", str(self._faults.retry_after_seconds)),),
            )
        if injected is FaultKind.SERVER_BUSY:
            raise self._busy("The server cannot service this request right now.")
        if injected is FaultKind.DROP:
            return SimulatedResponse(500, (), b"", Disconnect.BEFORE_RESPONSE)

        if self.before_operation is not None:
            self.before_operation(
                CallInfo(
                    call.operation, call.mailbox.address, call.account.name, request
                )
            )
        mailbox = call.mailbox
        with mailbox.lock:
            context = OperationContext(
                operation=call.operation,
                mailbox=mailbox,
                request=request,
                now=self._clock(),
                sync_states=self._sync_states,
                find_mailbox=self._mailboxes.get,
            )
            payload = _OPERATIONS[call.operation](context)
        body = response_envelope(payload, self.server)
        response = SimulatedResponse(
            200, (("Content-Type", SOAP_CONTENT_TYPE),), body, Disconnect.NONE
        )
        self._count_errors(payload)
        if injected is FaultKind.COMMIT_THEN_DROP:
            return SimulatedResponse(200, (), body, Disconnect.BEFORE_RESPONSE)
        if injected is FaultKind.TRUNCATE:
            return SimulatedResponse(
                200,
                (("Content-Type", SOAP_CONTENT_TYPE), ("Connection", "close")),
                body,
                Disconnect.MID_BODY,
            )
        return response

    def _authenticate(self, header: str | None) -> ServiceAccount | None:
        # Limitation: only HTTP Basic is offered; NTLM, Negotiate and OAuth
        # clients get a 401 they cannot answer.  Point such clients at the
        # simulator with Basic credentials.
        if not header:
            return None
        scheme, _, encoded = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        name, sep, password = decoded.partition(":")
        if not sep:
            return None
        account = self._accounts.get(name.strip().lower())
        if account is None:
            return None
        # Compare in constant time even in a test double: it costs nothing.
        if not hmac.compare_digest(account.password.encode(), password.encode()):
            return None
        return account

    def _check_version(self, header: etree._Element | None) -> str | None:
        if header is None:
            return None
        requested = header.find(t("RequestServerVersion"))
        if requested is None:
            return None
        version = requested.get("Version") or ""
        if version not in _ACCEPTED_VERSIONS:
            raise SimulatorFault(
                "ErrorInvalidServerVersion", "The specified server version is invalid."
            )
        return version

    def _validate(self, header: etree._Element | None, request: etree._Element) -> None:
        if self._schema is None:
            return
        # Limitation: the available schema is Exchange Online's, a superset
        # of the on-premises one; a request using an Online-only element
        # passes here and would fail on Exchange 2016 with the same fault.
        targets = [
            child
            for child in children(header)
            if etree.QName(child).namespace in (TYPES_NS, MESSAGES_NS)
        ]
        targets.append(request)
        with self._schema_lock:
            for target in targets:
                if not self._schema.validate(target):
                    entry = self._schema.error_log[0]
                    raise schema_fault(
                        _prefixed(entry.message),
                        line=entry.line,
                        position=max(entry.column, 1),
                    )

    def _target(
        self, account: ServiceAccount, impersonated: tuple[str, str] | None
    ) -> Mailbox:
        if impersonated is None:
            own = self._mailboxes.get(account.name)
            if own is None:
                raise _no_mailbox()
            return own
        kind, value = impersonated
        if not account.can_impersonate:
            raise _denied()
        if kind == "SID":
            mailbox = self._by_sid.get(value.upper())
        else:
            mailbox = self._mailboxes.get(value.lower())
        if mailbox is None:
            raise _no_mailbox()
        if not account.may_impersonate(mailbox.address):
            raise _denied()
        return mailbox

    def _acquire(self, account: str, mailbox: str, operation: str) -> list[str]:
        # Limitation: only concurrency budgets are modelled; Exchange's
        # time-based budgets (EWSPercentTimeInCAS and friends, recharge rates)
        # are not, so a fast sequential client is never throttled here.  Use
        # the server_busy_rate knob to exercise back-off paths.
        policy = self.throttling
        keys = [f"account:{account}", f"mailbox:{mailbox}"]
        if operation in _SYNC_OPERATIONS:
            keys.append(f"sync:{account}")
        with self._lock:
            if self._in_flight[keys[0]] >= policy.max_concurrency_per_account:
                raise SimulatorFault(
                    "ErrorExceededConnectionCount",
                    "You have exceeded the available concurrent connections for your "
                    "account. Try again once your other requests have completed.",
                )
            if self._in_flight[keys[1]] >= policy.max_concurrency_per_mailbox:
                raise self._busy("Too many concurrent requests target this mailbox.")
            if (
                len(keys) == 3
                and self._in_flight[keys[2]] >= policy.max_concurrent_sync_calls
            ):
                raise self._busy("Too many concurrent synchronization calls.")
            for key in keys:
                self._in_flight[key] += 1
        return keys

    def _release(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._in_flight[key] -= 1
                if self._in_flight[key] <= 0:
                    del self._in_flight[key]

    def _busy(self, message: str) -> SimulatorFault:
        return SimulatorFault(
            "ErrorServerBusy", message, back_off_ms=self.throttling.back_off_ms
        )

    def _inject(self, operation: str, mailbox: str) -> FaultKind | None:
        """Sleep the injected latency and pick this call's injected fault."""
        with self._lock:
            scheduled = self._take_scheduled(operation, mailbox)
            faults, rng = self._faults, self._fault_rng
            delay = faults.latency_ms
            if faults.latency_jitter_ms:
                delay += rng.uniform(0, faults.latency_jitter_ms)
            random_fault = None
            if faults.is_active:
                random_fault = _draw(faults, rng.random(), rng.random(), operation)
        if delay > 0:
            self._sleep(delay / 1000.0)
        chosen = scheduled or random_fault
        if chosen is not None:
            with self._lock:
                self._counters[f"injected.{chosen.value}"] += 1
        return chosen

    def _take_scheduled(self, operation: str, mailbox: str) -> FaultKind | None:
        for entry in self._scheduled:
            if entry.operation not in (None, operation) or entry.mailbox not in (
                None,
                mailbox,
            ):
                continue
            if entry.kind is FaultKind.COMMIT_THEN_DROP and operation != "CreateItem":
                continue
            entry.remaining -= 1
            if entry.remaining == 0:
                self._scheduled.remove(entry)
            return entry.kind
        return None

    def _fault_response(self, fault: SimulatorFault) -> SimulatedResponse:
        return SimulatedResponse(
            500, (("Content-Type", SOAP_CONTENT_TYPE),), fault_envelope(fault)
        )

    def _count_errors(self, payload: etree._Element) -> None:
        codes = [
            code.text or ""
            for message in payload[0]
            for code in message.iterchildren(f"{{{MESSAGES_NS}}}ResponseCode")
            if code.text != "NoError"
        ]
        if codes:
            with self._lock:
                for code in codes:
                    self._counters[f"error.{code}"] += 1

    def _record(self, call: _Call, response: SimulatedResponse) -> None:
        code = "NoError"
        if response.status == 500 and response.body:
            code = _fault_code(response.body) or "ErrorInternalServerError"
        elif response.status != 200:
            code = f"HTTP{response.status}"
        elif response.body:
            code = _first_error(response.body) or "NoError"
        with self._lock:
            self._sequence += 1
            self._calls.append(
                CallRecord(
                    sequence=self._sequence,
                    operation=call.operation,
                    account=call.account.name if call.account else None,
                    mailbox=call.mailbox.address if call.mailbox else None,
                    anchor_mailbox=call.anchor,
                    status=response.status,
                    response_code=code,
                    request_version=call.version,
                )
            )
            self._counters["requests"] += 1
            self._counters[f"status.{response.status}"] += 1
            if call.operation:
                self._counters[f"operation.{call.operation}"] += 1
            if response.status == 500 and code.startswith("Error"):
                self._counters[f"fault.{code}"] += 1

    # --- WSGI ---------------------------------------------------------------

    def __call__(
        self,
        environ: dict[str, object],
        start_response: Callable[..., object],
    ) -> list[bytes]:
        """The simulator as a WSGI application (``httpx.WSGITransport(app=...)``).

        A dropped connection raises :class:`SimulatedDisconnect`, which
        httpx reports as a ``RemoteProtocolError``.
        """
        method, path, headers, body = wsgi_request(environ)
        response = self.handle(method, path, headers, body)
        if response.disconnect is Disconnect.BEFORE_RESPONSE:
            raise SimulatedDisconnect("Server disconnected without sending a response.")
        start_response(f"{response.status} {response.reason}", list(response.headers))
        return [response.sent_body]


# --- helpers ----------------------------------------------------------------


def _load_schema(schema: etree.XMLSchema | str | Path | None) -> etree.XMLSchema | None:
    if schema is None or isinstance(schema, etree.XMLSchema):
        return schema
    path = Path(schema)
    if path.is_dir():
        path = path / "messages.xsd"
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def _prefixed(message: str) -> str:
    """Schema messages with ``t:``/``m:`` prefixes instead of Clark names."""
    return message.replace(f"{{{TYPES_NS}}}", "t:").replace(f"{{{MESSAGES_NS}}}", "m:")


def _plain(
    status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()
) -> SimulatedResponse:
    return SimulatedResponse(
        status, (("Content-Type", "text/html"), *headers), body, Disconnect.NONE
    )


def _parse_envelope(body: bytes) -> etree._Element:
    try:
        root = parse_xml(body, max_bytes=MAX_REQUEST_BYTES)
    except ResponseDecodeError as exc:
        raise schema_fault(f"The request is not valid XML: {exc}") from exc
    if root.tag != soap("Envelope"):
        raise schema_fault(
            f"The root element '{etree.QName(root).localname}' is not "
            "a SOAP 1.1 Envelope."
        )
    return root


def _body_child(envelope: etree._Element) -> etree._Element:
    body = envelope.find(soap("Body"))
    if body is None:
        raise schema_fault("The SOAP Envelope has no Body.")
    payload = children(body)
    if len(payload) != 1:
        raise schema_fault(f"The SOAP Body holds {len(payload)} elements, not 1.")
    return payload[0]


def _impersonation(header: etree._Element | None) -> tuple[str, str] | None:
    """``(kind, value)`` from ``ExchangeImpersonation``, or ``None``."""
    if header is None:
        return None
    found = header.findall(t("ExchangeImpersonation"))
    if not found:
        return None
    sids = children(found[0])
    if len(found) != 1 or len(sids) != 1 or local(sids[0]) != "ConnectingSID":
        raise _bad_impersonation()
    who = children(sids[0])
    if len(who) != 1 or local(who[0]) not in _SID_KINDS:
        raise _bad_impersonation()
    value = (who[0].text or "").strip()
    if not value:
        raise _bad_impersonation()
    return local(who[0]), value


def _operation_name(request: etree._Element) -> str:
    qname = etree.QName(request)
    if qname.namespace != MESSAGES_NS:
        raise schema_fault(
            f"The element '{qname.localname}' in namespace '{qname.namespace}' "
            "is not an EWS operation."
        )
    if qname.localname not in _OPERATIONS:
        # Limitation: only the operations a CRM sync needs are simulated;
        # others (mail sending, attachments, notifications, availability...)
        # are refused like a request the server cannot process.
        raise SimulatorFault(
            "ErrorInvalidRequest",
            f"The request is invalid: {qname.localname} is not supported "
            "by the simulator.",
        )
    return qname.localname


def _bad_impersonation() -> SimulatorFault:
    return SimulatorFault(
        "ErrorInvalidExchangeImpersonationHeaderData",
        "The ExchangeImpersonation SOAP header must name exactly one user "
        "in ConnectingSID.",
    )


def _denied() -> SimulatorFault:
    return SimulatorFault(
        "ErrorImpersonateUserDenied",
        "The account does not have permission to impersonate the requested user.",
    )


def _no_mailbox() -> SimulatorFault:
    return SimulatorFault(
        "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."
    )


def _draw(
    faults: FaultInjection, before: float, after: float, operation: str
) -> FaultKind | None:
    """Map two uniform draws onto the configured fault rates."""
    threshold = 0.0
    for rate, kind in (
        (faults.http_503_rate, FaultKind.HTTP_503),
        (faults.server_busy_rate, FaultKind.SERVER_BUSY),
        (faults.drop_rate, FaultKind.DROP),
    ):
        threshold += rate
        if before < threshold:
            return kind
    if operation == "CreateItem" and after < faults.create_commit_then_drop_rate:
        return FaultKind.COMMIT_THEN_DROP
    if after >= 1.0 - faults.truncate_rate:
        return FaultKind.TRUNCATE
    return None


def _fault_code(body: bytes) -> str | None:
    marker = b"<e:ResponseCode"
    start = body.find(marker)
    if start < 0:
        return None
    start = body.find(b">", start) + 1
    end = body.find(b"<", start)
    return body[start:end].decode("ascii", "replace")


def _first_error(body: bytes) -> str | None:
    start = 0
    while True:
        start = body.find(b"<m:ResponseCode>", start)
        if start < 0:
            return None
        start += len(b"<m:ResponseCode>")
        end = body.find(b"<", start)
        code = body[start:end].decode("ascii", "replace")
        if code != "NoError":
            return code


def _snapshot(item: StoredItem) -> SimulatedItem:
    folder = item.folder
    return SimulatedItem(
        item_id=item.item_id,
        change_key=item.change_key,
        folder=folder.distinguished or folder.display_name,
        item_class=item.element.findtext(t("ItemClass")) or item.item_type.item_class,
        subject=item.element.findtext(t("Subject")),
        element=copy.deepcopy(item.element),
    )
