"""A state store held in dictionaries, for tests and short-lived processes.

It keeps the same rules as the SQLite store (unique ids per side,
savepoints, lease takeover) so tests written against it hold for both.
Transactions are implemented with an undo log: every write inside one
records how to reverse itself, and a rollback replays those records
backwards to the savepoint's mark.
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TypeVar

from crm_ews.errors import StateStoreError
from crm_ews.repository import EntityType
from crm_ews.sync._store import (
    Clock,
    JournalEntry,
    Lease,
    Link,
    LinkState,
    check_clock_value,
    check_key_part,
    check_lease_args,
    utc_now,
)

__all__ = ["MemoryStateStore"]

K = TypeVar("K")
V = TypeVar("V")

_Pair = tuple[str, EntityType]
_SideKey = tuple[str, EntityType, str]


class MemoryStateStore:
    """A :class:`~crm_ews.sync.StateStore` that lives as long as the object.

    Thread-safe: one re-entrant lock guards everything, and a transaction
    holds it until the block ends.

    Args:
        clock: Returns the current aware time; stamps ``updated_at`` and
            decides lease expiry. Inject a fake one in tests.
    """

    # Limitation: nothing here survives the process. A crash forgets every
    # link, so the next run with a fresh store re-pairs both sides from
    # scratch and may duplicate items. Use SQLiteStateStore in production.

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or utc_now
        self._lock = threading.RLock()
        self._closed = False
        self._depth = 0
        self._undo: list[Callable[[], object]] = []
        self._links: dict[str, Link] = {}
        self._by_crm: dict[_SideKey, str] = {}
        self._by_ews: dict[_SideKey, str] = {}
        self._by_pair: dict[_Pair, list[str]] = {}
        self._sync_states: dict[tuple[str, str], str] = {}
        self._cursors: dict[tuple[str, EntityType], str] = {}
        self._journal: list[JournalEntry] = []
        self._leases: dict[str, Lease] = {}

    def __repr__(self) -> str:
        return f"MemoryStateStore(links={len(self._links)})"

    def __enter__(self) -> MemoryStateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Mark the store closed; later calls raise ``RuntimeError``."""
        self._closed = True

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically; nested blocks are savepoints."""
        with self._lock:
            self._check_open()
            mark = len(self._undo)
            self._depth += 1
            try:
                yield
            except BaseException:
                self._roll_back_to(mark)
                raise
            finally:
                self._depth -= 1
            if self._depth == 0:
                self._undo.clear()

    def put_link(self, link: Link) -> Link:
        """Insert or replace a link; see :meth:`StateStore.put_link`."""
        if not isinstance(link, Link):
            msg = f"expected a Link, got {type(link).__name__}"
            raise TypeError(msg)
        with self.transaction():
            stored = dataclasses.replace(link, updated_at=self._now())
            old = self._links.get(link.correlation_id)
            if old is not None and (old.mailbox, old.entity) != (
                link.mailbox,
                link.entity,
            ):
                msg = "a link's mailbox and entity never change"
                raise ValueError(msg)
            self._check_unique(self._by_crm, link, link.crm_id, "crm_id")
            self._check_unique(self._by_ews, link, link.ews_item_id, "ews_item_id")

            if old is not None:
                self._unindex(old)
            self._set(self._links, link.correlation_id, stored)
            self._index(stored, is_new=old is None)

        return stored

    def delete_link(self, correlation_id: str) -> bool:
        """Forget a link; see :meth:`StateStore.delete_link`."""
        with self.transaction():
            old = self._links.get(correlation_id)
            if old is None:
                return False
            self._unindex(old)
            self._remove_from_pair(old)
            self._set(self._links, correlation_id, None)

        return True

    def get_link_by_crm_id(
        self, mailbox: str, entity: EntityType, crm_id: str
    ) -> Link | None:
        """Return the link holding this CRM id, or ``None``."""
        return self._lookup(self._by_crm, (mailbox, EntityType(entity), crm_id))

    def get_link_by_ews_id(
        self, mailbox: str, entity: EntityType, ews_item_id: str
    ) -> Link | None:
        """Return the link holding this Exchange item id, or ``None``."""
        return self._lookup(self._by_ews, (mailbox, EntityType(entity), ews_item_id))

    def get_link_by_correlation_id(self, correlation_id: str) -> Link | None:
        """Return the link with this correlation id, or ``None``."""
        with self._lock:
            self._check_open()
            return self._links.get(correlation_id)

    def iter_links(
        self,
        mailbox: str,
        entity: EntityType,
        *,
        states: Collection[LinkState] | None = None,
    ) -> Iterator[Link]:
        """Yield one mailbox's links of one entity type, by correlation id."""
        wanted = None if states is None else frozenset(LinkState(s) for s in states)
        with self._lock:
            self._check_open()
            ids = list(self._by_pair.get((mailbox, EntityType(entity)), ()))

        for correlation_id in ids:
            with self._lock:
                link = self._links.get(correlation_id)
            if link is not None and (wanted is None or link.state in wanted):
                yield link

    def iter_due_links(
        self,
        *,
        now: datetime | None = None,
        mailbox: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Link]:
        """Yield parked links that are due; see :meth:`StateStore.iter_due_links`."""
        moment = self._now() if now is None else check_clock_value(now)
        with self._lock:
            self._check_open()
            due = sorted(
                (
                    link
                    for link in self._links.values()
                    if link.state is LinkState.PARKED
                    and link.next_attempt_at is not None
                    and link.next_attempt_at <= moment
                    and (mailbox is None or link.mailbox == mailbox)
                ),
                key=lambda link: (link.next_attempt_at, link.correlation_id),
            )

        yield from due if limit is None else due[:limit]

    def count_links(
        self,
        mailbox: str,
        entity: EntityType,
        *,
        states: Collection[LinkState] | None = None,
    ) -> int:
        """Count one mailbox's links of one entity type."""
        if states is None:
            with self._lock:
                self._check_open()
                return len(self._by_pair.get((mailbox, EntityType(entity)), ()))

        return sum(1 for _ in self.iter_links(mailbox, entity, states=states))

    def get_sync_state(self, mailbox: str, folder_key: str) -> str | None:
        """Return a folder's checkpointed SyncState, or ``None``."""
        with self._lock:
            self._check_open()
            return self._sync_states.get((mailbox, folder_key))

    def set_sync_state(
        self, mailbox: str, folder_key: str, sync_state: str | None
    ) -> None:
        """Checkpoint a folder's SyncState; ``None`` clears it."""
        check_key_part(mailbox, "mailbox")
        check_key_part(folder_key, "folder_key")
        with self.transaction():
            self._set(self._sync_states, (mailbox, folder_key), sync_state)

    def get_crm_cursor(self, mailbox: str, entity: EntityType) -> str | None:
        """Return an entity's checkpointed CRM cursor, or ``None``."""
        with self._lock:
            self._check_open()
            return self._cursors.get((mailbox, EntityType(entity)))

    def set_crm_cursor(
        self, mailbox: str, entity: EntityType, cursor: str | None
    ) -> None:
        """Checkpoint an entity's CRM cursor; ``None`` clears it."""
        check_key_part(mailbox, "mailbox")
        with self.transaction():
            self._set(self._cursors, (mailbox, EntityType(entity)), cursor)

    def append_journal(self, entry: JournalEntry) -> None:
        """Append one journal entry."""
        if not isinstance(entry, JournalEntry):
            msg = f"expected a JournalEntry, got {type(entry).__name__}"
            raise TypeError(msg)
        with self.transaction():
            self._journal.append(entry)
            self._record_undo(self._journal.pop)

    def iter_journal(
        self, *, run_id: str | None = None, mailbox: str | None = None
    ) -> Iterator[JournalEntry]:
        """Yield journal entries in append order, optionally filtered."""
        with self._lock:
            self._check_open()
            entries = list(self._journal)

        for entry in entries:
            if (run_id is None or entry.run_id == run_id) and (
                mailbox is None or entry.mailbox == mailbox
            ):
                yield entry

    def acquire_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        """Take, take over or renew a mailbox's lease."""
        check_lease_args(mailbox, owner, ttl_seconds)
        with self.transaction():
            now = self._now()
            current = self._leases.get(mailbox)
            if (
                current is not None
                and current.owner != owner
                and current.expires_at > now
            ):
                return False
            lease = Lease(mailbox, owner, now + timedelta(seconds=ttl_seconds))
            self._set(self._leases, mailbox, lease)

        return True

    def renew_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        """Extend the owner's lease; ``False`` when it is not theirs."""
        check_lease_args(mailbox, owner, ttl_seconds)
        with self.transaction():
            current = self._leases.get(mailbox)
            if current is None or current.owner != owner:
                return False
            expires_at = self._now() + timedelta(seconds=ttl_seconds)
            self._set(self._leases, mailbox, Lease(mailbox, owner, expires_at))

        return True

    def release_lease(self, mailbox: str, owner: str) -> bool:
        """Give up the owner's lease; ``False`` when it was not theirs."""
        check_key_part(owner, "owner")
        with self.transaction():
            current = self._leases.get(mailbox)
            if current is None or current.owner != owner:
                return False
            self._set(self._leases, mailbox, None)

        return True

    def get_lease(self, mailbox: str) -> Lease | None:
        """Return the unexpired lease on a mailbox, or ``None``."""
        with self._lock:
            self._check_open()
            current = self._leases.get(mailbox)
            if current is None or current.expires_at <= self._now():
                return None
            return current

    def _now(self) -> datetime:
        return check_clock_value(self._clock())

    def _check_open(self) -> None:
        if self._closed:
            msg = "the state store is closed"
            raise RuntimeError(msg)

    def _lookup(self, index: dict[_SideKey, str], key: _SideKey) -> Link | None:
        with self._lock:
            self._check_open()
            correlation_id = index.get(key)
            return None if correlation_id is None else self._links[correlation_id]

    def _check_unique(
        self, index: dict[_SideKey, str], link: Link, side_id: str | None, name: str
    ) -> None:
        if side_id is None:
            return
        holder = index.get((link.mailbox, link.entity, side_id))
        if holder is not None and holder != link.correlation_id:
            msg = f"another link of this mailbox and entity already has this {name}"
            raise StateStoreError(msg, operation="put_link", mailbox=link.mailbox)

    def _index(self, link: Link, *, is_new: bool) -> None:
        if link.crm_id is not None:
            key = (link.mailbox, link.entity, link.crm_id)
            self._set(self._by_crm, key, link.correlation_id)
        if link.ews_item_id is not None:
            key = (link.mailbox, link.entity, link.ews_item_id)
            self._set(self._by_ews, key, link.correlation_id)
        if is_new:
            ids = self._by_pair.setdefault((link.mailbox, link.entity), [])
            position = bisect.bisect_left(ids, link.correlation_id)
            ids.insert(position, link.correlation_id)
            self._record_undo(lambda: ids.remove(link.correlation_id))

    def _unindex(self, link: Link) -> None:
        if link.crm_id is not None:
            self._set(self._by_crm, (link.mailbox, link.entity, link.crm_id), None)
        if link.ews_item_id is not None:
            key = (link.mailbox, link.entity, link.ews_item_id)
            self._set(self._by_ews, key, None)

    def _remove_from_pair(self, link: Link) -> None:
        ids = self._by_pair[(link.mailbox, link.entity)]
        position = bisect.bisect_left(ids, link.correlation_id)
        del ids[position]
        self._record_undo(lambda: ids.insert(position, link.correlation_id))

    def _set(self, mapping: dict[K, V], key: K, value: V | None) -> None:
        """Set or (for ``None``) remove a key, recording how to undo it."""
        had = key in mapping
        previous = mapping.get(key)
        if value is None:
            mapping.pop(key, None)
        else:
            mapping[key] = value

        def undo() -> None:
            if had:
                mapping[key] = previous  # type: ignore[assignment]  # had implies V
            else:
                mapping.pop(key, None)

        self._record_undo(undo)

    def _record_undo(self, undo: Callable[[], object]) -> None:
        # Public writers always run inside transaction(), so there is always
        # a block that may need this to roll back.
        self._undo.append(undo)

    def _roll_back_to(self, mark: int) -> None:
        while len(self._undo) > mark:
            self._undo.pop()()
