"""The durable state store: one SQLite file, safe across threads and processes.

Durability comes from SQLite itself: WAL journaling, ``synchronous=FULL`` by
default (a committed transaction survives power loss), and ``BEGIN
IMMEDIATE`` for every write transaction so two writers never both read and
then both write. A process killed mid-transaction leaves nothing of it
behind; the next open rolls the write-ahead log back to the last commit.

Threads share one connection guarded by a re-entrant lock, so a transaction
opened by one thread makes the others wait. Processes (or store objects in
one process) use separate connections and queue on SQLite's own lock for up
to ``busy_timeout`` seconds.

Times are stored as integer microseconds since the Unix epoch (UTC), so
ordering and comparison in SQL are exact.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

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

__all__ = ["SQLiteStateStore", "Synchronous"]

#: Values accepted for ``PRAGMA synchronous``.
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

#: Rows fetched per query while iterating, bounding memory use.
BATCH_SIZE = 500

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# sqlite3 rows are untyped tuples; columns are converted where they are read.
_Row = tuple[Any, ...]

_LINK_COLUMNS = (
    "correlation_id",
    "mailbox",
    "entity",
    "state",
    "crm_id",
    "crm_version",
    "crm_hash",
    "ews_item_id",
    "ews_change_key",
    "ews_hash",
    "last_error_code",
    "last_error_text",
    "last_error_at",
    "retry_count",
    "next_attempt_at",
    "updated_at",
    "is_read_only",
)
_LINK_SELECT = f"SELECT {', '.join(_LINK_COLUMNS)} FROM links"  # noqa: S608 (constants)
_LINK_UPSERT = (
    f"INSERT INTO links ({', '.join(_LINK_COLUMNS)})"  # noqa: S608 (constants)
    f" VALUES ({', '.join('?' for _ in _LINK_COLUMNS)})"
    " ON CONFLICT (correlation_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _LINK_COLUMNS[1:])
)
_LINK_COUNT = "SELECT COUNT(*) FROM links WHERE mailbox = ? AND entity = ?"
_JOURNAL_COLUMNS = (
    "run_id, mailbox, entity, action, reason, outcome, at, crm_id, ews_item_id"
)
_JOURNAL_INSERT = (
    f"INSERT INTO journal ({_JOURNAL_COLUMNS})"  # noqa: S608 (constants)
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _schema_v1(connection: sqlite3.Connection) -> None:
    # links: one row per pair, identified by the correlation id that exists
    # before either side's create. A side's id is unique per mailbox and
    # entity once known (partial indexes: NULL while the create is pending).
    connection.execute(
        "CREATE TABLE links ("
        " correlation_id TEXT PRIMARY KEY, mailbox TEXT NOT NULL,"
        " entity TEXT NOT NULL, state TEXT NOT NULL,"
        " crm_id TEXT, crm_version TEXT, crm_hash TEXT,"
        " ews_item_id TEXT, ews_change_key TEXT, ews_hash TEXT,"
        " last_error_code TEXT, last_error_text TEXT, last_error_at INTEGER,"
        " retry_count INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER,"
        " updated_at INTEGER NOT NULL, is_read_only INTEGER NOT NULL DEFAULT 0)"
    )
    connection.execute(
        "CREATE UNIQUE INDEX links_crm ON links (mailbox, entity, crm_id)"
        " WHERE crm_id IS NOT NULL"
    )
    connection.execute(
        "CREATE UNIQUE INDEX links_ews ON links (mailbox, entity, ews_item_id)"
        " WHERE ews_item_id IS NOT NULL"
    )
    connection.execute(
        "CREATE INDEX links_pair ON links (mailbox, entity, correlation_id)"
    )
    connection.execute(
        "CREATE INDEX links_due ON links (next_attempt_at, correlation_id)"
        " WHERE state = 'parked' AND next_attempt_at IS NOT NULL"
    )
    connection.execute(
        "CREATE TABLE sync_states (mailbox TEXT NOT NULL, folder_key TEXT NOT NULL,"
        " sync_state TEXT NOT NULL, PRIMARY KEY (mailbox, folder_key))"
    )
    connection.execute(
        "CREATE TABLE crm_cursors (mailbox TEXT NOT NULL, entity TEXT NOT NULL,"
        " cursor TEXT NOT NULL, PRIMARY KEY (mailbox, entity))"
    )
    # journal: append-only by API and, as a second line of defence against
    # hand-written SQL, by triggers that abort any UPDATE or DELETE.
    connection.execute(
        "CREATE TABLE journal (sequence INTEGER PRIMARY KEY AUTOINCREMENT,"
        " run_id TEXT NOT NULL, mailbox TEXT NOT NULL, entity TEXT NOT NULL,"
        " action TEXT NOT NULL, reason TEXT NOT NULL, outcome TEXT NOT NULL,"
        " at INTEGER NOT NULL, crm_id TEXT, ews_item_id TEXT)"
    )
    connection.execute("CREATE INDEX journal_run ON journal (run_id, sequence)")
    connection.execute("CREATE INDEX journal_mailbox ON journal (mailbox, sequence)")
    for event in ("UPDATE", "DELETE"):
        connection.execute(
            f"CREATE TRIGGER journal_no_{event.lower()} BEFORE {event} ON journal"
            " BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END"
        )
    connection.execute(
        "CREATE TABLE leases (mailbox TEXT PRIMARY KEY, owner TEXT NOT NULL,"
        " expires_at INTEGER NOT NULL)"
    )


def _to_micros(value: datetime | None) -> int | None:
    if value is None:
        return None
    return (value - _EPOCH) // timedelta(microseconds=1)


def _from_micros(value: int | None) -> datetime | None:
    if value is None:
        return None
    return _EPOCH + timedelta(microseconds=value)


def _link_row(link: Link) -> tuple[object, ...]:
    return (
        link.correlation_id,
        link.mailbox,
        link.entity.value,
        link.state.value,
        link.crm_id,
        link.crm_version,
        link.crm_hash,
        link.ews_item_id,
        link.ews_change_key,
        link.ews_hash,
        link.last_error_code,
        link.last_error_text,
        _to_micros(link.last_error_at),
        link.retry_count,
        _to_micros(link.next_attempt_at),
        _to_micros(link.updated_at),
        int(link.is_read_only),
    )


def _link_from_row(row: _Row) -> Link:
    """Rebuild a link; a row that no longer validates is a store error."""
    values = dict(zip(_LINK_COLUMNS, row, strict=True))
    try:
        for name in ("last_error_at", "next_attempt_at", "updated_at"):
            values[name] = _from_micros(values[name])
        values["is_read_only"] = bool(values["is_read_only"])
        return Link(**values)
    except (TypeError, ValueError) as exc:
        msg = "a stored link is damaged"
        raise StateStoreError(msg, operation="read_link") from exc


def _in_clause(states: Collection[LinkState] | None) -> tuple[str, list[str]]:
    """Return an SQL filter on state and its parameters."""
    if states is None:
        return "", []
    values = sorted({LinkState(state).value for state in states})
    if not values:
        return " AND 0", []
    return f" AND state IN ({', '.join('?' for _ in values)})", values


class SQLiteStateStore:
    """A :class:`~crm_ews.sync.StateStore` in one SQLite database file.

    Open one per process (or per worker) and close it when done; it is also a
    context manager. Several processes may open the same file.

    Args:
        path: The database file; created with its schema when missing.
        clock: Returns the current aware time; stamps ``updated_at`` and
            decides lease expiry. Every process sharing a file should use
            a synchronised clock.
        synchronous: ``PRAGMA synchronous``. ``"FULL"`` (the default) makes a
            commit durable across power loss; ``"NORMAL"`` is faster and in
            WAL mode may lose the last commits on power loss, never
            consistency.
        busy_timeout: Seconds to wait for another connection's write lock
            before failing with :class:`~crm_ews.errors.StateStoreError`.

    Raises:
        StateStoreError: When the file cannot be opened, is not a state
            database, or has a newer schema than this code knows.
        ValueError: For an unknown ``synchronous`` or a negative timeout.

    Warning:
        Leases compare times from each process's clock. Workers on machines
        whose clocks disagree by more than a lease's margin can both believe
        they hold it; keep clocks synchronised (NTP) and leases long compared
        with the skew.
    """

    #: Schema steps: entry ``n`` upgrades a database from ``user_version``
    #: ``n`` to ``n + 1``, inside the opening transaction. To change the
    #: schema, append a step; never edit a released one.
    _migrations: ClassVar[tuple[Callable[[sqlite3.Connection], None], ...]] = (
        _schema_v1,
    )

    # Limitation: lease expiry compares each process's own clock. Workers on
    # machines whose clocks drift apart by more than a lease's remaining time
    # can both hold it and sync one mailbox twice at once. Keep clocks
    # synchronised (NTP) and leases long compared with the drift.

    # Limitation: the journal only grows; nothing in the API prunes it, and
    # triggers refuse DELETE. A long-lived deployment's file grows with every
    # run (a few hundred bytes per action). Operators who need retention
    # archive the file, or drop the trigger and delete old rows by hand.

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 5.0,
    ) -> None:
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            msg = f"unknown synchronous mode: {synchronous!r}"
            raise ValueError(msg)
        if busy_timeout < 0:
            msg = "busy_timeout must not be negative"
            raise ValueError(msg)

        self.path = os.fspath(path)
        self._clock = clock or utc_now
        self._lock = threading.RLock()
        self._depth = 0
        self._connection: sqlite3.Connection | None = None
        try:
            self._connection = sqlite3.connect(
                self.path,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute(f"PRAGMA synchronous={synchronous}")
            self._migrate()
        except (sqlite3.Error, StateStoreError) as exc:
            self.close()
            if isinstance(exc, StateStoreError):
                raise
            msg = "cannot open the state database"
            raise StateStoreError(msg, operation="open") from exc

    def __repr__(self) -> str:
        return f"SQLiteStateStore({self.path!r})"

    def __enter__(self) -> SQLiteStateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The schema version this code writes (``PRAGMA user_version``)."""
        return len(self._migrations)

    def close(self) -> None:
        """Close the connection; an open transaction is rolled back. Idempotent."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically; nested blocks are savepoints.

        The outermost block starts with ``BEGIN IMMEDIATE``, taking the
        database's write lock at once (waiting up to ``busy_timeout``).
        """
        with self._lock:
            connection = self._open_connection()
            depth = self._depth
            savepoint = f"crm_ews_{depth}"
            self._execute(
                connection,
                "BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}",
            )
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                self._undo(connection, depth, savepoint)
                raise
            self._depth -= 1
            try:
                connection.execute("COMMIT" if depth == 0 else f"RELEASE {savepoint}")
            except sqlite3.Error as exc:
                self._undo(connection, depth, savepoint)
                msg = "the state store could not commit"
                raise StateStoreError(msg, operation="commit") from exc

    def put_link(self, link: Link) -> Link:
        """Insert or replace a link; see :meth:`StateStore.put_link`."""
        if not isinstance(link, Link):
            msg = f"expected a Link, got {type(link).__name__}"
            raise TypeError(msg)
        stored = dataclasses.replace(link, updated_at=self._now())

        with self.transaction():
            connection = self._open_connection()
            old = self._execute(
                connection,
                "SELECT mailbox, entity FROM links WHERE correlation_id = ?",
                (link.correlation_id,),
            ).fetchone()
            if old is not None and tuple(old) != (link.mailbox, link.entity.value):
                msg = "a link's mailbox and entity never change"
                raise ValueError(msg)
            try:
                connection.execute(_LINK_UPSERT, _link_row(stored))
            except sqlite3.IntegrityError as exc:
                msg = "another link of this mailbox and entity has the same side id"
                raise StateStoreError(
                    msg, operation="put_link", mailbox=link.mailbox
                ) from exc
            except sqlite3.Error as exc:
                msg = "the state store could not write a link"
                raise StateStoreError(
                    msg, operation="put_link", mailbox=link.mailbox
                ) from exc

        return stored

    def delete_link(self, correlation_id: str) -> bool:
        """Forget a link; see :meth:`StateStore.delete_link`."""
        with self.transaction():
            cursor = self._execute(
                self._open_connection(),
                "DELETE FROM links WHERE correlation_id = ?",
                (correlation_id,),
            )

        return cursor.rowcount > 0

    def get_link_by_crm_id(
        self, mailbox: str, entity: EntityType, crm_id: str
    ) -> Link | None:
        """Return the link holding this CRM id, or ``None``."""
        return self._one_link(
            " WHERE mailbox = ? AND entity = ? AND crm_id = ?",
            (mailbox, EntityType(entity).value, crm_id),
        )

    def get_link_by_ews_id(
        self, mailbox: str, entity: EntityType, ews_item_id: str
    ) -> Link | None:
        """Return the link holding this Exchange item id, or ``None``."""
        return self._one_link(
            " WHERE mailbox = ? AND entity = ? AND ews_item_id = ?",
            (mailbox, EntityType(entity).value, ews_item_id),
        )

    def get_link_by_correlation_id(self, correlation_id: str) -> Link | None:
        """Return the link with this correlation id, or ``None``."""
        return self._one_link(" WHERE correlation_id = ?", (correlation_id,))

    def iter_links(
        self,
        mailbox: str,
        entity: EntityType,
        *,
        states: Collection[LinkState] | None = None,
    ) -> Iterator[Link]:
        """Yield one mailbox's links of one entity type, in batches."""
        state_filter, state_values = _in_clause(states)
        where = (
            f" WHERE mailbox = ? AND entity = ? AND correlation_id > ?{state_filter}"
        )
        sql = f"{_LINK_SELECT}{where} ORDER BY correlation_id LIMIT {BATCH_SIZE}"
        after = ""
        while True:
            # Keyset paging: each batch is a fresh, fully fetched query, so
            # no statement stays open between batches and the caller may
            # write (even commit) while iterating.
            rows = self._fetch(
                sql, (mailbox, EntityType(entity).value, after, *state_values)
            )
            for row in rows:
                yield _link_from_row(row)
            if len(rows) < BATCH_SIZE:
                return
            after = rows[-1][0]

    def iter_due_links(
        self,
        *,
        now: datetime | None = None,
        mailbox: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Link]:
        """Yield parked links that are due; see :meth:`StateStore.iter_due_links`."""
        moment = _to_micros(self._now() if now is None else check_clock_value(now))
        mailbox_filter = "" if mailbox is None else " AND mailbox = ?"
        sql = (
            f"{_LINK_SELECT} WHERE state = 'parked' AND next_attempt_at IS NOT NULL"
            f" AND next_attempt_at <= ?{mailbox_filter}"
            " AND (next_attempt_at, correlation_id) > (?, ?)"
            f" ORDER BY next_attempt_at, correlation_id LIMIT {BATCH_SIZE}"
        )
        remaining = limit
        after: tuple[int, str] = (-(2**62), "")
        while remaining is None or remaining > 0:
            extra = () if mailbox is None else (mailbox,)
            rows = self._fetch(sql, (moment, *extra, *after))
            for row in rows[:remaining]:
                yield _link_from_row(row)
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < BATCH_SIZE:
                return
            after = (rows[-1][14], rows[-1][0])

    def count_links(
        self,
        mailbox: str,
        entity: EntityType,
        *,
        states: Collection[LinkState] | None = None,
    ) -> int:
        """Count one mailbox's links of one entity type."""
        state_filter, state_values = _in_clause(states)
        rows = self._fetch(
            _LINK_COUNT + state_filter,
            (mailbox, EntityType(entity).value, *state_values),
        )

        return int(rows[0][0])

    def get_sync_state(self, mailbox: str, folder_key: str) -> str | None:
        """Return a folder's checkpointed SyncState, or ``None``."""
        rows = self._fetch(
            "SELECT sync_state FROM sync_states WHERE mailbox = ? AND folder_key = ?",
            (mailbox, folder_key),
        )

        return str(rows[0][0]) if rows else None

    def set_sync_state(
        self, mailbox: str, folder_key: str, sync_state: str | None
    ) -> None:
        """Checkpoint a folder's SyncState; ``None`` clears it."""
        check_key_part(mailbox, "mailbox")
        check_key_part(folder_key, "folder_key")
        if sync_state is None:
            sql = "DELETE FROM sync_states WHERE mailbox = ? AND folder_key = ?"
            self._write(sql, (mailbox, folder_key))
            return

        self._write(
            "INSERT INTO sync_states VALUES (?, ?, ?) ON CONFLICT (mailbox, folder_key)"
            " DO UPDATE SET sync_state = excluded.sync_state",
            (mailbox, folder_key, sync_state),
        )

    def get_crm_cursor(self, mailbox: str, entity: EntityType) -> str | None:
        """Return an entity's checkpointed CRM cursor, or ``None``."""
        rows = self._fetch(
            "SELECT cursor FROM crm_cursors WHERE mailbox = ? AND entity = ?",
            (mailbox, EntityType(entity).value),
        )

        return str(rows[0][0]) if rows else None

    def set_crm_cursor(
        self, mailbox: str, entity: EntityType, cursor: str | None
    ) -> None:
        """Checkpoint an entity's CRM cursor; ``None`` clears it."""
        check_key_part(mailbox, "mailbox")
        key = (mailbox, EntityType(entity).value)
        if cursor is None:
            self._write("DELETE FROM crm_cursors WHERE mailbox = ? AND entity = ?", key)
            return

        self._write(
            "INSERT INTO crm_cursors VALUES (?, ?, ?) ON CONFLICT (mailbox, entity)"
            " DO UPDATE SET cursor = excluded.cursor",
            (*key, cursor),
        )

    def append_journal(self, entry: JournalEntry) -> None:
        """Append one journal entry."""
        if not isinstance(entry, JournalEntry):
            msg = f"expected a JournalEntry, got {type(entry).__name__}"
            raise TypeError(msg)

        self._write(
            _JOURNAL_INSERT,
            (
                entry.run_id,
                entry.mailbox,
                entry.entity.value,
                entry.action,
                entry.reason,
                entry.outcome,
                _to_micros(entry.at),
                entry.crm_id,
                entry.ews_item_id,
            ),
        )

    def iter_journal(
        self, *, run_id: str | None = None, mailbox: str | None = None
    ) -> Iterator[JournalEntry]:
        """Yield journal entries in append order, in batches."""
        filters = "".join(
            clause
            for clause, value in (
                (" AND run_id = ?", run_id),
                (" AND mailbox = ?", mailbox),
            )
            if value is not None
        )
        values = tuple(value for value in (run_id, mailbox) if value is not None)
        sql = (
            f"SELECT sequence, {_JOURNAL_COLUMNS} FROM journal"  # noqa: S608 (constants)
            f" WHERE sequence > ?{filters} ORDER BY sequence LIMIT {BATCH_SIZE}"
        )
        after = 0
        while True:
            rows = self._fetch(sql, (after, *values))
            for row in rows:
                yield _journal_from_row(row)
            if len(rows) < BATCH_SIZE:
                return
            after = rows[-1][0]

    def acquire_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        """Take, take over or renew a mailbox's lease."""
        check_lease_args(mailbox, owner, ttl_seconds)
        with self.transaction():
            now = self._now()
            current = self._current_lease(mailbox)
            if (
                current is not None
                and current.owner != owner
                and current.expires_at > now
            ):
                return False
            self._put_lease(mailbox, owner, now + timedelta(seconds=ttl_seconds))

        return True

    def renew_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        """Extend the owner's lease; ``False`` when it is not theirs."""
        check_lease_args(mailbox, owner, ttl_seconds)
        with self.transaction():
            current = self._current_lease(mailbox)
            if current is None or current.owner != owner:
                return False
            self._put_lease(
                mailbox, owner, self._now() + timedelta(seconds=ttl_seconds)
            )

        return True

    def release_lease(self, mailbox: str, owner: str) -> bool:
        """Give up the owner's lease; ``False`` when it was not theirs."""
        check_key_part(owner, "owner")
        with self.transaction():
            cursor = self._execute(
                self._open_connection(),
                "DELETE FROM leases WHERE mailbox = ? AND owner = ?",
                (mailbox, owner),
            )

        return cursor.rowcount > 0

    def get_lease(self, mailbox: str) -> Lease | None:
        """Return the unexpired lease on a mailbox, or ``None``."""
        with self._lock:
            current = self._current_lease(mailbox)

        if current is None or current.expires_at <= self._now():
            return None
        return current

    def _now(self) -> datetime:
        return check_clock_value(self._clock())

    def _open_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            msg = "the state store is closed"
            raise RuntimeError(msg)
        return self._connection

    def _execute(
        self,
        connection: sqlite3.Connection,
        sql: str,
        parameters: tuple[object, ...] = (),
    ) -> sqlite3.Cursor:
        """Run one statement, turning driver errors into StateStoreError."""
        try:
            return connection.execute(sql, parameters)
        except sqlite3.Error as exc:
            msg = "the state store failed"
            raise StateStoreError(msg, operation=sql.split(" ", 1)[0].lower()) from exc

    def _fetch(self, sql: str, parameters: tuple[object, ...]) -> list[_Row]:
        with self._lock:
            connection = self._open_connection()
            return list(self._execute(connection, sql, parameters).fetchall())

    def _write(self, sql: str, parameters: tuple[object, ...]) -> None:
        with self.transaction():
            self._execute(self._open_connection(), sql, parameters)

    def _one_link(self, where: str, parameters: tuple[object, ...]) -> Link | None:
        rows = self._fetch(f"{_LINK_SELECT}{where}", parameters)
        return _link_from_row(rows[0]) if rows else None

    def _current_lease(self, mailbox: str) -> Lease | None:
        rows = self._fetch(
            "SELECT owner, expires_at FROM leases WHERE mailbox = ?", (mailbox,)
        )
        if not rows:
            return None
        owner, expires_at = rows[0]
        return Lease(mailbox, owner, _EPOCH + timedelta(microseconds=expires_at))

    def _put_lease(self, mailbox: str, owner: str, expires_at: datetime) -> None:
        self._execute(
            self._open_connection(),
            "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT (mailbox)"
            " DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at",
            (mailbox, owner, _to_micros(expires_at)),
        )

    def _undo(self, connection: sqlite3.Connection, depth: int, savepoint: str) -> None:
        """Roll back the block that just failed: all of it, or to its savepoint."""
        try:
            if depth == 0:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
            else:
                connection.execute(f"ROLLBACK TO {savepoint}")
                connection.execute(f"RELEASE {savepoint}")
        except sqlite3.Error as exc:
            msg = "the state store could not roll back"
            raise StateStoreError(msg, operation="rollback") from exc

    def _migrate(self) -> None:
        with self.transaction():
            connection = self._open_connection()
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            target = self.schema_version
            if version > target:
                msg = (
                    f"the state database has schema {version}; "
                    f"this crm_ews knows up to {target}"
                )
                raise StateStoreError(msg, operation="open")
            for step in self._migrations[version:]:
                step(connection)
            connection.execute(f"PRAGMA user_version = {target}")


def _journal_from_row(row: _Row) -> JournalEntry:
    _, run_id, mailbox, entity, action, reason, outcome, at, crm_id, ews_id = row
    try:
        return JournalEntry(
            run_id=run_id,
            mailbox=mailbox,
            entity=entity,
            action=action,
            reason=reason,
            outcome=outcome,
            at=_EPOCH + timedelta(microseconds=at),
            crm_id=crm_id,
            ews_item_id=ews_id,
        )
    except (TypeError, ValueError) as exc:
        msg = "a stored journal entry is damaged"
        raise StateStoreError(msg, operation="read_journal") from exc
