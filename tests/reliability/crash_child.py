"""The process the crash-consistency test kills: a small fork server.

Run as ``python -m tests.reliability.crash_child`` from the repository root.
It imports everything once, then reads one JSON command per line on stdin.
For each command it forks a worker that opens the on-disk state store and
SQLite CRM, syncs the given mailboxes against the simulator the parent serves
over HTTP (``concurrency`` of them at a time, one by default), and writes a
JSON summary to ``command["result"]`` in the order the mailboxes were given.
A crash plan makes the worker ``SIGKILL`` itself at a named step
(``step``/``nth``) or after ``delay`` seconds.  The fork server answers
each command with one JSON line: ``{"killed": bool, "code": int}``.

Forking from a warm parent keeps each killed run cheap (no interpreter start
and imports), so hundreds of crash points fit in CI.  The fork server itself
starts no threads and no event loop, so forking it is safe.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from typing import Any

from crm_ews.backends import EWSMailboxBackend
from crm_ews.ews import AsyncEWSClient
from crm_ews.repository import SQLiteCRM
from crm_ews.sync import MailboxReport, SQLiteStateStore
from tests.reliability import _support as s
from tests.reliability._crash import CrashPoints


def _kill(_step: str = "") -> None:
    """Die the hard way: no finally blocks, no flush, no rollback."""
    os.kill(os.getpid(), signal.SIGKILL)


def _summary(report: MailboxReport) -> dict[str, Any]:
    writes = 0
    parked = 0
    for entity in report.entities.values():
        writes += sum((entity.created + entity.updated + entity.deleted).values())
        parked += entity.parked
    return {
        "mailbox": report.mailbox,
        "error": report.error,
        "writes": writes,
        "parked": parked,
    }


async def _sync(command: dict[str, Any]) -> list[dict[str, Any]]:
    store = SQLiteStateStore(command["state"])
    crm = SQLiteCRM(command["crm"])
    repositories = {entity: crm.repository(entity) for entity in s.ENTITIES}
    sleep = s.FakeSleep()
    transport = s.http_transport(command["url"], sleep)
    results: list[dict[str, Any]] = []
    try:
        async with transport, AsyncEWSClient(transport=transport) as client:
            backend = EWSMailboxBackend(client, page_size=2)
            engine = s.make_engine(
                backend,
                repositories,
                store,
                command["enrolled"],
                worker_id="crash-child",
                batch_size=2,
            )
            plan = command.get("crash") or {}
            if "step" in plan:
                CrashPoints(_kill, step=plan["step"], nth=plan["nth"]).install(
                    store=store, backend=backend, repositories=repositories
                )
            if "delay" in plan:
                timer = threading.Timer(plan["delay"], _kill)
                timer.daemon = True
                timer.start()
            limit = asyncio.Semaphore(command.get("concurrency", 1))

            async def one(mailbox: str) -> dict[str, Any]:
                async with limit:
                    entry = _summary(await engine.sync_mailbox(mailbox))
                    if command.get("idle_check"):
                        entry["idle"] = _summary(await engine.sync_mailbox(mailbox))
                    return entry

            results = list(
                await asyncio.gather(*(one(m) for m in command["mailboxes"]))
            )
    finally:
        store.close()
        crm.close()
    return results


def _worker(command: dict[str, Any]) -> None:
    results = asyncio.run(_sync(command))
    partial = command["result"] + ".part"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(results, handle)
    os.replace(partial, command["result"])


def main() -> int:
    """Serve commands until stdin closes."""
    for line in sys.stdin:
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                _worker(command)
            except BaseException as exc:
                print(f"worker failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                code = 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        print(json.dumps({"killed": killed, "code": code}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
