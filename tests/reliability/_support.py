"""Shared harness of the reliability suite: worlds, truth readers, invariants.

A *world* is one Exchange simulator, one CRM (a repository per entity) and one
state store.  The engine is rebuilt for every run, as a restarted process
would build it.  The truth about Exchange is read straight from the
simulator's items (no EWS call, so no injected fault can blur it) and mapped
to neutral records with the engine's own field mapping; both sides are then
compared in *mapped space*: ``default_mappings()[entity].to_ews_values``.

Every token (a contact's given name, a task's subject) is unique for the life
of a world, so "exactly once" can be checked by counting tokens.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

from crm_ews._retry import RetryPolicy
from crm_ews._transport import AsyncTransport
from crm_ews.auth import BasicAuth
from crm_ews.backends import EWSMailboxBackend, default_mappings
from crm_ews.ews import Contact as EWSContact
from crm_ews.ews import Task as EWSTask
from crm_ews.repository import (
    Contact,
    CRMRecord,
    CRMRepository,
    EntityType,
    Importance,
    InMemoryContactRepository,
    InMemoryTaskRepository,
    Task,
    projection_hash,
)
from crm_ews.sync import (
    ConflictPolicy,
    EntityPolicy,
    LinkState,
    MailboxReport,
    MassDeletionGuard,
    ParkedRetry,
    StateStore,
    SyncEngine,
)
from crm_ews.testing import (
    AsyncSimulatorTransport,
    CallInfo,
    ExchangeSimulator,
    ServiceAccount,
    SimulatedItem,
    contact,
    task,
)

T = TypeVar("T")

#: Whether the soak session (``nox -s soak``) is running: full-size work.
SOAK: Final = os.environ.get("CRM_EWS_SOAK") == "1"

SVC: Final = "svc-crm@example.com"
PASSWORD: Final = "Sw0rdfish-7731"
ALICE: Final = "alice@example.com"
IN_PROCESS_URL: Final = "http://simulator.test/EWS/Exchange.asmx"
TYPES_NS: Final = "http://schemas.microsoft.com/exchange/services/2006/types"

#: The entities the reliability worlds sync.
ENTITIES: Final = (EntityType.CONTACT, EntityType.TASK)

FOLDERS: Final = {EntityType.CONTACT: "contacts", EntityType.TASK: "tasks"}

#: Figures the suite reports in the terminal summary (see conftest.py).
FIGURES: Counter[str] = Counter()


def scaled(ci: int, soak: int) -> int:
    """``soak`` under ``CRM_EWS_SOAK=1``, else the CI-sized ``ci``."""
    return soak if SOAK else ci


# --- time without sleeping ----------------------------------------------------


class FakeSleep:
    """An awaitable ``sleep`` that only records what it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)

    @property
    def total(self) -> float:
        """Seconds the code under test believes it waited."""
        return sum(self.calls)


def fast_retry(attempts: int = 4) -> RetryPolicy:
    """A retry policy whose waits are small; the sleep is fake anyway."""
    return RetryPolicy(
        attempts=attempts,
        timeout=None,
        wait_initial=0.01,
        wait_max=0.05,
        wait_jitter=0.0,
        max_server_back_off=120.0,
    )


# --- records and tokens -------------------------------------------------------


def new_record(entity: EntityType, n: int) -> CRMRecord:
    """A CRM record whose token is ``n``."""
    if entity is EntityType.CONTACT:
        return Contact(
            given_name=f"G{n}",
            surname=f"S{n}",
            email_addresses=(f"user{n}@example.org",),
        )
    return Task(subject=f"T{n}")


def new_element(entity: EntityType, n: int) -> Any:
    """An Exchange item element whose token is ``n``."""
    if entity is EntityType.CONTACT:
        return contact(f"G{n}", f"S{n}", email=f"user{n}@example.org")
    return task(f"T{n}")


def token(record: CRMRecord) -> str:
    """The unique token of a record from either side."""
    if isinstance(record, Contact):
        return record.given_name
    assert isinstance(record, Task)
    return record.subject


#: Field values the worlds edit on either side.
JOB_TITLES: Final = ("Analyst", "Engineer", "Manager", "Director")
IMPORTANCES: Final = (Importance.LOW, Importance.NORMAL, Importance.HIGH)
_EWS_IMPORTANCE: Final = {
    Importance.LOW: "Low",
    Importance.NORMAL: "Normal",
    Importance.HIGH: "High",
}


def crm_edit(record: CRMRecord, choice: int) -> CRMRecord:
    """The record with one synced field changed (job title or importance)."""
    if isinstance(record, Contact):
        return record.model_copy(
            update={"job_title": JOB_TITLES[choice % len(JOB_TITLES)]}
        )
    return record.model_copy(
        update={"importance": IMPORTANCES[choice % len(IMPORTANCES)]}
    )


def ews_edit(item_class: str, choice: int) -> dict[str, str]:
    """``modify_item`` properties changing the same field on an item."""
    if item_class.startswith("IPM.Contact"):
        return {"JobTitle": JOB_TITLES[(choice + 1) % len(JOB_TITLES)]}
    importance = IMPORTANCES[(choice + 1) % len(IMPORTANCES)]
    return {"Importance": _EWS_IMPORTANCE[importance]}


# --- the truth on each side ---------------------------------------------------


@dataclass(frozen=True)
class ExchangeTruth:
    """One Exchange item as stored, mapped to a neutral record."""

    item: SimulatedItem
    record: CRMRecord
    correlation_id: str | None


def exchange_truth(
    simulator: ExchangeSimulator, mailbox: str, entity: EntityType
) -> list[ExchangeTruth]:
    """The entity's items in the mailbox's folder, read from the simulator."""
    mapping = default_mappings()[entity]
    model = EWSContact if entity is EntityType.CONTACT else EWSTask
    found = []
    for item in simulator.items(mailbox, FOLDERS[entity]):
        parsed = model.from_xml(item.element)
        found.append(
            ExchangeTruth(
                item, mapping.to_record(parsed), mapping.correlation_id(parsed)
            )
        )
    return found


def projection(record: CRMRecord) -> str:
    """A record in mapped space: the EWS values the mapping gives it."""
    values = default_mappings()[record.entity].to_ews_values(record)
    return repr(sorted((name, repr(value)) for name, value in values.items()))


def projections(records: Iterable[CRMRecord]) -> list[str]:
    """Sorted mapped-space keys of many records."""
    return sorted(projection(record) for record in records)


@dataclass
class Sides:
    """Both sides of one mailbox and entity at one moment."""

    crm: list[CRMRecord]
    exchange: list[ExchangeTruth]

    def crm_tokens(self) -> Counter[str]:
        return Counter(token(record) for record in self.crm)

    def exchange_tokens(self) -> Counter[str]:
        return Counter(token(truth.record) for truth in self.exchange)


def read_sides(
    simulator: ExchangeSimulator,
    repository: Any,
    mailbox: str,
    entity: EntityType,
) -> Sides:
    """Snapshot both sides (the repository needs a ``records`` method)."""
    return Sides(
        crm=list(repository.records(mailbox)),
        exchange=exchange_truth(simulator, mailbox, entity),
    )


# --- invariants ---------------------------------------------------------------


def duplicates(sides: Sides) -> list[str]:
    """Tokens present more than once on either side."""
    problems = [f"crm has {t} x{n}" for t, n in sides.crm_tokens().items() if n > 1]
    problems += [
        f"exchange has {t} x{n}" for t, n in sides.exchange_tokens().items() if n > 1
    ]
    return problems


def converged(sides: Sides) -> list[str]:
    """Differences between the two sides in mapped space."""
    crm = Counter(projections(sides.crm))
    ews = Counter(projections(truth.record for truth in sides.exchange))
    if crm == ews:
        return []
    only_crm = sorted((crm - ews).elements())
    only_ews = sorted((ews - crm).elements())
    return [f"only in crm: {p}" for p in only_crm] + [
        f"only in exchange: {p}" for p in only_ews
    ]


def store_agrees(
    store: StateStore, mailbox: str, entity: EntityType, sides: Sides
) -> list[str]:
    """The links, their ids and hashes match both (converged) sides exactly.

    Every CRM record and every Exchange item belongs to exactly one ``linked``
    link; the link's CRM hash is the record's projection hash and its item
    pairs the same token; nothing is left pending, parked or in conflict.
    """
    problems: list[str] = []
    unsettled = [
        link
        for link in store.iter_links(mailbox, entity)
        if link.state not in (LinkState.LINKED, LinkState.DELETED)
    ]
    problems += [
        f"unsettled link {link.state} {link.last_error_code}" for link in unsettled
    ]

    items = {truth.item.item_id: truth for truth in sides.exchange}
    linked = list(store.iter_links(mailbox, entity, states={LinkState.LINKED}))
    by_crm = Counter(link.crm_id for link in linked)
    by_ews = Counter(link.ews_item_id for link in linked)
    problems += [f"crm id {key} in {n} links" for key, n in by_crm.items() if n > 1]
    problems += [f"item {key} in {n} links" for key, n in by_ews.items() if n > 1]
    for record in sides.crm:
        link = store.get_link_by_crm_id(mailbox, entity, record.id or "")
        if link is None or link.state is not LinkState.LINKED:
            problems.append(f"crm {token(record)} has no linked link")
            continue
        if link.crm_hash != projection_hash(record):
            problems.append(f"crm {token(record)}: stale crm_hash")
        truth = items.get(link.ews_item_id or "")
        if truth is None:
            problems.append(f"crm {token(record)}: linked item is missing")
        elif token(truth.record) != token(record):
            problems.append(f"crm {token(record)} linked to {token(truth.record)}")
        elif link.ews_change_key != truth.item.change_key:
            problems.append(f"crm {token(record)}: stale change key")
    if len(linked) != len(sides.crm) or len(linked) != len(sides.exchange):
        problems.append(
            f"{len(linked)} linked links for {len(sides.crm)} records "
            f"and {len(sides.exchange)} items"
        )
    return problems


def wiring(
    store: StateStore, mailbox: str, entity: EntityType, sides: Sides
) -> list[str]:
    """No link pairs a record with an item of another token (cross-wiring)."""
    records = {record.id: record for record in sides.crm}
    items = {truth.item.item_id: truth.record for truth in sides.exchange}
    problems = []
    for link in store.iter_links(mailbox, entity):
        record = records.get(link.crm_id)
        item = items.get(link.ews_item_id)
        if record is not None and item is not None and token(record) != token(item):
            problems.append(f"link pairs {token(record)} with {token(item)}")
    return problems


def wrote_nothing(report: MailboxReport) -> list[str]:
    """An idle run: no creates, updates or deletes on either side."""
    problems = []
    for entity, entry in report.entities.items():
        moved = entry.created + entry.updated + entry.deleted
        if sum(moved.values()) or entry.parked:
            problems.append(f"{entity.value}: idle run wrote {dict(moved)}")
    if report.error:
        problems.append(f"idle run failed: {report.error}")
    return problems


# --- engines ------------------------------------------------------------------


def policies(
    entities: Sequence[EntityType] = ENTITIES,
    *,
    guard: MassDeletionGuard | None = None,
    conflict: ConflictPolicy = ConflictPolicy.CRM_WINS,
) -> list[EntityPolicy]:
    """Two-way policies; the guard is off unless one is given."""
    guard = guard or MassDeletionGuard(max_ratio=1.0, min_count=10**9)
    return [
        EntityPolicy(entity=entity, conflict=conflict, mass_deletion=guard)
        for entity in entities
    ]


def in_process_transport(
    simulator: ExchangeSimulator,
    sleep: FakeSleep,
    *,
    retry: RetryPolicy | None = None,
    password: str = PASSWORD,
) -> AsyncTransport:
    """A real AsyncTransport whose bytes go to the simulator in-process."""
    return AsyncTransport(
        IN_PROCESS_URL,
        auth=BasicAuth(SVC, password),
        http_transport=AsyncSimulatorTransport(simulator, threaded=False),
        sleep=sleep,
        retry=retry or fast_retry(),
    )


def http_transport(
    url: str,
    sleep: FakeSleep,
    *,
    retry: RetryPolicy | None = None,
    clock: Callable[[], float] | None = None,
) -> AsyncTransport:
    """A real AsyncTransport over loopback HTTP to a SimulatorServer."""
    options: dict[str, Any] = {}
    if clock is not None:
        options["clock"] = clock
    return AsyncTransport(
        url,
        auth=BasicAuth(SVC, PASSWORD),
        sleep=sleep,
        retry=retry or fast_retry(),
        timeout=30.0,
        **options,
    )


def make_engine(
    backend: EWSMailboxBackend,
    crm: Mapping[EntityType, CRMRepository[Any]],
    store: StateStore,
    enrolled: Iterable[str],
    *,
    clock: Callable[[], datetime] | None = None,
    entity_policies: Sequence[EntityPolicy] | None = None,
    worker_id: str = "reliability-worker",
    batch_size: int = 50,
) -> SyncEngine:
    """The engine as every reliability test builds it."""
    options: dict[str, Any] = {}
    if clock is not None:
        options["clock"] = clock
    return SyncEngine(
        backend=backend,
        repositories=dict(crm),
        store=store,
        policies=entity_policies or policies(list(crm)),
        enrolled=enrolled,
        retry=ParkedRetry(base=timedelta(0)),
        worker_id=worker_id,
        batch_size=batch_size,
        **options,
    )


def memory_crm() -> dict[EntityType, CRMRepository[Any]]:
    """Fresh in-memory repositories for the reliability entities."""
    return {
        EntityType.CONTACT: InMemoryContactRepository(),
        EntityType.TASK: InMemoryTaskRepository(),
    }


def simulator(
    mailboxes: Iterable[str],
    *,
    seed: int = 7,
    scope: frozenset[str] | None = None,
    **options: Any,
) -> ExchangeSimulator:
    """A simulator with the service account and the given mailboxes."""
    return ExchangeSimulator(
        service_accounts=[ServiceAccount(SVC, PASSWORD, scope=scope)],
        mailboxes=list(mailboxes),
        seed=seed,
        **options,
    )


def run(coro: Awaitable[T]) -> T:
    """Run one coroutine on a fresh event loop."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


# --- a concurrent writer ------------------------------------------------------


@dataclass
class ConcurrentWriter:
    """Edits the target item of UpdateItem calls just before they run.

    Installed as ``simulator.before_operation``; each UpdateItem meets, with
    probability ``rate`` (seeded), an edit by "another client", so its
    change key is stale and Exchange answers with an edit conflict.
    """

    simulator: ExchangeSimulator
    rate: float
    seed: int = 0
    edits: int = 0
    #: Ids of the items it edited (ids survive edits; change keys do not).
    edited_ids: set[str] = field(default_factory=set)
    _draws: int = field(default=0, repr=False)

    def __call__(self, call: CallInfo) -> None:
        if call.operation != "UpdateItem":
            return
        self._draws += 1
        # A cheap deterministic draw; the RNG must not depend on thread timing.
        if ((self._draws * 2654435761 + self.seed) % 1000) / 1000.0 >= self.rate:
            return
        item_id = call.request.find(f".//{{{TYPES_NS}}}ItemId")
        if item_id is None:
            return
        stored = self.simulator.item(call.mailbox, item_id.get("Id") or "")
        if stored is None:
            return
        self.simulator.modify_item(
            call.mailbox, stored.item_id, **ews_edit(stored.item_class, self._draws)
        )
        self.edits += 1
        self.edited_ids.add(stored.item_id)


def utc(year: int = 2027, month: int = 1, day: int = 4) -> datetime:
    """A fixed UTC moment for fake clocks."""
    return datetime(year, month, day, 9, 0, tzinfo=UTC)
