"""The sync engine under measurement, meant to run in its own process.

:func:`engine_steps` is a generator for
:func:`benchmarks._harness.run_child_steps`: it builds the SQLite CRM (seeded
with sample records), the SQLite state store, the EWS backend and the
engine, then runs one :class:`~crm_ews.sync.SyncRunner` pass per requested
step, announcing each step before and after so the parent can meter the
server around it.  Its figures: wall and CPU time, CRM writes (counted by a
wrapper around each repository), the run report's totals, and this
process's RSS.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from benchmarks._harness import cpu_seconds, peak_rss_mb, rss_mb
from benchmarks._server import PASSWORD, SERVICE_ACCOUNT
from crm_ews.auth import BasicAuth
from crm_ews.backends import EWSMailboxBackend
from crm_ews.ews import AsyncEWSClient
from crm_ews.repository import (
    ChangeSet,
    CRMRecord,
    CRMRepository,
    EntityType,
    SQLiteCRM,
)
from crm_ews.sync import (
    ConflictPolicy,
    EntityPolicy,
    SQLiteStateStore,
    SyncEngine,
    SyncRunner,
    TimeWindow,
)

__all__ = ["CountingRepository", "engine_steps"]

R = TypeVar("R", bound=CRMRecord)


class CountingRepository(CRMRepository[R], Generic[R]):
    """Delegates to another repository and counts its writes."""

    def __init__(self, inner: CRMRepository[R]) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.writes: Counter[str] = Counter()

    def _count(self, kind: str) -> None:
        with self._lock:
            self.writes[kind] += 1

    def list_changes(self, mailbox: str, cursor: str | None) -> ChangeSet[R]:
        return self._inner.list_changes(mailbox, cursor)

    def get(self, mailbox: str, record_id: str) -> R | None:
        return self._inner.get(mailbox, record_id)

    def create(self, mailbox: str, record: R, *, idempotency_key: str) -> R:
        self._count("create")
        return self._inner.create(mailbox, record, idempotency_key=idempotency_key)

    def update(self, mailbox: str, record: R, *, expected_version: str) -> R:
        self._count("update")
        return self._inner.update(mailbox, record, expected_version=expected_version)

    def delete(
        self, mailbox: str, record_id: str, *, expected_version: str | None = None
    ) -> None:
        self._count("delete")
        self._inner.delete(mailbox, record_id, expected_version=expected_version)

    def belongs_to(self, mailbox: str, record: R) -> bool:
        return self._inner.belongs_to(mailbox, record)


def _counting(crm: SQLiteCRM) -> dict[EntityType, CountingRepository[Any]]:
    wrapped: dict[EntityType, CountingRepository[Any]] = {}
    for entity in EntityType:
        inner = crm.repository(entity)
        # The engine reads these class attributes; give each wrapper its own.
        cls = type(
            f"Counting{type(inner).__name__}",
            (CountingRepository,),
            {
                "entity": entity,
                "supports_change_tracking": inner.supports_change_tracking,
            },
        )
        wrapped[entity] = cls(inner)
    return wrapped


def _policies() -> list[EntityPolicy]:
    return [
        EntityPolicy(
            entity=EntityType.APPOINTMENT,
            conflict=ConflictPolicy.CRM_WINS,
            window=TimeWindow(past=timedelta(days=365), future=timedelta(days=3 * 365)),
        ),
        EntityPolicy(entity=EntityType.CONTACT, conflict=ConflictPolicy.CRM_WINS),
        EntityPolicy(entity=EntityType.TASK, conflict=ConflictPolicy.CRM_WINS),
    ]


def engine_steps(
    *,
    url: str,
    mailboxes: Sequence[str],
    crm_items: int,
    workdir: str,
    concurrency: int,
    steps: Sequence[str],
    seed: int = 2026,
) -> Iterator[dict[str, Any]]:
    """Seed the CRM, then run one sync pass per name in ``steps``."""
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    crm = SQLiteCRM(folder / "crm.sqlite3")
    store = SQLiteStateStore(folder / "state.sqlite3")
    began = time.perf_counter()
    for mailbox in mailboxes:
        if crm_items:
            crm.seed_sample(mailbox, crm_items, seed)
    seeding = time.perf_counter() - began
    repositories = _counting(crm)

    loop = asyncio.new_event_loop()
    client = AsyncEWSClient(url, auth=BasicAuth(SERVICE_ACCOUNT, PASSWORD))
    try:
        engine = SyncEngine(
            backend=EWSMailboxBackend(client),
            repositories=repositories,
            store=store,
            policies=_policies(),
            enrolled=mailboxes,
        )
        runner = SyncRunner(engine, concurrency=concurrency)
        for step in steps:
            for repository in repositories.values():
                repository.writes.clear()
            rss_before = rss_mb()
            yield {"event": "start", "step": step}
            cpu_before = cpu_seconds()
            start = time.perf_counter()
            report = loop.run_until_complete(runner.run(mailboxes))
            wall = time.perf_counter() - start
            cpu = cpu_seconds() - cpu_before
            writes: Counter[str] = Counter()
            for repository in repositories.values():
                writes.update(repository.writes)
            yield {
                "event": "end",
                "step": step,
                "wall_seconds": wall,
                "cpu_seconds": cpu,
                "crm_writes": dict(writes),
                "totals": report.totals(),
                "failed": [f"{r.mailbox}: {r.error}" for r in report.failed[:5]],
                "rss_before_mb": rss_before,
                "rss_after_mb": rss_mb(),
                "peak_rss_mb": peak_rss_mb(),
                "crm_seeding_seconds": seeding,
            }
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
        store.close()
        crm.close()
