"""A recording ``httpx.MockTransport`` handler for the client tests.

It checks every request the way a server would see it (one operation in the
body, the impersonation header, the anchor header) and answers with canned
bytes chosen by operation, or by a callback for multi-page conversations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from lxml import etree

from crm_ews._soap import parse_xml, soap, t


@dataclass
class SeenRequest:
    """What one request carried."""

    operation: str
    anchor: str | None
    impersonated: str | None
    sid_kind: str | None
    body: etree._Element


@dataclass
class Recorder:
    """Answers requests from ``answers`` and remembers each one."""

    answers: dict[str, bytes | Callable[[etree._Element], bytes]] = field(
        default_factory=dict
    )
    seen: list[SeenRequest] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        envelope = parse_xml(request.content)
        body = envelope.find(soap("Body"))[0]
        operation = etree.QName(body).localname
        sid = envelope.find(
            f"{soap('Header')}/{t('ExchangeImpersonation')}/{t('ConnectingSID')}"
        )
        who = sid[0] if sid is not None and len(sid) else None
        self.seen.append(
            SeenRequest(
                operation=operation,
                anchor=request.headers.get("X-AnchorMailbox"),
                impersonated=who.text if who is not None else None,
                sid_kind=etree.QName(who).localname if who is not None else None,
                body=body,
            )
        )
        answer = self.answers[operation]
        content = answer(body) if callable(answer) else answer
        return httpx.Response(
            200, content=content, headers={"Content-Type": "text/xml; charset=utf-8"}
        )
