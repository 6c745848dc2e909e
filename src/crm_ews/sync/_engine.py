"""The two-way sync engine: one mailbox at a time, idempotent and resumable.

``SyncEngine.sync_mailbox(mailbox)`` is the unit of work.  For each enabled
entity it:

1. finishes what an earlier run left pending (creates whose answer was lost,
   parked items whose retry time has come);
2. reads the CRM's changes since its cursor;
3. reads Exchange's changes page by page (SyncFolderItems), plans an action
   for each, applies it, and checkpoints the page's SyncState only after
   every change of the page is applied or durably parked;
4. plans and applies the CRM changes Exchange did not already settle, then
   the deletions the mass-deletion guard allows;
5. after writing, reads both sides once more to absorb the echoes of its own
   writes, so the next run starts idle;
6. saves the CRM cursor.

Every write is preceded by a durable link row: a create stores its
correlation id first and stamps it on the new item (Exchange) or passes it as
the idempotency key (CRM), so a crash or lost answer at any point is finished
by the next run instead of creating a second copy.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from crm_ews.errors import (
    AccessDeniedError,
    AuthenticationError,
    CRMEWSError,
    EditConflictError,
    EWSError,
    InvalidRequestError,
    InvalidSyncStateError,
    ItemNotFoundError,
    LeaseHeldError,
    MailboxNotEnrolledError,
    MassDeletionError,
    RecordNotFoundError,
    RecordVersionConflictError,
    RepositoryError,
    ResponseDecodeError,
    RetryLaterError,
    StateStoreError,
    ThrottledError,
    TransportError,
)
from crm_ews.repository import (
    AsyncCRMRepository,
    CRMRecord,
    CRMRepository,
    EntityType,
    as_async,
    projection_hash,
)
from crm_ews.sync._actions import (
    Action,
    AdoptCreated,
    CreateInCRM,
    CreateInExchange,
    DeleteInCRM,
    DeleteInExchange,
    LinkMatched,
    Refresh,
    ResolveConflict,
    Skip,
    Unlink,
    UpdateCRM,
    UpdateExchange,
)
from crm_ews.sync._backend import ItemRef, MailboxBackend, MailboxChange, MailboxItem
from crm_ews.sync._planner import (
    choose_winner,
    crm_changed,
    exchange_changed,
    match_key,
    plan_crm_change,
    plan_crm_delete,
    plan_exchange_delete,
    plan_exchange_upsert,
)
from crm_ews.sync._policy import ConflictChoice, Direction, EntityPolicy
from crm_ews.sync._report import EntityReport, MailboxReport, RunReport
from crm_ews.sync._store import (
    Clock,
    JournalEntry,
    Link,
    LinkState,
    StateStore,
    new_correlation_id,
    utc_now,
)

__all__ = ["ParkedRetry", "SyncEngine"]

logger = logging.getLogger(__name__)

#: Errors that stop the whole mailbox: retrying item by item cannot help.
_MAILBOX_FATAL: tuple[type[Exception], ...] = (
    AccessDeniedError,
    AuthenticationError,
    ThrottledError,
    StateStoreError,
    MailboxNotEnrolledError,
    LeaseHeldError,
)

#: Errors that park one item; everything else propagates.
_ITEM_ERRORS: tuple[type[Exception], ...] = (
    EWSError,
    TransportError,
    RepositoryError,
    ResponseDecodeError,
)

#: Link states whose deletion waits for the mass-deletion guard.
_PENDING_DELETES = frozenset(
    {LinkState.PENDING_CRM_DELETE, LinkState.PENDING_EWS_DELETE}
)

#: Link states a run finishes before reading new changes.
_UNFINISHED = frozenset(
    {LinkState.PENDING_EWS_CREATE, LinkState.PENDING_CRM_CREATE, *_PENDING_DELETES}
)

#: Reasons of writes that are already a second attempt after a conflict; a
#: further conflict parks the pair instead of trying again.
_SECOND_TRY = frozenset(
    {"conflict_crm_wins", "conflict_exchange_wins", "retry_fresh_change_key"}
)
#: What a pair linked again (after a park or a pending create) forgets.
_RELINKED: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "state": LinkState.LINKED,
        "retry_count": 0,
        "next_attempt_at": None,
        "last_error_code": None,
        "last_error_text": None,
        "last_error_at": None,
    }
)

#: Refreshes after a retry that leave nothing to write: a parked pair is linked.
_SETTLING_REFRESHES = frozenset({"retry_settled", "direction", "read_only_in_exchange"})

#: How many echo-absorbing rounds one run makes at most.
_MAX_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class ParkedRetry:
    """When a parked item is tried again.

    Transient failures wait ``base * 2**(retries-1)`` seconds, capped at
    ``maximum``.  Permanent failures (a request the server calls invalid, a
    CRM refusal that is not transient) are not retried on a timer; a new
    change on either side of the pair brings them back.  An answer that does
    not decode counts as transient: a body cut off by a proxy or a dropped
    connection looks exactly like that, and waiting for an edit that may
    never come would leave the pair unsynced for good.
    """

    base: timedelta = timedelta(minutes=1)
    maximum: timedelta = timedelta(hours=6)

    def delay(self, retries: int) -> timedelta:
        """The wait before attempt number ``retries + 1``."""
        exponent = min(max(retries - 1, 0), 32)
        return min(self.base * (1 << exponent), self.maximum)


#: The error code of a link whose CRM create the repository refused with a
#: permanent error (the repository's own exception names the text).
CRM_REFUSED_CREATE = "CRMRefusedCreate"


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, RepositoryError):
        return exc.is_transient
    if isinstance(exc, InvalidRequestError):
        return False
    return isinstance(
        exc, RetryLaterError | TransportError | EWSError | ResponseDecodeError
    )


def _error_code(exc: Exception) -> str:
    if isinstance(exc, EWSError):
        return exc.response_code
    return type(exc).__name__


def _first_sent(action: CreateInCRM) -> str | None:
    """The hash of what an earlier attempt of this CRM create sent, if any.

    A retried create reuses its link's correlation id as the idempotency
    key, so the record it gets back may be the one an earlier attempt made
    from the item as it was then.
    """
    link = action.link
    if action.reason != "retry_pending_create" or link is None:
        return None
    return link.ews_hash if link.crm_id is None else None


def _same_content(a: CRMRecord, b: CRMRecord) -> bool:
    """Whether two records agree on every field that syncs, extras aside."""
    left = a.sync_fields()
    right = b.sync_fields()
    left.pop("extra", None)
    right.pop("extra", None)
    return left == right


@dataclass(slots=True)
class _CRMChanges:
    """What the CRM reported in this run: changed records and deleted ids."""

    changed: dict[str, CRMRecord] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    cursor: str | None = None
    is_full_listing: bool = False


class SyncEngine:
    """Keeps CRM records and Exchange items in step, one mailbox per call.

    Args:
        backend: Mailbox access (``crm_ews.backends.EWSMailboxBackend`` for
            Exchange).
        repositories: One CRM repository per entity, plain or async.
        store: The durable state store.
        policies: One policy per entity to sync; entities without a policy,
            or with ``Direction.OFF``, are not synced.
        enrolled: The integration mailboxes.  The engine refuses any other.
        worker_id: This worker's name for the per-mailbox lease.
        lease_ttl: Seconds a lease lasts; renewed after every page.
        clock: Injectable time source.
        retry: When parked items are tried again.
        batch_size: Items per Exchange create/update/delete call.
    """

    def __init__(
        self,
        *,
        backend: MailboxBackend,
        repositories: Mapping[EntityType, CRMRepository[Any] | AsyncCRMRepository[Any]],
        store: StateStore,
        policies: Iterable[EntityPolicy],
        enrolled: Iterable[str],
        worker_id: str | None = None,
        lease_ttl: float = 900.0,
        clock: Clock = utc_now,
        retry: ParkedRetry | None = None,
        batch_size: int = 50,
    ) -> None:
        if not 1 <= batch_size <= 100:
            raise ValueError("batch_size must be between 1 and 100")
        self._backend = backend
        self._store = store
        self._clock = clock
        self._retry = retry or ParkedRetry()
        self._batch_size = batch_size
        self._lease_ttl = lease_ttl
        self._worker_id = worker_id or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._enrolled = frozenset(mailbox.casefold() for mailbox in enrolled)

        self._policies: dict[EntityType, EntityPolicy] = {}
        for policy in policies:
            if policy.entity in self._policies:
                raise ValueError(f"two policies for {policy.entity}")
            if policy.direction is not Direction.OFF:
                self._policies[policy.entity] = policy

        self._repositories: dict[EntityType, AsyncCRMRepository[Any]] = {}
        for entity in self._policies:
            repository = repositories.get(entity)
            if repository is None:
                raise ValueError(f"no repository for {entity}")
            if isinstance(repository, CRMRepository):
                self._repositories[entity] = as_async(repository)
            else:
                self._repositories[entity] = repository

    @property
    def enrolled(self) -> frozenset[str]:
        """The enrolled mailboxes, case-folded."""
        return self._enrolled

    @property
    def entities(self) -> tuple[EntityType, ...]:
        """The entities this engine syncs."""
        return tuple(self._policies)

    def repository(self, entity: EntityType) -> AsyncCRMRepository[Any]:
        """The (async) repository the engine uses for an entity."""
        return self._repositories[entity]

    async def sync_mailbox(
        self,
        mailbox: str,
        *,
        dry_run: bool = False,
        force_deletions: bool = False,
    ) -> MailboxReport:
        """Sync one mailbox over every enabled entity.

        Failures of single items are parked and reported; failures of the
        whole mailbox (impersonation denied, mailbox missing, throttled,
        lease held) end the call with ``report.error`` set.  Nothing is
        raised for them, so a scheduler can move on to the next mailbox.

        Args:
            mailbox: An enrolled mailbox.
            dry_run: Plan only: read both sides, write nothing (no checkpoint
                either), and return the plan in ``report.plan``.
            force_deletions: Apply deletions the mass-deletion guard refuses.

        Returns:
            The run report.

        Raises:
            MailboxNotEnrolledError: The mailbox is not on the enrolled list.
        """
        if mailbox.casefold() not in self._enrolled:
            raise MailboxNotEnrolledError(
                "mailbox is not enrolled for sync", mailbox=mailbox
            )

        report = MailboxReport(
            mailbox=mailbox,
            run_id=uuid.uuid4().hex,
            started_at=self._clock(),
            dry_run=dry_run,
        )
        logger.info(
            "sync run started", extra={"mailbox": mailbox, "sync_run": report.run_id}
        )

        if not dry_run and not self._store.acquire_lease(
            mailbox, self._worker_id, self._lease_ttl
        ):
            error = LeaseHeldError(
                "another worker is syncing this mailbox", mailbox=mailbox
            )
            return self._finish(report, error)

        try:
            for _entity, policy in self._policies.items():
                run = _EntityRun(
                    self, mailbox, policy, report, dry_run, force_deletions
                )
                await run.run()
        except CRMEWSError as exc:
            # Anything typed that escaped the per-item handling stops this
            # mailbox only: the CRM listing failed, the lease was lost, the
            # server refused the mailbox.  Nothing half-applied is lost; the
            # checkpoints only ever move after their changes are stored.
            return self._finish(report, exc)
        finally:
            if not dry_run:
                self._store.release_lease(mailbox, self._worker_id)

        return self._finish(report, None)

    def _finish(self, report: MailboxReport, error: Exception | None) -> MailboxReport:
        report.finished_at = self._clock()
        if error is not None:
            report.error = _error_code(error)
            report.error_message = str(error)
            if isinstance(error, ThrottledError):
                report.back_off = error.back_off
            elif isinstance(error, TransportError):
                report.back_off = error.retry_after
            logger.warning(
                "sync run stopped",
                extra={
                    "mailbox": report.mailbox,
                    "sync_run": report.run_id,
                    "response_code": report.error,
                },
            )
        else:
            counts = RunReport(mailboxes=[report]).totals()
            logger.info(
                "sync run finished: %s created, %s updated, %s deleted, "
                "%s conflicts, %s parked, %s errors",
                counts.get("created", 0),
                counts.get("updated", 0),
                counts.get("deleted", 0),
                counts.get("conflicts", 0),
                counts.get("parked", 0),
                counts.get("errors", 0),
                extra={
                    "mailbox": report.mailbox,
                    "sync_run": report.run_id,
                    "duration_ms": round(
                        (report.finished_at - report.started_at).total_seconds() * 1000
                    ),
                    "status": "ok",
                },
            )
        return report

    async def resolve_conflict(
        self,
        mailbox: str,
        entity: EntityType,
        correlation_id: str,
        choice: ConflictChoice,
    ) -> None:
        """Settle a pair the ``PARK`` policy left for review.

        Args:
            mailbox: The mailbox of the pair.
            entity: The entity type.
            correlation_id: The link's correlation id (from the journal or
                ``iter_links(states={LinkState.CONFLICT})``).
            choice: Which side wins; ``PARK`` is refused.

        Raises:
            ValueError: ``choice`` is ``PARK`` or the link is not in conflict.
        """
        if choice is ConflictChoice.PARK:
            raise ValueError("resolving needs a winner, not PARK")
        link = self._store.get_link_by_correlation_id(correlation_id)
        if link is None or link.state is not LinkState.CONFLICT:
            raise ValueError("no conflicting pair with that correlation id")
        if link.mailbox.casefold() != mailbox.casefold() or link.entity is not entity:
            raise ValueError("the pair belongs to another mailbox or entity")

        report = MailboxReport(
            mailbox=mailbox, run_id=uuid.uuid4().hex, started_at=self._clock()
        )
        run = _EntityRun(self, mailbox, self._policies[entity], report, False, False)
        await run.resolve_parked_conflict(link, choice)


class _EntityRun:
    """One entity of one mailbox in one run: the plan-then-apply loop."""

    def __init__(
        self,
        engine: SyncEngine,
        mailbox: str,
        policy: EntityPolicy,
        mailbox_report: MailboxReport,
        dry_run: bool,
        force_deletions: bool,
    ) -> None:
        self.engine = engine
        self.store = engine._store
        self.backend = engine._backend
        self.mailbox = mailbox
        self.policy = policy
        self.entity = policy.entity
        self.repository = engine._repositories[policy.entity]
        self.mailbox_report = mailbox_report
        self.report: EntityReport = mailbox_report.entity(policy.entity)
        self.dry_run = dry_run
        self.force_deletions = force_deletions
        self.now = engine._clock()
        self.folder_key = policy.entity.value
        #: Set (as a pseudo folder's "SyncState") before the engine creates
        #: Exchange items, cleared once a checkpoint has passed them.
        self.unconfirmed_key = f"{self.folder_key}#unconfirmed-creates"
        self.first_exchange_pass = True
        self.crm = _CRMChanges()
        self.match_index: dict[tuple[str, ...], CRMRecord] = {}
        self.wrote_exchange = False
        self.wrote_crm = False
        self.crm_creates: list[CreateInCRM] = []
        self.cursor_held = False
        #: Items parked in this run: acted on again only by the next run.
        self.parked_items: set[str] = set()

    def _read_only(self, item: MailboxItem) -> bool:
        """Whether the engine must not write this item (an attendee's copy).

        Links store the item's own flag; the policy applies where the engine
        decides, so changing it takes effect on stored pairs at once.
        """
        return item.is_read_only and self.policy.attendee_copies_read_only

    # -- the run ---------------------------------------------------------

    async def run(self) -> None:
        if not self.dry_run:
            await self._finish_unfinished()

        await self._read_crm_changes(
            self.store.get_crm_cursor(self.mailbox, self.entity)
        )
        self._index_unlinked()

        for _ in range(_MAX_ROUNDS):
            self.wrote_exchange = self.wrote_crm = False
            await self._exchange_pass()
            await self._crm_pass()
            await self._apply_deletions()
            if self.dry_run or not (self.wrote_exchange or self.wrote_crm):
                break
            # Our own writes come back as changes; reading them now keeps the
            # next run idle.  Fresh changes are folded in as well.
            await self._read_crm_changes(self.crm.cursor)

        if not self.dry_run and self.crm.cursor is not None and not self.cursor_held:
            self.store.set_crm_cursor(self.mailbox, self.entity, self.crm.cursor)

    async def _read_crm_changes(self, cursor: str | None) -> None:
        """Collect every page of CRM changes after ``cursor``."""
        # Limitation: one run holds all CRM changes since the cursor in
        # memory (on a first run, the mailbox's whole CRM listing), unlike the
        # Exchange side, which streams page by page.  A CRM mailbox of some
        # hundred thousand records needs hundreds of MB on its first run;
        # page such first syncs by enrolling mailboxes in smaller groups.
        changes = _CRMChanges(cursor=cursor)
        listed: set[str] = set()
        while True:
            page = await self.repository.list_changes(self.mailbox, changes.cursor)
            for record in page.changed:
                assert record.id is not None  # ChangeSet guarantees it
                changes.changed[record.id] = record
                changes.deleted.discard(record.id)
                listed.add(record.id)
            for crm_id in page.deleted:
                changes.changed.pop(crm_id, None)
                changes.deleted.add(crm_id)
            changes.is_full_listing = changes.is_full_listing or page.is_full_listing
            if page.next_cursor is not None:
                changes.cursor = page.next_cursor
            if not page.has_more:
                break

        if changes.is_full_listing or cursor is None:
            # A full listing (no change tracking, or no cursor saved yet: a
            # first listing names every live record) says nothing about
            # deletions, so the engine infers them from its links: a linked
            # record that no page mentions is gone.  The mass-deletion guard
            # stands between this inference and any delete.
            for link in self.store.iter_links(
                self.mailbox, self.entity, states={LinkState.LINKED, LinkState.PARKED}
            ):
                if link.crm_id is not None and link.crm_id not in listed:
                    changes.deleted.add(link.crm_id)
        self.crm = changes

    def _index_unlinked(self) -> None:
        """Remember unlinked CRM records by match key, for first-time linking."""
        for record in self.crm.changed.values():
            assert record.id is not None
            if self.store.get_link_by_crm_id(self.mailbox, self.entity, record.id):
                continue
            key = match_key(record)
            if key is not None:
                self.match_index.setdefault(key, record)

    # -- Exchange side ---------------------------------------------------

    async def _exchange_pass(self) -> None:
        sync_state = self.store.get_sync_state(self.mailbox, self.folder_key)
        unconfirmed = (
            self.store.get_sync_state(self.mailbox, self.unconfirmed_key) is not None
        )
        if unconfirmed and sync_state is not None and self.first_exchange_pass:
            # An earlier run created items and stopped before a checkpoint
            # passed them.  Exchange reports a Delete only for items created
            # before the SyncState a client sends, so an Outlook deletion of
            # one of those items since would never arrive: list the folder
            # in full instead, and let the links tell what is gone.
            # Limitation: the mark is also left by a run whose CreateItem
            # failed or that hit the round limit, and the full listing costs
            # one SyncFolderItems page per 512 items of the folder.  Who
            # syncs very large folders through a flaky link sees such runs
            # take longer (the log says "reconciling in full"); nothing is
            # lost or duplicated, and the next run is incremental again.
            logger.info(
                "earlier run stopped before confirming its creates; "
                "reconciling in full",
                extra={"mailbox": self.mailbox, "operation": "SyncFolderItems"},
            )
            sync_state = None
        self.first_exchange_pass = False
        seen: set[str] | None = set() if sync_state is None else None
        restarted = False

        while True:
            try:
                page = await self.backend.read_changes(
                    self.mailbox, self.entity, sync_state
                )
            except InvalidSyncStateError:
                if restarted:
                    raise
                # Start over from nothing; links keep this from duplicating.
                logger.warning(
                    "sync state rejected, reconciling in full",
                    extra={"mailbox": self.mailbox, "operation": "SyncFolderItems"},
                )
                restarted = True
                sync_state = None
                seen = set()
                if not self.dry_run:
                    self.store.set_sync_state(self.mailbox, self.folder_key, None)
                continue

            for change in page.changes:
                if seen is not None:
                    seen.add(change.item_id)
                await self._on_exchange_change(change)
            await self._flush_crm_creates()

            sync_state = page.sync_state
            if not self.dry_run:
                self.store.set_sync_state(self.mailbox, self.folder_key, sync_state)
                self._renew_lease()
            if page.is_last_page:
                break

        if seen is not None:
            await self._infer_exchange_deletions(seen)
        if unconfirmed and not self.dry_run:
            # The checkpoint now passes every create made before this pass.
            self.store.set_sync_state(self.mailbox, self.unconfirmed_key, None)

    async def _on_exchange_change(self, change: MailboxChange) -> None:
        link = self.store.get_link_by_ews_id(self.mailbox, self.entity, change.item_id)
        if (
            change.item is not None
            and change.item_id in self.parked_items
            and link is not None
            and link.state is LinkState.PARKED
        ):
            # Changed again after this run parked it (another client that
            # rewrites the item whenever the engine writes it would otherwise
            # make every page report it again, and the pass never end).  The
            # change is set aside, so the link is made due for the next run,
            # which re-reads both sides (a permanent park would otherwise
            # wait for a change that has now been consumed).
            if not self.dry_run:
                self.store.put_link(replace(link, next_attempt_at=self.now))
            self.report.skipped["parked_this_run"] += 1
            return
        crm_record = None
        if link is not None and link.crm_id is not None:
            crm_record = self.crm.changed.get(link.crm_id)

        if change.item is None:
            action = plan_exchange_delete(link, crm_record, self.policy)
        else:
            correlated = None
            if link is None and change.item.correlation_id:
                candidate = self.store.get_link_by_correlation_id(
                    change.item.correlation_id
                )
                if (
                    candidate is not None
                    and candidate.mailbox == self.mailbox
                    and candidate.entity is self.entity
                    and (
                        candidate.ews_item_id is None
                        or candidate.state is LinkState.PENDING_CRM_DELETE
                    )
                ):
                    # A create whose answer was lost, or an item restored
                    # (under a new id) while its deletion waited for the guard.
                    # Limitation: an item a user created in Outlook carries no
                    # correlation id; restored after the guard refused its
                    # deletion, it is copied to the CRM as new while the old
                    # record stays.  Resolve refused deletions before users
                    # restore items (crm-ews sync --force-deletions or undo).
                    correlated = candidate
            match = None
            if link is None and correlated is None:
                key = match_key(change.item.record)
                if key is not None:
                    match = self.match_index.get(key)
            action = plan_exchange_upsert(
                change.item,
                link,
                crm_record,
                self.policy,
                correlated=correlated,
                match=match,
                now=self.now,
            )
            if isinstance(action, LinkMatched):
                del self.match_index[match_key(action.record) or ()]

        # A pair Exchange settled is not planned again from the CRM side.
        if isinstance(action, ResolveConflict | LinkMatched | CreateInExchange):
            self.crm.changed.pop(action.record.id or "", None)
        if isinstance(action, CreateInCRM):
            # Collected per page and created together (two commits a page).
            self.crm_creates.append(action)
            return
        await self._apply(action)

    async def _flush_crm_creates(self) -> None:
        batch, self.crm_creates = self.crm_creates, []
        for start in range(0, len(batch), self.engine._batch_size):
            await self._create_in_crm_batch(
                batch[start : start + self.engine._batch_size]
            )

    async def _infer_exchange_deletions(self, seen: set[str]) -> None:
        """After a full enumeration, linked items it did not list are gone."""
        missing = [
            link
            for link in self.store.iter_links(
                self.mailbox, self.entity, states={LinkState.LINKED, LinkState.PARKED}
            )
            if link.ews_item_id is not None and link.ews_item_id not in seen
        ]
        for link in missing:
            assert link.ews_item_id is not None
            await self._on_exchange_change(
                MailboxChange(item_id=link.ews_item_id, item=None)
            )

    # -- CRM side --------------------------------------------------------

    def _crm_creates_unresolved(self) -> bool:
        """Whether a CRM create of an earlier run is still unresolved.

        Its record may exist in the CRM without the engine knowing its id (the
        answer or the process was lost, and recovery has not succeeded yet);
        such a record looks unlinked, and creating it in Exchange would
        duplicate the item it came from.  A create the CRM refused for good
        (a permanent repository error, parked as ``CRMRefusedCreate``) made no
        record and holds nothing back.
        """
        # Limitation: while such a create stays unresolved (the CRM keeps
        # failing transiently), every new CRM record of this mailbox and
        # entity waits with it: the report counts them as skipped
        # "awaiting_recovery" and the CRM cursor does not move.  Whoever
        # watches the reports sees the count grow; fix the CRM side, and the
        # next run recovers the create and then syncs the held records.
        waiting = (LinkState.PENDING_CRM_CREATE, LinkState.PARKED)
        return any(
            link.crm_id is None and link.last_error_code != CRM_REFUSED_CREATE
            for link in self.store.iter_links(self.mailbox, self.entity, states=waiting)
        )

    async def _crm_pass(self) -> None:
        creates: list[CreateInExchange] = []
        updates: list[UpdateExchange] = []
        hold_new = not self.dry_run and self._crm_creates_unresolved()

        for crm_id, record in list(self.crm.changed.items()):
            link = self.store.get_link_by_crm_id(self.mailbox, self.entity, crm_id)
            if link is not None and link.state in _PENDING_DELETES:
                pending = await self._pending_delete_meets_crm_change(link, record)
                if pending is None:
                    continue
                link = pending
            selected = self.repository.belongs_to(self.mailbox, record)
            action = plan_crm_change(
                record, link, self.policy, selected=selected, now=self.now
            )
            if isinstance(action, CreateInExchange) and hold_new and link is None:
                # Held until the unresolved create is recovered; the CRM
                # cursor stays put so the record is listed again next run.
                self.cursor_held = True
                self.report.skipped["awaiting_recovery"] += 1
            elif isinstance(action, CreateInExchange):
                creates.append(action)
            elif isinstance(action, UpdateExchange):
                updates.append(action)
            else:
                await self._apply(action)
        self.crm.changed.clear()

        for crm_id in sorted(self.crm.deleted):
            link = self.store.get_link_by_crm_id(self.mailbox, self.entity, crm_id)
            await self._apply(plan_crm_delete(link, self.policy))
        self.crm.deleted.clear()

        for start in range(0, len(creates), self.engine._batch_size):
            await self._create_in_exchange(
                creates[start : start + self.engine._batch_size]
            )
        for start in range(0, len(updates), self.engine._batch_size):
            await self._update_exchange(
                updates[start : start + self.engine._batch_size]
            )

    async def _pending_delete_meets_crm_change(
        self, link: Link, record: CRMRecord
    ) -> Link | None:
        """Settle a CRM change for a pair whose deletion is pending.

        Returns the link to plan the change with, or ``None`` when the change
        is settled here.
        """
        if link.state is LinkState.PENDING_EWS_DELETE:
            # The CRM lists the record again (a listing that had failed, an
            # undelete): the deletion no longer stands.
            restored = replace(link, state=LinkState.LINKED)
            return restored if self.dry_run else self.store.put_link(restored)
        if not crm_changed(link, record):
            # Only the echo of an earlier write: the Exchange deletion stands.
            self.report.skipped["unchanged"] += 1
            return None
        # Edited in the CRM after Exchange deleted the item: keep the edit.
        await self._apply(plan_exchange_delete(link, record, self.policy))
        return None

    # -- finishing earlier runs' work ------------------------------------

    async def _finish_unfinished(self) -> None:
        """Finish pending creates, and retry parked pairs whose time has come."""
        todo = list(
            self.store.iter_links(
                self.mailbox, self.entity, states=_UNFINISHED - _PENDING_DELETES
            )
        )
        todo.extend(
            link
            for link in self.store.iter_due_links(now=self.now, mailbox=self.mailbox)
            if link.entity is self.entity
        )
        for link in todo:
            await self._reconcile_or_park(link)

    async def _reconcile_or_park(self, link: Link) -> None:
        """Reconcile one pair; an item-level failure parks it as it is stored."""
        try:
            await self._reconcile(link)
        except _MAILBOX_FATAL:
            raise
        except _ITEM_ERRORS as exc:
            self._park(link, exc, "reconcile")

    async def _reconcile(self, link: Link) -> None:
        """Re-read both sides of one pair and do what the difference asks."""
        item: MailboxItem | None = None
        if link.ews_item_id is not None:
            [item] = await self.backend.get_items(
                self.mailbox, self.entity, [link.ews_item_id]
            )
        else:
            item = await self.backend.find_by_correlation(
                self.mailbox, self.entity, link.correlation_id
            )
            if item is not None:
                link = await self._apply_adopt(AdoptCreated(link, item))

        record: CRMRecord | None = None
        if link.crm_id is not None:
            record = await self.repository.get(self.mailbox, link.crm_id)

        if link.crm_id is None:
            if item is not None:
                await self._apply(
                    CreateInCRM(item, link=link, reason="retry_pending_create")
                )
            else:
                self._forget(link, "both_sides_gone")
            return
        if link.ews_item_id is None:
            if record is not None:
                await self._create_in_exchange(
                    [CreateInExchange(record, link=link, reason="retry_pending_create")]
                )
            else:
                self._forget(link, "both_sides_gone")
            return

        if record is None and item is None:
            await self._apply(Unlink(link, "both_sides_gone"))
        elif item is None:
            await self._apply(plan_exchange_delete(link, record, self.policy))
        elif record is None:
            await self._apply(plan_crm_delete(link, self.policy))
        else:
            await self._reconcile_pair(link, record, item)

    async def _reconcile_pair(
        self, link: Link, record: CRMRecord, item: MailboxItem
    ) -> None:
        """Settle a pair whose both sides exist, after a retry or a recovery."""
        direction = self.policy.direction
        read_only = self._read_only(item)
        ews_moved = exchange_changed(link, item)
        crm_moved = crm_changed(link, record)
        if ews_moved and crm_moved:
            await self._apply(ResolveConflict(link, record, item))
        elif ews_moved and direction.writes_crm:
            await self._apply(UpdateCRM(link, item, reason="retry"))
        elif crm_moved and direction.writes_exchange and not read_only:
            # The item holds what the link agreed on, so its current change
            # key is the one to write against (a re-based link has none).
            current = replace(link, ews_change_key=item.ref.change_key)
            await self._update_exchange(
                [UpdateExchange(current, record, reason="retry")]
            )
        elif (
            not ews_moved
            and not crm_moved
            and direction.writes_crm
            and direction.writes_exchange
            and not read_only
            and not _same_content(record, item.record)
        ):
            # Neither side moved since the link was stored, yet they differ: a
            # write decided earlier was interrupted before it landed (a parked
            # conflict resolution, say).  Deciding again on the same two sides
            # gives the policy's answer instead of settling the difference.
            await self._apply(ResolveConflict(link, record, item))
        else:
            # Settled, or a change this pair's policy does not carry across.
            if not (ews_moved or crm_moved):
                reason = "retry_settled"
            elif crm_moved and read_only:
                reason = "read_only_in_exchange"
            else:
                reason = "direction"
            await self._apply(Refresh(link, record=record, item=item, reason=reason))

    async def resolve_parked_conflict(self, link: Link, choice: ConflictChoice) -> None:
        [item] = await self.backend.get_items(
            self.mailbox, self.entity, [link.ews_item_id or ""]
        )
        record = await self.repository.get(self.mailbox, link.crm_id or "")
        if item is None or record is None:
            await self._reconcile(replace(link, state=LinkState.PARKED))
            return
        await self._settle_conflict(link, record, item, choice)

    # -- applying --------------------------------------------------------

    async def _apply(self, action: Action) -> None:
        if self.dry_run:
            self._record_plan(action)
            return
        link = getattr(action, "link", None)
        try:
            await self._dispatch(action)
        except _MAILBOX_FATAL:
            raise
        except _ITEM_ERRORS as exc:
            if link is not None:
                self._park(link, exc, type(action).__name__)
            else:
                self.report.errors[_error_code(exc)] += 1
                self._journal(action, "failed")

    async def _dispatch(self, action: Action) -> None:
        match action:
            case Skip():
                self.report.skipped[action.reason] += 1
            case Refresh():
                self._apply_refresh(action)
            case Unlink():
                self._forget(action.link, action.reason)
            case CreateInCRM():
                await self._create_in_crm(action)
            case CreateInExchange():
                await self._create_in_exchange([action])
            case UpdateCRM():
                await self._update_crm(action)
            case UpdateExchange():
                await self._update_exchange([action])
            case DeleteInCRM():
                self._mark_pending_delete(
                    action.link, LinkState.PENDING_CRM_DELETE, action.reason
                )
            case DeleteInExchange():
                self._mark_pending_delete(
                    action.link, LinkState.PENDING_EWS_DELETE, action.reason
                )
            case LinkMatched():
                await self._apply_match(action)
            case AdoptCreated():
                adopted = await self._apply_adopt(action)
                if adopted.state is LinkState.LINKED and adopted.ews_change_key is None:
                    # Edited in Outlook after the create whose answer was
                    # lost: settle the difference like any retried pair.
                    await self._reconcile(adopted)
            case ResolveConflict():
                choice = choose_winner(self.policy, action.record, action.item)
                await self._settle_conflict(
                    action.link, action.record, action.item, choice
                )

    def _record_plan(self, action: Action) -> None:
        name = type(action).__name__
        if isinstance(action, Skip):
            self.report.skipped[action.reason] += 1
        self.mailbox_report.plan.append(
            (self.entity, name, getattr(action, "reason", ""))
        )

    def _apply_refresh(self, action: Refresh) -> None:
        link = action.link
        changes: dict[str, Any] = {}
        if action.record is not None:
            changes.update(
                crm_version=action.record.version,
                crm_hash=projection_hash(action.record),
            )
        if action.item is not None:
            changes.update(
                ews_change_key=action.item.ref.change_key,
                ews_hash=projection_hash(action.item.record),
                is_read_only=action.item.is_read_only,
            )
        if link.state is LinkState.PARKED and action.reason in _SETTLING_REFRESHES:
            changes.update(_RELINKED)
        self.store.put_link(replace(link, **changes))
        self.report.skipped[action.reason] += 1

    async def _create_in_crm(self, action: CreateInCRM) -> None:
        await self._create_in_crm_batch([action])

    async def _create_in_crm_batch(self, actions: Sequence[CreateInCRM]) -> None:
        """Create CRM records for a batch of Exchange items.

        The pending links are committed together BEFORE any record is
        created (their correlation ids are the idempotency keys a retry
        reuses); the outcomes are committed together afterwards.
        """
        if not actions:
            return
        if self.dry_run:
            for action in actions:
                self._record_plan(action)
            return

        links: list[Link] = []
        with self.store.transaction():
            for action in actions:
                item = action.item
                pending: dict[str, Any] = {
                    "state": LinkState.PENDING_CRM_CREATE,
                    "ews_item_id": item.ref.item_id,
                    "ews_change_key": item.ref.change_key,
                    "ews_hash": _first_sent(action) or projection_hash(item.record),
                    "is_read_only": item.is_read_only,
                }
                if action.link is None:
                    link = Link(mailbox=self.mailbox, entity=self.entity, **pending)
                else:
                    link = replace(
                        action.link,
                        crm_id=None,
                        crm_version=None,
                        crm_hash=None,
                        **pending,
                    )
                links.append(self.store.put_link(link))

        outcomes: list[CRMRecord | Exception] = []
        for action, link in zip(actions, links, strict=True):
            try:
                outcomes.append(
                    await self.repository.create(
                        self.mailbox,
                        action.item.record,
                        idempotency_key=link.correlation_id,
                    )
                )
            except _ITEM_ERRORS as exc:
                outcomes.append(exc)

        deleted_since: list[Link] = []
        unsettled: list[Link] = []
        with self.store.transaction():
            for action, link, outcome in zip(actions, links, outcomes, strict=True):
                if isinstance(outcome, RecordNotFoundError):
                    # A retry whose first attempt made the record, which was
                    # deleted in the CRM since (the repository contract): a
                    # CRM deletion of the pair, planned below.
                    deleted_since.append(link)
                    continue
                if isinstance(outcome, RepositoryError) and not outcome.is_transient:
                    # The CRM refused the record for good: it made nothing,
                    # so nothing waits for this create (_crm_creates_unresolved).
                    self._park(link, outcome, "create_crm", code=CRM_REFUSED_CREATE)
                    continue
                if isinstance(outcome, Exception):
                    self._park(link, outcome, "create_crm")
                    continue
                self.wrote_crm = True
                stored = self._settled(
                    link,
                    crm=outcome,
                    item=action.item,
                    action="create_crm",
                    reason=action.reason,
                )
                self.report.created["crm"] += 1
                if projection_hash(outcome) != projection_hash(action.item.record):
                    # The pending link's hash is what the first attempt sent.
                    base = link.ews_hash or projection_hash(action.item.record)
                    unsettled.append(
                        self._rebase(stored, base, outcome, action.item.record)
                    )
        for link in deleted_since:
            await self._apply(plan_crm_delete(link, self.policy))
        for link in unsettled:
            # Parked as re-based if it fails, so the retry still sees which
            # side moved.
            await self._reconcile_or_park(link)

    def _rebase(
        self, link: Link, base: str, record: CRMRecord, item_record: CRMRecord
    ) -> Link:
        """Store a created pair whose two sides differ against what was first sent.

        A repeated create returns the record the first attempt made, as the
        CRM holds it now, while this attempt sent the item as it is now.
        What the first attempt sent (``base``) is the state both sides last
        agreed on: each side that differs from it changed since, and the
        reconcile that follows carries that change across, or settles a
        conflict by policy when both did.
        """
        changes: dict[str, Any] = {}
        if projection_hash(record) != base:
            changes.update(crm_hash=base, crm_version=None)
        if projection_hash(item_record) != base:
            changes.update(ews_hash=base, ews_change_key=None)
        return self.store.put_link(replace(link, **changes)) if changes else link

    async def _create_in_exchange(self, actions: Sequence[CreateInExchange]) -> None:
        if not actions:
            return
        if self.dry_run:
            for action in actions:
                self._record_plan(action)
            return

        links: list[Link] = []
        with self.store.transaction():
            for action in actions:
                record = action.record
                base = action.link
                if base is None:
                    link = Link(
                        mailbox=self.mailbox,
                        entity=self.entity,
                        state=LinkState.PENDING_EWS_CREATE,
                        crm_id=record.id,
                        crm_version=record.version,
                        crm_hash=projection_hash(record),
                    )
                else:
                    if base.ews_item_id is not None:
                        # The old item is gone; a fresh correlation id keeps a
                        # search from finding its remains.
                        self.store.delete_link(base.correlation_id)
                        base = replace(base, correlation_id=new_correlation_id())
                    link = replace(
                        base,
                        state=LinkState.PENDING_EWS_CREATE,
                        crm_id=record.id,
                        crm_version=record.version,
                        crm_hash=projection_hash(record),
                        ews_item_id=None,
                        ews_change_key=None,
                        ews_hash=None,
                    )
                links.append(self.store.put_link(link))
            # Until a checkpoint passes these creates, a deletion of one of
            # them in Outlook would go unreported (see _exchange_pass).
            self.store.set_sync_state(self.mailbox, self.unconfirmed_key, "1")

        try:
            results = await self.backend.create_items(
                self.mailbox,
                self.entity,
                [
                    (action.record, link.correlation_id)
                    for action, link in zip(actions, links, strict=True)
                ],
            )
        except _MAILBOX_FATAL:
            raise
        except _ITEM_ERRORS as exc:
            # The answer is lost; each item may or may not exist.  The links
            # keep their correlation ids, and the next attempt searches first.
            for link in links:
                self._park(link, exc, "create_ews")
            return

        self.wrote_exchange = True
        fatal = next((r for r in results if isinstance(r, _MAILBOX_FATAL)), None)
        with self.store.transaction():
            for action, link, result in zip(actions, links, results, strict=True):
                if isinstance(result, Exception):
                    self._park(link, result, "create_ews")
                    continue
                self._settled(
                    link,
                    crm=action.record,
                    ref=result,
                    ews_record=action.record,
                    action="create_ews",
                    reason=action.reason,
                )
                self.report.created["exchange"] += 1
        if fatal is not None:
            raise fatal

    async def _update_crm(self, action: UpdateCRM) -> None:
        link = action.link
        item = action.item
        assert link.crm_id is not None
        current = await self.repository.get(self.mailbox, link.crm_id)
        if current is None:
            await self._apply(
                CreateInCRM(
                    item, link=self._fresh_correlation(link), reason="recreated_in_crm"
                )
            )
            return
        if crm_changed(link, current):
            await self._apply(ResolveConflict(link, current, item))
            return

        update = item.record.model_copy(
            update={
                "id": link.crm_id,
                "version": current.version,
                "extra": {**current.extra, **item.record.extra},
            }
        )
        try:
            stored = await self.repository.update(
                self.mailbox, update, expected_version=current.version or ""
            )
        except RecordVersionConflictError as exc:
            if action.reason in _SECOND_TRY:
                self._park(link, exc, "update_crm")
                return
            fresh = await self.repository.get(self.mailbox, link.crm_id)
            if fresh is None:
                await self._apply(
                    CreateInCRM(
                        item,
                        link=self._fresh_correlation(link),
                        reason="recreated_in_crm",
                    )
                )
            else:
                await self._apply(ResolveConflict(link, fresh, item))
            return
        except RecordNotFoundError:
            await self._apply(
                CreateInCRM(
                    item, link=self._fresh_correlation(link), reason="recreated_in_crm"
                )
            )
            return

        self.wrote_crm = True
        self._settled(
            link, crm=stored, item=item, action="update_crm", reason=action.reason
        )
        self.report.updated["crm"] += 1

    async def _update_exchange(self, actions: Sequence[UpdateExchange]) -> None:
        if not actions:
            return
        if self.dry_run:
            for action in actions:
                self._record_plan(action)
            return

        refs = []
        for action in actions:
            assert action.link.ews_item_id is not None
            assert action.link.ews_change_key is not None
            refs.append(
                (
                    ItemRef(action.link.ews_item_id, action.link.ews_change_key),
                    action.record,
                )
            )
        try:
            results = await self.backend.update_items(self.mailbox, self.entity, refs)
        except _MAILBOX_FATAL:
            raise
        except _ITEM_ERRORS as exc:
            for action in actions:
                self._park(action.link, exc, "update_ews")
            return

        self.wrote_exchange = True
        for action, result in zip(actions, results, strict=True):
            link = action.link
            if isinstance(result, EditConflictError) and action.reason in _SECOND_TRY:
                # Someone keeps editing the item between our read and our
                # write; park it rather than chase them.
                self._park(link, result, "update_ews")
                continue
            if isinstance(result, EditConflictError):
                [fresh] = await self.backend.get_items(
                    self.mailbox, self.entity, [link.ews_item_id or ""]
                )
                if fresh is None:
                    await self._apply(
                        plan_exchange_delete(link, action.record, self.policy)
                    )
                elif exchange_changed(link, fresh):
                    await self._apply(ResolveConflict(link, action.record, fresh))
                else:
                    # Only unmapped fields moved: retry on the fresh change key.
                    await self._update_exchange(
                        [
                            UpdateExchange(
                                replace(link, ews_change_key=fresh.ref.change_key),
                                action.record,
                                "retry_fresh_change_key",
                            )
                        ]
                    )
                continue
            if isinstance(result, ItemNotFoundError):
                await self._apply(
                    plan_exchange_delete(link, action.record, self.policy)
                )
                continue
            if isinstance(result, Exception):
                if isinstance(result, _MAILBOX_FATAL):
                    raise result
                self._park(link, result, "update_ews")
                continue
            self._settled(
                link,
                crm=action.record,
                ref=result,
                ews_record=action.record,
                action="update_ews",
                reason=action.reason,
            )
            self.report.updated["exchange"] += 1

    async def _apply_match(self, action: LinkMatched) -> None:
        record, item = action.record, action.item
        link = Link(
            mailbox=self.mailbox,
            entity=self.entity,
            state=LinkState.LINKED,
            crm_id=record.id,
            crm_version=record.version,
            crm_hash=projection_hash(record),
            ews_item_id=item.ref.item_id,
            ews_change_key=item.ref.change_key,
            ews_hash=projection_hash(item.record),
            is_read_only=item.is_read_only,
        )
        link = self.store.put_link(link)
        self.report.linked += 1
        self._journal_link(link, "link", action.reason, "ok")
        if not _same_content(record, item.record):
            choice = choose_winner(self.policy, record, item)
            await self._settle_conflict(link, record, item, choice)

    async def _apply_adopt(self, action: AdoptCreated) -> Link:
        link = action.link
        item = action.item
        ews_hash: str | None = projection_hash(item.record)
        change_key: str | None = item.ref.change_key
        if link.ews_item_id is None and link.crm_hash not in (None, ews_hash):
            # The item was made from the CRM record as it was then and edited
            # in Outlook since its create: start the pair from what was sent,
            # with no change key, so the edit counts as a change.
            ews_hash, change_key = link.crm_hash, None
        changes: dict[str, Any] = {
            "ews_item_id": item.ref.item_id,
            "ews_change_key": change_key,
            "ews_hash": ews_hash,
            "is_read_only": item.is_read_only,
        }
        if link.crm_id is not None:
            changes.update(_RELINKED)
        stored = self.store.put_link(replace(link, **changes))
        self.report.linked += 1
        self._journal_link(stored, "adopt", action.reason, "ok")
        return stored

    async def _settle_conflict(
        self, link: Link, record: CRMRecord, item: MailboxItem, choice: ConflictChoice
    ) -> None:
        self.report.conflicts += 1
        if choice is ConflictChoice.CRM and self._read_only(item):
            # An attendee's copy is never written back: the organizer's
            # version wins, or, where the CRM is not written either, both
            # sides stay as they are.
            if not self.policy.direction.writes_crm:
                self._apply_refresh(
                    Refresh(
                        link, record=record, item=item, reason="read_only_in_exchange"
                    )
                )
                return
            choice = ConflictChoice.EXCHANGE
        logger.warning(
            "conflict: both sides changed; policy chose %s",
            choice.value,
            extra={
                "mailbox": self.mailbox,
                "operation": f"sync_{self.entity.value}",
                "sync_run": self.mailbox_report.run_id,
                "item_ref": link.correlation_id,
            },
        )
        if choice is ConflictChoice.PARK:
            self.store.put_link(
                replace(
                    link,
                    state=LinkState.CONFLICT,
                    last_error_code="conflict",
                    last_error_text="changed on both sides; parked by policy",
                    last_error_at=self.now,
                )
            )
            self.report.parked += 1
            self._journal_link(link, "conflict", "park", "parked")
            return
        self._journal_link(link, "conflict", f"{choice.value}_wins", "resolved")
        if choice is ConflictChoice.CRM:
            # The item as it is now becomes the base on both sides, so if the
            # write below is parked, a later retry still sees the CRM record
            # as changed and finishes it instead of settling the difference.
            base = projection_hash(item.record)
            fresh = replace(
                link,
                ews_change_key=item.ref.change_key,
                ews_hash=base,
                crm_hash=base,
                crm_version=None,
                state=LinkState.LINKED,
            )
            await self._update_exchange(
                [UpdateExchange(fresh, record, "conflict_crm_wins")]
            )
        else:
            fresh = replace(
                link,
                crm_version=record.version,
                crm_hash=projection_hash(record),
                state=LinkState.LINKED,
            )
            try:
                await self._update_crm(UpdateCRM(fresh, item, "conflict_exchange_wins"))
            except _MAILBOX_FATAL:
                raise
            except _ITEM_ERRORS as exc:
                # Parked, so a later run retries it; otherwise a pair linked
                # on first sight would stay linked with its two sides apart.
                self._park(fresh, exc, "update_crm")

    # -- deletions -------------------------------------------------------

    def _mark_pending_delete(self, link: Link, state: LinkState, reason: str) -> None:
        self.store.put_link(replace(link, state=state))
        self._journal_link(link, "plan_delete", reason, "pending")

    async def _apply_deletions(self) -> None:
        if self.dry_run:
            return
        for state, side in (
            (LinkState.PENDING_CRM_DELETE, "crm"),
            (LinkState.PENDING_EWS_DELETE, "exchange"),
        ):
            pending = list(
                self.store.iter_links(self.mailbox, self.entity, states={state})
            )
            if not pending:
                continue
            everything = self.store.count_links(self.mailbox, self.entity)
            tombstones = self.store.count_links(
                self.mailbox, self.entity, states={LinkState.DELETED}
            )
            linked = everything - tombstones
            guard = self.policy.mass_deletion
            if not self.force_deletions and not guard.allows(len(pending), linked):
                self.report.deletions_refused += len(pending)
                error = MassDeletionError(
                    f"refused to delete {len(pending)} of {linked} linked "
                    f"{self.entity.value}s in {side}",
                    planned=len(pending),
                    total=linked,
                    mailbox=self.mailbox,
                )
                self.mailbox_report.error = "MassDeletionRefused"
                self.mailbox_report.error_message = str(error)
                logger.warning(
                    "mass deletion refused",
                    extra={"mailbox": self.mailbox, "operation": f"delete_{side}"},
                )
                continue
            if side == "crm":
                for link in pending:
                    await self._delete_in_crm(link)
            else:
                for start in range(0, len(pending), self.engine._batch_size):
                    await self._delete_in_exchange(
                        pending[start : start + self.engine._batch_size]
                    )

    async def _delete_in_crm(self, link: Link) -> None:
        assert link.crm_id is not None
        try:
            await self.repository.delete(
                self.mailbox, link.crm_id, expected_version=link.crm_version
            )
        except RecordNotFoundError:
            pass
        except RecordVersionConflictError:
            # Edited in the CRM after the item was deleted: keep the edit.
            record = await self.repository.get(self.mailbox, link.crm_id)
            if record is not None:
                await self._create_in_exchange(
                    [CreateInExchange(record, link=link, reason="edited_in_crm")]
                )
            return
        except _MAILBOX_FATAL:
            raise
        except _ITEM_ERRORS as exc:
            self._park(link, exc, "delete_crm")
            return
        self.wrote_crm = True
        self._tombstone(link, "delete_crm")
        self.report.deleted["crm"] += 1

    async def _delete_in_exchange(self, links: Sequence[Link]) -> None:
        refs = [
            ItemRef(link.ews_item_id or "", link.ews_change_key or "") for link in links
        ]
        try:
            results = await self.backend.delete_items(self.mailbox, self.entity, refs)
        except _MAILBOX_FATAL:
            raise
        except _ITEM_ERRORS as exc:
            for link in links:
                self._park(link, exc, "delete_ews")
            return
        self.wrote_exchange = True
        for link, result in zip(links, results, strict=True):
            if isinstance(result, Exception) and not isinstance(
                result, ItemNotFoundError
            ):
                if isinstance(result, _MAILBOX_FATAL):
                    raise result
                self._park(link, result, "delete_ews")
                continue
            self._tombstone(link, "delete_ews")
            self.report.deleted["exchange"] += 1

    # -- bookkeeping -----------------------------------------------------

    def _settled(
        self,
        link: Link,
        *,
        crm: CRMRecord,
        action: str,
        reason: str,
        item: MailboxItem | None = None,
        ref: ItemRef | None = None,
        ews_record: CRMRecord | None = None,
    ) -> Link:
        """Store a pair as linked after a successful write; returns the link."""
        changes: dict[str, Any] = {
            **_RELINKED,
            "crm_id": crm.id,
            "crm_version": crm.version,
            "crm_hash": projection_hash(crm),
        }
        if item is not None:
            changes.update(
                ews_item_id=item.ref.item_id,
                ews_change_key=item.ref.change_key,
                ews_hash=projection_hash(item.record),
                is_read_only=item.is_read_only,
            )
        if ref is not None:
            changes.update(ews_item_id=ref.item_id, ews_change_key=ref.change_key)
        if ews_record is not None:
            changes.update(ews_hash=projection_hash(ews_record))
        with self.store.transaction():
            stored = self.store.put_link(replace(link, **changes))
            self._journal_link(stored, action, reason, "ok")
        return stored

    def _park(
        self, link: Link, exc: Exception, action: str, *, code: str | None = None
    ) -> None:
        transient = _is_transient(exc)
        retries = link.retry_count + 1
        next_at = self.now + self.engine._retry.delay(retries) if transient else None
        code = code or _error_code(exc)
        if link.ews_item_id is not None:
            self.parked_items.add(link.ews_item_id)
        with self.store.transaction():
            stored = self._park_link(link, code, exc, retries, next_at)
            self._journal_link(stored, action, code, "parked")
        self.report.errors[code] += 1
        self.report.parked += 1
        logger.warning(
            "item parked",
            extra={
                "mailbox": self.mailbox,
                "operation": action,
                "response_code": code,
                "item_ref": link.correlation_id,
            },
        )

    def _park_link(
        self,
        link: Link,
        code: str,
        exc: Exception,
        retries: int,
        next_at: datetime | None,
    ) -> Link:
        return self.store.put_link(
            replace(
                link,
                state=LinkState.PARKED,
                last_error_code=code,
                last_error_text=(getattr(exc, "message", None) or type(exc).__name__)[
                    :200
                ],
                last_error_at=self.now,
                retry_count=retries,
                next_attempt_at=next_at,
            )
        )

    def _tombstone(self, link: Link, action: str) -> None:
        stored = self.store.put_link(
            replace(
                link,
                state=LinkState.DELETED,
                last_error_code=None,
                last_error_text=None,
            )
        )
        self._journal_link(stored, action, "deleted", "ok")

    def _forget(self, link: Link, reason: str) -> None:
        self.store.delete_link(link.correlation_id)
        self.report.skipped[reason] += 1
        self._journal_link(link, "unlink", reason, "ok")

    def _fresh_correlation(self, link: Link) -> Link:
        """Drop a link whose CRM side vanished; its successor gets a new key."""
        self.store.delete_link(link.correlation_id)
        return replace(
            link,
            correlation_id=new_correlation_id(),
            crm_id=None,
            crm_version=None,
            crm_hash=None,
            state=LinkState.PENDING_CRM_CREATE,
        )

    def _renew_lease(self) -> None:
        # Limitation: the lease is renewed after each Exchange page only; a CRM
        # pass that writes for longer than lease_ttl (900 s by default) may
        # let another worker take the mailbox over.  Keep lease_ttl well above
        # the slowest mailbox's run time.
        if not self.store.renew_lease(
            self.mailbox, self.engine._worker_id, self.engine._lease_ttl
        ):
            raise LeaseHeldError(
                "lost the mailbox lease to another worker", mailbox=self.mailbox
            )

    def _journal_link(self, link: Link, action: str, reason: str, outcome: str) -> None:
        self.store.append_journal(
            JournalEntry(
                run_id=self.mailbox_report.run_id,
                mailbox=self.mailbox,
                entity=self.entity,
                action=action,
                reason=reason,
                outcome=outcome,
                at=self.engine._clock(),
                crm_id=link.crm_id,
                ews_item_id=link.ews_item_id,
            )
        )

    def _journal(self, action: Action, outcome: str) -> None:
        self.store.append_journal(
            JournalEntry(
                run_id=self.mailbox_report.run_id,
                mailbox=self.mailbox,
                entity=self.entity,
                action=type(action).__name__,
                reason=getattr(action, "reason", ""),
                outcome=outcome,
                at=self.engine._clock(),
            )
        )
