"""The sync engine end to end over EWS, against the in-process simulator."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from crm_ews.auth import BasicAuth
from crm_ews.backends import EWSMailboxBackend, default_mappings
from crm_ews.ews import AsyncEWSClient, CalendarItem, DistinguishedFolderId
from crm_ews.repository import (
    Appointment,
    Contact,
    CRMRecord,
    EntityType,
    InMemoryAppointmentRepository,
    InMemoryContactRepository,
    InMemoryTaskRepository,
    Recurrence,
    Task,
)
from crm_ews.sync import (
    ConflictChoice,
    ConflictPolicy,
    CRMDeletePolicy,
    Direction,
    EntityPolicy,
    EWSDeletePolicy,
    LinkState,
    ParkedRetry,
    SQLiteStateStore,
    SyncEngine,
    SyncRunner,
)
from crm_ews.testing import (
    AsyncSimulatorTransport,
    CallInfo,
    ExchangeSimulator,
    FaultKind,
    ServiceAccount,
)

T = TypeVar("T")
ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"
SVC = "svc-crm@example.com"
BERLIN = ZoneInfo("Europe/Berlin")
FOLDERS = {
    EntityType.APPOINTMENT: "calendar",
    EntityType.CONTACT: "contacts",
    EntityType.TASK: "tasks",
}


@dataclass
class Setup:
    """A simulator, a CRM, a state store and a way to run the engine."""

    simulator: ExchangeSimulator
    crm: dict[EntityType, Any]
    store: SQLiteStateStore
    conflict: ConflictPolicy = ConflictPolicy.CRM_WINS
    policy_options: dict[str, Any] = field(default_factory=dict)

    def run(self, work: Callable[[SyncEngine, EWSMailboxBackend], Awaitable[T]]) -> T:
        async def main() -> T:
            transport = AsyncSimulatorTransport(self.simulator)
            async with AsyncEWSClient(
                "http://simulator.test/EWS/Exchange.asmx",
                auth=BasicAuth(SVC, "s3cret-pw"),
                http_transport=transport,
            ) as client:
                backend = EWSMailboxBackend(client, page_size=25)
                engine = SyncEngine(
                    backend=backend,
                    repositories=self.crm,
                    store=self.store,
                    policies=[
                        EntityPolicy(
                            entity=entity, conflict=self.conflict, **self.policy_options
                        )
                        for entity in EntityType
                    ],
                    enrolled=[ALICE, BOB, CAROL],
                    retry=ParkedRetry(base=timedelta(0)),
                )
                return await work(engine, backend)

        return asyncio.run(main())

    def sync(self, mailbox: str = ALICE) -> Any:
        return self.run(lambda engine, _backend: engine.sync_mailbox(mailbox))

    def exchange(self, entity: EntityType, mailbox: str = ALICE) -> list[CRMRecord]:
        """The mailbox's items of one entity, mapped to neutral records."""
        mapping = default_mappings()[entity]

        async def read(
            _engine: SyncEngine, backend: EWSMailboxBackend
        ) -> list[CRMRecord]:
            records: list[CRMRecord] = []
            state = None
            while True:
                page = await backend.read_changes(mailbox, entity, state)
                records += [c.item.record for c in page.changes if c.item is not None]
                state = page.sync_state
                if page.is_last_page:
                    return records

        del mapping
        return self.run(read)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    schema = os.environ.get("CRM_EWS_SCHEMA_DIR")
    simulator = ExchangeSimulator(
        service_accounts=[
            ServiceAccount(SVC, "s3cret-pw", scope=frozenset({ALICE, BOB}))
        ],
        mailboxes=[ALICE, BOB, CAROL],
        seed=7,
        schema=schema,
    )
    store = SQLiteStateStore(tmp_path / "state.sqlite3")
    crm = {
        EntityType.APPOINTMENT: InMemoryAppointmentRepository(),
        EntityType.CONTACT: InMemoryContactRepository(),
        EntityType.TASK: InMemoryTaskRepository(),
    }
    yield Setup(simulator, crm, store)
    store.close()


def _projections(records: list[Any]) -> list[str]:
    """Records as the EWS field values the mapping gives them, comparable."""
    if not records:
        return []
    mapping = default_mappings()[records[0].entity]

    def key(record: CRMRecord) -> str:
        values = mapping.to_ews_values(record)
        return repr(sorted((name, repr(value)) for name, value in values.items()))

    return sorted(key(record) for record in records)


def _future(days: int, hour: int = 10) -> datetime:
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return (base + timedelta(days=days)).replace(hour=hour)


def _assert_converged(setup: Setup, mailbox: str = ALICE) -> None:
    for entity in EntityType:
        crm = setup.crm[entity].records(mailbox)
        assert _projections(crm) == _projections(setup.exchange(entity, mailbox)), (
            entity
        )


def test_two_way_initial_sync_converges_for_every_entity(setup: Setup) -> None:
    """Seeded Exchange items and CRM records meet once on both sides."""
    setup.simulator.seed_items(4, mailboxes=[ALICE])
    start = _future(3)
    setup.crm[EntityType.APPOINTMENT].create(
        ALICE,
        Appointment(subject="From CRM", start=start, end=start + timedelta(hours=1)),
        idempotency_key="a1",
    )
    setup.crm[EntityType.CONTACT].create(
        ALICE,
        Contact(
            given_name="Crm", surname="Person", email_addresses=("crm@example.org",)
        ),
        idempotency_key="c1",
    )
    setup.crm[EntityType.TASK].create(
        ALICE,
        Task(subject="From CRM", due_date=date(2027, 1, 15)),
        idempotency_key="t1",
    )

    report = setup.sync()

    assert report.ok, report.error_message
    for entity in EntityType:
        assert len(setup.crm[entity].records(ALICE)) == 5, entity
        assert len(setup.simulator.items(ALICE, FOLDERS[entity])) == 5, entity
    _assert_converged(setup)


def test_idle_second_run_costs_one_sync_call_per_folder(setup: Setup) -> None:
    """After the initial sync, an idle run makes 3 SyncFolderItems calls, no writes."""
    setup.simulator.seed_items(3, mailboxes=[ALICE])
    setup.sync()
    setup.simulator.reset_calls()

    report = setup.sync()

    operations = [call.operation for call in setup.simulator.calls]
    assert operations == ["SyncFolderItems"] * 3
    assert all(not e.created and not e.updated for e in report.entities.values())


def test_recurring_series_round_trips_both_ways(setup: Setup) -> None:
    """A weekly series from the CRM reaches Exchange and reads back unchanged."""
    start = datetime(2027, 3, 22, 10, 0, tzinfo=BERLIN)  # Monday before DST starts
    record = Appointment(
        subject="Weekly review",
        start=start,
        end=start + timedelta(minutes=45),
        time_zone="Europe/Berlin",
        recurrence=Recurrence(
            frequency="weekly",
            days_of_week=("monday",),
            start_date=start.date(),
            count=4,
        ),
    )
    setup.crm[EntityType.APPOINTMENT].create(ALICE, record, idempotency_key="series")

    setup.sync()

    [back] = setup.exchange(EntityType.APPOINTMENT)
    assert back.recurrence == record.recurrence  # type: ignore[attr-defined]
    assert back.time_zone == "Europe/Berlin"  # type: ignore[attr-defined]


def test_occurrences_keep_local_time_across_a_dst_change(setup: Setup) -> None:
    """The series expands in its zone: 10:00 Berlin on both sides of DST."""
    start = datetime(2027, 3, 22, 10, 0, tzinfo=BERLIN)
    setup.crm[EntityType.APPOINTMENT].create(
        ALICE,
        Appointment(
            subject="Standup",
            start=start,
            end=start + timedelta(minutes=15),
            time_zone="Europe/Berlin",
            recurrence=Recurrence(
                frequency="weekly",
                days_of_week=("monday",),
                start_date=start.date(),
                count=3,
            ),
        ),
        idempotency_key="dst",
    )
    setup.sync()

    async def view(
        _engine: SyncEngine, backend: EWSMailboxBackend
    ) -> list[CalendarItem]:
        client = backend._client
        return await client.calendar_view(
            DistinguishedFolderId(id="calendar"),
            datetime(2027, 3, 21, tzinfo=UTC),
            datetime(2027, 4, 10, tzinfo=UTC),
            mailbox=ALICE,
        )

    occurrences = setup.run(view)
    by_day = sorted(
        (o.start.date(), o.start.astimezone(UTC).hour) for o in occurrences if o.start
    )
    assert [hour for _, hour in by_day] == [9, 8, 8]  # CET, then CEST
    assert all(o.start and o.start.astimezone(BERLIN).hour == 10 for o in occurrences)


def test_all_day_appointment_round_trips(setup: Setup) -> None:
    """An all-day event keeps its local midnights and flag."""
    day = datetime(2027, 5, 1, tzinfo=BERLIN)
    record = Appointment(
        subject="Holiday",
        start=day,
        end=day + timedelta(days=1),
        is_all_day=True,
        time_zone="Europe/Berlin",
    )
    setup.crm[EntityType.APPOINTMENT].create(ALICE, record, idempotency_key="holiday")

    setup.sync()

    [back] = setup.exchange(EntityType.APPOINTMENT)
    assert back.is_all_day  # type: ignore[attr-defined]
    assert back.start == record.start  # type: ignore[attr-defined]
    assert back.start.astimezone(BERLIN).hour == 0  # type: ignore[attr-defined]


def test_edits_and_deletes_flow_both_ways(setup: Setup) -> None:
    """Exchange edits and deletes reach the CRM and vice versa."""
    contacts = setup.crm[EntityType.CONTACT]
    for n in range(4):
        contacts.create(
            ALICE,
            Contact(given_name=f"P{n}", email_addresses=(f"p{n}@example.org",)),
            idempotency_key=f"k{n}",
        )
    setup.sync()
    items = {i.text("GivenName"): i for i in setup.simulator.items(ALICE, "contacts")}
    setup.simulator.modify_item(
        ALICE, items["P0"].item_id, JobTitle="Edited in Outlook"
    )
    setup.simulator.remove_item(ALICE, items["P1"].item_id)
    by_name = {c.given_name: c for c in contacts.records(ALICE)}
    contacts.update(
        ALICE,
        by_name["P2"].model_copy(update={"job_title": "Edited in CRM"}),
        expected_version=by_name["P2"].version,
    )
    contacts.delete(ALICE, by_name["P3"].id)

    report = setup.sync()

    assert report.ok
    assert sorted(c.given_name for c in contacts.records(ALICE)) == ["P0", "P2"]
    assert {c.given_name: c.job_title for c in contacts.records(ALICE)} == {
        "P0": "Edited in Outlook",
        "P2": "Edited in CRM",
    }
    _assert_converged(setup)


def test_concurrent_edit_conflict_is_resolved_by_policy(setup: Setup) -> None:
    """An Outlook edit landing between read and UpdateItem triggers the policy."""
    contacts = setup.crm[EntityType.CONTACT]
    crm = contacts.create(
        ALICE,
        Contact(given_name="Dana", email_addresses=("d@example.org",)),
        idempotency_key="d",
    )
    setup.sync()
    [item] = setup.simulator.items(ALICE, "contacts")
    crm = contacts.get(ALICE, crm.id)
    contacts.update(
        ALICE,
        crm.model_copy(update={"job_title": "CRM title"}),
        expected_version=crm.version,
    )

    def writer(call: CallInfo) -> None:
        if (
            call.operation == "UpdateItem"
            and setup.simulator.before_operation is writer
        ):
            setup.simulator.before_operation = None
            setup.simulator.modify_item(ALICE, item.item_id, Department="Outlook dept")

    setup.simulator.before_operation = writer
    report = setup.sync()

    assert report.entities[EntityType.CONTACT].conflicts == 1
    [after] = setup.exchange(EntityType.CONTACT)
    assert after.job_title == "CRM title"  # type: ignore[attr-defined]
    _assert_converged(setup)


def test_create_committed_but_answer_lost_is_not_duplicated(setup: Setup) -> None:
    """CreateItem that commits and then drops the connection leaves one item."""
    for n in range(3):
        setup.crm[EntityType.TASK].create(
            ALICE, Task(subject=f"Task {n}"), idempotency_key=f"t{n}"
        )
    setup.simulator.schedule_fault(FaultKind.COMMIT_THEN_DROP, operation="CreateItem")

    first = setup.sync()
    assert first.entities[EntityType.TASK].parked == 3
    assert len(setup.simulator.items(ALICE, "tasks")) == 3

    setup.sync()

    assert len(setup.simulator.items(ALICE, "tasks")) == 3
    assert (
        setup.store.count_links(ALICE, EntityType.TASK, states={LinkState.LINKED}) == 3
    )
    _assert_converged(setup)


def test_invalid_sync_state_recovers_without_duplicates(setup: Setup) -> None:
    """A garbage SyncState leads to a full reconcile that creates nothing twice."""
    setup.simulator.seed_items(5, mailboxes=[ALICE])
    setup.sync()
    setup.store.set_sync_state(ALICE, "contact", "bm90LWEtc3luYy1zdGF0ZQ==")

    report = setup.sync()

    assert report.ok
    assert len(setup.crm[EntityType.CONTACT].records(ALICE)) == 5
    assert len(setup.simulator.items(ALICE, "contacts")) == 5


def test_denied_mailbox_fails_alone(setup: Setup) -> None:
    """A mailbox outside the management scope is reported; the others finish."""
    setup.simulator.seed_items(2, mailboxes=[ALICE, BOB, CAROL])

    report = setup.run(lambda engine, _b: SyncRunner(engine).run([ALICE, BOB, CAROL]))

    assert [m.mailbox for m in report.failed] == [CAROL]
    assert report.failed[0].error == "ErrorImpersonateUserDenied"
    assert len(setup.crm[EntityType.CONTACT].records(ALICE)) == 2
    assert len(setup.crm[EntityType.CONTACT].records(BOB)) == 2
    assert setup.crm[EntityType.CONTACT].records(CAROL) == []


def test_every_request_names_its_mailbox_in_both_headers(setup: Setup) -> None:
    """Every call carried X-AnchorMailbox equal to the impersonated mailbox."""
    setup.simulator.seed_items(2, mailboxes=[ALICE, BOB])
    setup.run(lambda engine, _b: SyncRunner(engine).run([ALICE, BOB]))

    calls = setup.simulator.calls
    assert calls
    assert all(call.mailbox == call.anchor_mailbox for call in calls)
    assert {call.mailbox for call in calls} == {ALICE, BOB}


def _edited_on_both_sides(setup: Setup) -> tuple[str, str]:
    """Link one contact, then edit it in the CRM and in Outlook."""
    contacts = setup.crm[EntityType.CONTACT]
    created = contacts.create(
        ALICE,
        Contact(given_name="Eve", email_addresses=("eve@example.org",)),
        idempotency_key="eve",
    )
    setup.sync()
    [item] = setup.simulator.items(ALICE, "contacts")
    current = contacts.get(ALICE, created.id)
    later = datetime.now(UTC) + timedelta(hours=1)
    contacts.update(
        ALICE,
        current.model_copy(update={"job_title": "crm side", "modified_at": later}),
        expected_version=current.version,
    )
    setup.simulator.modify_item(ALICE, item.item_id, JobTitle="exchange side")
    return created.id, item.item_id


@pytest.mark.parametrize(
    ("policy", "winner"),
    [
        (ConflictPolicy.CRM_WINS, "crm side"),
        (ConflictPolicy.EXCHANGE_WINS, "exchange side"),
        (ConflictPolicy.NEWEST_WINS, "crm side"),  # the CRM edit is an hour later
        (ConflictPolicy.CALLABLE, "exchange side"),
    ],
)
def test_every_conflict_policy_over_ews(
    setup: Setup, policy: ConflictPolicy, winner: str
) -> None:
    """Each conflict policy leaves both sides holding the winner's edit."""
    setup.conflict = policy
    if policy is ConflictPolicy.CALLABLE:
        setup.policy_options = {
            "conflict_resolver": lambda _crm, _ews: ConflictChoice.EXCHANGE
        }
    _edited_on_both_sides(setup)

    report = setup.sync()

    assert report.entities[EntityType.CONTACT].conflicts == 1
    [crm] = setup.crm[EntityType.CONTACT].records(ALICE)
    [ews] = setup.exchange(EntityType.CONTACT)
    assert crm.job_title == winner
    assert ews.job_title == winner  # type: ignore[attr-defined]


def test_park_policy_over_ews_keeps_both_edits(setup: Setup) -> None:
    """PARK leaves both edits in place and the pair in conflict."""
    setup.conflict = ConflictPolicy.PARK
    _edited_on_both_sides(setup)

    setup.sync()

    [crm] = setup.crm[EntityType.CONTACT].records(ALICE)
    [ews] = setup.exchange(EntityType.CONTACT)
    assert (crm.job_title, ews.job_title) == ("crm side", "exchange side")  # type: ignore[attr-defined]
    [link] = setup.store.iter_links(ALICE, EntityType.CONTACT)
    assert link.state is LinkState.CONFLICT


@pytest.mark.parametrize(
    ("direction", "crm_count", "ews_count"),
    [
        (Direction.TWO_WAY, 2, 2),
        (Direction.CRM_TO_EXCHANGE, 1, 2),
        (Direction.EXCHANGE_TO_CRM, 2, 1),
    ],
)
def test_directions_over_ews(
    setup: Setup, direction: Direction, crm_count: int, ews_count: int
) -> None:
    """One-way policies copy only their way."""
    setup.policy_options = {"direction": direction}
    setup.crm[EntityType.TASK].create(
        ALICE, Task(subject="crm task"), idempotency_key="t"
    )
    setup.simulator.add_item(
        ALICE,
        default_mappings()[EntityType.TASK]
        .to_item(Task(subject="outlook task"))
        .to_xml(),
    )

    setup.sync()

    assert len(setup.crm[EntityType.TASK].records(ALICE)) == crm_count
    assert len(setup.simulator.items(ALICE, "tasks")) == ews_count


def test_ignore_delete_policies_over_ews(setup: Setup) -> None:
    """IGNORE on both sides unlinks instead of deleting anything."""
    setup.policy_options = {
        "crm_delete": CRMDeletePolicy.IGNORE,
        "ews_delete": EWSDeletePolicy.IGNORE,
    }
    contacts = setup.crm[EntityType.CONTACT]
    for n in range(2):
        contacts.create(
            ALICE,
            Contact(given_name=f"K{n}", email_addresses=(f"k{n}@example.org",)),
            idempotency_key=f"k{n}",
        )
    setup.sync()
    [first, second] = sorted(contacts.records(ALICE), key=lambda c: c.given_name)
    contacts.delete(ALICE, first.id)
    link = setup.store.get_link_by_crm_id(ALICE, EntityType.CONTACT, second.id)
    setup.simulator.remove_item(ALICE, link.ews_item_id)

    setup.sync()

    assert [c.given_name for c in contacts.records(ALICE)] == ["K1"]
    assert [i.text("GivenName") for i in setup.simulator.items(ALICE, "contacts")] == [
        "K0"
    ]
    assert setup.store.count_links(ALICE, EntityType.CONTACT) == 0
