"""A minimal SOAP client for driving the simulator from tests.

It builds envelopes with the library's codec (``crm_ews._soap``) and sends
them through the in-process transport, so each test reads as "send this
EWS request, look at that response".
"""

from __future__ import annotations

from types import TracebackType
from typing import Final

import httpx
from lxml import etree

from crm_ews._soap import (
    MESSAGES_NS,
    TYPES_NS,
    Impersonation,
    ServerVersion,
    build_envelope,
    decode_envelope,
    m,
    parse_xml,
    t,
)
from crm_ews.testing import EWS_PATH, ExchangeSimulator, SimulatorTransport
from crm_ews.testing.pytest_plugin import PASSWORD, SERVICE_ACCOUNT

ALICE: Final = "alice@example.com"
BOB: Final = "bob@example.com"
_NS: Final = f'xmlns:m="{MESSAGES_NS}" xmlns:t="{TYPES_NS}"'


def request(operation: str, inner: str = "", **attributes: str) -> etree._Element:
    """An ``m:<operation>`` element from XML text using ``m:``/``t:`` prefixes."""
    attrs = "".join(f' {name}="{value}"' for name, value in attributes.items())
    text = f"<m:{operation} {_NS}{attrs}>{inner}</m:{operation}>"
    return parse_xml(text.encode())


def folder_ref(folder: str) -> str:
    """A folder id element: distinguished names stay names, else a FolderId."""
    if len(folder) > 40:
        return f'<t:FolderId Id="{folder}"/>'
    return f'<t:DistinguishedFolderId Id="{folder}"/>'


def messages(response: etree._Element) -> list[etree._Element]:
    """The response messages of an operation response, in order."""
    container = response.find(m("ResponseMessages"))
    assert container is not None
    return list(container)


def code(message: etree._Element) -> str:
    """The ResponseCode of one response message."""
    return message.findtext(m("ResponseCode")) or ""


def item_ids(response: etree._Element) -> list[tuple[str, str]]:
    """``(Id, ChangeKey)`` of every ``t:ItemId`` under the response's items."""
    return [
        (element.get("Id") or "", element.get("ChangeKey") or "")
        for element in response.iter(t("ItemId"))
    ]


class SOAPClient:
    """Sends EWS requests to a simulator as the fixtures' service account."""

    def __init__(
        self,
        simulator: ExchangeSimulator,
        *,
        account: str = SERVICE_ACCOUNT,
        password: str = PASSWORD,
    ) -> None:
        self.simulator = simulator
        self.http = httpx.Client(
            transport=SimulatorTransport(simulator),
            base_url="http://simulator.test",
            auth=(account, password),
        )

    def close(self) -> None:
        """Release the HTTP client."""
        self.http.close()

    def __enter__(self) -> SOAPClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def post(
        self, body: bytes, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST raw bytes to the EWS endpoint."""
        return self.http.post(
            EWS_PATH,
            content=body,
            headers={"Content-Type": "text/xml; charset=utf-8", **(headers or {})},
        )

    def send(
        self,
        body: etree._Element,
        *,
        mailbox: str | None = ALICE,
        version: ServerVersion = ServerVersion.EXCHANGE2016,
    ) -> httpx.Response:
        """Wrap ``body`` in an envelope for ``mailbox`` and POST it."""
        impersonation = Impersonation(mailbox) if mailbox else None
        envelope = build_envelope(
            body, impersonation=impersonation, server_version=version
        )
        headers = {"X-AnchorMailbox": mailbox} if mailbox else {}
        return self.post(envelope, headers)

    def call(
        self, body: etree._Element, *, mailbox: str | None = ALICE
    ) -> etree._Element:
        """Send ``body`` and return the decoded ``m:<Operation>Response``.

        Raises the library's typed ``EWSError`` for SOAP faults.
        """
        operation = etree.QName(body).localname
        response = self.send(body, mailbox=mailbox)
        return decode_envelope(
            response.content, operation=operation, mailbox=mailbox
        ).element

    # --- shortcuts for common requests --------------------------------------

    def create(
        self,
        items: str,
        *,
        folder: str | None = None,
        mailbox: str = ALICE,
        **attrs: str,
    ) -> list[tuple[str, str]]:
        """CreateItem; returns ``(Id, ChangeKey)`` per created item."""
        saved = (
            f"<m:SavedItemFolderId>{folder_ref(folder)}</m:SavedItemFolderId>"
            if folder
            else ""
        )
        response = self.call(
            request("CreateItem", f"{saved}<m:Items>{items}</m:Items>", **attrs),
            mailbox=mailbox,
        )
        for message in messages(response):
            assert code(message) == "NoError", etree.tostring(message)
        return item_ids(response)

    def get(
        self,
        ids: list[str],
        *,
        shape: str = "AllProperties",
        additional: str = "",
        mailbox: str = ALICE,
    ) -> etree._Element:
        """GetItem for ``ids``; returns the whole response."""
        props = (
            f"<t:AdditionalProperties>{additional}</t:AdditionalProperties>"
            if additional
            else ""
        )
        refs = "".join(f'<t:ItemId Id="{item_id}"/>' for item_id in ids)
        body = request(
            "GetItem",
            f"<m:ItemShape><t:BaseShape>{shape}</t:BaseShape>{props}</m:ItemShape>"
            f"<m:ItemIds>{refs}</m:ItemIds>",
        )
        return self.call(body, mailbox=mailbox)

    def update(
        self,
        item_id: str,
        change_key: str | None,
        updates: str,
        *,
        mode: str = "NeverOverwrite",
        mailbox: str = ALICE,
    ) -> etree._Element:
        """UpdateItem with one ItemChange; returns the single response message."""
        ck = f' ChangeKey="{change_key}"' if change_key else ""
        body = request(
            "UpdateItem",
            f'<m:ItemChanges><t:ItemChange><t:ItemId Id="{item_id}"{ck}/>'
            f"<t:Updates>{updates}</t:Updates></t:ItemChange></m:ItemChanges>",
            ConflictResolution=mode,
            SendMeetingInvitationsOrCancellations="SendToNone",
        )
        return messages(self.call(body, mailbox=mailbox))[0]

    def sync(
        self,
        folder: str,
        state: str | None = None,
        *,
        limit: int = 512,
        mailbox: str = ALICE,
        ignore: str = "",
    ) -> etree._Element:
        """SyncFolderItems; returns the single response message."""
        state_xml = f"<m:SyncState>{state}</m:SyncState>" if state is not None else ""
        ignore_xml = f"<m:Ignore>{ignore}</m:Ignore>" if ignore else ""
        body = request(
            "SyncFolderItems",
            "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
            '<t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/>'
            "</t:AdditionalProperties></m:ItemShape>"
            f"<m:SyncFolderId>{folder_ref(folder)}</m:SyncFolderId>{state_xml}{ignore_xml}"
            f"<m:MaxChangesReturned>{limit}</m:MaxChangesReturned>",
        )
        return messages(self.call(body, mailbox=mailbox))[0]
