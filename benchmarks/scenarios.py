"""The six benchmark scenarios, each against a fresh simulator process.

Every scenario returns a JSON-ready ``dict``: its parameters, the
round-trip floor, one entry per client run (wall time, client CPU time,
server CPU time, requests and bytes per operation), the ratios, and each
target with whether this run met it.  Nothing here asserts a threshold;
the figures are reported as measured.

The round-trip floor of a client scenario is the least time the minimum
number of calls can take at the injected latency when at most 27 are in
flight (Exchange's per-account budget): ``calls x latency / 27``, and never
less than one latency per call that has to wait for the previous one.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

from benchmarks import _crm_ews_side as crm
from benchmarks import _exchangelib_side as el
from benchmarks._decode import build_cases, run_decoder
from benchmarks._harness import (
    Measured,
    StepResult,
    cpu_seconds,
    measure,
    run_child_steps,
)
from benchmarks._server import (
    ACCOUNT_CONCURRENCY,
    ServerSpec,
    SimulatorProcess,
    mailbox_addresses,
)

__all__ = [
    "FULL",
    "SCENARIOS",
    "SMOKE",
    "Sizes",
    "bulk_write",
    "decode",
    "engine",
    "incremental_sweep",
    "many_mailbox_read",
    "memory",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each scenario is."""

    read_mailboxes: int = 200
    read_items: int = 100
    sweep_mailboxes: int = 500
    sweep_items: int = 20
    sweep_changed_fraction: float = 0.05
    sweep_changes_per_mailbox: int = 2
    bulk_mailboxes: int = 20
    bulk_per_mailbox: int = 50
    decode_sync_changes: int = 512
    decode_find_items: int = 1000
    decode_min_cpu_seconds: float = 2.0
    engine_mailboxes: int = 1000
    engine_items: int = 50
    memory_items: int = 100_000

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready sizes."""
        return asdict(self)


#: The sizes named in the issue.
FULL: Final = Sizes()

#: Toy sizes for the CI smoke test: every code path, a few seconds each.
SMOKE: Final = Sizes(
    read_mailboxes=3,
    read_items=4,
    sweep_mailboxes=6,
    sweep_items=3,
    sweep_changed_fraction=0.34,
    sweep_changes_per_mailbox=1,
    bulk_mailboxes=2,
    bulk_per_mailbox=3,
    decode_sync_changes=8,
    decode_find_items=10,
    decode_min_cpu_seconds=0.01,
    engine_mailboxes=2,
    engine_items=3,
    memory_items=60,
)


def _floor(calls: int, latency_ms: float, *, chain: int = 1) -> dict[str, Any]:
    spread = calls * latency_ms / 1000.0 / ACCOUNT_CONCURRENCY
    chained = chain * latency_ms / 1000.0
    return {
        "min_calls": calls,
        "latency_ms": latency_ms,
        "concurrency": ACCOUNT_CONCURRENCY,
        "dependent_calls": chain,
        "seconds": max(spread, chained),
    }


def _run(
    client: str, measured: Measured, *, floor_seconds: float, **extra: Any
) -> dict[str, Any]:
    return {
        "client": client,
        "wall_seconds": round(measured.wall_seconds, 4),
        "cpu_seconds": round(measured.cpu_seconds, 4),
        "x_floor": round(measured.wall_seconds / floor_seconds, 2),
        "server": measured.server.as_dict(),
        **extra,
    }


def _ratio(slow: float, fast: float) -> float:
    return round(slow / fast, 2) if fast else math.inf


def _target(name: str, value: float, op: str, threshold: float) -> dict[str, Any]:
    met = value >= threshold if op == ">=" else value <= threshold
    return {
        "name": name,
        "value": round(value, 3),
        "op": op,
        "threshold": threshold,
        "met": met,
    }


async def _measure_in_loop(
    server: SimulatorProcess, call: Callable[[], Awaitable[T]]
) -> tuple[T, Measured]:
    """Time an awaited call with the meters reset around it."""
    server.reset()
    cpu_before = cpu_seconds()
    began = time.perf_counter()
    result = await call()
    wall = time.perf_counter() - began
    cpu = cpu_seconds() - cpu_before
    return result, Measured(wall, cpu, server.meters())


def _calendar_window() -> tuple[datetime, datetime]:
    # The simulator seeds appointments over the four weeks after the start
    # of the current week; this window holds every one of them.
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(days=8), now + timedelta(days=36)


def many_mailbox_read(sizes: Sizes, latency_ms: float) -> dict[str, Any]:
    """Scenario 1: each mailbox's calendar window and all its contacts."""
    mailboxes = mailbox_addresses(sizes.read_mailboxes)
    spec = ServerSpec(tuple(mailboxes), sizes.read_items, latency_ms)
    floor = _floor(2 * len(mailboxes), latency_ms)
    start, end = _calendar_window()

    with SimulatorProcess(spec) as server:

        async def crm_ews_run() -> tuple[int, Measured]:
            async with crm.client(server.url) as ews:
                return await _measure_in_loop(
                    server, lambda: crm.read_mailboxes(ews, mailboxes, start, end)
                )

        crm_items, crm_measured = asyncio.run(crm_ews_run())

        config = el.configuration(server.url)
        accounts, setup = measure(
            server, lambda: el.accounts(config, mailboxes, folders=True)
        )
        el_items, el_measured = measure(
            server, lambda: el.read_mailboxes(accounts, start, end)
        )
        simple_items, simple_measured = measure(
            server,
            lambda: el.read_mailboxes(
                accounts,
                start,
                end,
                contact_fields=el.SIMPLE_CONTACT_FIELDS,
                calendar_fields=el.SIMPLE_CALENDAR_FIELDS,
            ),
        )
        el.close()

    seconds = floor["seconds"]
    runs = [
        _run("crm_ews", crm_measured, floor_seconds=seconds, items=crm_items),
        _run(
            "exchangelib",
            el_measured,
            floor_seconds=seconds,
            items=el_items,
            setup=setup.server.as_dict(),
            setup_wall_seconds=round(setup.wall_seconds, 4),
            note="same fields as crm_ews; exchangelib follows FindItem with GetItem",
        ),
        _run(
            "exchangelib (FindItem fields only)",
            simple_measured,
            floor_seconds=seconds,
            items=simple_items,
            note="only fields exchangelib takes from FindItem: fewer data",
        ),
    ]
    speedup = _ratio(el_measured.wall_seconds, crm_measured.wall_seconds)
    return {
        "name": "many_mailbox_read",
        "title": "Many-mailbox read",
        "params": {
            "mailboxes": len(mailboxes),
            "items_per_folder": sizes.read_items,
            "window_days": (end - start).days,
        },
        "floor": floor,
        "runs": runs,
        "ratios": {
            "exchangelib_over_crm_ews": speedup,
            "exchangelib_findonly_over_crm_ews": _ratio(
                simple_measured.wall_seconds, crm_measured.wall_seconds
            ),
            "crm_ews_over_floor": runs[0]["x_floor"],
        },
        "targets": [
            _target("faster than exchangelib", speedup, ">=", 10.0),
            _target("within 1.5x of the floor", runs[0]["x_floor"], "<=", 1.5),
        ],
    }


def incremental_sweep(sizes: Sizes, latency_ms: float) -> dict[str, Any]:
    """Scenario 2: one SyncFolderItems round per mailbox, a few with changes."""
    mailboxes = mailbox_addresses(sizes.sweep_mailboxes)
    spec = ServerSpec(tuple(mailboxes), sizes.sweep_items, latency_ms)
    changed_count = max(1, round(len(mailboxes) * sizes.sweep_changed_fraction))
    stride = max(1, len(mailboxes) // changed_count)
    changed = mailboxes[::stride][:changed_count]
    floor = _floor(len(mailboxes), latency_ms)
    per_box = sizes.sweep_changes_per_mailbox

    with SimulatorProcess(spec) as server:

        async def crm_ews_run() -> tuple[int, Measured, Measured]:
            async with crm.client(server.url) as ews:
                states, prime = await _measure_in_loop(
                    server, lambda: crm.sweep_prime(ews, mailboxes)
                )
                server.touch(changed, folder="contacts", per_mailbox=per_box)
                (seen, _), swept = await _measure_in_loop(
                    server, lambda: crm.sweep_round(ews, states)
                )
                return seen, prime, swept

        crm_seen, crm_prime, crm_measured = asyncio.run(crm_ews_run())

        config = el.configuration(server.url)
        accounts, setup = measure(
            server, lambda: el.accounts(config, mailboxes, folders=False)
        )
        el_states, el_prime = measure(server, lambda: el.sweep_prime(accounts))
        server.touch(changed, folder="contacts", per_mailbox=per_box)
        (el_seen, _), el_measured = measure(
            server, lambda: el.sweep_round(accounts, el_states)
        )
        el.close()

    seconds = floor["seconds"]
    runs = [
        _run(
            "crm_ews",
            crm_measured,
            floor_seconds=seconds,
            items=crm_seen,
            prime=crm_prime.server.as_dict(),
            prime_wall_seconds=round(crm_prime.wall_seconds, 4),
        ),
        _run(
            "exchangelib",
            el_measured,
            floor_seconds=seconds,
            items=el_seen,
            setup=setup.server.as_dict(),
            prime=el_prime.server.as_dict(),
            prime_wall_seconds=round(el_prime.wall_seconds, 4),
        ),
    ]
    speedup = _ratio(el_measured.wall_seconds, crm_measured.wall_seconds)
    return {
        "name": "incremental_sweep",
        "title": "Incremental sweep",
        "params": {
            "mailboxes": len(mailboxes),
            "mailboxes_with_changes": len(changed),
            "changes_per_changed_mailbox": per_box,
            "items_per_folder": sizes.sweep_items,
        },
        "floor": floor,
        "runs": runs,
        "ratios": {
            "exchangelib_over_crm_ews": speedup,
            "crm_ews_over_floor": runs[0]["x_floor"],
        },
        "targets": [
            _target("faster than exchangelib", speedup, ">=", 10.0),
            _target("within 1.5x of the floor", runs[0]["x_floor"], "<=", 1.5),
        ],
    }


def bulk_write(sizes: Sizes, latency_ms: float) -> dict[str, Any]:
    """Scenario 3: create, update and delete contacts across mailboxes."""
    mailboxes = mailbox_addresses(sizes.bulk_mailboxes)
    spec = ServerSpec(tuple(mailboxes), 0, latency_ms)
    floor = _floor(3 * len(mailboxes), latency_ms, chain=3)
    per_box = sizes.bulk_per_mailbox

    with SimulatorProcess(spec) as server:

        async def crm_ews_run() -> tuple[int, Measured]:
            async with crm.client(server.url) as ews:
                return await _measure_in_loop(
                    server, lambda: crm.bulk_write(ews, mailboxes, per_box)
                )

        crm_done, crm_measured = asyncio.run(crm_ews_run())

        config = el.configuration(server.url)
        accounts, setup = measure(
            server, lambda: el.accounts(config, mailboxes, folders=True)
        )
        el_done, el_measured = measure(server, lambda: el.bulk_write(accounts, per_box))
        el.close()

    seconds = floor["seconds"]
    runs = [
        _run("crm_ews", crm_measured, floor_seconds=seconds, items=crm_done),
        _run(
            "exchangelib",
            el_measured,
            floor_seconds=seconds,
            items=el_done,
            setup=setup.server.as_dict(),
        ),
    ]
    return {
        "name": "bulk_write",
        "title": "Bulk write",
        "params": {
            "mailboxes": len(mailboxes),
            "contacts_per_mailbox": per_box,
            "contacts": len(mailboxes) * per_box,
        },
        "floor": floor,
        "runs": runs,
        "ratios": {
            "exchangelib_over_crm_ews": _ratio(
                el_measured.wall_seconds, crm_measured.wall_seconds
            ),
            "crm_ews_over_floor": runs[0]["x_floor"],
        },
        "targets": [],
    }


def decode(sizes: Sizes, latency_ms: float) -> dict[str, Any]:
    """Scenario 4: MB of SOAP per CPU-second through each decoder."""
    del latency_ms  # no network here
    cases = build_cases(sizes.decode_sync_changes, sizes.decode_find_items)
    results = []
    targets = []
    for case in cases:
        figures = {
            name: run_decoder(name, case, min_cpu=sizes.decode_min_cpu_seconds)
            for name in ("floor", "crm_ews", "exchangelib")
        }
        crm_mbps = figures["crm_ews"].mb_per_cpu_second
        vs_el = _ratio(crm_mbps, figures["exchangelib"].mb_per_cpu_second)
        of_floor = crm_mbps / figures["floor"].mb_per_cpu_second
        results.append(
            {
                "case": case.name,
                "bytes": len(case.body),
                "items": case.items,
                "decoders": [figure.as_dict() for figure in figures.values()],
                "crm_ews_over_exchangelib": vs_el,
                "crm_ews_share_of_floor": round(of_floor, 3),
            }
        )
        targets.append(_target(f"{case.name}: x exchangelib", vs_el, ">=", 10.0))
        targets.append(
            _target(f"{case.name}: share of lxml floor", of_floor, ">=", 1 / 3)
        )
    return {
        "name": "decode",
        "title": "Decode throughput",
        "params": {
            "sync_changes": sizes.decode_sync_changes,
            "find_items": sizes.decode_find_items,
            "min_cpu_seconds": sizes.decode_min_cpu_seconds,
        },
        "cases": results,
        "targets": targets,
    }


def _engine_runs(
    steps: list[StepResult], mailboxes: int, folders: int
) -> list[dict[str, Any]]:
    runs = []
    for step in steps:
        server = step.server
        runs.append(
            {
                "step": step.name,
                **{k: v for k, v in step.figures.items() if k != "totals"},
                "totals": step.figures["totals"],
                "ews_calls_per_mailbox": round(server.total_requests / mailboxes, 3),
                "sync_calls_per_folder": round(
                    server.requests.get("SyncFolderItems", 0) / (mailboxes * folders),
                    3,
                ),
                "server": server.as_dict(),
            }
        )
    return runs


def engine(sizes: Sizes, latency_ms: float) -> dict[str, Any]:
    """Scenario 5: initial two-way sync and an idle second run (crm_ews)."""
    mailboxes = mailbox_addresses(sizes.engine_mailboxes)
    spec = ServerSpec(tuple(mailboxes), sizes.engine_items, latency_ms)
    folders = 3
    with (
        SimulatorProcess(spec) as server,
        tempfile.TemporaryDirectory(prefix="crm-ews-bench-") as workdir,
    ):
        steps = run_child_steps(
            server,
            "benchmarks._engine_child.engine_steps",
            {
                "url": server.url,
                "mailboxes": mailboxes,
                "crm_items": sizes.engine_items,
                "workdir": workdir,
                "concurrency": ACCOUNT_CONCURRENCY,
                "steps": ["initial", "idle"],
            },
        )
    runs = _engine_runs(steps, len(mailboxes), folders)
    idle = runs[-1]
    idle_writes = sum(idle["crm_writes"].values())
    exchange_writes = sum(
        idle["server"]["requests"].get(op, 0)
        for op in ("CreateItem", "UpdateItem", "DeleteItem")
    )
    # Initially each folder needs at least one SyncFolderItems page and, after
    # it, one batched CreateItem for the CRM's records; idle, one page.
    initial_floor = _floor(2 * folders * len(mailboxes), latency_ms, chain=2)
    idle_floor = _floor(folders * len(mailboxes), latency_ms)
    for run, floor in ((runs[0], initial_floor), (idle, idle_floor)):
        run["floor_seconds"] = floor["seconds"]
        run["x_floor"] = round(run["wall_seconds"] / floor["seconds"], 2)
    return {
        "name": "engine",
        "title": "Sync engine",
        "params": {
            "mailboxes": len(mailboxes),
            "items_per_folder_each_side": sizes.engine_items,
            "concurrency": ACCOUNT_CONCURRENCY,
        },
        "floor": {"initial": initial_floor, "idle": idle_floor},
        "runs": runs,
        "targets": [
            _target(
                "idle: SyncFolderItems calls per folder per mailbox",
                idle["sync_calls_per_folder"],
                "<=",
                1.0,
            ),
            _target(
                "idle: other EWS calls per mailbox",
                idle["ews_calls_per_mailbox"] - idle["sync_calls_per_folder"] * folders,
                "<=",
                0.0,
            ),
            _target("idle: CRM writes", idle_writes, "<=", 0.0),
            _target("idle: Exchange writes", exchange_writes, "<=", 0.0),
        ],
    }


def memory(sizes: Sizes, latency_ms: float) -> dict[str, Any]:
    """Scenario 6: peak RSS of an initial sync of one very large mailbox."""
    mailbox = mailbox_addresses(1, prefix="large")
    per_folder = math.ceil(sizes.memory_items / 3)
    spec = ServerSpec(tuple(mailbox), per_folder, latency_ms)
    with (
        SimulatorProcess(spec) as server,
        tempfile.TemporaryDirectory(prefix="crm-ews-bench-") as workdir,
    ):
        steps = run_child_steps(
            server,
            "benchmarks._engine_child.engine_steps",
            {
                "url": server.url,
                "mailboxes": mailbox,
                "crm_items": 0,
                "workdir": workdir,
                "concurrency": 1,
                "steps": ["initial"],
            },
        )
    runs = _engine_runs(steps, 1, 3)
    peak = runs[0]["peak_rss_mb"]
    # Pages of one folder follow each other; the three folders may overlap.
    pages = math.ceil(per_folder / 512)
    floor = _floor(3 * pages, latency_ms, chain=pages)
    runs[0]["floor_seconds"] = floor["seconds"]
    runs[0]["x_floor"] = round(runs[0]["wall_seconds"] / floor["seconds"], 2)
    return {
        "name": "memory",
        "title": "Memory, one large mailbox",
        "params": {"items": per_folder * 3, "items_per_folder": per_folder},
        "floor": floor,
        "runs": runs,
        "targets": [_target("peak RSS (MiB)", peak, "<=", 200.0)],
    }


#: Scenario name -> function, in the order they run.
SCENARIOS: Final[dict[str, Callable[[Sizes, float], dict[str, Any]]]] = {
    "read": many_mailbox_read,
    "sweep": incremental_sweep,
    "bulk": bulk_write,
    "decode": decode,
    "engine": engine,
    "memory": memory,
}
