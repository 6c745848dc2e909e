"""Keeping credentials out of the HTTP stack's own DEBUG logs.

httpx logs one INFO line per request (method, URL, status): no headers.  Its
engine httpcore, at DEBUG, logs each protocol step, and the step
``receive_response_headers.complete`` prints the full response header list,
``Set-Cookie`` and ``WWW-Authenticate`` values included.  Request headers,
where ``Authorization`` lives, are never printed (only ``<Request [b'POST']>``).

:func:`install_httpcore_redaction` adds a filter to httpcore's protocol
loggers that masks the values of those headers in place.  It changes nothing
else about logging: no levels, no handlers.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Final

__all__ = ["HTTPCORE_LOGGERS", "SensitiveHeaderFilter", "install_httpcore_redaction"]

#: httpcore loggers that print header lists at DEBUG.
HTTPCORE_LOGGERS: Final = (
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)

#: What replaces a sensitive header value.
_MASK: Final = "b'[redacted]'"

# httpcore prints headers as a list of (b'Name', b'value') tuples; a bytes
# repr uses double quotes when the value holds a single quote.
_SENSITIVE_PAIR: Final = re.compile(
    r"""(\(b['"](?:authorization|proxy-authorization|cookie|set-cookie|"""
    r"""www-authenticate|proxy-authenticate|x-backendcookie)['"],\s*)"""
    r"""(?:b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*")""",
    re.IGNORECASE,
)

_installed = False
_install_lock = threading.Lock()


# Limitation: the filter recognises httpcore 1.x's "(b'Name', b'value')"
# header tuples.  Should a later httpcore print headers another way, its DEBUG
# output could show cookie values again; a test over a loopback socket
# (tests/transport/test_no_secrets_logged.py) notices.  Meanwhile keep the
# "httpcore" logger above DEBUG in production.
class SensitiveHeaderFilter(logging.Filter):
    """Masks authentication and cookie header values in a log record's text."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message when it shows a sensitive header."""
        message = record.getMessage()
        redacted = _SENSITIVE_PAIR.sub(rf"\1{_MASK}", message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def install_httpcore_redaction() -> None:
    """Attach :class:`SensitiveHeaderFilter` to httpcore's loggers, once."""
    global _installed
    with _install_lock:
        if _installed:
            return
        header_filter = SensitiveHeaderFilter()
        for name in HTTPCORE_LOGGERS:
            logging.getLogger(name).addFilter(header_filter)
        _installed = True
