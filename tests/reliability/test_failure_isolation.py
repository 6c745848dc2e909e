"""Five broken mailboxes out of a hundred: the other 95 finish in the same run.

The broken five are the ways a mailbox fails in production: impersonation
denied (outside the management scope, two of them), the mailbox missing
(enrolled but deleted, two), and permanently throttled (every call answered
``ErrorServerBusy``, one).  One ``SyncRunner.run`` covers all 100.
"""

from __future__ import annotations

from crm_ews.backends import EWSMailboxBackend
from crm_ews.ews import AsyncEWSClient
from crm_ews.sync import MemoryStateStore, RunReport, SyncRunner
from crm_ews.testing import FaultKind
from tests.reliability import _support as s

MAILBOXES = [f"user{n:03d}@example.com" for n in range(95)]
DENIED = ["denied0@example.com", "denied1@example.com"]
MISSING = ["gone0@example.com", "gone1@example.com"]
THROTTLED = "throttled@example.com"
ENROLLED = [*MAILBOXES[:40], *DENIED, *MISSING, THROTTLED, *MAILBOXES[40:]]
ITEMS_PER_SIDE = 2


def test_five_failing_mailboxes_do_not_stop_the_other_95() -> None:
    """Denied, missing and throttled mailboxes fail alone, with their codes."""
    existing = [*MAILBOXES, *DENIED, THROTTLED]
    sim = s.simulator(existing, scope=frozenset([*MAILBOXES, THROTTLED]))
    crm = s.memory_crm()
    store = MemoryStateStore()
    sleep = s.FakeSleep()
    counter = 0
    for mailbox in ENROLLED:
        for entity in s.ENTITIES:
            for _ in range(ITEMS_PER_SIDE):
                counter += 1
                crm[entity].create(
                    mailbox, s.new_record(entity, counter), idempotency_key=str(counter)
                )
                if mailbox in existing:
                    counter += 1
                    sim.add_item(mailbox, s.new_element(entity, counter))
    sim.schedule_fault(FaultKind.SERVER_BUSY, mailbox=THROTTLED, times=10**6)

    async def sync() -> RunReport:
        transport = s.in_process_transport(sim, sleep, retry=s.fast_retry(attempts=3))
        async with transport, AsyncEWSClient(transport=transport) as client:
            backend = EWSMailboxBackend(client, page_size=50)
            engine = s.make_engine(backend, crm, store, ENROLLED)
            runner = SyncRunner(engine, concurrency=8, attempts=3, sleep=sleep)
            return await runner.run(ENROLLED)

    report = s.run(sync())

    failed = {m.mailbox: m.error for m in report.failed}
    assert failed == {
        **dict.fromkeys(DENIED, "ErrorImpersonateUserDenied"),
        **dict.fromkeys(MISSING, "ErrorNonExistentMailbox"),
        THROTTLED: "ErrorServerBusy",
    }
    finished = [m for m in report.mailboxes if m.mailbox not in failed]
    assert sorted(m.mailbox for m in finished) == sorted(MAILBOXES)
    assert all(m.ok and not m.error for m in finished)
    for mailbox in MAILBOXES:
        for entity in s.ENTITIES:
            sides = s.read_sides(sim, crm[entity], mailbox, entity)
            assert len(sides.crm) == len(sides.exchange) == 2 * ITEMS_PER_SIDE
            assert s.converged(sides) == []
            assert s.store_agrees(store, mailbox, entity, sides) == []
    for mailbox in [*DENIED, THROTTLED]:
        for entity in s.ENTITIES:
            assert len(crm[entity].records(mailbox)) == ITEMS_PER_SIDE
            assert len(s.exchange_truth(sim, mailbox, entity)) == ITEMS_PER_SIDE
    assert sleep.total < 3600
    s.FIGURES["isolation.mailboxes"] += len(ENROLLED)
    s.FIGURES["isolation.failed_alone"] += len(failed)
    s.FIGURES["isolation.finished"] += len(finished)
