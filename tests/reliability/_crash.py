"""Named crash points around the engine's collaborators, without touching src/.

:class:`CrashPoints` wraps methods of one run's state store, mailbox backend
and CRM repositories *on the instances*, counts every call of every named
step and, at the armed moment, calls its ``crash`` action: raising
:class:`SimulatedCrash` in-process, or ``SIGKILL`` in the child process of the
crash-consistency test.  A step is ``<object>.<method>:<when>``:

- ``before``: the call never happens (the process dies just before it);
- ``after``: the call happened and returned, the engine never saw the result
  (e.g. ``backend.create_items:after`` is "Exchange committed the items, the
  link was never recorded");
- ``in_txn``: a state-store write made inside an open transaction, before
  the transaction commits.

A "random moment" is the N-th wrapped event of the run, whatever its step.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

#: Every named crash step, in the order a sync run tends to meet them.
STEPS: Final = (
    "store.acquire_lease:after",
    "repo.list_changes:after",
    "backend.read_changes:after",
    "store.put_link:before",
    "store.put_link:in_txn",
    "store.put_link:after",
    "store.append_journal:in_txn",
    "repo.create:before",
    "repo.create:after",
    "backend.create_items:before",
    "backend.create_items:after",
    "backend.update_items:after",
    "repo.update:after",
    "backend.delete_items:after",
    "repo.delete:after",
    "backend.get_items:after",
    "backend.find_by_correlation:after",
    "store.delete_link:before",
    "store.set_sync_state:before",
    "store.set_sync_state:after",
    "store.renew_lease:before",
    "store.set_crm_cursor:before",
    "store.set_crm_cursor:after",
)

_STORE_METHODS: Final = (
    "acquire_lease",
    "put_link",
    "append_journal",
    "delete_link",
    "set_sync_state",
    "renew_lease",
    "set_crm_cursor",
)
_BACKEND_METHODS: Final = (
    "read_changes",
    "create_items",
    "update_items",
    "delete_items",
    "get_items",
    "find_by_correlation",
)
_REPO_METHODS: Final = ("list_changes", "create", "update", "delete")


class SimulatedCrash(Exception):
    """The in-process stand-in for the process dying at a crash point."""


class CrashPoints:
    """Counts named steps of one run and crashes at the armed one.

    Args:
        crash: Called with the step name when the armed moment comes; it must
            not return normally (raise, or kill the process).
        step: Crash at the ``nth`` call of this step.
        nth: Which call of ``step`` (1-based).
        at_event: Crash at this wrapped event overall instead (1-based).
    """

    def __init__(
        self,
        crash: Callable[[str], None],
        *,
        step: str | None = None,
        nth: int = 1,
        at_event: int | None = None,
    ) -> None:
        if step is not None and step not in STEPS:
            raise ValueError(f"unknown crash step {step!r}")
        self._crash = crash
        self.step = step
        self.nth = nth
        self.at_event = at_event
        self.counts: Counter[str] = Counter()
        self.events = 0
        self.fired: str | None = None
        self._txn_depth = 0
        self._wrapped: list[tuple[Any, str]] = []

    def hit(self, step: str) -> None:
        """Count one occurrence of ``step``; crash if it is the armed one."""
        self.counts[step] += 1
        self.events += 1
        if self.fired is not None:
            return
        if (self.step == step and self.counts[step] == self.nth) or (
            self.at_event is not None and self.events == self.at_event
        ):
            self.fired = step
            self._crash(step)

    # -- installing ---------------------------------------------------------

    def install(
        self, *, store: Any, backend: Any, repositories: Mapping[Any, Any]
    ) -> None:
        """Wrap the collaborators of one run (on the instances only)."""
        self._wrap_transaction(store)
        for name in _STORE_METHODS:
            self._wrap_sync(store, "store", name)
        for name in _BACKEND_METHODS:
            self._wrap_async(backend, "backend", name)
        for repository in repositories.values():
            for name in _REPO_METHODS:
                self._wrap_sync(repository, "repo", name)

    def _wrap_transaction(self, store: Any) -> None:
        original = store.transaction

        @contextlib.contextmanager
        def transaction() -> Iterator[None]:
            with original():
                self._txn_depth += 1
                try:
                    yield
                finally:
                    self._txn_depth -= 1

        store.transaction = transaction
        self._wrapped.append((store, "transaction"))

    def _wrap_sync(self, target: Any, owner: str, name: str) -> None:
        original = getattr(target, name)
        prefix = f"{owner}.{name}"

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.hit(f"{prefix}:before")
            if self._txn_depth:
                self.hit(f"{prefix}:in_txn")
            result = original(*args, **kwargs)
            self.hit(f"{prefix}:after")
            return result

        setattr(target, name, wrapper)
        self._wrapped.append((target, name))

    def _wrap_async(self, target: Any, owner: str, name: str) -> None:
        original = getattr(target, name)
        prefix = f"{owner}.{name}"

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.hit(f"{prefix}:before")
            result = await original(*args, **kwargs)
            self.hit(f"{prefix}:after")
            return result

        setattr(target, name, wrapper)
        self._wrapped.append((target, name))

    def uninstall(self) -> None:
        """Remove every wrapper; the objects behave as before."""
        for target, name in reversed(self._wrapped):
            delattr(target, name)
        self._wrapped.clear()


def raise_crash(step: str) -> None:
    """The in-process crash action."""
    raise SimulatedCrash(step)
