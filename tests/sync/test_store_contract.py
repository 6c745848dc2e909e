"""The state store contract, run against the memory and SQLite stores."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from crm_ews.errors import StateStoreError
from crm_ews.repository import EntityType
from crm_ews.sync import (
    JournalEntry,
    Link,
    LinkState,
    MemoryStateStore,
    SQLiteStateStore,
    StateStore,
)

MAILBOX = "owner@example.com"
OTHER = "other@example.com"
CONTACT = EntityType.CONTACT
T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Boom(Exception):
    """Raised by tests to abort a transaction."""


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at T0."""
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[StateStore]:
    """Each store implementation, fresh, with the fake clock."""
    if request.param == "memory":
        opened: StateStore = MemoryStateStore(clock=clock)
    else:
        opened = SQLiteStateStore(tmp_path / "state.db", clock=clock)
    yield opened
    opened.close()


def _fail_inside_transaction(store: StateStore, writes: Callable[[], object]) -> None:
    """Run writes in a transaction, then abort it with Boom."""
    with store.transaction():
        writes()
        raise Boom


def _linked(crm_id: str, ews_id: str, **changes: Any) -> Link:
    link = Link(MAILBOX, CONTACT, LinkState.LINKED, crm_id=crm_id, ews_item_id=ews_id)
    return dataclasses.replace(link, **changes)


def _entry(run_id: str, action: str, mailbox: str = MAILBOX) -> JournalEntry:
    return JournalEntry(
        run_id=run_id,
        mailbox=mailbox,
        entity=CONTACT,
        action=action,
        reason="test",
        outcome="ok",
        at=T0,
        crm_id="c1",
    )


def test_link_is_found_by_each_key(store: StateStore) -> None:
    """A stored link is found by crm id, ews id and correlation id."""
    stored = store.put_link(_linked("c1", "e1"))

    assert store.get_link_by_crm_id(MAILBOX, CONTACT, "c1") == stored
    assert store.get_link_by_ews_id(MAILBOX, CONTACT, "e1") == stored
    assert store.get_link_by_correlation_id(stored.correlation_id) == stored
    assert store.get_link_by_crm_id(OTHER, CONTACT, "c1") is None
    assert store.get_link_by_crm_id(MAILBOX, EntityType.TASK, "c1") is None


def test_pending_link_round_trips_every_field(store: StateStore) -> None:
    """A pending link with every optional field set reads back equal."""
    link = Link(
        MAILBOX,
        CONTACT,
        LinkState.PENDING_CRM_CREATE,
        ews_item_id="e1",
        ews_change_key="ck",
        ews_hash="h" * 64,
        crm_version="v",
        crm_hash="g" * 64,
        last_error_code="ErrorServerBusy",
        last_error_text="busy",
        last_error_at=T0 - timedelta(minutes=1),
        retry_count=3,
        next_attempt_at=T0 + timedelta(minutes=5),
    )

    stored = store.put_link(link)

    assert store.get_link_by_correlation_id(link.correlation_id) == stored
    assert stored == dataclasses.replace(link, updated_at=T0)
    assert store.get_link_by_crm_id(MAILBOX, CONTACT, "e1") is None


def test_put_link_stamps_updated_at(store: StateStore, clock: FakeClock) -> None:
    """put_link sets updated_at from the clock, ignoring what was passed."""
    clock.advance(42)

    stored = store.put_link(_linked("c1", "e1", updated_at=T0 - timedelta(days=1)))

    assert stored.updated_at == T0 + timedelta(seconds=42)


def test_put_link_replaces_by_correlation_id(store: StateStore) -> None:
    """Storing a link again replaces it and frees its old side ids."""
    stored = store.put_link(_linked("c1", "e1"))

    store.put_link(dataclasses.replace(stored, ews_item_id="e2", ews_change_key="k2"))

    assert store.count_links(MAILBOX, CONTACT) == 1
    assert store.get_link_by_ews_id(MAILBOX, CONTACT, "e1") is None
    found = store.get_link_by_ews_id(MAILBOX, CONTACT, "e2")
    assert found is not None
    assert found.ews_change_key == "k2"


@pytest.mark.parametrize(
    ("first", "second"),
    [(("c1", "e1"), ("c1", "e2")), (("c1", "e1"), ("c2", "e1"))],
    ids=["crm_id", "ews_item_id"],
)
def test_side_ids_are_unique_per_mailbox_and_entity(
    store: StateStore, first: tuple[str, str], second: tuple[str, str]
) -> None:
    """A second link claiming a taken side id is refused; the first stays."""
    kept = store.put_link(_linked(*first))

    with pytest.raises(StateStoreError):
        store.put_link(_linked(*second))

    assert store.count_links(MAILBOX, CONTACT) == 1
    assert store.get_link_by_crm_id(MAILBOX, CONTACT, first[0]) == kept


def test_same_side_ids_in_other_scopes_are_allowed(store: StateStore) -> None:
    """The same ids may be linked in another mailbox or entity type."""
    store.put_link(_linked("c1", "e1"))
    store.put_link(dataclasses.replace(_linked("c1", "e1"), mailbox=OTHER))
    store.put_link(dataclasses.replace(_linked("c1", "e1"), entity=EntityType.TASK))

    assert store.count_links(MAILBOX, CONTACT) == 1
    assert store.count_links(OTHER, CONTACT) == 1
    assert store.count_links(MAILBOX, EntityType.TASK) == 1


def test_link_cannot_move_to_another_mailbox(store: StateStore) -> None:
    """Re-storing a correlation id under another mailbox raises ValueError."""
    stored = store.put_link(_linked("c1", "e1"))

    with pytest.raises(ValueError, match="never change"):
        store.put_link(dataclasses.replace(stored, mailbox=OTHER))


def test_delete_link_forgets_it(store: StateStore) -> None:
    """delete_link removes the link and frees its ids for a new one."""
    stored = store.put_link(_linked("c1", "e1"))

    assert store.delete_link(stored.correlation_id) is True
    assert store.delete_link(stored.correlation_id) is False
    assert store.get_link_by_crm_id(MAILBOX, CONTACT, "c1") is None
    store.put_link(_linked("c1", "e1"))
    assert store.count_links(MAILBOX, CONTACT) == 1


def test_iter_links_filters_and_orders(store: StateStore) -> None:
    """iter_links yields one scope's links by correlation id, filtered by state."""
    links = [
        store.put_link(_linked(f"c{index}", f"e{index}", state=state))
        for index, state in enumerate(
            [LinkState.LINKED, LinkState.CONFLICT, LinkState.LINKED]
        )
    ]
    store.put_link(dataclasses.replace(_linked("c9", "e9"), mailbox=OTHER))

    every = list(store.iter_links(MAILBOX, CONTACT))
    linked = list(store.iter_links(MAILBOX, CONTACT, states={LinkState.LINKED}))

    assert every == sorted(links, key=lambda link: link.correlation_id)
    assert {link.crm_id for link in linked} == {"c0", "c2"}
    assert store.count_links(MAILBOX, CONTACT, states=[LinkState.CONFLICT]) == 1
    assert store.count_links(MAILBOX, CONTACT, states=[]) == 0
    assert list(store.iter_links(MAILBOX, CONTACT, states=[])) == []


def test_iter_links_spans_batches(store: StateStore) -> None:
    """More links than one batch are each yielded exactly once."""
    with store.transaction():
        for index in range(1234):
            store.put_link(_linked(f"c{index}", f"e{index}"))

    seen = [link.crm_id for link in store.iter_links(MAILBOX, CONTACT)]

    assert len(seen) == 1234
    assert len(set(seen)) == 1234


def test_links_can_be_written_while_iterating(store: StateStore) -> None:
    """Updating each link during iteration neither repeats nor skips one."""
    for index in range(30):
        store.put_link(_linked(f"c{index}", f"e{index}"))

    seen = []
    for link in store.iter_links(MAILBOX, CONTACT):
        seen.append(link.crm_id or "")
        store.put_link(dataclasses.replace(link, crm_version="2"))

    assert sorted(seen) == sorted(f"c{index}" for index in range(30))
    assert {link.crm_version for link in store.iter_links(MAILBOX, CONTACT)} == {"2"}


def test_iter_due_links_returns_parked_links_due(
    store: StateStore, clock: FakeClock
) -> None:
    """Only parked links whose time has come are due, soonest first."""

    def parked(crm_id: str, minutes: int | None, state: LinkState) -> Link:
        due = None if minutes is None else T0 + timedelta(minutes=minutes)
        return store.put_link(
            Link(MAILBOX, CONTACT, state, crm_id=crm_id, next_attempt_at=due)
        )

    later = parked("later", -1, LinkState.PARKED)
    sooner = parked("sooner", -5, LinkState.PARKED)
    parked("future", 5, LinkState.PARKED)
    parked("never", None, LinkState.PARKED)
    parked("conflict", -5, LinkState.CONFLICT)
    store.put_link(
        Link(OTHER, CONTACT, LinkState.PARKED, crm_id="x", next_attempt_at=T0)
    )

    due = list(store.iter_due_links(mailbox=MAILBOX))

    assert [link.crm_id for link in due] == [sooner.crm_id, later.crm_id]
    assert len(list(store.iter_due_links())) == 3
    assert [link.crm_id for link in store.iter_due_links(limit=1)] == ["sooner"]
    clock.advance(600)
    assert len(list(store.iter_due_links(mailbox=MAILBOX))) == 3
    assert len(list(store.iter_due_links(now=T0 - timedelta(days=1)))) == 0


def test_transaction_commits_together(store: StateStore) -> None:
    """Writes inside a finished transaction are all visible."""
    with store.transaction():
        store.put_link(_linked("c1", "e1"))
        store.set_crm_cursor(MAILBOX, CONTACT, "7")

    assert store.count_links(MAILBOX, CONTACT) == 1
    assert store.get_crm_cursor(MAILBOX, CONTACT) == "7"


def test_transaction_rolls_back_on_exception(store: StateStore) -> None:
    """An exception undoes every write of the block and propagates."""
    store.set_sync_state(MAILBOX, "calendar", "before")
    kept = store.put_link(_linked("c0", "e0"))

    def writes() -> None:
        store.put_link(_linked("c1", "e1"))
        store.put_link(dataclasses.replace(kept, state=LinkState.CONFLICT))
        store.delete_link(kept.correlation_id)
        store.set_sync_state(MAILBOX, "calendar", "after")
        store.set_crm_cursor(MAILBOX, CONTACT, "9")
        store.append_journal(_entry("run", "create"))
        store.acquire_lease(MAILBOX, "worker", 60)

    with pytest.raises(Boom):
        _fail_inside_transaction(store, writes)

    assert [link.crm_id for link in store.iter_links(MAILBOX, CONTACT)] == ["c0"]
    assert store.get_link_by_crm_id(MAILBOX, CONTACT, "c0") == kept
    assert store.get_link_by_crm_id(MAILBOX, CONTACT, "c1") is None
    assert store.get_sync_state(MAILBOX, "calendar") == "before"
    assert store.get_crm_cursor(MAILBOX, CONTACT) is None
    assert list(store.iter_journal()) == []
    assert store.get_lease(MAILBOX) is None


def test_nested_transaction_is_a_savepoint(store: StateStore) -> None:
    """A failed inner block undoes only its own writes."""
    with store.transaction():
        store.put_link(_linked("outer", "e-outer"))
        with pytest.raises(Boom):
            _fail_inside_transaction(
                store, lambda: store.put_link(_linked("inner", "e-inner"))
            )
        store.put_link(_linked("after", "e-after"))

    crm_ids = {link.crm_id for link in store.iter_links(MAILBOX, CONTACT)}
    assert crm_ids == {"outer", "after"}


def test_inner_failure_escaping_rolls_back_everything(store: StateStore) -> None:
    """An exception leaving both blocks undoes the outer writes too."""

    def writes() -> None:
        store.put_link(_linked("outer", "e-outer"))
        _fail_inside_transaction(
            store, lambda: store.put_link(_linked("inner", "e-inner"))
        )

    with pytest.raises(Boom):
        _fail_inside_transaction(store, writes)

    assert store.count_links(MAILBOX, CONTACT) == 0


def test_refused_write_keeps_the_transaction_usable(store: StateStore) -> None:
    """A unique-constraint refusal inside a block leaves earlier writes to commit."""
    with store.transaction():
        store.put_link(_linked("c1", "e1"))
        with pytest.raises(StateStoreError):
            store.put_link(_linked("c1", "e2"))
        store.put_link(_linked("c2", "e2"))

    assert store.count_links(MAILBOX, CONTACT) == 2


def test_sync_state_checkpoints_round_trip(store: StateStore) -> None:
    """SyncState is stored per mailbox and folder; None clears it."""
    big = "H4sI" + "A" * 200_000
    store.set_sync_state(MAILBOX, "calendar", big)
    store.set_sync_state(MAILBOX, "contacts", "c-state")
    store.set_sync_state(MAILBOX, "contacts", "c-state-2")

    assert store.get_sync_state(MAILBOX, "calendar") == big
    assert store.get_sync_state(MAILBOX, "contacts") == "c-state-2"
    assert store.get_sync_state(OTHER, "calendar") is None
    store.set_sync_state(MAILBOX, "calendar", None)
    assert store.get_sync_state(MAILBOX, "calendar") is None


def test_crm_cursor_checkpoints_round_trip(store: StateStore) -> None:
    """The CRM cursor is stored per mailbox and entity; None clears it."""
    store.set_crm_cursor(MAILBOX, CONTACT, "41")
    store.set_crm_cursor(MAILBOX, CONTACT, "42")
    store.set_crm_cursor(MAILBOX, EntityType.TASK, "7")

    assert store.get_crm_cursor(MAILBOX, CONTACT) == "42"
    assert store.get_crm_cursor(MAILBOX, EntityType.TASK) == "7"
    assert store.get_crm_cursor(OTHER, CONTACT) is None
    store.set_crm_cursor(MAILBOX, CONTACT, None)
    assert store.get_crm_cursor(MAILBOX, CONTACT) is None


def test_checkpoint_keys_must_not_be_empty(store: StateStore) -> None:
    """An empty folder key raises ValueError."""
    with pytest.raises(ValueError, match="folder_key"):
        store.set_sync_state(MAILBOX, "", "s")


def test_journal_keeps_append_order_and_filters(store: StateStore) -> None:
    """Entries come back in append order, filtered by run and mailbox."""
    entries = [
        _entry("run-1", "create"),
        _entry("run-2", "update", mailbox=OTHER),
        _entry("run-1", "delete"),
    ]
    for entry in entries:
        store.append_journal(entry)

    assert list(store.iter_journal()) == entries
    assert list(store.iter_journal(run_id="run-1")) == [entries[0], entries[2]]
    assert list(store.iter_journal(mailbox=OTHER)) == [entries[1]]
    assert list(store.iter_journal(run_id="run-2", mailbox=MAILBOX)) == []


def test_journal_spans_batches(store: StateStore) -> None:
    """A journal longer than one batch is read back whole and in order."""
    with store.transaction():
        for index in range(1100):
            store.append_journal(_entry("run", f"action-{index}"))

    actions = [entry.action for entry in store.iter_journal()]

    assert actions == [f"action-{index}" for index in range(1100)]


def test_journal_offers_no_way_to_change_entries(store: StateStore) -> None:
    """The only journal methods are append_journal and iter_journal."""
    names = {
        name for name in dir(store) if "journal" in name and not name.startswith("_")
    }

    assert names == {"append_journal", "iter_journal"}


def test_lease_is_exclusive_until_it_expires(
    store: StateStore, clock: FakeClock
) -> None:
    """Another owner cannot take a live lease but takes over an expired one."""
    assert store.acquire_lease(MAILBOX, "a", 60) is True
    assert store.acquire_lease(MAILBOX, "b", 60) is False

    clock.advance(61)

    assert store.get_lease(MAILBOX) is None
    assert store.acquire_lease(MAILBOX, "b", 60) is True
    lease = store.get_lease(MAILBOX)
    assert lease is not None
    assert (lease.owner, lease.expires_at) == ("b", clock.now + timedelta(seconds=60))
    assert store.renew_lease(MAILBOX, "a", 60) is False


def test_lease_renewal_extends_it(store: StateStore, clock: FakeClock) -> None:
    """Renewing moves the expiry so the lease outlives its first ttl."""
    store.acquire_lease(MAILBOX, "a", 60)
    clock.advance(50)

    assert store.renew_lease(MAILBOX, "a", 60) is True
    clock.advance(50)

    assert store.acquire_lease(MAILBOX, "b", 60) is False
    assert store.acquire_lease(MAILBOX, "a", 60) is True


def test_expired_lease_nobody_took_can_be_renewed(
    store: StateStore, clock: FakeClock
) -> None:
    """The holder may renew its own expired lease while nobody took it over."""
    store.acquire_lease(MAILBOX, "a", 10)
    clock.advance(20)

    assert store.renew_lease(MAILBOX, "a", 10) is True
    assert store.acquire_lease(MAILBOX, "b", 10) is False


def test_release_frees_the_lease(store: StateStore) -> None:
    """Only the holder can release; afterwards another owner acquires."""
    store.acquire_lease(MAILBOX, "a", 60)

    assert store.release_lease(MAILBOX, "b") is False
    assert store.release_lease(MAILBOX, "a") is True
    assert store.renew_lease(MAILBOX, "a", 60) is False
    assert store.acquire_lease(MAILBOX, "b", 60) is True
    assert store.acquire_lease(OTHER, "a", 60) is True


def test_lease_arguments_are_checked(store: StateStore) -> None:
    """A non-positive ttl or an empty owner raises ValueError."""
    with pytest.raises(ValueError, match="ttl_seconds"):
        store.acquire_lease(MAILBOX, "a", 0)
    with pytest.raises(ValueError, match="owner"):
        store.acquire_lease(MAILBOX, " ", 10)


def test_closed_store_refuses_use(store: StateStore) -> None:
    """Every call after close raises RuntimeError; close is idempotent."""
    store.close()
    store.close()

    with pytest.raises(RuntimeError, match="closed"):
        store.get_crm_cursor(MAILBOX, CONTACT)
    with pytest.raises(RuntimeError, match="closed"):
        store.put_link(_linked("c1", "e1"))


def test_naive_clock_is_rejected() -> None:
    """A clock returning naive datetimes makes writes raise ValueError."""
    store = MemoryStateStore(clock=lambda: datetime(2030, 1, 1))

    with pytest.raises(ValueError, match="timezone-aware"):
        store.put_link(_linked("c1", "e1"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ews_item_id": None}, "needs ews_item_id"),
        ({"crm_id": None}, "needs crm_id"),
        ({"crm_id": None, "ews_item_id": None}, "at least one side"),
        ({"retry_count": -1}, "retry_count"),
        ({"next_attempt_at": datetime(2030, 1, 1)}, "timezone-aware"),
        ({"mailbox": ""}, "mailbox"),
        ({"state": "bogus"}, "bogus"),
    ],
)
def test_link_validation(changes: dict[str, Any], message: str) -> None:
    """Malformed links raise ValueError before reaching any store."""
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(_linked("c1", "e1"), **changes)


def test_link_normalises_times_to_utc() -> None:
    """Aware times in any zone are stored as the same instant in UTC."""
    local = T0.astimezone(timezone(timedelta(hours=2)))

    link = _linked("c1", "e1", next_attempt_at=local)

    assert link.next_attempt_at == T0
    assert link.next_attempt_at is not None
    assert link.next_attempt_at.tzinfo is UTC
