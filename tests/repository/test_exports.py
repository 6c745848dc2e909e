"""Guard tests: the repository package exports what it means to, sorted."""

from __future__ import annotations

import inspect

import pytest

import crm_ews.repository
from crm_ews.repository import _base, _records, memory, sqlite


def test_all_is_sorted() -> None:
    """__all__ is in plain sorted order."""
    names = crm_ews.repository.__all__

    assert names == sorted(names)


@pytest.mark.parametrize("module", [_base, _records, memory, sqlite])
def test_every_public_name_is_reexported(module: object) -> None:
    """Each submodule's __all__ is reachable from the package."""
    exported = set(crm_ews.repository.__all__)

    assert set(getattr(module, "__all__", ())) <= exported


def test_public_callables_have_docstrings() -> None:
    """Every exported class and function documents itself."""
    missing = [
        name
        for name in crm_ews.repository.__all__
        if (inspect.isclass(obj := getattr(crm_ews.repository, name)) or callable(obj))
        and not inspect.getdoc(obj)
    ]

    assert missing == []
