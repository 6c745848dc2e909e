"""Durability, concurrency and schema handling of the SQLite state store."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm_ews.errors import StateStoreError
from crm_ews.repository import EntityType
from crm_ews.sync import JournalEntry, Link, LinkState, SQLiteStateStore
from crm_ews.sync._store_sqlite import _LINK_UPSERT, _link_row

MAILBOX = "owner@example.com"
CONTACT = EntityType.CONTACT
T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)

#: Links the crash child writes: enough that SQLite spills pages to the
#: write-ahead log before the (never reached) commit.
CRASH_LINKS = 8000

CHILD = """
import sys
from crm_ews.repository import EntityType
from crm_ews.sync import Link, LinkState, SQLiteStateStore

path, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = SQLiteStateStore(path)
block = store.transaction()
block.__enter__()
for index in range(count):
    store.put_link(Link(
        "owner@example.com", EntityType.CONTACT, LinkState.LINKED,
        crm_id=f"c{index}", ews_item_id="AAMk" + str(index).rjust(300, "0"),
    ))
store.set_crm_cursor("owner@example.com", EntityType.CONTACT, "cursor")
if mode == "commit":
    block.__exit__(None, None, None)
print("ready", flush=True)
sys.stdin.read()
"""


def _linked(index: int) -> Link:
    return Link(
        MAILBOX,
        CONTACT,
        LinkState.LINKED,
        crm_id=f"c{index}",
        ews_item_id=f"e{index}",
        updated_at=T0,
    )


def _kill_child_after_ready(path: Path, mode: str) -> None:
    """Run the child until it reports ready, then SIGKILL it."""
    command = [sys.executable, "-c", CHILD, str(path), mode, str(CRASH_LINKS)]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "ready\n", f"child did not get ready: {line!r}"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "expected"), [("hold", 0), ("commit", CRASH_LINKS)])
def test_killed_writer_leaves_all_or_nothing(
    tmp_path: Path, mode: str, expected: int
) -> None:
    """SIGKILL mid-transaction loses all of it; after commit, none of it."""
    path = tmp_path / "state.db"

    _kill_child_after_ready(path, mode)
    wal_bytes = Path(f"{path}-wal").stat().st_size

    with SQLiteStateStore(path) as store:
        count = store.count_links(MAILBOX, CONTACT)
        cursor = store.get_crm_cursor(MAILBOX, CONTACT)
        store.put_link(_linked(CRASH_LINKS + 1))
        assert store.count_links(MAILBOX, CONTACT) == count + 1
    connection = sqlite3.connect(path)
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()

    # The killed transaction had spilled megabytes of pages into the log, so
    # recovery really had uncommitted frames to discard.
    assert wal_bytes > 1024 * 1024
    assert count == expected
    assert cursor == (None if expected == 0 else "cursor")
    assert integrity == "ok"


@pytest.mark.slow
def test_iterating_100k_links_keeps_memory_flat(tmp_path: Path) -> None:
    """iter_links over 100,000 links never holds more than a few batches."""
    total = 100_000
    with SQLiteStateStore(tmp_path / "state.db", synchronous="OFF") as store:
        connection = store._connection
        assert connection is not None
        with store.transaction():
            connection.executemany(
                _LINK_UPSERT, (_link_row(_linked(index)) for index in range(total))
            )

        tracemalloc.start()
        try:
            seen = sum(1 for _ in store.iter_links(MAILBOX, CONTACT))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert seen == total
    # Holding all 100k links costs about 80 MB; a few batches stay far below.
    assert peak < 8 * 1024 * 1024


def test_state_survives_reopening(tmp_path: Path) -> None:
    """Links, checkpoints, journal and lease are read back after reopening."""
    path = tmp_path / "state.db"
    with SQLiteStateStore(path, clock=lambda: T0) as store:
        link = store.put_link(_linked(1))
        store.set_sync_state(MAILBOX, "calendar", "state-1")
        store.set_crm_cursor(MAILBOX, CONTACT, "cursor-1")
        entry = JournalEntry("run", MAILBOX, CONTACT, "create", "new", "ok", T0)
        store.append_journal(entry)
        store.acquire_lease(MAILBOX, "worker", 60)

    with SQLiteStateStore(path, clock=lambda: T0) as store:
        assert store.get_link_by_correlation_id(link.correlation_id) == link
        assert store.get_sync_state(MAILBOX, "calendar") == "state-1"
        assert store.get_crm_cursor(MAILBOX, CONTACT) == "cursor-1"
        assert list(store.iter_journal()) == [entry]
        lease = store.get_lease(MAILBOX)

    assert lease is not None
    assert lease.owner == "worker"


def test_lease_is_shared_between_connections(tmp_path: Path) -> None:
    """Two stores on one file see each other's leases and take over expired ones."""
    now = [T0]
    path = tmp_path / "state.db"
    with (
        SQLiteStateStore(path, clock=lambda: now[0]) as first,
        SQLiteStateStore(path, clock=lambda: now[0]) as second,
    ):
        assert first.acquire_lease(MAILBOX, "a", 30) is True
        assert second.acquire_lease(MAILBOX, "b", 30) is False
        now[0] += timedelta(seconds=31)
        assert second.acquire_lease(MAILBOX, "b", 30) is True
        assert first.renew_lease(MAILBOX, "a", 30) is False


def test_locked_database_raises_state_store_error(tmp_path: Path) -> None:
    """A write blocked past busy_timeout raises StateStoreError; reads go on."""
    path = tmp_path / "state.db"
    with SQLiteStateStore(path, busy_timeout=0) as store:
        stored = store.put_link(_linked(1))
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StateStoreError) as caught:
                store.put_link(_linked(2))
            readable = store.get_link_by_correlation_id(stored.correlation_id)
        finally:
            blocker.rollback()
            blocker.close()

    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert readable == stored


def test_threads_share_one_store(tmp_path: Path) -> None:
    """Concurrent transactions from several threads all commit."""
    with SQLiteStateStore(tmp_path / "state.db") as store:

        def work(offset: int) -> None:
            for index in range(offset, offset + 50):
                with store.transaction():
                    store.put_link(_linked(index))

        threads = [threading.Thread(target=work, args=(n * 50,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert store.count_links(MAILBOX, CONTACT) == 200


@pytest.mark.slow
def test_processes_append_concurrently(tmp_path: Path) -> None:
    """Two processes writing one file in turns lose no journal entry."""
    path = tmp_path / "state.db"
    SQLiteStateStore(path).close()
    script = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from crm_ews.sync import JournalEntry, SQLiteStateStore\n"
        "with SQLiteStateStore(sys.argv[1], busy_timeout=30) as store:\n"
        "    for index in range(100):\n"
        "        store.append_journal(JournalEntry(sys.argv[2], 'o@example.com',\n"
        "            'contact', f'a{index}', '', 'ok', datetime.now(UTC)))\n"
    )

    children = [
        subprocess.Popen([sys.executable, "-c", script, str(path), name])
        for name in ("one", "two")
    ]
    codes = [child.wait(timeout=120) for child in children]

    with SQLiteStateStore(path) as store:
        per_run = {
            name: [entry.action for entry in store.iter_journal(run_id=name)]
            for name in ("one", "two")
        }

    assert codes == [0, 0]
    assert per_run["one"] == [f"a{index}" for index in range(100)]
    assert per_run["two"] == [f"a{index}" for index in range(100)]


@pytest.mark.parametrize(("mode", "value"), [("FULL", 2), ("NORMAL", 1)])
def test_pragmas_follow_options(tmp_path: Path, mode: str, value: int) -> None:
    """The store runs in WAL mode with the synchronous level asked for."""
    with SQLiteStateStore(tmp_path / "state.db", synchronous=mode) as store:  # type: ignore[arg-type]
        connection = store._connection
        assert connection is not None
        journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = connection.execute("PRAGMA synchronous").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]

    assert (journal, synchronous) == ("wal", value)
    assert version == store.schema_version == 1


def test_bad_options_are_refused(tmp_path: Path) -> None:
    """An unknown synchronous mode or a negative timeout raises ValueError."""
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStateStore(tmp_path / "s.db", synchronous="SOMETIMES")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="busy_timeout"):
        SQLiteStateStore(tmp_path / "s.db", busy_timeout=-1)


def test_unopenable_file_raises_state_store_error(tmp_path: Path) -> None:
    """A file that is not a database raises StateStoreError, chained."""
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database file at all" * 100)

    with pytest.raises(StateStoreError) as caught:
        SQLiteStateStore(path)

    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_migration_hook_upgrades_and_guards_versions(tmp_path: Path) -> None:
    """A subclass's extra step upgrades an old file; older code then refuses it."""
    path = tmp_path / "state.db"
    SQLiteStateStore(path).close()

    def add_notes(connection: sqlite3.Connection) -> None:
        connection.execute("CREATE TABLE notes (text TEXT)")

    class NewerStore(SQLiteStateStore):
        _migrations = (*SQLiteStateStore._migrations, add_notes)

    with NewerStore(path) as store:
        connection = store._connection
        assert connection is not None
        connection.execute("INSERT INTO notes VALUES ('kept')")
        assert store.schema_version == 2

    with pytest.raises(StateStoreError, match="schema 2"):
        SQLiteStateStore(path)


def test_journal_refuses_raw_changes(tmp_path: Path) -> None:
    """Triggers abort UPDATE and DELETE on the journal table."""
    path = tmp_path / "state.db"
    with SQLiteStateStore(path) as store:
        store.append_journal(
            JournalEntry("run", MAILBOX, CONTACT, "create", "", "ok", T0)
        )

    connection = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            connection.execute("UPDATE journal SET outcome = 'forged'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            connection.execute("DELETE FROM journal")
    finally:
        connection.close()


def test_damaged_link_row_raises_state_store_error(tmp_path: Path) -> None:
    """A stored link that no longer validates raises StateStoreError on read."""
    path = tmp_path / "state.db"
    with SQLiteStateStore(path) as store:
        link = store.put_link(_linked(1))
        connection = store._connection
        assert connection is not None
        connection.execute("UPDATE links SET state = 'bogus'")

        with pytest.raises(StateStoreError, match="damaged"):
            store.get_link_by_correlation_id(link.correlation_id)
