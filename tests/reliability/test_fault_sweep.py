"""A fault sweep over real HTTP: many mailboxes, thousands of items, seeded faults.

The simulator is served on 127.0.0.1 (``SimulatorServer``) and the engine
talks to it through the real ``AsyncTransport`` with a fake sleep.  Three runs:

1. the initial sync, with a seeded share of requests faulted: ErrorServerBusy
   with BackOffMilliseconds, HTTP 503 with Retry-After, dropped connections,
   truncated bodies, CreateItem committed then dropped, and latency spikes;
2. after edits, deletes and creates on both sides, the same faults plus a
   concurrent writer that edits items right before UpdateItem touches them
   (edit conflicts);
3. a follow-up run without faults.

After run 3 every mailbox must have converged with zero items lost and zero
duplicated, and the state store must agree with both sides.  CI runs a small
sweep; ``CRM_EWS_SOAK=1`` runs 100 mailboxes and about 9,000 items with 30 %
of requests faulted.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crm_ews.backends import EWSMailboxBackend
from crm_ews.ews import AsyncEWSClient
from crm_ews.repository import EntityType
from crm_ews.sync import LinkState, RunReport, SQLiteStateStore, SyncRunner
from crm_ews.testing import FaultInjection, SimulatorServer
from tests.reliability import _support as s

pytestmark = pytest.mark.network


@dataclass(frozen=True)
class SweepSize:
    """How big one sweep is."""

    mailboxes: int
    items_per_mailbox: int
    fault_share: float
    seed: int = 20270104


CI_SIZE = SweepSize(mailboxes=12, items_per_mailbox=40, fault_share=0.10)
SOAK_SIZE = SweepSize(mailboxes=100, items_per_mailbox=90, fault_share=0.30)


def _faults(size: SweepSize, seed: int) -> FaultInjection:
    """The share split over the kinds; latency spikes on top (never slept)."""
    share = size.fault_share
    return FaultInjection(
        server_busy_rate=share * 0.3,
        http_503_rate=share * 0.2,
        drop_rate=share * 0.2,
        truncate_rate=share * 0.2,
        create_commit_then_drop_rate=min(1.0, share * 2),
        retry_after_seconds=3,
        latency_jitter_ms=3000.0,
        seed=seed,
    )


@dataclass
class Expectation:
    """What each mailbox must hold after the follow-up run, per entity."""

    live: dict[tuple[str, EntityType], set[str]] = field(default_factory=dict)
    gone: dict[tuple[str, EntityType], set[str]] = field(default_factory=dict)

    def of(self, mailbox: str, entity: EntityType) -> set[str]:
        return self.live.setdefault((mailbox, entity), set())

    def deleted(self, mailbox: str, entity: EntityType) -> set[str]:
        return self.gone.setdefault((mailbox, entity), set())


class Sweep:
    """The world of one sweep and the three runs over it."""

    def __init__(self, size: SweepSize, tmp_path: Path) -> None:
        self.size = size
        self.rng = random.Random(size.seed)
        self.mailboxes = [f"user{n:03d}@example.com" for n in range(size.mailboxes)]
        self.latencies: list[float] = []
        self.sim = s.simulator(
            self.mailboxes, seed=size.seed, sleep=self.latencies.append
        )
        self.crm = s.memory_crm()
        self.store = SQLiteStateStore(tmp_path / "state.sqlite3", synchronous="NORMAL")
        self.sleep = s.FakeSleep()
        self.expect = Expectation()
        self.counter = 0
        self.parked: Counter[str] = Counter()
        self.mailbox_errors: Counter[str] = Counter()
        self.edits = 0
        self.unconverged_detail: list[str] = []

    def close(self) -> None:
        self.store.close()

    # -- data --------------------------------------------------------------

    def _new_token(self) -> int:
        self.counter += 1
        return self.counter

    def _create(self, mailbox: str, entity: EntityType, side: str) -> None:
        n = self._new_token()
        if side == "crm":
            record = self.crm[entity].create(
                mailbox, s.new_record(entity, n), idempotency_key=f"sweep-{n}"
            )
            name = s.token(record)
        else:
            self.sim.add_item(mailbox, s.new_element(entity, n))
            name = s.token(s.new_record(entity, n))
        self.expect.of(mailbox, entity).add(name)

    def populate(self) -> int:
        per_entity = self.size.items_per_mailbox // 2
        for mailbox in self.mailboxes:
            for entity in s.ENTITIES:
                for index in range(per_entity):
                    self._create(mailbox, entity, "crm" if index % 2 else "exchange")
        return self.counter

    def mutate(self) -> Counter[str]:
        """Edits, deletes and creates on both sides, only on linked pairs."""
        done: Counter[str] = Counter()
        for mailbox in self.mailboxes:
            for entity in s.ENTITIES:
                done += self._mutate_one(mailbox, entity)
        return done

    def _mutate_one(self, mailbox: str, entity: EntityType) -> Counter[str]:
        done: Counter[str] = Counter()
        sides = s.read_sides(self.sim, self.crm[entity], mailbox, entity)
        items = {s.token(t.record): t for t in sides.exchange}
        linked = sorted(
            s.token(record)
            for record in sides.crm
            if s.token(record) in items
            and (
                link := self.store.get_link_by_crm_id(mailbox, entity, record.id or "")
            )
            is not None
            and link.state is LinkState.LINKED
        )
        self.rng.shuffle(linked)
        records = {s.token(r): r for r in sides.crm}
        for index, name in enumerate(linked[:8]):
            action = index % 4
            if action == 0:
                record = records[name]
                self.crm[entity].update(
                    mailbox, s.crm_edit(record, index), expected_version=record.version
                )
                done["crm_edit"] += 1
            elif action == 1:
                truth = items[name]
                self.sim.modify_item(
                    mailbox,
                    truth.item.item_id,
                    **s.ews_edit(truth.item.item_class, index),
                )
                done["exchange_edit"] += 1
            elif action == 2:
                self.crm[entity].delete(mailbox, records[name].id or "")
                self.expect.of(mailbox, entity).discard(name)
                self.expect.deleted(mailbox, entity).add(name)
                done["crm_delete"] += 1
            elif action == 3:
                self.sim.remove_item(mailbox, items[name].item.item_id)
                self.expect.of(mailbox, entity).discard(name)
                self.expect.deleted(mailbox, entity).add(name)
                done["exchange_delete"] += 1
        for side in ("crm", "exchange"):
            self._create(mailbox, entity, side)
            done[f"{side}_create"] += 1
        return done

    # -- runs --------------------------------------------------------------

    async def _run(self, url: str) -> RunReport:
        transport = s.http_transport(url, self.sleep, retry=s.fast_retry(attempts=6))
        async with transport, AsyncEWSClient(transport=transport) as client:
            backend = EWSMailboxBackend(client, page_size=100)
            engine = s.make_engine(backend, self.crm, self.store, self.mailboxes)
            runner = SyncRunner(engine, concurrency=8, attempts=3, sleep=self.sleep)
            return await runner.run(self.mailboxes)

    def run(self, url: str) -> RunReport:
        report = s.run(self._run(url))
        for mailbox in report.mailboxes:
            if mailbox.error:
                self.mailbox_errors[mailbox.error] += 1
            for entity in mailbox.entities.values():
                self.parked.update(entity.errors)
        return report

    # -- verdict -----------------------------------------------------------

    def _explain(self, mailbox: str, entity: EntityType, sides: s.Sides) -> list[str]:
        """Each differing pair with its link and journal, for the failure message."""
        records = {s.token(record): record for record in sides.crm}
        items = {s.token(truth.record): truth for truth in sides.exchange}
        lines: list[str] = []
        for name in sorted(records.keys() & items.keys()):
            record, truth = records[name], items[name]
            if s.projection(record) == s.projection(truth.record):
                continue
            link = self.store.get_link_by_crm_id(mailbox, entity, record.id or "")
            lines.append(f"{mailbox} {entity} {name}")
            lines.append(f"  crm:      {s.projection(record)} v{record.version}")
            lines.append(f"  exchange: {s.projection(truth.record)}")
            lines.append(f"  link: {link!r}")
            lines.append(
                f"  crm hash now {s.projection_hash(record)}, "
                f"exchange hash now {s.projection_hash(truth.record)}, "
                f"change key now {truth.item.change_key}"
            )
            ids = {record.id, truth.item.item_id}
            lines += [
                f"  journal: {entry.at.time()} {entry.run_id[:8]} {entry.action}"
                f" {entry.outcome} ({entry.reason})"
                for entry in self.store.iter_journal(mailbox=mailbox)
                if entry.entity is entity and ({entry.crm_id, entry.ews_item_id} & ids)
            ]
        return lines

    def verdict(self) -> Counter[str]:
        """Lost, duplicated and unconverged counts over every mailbox."""
        tally: Counter[str] = Counter()
        for mailbox in self.mailboxes:
            for entity in s.ENTITIES:
                sides = s.read_sides(self.sim, self.crm[entity], mailbox, entity)
                expected = self.expect.of(mailbox, entity)
                gone = self.expect.deleted(mailbox, entity)
                for counter in (sides.crm_tokens(), sides.exchange_tokens()):
                    tally["lost"] += sum(1 for name in expected if counter[name] == 0)
                    tally["duplicated"] += sum(n - 1 for n in counter.values() if n > 1)
                    tally["resurrected"] += sum(1 for name in gone if counter[name])
                    tally["unexpected"] += sum(
                        1 for name in counter if name not in expected | gone
                    )
                differences = s.converged(sides)
                tally["unconverged"] += len(differences)
                if differences:
                    self.unconverged_detail += self._explain(mailbox, entity, sides)
                tally["store_disagrees"] += len(
                    s.store_agrees(self.store, mailbox, entity, sides)
                )
                tally["items"] += len(sides.exchange)
        return tally


def _sweep(size: SweepSize, tmp_path: Path) -> dict[str, Any]:
    sweep = Sweep(size, tmp_path)
    try:
        created = sweep.populate()
        with SimulatorServer(sweep.sim) as server:
            sweep.sim.faults = _faults(size, size.seed)
            sweep.run(server.url)
            mutations = sweep.mutate()
            writer = s.ConcurrentWriter(sweep.sim, rate=0.25, seed=size.seed)
            sweep.sim.before_operation = writer
            sweep.sim.faults = _faults(size, size.seed + 1)
            sweep.run(server.url)
            faulted = sweep.sim.counters
            sweep.sim.before_operation = None
            sweep.sim.faults = FaultInjection()
            follow_up = sweep.run(server.url)
        verdict = sweep.verdict()
        detail = sweep.unconverged_detail
    finally:
        sweep.close()

    injected = {
        key.removeprefix("injected."): value
        for key, value in faulted.items()
        if key.startswith("injected.")
    }
    spikes = sum(1 for seconds in sweep.latencies if seconds >= 1.0)
    return {
        "created": created,
        "mutations": mutations,
        "requests_faulted_runs": faulted.get("requests", 0),
        "injected": injected,
        "latency_spikes": spikes,
        "edit_conflicts": faulted.get("error.ErrorIrresolvableConflict", 0),
        "concurrent_edits": writer.edits,
        "parked": dict(sweep.parked),
        "mailbox_errors": dict(sweep.mailbox_errors),
        "follow_up_failed": [m.mailbox for m in follow_up.failed],
        "verdict": verdict,
        "unconverged_detail": detail,
        "slept": sweep.sleep.total,
    }


def test_fault_sweep_over_http_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """Seeded faults, edits and conflicts over real HTTP; the follow-up converges."""
    size = SOAK_SIZE if s.SOAK else CI_SIZE

    result = _sweep(size, tmp_path)

    verdict = result["verdict"]
    prefix = "sweep."
    s.FIGURES[prefix + "mailboxes"] += size.mailboxes
    s.FIGURES[prefix + "items_after"] += verdict["items"]
    s.FIGURES[prefix + "items_created"] += result["created"]
    s.FIGURES[prefix + "requests_in_faulted_runs"] += result["requests_faulted_runs"]
    for kind, value in result["injected"].items():
        s.FIGURES[prefix + "injected." + kind] += value
    s.FIGURES[prefix + "latency_spikes_over_1s"] += result["latency_spikes"]
    s.FIGURES[prefix + "concurrent_edits"] += result["concurrent_edits"]
    s.FIGURES[prefix + "edit_conflicts_answered"] += result["edit_conflicts"]
    for code, value in result["parked"].items():
        s.FIGURES[prefix + "parked." + code] += value
    for code, value in result["mailbox_errors"].items():
        s.FIGURES[prefix + "mailbox_stopped." + code] += value
    for key in (
        "lost",
        "duplicated",
        "resurrected",
        "unexpected",
        "unconverged",
        "store_disagrees",
    ):
        s.FIGURES[prefix + key] += verdict[key]

    assert result["follow_up_failed"] == []
    assert verdict["lost"] == 0
    assert verdict["duplicated"] == 0
    assert verdict["resurrected"] == 0
    assert verdict["unexpected"] == 0
    assert verdict["unconverged"] == 0, "\n".join(result["unconverged_detail"])
    assert verdict["store_disagrees"] == 0
    injected_total = sum(result["injected"].values())
    share = injected_total / result["requests_faulted_runs"]
    assert share >= size.fault_share * 0.5, result
    assert result["concurrent_edits"] > 0
