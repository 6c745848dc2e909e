"""The offline demo: a simulated Exchange, a SQLite CRM and two-way syncs.

Everything runs in this process on the embedded defaults: the Exchange
simulator (in-process transport, Basic auth, impersonation scope), the SQLite
CRM adapter seeded with sample records, the SQLite state store, and the real
engine, EWS backend and client.  The demo syncs, edits both sides (a
conflict, deletes, a new recurring appointment), syncs again, runs once more
idle, and then checks that both sides hold the same mapped data.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crm_ews.auth import BasicAuth
from crm_ews.backends import EWSMailboxBackend, default_mappings
from crm_ews.ews import AsyncEWSClient
from crm_ews.repository import (
    Appointment,
    CRMRecord,
    EntityType,
    Recurrence,
    SQLiteCRM,
)
from crm_ews.sync import (
    ConflictPolicy,
    EntityPolicy,
    MailboxReport,
    RunReport,
    SQLiteStateStore,
    SyncEngine,
    SyncRunner,
    TimeWindow,
)
from crm_ews.testing import AsyncSimulatorTransport, ExchangeSimulator, ServiceAccount

__all__ = ["DemoResult", "DemoRun", "run_demo"]

SERVICE_ACCOUNT = "svc-crm@example.com"
#: The demo's throwaway password for the simulated service account.
_DEMO_PASSWORD = "demo-only-password"  # noqa: S105 (a local simulator's, by design)

_FOLDERS = {
    EntityType.APPOINTMENT: "calendar",
    EntityType.CONTACT: "contacts",
    EntityType.TASK: "tasks",
}


@dataclass(slots=True)
class DemoRun:
    """One sync pass over every mailbox, with its cost."""

    name: str
    report: RunReport
    seconds: float
    ews_calls: int
    calls_by_operation: dict[str, int]

    def calls_per_mailbox(self, mailboxes: int) -> float:
        """Average EWS calls per mailbox in this pass."""
        return self.ews_calls / mailboxes if mailboxes else 0.0


@dataclass(slots=True)
class DemoResult:
    """What the demo did and whether both sides ended up equal."""

    mailboxes: list[str]
    items: int
    runs: list[DemoRun] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        """Whether every mailbox holds the same mapped data on both sides."""
        return not self.differences and all(not run.report.failed for run in self.runs)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready data: the run reports and the figures."""
        return {
            "mailboxes": len(self.mailboxes),
            "items_per_entity": self.items,
            "converged": self.converged,
            "differences": self.differences,
            "counts": self.counts,
            "runs": [
                {
                    "name": run.name,
                    "seconds": round(run.seconds, 3),
                    "ews_calls": run.ews_calls,
                    "ews_calls_per_mailbox": round(
                        run.calls_per_mailbox(len(self.mailboxes)), 2
                    ),
                    "calls_by_operation": run.calls_by_operation,
                    "totals": run.report.totals(),
                    "reports": run.report.as_dict()["mailboxes"],
                }
                for run in self.runs
            ],
        }


#: Called as (pass name, mailboxes done, mailboxes in all).
DemoProgress = Callable[[str, int, int], None]


def _mapped(records: list[CRMRecord]) -> list[str]:
    if not records:
        return []
    mapping = default_mappings()[records[0].entity]
    return sorted(
        repr(
            sorted(
                (name, repr(value)) for name, value in mapping.to_ews_values(r).items()
            )
        )
        for r in records
    )


async def _exchange_records(
    backend: EWSMailboxBackend, mailbox: str, entity: EntityType
) -> list[CRMRecord]:
    records: list[CRMRecord] = []
    state = None
    while True:
        page = await backend.read_changes(mailbox, entity, state)
        records += [change.item.record for change in page.changes if change.item]
        state = page.sync_state
        if page.is_last_page:
            return records


def _edit_both_sides(
    simulator: ExchangeSimulator, crm: SQLiteCRM, store: SQLiteStateStore, mailbox: str
) -> None:
    """A conflict, a delete on each side, and a new recurring appointment."""
    contacts = crm.repository(EntityType.CONTACT)
    records = sorted(contacts.records(mailbox), key=lambda c: c.id or "")
    if len(records) >= 2:
        # The conflict: one pair edited on both sides since the last sync.
        target = records[0]
        contacts.update(
            mailbox,
            target.model_copy(update={"job_title": "Head of Sales (CRM)"}),
            expected_version=target.version or "",
        )
        link = store.get_link_by_crm_id(mailbox, EntityType.CONTACT, target.id or "")
        if link is not None and link.ews_item_id is not None:
            simulator.modify_item(
                mailbox, link.ews_item_id, JobTitle="Head of Sales (Outlook)"
            )
        # A delete in the CRM.
        contacts.delete(mailbox, records[-1].id or "")

    tasks = simulator.items(mailbox, "tasks")
    if tasks:
        # A delete in Exchange.
        simulator.remove_item(mailbox, tasks[-1].item_id)

    start = (datetime.now(UTC) + timedelta(days=7)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    crm.repository(EntityType.APPOINTMENT).create(
        mailbox,
        Appointment(
            subject="Quarterly pipeline review",
            start=start,
            end=start + timedelta(hours=1),
            location="Board room",
            recurrence=Recurrence(
                frequency="monthly",
                day_of_month=min(start.day, 28),
                start_date=start.date(),
                count=4,
            ),
        ),
        idempotency_key=f"demo-new-series-{mailbox}",
    )


async def run_demo(
    *,
    mailboxes: int = 3,
    items: int = 20,
    workdir: Path,
    seed: int = 2026,
    concurrency: int = 16,
    progress: DemoProgress | None = None,
) -> DemoResult:
    """Run the whole demo and return its figures.

    Args:
        mailboxes: How many integration mailboxes to simulate.
        items: Sample items per entity and mailbox, on each side.
        workdir: Where the SQLite CRM and state store live.
        seed: Seeds the simulator and the CRM sample data.
        concurrency: Mailboxes synced at once.
        progress: Called as each mailbox of each pass finishes.
    """
    if mailboxes < 1 or items < 1:
        raise ValueError("mailboxes and items must be at least 1")
    addresses = [f"user{n:04d}@example.com" for n in range(1, mailboxes + 1)]
    result = DemoResult(mailboxes=addresses, items=items)

    simulator = ExchangeSimulator(
        service_accounts=[
            ServiceAccount(SERVICE_ACCOUNT, _DEMO_PASSWORD, scope=frozenset(addresses))
        ],
        mailboxes=addresses,
        seed=seed,
    )
    simulator.seed_items(items, mailboxes=addresses)
    workdir.mkdir(parents=True, exist_ok=True)
    crm = SQLiteCRM(workdir / "crm.sqlite3")
    store = SQLiteStateStore(workdir / "state.sqlite3")
    try:
        for address in addresses:
            crm.seed_sample(address, items, seed)

        async with AsyncEWSClient(
            "http://simulator.invalid/EWS/Exchange.asmx",
            auth=BasicAuth(SERVICE_ACCOUNT, _DEMO_PASSWORD),
            http_transport=AsyncSimulatorTransport(simulator),
        ) as client:
            backend = EWSMailboxBackend(client)
            engine = SyncEngine(
                backend=backend,
                repositories={entity: crm.repository(entity) for entity in EntityType},
                store=store,
                policies=[
                    EntityPolicy(
                        entity=EntityType.APPOINTMENT,
                        conflict=ConflictPolicy.CRM_WINS,
                        window=TimeWindow(
                            past=timedelta(days=365), future=timedelta(days=3 * 365)
                        ),
                    ),
                    EntityPolicy(
                        entity=EntityType.CONTACT, conflict=ConflictPolicy.CRM_WINS
                    ),
                    EntityPolicy(
                        entity=EntityType.TASK, conflict=ConflictPolicy.CRM_WINS
                    ),
                ],
                enrolled=addresses,
            )
            runner = SyncRunner(engine, concurrency=concurrency)

            async def sync_pass(name: str) -> None:
                simulator.reset_calls()
                began = time.perf_counter()

                def tick(done: int, total: int, _report: MailboxReport) -> None:
                    if progress is not None:
                        progress(name, done, total)

                report = await runner.run(addresses, progress=tick)
                seconds = time.perf_counter() - began
                operations = Counter(call.operation or "?" for call in simulator.calls)
                result.runs.append(
                    DemoRun(
                        name,
                        report,
                        seconds,
                        sum(operations.values()),
                        dict(operations),
                    )
                )

            await sync_pass("initial")
            for address in addresses:
                _edit_both_sides(simulator, crm, store, address)
            await sync_pass("after edits")
            await sync_pass("idle")

            for address in addresses:
                for entity in EntityType:
                    on_crm = crm.repository(entity).records(address)
                    on_exchange = await _exchange_records(backend, address, entity)
                    counts = result.counts.setdefault(entity.value, Counter())
                    counts["crm"] += len(on_crm)
                    counts["exchange"] += len(on_exchange)
                    if _mapped(on_crm) != _mapped(on_exchange):
                        result.differences.append(f"{address} {entity.value}")
            result.counts = {k: dict(v) for k, v in result.counts.items()}
    finally:
        store.close()
        crm.close()
    return result


def run_demo_sync(**kwargs: Any) -> DemoResult:
    """:func:`run_demo` for callers without an event loop."""
    return asyncio.run(run_demo(**kwargs))
