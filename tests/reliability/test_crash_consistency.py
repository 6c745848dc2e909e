"""SIGKILL the syncing process anywhere; the restarted run loses and duplicates nothing.

The parent serves the simulator over HTTP on 127.0.0.1 and keeps the truth; a
child process (``crash_child.py``, a fork server) runs the engine against an
on-disk SQLite state store and SQLite CRM.  Each case gets its own mailbox:

- phase 1 kills the *initial* sync (everything is a create);
- phase 2 first completes an initial sync, then edits, deletes and creates
  on both sides, and kills the sync that carries them.

Kills happen at every named step of ``_crash.STEPS`` (the 1st and 2nd call of
each: between CreateItem and recording its link, between applying a page
and checkpointing its SyncState, inside state-store transactions, ...) and at
random moments (a timer in the child), one case at a time.  Then a clean
child syncs every mailbox to completion, and a second clean pass must be
idle; these clean passes (and the setup of phase 2) sync eight mailboxes at
once, as a runner would, because one at a time they took half the test's
time waiting on the loopback server.  The parent then
checks every mailbox: each expected token exactly once on each side, deleted
ones gone from both, both sides equal in mapped space, and the state store's
links, ids, change keys and hashes agreeing with both sides.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crm_ews.repository import EntityType, SQLiteCRM
from crm_ews.sync import SQLiteStateStore
from crm_ews.testing import SimulatorServer
from tests.reliability import _support as s
from tests.reliability._crash import STEPS

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(sys.platform == "win32", reason="needs fork and SIGKILL"),
]

ROOT = Path(__file__).resolve().parents[2]
RANDOM_MOMENTS = s.scaled(ci=200, soak=1000)
ITEMS_PER_SIDE = 3


@dataclass
class Case:
    """One kill: where, in which phase, and the mailbox it owns."""

    mailbox: str
    phase: int
    crash: dict[str, Any]
    killed: bool = False


@dataclass
class Expected:
    """Tokens that must exist once, and tokens that must be gone."""

    live: dict[EntityType, set[str]] = field(
        default_factory=lambda: {e: set() for e in s.ENTITIES}
    )
    gone: dict[EntityType, set[str]] = field(
        default_factory=lambda: {e: set() for e in s.ENTITIES}
    )


class ForkServer:
    """The child process; each command forks a worker that may be killed."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.sequence = 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.crash_child"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, command: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
        """Send one command; return (killed, the worker's results or [])."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.sequence += 1
        result = self.workdir / f"result-{self.sequence}.json"
        command = {**command, "result": str(result)}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if answer["killed"]:
            return True, []
        assert answer["code"] == 0, f"worker failed: {answer}"
        return False, json.loads(result.read_text(encoding="utf-8"))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Lab:
    """The simulator, the files and the expectations of every case."""

    def __init__(self, workdir: Path) -> None:
        self.sim = s.simulator([], seed=99)
        self.state = workdir / "state.sqlite3"
        self.crm_path = workdir / "crm.sqlite3"
        self.crm = SQLiteCRM(self.crm_path)
        self.expected: dict[str, Expected] = {}
        self.counter = 0
        self.rng = random.Random(4242)

    def close(self) -> None:
        self.crm.close()

    def command(self, url: str, mailboxes: list[str], **extra: Any) -> dict[str, Any]:
        return {
            "url": url,
            "state": str(self.state),
            "crm": str(self.crm_path),
            "enrolled": list(self.expected),
            "mailboxes": mailboxes,
            **extra,
        }

    # -- data --------------------------------------------------------------

    def _create(self, mailbox: str, entity: EntityType, side: str) -> None:
        self.counter += 1
        n = self.counter
        if side == "crm":
            self.crm.repository(entity).create(
                mailbox, s.new_record(entity, n), idempotency_key=f"crash-{n}"
            )
        else:
            self.sim.add_item(mailbox, s.new_element(entity, n))
        self.expected[mailbox].live[entity].add(s.token(s.new_record(entity, n)))

    def new_mailbox(self, index: int) -> str:
        mailbox = self.sim.add_mailbox(f"crash{index:04d}@example.com")
        self.expected[mailbox] = Expected()
        for entity in s.ENTITIES:
            for _ in range(ITEMS_PER_SIDE):
                self._create(mailbox, entity, "crm")
                self._create(mailbox, entity, "exchange")
        return mailbox

    def mutate(self, mailbox: str) -> None:
        """After a clean initial sync: edit, delete and create on both sides."""
        expected = self.expected[mailbox]
        for entity in s.ENTITIES:
            repository = self.crm.repository(entity)
            records = sorted(repository.records(mailbox), key=s.token)
            items = sorted(
                s.exchange_truth(self.sim, mailbox, entity),
                key=lambda truth: s.token(truth.record),
            )
            crm_edit, crm_delete = records[0], records[1]
            ews_edit, ews_delete = items[2], items[3]
            repository.update(
                mailbox, s.crm_edit(crm_edit, 1), expected_version=crm_edit.version
            )
            repository.delete(mailbox, crm_delete.id or "")
            self.sim.modify_item(
                mailbox,
                ews_edit.item.item_id,
                **s.ews_edit(ews_edit.item.item_class, 2),
            )
            self.sim.remove_item(mailbox, ews_delete.item.item_id)
            for gone in (s.token(crm_delete), s.token(ews_delete.record)):
                expected.live[entity].discard(gone)
                expected.gone[entity].add(gone)
            for side in ("crm", "exchange", "crm", "exchange"):
                self._create(mailbox, entity, side)

    # -- verdict -----------------------------------------------------------

    def problems(self, mailbox: str, store: SQLiteStateStore) -> list[str]:
        found: list[str] = []
        expected = self.expected[mailbox]
        for entity in s.ENTITIES:
            sides = s.read_sides(self.sim, self.crm.repository(entity), mailbox, entity)
            for label, tokens in (
                ("crm", sides.crm_tokens()),
                ("exchange", sides.exchange_tokens()),
            ):
                for name in expected.live[entity]:
                    if tokens[name] != 1:
                        found.append(
                            f"{entity.value} {name} x{tokens[name]} in {label}"
                        )
                for name in expected.gone[entity]:
                    if tokens[name]:
                        found.append(f"{entity.value} deleted {name} back in {label}")
            found += s.converged(sides)
            found += s.store_agrees(store, mailbox, entity, sides)
        return found


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Lab, str, ForkServer]]:
    workdir = tmp_path_factory.mktemp("crash")
    lab = Lab(workdir)
    server = SimulatorServer(lab.sim).start()
    forks = ForkServer(workdir)
    try:
        yield lab, server.url, forks
    finally:
        forks.close()
        server.stop()
        lab.close()


def _cases(lab: Lab) -> list[Case]:
    cases: list[Case] = []
    index = 0
    for phase in (1, 2):
        for step in STEPS:
            for nth in (1, 2):
                cases.append(
                    Case(lab.new_mailbox(index), phase, {"step": step, "nth": nth})
                )
                index += 1
    for _ in range(RANDOM_MOMENTS):
        phase = lab.rng.choice((1, 2))
        cases.append(Case(lab.new_mailbox(index), phase, {"moment": True}))
        index += 1
    return cases


def _calibrate(lab: Lab, url: str, forks: ForkServer) -> dict[int, float]:
    """How long an uninterrupted sync of one mailbox takes, per phase."""
    spans: dict[int, float] = {}
    first = lab.new_mailbox(99_999)
    for phase in (1, 2):
        if phase == 2:
            lab.mutate(first)
        started = time.perf_counter()
        killed, _ = forks.run(lab.command(url, [first]))
        assert not killed
        spans[phase] = time.perf_counter() - started
    return spans


def test_sigkill_at_every_crash_point_loses_and_duplicates_nothing(
    lab: tuple[Lab, str, ForkServer],
) -> None:
    """Named steps and random moments: after restart, every mailbox is whole."""
    world, url, forks = lab
    spans = _calibrate(world, url, forks)
    cases = _cases(world)

    # Phase 2 cases start from a completed initial sync, then change both sides.
    second = [case.mailbox for case in cases if case.phase == 2]
    killed, results = forks.run(world.command(url, second, concurrency=8))
    assert not killed
    assert all(result["error"] is None for result in results), results
    for mailbox in second:
        world.mutate(mailbox)

    for case in cases:
        crash = dict(case.crash)
        if crash.pop("moment", False):
            crash["delay"] = world.rng.uniform(0.0, 0.9 * spans[case.phase])
        started = time.perf_counter()
        case.killed, _ = forks.run(world.command(url, [case.mailbox], crash=crash))
        if not case.killed:
            # An uninterrupted run measures how long a sync takes right now;
            # the load drifts over a long run, and a stale span puts random
            # moments after the sync has already finished.
            spent = time.perf_counter() - started
            spans[case.phase] = 0.8 * spans[case.phase] + 0.2 * spent

    everyone = [case.mailbox for case in cases]
    killed, recovery = forks.run(
        world.command(url, everyone, idle_check=True, concurrency=8)
    )
    assert not killed

    failures: dict[str, list[str]] = {}
    with SQLiteStateStore(world.state) as store:
        for case, result in zip(cases, recovery, strict=True):
            problems = world.problems(case.mailbox, store)
            if result["error"] is not None:
                problems.append(f"recovery failed: {result['error']}")
            if result["idle"]["writes"] or result["idle"]["error"]:
                problems.append(f"second pass not idle: {result['idle']}")
            if problems:
                failures[f"{case.crash} phase {case.phase}"] = problems

    tally = Counter(
        ("named" if "step" in case.crash else "random", case.killed) for case in cases
    )
    s.FIGURES["crash.named_points_tried"] += (
        tally[("named", True)] + tally[("named", False)]
    )
    s.FIGURES["crash.named_points_killed"] += tally[("named", True)]
    s.FIGURES["crash.random_moments_tried"] += (
        tally[("random", True)] + tally[("random", False)]
    )
    s.FIGURES["crash.random_moments_killed"] += tally[("random", True)]
    s.FIGURES["crash.mailboxes_checked"] += len(cases)
    s.FIGURES["crash.cases_with_problems"] += len(failures)
    assert failures == {}
    # The kills must really happen, or the test proves nothing.
    assert tally[("named", True)] >= len(STEPS)
    assert tally[("random", True)] >= RANDOM_MOMENTS // 2
