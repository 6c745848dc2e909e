"""Small response-envelope builders shared by the codec tests.

Each builder takes the prefixes to use, so a test can show that decoding
matches on namespace URIs only and never on the prefixes a server picked.
"""

from __future__ import annotations

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
TYPES_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
MESSAGES_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
ERRORS_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"


def _q(prefix: str, local: str) -> str:
    return f"{prefix}:{local}" if prefix else local


def _xmlns(prefix: str, uri: str) -> str:
    return f'xmlns:{prefix}="{uri}"' if prefix else f'xmlns="{uri}"'


def envelope(body: str, *, header: str = "", soap_prefix: str = "s") -> bytes:
    """Wrap ``body`` (already serialized) in a SOAP 1.1 envelope."""
    env = _q(soap_prefix, "Envelope")
    hdr = _q(soap_prefix, "Header")
    bdy = _q(soap_prefix, "Body")
    header_xml = f"<{hdr}>{header}</{hdr}>" if header else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<{env} {_xmlns(soap_prefix, SOAP_NS)}>{header_xml}"
        f"<{bdy}>{body}</{bdy}></{env}>"
    ).encode()


def server_version_info(prefix: str = "h", **attrs: str) -> str:
    """A ``t:ServerVersionInfo`` header element."""
    values = {
        "MajorVersion": "15",
        "MinorVersion": "2",
        "MajorBuildNumber": "1544",
        "MinorBuildNumber": "4",
        "Version": "V2017_07_11",
    }
    values.update(attrs)
    rendered = " ".join(f'{k}="{v}"' for k, v in values.items())
    tag = _q(prefix, "ServerVersionInfo")
    return f"<{tag} {_xmlns(prefix, TYPES_NS)} {rendered}/>"


def get_folder_response(
    *, m_prefix: str = "m", t_prefix: str = "t", folder_id: str = "AQMkAD0="
) -> str:
    """A one-folder ``m:GetFolderResponse`` using the given prefixes."""

    def mm(local: str) -> str:
        return _q(m_prefix, local)

    def tt(local: str) -> str:
        return _q(t_prefix, local)

    if m_prefix == t_prefix:
        raise ValueError("the messages and types prefixes must differ")
    return (
        f"<{mm('GetFolderResponse')} {_xmlns(m_prefix, MESSAGES_NS)} "
        f"{_xmlns(t_prefix, TYPES_NS)}>"
        f"<{mm('ResponseMessages')}>"
        f'<{mm("GetFolderResponseMessage")} ResponseClass="Success">'
        f"<{mm('ResponseCode')}>NoError</{mm('ResponseCode')}>"
        f"<{mm('Folders')}><{tt('CalendarFolder')}>"
        f'<{tt("FolderId")} Id="{folder_id}" ChangeKey="AgAAABYA"/>'
        f"<{tt('DisplayName')}>Calendar</{tt('DisplayName')}>"
        f"</{tt('CalendarFolder')}></{mm('Folders')}>"
        f"</{mm('GetFolderResponseMessage')}>"
        f"</{mm('ResponseMessages')}></{mm('GetFolderResponse')}>"
    )


def fault(
    code: str | None,
    *,
    faultcode: str | None = None,
    message: str = "The request failed.",
    message_xml: str = "",
    with_detail: bool = True,
    soap_prefix: str = "s",
    e_prefix: str = "e",
) -> bytes:
    """A SOAP 1.1 fault shaped the way Exchange sends one."""
    fc = faultcode if faultcode is not None else f"a:{code}"
    # SOAP 1.1 fault children are unqualified; under a default SOAP namespace
    # they must undeclare it.
    unq = "" if soap_prefix else ' xmlns=""'
    detail = ""
    if with_detail:
        parts = []
        if code is not None:
            parts.append(
                f"<{_q(e_prefix, 'ResponseCode')} {_xmlns(e_prefix, ERRORS_NS)}>"
                f"{code}</{_q(e_prefix, 'ResponseCode')}>"
            )
        parts.append(
            f"<{_q(e_prefix, 'Message')} {_xmlns(e_prefix, ERRORS_NS)}>"
            f"{message}</{_q(e_prefix, 'Message')}>"
        )
        if message_xml:
            parts.append(
                f'<t:MessageXml xmlns:t="{TYPES_NS}">{message_xml}</t:MessageXml>'
            )
        detail = f"<detail{unq}>" + "".join(parts) + "</detail>"
    body = (
        f"<{_q(soap_prefix, 'Fault')}>"
        f'<faultcode{unq} xmlns:a="{TYPES_NS}">{fc}</faultcode>'
        f'<faultstring{unq} xml:lang="en-US">{message}</faultstring>'
        f"{detail}</{_q(soap_prefix, 'Fault')}>"
    )
    return envelope(body, soap_prefix=soap_prefix)
