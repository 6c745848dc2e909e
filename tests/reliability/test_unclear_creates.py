"""CreateItem that commits and then loses its answer never yields a second item.

Every CreateItem of the first run stores its items and then the connection
drops before the answer (``FaultKind.COMMIT_THEN_DROP``).  The engine cannot
know whether the items exist; its pending links carry the correlation ids
stamped on them, so the next run finds them instead of creating them again.
"""

from __future__ import annotations

from collections import Counter

from crm_ews.backends import EWSMailboxBackend
from crm_ews.ews import AsyncEWSClient
from crm_ews.repository import EntityType
from crm_ews.sync import LinkState, MailboxReport, MemoryStateStore
from crm_ews.testing import FaultInjection
from tests.reliability import _support as s

TASK = EntityType.TASK
CREATES = 500


class World:
    """One mailbox with many CRM tasks and nothing in Exchange yet."""

    def __init__(self, count: int) -> None:
        self.sim = s.simulator([s.ALICE])
        self.crm = s.memory_crm()
        self.store = MemoryStateStore()
        self.sleep = s.FakeSleep()
        for n in range(count):
            self.crm[TASK].create(
                s.ALICE, s.new_record(TASK, n), idempotency_key=f"unclear-{n}"
            )

    async def _sync(self) -> MailboxReport:
        transport = s.in_process_transport(self.sim, self.sleep)
        async with transport, AsyncEWSClient(transport=transport) as client:
            backend = EWSMailboxBackend(client, page_size=200)
            engine = s.make_engine(backend, self.crm, self.store, [s.ALICE])
            return await engine.sync_mailbox(s.ALICE)

    def sync(self) -> MailboxReport:
        return s.run(self._sync())

    def item_tokens(self) -> Counter[str]:
        return s.read_sides(self.sim, self.crm[TASK], s.ALICE, TASK).exchange_tokens()


def test_500_creates_committed_then_dropped_end_with_exactly_500_items() -> None:
    """All 500 answers lost: the follow-up run adopts the 500 items, creates none."""
    world = World(CREATES)
    world.sim.faults = FaultInjection(create_commit_then_drop_rate=1.0)

    first = world.sync()

    assert world.sim.counters["injected.commit_then_drop"] == CREATES // 50
    assert first.entities[TASK].parked == CREATES
    assert sum(world.item_tokens().values()) == CREATES

    world.sim.faults = FaultInjection()
    world.sim.reset_calls()
    second = world.sync()

    tokens = world.item_tokens()
    assert sum(tokens.values()) == CREATES
    assert max(tokens.values()) == 1
    assert world.sim.counters.get("operation.CreateItem", 0) == 0
    assert second.entities[TASK].parked == 0
    assert world.store.count_links(s.ALICE, TASK, states={LinkState.LINKED}) == CREATES
    sides = s.read_sides(world.sim, world.crm[TASK], s.ALICE, TASK)
    assert s.converged(sides) == []
    assert s.store_agrees(world.store, s.ALICE, TASK, sides) == []
    s.FIGURES["unclear_creates.commit_then_drop_items"] += CREATES
    s.FIGURES["unclear_creates.items_after"] += sum(tokens.values())


def test_unclear_creates_under_repeated_drops_converge_to_one_item_each() -> None:
    """Half of every run's CreateItem calls lose their answer; no run duplicates."""
    count = s.scaled(ci=200, soak=2000)
    world = World(count)
    world.sim.faults = FaultInjection(create_commit_then_drop_rate=0.5, seed=11)

    for _ in range(6):
        report = world.sync()
        tokens = world.item_tokens()
        assert max(tokens.values(), default=1) == 1
        if report.ok and not report.entities[TASK].parked:
            break
    world.sim.faults = FaultInjection()
    world.sync()

    tokens = world.item_tokens()
    assert sum(tokens.values()) == count
    assert max(tokens.values()) == 1
    sides = s.read_sides(world.sim, world.crm[TASK], s.ALICE, TASK)
    assert s.converged(sides) == []
    s.FIGURES["unclear_creates.repeated_drop_items"] += count
    s.FIGURES["unclear_creates.injected_commit_then_drop"] += world.sim.counters.get(
        "injected.commit_then_drop", 0
    )
