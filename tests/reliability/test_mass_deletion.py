"""A side that suddenly empties is not mirrored: the guard refuses, nothing goes.

Over EWS against the simulator, with the default :class:`MassDeletionGuard`:

- the CRM adapter's query breaks and returns an empty full listing (the
  classic "WHERE clause bug"): Exchange keeps every item, and once the query
  is fixed the next run is clean;
- every item of the Exchange folder disappears: the CRM keeps every record.

Both refusals name themselves (``MassDeletionRefused`` with a message naming
the counts and the side) instead of failing quietly.
"""

from __future__ import annotations

from typing import Any

from crm_ews.backends import EWSMailboxBackend
from crm_ews.ews import AsyncEWSClient
from crm_ews.repository import ChangeSet, Contact, EntityType, InMemoryContactRepository
from crm_ews.sync import MailboxReport, MassDeletionGuard, MemoryStateStore
from tests.reliability import _support as s

CONTACT = EntityType.CONTACT
COUNT = 30


class BrokenQueryContacts(InMemoryContactRepository):
    """A CRM without change tracking whose listing query can break."""

    supports_change_tracking = False

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    def list_changes(self, mailbox: str, cursor: str | None) -> ChangeSet[Contact]:
        if self.broken:
            return ChangeSet(is_full_listing=True)
        return ChangeSet(changed=tuple(self.records(mailbox)), is_full_listing=True)


class World:
    """One mailbox, contacts on both sides, the default guard."""

    def __init__(self) -> None:
        self.sim = s.simulator([s.ALICE])
        self.contacts = BrokenQueryContacts()
        self.crm: dict[EntityType, Any] = {CONTACT: self.contacts}
        self.store = MemoryStateStore()
        self.sleep = s.FakeSleep()
        for n in range(COUNT):
            if n % 2:
                self.contacts.create(
                    s.ALICE, s.new_record(CONTACT, n), idempotency_key=f"md-{n}"
                )
            else:
                self.sim.add_item(s.ALICE, s.new_element(CONTACT, n))

    async def _sync(self) -> MailboxReport:
        transport = s.in_process_transport(self.sim, self.sleep)
        async with transport, AsyncEWSClient(transport=transport) as client:
            backend = EWSMailboxBackend(client)
            engine = s.make_engine(
                backend,
                self.crm,
                self.store,
                [s.ALICE],
                entity_policies=s.policies([CONTACT], guard=MassDeletionGuard()),
            )
            return await engine.sync_mailbox(s.ALICE)

    def sync(self) -> MailboxReport:
        return s.run(self._sync())

    def sides(self) -> s.Sides:
        return s.read_sides(self.sim, self.contacts, s.ALICE, CONTACT)


def test_crm_query_returning_nothing_deletes_nothing_in_exchange() -> None:
    """An empty CRM listing is refused; Exchange keeps all; the fix heals it."""
    world = World()
    assert world.sync().ok
    assert len(world.sides().exchange) == COUNT

    world.contacts.broken = True
    refused = world.sync()

    assert refused.error == "MassDeletionRefused"
    assert refused.error_message == (
        f"refused to delete {COUNT} of {COUNT} linked contacts in exchange "
        f"(mailbox={s.ALICE})"
    )
    assert refused.entities[CONTACT].deletions_refused == COUNT
    assert refused.entities[CONTACT].deleted == {}
    assert len(world.sides().exchange) == COUNT
    assert world.sim.counters.get("operation.DeleteItem", 0) == 0

    world.contacts.broken = False
    healed = world.sync()

    assert healed.ok
    sides = world.sides()
    assert len(sides.crm) == len(sides.exchange) == COUNT
    assert s.converged(sides) == []
    assert s.store_agrees(world.store, s.ALICE, CONTACT, sides) == []
    s.FIGURES["mass_deletion.refused_exchange_deletes"] += COUNT


def test_exchange_folder_emptied_deletes_nothing_in_the_crm() -> None:
    """Every item gone from Exchange is refused; the CRM keeps every record."""
    world = World()
    assert world.sync().ok
    for truth in s.exchange_truth(world.sim, s.ALICE, CONTACT):
        world.sim.remove_item(s.ALICE, truth.item.item_id)

    first = world.sync()
    again = world.sync()

    for report in (first, again):
        assert report.error == "MassDeletionRefused"
        assert report.error_message == (
            f"refused to delete {COUNT} of {COUNT} linked contacts in crm "
            f"(mailbox={s.ALICE})"
        )
        assert report.entities[CONTACT].deleted == {}
    assert len(world.contacts.records(s.ALICE)) == COUNT
    s.FIGURES["mass_deletion.refused_crm_deletes"] += COUNT
