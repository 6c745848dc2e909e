"""Search restrictions for ``FindItem``: the one a CRM link lookup needs.

A CRM record is found in a mailbox by the extended property the sync stamps
on the item, so the only restriction offered is equality on such a property.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from crm_ews._soap import t
from crm_ews.ews._models._extended import ExtendedPropertyKey
from crm_ews.ews._operations._xml import sub

__all__ = ["IsEqualTo"]


@dataclass(frozen=True, slots=True)
class IsEqualTo:
    """Items whose extended property ``key`` equals ``value``.

    Args:
        key: A scalar extended property, e.g. the CRM link property.
        value: The value in the text form EWS uses for the key's MAPI type
            (``"42"``, ``"true"``, an ``xs:dateTime``...).

    Raises:
        TypeError: ``key`` is not an :class:`ExtendedPropertyKey` or
            ``value`` is not a string.
        ValueError: ``key`` names an array-valued property.
    """

    key: ExtendedPropertyKey
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.key, ExtendedPropertyKey):
            raise TypeError(
                f"key must be an ExtendedPropertyKey, not {type(self.key).__name__}"
            )
        if not isinstance(self.value, str):
            raise TypeError(f"value must be a str, not {type(self.value).__name__}")
        if self.key.property_type.is_array:
            raise ValueError("IsEqualTo compares scalar properties only")

    def to_xml(self, parent: etree._Element) -> None:
        """Append ``t:IsEqualTo`` to a ``m:Restriction`` element."""
        expression = sub(parent, t("IsEqualTo"))
        expression.append(self.key.to_xml())
        operand = sub(expression, t("FieldURIOrConstant"))
        sub(operand, t("Constant"), Value=self.value)
