"""Measuring one client run, and running a measured client in a child process.

:func:`measure` times a call in this process: wall clock, this process's CPU
time (all threads), and the server's meters over exactly that call.

:func:`run_child_steps` runs a generator function in a fresh interpreter, so
its peak RSS is its own.  The generator yields a message before each timed
step; the parent resets the server meters, lets the step run, and reads the
meters after it.  That keeps the server's pipe in the parent while the
client runs elsewhere.
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.connection
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from benchmarks._server import ServerMeters, SimulatorProcess

__all__ = [
    "Measured",
    "StepResult",
    "cpu_seconds",
    "measure",
    "peak_rss_mb",
    "rss_mb",
    "run_child_steps",
]

T = TypeVar("T")


@dataclass(slots=True)
class Measured:
    """Wall and CPU time of one call, and what the server saw meanwhile."""

    wall_seconds: float
    cpu_seconds: float
    server: ServerMeters


def cpu_seconds() -> float:
    """User plus system CPU time of this process, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident set size (``ru_maxrss``), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    """This process's current resident set size from ``/proc``, in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def measure(server: SimulatorProcess, call: Callable[[], T]) -> tuple[T, Measured]:
    """Run ``call`` once with the server's meters reset around it."""
    server.reset()
    cpu_before = cpu_seconds()
    began = time.perf_counter()
    result = call()
    wall = time.perf_counter() - began
    cpu = cpu_seconds() - cpu_before
    return result, Measured(wall, cpu, server.meters())


@dataclass(slots=True)
class StepResult:
    """One timed step of a child run: its own figures and the server's."""

    name: str
    figures: dict[str, Any]
    server: ServerMeters


def _child_main(
    target: str, kwargs: dict[str, Any], conn: multiprocessing.connection.Connection
) -> None:
    module_name, _, function_name = target.rpartition(".")
    function = getattr(importlib.import_module(module_name), function_name)
    steps: Iterator[dict[str, Any]] = function(**kwargs)
    try:
        for message in steps:
            conn.send(("message", message))
            conn.recv()
        conn.send(("done", None))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


def run_child_steps(
    server: SimulatorProcess,
    target: str,
    kwargs: dict[str, Any],
    *,
    timeout: float = 3600.0,
) -> list[StepResult]:
    """Run the generator function ``target`` ("module.function") in a child.

    The generator yields dicts with an ``event`` key: ``"start"`` right
    before a timed step (the meters are reset), ``"end"`` right after it
    (the meters are read and kept with the step's figures).
    """
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_child_main, args=(target, kwargs, child), name="bench-client"
    )
    process.start()
    child.close()
    results: list[StepResult] = []
    try:
        while True:
            if not parent.poll(timeout):
                raise RuntimeError(f"{target} gave no sign of life in {timeout} s")
            status, message = parent.recv()
            if status == "done":
                break
            if status == "error":
                raise RuntimeError(f"{target} failed: {message}")
            if message["event"] == "start":
                server.reset()
            elif message["event"] == "end":
                figures = {k: v for k, v in message.items() if k != "event"}
                results.append(
                    StepResult(str(figures.pop("step")), figures, server.meters())
                )
            parent.send("go")
    finally:
        process.join(timeout=60)
        if process.is_alive():
            process.kill()
            process.join()
        parent.close()
    return results
