"""The sync engine against the in-memory backend, store and repositories."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from crm_ews.errors import (
    InvalidRequestError,
    MailboxNotEnrolledError,
    RepositoryError,
    TransportError,
)
from crm_ews.repository import (
    Appointment,
    ChangeSet,
    Contact,
    CRMRecord,
    EntityType,
    InMemoryAppointmentRepository,
    InMemoryContactRepository,
    InMemoryTaskRepository,
    Task,
)
from crm_ews.sync import (
    ConflictChoice,
    ConflictPolicy,
    CRMDeletePolicy,
    Direction,
    EntityPolicy,
    InMemoryMailboxBackend,
    LinkState,
    MassDeletionGuard,
    MemoryStateStore,
    ParkedRetry,
    SyncEngine,
    SyncRunner,
    TimeWindow,
)

ALICE = "alice@example.com"
BOB = "bob@example.com"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


@dataclass
class World:
    """One CRM, one mailbox server, one state store and an engine over them."""

    backend: InMemoryMailboxBackend
    store: MemoryStateStore
    contacts: InMemoryContactRepository
    appointments: InMemoryAppointmentRepository
    tasks: InMemoryTaskRepository
    policies: list[EntityPolicy] = field(default_factory=list)
    mailboxes: tuple[str, ...] = (ALICE,)

    def engine(self, **overrides: Any) -> SyncEngine:
        options: dict[str, Any] = {
            "backend": self.backend,
            "repositories": {
                EntityType.CONTACT: self.contacts,
                EntityType.APPOINTMENT: self.appointments,
                EntityType.TASK: self.tasks,
            },
            "store": self.store,
            "policies": self.policies,
            "enrolled": self.mailboxes,
            "clock": lambda: NOW,
            "retry": ParkedRetry(base=timedelta(0)),
        }
        options.update(overrides)
        return SyncEngine(**options)

    def sync(self, mailbox: str = ALICE, **kwargs: Any) -> Any:
        return _run(self.engine().sync_mailbox(mailbox, **kwargs))


def _policies(
    conflict: ConflictPolicy = ConflictPolicy.CRM_WINS, **kw: Any
) -> list[EntityPolicy]:
    return [
        EntityPolicy(entity=entity, conflict=conflict, **kw)
        for entity in (EntityType.CONTACT, EntityType.APPOINTMENT, EntityType.TASK)
    ]


@pytest.fixture
def world() -> World:
    return World(
        backend=InMemoryMailboxBackend([ALICE, BOB], page_size=7, clock=lambda: NOW),
        store=MemoryStateStore(clock=lambda: NOW),
        contacts=InMemoryContactRepository(),
        appointments=InMemoryAppointmentRepository(),
        tasks=InMemoryTaskRepository(),
        policies=_policies(),
        mailboxes=(ALICE, BOB),
    )


def _contact(n: int, **kw: Any) -> Contact:
    values: dict[str, Any] = {
        "given_name": f"Given{n}",
        "surname": f"Surname{n}",
        "email_addresses": (f"person{n}@example.org",),
        "company": "Contoso",
    }
    values.update(kw)
    return Contact(**values)


def _appointment(n: int, **kw: Any) -> Appointment:
    start = NOW + timedelta(days=n, hours=1)
    values: dict[str, Any] = {
        "subject": f"Meeting {n}",
        "start": start,
        "end": start + timedelta(hours=1),
    }
    values.update(kw)
    return Appointment(**values)


def _crm_contacts(world: World, mailbox: str = ALICE) -> list[Contact]:
    return world.contacts.records(mailbox)


def _ews_contacts(world: World, mailbox: str = ALICE) -> list[CRMRecord]:
    return list(world.backend.items(mailbox, EntityType.CONTACT).values())


def _emails(records: list[Any]) -> list[str]:
    return sorted(record.email_addresses[0] for record in records)


def test_initial_sync_copies_each_side_once(world: World) -> None:
    """Records on either side end up exactly once on both sides."""
    for n in range(5):
        world.contacts.create(ALICE, _contact(n), idempotency_key=f"k{n}")
    for n in range(5, 12):
        world.backend.put(ALICE, _contact(n))

    report = world.sync()

    assert report.ok
    expected = [f"person{n}@example.org" for n in range(12)]
    assert _emails(_crm_contacts(world)) == sorted(expected)
    assert _emails(_ews_contacts(world)) == sorted(expected)
    counts = report.entities[EntityType.CONTACT]
    assert counts.created == {"crm": 7, "exchange": 5}


def test_first_time_linking_matches_instead_of_duplicating(world: World) -> None:
    """A contact present on both sides with the same address is linked once."""
    world.contacts.create(ALICE, _contact(1), idempotency_key="k1")
    world.backend.put(ALICE, _contact(1, company="Fabrikam"))

    report = world.sync()

    assert len(_crm_contacts(world)) == 1
    assert len(_ews_contacts(world)) == 1
    assert report.entities[EntityType.CONTACT].linked == 1
    # CRM wins the differing company on first linking.
    assert _ews_contacts(world)[0].company == "Contoso"  # type: ignore[attr-defined]


def test_idle_second_run_reads_once_per_folder_and_writes_nothing(world: World) -> None:
    """After a sync, the next run costs one read per entity and no writes."""
    for n in range(4):
        world.contacts.create(ALICE, _contact(n), idempotency_key=f"k{n}")
        world.backend.put(ALICE, _appointment(n))
    world.sync()
    world.backend.calls.clear()
    versions = {c.id: c.version for c in _crm_contacts(world)}

    report = world.sync()

    alice_calls = [op for op, mailbox in world.backend.calls if mailbox == ALICE]
    assert alice_calls == ["SyncFolderItems"] * 3
    assert {c.id: c.version for c in _crm_contacts(world)} == versions
    assert all(
        not entity.created and not entity.updated and not entity.deleted
        for entity in report.entities.values()
    )


def test_updates_flow_both_ways(world: World) -> None:
    """A CRM edit reaches Exchange and an Exchange edit reaches the CRM."""
    crm = world.contacts.create(ALICE, _contact(1), idempotency_key="k1")
    ref = world.backend.put(ALICE, _contact(2))
    world.sync()

    world.contacts.update(
        ALICE,
        crm.model_copy(update={"job_title": "CFO"}),
        expected_version=crm.version or "",
    )
    world.backend.put(ALICE, _contact(2, job_title="CTO"), item_id=ref.item_id)
    report = world.sync()

    by_email = {c.email_addresses[0]: c for c in _ews_contacts(world)}  # type: ignore[attr-defined]
    assert by_email["person1@example.org"].job_title == "CFO"
    crm_by_email = {c.email_addresses[0]: c for c in _crm_contacts(world)}
    assert crm_by_email["person2@example.org"].job_title == "CTO"
    assert report.entities[EntityType.CONTACT].updated == {"crm": 1, "exchange": 1}


def _both_edited(world: World, policy: ConflictPolicy, **kw: Any) -> tuple[World, str]:
    world.policies = _policies(policy, **kw)
    crm = world.contacts.create(ALICE, _contact(1), idempotency_key="k1")
    world.sync()
    [item_id] = world.backend.items(ALICE, EntityType.CONTACT)
    current = world.contacts.get(ALICE, crm.id or "")
    assert current is not None
    world.contacts.update(
        ALICE,
        current.model_copy(update={"job_title": "crm side"}),
        expected_version=current.version or "",
    )
    world.backend.put(ALICE, _contact(1, job_title="exchange side"), item_id=item_id)
    return world, item_id


@pytest.mark.parametrize(
    ("policy", "winner"),
    [
        (ConflictPolicy.CRM_WINS, "crm side"),
        (ConflictPolicy.EXCHANGE_WINS, "exchange side"),
    ],
)
def test_conflict_policy_picks_the_named_winner(
    world: World, policy: ConflictPolicy, winner: str
) -> None:
    """Both sides end with the winner's content and one conflict is counted."""
    _both_edited(world, policy)

    report = world.sync()

    assert report.entities[EntityType.CONTACT].conflicts == 1
    assert _crm_contacts(world)[0].job_title == winner
    assert _ews_contacts(world)[0].job_title == winner  # type: ignore[attr-defined]


def test_park_policy_leaves_both_sides_and_can_be_resolved(world: World) -> None:
    """PARK keeps both edits until resolve_conflict names a winner."""
    _both_edited(world, ConflictPolicy.PARK)

    report = world.sync()

    assert report.entities[EntityType.CONTACT].parked == 1
    assert _crm_contacts(world)[0].job_title == "crm side"
    assert _ews_contacts(world)[0].job_title == "exchange side"  # type: ignore[attr-defined]
    [link] = world.store.iter_links(
        ALICE, EntityType.CONTACT, states={LinkState.CONFLICT}
    )

    _run(
        world.engine().resolve_conflict(
            ALICE, EntityType.CONTACT, link.correlation_id, ConflictChoice.EXCHANGE
        )
    )

    assert _crm_contacts(world)[0].job_title == "exchange side"
    [link] = world.store.iter_links(ALICE, EntityType.CONTACT)
    assert link.state is LinkState.LINKED


def test_callable_policy_is_consulted(world: World) -> None:
    """A resolver callable decides, seeing both records."""
    seen: list[tuple[str, str]] = []

    def resolver(crm: CRMRecord, ews: CRMRecord) -> ConflictChoice:
        seen.append((crm.job_title, ews.job_title))  # type: ignore[attr-defined]
        return ConflictChoice.EXCHANGE

    _both_edited(world, ConflictPolicy.CALLABLE, conflict_resolver=resolver)
    world.sync()

    assert seen == [("crm side", "exchange side")]
    assert _crm_contacts(world)[0].job_title == "exchange side"


def test_newest_wins_compares_modification_times(world: World) -> None:
    """NEWEST_WINS picks the later side and parks when times are unknown."""
    _both_edited(world, ConflictPolicy.NEWEST_WINS)

    report = world.sync()

    # The in-memory CRM sets no modified_at, so the engine refuses to guess.
    assert report.entities[EntityType.CONTACT].parked == 1


def test_deletes_flow_both_ways(world: World) -> None:
    """Deleting on one side deletes the linked record on the other."""
    for n in range(4):
        world.contacts.create(ALICE, _contact(n), idempotency_key=f"k{n}")
    world.sync()
    crm_gone = next(
        c for c in _crm_contacts(world) if c.email_addresses[0] == "person0@example.org"
    )
    world.contacts.delete(ALICE, crm_gone.id or "")
    ews_gone = next(
        item_id
        for item_id, record in world.backend.items(ALICE, EntityType.CONTACT).items()
        if record.email_addresses[0] == "person1@example.org"  # type: ignore[attr-defined]
    )
    world.backend.remove(ALICE, EntityType.CONTACT, ews_gone)

    report = world.sync()

    left = ["person2@example.org", "person3@example.org"]
    assert _emails(_crm_contacts(world)) == left
    assert _emails(_ews_contacts(world)) == left
    assert report.entities[EntityType.CONTACT].deleted == {"crm": 1, "exchange": 1}


def test_ignore_delete_policy_keeps_the_crm_record(world: World) -> None:
    """CRMDeletePolicy.IGNORE unlinks instead of deleting in the CRM."""
    world.policies = _policies(crm_delete=CRMDeletePolicy.IGNORE)
    world.contacts.create(ALICE, _contact(1), idempotency_key="k1")
    world.sync()
    [item_id] = world.backend.items(ALICE, EntityType.CONTACT)
    world.backend.remove(ALICE, EntityType.CONTACT, item_id)

    world.sync()

    assert len(_crm_contacts(world)) == 1
    assert world.store.count_links(ALICE, EntityType.CONTACT) == 0


class _ForgetfulContacts(InMemoryContactRepository):
    """A CRM without change tracking whose listing can break and return nothing."""

    supports_change_tracking = False
    broken = False

    def list_changes(self, mailbox: str, cursor: str | None) -> ChangeSet[Contact]:
        if self.broken:
            return ChangeSet(is_full_listing=True)
        return ChangeSet(changed=tuple(self.records(mailbox)), is_full_listing=True)


def test_mass_deletion_guard_refuses_an_emptied_side(world: World) -> None:
    """A CRM listing that suddenly returns nothing deletes nothing in Exchange."""
    world.contacts = _ForgetfulContacts()
    world.policies = _policies(
        mass_deletion=MassDeletionGuard(max_ratio=0.5, min_count=2)
    )
    for n in range(10):
        world.contacts.create(ALICE, _contact(n), idempotency_key=f"k{n}")
    world.sync()
    assert len(_ews_contacts(world)) == 10

    world.contacts.broken = True
    report = world.sync()

    assert report.error == "MassDeletionRefused"
    assert report.entities[EntityType.CONTACT].deletions_refused == 10
    assert len(_ews_contacts(world)) == 10

    world.contacts.broken = False
    healed = world.sync()
    assert healed.ok
    assert len(_ews_contacts(world)) == 10
    assert (
        world.store.count_links(ALICE, EntityType.CONTACT, states={LinkState.LINKED})
        == 10
    )


def test_forced_mass_deletion_applies(world: World) -> None:
    """force_deletions overrides the guard."""
    world.contacts = _ForgetfulContacts()
    world.policies = _policies(
        mass_deletion=MassDeletionGuard(max_ratio=0.1, min_count=1)
    )
    for n in range(5):
        world.contacts.create(ALICE, _contact(n), idempotency_key=f"k{n}")
    world.sync()
    world.contacts.broken = True

    report = world.sync(force_deletions=True)

    assert report.entities[EntityType.CONTACT].deleted == {"exchange": 5}
    assert _ews_contacts(world) == []


def test_lost_create_answer_does_not_duplicate(world: World) -> None:
    """A CreateItem whose answer is lost is adopted by correlation id later."""
    for n in range(3):
        world.contacts.create(ALICE, _contact(n), idempotency_key=f"k{n}")

    def drop_answer(operation: str, mailbox: str) -> None:
        if operation == "CreateItem:committed":
            raise TransportError("connection dropped", request_sent=True)

    world.backend.fault = drop_answer
    first = world.sync()
    assert first.entities[EntityType.CONTACT].parked == 3
    assert len(_ews_contacts(world)) == 3

    world.backend.fault = None
    world.sync()

    assert len(_ews_contacts(world)) == 3
    assert (
        world.store.count_links(ALICE, EntityType.CONTACT, states={LinkState.LINKED})
        == 3
    )


class _Crash(BaseException):
    """Stands for the process dying: nothing catches it."""


def test_crash_after_create_before_link_is_recovered(world: World) -> None:
    """A crash between CreateItem and recording its id leaves no duplicate."""
    world.contacts.create(ALICE, _contact(1), idempotency_key="k1")

    def crash(operation: str, mailbox: str) -> None:
        if operation == "CreateItem:committed":
            raise _Crash

    world.backend.fault = crash
    with pytest.raises(_Crash):
        world.sync()
    world.store.release_lease(ALICE, "ignored")  # a dead worker's lease simply expires
    world.backend.fault = None

    report = world.sync(mailbox=BOB)  # other mailboxes are unaffected
    assert report.ok
    engine = world.engine(lease_ttl=1.0, clock=lambda: NOW + timedelta(hours=1))
    _run(engine.sync_mailbox(ALICE))

    assert len(_ews_contacts(world)) == 1
    [link] = world.store.iter_links(ALICE, EntityType.CONTACT)
    assert link.state is LinkState.LINKED


def test_invalid_sync_state_reconciles_without_duplicates(world: World) -> None:
    """A rejected SyncState triggers a full pass that creates nothing twice."""
    for n in range(6):
        world.backend.put(ALICE, _contact(n))
    world.sync()
    world.store.set_sync_state(ALICE, EntityType.CONTACT.value, "garbage!")

    report = world.sync()

    assert report.ok
    assert len(_crm_contacts(world)) == 6
    assert len(_ews_contacts(world)) == 6


def test_full_reconcile_notices_items_deleted_meanwhile(world: World) -> None:
    """After an invalid SyncState, linked items that are gone count as deleted."""
    for n in range(3):
        world.backend.put(ALICE, _contact(n))
    world.sync()
    item_id = next(iter(world.backend.items(ALICE, EntityType.CONTACT)))
    world.backend.remove(ALICE, EntityType.CONTACT, item_id)
    world.store.set_sync_state(ALICE, EntityType.CONTACT.value, "garbage!")

    world.sync()

    assert len(_crm_contacts(world)) == 2


def test_unenrolled_mailbox_is_refused(world: World) -> None:
    """The engine refuses a mailbox that is not enrolled, before any call."""
    with pytest.raises(MailboxNotEnrolledError):
        _run(world.engine().sync_mailbox("mallory@example.com"))
    assert world.backend.calls == []


def test_leaving_the_selection_deletes_nothing(world: World) -> None:
    """A record that stops matching the selection is unlinked, not deleted."""
    world.contacts = InMemoryContactRepository(
        selector=lambda _m, c: c.company != "Gone"
    )
    crm = world.contacts.create(ALICE, _contact(1), idempotency_key="k1")
    world.sync()

    world.contacts.update(
        ALICE,
        crm.model_copy(update={"company": "Gone"}),
        expected_version=crm.version or "",
    )
    report = world.sync()

    assert len(_ews_contacts(world)) == 1
    assert len(_crm_contacts(world)) == 1
    assert report.entities[EntityType.CONTACT].skipped["left_selection"] == 1


def test_one_way_crm_to_exchange_ignores_exchange_edits(world: World) -> None:
    """With CRM_TO_EXCHANGE, Exchange edits never reach the CRM."""
    world.policies = _policies(direction=Direction.CRM_TO_EXCHANGE)
    world.contacts.create(ALICE, _contact(1), idempotency_key="k1")
    world.backend.put(ALICE, _contact(2))
    world.sync()
    [item_id] = [
        i
        for i, r in world.backend.items(ALICE, EntityType.CONTACT).items()
        if r.email_addresses[0] == "person1@example.org"
    ]  # type: ignore[attr-defined]
    world.backend.put(
        ALICE, _contact(1, job_title="edited in Outlook"), item_id=item_id
    )

    world.sync()

    assert _emails(_crm_contacts(world)) == ["person1@example.org"]
    assert _crm_contacts(world)[0].job_title == ""


@pytest.mark.parametrize(
    ("direction", "conflict"),
    [
        (Direction.CRM_TO_EXCHANGE, ConflictPolicy.EXCHANGE_WINS),
        (Direction.EXCHANGE_TO_CRM, ConflictPolicy.CRM_WINS),
    ],
)
def test_a_conflict_never_writes_the_side_a_one_way_sync_leaves_alone(
    world: World, direction: Direction, conflict: ConflictPolicy
) -> None:
    """A one-way sync resolves a conflict for its source side, whatever the rule."""
    world.policies = _policies(conflict=conflict, direction=direction)
    if direction is Direction.CRM_TO_EXCHANGE:
        record = world.contacts.create(ALICE, _contact(1), idempotency_key="k1")
    else:
        world.backend.put(ALICE, _contact(1))
    world.sync()
    [record] = _crm_contacts(world)
    [(item_id, _)] = world.backend.items(ALICE, EntityType.CONTACT).items()
    world.contacts.update(
        ALICE,
        record.model_copy(update={"job_title": "edited in the CRM"}),
        expected_version=record.version or "",
    )
    world.backend.put(
        ALICE, _contact(1, job_title="edited in Outlook"), item_id=item_id
    )

    report = world.sync()

    crm = _crm_contacts(world)[0].job_title
    [item] = world.backend.items(ALICE, EntityType.CONTACT).values()
    source = (
        "edited in the CRM"
        if direction is Direction.CRM_TO_EXCHANGE
        else ("edited in Outlook")
    )
    assert report.entities[EntityType.CONTACT].conflicts == 1
    assert item.job_title == source  # type: ignore[attr-defined]
    assert crm == source


def test_an_item_changed_after_a_permanent_park_in_the_same_run_is_retried(
    world: World,
) -> None:
    """The change the run set aside still brings the parked pair back."""
    record = world.contacts.create(ALICE, _contact(1), idempotency_key="k1")
    world.sync()
    [(item_id, _)] = world.backend.items(ALICE, EntityType.CONTACT).items()
    world.contacts.update(
        ALICE,
        record.model_copy(update={"job_title": "edited in the CRM"}),
        expected_version=_crm_contacts(world)[0].version or "",
    )
    original = world.backend.update_items

    async def refuse_and_edit(mailbox: str, entity: Any, updates: Any) -> Any:
        # Someone edits the item while the server refuses the update for good.
        world.backend.put(ALICE, _contact(1, department="Sales"), item_id=item_id)
        refused = InvalidRequestError("refused", response_code="ErrorInvalidRequest")
        return [refused for _ in updates]

    world.backend.update_items = refuse_and_edit  # type: ignore[method-assign]
    parked = world.sync()
    world.backend.update_items = original  # type: ignore[method-assign]
    assert parked.entities[EntityType.CONTACT].parked == 1

    retried = world.sync()

    [item] = world.backend.items(ALICE, EntityType.CONTACT).values()
    [crm] = _crm_contacts(world)
    assert retried.entities[EntityType.CONTACT].conflicts == 1
    assert item.job_title == "edited in the CRM"  # type: ignore[attr-defined]
    # Both sides changed, so CRM_WINS decides: the whole record wins.
    assert item.department == crm.department  # type: ignore[attr-defined]
    assert world.store.count_links(ALICE, EntityType.CONTACT) == 1
    assert world.sync().entities[EntityType.CONTACT].parked == 0


def test_dry_run_plans_without_writing(world: World) -> None:
    """A dry run reports its plan and changes neither side nor the store."""
    world.contacts.create(ALICE, _contact(1), idempotency_key="k1")
    world.backend.put(ALICE, _contact(2))

    report = world.sync(dry_run=True)

    assert ("contact", "CreateInExchange") in {(e.value, a) for e, a, _ in report.plan}
    assert ("contact", "CreateInCRM") in {(e.value, a) for e, a, _ in report.plan}
    assert len(_ews_contacts(world)) == 1
    assert len(_crm_contacts(world)) == 1
    assert world.store.count_links(ALICE, EntityType.CONTACT) == 0
    assert world.store.get_sync_state(ALICE, EntityType.CONTACT.value) is None


def _linked_attendee_copy(world: World, *, crm_subject: str) -> str:
    """An attendee's copy linked by a first sync, then retitled in the CRM."""
    ref = world.backend.put(ALICE, _appointment(1), is_read_only=True)
    world.sync()
    [crm] = world.appointments.records(ALICE)
    world.appointments.update(
        ALICE,
        crm.model_copy(update={"subject": crm_subject}),
        expected_version=crm.version or "",
    )
    return ref.item_id


def test_attendee_copies_are_read_only_to_the_crm(world: World) -> None:
    """A meeting the owner only attends reaches the CRM but is never written back."""
    item_id = _linked_attendee_copy(world, crm_subject="mine now")

    report = world.sync()

    item = world.backend.items(ALICE, EntityType.APPOINTMENT)[item_id]
    assert item.subject == "Meeting 1"  # type: ignore[attr-defined]
    assert report.entities[EntityType.APPOINTMENT].skipped["read_only_in_exchange"] == 1


def test_attendee_copies_are_written_when_the_policy_allows_it(world: World) -> None:
    """``attendee_copies_read_only=False`` lets CRM edits reach the copy."""
    world.policies = _policies(attendee_copies_read_only=False)
    item_id = _linked_attendee_copy(world, crm_subject="mine now")

    report = world.sync()

    item = world.backend.items(ALICE, EntityType.APPOINTMENT)[item_id]
    assert item.subject == "mine now"  # type: ignore[attr-defined]
    assert report.entities[EntityType.APPOINTMENT].updated["exchange"] == 1


def test_turning_attendee_copies_writable_applies_to_linked_pairs(
    world: World,
) -> None:
    """Pairs linked while the policy was on follow it once it is off."""
    item_id = _linked_attendee_copy(world, crm_subject="mine now")
    world.policies = _policies(attendee_copies_read_only=False)

    world.sync()

    item = world.backend.items(ALICE, EntityType.APPOINTMENT)[item_id]
    assert item.subject == "mine now"  # type: ignore[attr-defined]


def test_a_conflict_on_an_attendee_copy_never_writes_it(world: World) -> None:
    """Edited in the CRM and by the organizer: the organizer's version wins."""
    item_id = _linked_attendee_copy(world, crm_subject="mine now")
    world.backend.put(
        ALICE, _appointment(1, location="Room 2"), item_id=item_id, is_read_only=True
    )

    report = world.sync()

    item = world.backend.items(ALICE, EntityType.APPOINTMENT)[item_id]
    [crm] = world.appointments.records(ALICE)
    entity = report.entities[EntityType.APPOINTMENT]
    assert entity.conflicts == 1
    assert entity.updated["exchange"] == 0
    assert (item.subject, item.location) == ("Meeting 1", "Room 2")  # type: ignore[attr-defined]
    assert (crm.subject, crm.location) == ("Meeting 1", "Room 2")


def test_time_window_skips_far_appointments(world: World) -> None:
    """Appointments outside the window are neither copied nor linked."""
    world.policies = [
        EntityPolicy(
            entity=EntityType.APPOINTMENT,
            conflict=ConflictPolicy.CRM_WINS,
            window=TimeWindow(past=timedelta(days=7), future=timedelta(days=30)),
        )
    ]
    world.backend.put(ALICE, _appointment(3))
    world.backend.put(ALICE, _appointment(400))
    world.appointments.create(ALICE, _appointment(-60), idempotency_key="old")

    report = world.sync()

    assert [a.subject for a in world.appointments.records(ALICE)] == [
        "Meeting -60",
        "Meeting 3",
    ] or sorted(a.subject for a in world.appointments.records(ALICE)) == [
        "Meeting -60",
        "Meeting 3",
    ]
    assert len(world.backend.items(ALICE, EntityType.APPOINTMENT)) == 2
    assert report.entities[EntityType.APPOINTMENT].skipped["outside_window"] == 2


class _FlakyTasks(InMemoryTaskRepository):
    """A CRM whose creates fail transiently a set number of times."""

    failures = 1

    def create(self, mailbox: str, record: Task, *, idempotency_key: str) -> Task:
        if self.failures:
            self.failures -= 1
            raise RepositoryError("CRM timed out", is_transient=True)
        return super().create(mailbox, record, idempotency_key=idempotency_key)


def test_failing_item_is_parked_and_retried(world: World) -> None:
    """One failing item is parked without blocking others, then retried."""
    world.tasks = _FlakyTasks()
    world.backend.put(ALICE, Task(subject="first", due_date=date(2026, 12, 24)))
    world.backend.put(ALICE, Task(subject="second", due_date=date(2026, 12, 25)))

    first = world.sync()
    assert first.entities[EntityType.TASK].parked == 1
    assert len(world.tasks.records(ALICE)) == 1

    world.sync()
    assert sorted(t.subject for t in world.tasks.records(ALICE)) == ["first", "second"]


def test_runner_isolates_failing_mailboxes(world: World) -> None:
    """A mailbox that does not exist fails alone; the others finish."""
    world.mailboxes = (ALICE, BOB, "ghost@example.com")
    world.backend.put(ALICE, _contact(1))
    world.backend.put(BOB, _contact(2))
    seen: list[int] = []

    report = _run(
        SyncRunner(world.engine(), concurrency=2).run(
            world.mailboxes, progress=lambda done, total, _r: seen.append(done)
        )
    )

    assert [r.mailbox for r in report.failed] == ["ghost@example.com"]
    assert report.failed[0].error == "ErrorNonExistentMailbox"
    assert len(_crm_contacts(world, ALICE)) == 1
    assert len(_crm_contacts(world, BOB)) == 1
    assert sorted(seen) == [1, 2, 3]


def test_lease_held_by_another_worker_stops_the_mailbox(world: World) -> None:
    """A mailbox leased to another worker is not synced by this one."""
    assert world.store.acquire_lease(ALICE, "other-worker", 600)

    report = world.sync()

    assert report.error == "LeaseHeldError"
    assert world.backend.calls == []


_Factory = Callable[[], World]


class _BrokenListing(InMemoryContactRepository):
    """A CRM whose change listing fails for one mailbox."""

    def list_changes(self, mailbox: str, cursor: str | None) -> ChangeSet[Contact]:
        if mailbox == BOB:
            raise RepositoryError("CRM query timed out", is_transient=True)
        return super().list_changes(mailbox, cursor)


def test_crm_listing_failure_stops_only_that_mailbox(world: World) -> None:
    """A failing CRM listing is reported for its mailbox; the others sync."""
    world.contacts = _BrokenListing()
    world.backend.put(ALICE, _contact(1))
    world.backend.put(BOB, _contact(2))

    report = _run(SyncRunner(world.engine()).run([ALICE, BOB]))

    assert [(r.mailbox, r.error) for r in report.failed] == [(BOB, "RepositoryError")]
    assert len(_crm_contacts(world, ALICE)) == 1


class _Buggy(InMemoryContactRepository):
    """A CRM adapter with a bug for one mailbox."""

    def list_changes(self, mailbox: str, cursor: str | None) -> ChangeSet[Contact]:
        if mailbox == BOB:
            raise ZeroDivisionError("adapter bug")
        return super().list_changes(mailbox, cursor)


def test_unexpected_exception_fails_one_mailbox_not_the_run(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A defect in one mailbox's adapter is logged; the other mailboxes finish."""
    world.contacts = _Buggy()
    world.backend.put(ALICE, _contact(1))

    report = _run(SyncRunner(world.engine()).run([ALICE, BOB]))

    assert [(r.mailbox, r.error) for r in report.failed] == [(BOB, "ZeroDivisionError")]
    assert len(_crm_contacts(world, ALICE)) == 1
    assert any(r.levelname == "ERROR" for r in caplog.records)


def test_a_writer_that_keeps_editing_gets_the_pair_parked(world: World) -> None:
    """Conflict handling stops after one retry instead of chasing a busy writer."""
    crm = world.contacts.create(ALICE, _contact(1), idempotency_key="k1")
    world.sync()
    [item_id] = world.backend.items(ALICE, EntityType.CONTACT)
    current = world.contacts.get(ALICE, crm.id or "")
    assert current is not None
    world.contacts.update(
        ALICE,
        current.model_copy(update={"job_title": "CRM"}),
        expected_version=current.version or "",
    )
    edits = 0

    def busy_writer(operation: str, mailbox: str) -> None:
        nonlocal edits
        if operation == "UpdateItem":
            edits += 1
            world.backend.put(
                ALICE, _contact(1, job_title=f"Outlook {edits}"), item_id=item_id
            )

    world.backend.fault = busy_writer
    report = world.sync()

    # At most a write and one retry per round, and a run makes three rounds.
    assert edits <= 6
    assert report.entities[EntityType.CONTACT].parked >= 1
    [link] = world.store.iter_links(ALICE, EntityType.CONTACT)
    assert link.state is LinkState.PARKED
    assert link.last_error_code == "ErrorIrresolvableConflict"


def test_item_restored_while_its_deletion_waits_is_relinked(world: World) -> None:
    """An item restored under a new id, carrying our correlation id, is relinked."""
    world.policies = _policies(
        mass_deletion=MassDeletionGuard(max_ratio=0.0, min_count=0)
    )
    world.contacts.create(ALICE, _contact(1), idempotency_key="k1")
    world.sync()
    [(item_id, record)] = world.backend.items(ALICE, EntityType.CONTACT).items()
    [link] = world.store.iter_links(ALICE, EntityType.CONTACT)
    world.backend.remove(ALICE, EntityType.CONTACT, item_id)
    refused = world.sync()
    assert refused.entities[EntityType.CONTACT].deletions_refused == 1

    world.backend.put(
        ALICE, record, item_id="restored-1", correlation_id=link.correlation_id
    )
    world.sync()

    assert len(_crm_contacts(world)) == 1
    [relinked] = world.store.iter_links(ALICE, EntityType.CONTACT)
    assert relinked.state is LinkState.LINKED
    assert relinked.ews_item_id == "restored-1"
