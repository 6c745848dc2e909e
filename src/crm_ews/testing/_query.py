"""``FindItem``/``FindFolder`` restrictions and sort orders over stored XML.

A ``t:Restriction`` is compiled once into a predicate over item elements.
Values compare the way Exchange compares them: strings case-insensitively,
numbers, booleans and date-times by value.  Multi-valued properties match
when any value matches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final

from lxml import etree

from crm_ews._soap import t
from crm_ews.testing._fields import FieldPath, ItemType, local, parse_path, text_values
from crm_ews.testing._wire import SimulatorFault, schema_fault

#: A compiled restriction: does this item (of this type) match?
Predicate = Callable[[etree._Element, ItemType], bool]

_COMPARISONS: Final[dict[str, Callable[[int], bool]]] = {
    "IsEqualTo": lambda c: c == 0,
    "IsNotEqualTo": lambda c: c != 0,
    "IsGreaterThan": lambda c: c > 0,
    "IsGreaterThanOrEqualTo": lambda c: c >= 0,
    "IsLessThan": lambda c: c < 0,
    "IsLessThanOrEqualTo": lambda c: c <= 0,
}

#: Nesting limit; Exchange refuses very deep filters too.
_MAX_DEPTH: Final = 64

SortKey = tuple[int, float, str]


def typed(value: str) -> SortKey:
    """A comparable key: numbers and date-times by value, text folded."""
    text = value.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return (1, float(lowered == "true"), "")
    try:
        return (1, float(text), "")
    except ValueError:
        pass
    if len(text) >= 10 and text[4:5] == "-" and text[7:8] == "-":
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return (1, moment.timestamp(), "")
    return (2, 0.0, text.casefold())


def _compare(left: SortKey, right: SortKey) -> int:
    if left[0] != right[0]:
        left_text, right_text = str(left), str(right)
        return (left_text > right_text) - (left_text < right_text)
    return (left > right) - (left < right)


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def compile_restriction(restriction: etree._Element) -> Predicate:
    """Compile the single child of ``t:Restriction`` into a predicate.

    Raises:
        SimulatorFault: ``ErrorSchemaValidation`` for malformed filters and
            ``ErrorUnsupportedQueryFilter`` for filters the simulator lacks.
    """
    children = _children(restriction)
    if len(children) != 1:
        raise schema_fault("A Restriction holds exactly one search expression.")
    return _compile(children[0], 0)


def _compile(element: etree._Element, depth: int) -> Predicate:
    if depth > _MAX_DEPTH:
        raise SimulatorFault(
            "ErrorQueryFilterTooLong", "The restriction is nested too deeply."
        )
    name = local(element)
    children = _children(element)
    if name in ("And", "Or"):
        parts = [_compile(child, depth + 1) for child in children]
        if not parts:
            raise schema_fault(f"'{name}' needs at least one search expression.")
        if name == "And":
            return lambda item, kind: all(part(item, kind) for part in parts)
        return lambda item, kind: any(part(item, kind) for part in parts)
    if name == "Not":
        if len(children) != 1:
            raise schema_fault("'Not' holds exactly one search expression.")
        inner = _compile(children[0], depth + 1)
        return lambda item, kind: not inner(item, kind)
    if name == "Exists":
        path = _single_path(children, name)
        return lambda item, kind: (
            path.applies_to(kind) and bool(text_values(item, path))
        )
    if name in _COMPARISONS:
        return _comparison(name, children)
    if name == "Contains":
        return _contains(element, children)
    raise SimulatorFault(
        "ErrorUnsupportedQueryFilter",
        f"The restriction '{etree.QName(element).localname}' is not supported.",
    )


def _single_path(children: Sequence[etree._Element], name: str) -> FieldPath:
    if len(children) != 1:
        raise schema_fault(f"'{name}' needs exactly one property path.")
    return parse_path(children[0])


def _comparison(name: str, children: list[etree._Element]) -> Predicate:
    if len(children) != 2 or local(children[1]) != "FieldURIOrConstant":
        raise schema_fault(f"'{name}' needs a property path and FieldURIOrConstant.")
    path = parse_path(children[0])
    operand = _children(children[1])
    if len(operand) != 1:
        raise schema_fault("FieldURIOrConstant holds exactly one child.")
    test = _COMPARISONS[name]

    if local(operand[0]) == "Constant":
        raw = operand[0].get("Value")
        if raw is None:
            raise schema_fault("The required attribute 'Value' is missing.")
        constant = typed(raw)

        def against_constant(item: etree._Element, kind: ItemType) -> bool:
            values = text_values(item, path) if path.applies_to(kind) else []
            if not values:
                return name == "IsNotEqualTo"
            return any(test(_compare(typed(value), constant)) for value in values)

        return against_constant

    other = parse_path(operand[0])

    def against_field(item: etree._Element, kind: ItemType) -> bool:
        left = text_values(item, path) if path.applies_to(kind) else []
        right = text_values(item, other) if other.applies_to(kind) else []
        return any(test(_compare(typed(a), typed(b))) for a in left for b in right)

    return against_field


def _contains(element: etree._Element, children: list[etree._Element]) -> Predicate:
    if len(children) != 2 or local(children[1]) != "Constant":
        raise schema_fault("'Contains' needs a property path and a Constant.")
    path = parse_path(children[0])
    needle = children[1].get("Value") or ""
    mode = element.get("ContainmentMode", "Substring")
    comparison = element.get("ContainmentComparison", "Exact")
    folds = comparison != "Exact"
    if folds:
        needle = needle.casefold()

    def contains(item: etree._Element, kind: ItemType) -> bool:
        if not path.applies_to(kind):
            return False
        for value in text_values(item, path):
            hay = value.casefold() if folds else value
            if mode == "FullString" and hay == needle:
                return True
            if mode == "Prefixed" and hay.startswith(needle):
                return True
            if mode == "PrefixOnWords" and any(
                word.startswith(needle) for word in hay.split()
            ):
                return True
            if mode in ("Substring", "ExactPhrase") and needle in hay:
                return True
        return False

    return contains


def parse_sort(sort_order: etree._Element | None) -> list[tuple[FieldPath, bool]]:
    """``(path, descending)`` per ``t:FieldOrder``, most significant first."""
    if sort_order is None:
        return []
    orders: list[tuple[FieldPath, bool]] = []
    for field_order in sort_order.iterchildren(t("FieldOrder")):
        children = _children(field_order)
        if len(children) != 1:
            raise schema_fault("FieldOrder holds exactly one property path.")
        orders.append(
            (parse_path(children[0]), field_order.get("Order") == "Descending")
        )
    return orders


def sort_key(item: etree._Element, kind: ItemType, path: FieldPath) -> SortKey:
    """The sort key of one item; missing values sort first."""
    values = text_values(item, path) if path.applies_to(kind) else []
    if not values:
        return (0, 0.0, "")
    return typed(values[0])
