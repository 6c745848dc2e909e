"""BoundedInflater: Content-Encoding bodies decoded up to a hard cap."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from crm_ews._soap import BoundedInflater, parse_xml
from crm_ews.errors import ResponseDecodeError

MB = 1024 * 1024
BODY = b"<r>" + b"<item>hello</item>" * 2000 + b"</r>"


def _inflate(encoding: str, data: bytes, *, chunk: int = 997, cap: int = MB) -> bytes:
    inflater = BoundedInflater(encoding, max_bytes=cap)
    for start in range(0, len(data), chunk):
        inflater.feed(data[start : start + chunk])
    return inflater.finish()


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """1 GiB of zeros, gzip-compressed in a stream to about 1 MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(MB)
    parts = [compressor.compress(zeros) for _ in range(1024)]
    parts.append(compressor.flush())
    return b"".join(parts)


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", " GZip "])
def test_gzip_round_trips(encoding: str) -> None:
    """gzip bodies (any case, x-gzip alias) inflate to the original bytes."""
    assert _inflate(encoding, gzip.compress(BODY)) == BODY


def test_deflate_round_trips() -> None:
    """zlib-wrapped deflate bodies inflate to the original bytes."""
    assert _inflate("deflate", zlib.compress(BODY)) == BODY


@pytest.mark.parametrize("encoding", ["", "identity", "IDENTITY"])
def test_identity_passes_bytes_through(encoding: str) -> None:
    """No encoding returns the chunks joined, unchanged."""
    assert _inflate(encoding, BODY) == BODY


def test_single_byte_chunks_work() -> None:
    """Feeding one byte at a time gives the same result as one chunk."""
    assert _inflate("gzip", gzip.compress(BODY), chunk=1) == BODY


@pytest.mark.parametrize("encoding", ["br", "compress", "zstd", "gzip, br", "bogus"])
def test_unknown_content_encoding_is_a_decode_error(encoding: str) -> None:
    """An encoding we cannot decode is refused up front, naming it."""
    with pytest.raises(ResponseDecodeError, match="Content-Encoding"):
        BoundedInflater(encoding)


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("gzip", b"this is not gzip at all"),
        ("gzip", b"\x1f\x8b\x08\x00" + b"\xff" * 64),
        ("deflate", b"\x00\x01\x02\x03garbage"),
        ("gzip", bytes(gzip.compress(BODY)[:-6]) + b"\x00\x00\x00\x00\x00\x00"),
    ],
    ids=["not-gzip", "bad-deflate-stream", "not-deflate", "bad-crc-and-size"],
)
def test_corrupt_stream_is_a_decode_error(encoding: str, data: bytes) -> None:
    """Corrupt compressed data is ResponseDecodeError, not zlib.error."""
    with pytest.raises(ResponseDecodeError, match="corrupt"):
        _inflate(encoding, data)


def test_cap_is_inclusive() -> None:
    """Exactly max_bytes is accepted; one more byte is refused."""
    data = gzip.compress(BODY)

    assert _inflate("gzip", data, cap=len(BODY)) == BODY
    with pytest.raises(ResponseDecodeError, match="exceeds"):
        _inflate("gzip", data, cap=len(BODY) - 1)


def test_identity_body_over_cap_is_refused() -> None:
    """The cap applies to unencoded bodies as well."""
    with pytest.raises(ResponseDecodeError, match="exceeds"):
        _inflate("identity", BODY, cap=len(BODY) - 1)


@pytest.mark.slow
@pytest.mark.parametrize("chunk", [64 * 1024, 4 * MB])
def test_gzip_bomb_stops_at_the_cap_in_bounded_memory(
    gzip_bomb: bytes, chunk: int
) -> None:
    """1 GiB of zeros stops at the cap with about the cap in memory."""
    cap = 8 * MB
    inflater = BoundedInflater("gzip", max_bytes=cap)

    def inflate_all() -> None:
        for start in range(0, len(gzip_bomb), chunk):
            inflater.feed(gzip_bomb[start : start + chunk])
        inflater.finish()

    tracemalloc.start()
    try:
        with pytest.raises(ResponseDecodeError, match="exceeds"):
            inflate_all()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(gzip_bomb) < 2 * MB
    assert peak < 2 * cap + chunk + MB, f"tracemalloc peak {peak} bytes"


def test_decoded_gzip_body_parses() -> None:
    """What the inflater returns is what the parser takes."""
    root = parse_xml(_inflate("gzip", gzip.compress(BODY)))

    assert len(root) == 2000


def test_truncated_gzip_stream_is_refused() -> None:
    """A gzip body missing its trailer is refused as truncated."""
    with pytest.raises(ResponseDecodeError):
        _inflate("gzip", gzip.compress(BODY)[:-8])


def test_raw_deflate_is_accepted() -> None:
    """A raw (headerless) deflate body inflates like a zlib-wrapped one."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = compressor.compress(BODY) + compressor.flush()

    assert _inflate("deflate", raw) == BODY
