"""Opaque identifiers the simulator hands out: ids, change keys, sync states.

Exchange ids are base64 strings of a binary structure that names the mailbox
and the store entry; clients must treat them as opaque.  The simulator builds
ids of the same shape and length from a seeded RNG, so a run with the same seed
and the same calls yields the same ids.

Sync states carry the folder they belong to and a change sequence number,
sealed with an HMAC, so a state presented for another folder, or any garbage,
is recognised and refused.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import hmac
import random
import struct
import threading
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Final

#: Leading bytes of each kind of id; they make ids of different kinds distinct.
_ITEM_MARK: Final = b"\x00\x03\x24\x00"
_FOLDER_MARK: Final = b"\x00\x01\x2e\x00"
_OCCURRENCE_MARK: Final = b"\x04\x00\x00\x00"
_CHANGE_KEY_MARK: Final = b"\x0f\x00\x00\x00\x16\x00\x00\x00"

_ITEM_RAW_LEN: Final = 4 + 36 + 1 + 6 + 16 + 2 + 46
_FOLDER_RAW_LEN: Final = 4 + 36 + 1 + 6 + 16 + 2 + 22
_OCCURRENCE_RAW_LEN: Final = 4 + _ITEM_RAW_LEN + 8

#: A sync state never needs more than this many bytes once inflated.
_MAX_SYNC_STATE_BYTES: Final = 256
_SYNC_STATE_VERSION: Final = 1
_SYNC_PAYLOAD: Final = struct.Struct(">BB16sQ")
_MAC_BYTES: Final = 16


class IdKind(IntEnum):
    """What an id names, as far as its shape tells."""

    ITEM = 1
    FOLDER = 2
    OCCURRENCE = 3


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def decode_id(value: str) -> tuple[IdKind, bytes] | None:
    """Classify an id string; ``None`` when it is not one of ours."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if len(raw) == _ITEM_RAW_LEN and raw.startswith(_ITEM_MARK):
        return IdKind.ITEM, raw
    if len(raw) == _FOLDER_RAW_LEN and raw.startswith(_FOLDER_MARK):
        return IdKind.FOLDER, raw
    if len(raw) == _OCCURRENCE_RAW_LEN and raw.startswith(_OCCURRENCE_MARK):
        return IdKind.OCCURRENCE, raw
    return None


def occurrence_id(master_id: str, original_start: datetime) -> str:
    """The id of one occurrence of a recurring master.

    It is derived, not stored: the same occurrence always gets the same id,
    and the master and original start can be read back from it.
    """
    raw = base64.b64decode(master_id)
    seconds = int(original_start.timestamp())
    return _b64(_OCCURRENCE_MARK + raw + struct.pack(">q", seconds))


def split_occurrence_id(raw: bytes) -> tuple[str, datetime]:
    """Master id and original start from a decoded occurrence id."""
    master = _b64(raw[4 : 4 + _ITEM_RAW_LEN])
    (seconds,) = struct.unpack(">q", raw[4 + _ITEM_RAW_LEN :])
    return master, datetime.fromtimestamp(seconds, tz=UTC)


class IdFactory:
    """Seeded source of every id, change key and MAC secret.

    Thread-safe: draws happen under one lock, so the sequence is reproducible
    whenever the calls are.  The simulator gives each mailbox its own factory
    (seeded with the simulator seed and the address), so ids in one mailbox do
    not depend on how calls to other mailboxes interleave.
    """

    def __init__(self, seed: int | str) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def _bytes(self, count: int) -> bytes:
        with self._lock:
            return self._rng.randbytes(count)

    def guid(self) -> str:
        """A GUID string, as Exchange uses for mailboxes."""
        return str(uuid.UUID(bytes=self._bytes(16)))

    def key(self) -> bytes:
        """Sixteen random bytes identifying a folder in sync states."""
        return self._bytes(16)

    def item_id(self, mailbox_guid: str) -> str:
        """A new ItemId for an item in the mailbox ``mailbox_guid``."""
        raw = (
            _ITEM_MARK
            + mailbox_guid.encode("ascii")
            + b"\x00\x46\x00\x00\x00\x00\x00"
            + self._bytes(16)
            + b"\x07\x00"
            + self._bytes(46)
        )
        return _b64(raw)

    def folder_id(self, mailbox_guid: str) -> str:
        """A new FolderId for a folder in the mailbox ``mailbox_guid``."""
        raw = (
            _FOLDER_MARK
            + mailbox_guid.encode("ascii")
            + b"\x00\x2e\x00\x00\x00\x00\x00"
            + self._bytes(16)
            + b"\x01\x00"
            + self._bytes(22)
        )
        return _b64(raw)

    def change_key(self) -> str:
        """A fresh ChangeKey; every modification gets a new one."""
        return _b64(_CHANGE_KEY_MARK + self._bytes(22))


def is_change_key(value: str) -> bool:
    """Whether ``value`` has the shape of a ChangeKey."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    return len(raw) == 30 and raw.startswith(_CHANGE_KEY_MARK)


class SyncKind(IntEnum):
    """Which operation a sync state belongs to."""

    ITEMS = 1
    HIERARCHY = 2


@dataclass(frozen=True, slots=True)
class SyncState:
    """The decoded content of a sync state token."""

    kind: SyncKind
    scope_key: bytes
    sequence: int


class SyncStateCodec:
    """Seal and open sync state tokens.

    A token is gzip-compressed (as Exchange's are, hence the familiar
    ``H4sI`` prefix) and base64-encoded; inside are the kind, the folder key,
    the change sequence number and a truncated HMAC-SHA256.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, state: SyncState) -> str:
        """The opaque token for ``state``."""
        payload = _SYNC_PAYLOAD.pack(
            _SYNC_STATE_VERSION, int(state.kind), state.scope_key, state.sequence
        )
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        return _b64(gzip.compress(payload + mac, mtime=0))

    def decode(self, token: str, *, kind: SyncKind, scope_key: bytes) -> int | None:
        """The sequence number in ``token``, or ``None`` if it is not valid here.

        Invalid means: not base64, not gzip, wrong length, a bad MAC, another
        kind of state, or a state issued for another folder.
        """
        try:
            compressed = base64.b64decode(token.strip().encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            data = inflater.decompress(compressed, _MAX_SYNC_STATE_BYTES)
        except zlib.error:
            return None
        if len(data) != _SYNC_PAYLOAD.size + _MAC_BYTES:
            return None

        payload, mac = data[: _SYNC_PAYLOAD.size], data[_SYNC_PAYLOAD.size :]
        expected = hmac.new(self._secret, payload, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected[:_MAC_BYTES]):
            return None
        version, raw_kind, key, sequence = _SYNC_PAYLOAD.unpack(payload)
        if version != _SYNC_STATE_VERSION or raw_kind != int(kind):
            return None
        if not hmac.compare_digest(key, scope_key):
            return None
        return int(sequence)
