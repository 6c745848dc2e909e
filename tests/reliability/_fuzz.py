"""The codec fuzzing entry point: bytes in, a value or a typed error out.

:func:`decode` is the whole path a response body takes before the engine
sees it: the hardened parser, the envelope and fault decoding in
``crm_ews._soap``, and the operation's own ``parse`` into models.  Its only
allowed outcomes are a return value or a :class:`~crm_ews.errors.CRMEWSError`.

Inputs come from two Hypothesis strategies:

- :func:`mutated_fixtures`: the recorded responses under
  ``tests/fixtures/soap`` with tree edits (drop, duplicate, reorder, move or
  rename elements, rewrite text and attributes) and then, sometimes, byte
  edits (flips, cuts, splices, insertions);
- :func:`generated_envelopes`: envelopes for an operation whose bodies are
  random trees built from the tag and attribute names the fixtures use, with
  values that look like what Exchange sends and values that do not.
"""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Final, TypeVar

from hypothesis import strategies as st
from lxml import etree

from crm_ews._soap import decode_envelope
from crm_ews.errors import CRMEWSError
from crm_ews.ews import (
    CalendarItem,
    CalendarView,
    Contact,
    CreateFolder,
    CreateItem,
    DeleteItem,
    FindFolder,
    FindItem,
    Folder,
    GetFolder,
    GetItem,
    IndexedPageView,
    ItemChange,
    SyncFolderHierarchy,
    SyncFolderItems,
    Task,
    UpdateItem,
)
from tests.ews.operations._support import (
    CALENDAR,
    CONTACTS,
    FOLDER_ID,
    ITEM_ID,
    MAILBOX,
    OTHER_ITEM_ID,
)

T = TypeVar("T")

FIXTURES: Final = Path(__file__).resolve().parents[1] / "fixtures" / "soap"
START: Final = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

#: Python memory (tracemalloc) one input may allocate at its peak: a fixed
#: allowance (first uses of a code path fill caches) plus a multiple of the
#: input's length.  Unbounded growth (an expansion, a copy per element)
#: overshoots it by orders of magnitude.
PEAK_BASE_BYTES: Final = 16 * 1024 * 1024
PEAK_PER_INPUT_BYTE: Final = 40


def _calendar_items(count: int) -> list[CalendarItem]:
    return [
        CalendarItem(subject=f"m{n}", start=START, end=START + timedelta(hours=1))
        for n in range(count)
    ]


#: Operation name -> how to build the operation whose ``parse`` decodes it.
#: Several shapes per operation, so the fuzzer also meets wrong counts.
OPERATIONS: Final[dict[str, tuple[Callable[[], Any], ...]]] = {
    "GetItem": (
        lambda: GetItem([ITEM_ID], Contact),
        lambda: GetItem([ITEM_ID], Task),
        lambda: GetItem([ITEM_ID], CalendarItem),
        lambda: GetItem([ITEM_ID, OTHER_ITEM_ID], Contact),
    ),
    "CreateItem": (lambda: CreateItem(_calendar_items(3)),),
    "UpdateItem": (
        lambda: UpdateItem(
            [ItemChange(item_id=ITEM_ID, item_type=Task, updates={"subject": "x"})]
        ),
    ),
    "DeleteItem": (lambda: DeleteItem([ITEM_ID, OTHER_ITEM_ID]),),
    "SyncFolderItems": (
        lambda: SyncFolderItems(CALENDAR, CalendarItem),
        lambda: SyncFolderItems(CONTACTS, Contact, sync_state="H4sI"),
        lambda: SyncFolderItems(CONTACTS, Task),
    ),
    "FindItem": (
        lambda: FindItem(CONTACTS, Contact, view=IndexedPageView(0, 2)),
        lambda: FindItem(
            CALENDAR,
            CalendarItem,
            view=CalendarView(START, START + timedelta(days=7)),
        ),
    ),
    "GetFolder": (
        lambda: GetFolder([CALENDAR, CONTACTS, FOLDER_ID]),
        lambda: GetFolder([FOLDER_ID]),
    ),
    "FindFolder": (lambda: FindFolder(CALENDAR),),
    "CreateFolder": (
        lambda: CreateFolder(CALENDAR, [Folder(display_name="CRM Appointments")]),
    ),
    "SyncFolderHierarchy": (lambda: SyncFolderHierarchy(),),
}


#: Which build of its operation a recorded response answers, when not the
#: first one.
SEED_SHAPES: Final = {
    "GetItem/task": 1,
    "GetItem/calendar_recurring": 2,
    "GetItem/per_item_error": 3,
    "SyncFolderItems/two_pages_1": 1,
    "SyncFolderItems/two_pages_2": 1,
    "FindItem/calendar_view": 1,
    "GetFolder/folder_not_found": 1,
}


@dataclass(frozen=True)
class Seed:
    """One recorded response, the operation it answers and that build's index."""

    name: str
    operation: str
    shape: int
    data: bytes


@cache
def seeds() -> tuple[Seed, ...]:
    """Every recorded response; faults decode as if answering GetFolder."""
    found = []
    for path in sorted(FIXTURES.glob("*/*.response.xml")):
        folder = path.parent.name
        operation = "GetFolder" if folder == "Faults" else folder
        name = f"{folder}/{path.name.removesuffix('.response.xml')}"
        found.append(Seed(name, operation, SEED_SHAPES.get(name, 0), path.read_bytes()))
    return tuple(found)


@cache
def vocabulary() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Clark-notation tags and attribute names the fixtures use, sorted."""
    tags: set[str] = set()
    attributes: set[str] = set()
    for seed in seeds():
        for element in etree.fromstring(seed.data).iter():
            if isinstance(element.tag, str):
                tags.add(element.tag)
                attributes.update(element.attrib)
    return tuple(sorted(tags)), tuple(sorted(attributes))


# --- the target ---------------------------------------------------------------


def decode(operation: str, shape: int, data: bytes) -> object:
    """Decode ``data`` as the answer to ``operation`` (its ``shape``-th build).

    Returns whatever the operation's ``parse`` returns.  Raises only
    :class:`CRMEWSError` subclasses; anything else is a defect.
    """
    builders = OPERATIONS[operation]
    built = builders[shape % len(builders)]()
    decoded = decode_envelope(data, operation=operation, mailbox=MAILBOX)
    return built.parse(decoded, mailbox=MAILBOX)


@dataclass
class Outcome:
    """What one input did: its typed error class name or ``"ok"``, and the
    most Python memory it held at once above what was allocated before."""

    result: str
    peak: int


def run_one(operation: str, shape: int, data: bytes) -> Outcome:
    """Run the target under tracemalloc; untyped exceptions propagate.

    tracemalloc must already be tracing; its peak is reset first.
    """
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    try:
        decode(operation, shape, data)
    except CRMEWSError as exc:
        result = type(exc).__name__
    else:
        result = "ok"
    _, peak = tracemalloc.get_traced_memory()
    return Outcome(result, peak - before)


def warm_up() -> None:
    """Decode every seed as every operation once, so caches are filled."""
    for seed in seeds():
        for operation, builders in OPERATIONS.items():
            for shape in range(len(builders)):
                with contextlib.suppress(CRMEWSError):
                    decode(operation, shape, seed.data)


def peak_allowed(data: bytes) -> int:
    """The most Python memory one input of this size may take at its peak."""
    return PEAK_BASE_BYTES + PEAK_PER_INPUT_BYTE * len(data)


# --- strategies ---------------------------------------------------------------

#: Text Exchange sends, text it never sends, and text that breaks parsers.
TEXTS: Final = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "99999999999999999999999",
            "1.5",
            "NaN",
            "true",
            "false",
            "TRUE",
            "2026-03-02T09:00:00Z",
            "2026-03-02T09:00:00+01:00",
            "2026-02-30T25:61:61Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "P1D",
            "PT-5M",
            "Success",
            "Error",
            "Warning",
            "NoError",
            "ErrorServerBusy",
            "ErrorItemNotFound",
            "W. Europe Standard Time",
            "Not A Zone",
            "AAMkAGI2item1",
            "Busy",
            "Tentative",
            "IPM.Contact",
            "IPM.Task",
            "IPM.Appointment",
            "Weekly",
            "Monday Tuesday",
            "Sunday Funday",
        ]
    ),
    st.text(max_size=40),
    st.text(alphabet="\u0000\u0001\ud7ff\ue000\ufffe\uffff<>&\"'", max_size=8),
)


def _xml_safe(text: str) -> str:
    """``text`` with the characters XML 1.0 forbids replaced by ``?``."""
    return "".join(
        char
        if char in "\t\n\r"
        or "\x20" <= char <= "\ud7ff"
        or "\ue000" <= char <= "\ufffd"
        or char >= "\U00010000"
        else "?"
        for char in text
    )


def _set_text(element: etree._Element, text: str) -> None:
    # lxml refuses control characters and lone surrogates in a tree; the
    # fuzzer still gets them onto the wire through the byte edits.
    element.text = _xml_safe(text)


def _set_attribute(element: etree._Element, name: str, text: str) -> None:
    element.set(name, _xml_safe(text))


#: One cheap, shared strategy for every choice; building a new strategy per
#: draw (``sampled_from`` over a fresh list) costs more than the decode.
_INDEX: Final = st.integers(0, 2**16)
#: Edits, value rewrites weighted up: they are what reaches the model
#: decoders (dates, numbers, enums) instead of stopping at the envelope.
_EDITS: Final = (
    "drop",
    "duplicate",
    "reorder",
    "move",
    "rename",
    "text",
    "text",
    "text",
    "attribute",
    "attribute",
    "drop-attribute",
    "unknown-child",
    "strip-namespace",
)


def _pick(draw: st.DrawFn, choices: Sequence[T]) -> T:
    return choices[draw(_INDEX) % len(choices)]


def _between(draw: st.DrawFn, low: int, high: int) -> int:
    return low + draw(_INDEX) % (high - low + 1)


def _text(draw: st.DrawFn) -> str:
    return draw(TEXTS)


def _tree_edit(draw: st.DrawFn, root: etree._Element) -> None:
    """Apply one random edit to the tree in place."""
    elements = [el for el in root.iter() if isinstance(el.tag, str)]
    target = _pick(draw, elements)
    parent = target.getparent()
    tags, attributes = vocabulary()
    kind = _pick(draw, _EDITS)
    if kind == "drop" and parent is not None:
        parent.remove(target)
    elif kind == "duplicate" and parent is not None:
        copy = etree.fromstring(etree.tostring(target))
        parent.insert(parent.index(target), copy)
    elif kind == "reorder" and len(target) > 1:
        children = list(target)
        for child in children:
            target.remove(child)
        while children:
            target.append(children.pop(_between(draw, 0, len(children) - 1)))
    elif kind == "move" and parent is not None:
        destination = _pick(draw, elements)
        if destination is not target and target not in destination.iterancestors():
            parent.remove(target)
            destination.append(target)
    elif kind == "rename":
        target.tag = _pick(draw, tags)
    elif kind == "text":
        leaves = [el for el in elements if len(el) == 0]
        _set_text(_pick(draw, leaves), _text(draw))
    elif kind == "attribute":
        _set_attribute(target, _pick(draw, attributes), _text(draw))
    elif kind == "drop-attribute" and target.attrib:
        del target.attrib[_pick(draw, sorted(target.attrib))]
    elif kind == "unknown-child":
        child = etree.SubElement(target, _pick(draw, tags))
        _set_text(child, _text(draw))
    elif kind == "strip-namespace":
        target.tag = etree.QName(target).localname


def _byte_edit(draw: st.DrawFn, data: bytes) -> bytes:
    """Apply one random byte-level edit."""
    if not data:
        return data
    kind = _pick(draw, ("flip", "cut", "insert", "splice", "repeat"))
    at = _between(draw, 0, len(data) - 1)
    if kind == "flip":
        flipped = data[at] ^ _between(draw, 1, 255)
        return data[:at] + bytes([flipped]) + data[at + 1 :]
    if kind == "cut":
        return data[:at] + data[min(len(data), at + _between(draw, 1, 200)) :]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    if kind == "splice":
        other = _pick(draw, seeds()).data
        begin = _between(draw, 0, len(other) - 1)
        return data[:at] + other[begin : begin + _between(draw, 1, 300)]
    width = _between(draw, 1, 64)
    return data[:at] + data[at : at + width] * _between(draw, 2, 50) + data[at:]


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> tuple[str, int, bytes]:
    """A recorded response, edited as a tree and then perhaps as bytes."""
    seed = _pick(draw, seeds())
    root = etree.fromstring(seed.data)
    for _ in range(_pick(draw, (0, 1, 1, 2, 2, 3, 4, 6))):
        _tree_edit(draw, root)
    data = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    # Byte edits mostly end at the parser, so most inputs get none.
    for _ in range(_pick(draw, (0, 0, 0, 1, 2))):
        data = _byte_edit(draw, data)
    if _between(draw, 0, 9) == 0:
        return _pick(draw, sorted(OPERATIONS)), _between(draw, 0, 3), data
    return seed.operation, seed.shape, data


def _random_tree(draw: st.DrawFn, depth: int) -> etree._Element:
    tags, attributes = vocabulary()
    element = etree.Element(_pick(draw, tags))
    for _ in range(_between(draw, 0, 3)):
        _set_attribute(element, _pick(draw, attributes), _text(draw))
    if depth > 0 and _between(draw, 0, 1):
        for _ in range(_between(draw, 1, 4)):
            element.append(_random_tree(draw, depth - 1))
    else:
        _set_text(element, _text(draw))
    return element


@st.composite
def generated_envelopes(draw: st.DrawFn) -> tuple[str, int, bytes]:
    """A SOAP envelope answering an operation, its content generated."""
    operation = _pick(draw, sorted(OPERATIONS))
    messages = "http://schemas.microsoft.com/exchange/services/2006/messages"
    envelope = etree.fromstring(
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<s:Header/><s:Body><m:{operation}Response xmlns:m="{messages}">'
        f"<m:ResponseMessages/></m:{operation}Response></s:Body></s:Envelope>"
    )
    container = envelope[1][0][0]
    for _ in range(_between(draw, 0, 4)):
        message = etree.SubElement(
            container, f"{{{messages}}}{operation}ResponseMessage"
        )
        response_class = _pick(draw, ("Success", "Warning", "Error", "Other", None))
        if response_class is not None:
            message.set("ResponseClass", response_class)
        code = etree.SubElement(message, f"{{{messages}}}ResponseCode")
        _set_text(code, _text(draw))
        for _ in range(_between(draw, 0, 3)):
            message.append(_random_tree(draw, depth=4))
    if _between(draw, 0, 1):
        envelope[1][0].append(_random_tree(draw, depth=3))
    data = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return operation, _between(draw, 0, 3), data


FUZZ_INPUTS: Final = st.one_of(mutated_fixtures(), generated_envelopes())
