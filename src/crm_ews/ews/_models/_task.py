"""Tasks (``TaskType``): to-dos with dates, status and progress."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final

from lxml import etree
from pydantic import AwareDatetime, Field

from crm_ews.ews._models._fields import (
    BoolCodec,
    Codec,
    DateTimeCodec,
    EnumCodec,
    FloatCodec,
    IntCodec,
    StringsCodec,
    TextCodec,
    Wire,
)
from crm_ews.ews._models._item import Item
from crm_ews.ews._models._recurrence import Recurrence, task_recurrence_from_xml

__all__ = ["Task", "TaskStatus"]


class TaskStatus(StrEnum):
    """Where a task stands (``TaskStatusType``)."""

    NOT_STARTED = "NotStarted"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    WAITING_ON_OTHERS = "WaitingOnOthers"
    DEFERRED = "Deferred"


class _TaskRecurrenceCodec(Codec):
    """``TaskRecurrenceType``: same patterns as calendar items, plus ones we skip."""

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        recurrence: Recurrence = value
        parent.append(recurrence.to_xml(tag))

    def decode(self, element: etree._Element) -> Recurrence | None:
        return task_recurrence_from_xml(element)


_TEXT: Final = TextCodec()
_INT: Final = IntCodec()
_BOOL: Final = BoolCodec()
_DATETIME: Final = DateTimeCodec()


class Task(Item):
    """A task in a tasks folder.

    ``is_complete``, ``is_recurring``, ``owner`` and ``status_description``
    are the server's (read-only).  Exchange keeps ``status``,
    ``percent_complete`` and ``complete_date`` consistent by itself: marking
    a task ``COMPLETED`` sets 100 percent, and the reverse.

    Raises:
        ValueError: ``percent_complete`` is outside 0..100, or a datetime is
            naive.
    """

    element_tag: ClassVar[str] = "Task"

    actual_work: Annotated[
        int | None,
        Field(alias="ActualWork", ge=0),
        Wire("task:ActualWork", _INT),
    ] = None
    billing_information: Annotated[
        str | None,
        Field(alias="BillingInformation"),
        Wire("task:BillingInformation", _TEXT),
    ] = None
    companies: Annotated[
        tuple[str, ...],
        Field(alias="Companies"),
        Wire("task:Companies", StringsCodec()),
    ] = ()
    complete_date: Annotated[
        AwareDatetime | None,
        Field(alias="CompleteDate"),
        Wire("task:CompleteDate", _DATETIME),
    ] = None
    due_date: Annotated[
        AwareDatetime | None, Field(alias="DueDate"), Wire("task:DueDate", _DATETIME)
    ] = None
    is_complete: Annotated[
        bool | None,
        Field(alias="IsComplete"),
        Wire("task:IsComplete", _BOOL, read_only=True),
    ] = None
    is_recurring: Annotated[
        bool | None,
        Field(alias="IsRecurring"),
        Wire("task:IsRecurring", _BOOL, read_only=True),
    ] = None
    mileage: Annotated[
        str | None, Field(alias="Mileage"), Wire("task:Mileage", _TEXT)
    ] = None
    owner: Annotated[
        str | None, Field(alias="Owner"), Wire("task:Owner", _TEXT, read_only=True)
    ] = None
    percent_complete: Annotated[
        float | None,
        Field(alias="PercentComplete", ge=0, le=100),
        Wire("task:PercentComplete", FloatCodec()),
    ] = None
    recurrence: Annotated[
        Recurrence | None,
        Field(alias="Recurrence"),
        Wire("task:Recurrence", _TaskRecurrenceCodec(), in_summary=False),
    ] = None
    start_date: Annotated[
        AwareDatetime | None,
        Field(alias="StartDate"),
        Wire("task:StartDate", _DATETIME),
    ] = None
    status: Annotated[
        TaskStatus | None,
        Field(alias="Status"),
        Wire("task:Status", EnumCodec(TaskStatus)),
    ] = None
    status_description: Annotated[
        str | None,
        Field(alias="StatusDescription"),
        Wire("task:StatusDescription", _TEXT, read_only=True),
    ] = None
    total_work: Annotated[
        int | None, Field(alias="TotalWork", ge=0), Wire("task:TotalWork", _INT)
    ] = None
