"""The simulator's answer to one HTTP request, independent of any server."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from http import HTTPStatus


class Disconnect(Enum):
    """How the connection ends after the simulator answered."""

    #: Send the whole response.
    NONE = "none"
    #: Close the connection without sending anything.
    BEFORE_RESPONSE = "before_response"
    #: Send the status, headers and the first part of the body, then close.
    MID_BODY = "mid_body"


@dataclass(frozen=True, slots=True)
class SimulatedResponse:
    """What the simulator answers; the server layer decides how to send it."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    disconnect: Disconnect = Disconnect.NONE

    @property
    def reason(self) -> str:
        """The HTTP reason phrase for ``status``."""
        return HTTPStatus(self.status).phrase

    @property
    def sent_body(self) -> bytes:
        """The bytes that actually go out (half the body when cut short)."""
        if self.disconnect is Disconnect.MID_BODY:
            return self.body[: max(len(self.body) // 2, 1)]
        if self.disconnect is Disconnect.BEFORE_RESPONSE:
            return b""
        return self.body
