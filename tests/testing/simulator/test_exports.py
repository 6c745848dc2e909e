"""The public surface of crm_ews.testing."""

from __future__ import annotations

import crm_ews.testing


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted (constants, classes, functions) and every name exists."""
    names = crm_ews.testing.__all__

    def rank(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=rank)
    assert [name for name in names if not hasattr(crm_ews.testing, name)] == []


def test_public_classes_are_exported() -> None:
    """Every public class defined in the simulator modules is in __all__."""
    from crm_ews.testing import _config, _server, _simulator, _transports

    defined = {
        name
        for module in (_config, _server, _simulator, _transports)
        for name, value in vars(module).items()
        if isinstance(value, type)
        and not name.startswith("_")
        and value.__module__ == module.__name__
    }
    assert defined <= set(crm_ews.testing.__all__)
