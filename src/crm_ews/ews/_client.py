"""The public EWS clients: :class:`EWSClient` (blocking) and :class:`AsyncEWSClient`.

Both are thin.  Every method builds an operation (or a pager over several)
from :mod:`crm_ews.ews._operations` and :mod:`crm_ews.ews._paging`, sends it
through the transport with the impersonation of the named mailbox, and
returns the operation's parsed result.  Argument checks, request building,
paging and window splitting live in those shared sans-IO objects; the two
classes differ only in whether they ``await``.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Final, Self, TypeVar

import httpx

from crm_ews._retry import RetryPolicy
from crm_ews._soap import (
    DEFAULT_MAX_BODY_BYTES,
    ConnectingSIDKind,
    Impersonation,
    ServerVersion,
)
from crm_ews._transport import DEFAULT_TIMEOUT, AsyncTransport, Transport
from crm_ews.errors import EWSError
from crm_ews.ews._models._calendar import CalendarItem
from crm_ews.ews._models._changes import ItemChange
from crm_ews.ews._models._extended import ExtendedPropertyKey
from crm_ews.ews._models._folder import Folder
from crm_ews.ews._models._ids import (
    DistinguishedFolderId,
    FolderId,
    ItemId,
    OccurrenceItemId,
)
from crm_ews.ews._models._item import Item
from crm_ews.ews._operations import (
    DEFAULT_PAGE_SIZE,
    MAX_ENTRIES_RETURNED,
    MAX_SYNC_CHANGES,
    AffectedTaskOccurrences,
    ConflictResolution,
    CreateFolder,
    CreateItem,
    DeleteItem,
    DeleteType,
    FindFolder,
    FindFolderPage,
    FindItem,
    FindItemPage,
    FolderTraversal,
    GetFolder,
    GetItem,
    IndexedPageView,
    IsEqualTo,
    Operation,
    SendMeetingInvitations,
    SendMeetingUpdates,
    SyncFolderHierarchy,
    SyncFolderHierarchyPage,
    SyncFolderItems,
    SyncItemsPage,
    UpdateItem,
)
from crm_ews.ews._paging import (
    DEFAULT_CALENDAR_WINDOW,
    CalendarViewSplitter,
    IndexedPager,
    SyncFolderItemsPager,
)

__all__ = ["AsyncEWSClient", "EWSClient"]

T = TypeVar("T")
ItemT = TypeVar("ItemT", bound=Item)

_PRIMARY: Final = ConnectingSIDKind.PRIMARY_SMTP_ADDRESS

FolderRef = FolderId | DistinguishedFolderId


def _impersonate(mailbox: str, kind: ConnectingSIDKind) -> Impersonation:
    """The per-call impersonation; validates the mailbox before any I/O."""
    return Impersonation(mailbox, kind)


def _raise_or_return(result: T | EWSError) -> T:
    """Single-item convenience methods raise the item's error."""
    if isinstance(result, EWSError):
        raise result
    return result


def _find_item_pager(
    parent: FolderRef,
    item_type: type[ItemT],
    *,
    restriction: IsEqualTo | None,
    page_size: int,
    extended_properties: Iterable[ExtendedPropertyKey],
    mailbox: str,
) -> IndexedPager[FindItem[ItemT], FindItemPage[ItemT]]:
    first = FindItem(
        parent,
        item_type,
        view=IndexedPageView(0, page_size),
        restriction=restriction,
        extended_properties=extended_properties,
    )
    return IndexedPager(first, mailbox=mailbox)


def _find_folder_pager(
    parent: FolderRef, *, traversal: FolderTraversal, page_size: int, mailbox: str
) -> IndexedPager[FindFolder, FindFolderPage]:
    first = FindFolder(parent, traversal=traversal, view=IndexedPageView(0, page_size))
    return IndexedPager(first, mailbox=mailbox)


def _new_folder(
    parent: FolderRef, display_name: str, folder_class: str | None
) -> CreateFolder:
    if not isinstance(display_name, str):
        raise TypeError(
            f"display_name must be a str, not {type(display_name).__name__}"
        )
    if folder_class is not None and not isinstance(folder_class, str):
        raise TypeError(
            f"folder_class must be a str or None, not {type(folder_class).__name__}"
        )
    return CreateFolder(
        parent, [Folder(display_name=display_name, folder_class=folder_class)]
    )


def _refuse_transport_options(given: dict[str, bool]) -> None:
    """Refuse transport options next to a ready-made ``transport``.

    They would be silently ignored, and a caller who passes ``verify=False``
    or a retry policy expects it to apply.
    """
    unused = sorted(name for name, is_set in given.items() if is_set)
    if unused:
        raise ValueError(
            "pass either transport or the options to build one, not both: "
            + ", ".join(unused)
        )


class _ClientState:
    """Open/closed bookkeeping both clients share."""

    _closed: bool = False

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the client is closed; create a new one")


class EWSClient(_ClientState):
    """A blocking EWS client acting on many mailboxes through impersonation.

    Every method takes the target mailbox as the keyword ``mailbox``; the
    service account's credentials (``auth``) must hold the
    ApplicationImpersonation role for it.

    Args:
        url: The EWS endpoint, e.g. ``https://mail.example.com/EWS/Exchange.asmx``.
            Leave it out when passing ``transport``.
        auth: An ``httpx.Auth`` from :mod:`crm_ews.auth`.
        verify: TLS verification: ``True`` (default), an ``ssl.SSLContext``
            or ``False``.
        timeout: Network timeout per step, in seconds or as ``httpx.Timeout``.
        limits: Connection pool limits.
        retry: The retry policy; default ``RetryPolicy()``.
        server_version: ``RequestServerVersion`` sent with every call.
        time_zone_id: Windows time zone id for ``TimeZoneContext``.
        max_body_bytes: Cap on a decoded response body.
        http_transport: An httpx transport to send through instead of the
            network, e.g. ``httpx.MockTransport`` in tests.
        transport: A ready :class:`~crm_ews._transport.Transport` to use
            instead of building one (the options above must then be left
            out); the client does not close it.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: Neither or both of ``url`` and ``transport``, or an
            option out of range.

    Use it as a context manager, or call :meth:`close`; afterwards every
    method raises ``RuntimeError``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        auth: httpx.Auth | None = None,
        verify: bool | ssl.SSLContext = True,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        limits: httpx.Limits | None = None,
        retry: RetryPolicy | None = None,
        server_version: ServerVersion = ServerVersion.EXCHANGE2016,
        time_zone_id: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        http_transport: httpx.BaseTransport | None = None,
        transport: Transport | None = None,
    ) -> None:
        if transport is not None:
            if not isinstance(transport, Transport):
                raise TypeError(
                    f"transport must be a Transport, not {type(transport).__name__}"
                )
            _refuse_transport_options(
                {
                    "url": url is not None,
                    "auth": auth is not None,
                    "verify": verify is not True,
                    "timeout": timeout != DEFAULT_TIMEOUT,
                    "limits": limits is not None,
                    "retry": retry is not None,
                    "server_version": server_version != ServerVersion.EXCHANGE2016,
                    "time_zone_id": time_zone_id is not None,
                    "max_body_bytes": max_body_bytes != DEFAULT_MAX_BODY_BYTES,
                    "http_transport": http_transport is not None,
                }
            )
            self._transport = transport
            self._owns_transport = False
            return
        if url is None:
            raise ValueError("url is required unless a transport is given")
        self._transport = Transport(
            url,
            auth=auth,
            verify=verify,
            timeout=timeout,
            limits=limits,
            retry=retry,
            server_version=server_version,
            time_zone_id=time_zone_id,
            max_body_bytes=max_body_bytes,
            http_transport=http_transport,
        )
        self._owns_transport = True

    # -- lifecycle --------------------------------------------------------

    def close(self) -> None:
        """Close the client (and the transport it built); idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_transport:
            self._transport.close()

    def __enter__(self) -> Self:
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the one place that sends ----------------------------------------

    def call(
        self,
        operation: Operation[T],
        *,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> T:
        """Send any operation object and return its parsed result.

        The methods below are shortcuts for this; use it directly for an
        operation they do not cover, or for results such as
        :meth:`UpdateItem.parse_results`.

        Args:
            operation: A built operation, e.g. ``GetItem([...], Contact)``.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            Whatever ``operation.parse`` returns.

        Raises:
            RuntimeError: The client is closed.
            TypeError, ValueError: ``mailbox`` is empty or malformed.
            EWSError: The server refused the request as a whole.
            TransportError: The network failed after retries.
            ResponseDecodeError: The answer is not what the schema promises.
        """
        return self._send(operation, _impersonate(mailbox, mailbox_kind))

    def _send(self, operation: Operation[T], impersonation: Impersonation) -> T:
        self._check_open()
        response = self._transport.send(
            operation=operation.name,
            body=operation.build(),
            impersonation=impersonation,
            is_idempotent=operation.is_idempotent,
        )
        return operation.parse(response, mailbox=impersonation.mailbox)

    # -- folders ----------------------------------------------------------

    def get_folder(
        self,
        folder_id: FolderRef,
        *,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> Folder:
        """Read one folder.

        Args:
            folder_id: A folder id or a well-known folder such as
                ``DistinguishedFolderId(id="calendar")``.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The folder.

        Raises:
            ItemNotFoundError: No such folder.
            EWSError: Any other refusal; see :meth:`call` for the rest.
        """
        return _raise_or_return(
            self.get_folders([folder_id], mailbox=mailbox, mailbox_kind=mailbox_kind)[0]
        )

    def get_folders(
        self,
        folder_ids: Sequence[FolderRef],
        *,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[Folder | EWSError]:
        """Read several folders in one call.

        Args:
            folder_ids: Folder ids or well-known folders.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            One folder or error instance per id, in order.

        Raises:
            ValueError: ``folder_ids`` is empty.
            EWSError: The request as a whole was refused; see :meth:`call`.
        """
        operation = GetFolder(folder_ids)
        return self._send(operation, _impersonate(mailbox, mailbox_kind))

    def find_folders(
        self,
        parent: FolderRef,
        *,
        traversal: FolderTraversal = FolderTraversal.SHALLOW,
        page_size: int = DEFAULT_PAGE_SIZE,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[Folder]:
        """List the folders below ``parent``, all pages.

        Args:
            parent: The folder to look in, e.g. the ``msgfolderroot``.
            traversal: Direct children or the whole subtree.
            page_size: Folders per call, ``1..1000``.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The folders in server order.

        Raises:
            ValueError: ``page_size`` is out of range.
            EWSError: The server refused; see :meth:`call` for the rest.
        """
        impersonation = _impersonate(mailbox, mailbox_kind)
        pager = _find_folder_pager(
            parent, traversal=traversal, page_size=page_size, mailbox=mailbox
        )
        folders: list[Folder] = []
        while (operation := pager.next_operation()) is not None:
            page = self._send(operation, impersonation)
            pager.feed(page)
            folders.extend(page.folders)

        return folders

    def create_folder(
        self,
        parent: FolderRef,
        display_name: str,
        *,
        folder_class: str | None = None,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> FolderId:
        """Create one folder.

        Args:
            parent: The folder to create it in.
            display_name: The new folder's name.
            folder_class: Its MAPI class, e.g. ``"IPF.Appointment"`` for a
                calendar, ``"IPF.Contact"``, ``"IPF.Task"``.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The new folder's id.

        Raises:
            ValueError: ``display_name`` is empty.
            EWSError: The server refused (``ErrorFolderExists`` becomes
                :class:`~crm_ews.errors.InvalidRequestError`).
        """
        operation = _new_folder(parent, display_name, folder_class)
        results = self._send(operation, _impersonate(mailbox, mailbox_kind))
        return _raise_or_return(results[0])

    def sync_folder_hierarchy(
        self,
        *,
        sync_state: str | None = None,
        folder_id: FolderRef | None = None,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> SyncFolderHierarchyPage:
        """One page of folder changes since ``sync_state``.

        Args:
            sync_state: The state a previous page returned; ``None`` starts
                over.
            folder_id: Limit to the subtree below this folder.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The changes, the new sync state, and whether more are waiting.

        Raises:
            InvalidSyncStateError: ``sync_state`` is unusable; start over.
            EWSError: Any other refusal; see :meth:`call` for the rest.
        """
        operation = SyncFolderHierarchy(sync_state=sync_state, folder_id=folder_id)
        return self._send(operation, _impersonate(mailbox, mailbox_kind))

    # -- finding items ----------------------------------------------------

    def find_items(
        self,
        parent: FolderRef,
        item_type: type[ItemT],
        *,
        restriction: IsEqualTo | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[ItemT]:
        """Every item of ``item_type`` in a folder (all pages).

        Items carry their summary properties only; read bodies, attendees
        and recurrence with :meth:`get_items`.

        Args:
            parent: The folder to search.
            item_type: The model class, e.g. ``Contact``.
            restriction: Only matching items, e.g. ``IsEqualTo(crm_key, "42")``.
            page_size: Items per call, ``1..1000``.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The items in server order.

        Raises:
            ValueError: ``page_size`` is out of range.
            EWSError: The server refused; see :meth:`call` for the rest.

        Warning:
            Paging is by offset: items added or deleted meanwhile can shift
            the pages.  Use :meth:`sync_folder_items` for a consistent view.
        """
        items: list[ItemT] = []
        for page in self.iter_find_items(
            parent,
            item_type,
            restriction=restriction,
            page_size=page_size,
            extended_properties=extended_properties,
            mailbox=mailbox,
            mailbox_kind=mailbox_kind,
        ):
            items.extend(page.items)

        return items

    def iter_find_items(
        self,
        parent: FolderRef,
        item_type: type[ItemT],
        *,
        restriction: IsEqualTo | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> Iterator[FindItemPage[ItemT]]:
        """Like :meth:`find_items`, one page at a time.

        Arguments are checked when this is called, before the first page is
        requested.

        Args:
            parent: The folder to search.
            item_type: The model class, e.g. ``Contact``.
            restriction: Only matching items.
            page_size: Items per call, ``1..1000``.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            An iterator of pages; each is fetched when the previous one has
            been consumed.

        Raises:
            ValueError: ``page_size`` is out of range.
            EWSError: The server refused (while iterating).
        """
        impersonation = _impersonate(mailbox, mailbox_kind)
        pager = _find_item_pager(
            parent,
            item_type,
            restriction=restriction,
            page_size=page_size,
            extended_properties=extended_properties,
            mailbox=mailbox,
        )
        return self._iter_pages(pager, impersonation)

    def _iter_pages(
        self,
        pager: IndexedPager[FindItem[ItemT], FindItemPage[ItemT]],
        impersonation: Impersonation,
    ) -> Iterator[FindItemPage[ItemT]]:
        while (operation := pager.next_operation()) is not None:
            page = self._send(operation, impersonation)
            pager.feed(page)
            yield page

    def calendar_view(
        self,
        folder: FolderRef,
        start: datetime,
        end: datetime,
        *,
        window: timedelta = DEFAULT_CALENDAR_WINDOW,
        max_entries: int = MAX_ENTRIES_RETURNED,
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[CalendarItem]:
        """The appointments and occurrences overlapping ``[start, end)``.

        Recurring series are expanded into occurrences (the series master
        itself is not returned).  Long ranges are split into windows, and
        windows hitting the server's item cap are halved, so the result is
        complete whatever the range.

        Args:
            folder: The calendar folder.
            start: Range start, timezone-aware.
            end: Range end, timezone-aware and after ``start``.
            window: Initial window width, at most two years.
            max_entries: Items per call, ``1..1000``.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            Each item once, in window order.

        Raises:
            ValueError: A naive datetime, ``end`` before ``start``, or a
                window or ``max_entries`` out of range.
            InvalidRequestError: More than ``max_entries`` items overlap one
                minute (``ErrorExceededFindCountLimit``).
            EWSError: The server refused; see :meth:`call` for the rest.
        """
        impersonation = _impersonate(mailbox, mailbox_kind)
        splitter = CalendarViewSplitter(
            folder,
            start,
            end,
            window=window,
            max_entries=max_entries,
            extended_properties=extended_properties,
            mailbox=mailbox,
        )
        items: list[CalendarItem] = []
        while (operation := splitter.next_operation()) is not None:
            items.extend(splitter.feed(self._send(operation, impersonation)))

        return items

    # -- items by id ------------------------------------------------------

    def get_items(
        self,
        ids: Sequence[ItemId | OccurrenceItemId],
        item_type: type[ItemT],
        *,
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[ItemT | EWSError]:
        """Read items by id with every property their model maps.

        Args:
            ids: The items to read.
            item_type: The model class, e.g. ``CalendarItem``.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            One item or error instance per id, in order (a vanished item
            gives :class:`~crm_ews.errors.ItemNotFoundError`).

        Raises:
            ValueError: ``ids`` is empty.
            EWSError: The request as a whole was refused; see :meth:`call`.
        """
        operation = GetItem(ids, item_type, extended_properties=extended_properties)
        return self._send(operation, _impersonate(mailbox, mailbox_kind))

    def create_items(
        self,
        items: Sequence[Item],
        *,
        saved_item_folder_id: FolderRef | None = None,
        send_meeting_invitations: SendMeetingInvitations = (
            SendMeetingInvitations.SEND_TO_NONE
        ),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[ItemId | EWSError]:
        """Create items.

        Args:
            items: The new items.
            saved_item_folder_id: The folder to save them in; ``None`` uses
                the default folder of each item's kind.
            send_meeting_invitations: Whether meetings mail their attendees;
                by default nobody is mailed.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            One new id (with change key) or error instance per item, in order.

        Raises:
            ValueError: ``items`` is empty.
            EWSError: The request as a whole was refused; see :meth:`call`.

        Warning:
            Creating is not idempotent, so a call whose answer was lost is
            not resent; after a ``TransportError`` the items may or may not
            exist.  Find them by their CRM link before creating them again.
        """
        operation = CreateItem(
            items,
            saved_item_folder_id=saved_item_folder_id,
            send_meeting_invitations=send_meeting_invitations,
        )
        return self._send(operation, _impersonate(mailbox, mailbox_kind))

    def update_items(
        self,
        changes: Sequence[ItemChange],
        *,
        conflict_resolution: ConflictResolution = ConflictResolution.NEVER_OVERWRITE,
        send_meeting_invitations_or_cancellations: SendMeetingUpdates = (
            SendMeetingUpdates.SEND_TO_NONE
        ),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[ItemId | EWSError]:
        """Change properties of existing items.

        Args:
            changes: One :class:`ItemChange` per item, each with the change
                key the item was read with.
            conflict_resolution: By default a stale change key makes that
                item's result an :class:`~crm_ews.errors.EditConflictError`.
            send_meeting_invitations_or_cancellations: Whether changed
                meetings mail their attendees; by default nobody is mailed.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            One id with the new change key, or error instance, per change.

        Raises:
            ValueError: ``changes`` is empty or an id has no change key.
            EWSError: The request as a whole was refused; see :meth:`call`.
        """
        operation = UpdateItem(
            changes,
            conflict_resolution=conflict_resolution,
            send_meeting_invitations_or_cancellations=(
                send_meeting_invitations_or_cancellations
            ),
        )
        return self._send(operation, _impersonate(mailbox, mailbox_kind))

    def delete_items(
        self,
        ids: Sequence[ItemId | OccurrenceItemId],
        *,
        delete_type: DeleteType = DeleteType.MOVE_TO_DELETED_ITEMS,
        send_meeting_cancellations: SendMeetingInvitations = (
            SendMeetingInvitations.SEND_TO_NONE
        ),
        affected_task_occurrences: AffectedTaskOccurrences = (
            AffectedTaskOccurrences.ALL_OCCURRENCES
        ),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[EWSError | None]:
        """Delete items.

        Args:
            ids: The items to delete.
            delete_type: Where they go; by default to Deleted Items.
            send_meeting_cancellations: Whether deleted meetings mail their
                attendees; by default nobody is mailed.
            affected_task_occurrences: For recurring tasks, which occurrences.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            ``None`` per deleted item or its error instance, in order.

        Raises:
            ValueError: ``ids`` is empty.
            EWSError: The request as a whole was refused; see :meth:`call`.
        """
        operation = DeleteItem(
            ids,
            delete_type=delete_type,
            send_meeting_cancellations=send_meeting_cancellations,
            affected_task_occurrences=affected_task_occurrences,
        )
        return self._send(operation, _impersonate(mailbox, mailbox_kind))

    # -- syncing items ----------------------------------------------------

    def sync_folder_items(
        self,
        folder_id: FolderRef,
        item_type: type[ItemT],
        *,
        sync_state: str | None = None,
        max_changes_returned: int = MAX_SYNC_CHANGES,
        ignore: Sequence[ItemId] = (),
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> SyncItemsPage[ItemT]:
        """One page of item changes in a folder since ``sync_state``.

        Args:
            folder_id: The folder to sync.
            item_type: The model class; other kinds of item are left out.
            sync_state: The state the previous page returned; ``None``
                starts over and reports every item as created.
            max_changes_returned: Page size, ``1..512``.
            ignore: Items whose changes should not be reported.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The changes in server order, the new sync state (store it after
            applying the changes) and whether more pages are waiting.

        Raises:
            ValueError: ``max_changes_returned`` is out of range.
            InvalidSyncStateError: ``sync_state`` is unusable; start over.
            EWSError: Any other refusal; see :meth:`call` for the rest.
        """
        operation = SyncFolderItems(
            folder_id,
            item_type,
            sync_state=sync_state,
            max_changes_returned=max_changes_returned,
            ignore=ignore,
            extended_properties=extended_properties,
        )
        return self._send(operation, _impersonate(mailbox, mailbox_kind))

    def iter_sync_folder_items(
        self,
        folder_id: FolderRef,
        item_type: type[ItemT],
        *,
        sync_state: str | None = None,
        max_changes_returned: int = MAX_SYNC_CHANGES,
        ignore: Sequence[ItemId] = (),
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> Iterator[SyncItemsPage[ItemT]]:
        """Every page of item changes until the folder is synced.

        Arguments are checked when this is called.  Store each page's
        ``sync_state`` after applying it; the next page is requested only
        when the iterator is advanced.

        Args:
            folder_id: The folder to sync.
            item_type: The model class; other kinds of item are left out.
            sync_state: The stored state, or ``None`` to start over.
            max_changes_returned: Page size, ``1..512``.
            ignore: Items whose changes should not be reported.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            An iterator of pages.

        Raises:
            ValueError: ``max_changes_returned`` is out of range.
            InvalidSyncStateError: ``sync_state`` is unusable (while
                iterating); start over.
        """
        impersonation = _impersonate(mailbox, mailbox_kind)
        pager = SyncFolderItemsPager(
            SyncFolderItems(
                folder_id,
                item_type,
                sync_state=sync_state,
                max_changes_returned=max_changes_returned,
                ignore=ignore,
                extended_properties=extended_properties,
            )
        )
        return self._iter_sync_pages(pager, impersonation)

    def _iter_sync_pages(
        self, pager: SyncFolderItemsPager[ItemT], impersonation: Impersonation
    ) -> Iterator[SyncItemsPage[ItemT]]:
        while (operation := pager.next_operation()) is not None:
            page = self._send(operation, impersonation)
            pager.feed(page)
            yield page


class AsyncEWSClient(_ClientState):
    """The asyncio EWS client; the same methods as :class:`EWSClient`, awaited.

    Every method takes the target mailbox as the keyword ``mailbox``; the
    service account's credentials (``auth``) must hold the
    ApplicationImpersonation role for it.

    Args:
        url: The EWS endpoint, e.g. ``https://mail.example.com/EWS/Exchange.asmx``.
            Leave it out when passing ``transport``.
        auth: An ``httpx.Auth`` from :mod:`crm_ews.auth`.
        verify: TLS verification: ``True`` (default), an ``ssl.SSLContext``
            or ``False``.
        timeout: Network timeout per step, in seconds or as ``httpx.Timeout``.
        limits: Connection pool limits.
        retry: The retry policy; default ``RetryPolicy()``.
        server_version: ``RequestServerVersion`` sent with every call.
        time_zone_id: Windows time zone id for ``TimeZoneContext``.
        max_body_bytes: Cap on a decoded response body.
        http_transport: An httpx async transport to send through instead of
            the network, e.g. ``httpx.MockTransport`` in tests.
        transport: A ready :class:`~crm_ews._transport.AsyncTransport` to
            use instead of building one (the options above must then be left
            out); the client does not close it.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: Neither or both of ``url`` and ``transport``, or an
            option out of range.

    Use it as an async context manager, or call :meth:`aclose`; afterwards
    every method raises ``RuntimeError``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        auth: httpx.Auth | None = None,
        verify: bool | ssl.SSLContext = True,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        limits: httpx.Limits | None = None,
        retry: RetryPolicy | None = None,
        server_version: ServerVersion = ServerVersion.EXCHANGE2016,
        time_zone_id: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        http_transport: httpx.AsyncBaseTransport | None = None,
        transport: AsyncTransport | None = None,
    ) -> None:
        if transport is not None:
            if not isinstance(transport, AsyncTransport):
                raise TypeError(
                    "transport must be an AsyncTransport, "
                    f"not {type(transport).__name__}"
                )
            _refuse_transport_options(
                {
                    "url": url is not None,
                    "auth": auth is not None,
                    "verify": verify is not True,
                    "timeout": timeout != DEFAULT_TIMEOUT,
                    "limits": limits is not None,
                    "retry": retry is not None,
                    "server_version": server_version != ServerVersion.EXCHANGE2016,
                    "time_zone_id": time_zone_id is not None,
                    "max_body_bytes": max_body_bytes != DEFAULT_MAX_BODY_BYTES,
                    "http_transport": http_transport is not None,
                }
            )
            self._transport = transport
            self._owns_transport = False
            return
        if url is None:
            raise ValueError("url is required unless a transport is given")
        self._transport = AsyncTransport(
            url,
            auth=auth,
            verify=verify,
            timeout=timeout,
            limits=limits,
            retry=retry,
            server_version=server_version,
            time_zone_id=time_zone_id,
            max_body_bytes=max_body_bytes,
            http_transport=http_transport,
        )
        self._owns_transport = True

    # -- lifecycle --------------------------------------------------------

    async def aclose(self) -> None:
        """Close the client (and the transport it built); idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_transport:
            await self._transport.aclose()

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the one place that sends ----------------------------------------

    async def call(
        self,
        operation: Operation[T],
        *,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> T:
        """Send any operation object and return its parsed result.

        The methods below are shortcuts for this; use it directly for an
        operation they do not cover, or for results such as
        :meth:`UpdateItem.parse_results`.

        Args:
            operation: A built operation, e.g. ``GetItem([...], Contact)``.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            Whatever ``operation.parse`` returns.

        Raises:
            RuntimeError: The client is closed.
            TypeError, ValueError: ``mailbox`` is empty or malformed.
            EWSError: The server refused the request as a whole.
            TransportError: The network failed after retries.
            ResponseDecodeError: The answer is not what the schema promises.
        """
        return await self._send(operation, _impersonate(mailbox, mailbox_kind))

    async def _send(self, operation: Operation[T], impersonation: Impersonation) -> T:
        self._check_open()
        response = await self._transport.send(
            operation=operation.name,
            body=operation.build(),
            impersonation=impersonation,
            is_idempotent=operation.is_idempotent,
        )
        return operation.parse(response, mailbox=impersonation.mailbox)

    # -- folders ----------------------------------------------------------

    async def get_folder(
        self,
        folder_id: FolderRef,
        *,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> Folder:
        """Read one folder.

        Args:
            folder_id: A folder id or a well-known folder such as
                ``DistinguishedFolderId(id="calendar")``.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The folder.

        Raises:
            ItemNotFoundError: No such folder.
            EWSError: Any other refusal; see :meth:`call` for the rest.
        """
        return _raise_or_return(
            (
                await self.get_folders(
                    [folder_id], mailbox=mailbox, mailbox_kind=mailbox_kind
                )
            )[0]
        )

    async def get_folders(
        self,
        folder_ids: Sequence[FolderRef],
        *,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[Folder | EWSError]:
        """Read several folders in one call.

        Args:
            folder_ids: Folder ids or well-known folders.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            One folder or error instance per id, in order.

        Raises:
            ValueError: ``folder_ids`` is empty.
            EWSError: The request as a whole was refused; see :meth:`call`.
        """
        operation = GetFolder(folder_ids)
        return await self._send(operation, _impersonate(mailbox, mailbox_kind))

    async def find_folders(
        self,
        parent: FolderRef,
        *,
        traversal: FolderTraversal = FolderTraversal.SHALLOW,
        page_size: int = DEFAULT_PAGE_SIZE,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[Folder]:
        """List the folders below ``parent``, all pages.

        Args:
            parent: The folder to look in, e.g. the ``msgfolderroot``.
            traversal: Direct children or the whole subtree.
            page_size: Folders per call, ``1..1000``.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The folders in server order.

        Raises:
            ValueError: ``page_size`` is out of range.
            EWSError: The server refused; see :meth:`call` for the rest.
        """
        impersonation = _impersonate(mailbox, mailbox_kind)
        pager = _find_folder_pager(
            parent, traversal=traversal, page_size=page_size, mailbox=mailbox
        )
        folders: list[Folder] = []
        while (operation := pager.next_operation()) is not None:
            page = await self._send(operation, impersonation)
            pager.feed(page)
            folders.extend(page.folders)

        return folders

    async def create_folder(
        self,
        parent: FolderRef,
        display_name: str,
        *,
        folder_class: str | None = None,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> FolderId:
        """Create one folder.

        Args:
            parent: The folder to create it in.
            display_name: The new folder's name.
            folder_class: Its MAPI class, e.g. ``"IPF.Appointment"`` for a
                calendar, ``"IPF.Contact"``, ``"IPF.Task"``.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The new folder's id.

        Raises:
            ValueError: ``display_name`` is empty.
            EWSError: The server refused (``ErrorFolderExists`` becomes
                :class:`~crm_ews.errors.InvalidRequestError`).
        """
        operation = _new_folder(parent, display_name, folder_class)
        results = await self._send(operation, _impersonate(mailbox, mailbox_kind))
        return _raise_or_return(results[0])

    async def sync_folder_hierarchy(
        self,
        *,
        sync_state: str | None = None,
        folder_id: FolderRef | None = None,
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> SyncFolderHierarchyPage:
        """One page of folder changes since ``sync_state``.

        Args:
            sync_state: The state a previous page returned; ``None`` starts
                over.
            folder_id: Limit to the subtree below this folder.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The changes, the new sync state, and whether more are waiting.

        Raises:
            InvalidSyncStateError: ``sync_state`` is unusable; start over.
            EWSError: Any other refusal; see :meth:`call` for the rest.
        """
        operation = SyncFolderHierarchy(sync_state=sync_state, folder_id=folder_id)
        return await self._send(operation, _impersonate(mailbox, mailbox_kind))

    # -- finding items ----------------------------------------------------

    async def find_items(
        self,
        parent: FolderRef,
        item_type: type[ItemT],
        *,
        restriction: IsEqualTo | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[ItemT]:
        """Every item of ``item_type`` in a folder (all pages).

        Items carry their summary properties only; read bodies, attendees
        and recurrence with :meth:`get_items`.

        Args:
            parent: The folder to search.
            item_type: The model class, e.g. ``Contact``.
            restriction: Only matching items, e.g. ``IsEqualTo(crm_key, "42")``.
            page_size: Items per call, ``1..1000``.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The items in server order.

        Raises:
            ValueError: ``page_size`` is out of range.
            EWSError: The server refused; see :meth:`call` for the rest.

        Warning:
            Paging is by offset: items added or deleted meanwhile can shift
            the pages.  Use :meth:`sync_folder_items` for a consistent view.
        """
        items: list[ItemT] = []
        async for page in self.iter_find_items(
            parent,
            item_type,
            restriction=restriction,
            page_size=page_size,
            extended_properties=extended_properties,
            mailbox=mailbox,
            mailbox_kind=mailbox_kind,
        ):
            items.extend(page.items)

        return items

    def iter_find_items(
        self,
        parent: FolderRef,
        item_type: type[ItemT],
        *,
        restriction: IsEqualTo | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> AsyncIterator[FindItemPage[ItemT]]:
        """Like :meth:`find_items`, one page at a time.

        Arguments are checked when this is called, before the first page is
        requested.

        Args:
            parent: The folder to search.
            item_type: The model class, e.g. ``Contact``.
            restriction: Only matching items.
            page_size: Items per call, ``1..1000``.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            An async iterator of pages; each is fetched when the previous one has
            been consumed.

        Raises:
            ValueError: ``page_size`` is out of range.
            EWSError: The server refused (while iterating).
        """
        impersonation = _impersonate(mailbox, mailbox_kind)
        pager = _find_item_pager(
            parent,
            item_type,
            restriction=restriction,
            page_size=page_size,
            extended_properties=extended_properties,
            mailbox=mailbox,
        )
        return self._iter_pages(pager, impersonation)

    async def _iter_pages(
        self,
        pager: IndexedPager[FindItem[ItemT], FindItemPage[ItemT]],
        impersonation: Impersonation,
    ) -> AsyncIterator[FindItemPage[ItemT]]:
        while (operation := pager.next_operation()) is not None:
            page = await self._send(operation, impersonation)
            pager.feed(page)
            yield page

    async def calendar_view(
        self,
        folder: FolderRef,
        start: datetime,
        end: datetime,
        *,
        window: timedelta = DEFAULT_CALENDAR_WINDOW,
        max_entries: int = MAX_ENTRIES_RETURNED,
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[CalendarItem]:
        """The appointments and occurrences overlapping ``[start, end)``.

        Recurring series are expanded into occurrences (the series master
        itself is not returned).  Long ranges are split into windows, and
        windows hitting the server's item cap are halved, so the result is
        complete whatever the range.

        Args:
            folder: The calendar folder.
            start: Range start, timezone-aware.
            end: Range end, timezone-aware and after ``start``.
            window: Initial window width, at most two years.
            max_entries: Items per call, ``1..1000``.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            Each item once, in window order.

        Raises:
            ValueError: A naive datetime, ``end`` before ``start``, or a
                window or ``max_entries`` out of range.
            InvalidRequestError: More than ``max_entries`` items overlap one
                minute (``ErrorExceededFindCountLimit``).
            EWSError: The server refused; see :meth:`call` for the rest.
        """
        impersonation = _impersonate(mailbox, mailbox_kind)
        splitter = CalendarViewSplitter(
            folder,
            start,
            end,
            window=window,
            max_entries=max_entries,
            extended_properties=extended_properties,
            mailbox=mailbox,
        )
        items: list[CalendarItem] = []
        while (operation := splitter.next_operation()) is not None:
            items.extend(splitter.feed(await self._send(operation, impersonation)))

        return items

    # -- items by id ------------------------------------------------------

    async def get_items(
        self,
        ids: Sequence[ItemId | OccurrenceItemId],
        item_type: type[ItemT],
        *,
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[ItemT | EWSError]:
        """Read items by id with every property their model maps.

        Args:
            ids: The items to read.
            item_type: The model class, e.g. ``CalendarItem``.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            One item or error instance per id, in order (a vanished item
            gives :class:`~crm_ews.errors.ItemNotFoundError`).

        Raises:
            ValueError: ``ids`` is empty.
            EWSError: The request as a whole was refused; see :meth:`call`.
        """
        operation = GetItem(ids, item_type, extended_properties=extended_properties)
        return await self._send(operation, _impersonate(mailbox, mailbox_kind))

    async def create_items(
        self,
        items: Sequence[Item],
        *,
        saved_item_folder_id: FolderRef | None = None,
        send_meeting_invitations: SendMeetingInvitations = (
            SendMeetingInvitations.SEND_TO_NONE
        ),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[ItemId | EWSError]:
        """Create items.

        Args:
            items: The new items.
            saved_item_folder_id: The folder to save them in; ``None`` uses
                the default folder of each item's kind.
            send_meeting_invitations: Whether meetings mail their attendees;
                by default nobody is mailed.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            One new id (with change key) or error instance per item, in order.

        Raises:
            ValueError: ``items`` is empty.
            EWSError: The request as a whole was refused; see :meth:`call`.

        Warning:
            Creating is not idempotent, so a call whose answer was lost is
            not resent; after a ``TransportError`` the items may or may not
            exist.  Find them by their CRM link before creating them again.
        """
        operation = CreateItem(
            items,
            saved_item_folder_id=saved_item_folder_id,
            send_meeting_invitations=send_meeting_invitations,
        )
        return await self._send(operation, _impersonate(mailbox, mailbox_kind))

    async def update_items(
        self,
        changes: Sequence[ItemChange],
        *,
        conflict_resolution: ConflictResolution = ConflictResolution.NEVER_OVERWRITE,
        send_meeting_invitations_or_cancellations: SendMeetingUpdates = (
            SendMeetingUpdates.SEND_TO_NONE
        ),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[ItemId | EWSError]:
        """Change properties of existing items.

        Args:
            changes: One :class:`ItemChange` per item, each with the change
                key the item was read with.
            conflict_resolution: By default a stale change key makes that
                item's result an :class:`~crm_ews.errors.EditConflictError`.
            send_meeting_invitations_or_cancellations: Whether changed
                meetings mail their attendees; by default nobody is mailed.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            One id with the new change key, or error instance, per change.

        Raises:
            ValueError: ``changes`` is empty or an id has no change key.
            EWSError: The request as a whole was refused; see :meth:`call`.
        """
        operation = UpdateItem(
            changes,
            conflict_resolution=conflict_resolution,
            send_meeting_invitations_or_cancellations=(
                send_meeting_invitations_or_cancellations
            ),
        )
        return await self._send(operation, _impersonate(mailbox, mailbox_kind))

    async def delete_items(
        self,
        ids: Sequence[ItemId | OccurrenceItemId],
        *,
        delete_type: DeleteType = DeleteType.MOVE_TO_DELETED_ITEMS,
        send_meeting_cancellations: SendMeetingInvitations = (
            SendMeetingInvitations.SEND_TO_NONE
        ),
        affected_task_occurrences: AffectedTaskOccurrences = (
            AffectedTaskOccurrences.ALL_OCCURRENCES
        ),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> list[EWSError | None]:
        """Delete items.

        Args:
            ids: The items to delete.
            delete_type: Where they go; by default to Deleted Items.
            send_meeting_cancellations: Whether deleted meetings mail their
                attendees; by default nobody is mailed.
            affected_task_occurrences: For recurring tasks, which occurrences.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            ``None`` per deleted item or its error instance, in order.

        Raises:
            ValueError: ``ids`` is empty.
            EWSError: The request as a whole was refused; see :meth:`call`.
        """
        operation = DeleteItem(
            ids,
            delete_type=delete_type,
            send_meeting_cancellations=send_meeting_cancellations,
            affected_task_occurrences=affected_task_occurrences,
        )
        return await self._send(operation, _impersonate(mailbox, mailbox_kind))

    # -- syncing items ----------------------------------------------------

    async def sync_folder_items(
        self,
        folder_id: FolderRef,
        item_type: type[ItemT],
        *,
        sync_state: str | None = None,
        max_changes_returned: int = MAX_SYNC_CHANGES,
        ignore: Sequence[ItemId] = (),
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> SyncItemsPage[ItemT]:
        """One page of item changes in a folder since ``sync_state``.

        Args:
            folder_id: The folder to sync.
            item_type: The model class; other kinds of item are left out.
            sync_state: The state the previous page returned; ``None``
                starts over and reports every item as created.
            max_changes_returned: Page size, ``1..512``.
            ignore: Items whose changes should not be reported.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            The changes in server order, the new sync state (store it after
            applying the changes) and whether more pages are waiting.

        Raises:
            ValueError: ``max_changes_returned`` is out of range.
            InvalidSyncStateError: ``sync_state`` is unusable; start over.
            EWSError: Any other refusal; see :meth:`call` for the rest.
        """
        operation = SyncFolderItems(
            folder_id,
            item_type,
            sync_state=sync_state,
            max_changes_returned=max_changes_returned,
            ignore=ignore,
            extended_properties=extended_properties,
        )
        return await self._send(operation, _impersonate(mailbox, mailbox_kind))

    def iter_sync_folder_items(
        self,
        folder_id: FolderRef,
        item_type: type[ItemT],
        *,
        sync_state: str | None = None,
        max_changes_returned: int = MAX_SYNC_CHANGES,
        ignore: Sequence[ItemId] = (),
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str,
        mailbox_kind: ConnectingSIDKind = _PRIMARY,
    ) -> AsyncIterator[SyncItemsPage[ItemT]]:
        """Every page of item changes until the folder is synced.

        Arguments are checked when this is called.  Store each page's
        ``sync_state`` after applying it; the next page is requested only
        when the iterator is advanced.

        Args:
            folder_id: The folder to sync.
            item_type: The model class; other kinds of item are left out.
            sync_state: The stored state, or ``None`` to start over.
            max_changes_returned: Page size, ``1..512``.
            ignore: Items whose changes should not be reported.
            extended_properties: Extended properties to return as well.
            mailbox: The mailbox to act on.
            mailbox_kind: How ``mailbox`` names it.

        Returns:
            An async iterator of pages.

        Raises:
            ValueError: ``max_changes_returned`` is out of range.
            InvalidSyncStateError: ``sync_state`` is unusable (while
                iterating); start over.
        """
        impersonation = _impersonate(mailbox, mailbox_kind)
        pager = SyncFolderItemsPager(
            SyncFolderItems(
                folder_id,
                item_type,
                sync_state=sync_state,
                max_changes_returned=max_changes_returned,
                ignore=ignore,
                extended_properties=extended_properties,
            )
        )
        return self._iter_sync_pages(pager, impersonation)

    async def _iter_sync_pages(
        self, pager: SyncFolderItemsPager[ItemT], impersonation: Impersonation
    ) -> AsyncIterator[SyncItemsPage[ItemT]]:
        while (operation := pager.next_operation()) is not None:
            page = await self._send(operation, impersonation)
            pager.feed(page)
            yield page
