"""A small CRM in one SQLite file: the durable reference adapter.

One table per entity type holds every owner's records, one row per record
and owner. Each write draws the next number from a database-wide sequence
inside a ``BEGIN IMMEDIATE`` transaction, so sequence numbers commit in
order and a change cursor ("everything after number N") never skips a
write, even with several processes on the same file. A record's version is
the number of its last write; deletions keep the row as a tombstone.

Only the standard library's :mod:`sqlite3` is used.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Generic, Literal, overload

from pydantic import ValidationError

from crm_ews.errors import (
    RecordNotFoundError,
    RecordVersionConflictError,
    RepositoryError,
)
from crm_ews.repository._base import ChangeSet, CRMRepository, R
from crm_ews.repository._checks import (
    FULL_LISTING_PREFIX,
    check_key,
    check_mailbox,
    check_record,
    parse_listing_cursor,
    parse_sequence_cursor,
)
from crm_ews.repository._records import (
    Appointment,
    Contact,
    CRMRecord,
    EntityType,
    Task,
    record_type,
)
from crm_ews.repository._sample import (
    sample_appointments,
    sample_contacts,
    sample_tasks,
)

__all__ = [
    "SQLiteAppointmentRepository",
    "SQLiteCRM",
    "SQLiteContactRepository",
    "SQLiteRepository",
    "SQLiteTaskRepository",
    "SampleData",
]

#: Schema version kept in ``PRAGMA user_version``.
SCHEMA_VERSION = 1

#: Records per page that list_changes returns unless told otherwise.
DEFAULT_PAGE_SIZE = 500

_TABLES: dict[EntityType, str] = {
    EntityType.APPOINTMENT: "appointments",
    EntityType.CONTACT: "contacts",
    EntityType.TASK: "tasks",
}

Selector = Callable[[str, CRMRecord], bool]

_COLUMNS = "id, version, sequence, is_deleted, fields"


@dataclass(frozen=True, slots=True)
class _Statements:
    """The SQL for one entity table, built once.

    Table names come from ``_TABLES`` only, never from input, hence the
    ``noqa: S608`` marks below.
    """

    changes: str
    changes_live: str
    by_id: str
    by_key: str
    insert: str
    update: str
    delete: str
    version: str
    live: str
    listing: str

    @classmethod
    def for_table(cls, table: str) -> _Statements:
        select = f"SELECT {_COLUMNS} FROM {table} WHERE mailbox = ?"  # noqa: S608
        changes = f"{select} AND sequence > ? ORDER BY sequence LIMIT ?"
        live = f"{select} AND is_deleted = 0"

        return cls(
            changes=changes,
            changes_live=changes.replace("ORDER BY", "AND is_deleted = 0 ORDER BY"),
            by_id=f"{live} AND id = ?",
            by_key=f"{select} AND idempotency_key = ?",
            insert=(
                f"INSERT INTO {table} (mailbox, id, version, sequence,"  # noqa: S608
                " idempotency_key, fields) VALUES (?, ?, ?, ?, ?, ?)"
            ),
            update=(
                f"UPDATE {table} SET version = ?, sequence = ?, fields = ?"  # noqa: S608
                " WHERE mailbox = ? AND id = ?"
            ),
            delete=(
                f"UPDATE {table} SET version = ?, sequence = ?,"  # noqa: S608
                " is_deleted = 1 WHERE mailbox = ? AND id = ?"
            ),
            version=(
                f"SELECT version FROM {table} WHERE mailbox = ?"  # noqa: S608
                " AND id = ? AND is_deleted = 0"
            ),
            live=f"{live} ORDER BY id",
            listing=f"{live} AND id > ? ORDER BY id LIMIT ?",
        )


def _create_schema(connection: sqlite3.Connection) -> None:
    connection.execute(
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
    )
    connection.execute("INSERT INTO counters VALUES ('sequence', 0)")
    for table in _TABLES.values():
        # fields: the record as JSON without id and version. sequence: the
        # number of the row's last write (its version is the same number as
        # text). is_deleted rows are tombstones kept for change listings.
        connection.execute(
            f"CREATE TABLE {table} ("
            "mailbox TEXT NOT NULL, id TEXT NOT NULL, version TEXT NOT NULL,"
            " sequence INTEGER NOT NULL, is_deleted INTEGER NOT NULL DEFAULT 0,"
            " idempotency_key TEXT, fields TEXT NOT NULL,"
            " PRIMARY KEY (mailbox, id))"
        )
        connection.execute(
            f"CREATE UNIQUE INDEX {table}_idempotency ON {table} "
            "(mailbox, idempotency_key) WHERE idempotency_key IS NOT NULL"
        )
        connection.execute(
            f"CREATE INDEX {table}_changes ON {table} (mailbox, sequence)"
        )


#: Schema steps: entry ``n`` upgrades a database from user_version ``n`` to
#: ``n + 1``. Add a step and raise SCHEMA_VERSION to change the schema.
_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_create_schema,)


def _is_transient(exc: sqlite3.Error) -> bool:
    """Locked or busy databases clear up; anything else needs a person."""
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc).lower() for word in ("locked", "busy")
    )


@dataclass(frozen=True, slots=True)
class SampleData:
    """The records :meth:`SQLiteCRM.seed_sample` stored for one owner."""

    appointments: tuple[Appointment, ...]
    contacts: tuple[Contact, ...]
    tasks: tuple[Task, ...]


class SQLiteCRM:
    """A CRM in one SQLite database file, for demos and adapter authors.

    Threads share one connection, serialised by a lock; several processes may
    open the same file, and SQLite's locking (WAL, ``BEGIN IMMEDIATE``, a
    busy timeout) keeps them consistent. Close it, or use it as a context
    manager.

    Args:
        path: The database file; created with its schema if missing.
        selectors: Per entity type, a predicate ``(mailbox, record) -> bool``
            the repositories' ``belongs_to`` answers with.
        page_size: The most records one ``list_changes`` page holds.
        busy_timeout: Seconds to wait for another process's write lock.

    Raises:
        RepositoryError: When the file cannot be opened or is not a CRM
            database of a version this code knows.
        ValueError: For a page size below 1 or a negative busy timeout.
    """

    # Limitation: deleted records stay as tombstones forever, so change
    # cursors never expire but the file grows with every deletion. Fine for
    # demos; a real adapter prunes tombstones older than its oldest cursor and
    # answers older cursors with a full listing.

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        selectors: Mapping[EntityType, Selector] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        busy_timeout: float = 5.0,
    ) -> None:
        if page_size < 1:
            msg = "page_size must be at least 1"
            raise ValueError(msg)
        if busy_timeout < 0:
            msg = "busy_timeout must not be negative"
            raise ValueError(msg)

        self.path = os.fspath(path)
        self.page_size = page_size
        self._selectors = dict(selectors or {})
        self._lock = threading.RLock()
        self._repositories: dict[EntityType, SQLiteRepository[CRMRecord]] = {}
        try:
            self._connection: sqlite3.Connection | None = sqlite3.connect(
                self.path,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.Error as exc:
            self.close()
            msg = "cannot open the CRM database"
            raise RepositoryError(msg, is_transient=_is_transient(exc)) from exc

    def __repr__(self) -> str:
        return f"SQLiteCRM({self.path!r})"

    def __enter__(self) -> SQLiteCRM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database; the repositories stop working. Idempotent."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @overload
    def repository(
        self, entity: Literal[EntityType.APPOINTMENT]
    ) -> SQLiteRepository[Appointment]: ...

    @overload
    def repository(
        self, entity: Literal[EntityType.CONTACT]
    ) -> SQLiteRepository[Contact]: ...

    @overload
    def repository(
        self, entity: Literal[EntityType.TASK]
    ) -> SQLiteRepository[Task]: ...

    @overload
    def repository(self, entity: EntityType) -> SQLiteRepository[Any]: ...

    def repository(self, entity: EntityType) -> SQLiteRepository[Any]:
        """Return the repository for one entity type (the same object each time).

        Args:
            entity: Which entity type.

        Returns:
            A :class:`SQLiteRepository` backed by this database.
        """
        entity = EntityType(entity)
        with self._lock:
            if entity not in self._repositories:
                cls = _REPOSITORY_CLASSES[entity]
                self._repositories[entity] = cls(self, self._selectors.get(entity))

            return self._repositories[entity]

    def seed_sample(
        self, mailbox: str, n: int, seed: int, *, anchor: date | None = None
    ) -> SampleData:
        """Store ``n`` deterministic sample records of each entity type.

        The appointments include a weekly series and an all-day event. Each
        record is created under an idempotency key made from ``seed`` and its
        position, so seeding again with the same seed stores nothing new and
        returns the records already there (records deleted since are left
        out).

        Args:
            mailbox: The owner's mailbox.
            n: How many records of each type; at least 2 for both special
                appointments.
            seed: Seed for the pseudo-random content.
            anchor: The day the schedule is built around; today (UTC) when
                ``None``. The same seed and anchor give the same content.

        Returns:
            The stored records with ids and versions.

        Raises:
            ValueError: For a negative ``n`` or an empty mailbox.
            RepositoryError: When the database fails.
        """
        if n < 0:
            msg = "n must not be negative"
            raise ValueError(msg)
        check_mailbox(mailbox)
        day = anchor if anchor is not None else datetime.now(UTC).date()

        return SampleData(
            appointments=self._seed(
                self.repository(EntityType.APPOINTMENT),
                mailbox,
                seed,
                sample_appointments(n, seed=seed, anchor=day),
            ),
            contacts=self._seed(
                self.repository(EntityType.CONTACT),
                mailbox,
                seed,
                sample_contacts(n, seed=seed),
            ),
            tasks=self._seed(
                self.repository(EntityType.TASK),
                mailbox,
                seed,
                sample_tasks(n, seed=seed, anchor=day),
            ),
        )

    @staticmethod
    def _seed(
        repository: SQLiteRepository[R], mailbox: str, seed: int, records: list[R]
    ) -> tuple[R, ...]:
        stored: list[R] = []
        for index, record in enumerate(records):
            key = f"sample:{seed}:{repository.entity}:{index}"
            try:
                stored.append(repository.create(mailbox, record, idempotency_key=key))
            except RecordNotFoundError:
                continue

        return tuple(stored)

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one SQLite transaction; translate driver errors."""
        with self._lock:
            connection = self._connection
            if connection is None:
                msg = "the CRM database is closed"
                raise RuntimeError(msg)
            try:
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield connection
                except BaseException:
                    connection.rollback()
                    raise
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                if connection.in_transaction:
                    connection.rollback()
                msg = "the CRM database failed"
                raise RepositoryError(msg, is_transient=_is_transient(exc)) from exc

    def _migrate(self) -> None:
        with self._transaction(write=True) as connection:
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                msg = (
                    f"the CRM database has schema {version}; "
                    f"this crm_ews knows up to {SCHEMA_VERSION}"
                )
                raise RepositoryError(msg)
            for step in _MIGRATIONS[version:SCHEMA_VERSION]:
                step(connection)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class SQLiteRepository(CRMRepository[R], Generic[R]):
    """One entity type of a :class:`SQLiteCRM`; get it from ``crm.repository()``.

    Safe to share between threads (the database serialises calls).
    """

    def __init__(self, crm: SQLiteCRM, selector: Selector | None = None) -> None:
        self._crm = crm
        self._selector = selector
        self._sql = _STATEMENTS[self.entity]
        self._record_type = record_type(self.entity)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._crm.path!r})"

    def list_changes(self, mailbox: str, cursor: str | None) -> ChangeSet[R]:
        """Return the next page of changes; see :meth:`CRMRepository.list_changes`."""
        check_mailbox(mailbox)
        if not self.supports_change_tracking:
            return self._full_listing(mailbox, cursor)

        after = parse_sequence_cursor(cursor)
        limit = self._crm.page_size
        with self._crm._transaction(write=False) as connection:
            rows = connection.execute(
                self._sql.changes_live if cursor is None else self._sql.changes,
                (mailbox, after, limit + 1),
            ).fetchall()
            # Read in the same snapshot as the rows, so no write can slip in
            # between the last row and the cursor that claims to cover it.
            (high_water,) = connection.execute(
                "SELECT value FROM counters WHERE name = 'sequence'"
            ).fetchone()

        has_more = len(rows) > limit
        page = rows[:limit]
        next_sequence = page[-1][2] if has_more else max(high_water, after)

        return ChangeSet(
            changed=tuple(self._load(row) for row in page if not row[3]),
            deleted=tuple(row[0] for row in page if row[3]),
            next_cursor=str(next_sequence),
            has_more=has_more,
        )

    def get(self, mailbox: str, record_id: str) -> R | None:
        """Return the live record or ``None``; see :meth:`CRMRepository.get`."""
        check_mailbox(mailbox)
        with self._crm._transaction(write=False) as connection:
            row = connection.execute(self._sql.by_id, (mailbox, record_id)).fetchone()

        return None if row is None else self._load(row)

    def create(self, mailbox: str, record: R, *, idempotency_key: str) -> R:
        """Create at most once per key; see :meth:`CRMRepository.create`."""
        check_mailbox(mailbox)
        check_record(self.entity, record)
        check_key(idempotency_key)
        if record.id is not None:
            msg = "a record to create must not have an id yet"
            raise ValueError(msg)

        with self._crm._transaction(write=True) as connection:
            row = connection.execute(
                self._sql.by_key, (mailbox, idempotency_key)
            ).fetchone()
            if row is not None:
                if row[3]:
                    msg = "the record created under this idempotency key was deleted"
                    raise RecordNotFoundError(msg, operation="create", mailbox=mailbox)
                return self._load(row)

            sequence = _next_sequence(connection)
            stored = record.with_identity(uuid.uuid4().hex, str(sequence))
            connection.execute(
                self._sql.insert,
                (
                    mailbox,
                    stored.id,
                    stored.version,
                    sequence,
                    idempotency_key,
                    _dump(stored),
                ),
            )

        return stored

    def update(self, mailbox: str, record: R, *, expected_version: str) -> R:
        """Update if unchanged; see :meth:`CRMRepository.update`."""
        check_mailbox(mailbox)
        check_record(self.entity, record)
        if record.id is None:
            msg = "a record to update needs its id"
            raise ValueError(msg)

        with self._crm._transaction(write=True) as connection:
            self._check_live(connection, mailbox, record.id, expected_version, "update")
            sequence = _next_sequence(connection)
            stored = record.with_identity(record.id, str(sequence))
            connection.execute(
                self._sql.update,
                (stored.version, sequence, _dump(stored), mailbox, record.id),
            )

        return stored

    def delete(
        self, mailbox: str, record_id: str, *, expected_version: str | None = None
    ) -> None:
        """Delete a record; see :meth:`CRMRepository.delete`."""
        check_mailbox(mailbox)
        with self._crm._transaction(write=True) as connection:
            self._check_live(connection, mailbox, record_id, expected_version, "delete")
            sequence = _next_sequence(connection)
            connection.execute(
                self._sql.delete,
                (str(sequence), sequence, mailbox, record_id),
            )

    def belongs_to(self, mailbox: str, record: R) -> bool:
        """Answer with the selector given to :class:`SQLiteCRM`, else ``True``."""
        return True if self._selector is None else self._selector(mailbox, record)

    def records(self, mailbox: str) -> list[R]:
        """Return the owner's live records, ordered by id.

        Args:
            mailbox: The owner's mailbox.

        Returns:
            A new list.
        """
        with self._crm._transaction(write=False) as connection:
            rows = connection.execute(self._sql.live, (mailbox,)).fetchall()

        return [self._load(row) for row in rows]

    def _full_listing(self, mailbox: str, cursor: str | None) -> ChangeSet[R]:
        after = parse_listing_cursor(cursor) or ""
        limit = self._crm.page_size
        with self._crm._transaction(write=False) as connection:
            rows = connection.execute(
                self._sql.listing, (mailbox, after, limit + 1)
            ).fetchall()

        has_more = len(rows) > limit
        page = rows[:limit]

        return ChangeSet(
            changed=tuple(self._load(row) for row in page),
            next_cursor=f"{FULL_LISTING_PREFIX}{page[-1][0]}" if has_more else None,
            is_full_listing=True,
            has_more=has_more,
        )

    def _check_live(
        self,
        connection: sqlite3.Connection,
        mailbox: str,
        record_id: str,
        expected_version: str | None,
        step: str,
    ) -> None:
        row = connection.execute(self._sql.version, (mailbox, record_id)).fetchone()
        if row is None:
            msg = "no such record"
            raise RecordNotFoundError(msg, operation=step, mailbox=mailbox)
        if expected_version is not None and row[0] != expected_version:
            msg = "the record changed since it was read"
            raise RecordVersionConflictError(
                msg, current_version=row[0], operation=step, mailbox=mailbox
            )

    def _load(self, row: tuple[str, str, int, int, str]) -> R:
        """Rebuild a record from its row; a damaged row is a repository error."""
        record_id, version, _, _, fields = row
        try:
            data = json.loads(fields)
            data.update(id=record_id, version=version)
            record = self._record_type.model_validate(data)
        except (ValueError, ValidationError, AttributeError) as exc:
            msg = "a stored record could not be read back"
            raise RepositoryError(msg) from exc

        return record  # type: ignore[return-value]  # record_type(self.entity) is R


def _next_sequence(connection: sqlite3.Connection) -> int:
    connection.execute("UPDATE counters SET value = value + 1 WHERE name = 'sequence'")
    (value,) = connection.execute(
        "SELECT value FROM counters WHERE name = 'sequence'"
    ).fetchone()

    return int(value)


def _dump(record: CRMRecord) -> str:
    return record.model_dump_json(exclude={"id", "version"})


class SQLiteAppointmentRepository(SQLiteRepository[Appointment]):
    """Appointments of a :class:`SQLiteCRM`."""

    entity: ClassVar[EntityType] = EntityType.APPOINTMENT


class SQLiteContactRepository(SQLiteRepository[Contact]):
    """Contacts of a :class:`SQLiteCRM`."""

    entity: ClassVar[EntityType] = EntityType.CONTACT


class SQLiteTaskRepository(SQLiteRepository[Task]):
    """Tasks of a :class:`SQLiteCRM`."""

    entity: ClassVar[EntityType] = EntityType.TASK


_STATEMENTS = {
    entity: _Statements.for_table(table) for entity, table in _TABLES.items()
}

_REPOSITORY_CLASSES: dict[EntityType, type[SQLiteRepository[CRMRecord]]] = {
    EntityType.APPOINTMENT: SQLiteAppointmentRepository,  # type: ignore[dict-item]
    EntityType.CONTACT: SQLiteContactRepository,  # type: ignore[dict-item]
    EntityType.TASK: SQLiteTaskRepository,  # type: ignore[dict-item]
}
