"""crm_ews.ews exports the models, operations, pagers and clients, sorted."""

from __future__ import annotations

import crm_ews.ews
import crm_ews.ews._models
import crm_ews.ews._operations


def _ruff_order(name: str) -> tuple[int, str]:
    """RUF022's isort-style order: CONSTANTS, then Classes, then functions."""
    if name.isupper():
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted_and_unique() -> None:
    """__all__ has no duplicates and keeps the project's sort order."""
    names = crm_ews.ews.__all__

    assert len(names) == len(set(names))
    assert names == sorted(names, key=_ruff_order)


def test_everything_public_is_exported() -> None:
    """Every model and every operation name is reachable from crm_ews.ews."""
    exported = set(crm_ews.ews.__all__)

    assert set(crm_ews.ews._models.__all__) <= exported
    assert set(crm_ews.ews._operations.__all__) <= exported
    assert {"EWSClient", "AsyncEWSClient", "CalendarViewSplitter"} <= exported
    for name in exported:
        assert getattr(crm_ews.ews, name) is not None
