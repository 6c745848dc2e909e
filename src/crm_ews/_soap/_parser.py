"""The one hardened XML parser and the bounded body reader behind it.

Every byte that comes back from a server goes through :func:`parse_xml`:
no DTD loading, no entity substitution, no network access, no error recovery
and no ``huge_tree`` (so libxml2's depth and text-node limits stay on).  A
document that carries a DOCTYPE at all is refused, because a SOAP response
never needs one and internal subsets are how entity-expansion attacks start.

Size is bounded twice: :class:`BoundedInflater` caps what a compressed body
may grow into, and :func:`parse_xml` refuses input over the same cap.
"""

from __future__ import annotations

import threading
import zlib
from typing import Final

from lxml import etree

from crm_ews.errors import ResponseDecodeError

#: Default cap on a decoded response body, in bytes.  A 512-change
#: SyncFolderItems page with full calendar items stays well below it.
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024 * 1024

#: How far ahead of the root element a DOCTYPE is looked for before parsing.
_PROLOG_SCAN_BYTES: Final = 4096


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        recover=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


# lxml parsers are not safe to share between threads; each thread gets its own
# copy, created on first use.  The parser holds no per-client configuration.
_local = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _new_parser()
        _local.parser = parser
    return parser


def parse_xml(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> etree._Element:
    """Parse untrusted XML with the hardened parser.

    Args:
        data: The raw (already decompressed) document.
        max_bytes: Refuse documents longer than this.

    Returns:
        The root element.

    Raises:
        ResponseDecodeError: The input is too large, not well-formed, or carries
            a DOCTYPE.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"parse_xml takes bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise ResponseDecodeError(f"response body exceeds {max_bytes} bytes")
    # isspace() stops at the first other byte; strip() would copy the body.
    if not data or data.isspace():
        raise ResponseDecodeError("response body is empty")

    # Cheap refusal before libxml2 sees an internal subset at all.  The check
    # after parsing also catches DOCTYPEs in encodings this scan cannot read.
    if b"<!DOCTYPE" in data[:_PROLOG_SCAN_BYTES].upper():
        raise ResponseDecodeError("response carries a DOCTYPE, which SOAP forbids")

    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise ResponseDecodeError(
            f"response is not well-formed XML: {exc.msg}"
        ) from exc
    except ValueError as exc:  # lxml raises this for some encoding declarations
        raise ResponseDecodeError(f"response could not be decoded: {exc}") from exc

    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise ResponseDecodeError("response carries a DOCTYPE, which SOAP forbids")
    return root


def _deflate_decoder(head: bytes) -> zlib._Decompress:
    """A zlib decoder for a zlib-wrapped stream, else one for raw deflate."""
    first, second = head[0], head[1]
    if first & 0x0F == 8 and ((first << 8) | second) % 31 == 0:
        return zlib.decompressobj()
    return zlib.decompressobj(-zlib.MAX_WBITS)


class BoundedInflater:
    """Decompress a ``Content-Encoding`` body incrementally, up to a cap.

    A compression bomb stops at ``max_bytes`` of output instead of filling
    memory: each chunk is inflated with ``max_length`` so no single call can
    produce more than what is still allowed.

    Args:
        encoding: The ``Content-Encoding`` value: ``gzip``, ``deflate``,
            ``identity`` or empty.
        max_bytes: The largest decoded body accepted.
    """

    def __init__(
        self, encoding: str, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> None:
        encoding = encoding.strip().lower()
        self._sniffing = False
        if encoding in ("", "identity"):
            self._decoder = None
        elif encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            # HTTP "deflate" means zlib-wrapped data, but some servers send
            # raw RFC 1951 streams; the first two bytes tell them apart.
            self._decoder = None
            self._sniffing = True
        else:
            raise ResponseDecodeError(f"unsupported Content-Encoding {encoding!r}")
        self._max = max_bytes
        self._parts: list[bytes] = []
        self._size = 0
        self._head = b""

    def feed(self, chunk: bytes) -> None:
        """Add one raw chunk; raises once the decoded body passes the cap."""
        if self._sniffing:
            self._head += chunk
            if len(self._head) < 2:
                return
            chunk, self._head = self._head, b""
            self._decoder = _deflate_decoder(chunk)
            self._sniffing = False
        if self._decoder is None:
            self._append(chunk)
            return

        data = chunk
        while data:
            allowed = self._max - self._size + 1
            try:
                out = self._decoder.decompress(data, allowed)
            except zlib.error as exc:
                raise ResponseDecodeError("compressed response is corrupt") from exc
            self._append(out)
            data = self._decoder.unconsumed_tail

    def finish(self) -> bytes:
        """Return the whole decoded body.

        Raises:
            ResponseDecodeError: The compressed stream is corrupt or cut off
                before its end (a gzip body without its CRC trailer).
        """
        if self._sniffing and self._head:
            raise ResponseDecodeError("compressed response is truncated")
        if self._decoder is not None:
            try:
                self._append(self._decoder.flush())
            except zlib.error as exc:
                raise ResponseDecodeError("compressed response is corrupt") from exc
            if not self._decoder.eof:
                raise ResponseDecodeError("compressed response is truncated")
        return b"".join(self._parts)

    def _append(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._max:
            raise ResponseDecodeError(f"response body exceeds {self._max} bytes")
        if data:
            self._parts.append(data)
