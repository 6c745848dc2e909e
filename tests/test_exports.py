"""Every public module lists what it exports, sorted, and each name exists."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

PUBLIC = [
    "crm_ews",
    "crm_ews.auth",
    "crm_ews.backends",
    "crm_ews.errors",
    "crm_ews.ews",
    "crm_ews.repository",
    "crm_ews.sync",
    "crm_ews.testing",
]


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then everything else."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("name", PUBLIC)
def test_all_is_sorted_and_importable(name: str) -> None:
    """__all__ is sorted, unique, and every name in it resolves."""
    module = importlib.import_module(name)
    exported = list(module.__all__)

    assert exported == sorted(exported, key=_isort_key)
    assert len(exported) == len(set(exported))
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == []


def _public_classes(module: ModuleType) -> set[str]:
    """Classes the module takes from its own private submodules."""
    prefix = module.__name__ + "."
    return {
        name
        for name, value in vars(module).items()
        if isinstance(value, type)
        and not name.startswith("_")
        and value.__module__.startswith(prefix)
        and any(
            part.startswith("_") for part in value.__module__[len(prefix) :].split(".")
        )
    }


@pytest.mark.parametrize("name", PUBLIC)
def test_public_classes_are_exported(name: str) -> None:
    """Every class a package takes from its private modules is exported."""
    module = importlib.import_module(name)

    assert _public_classes(module) - set(module.__all__) == set()


def test_error_tree_is_reachable_from_the_package_root() -> None:
    """Callers catch everything through crm_ews.CRMEWSError."""
    import crm_ews
    from crm_ews import errors

    for exported in errors.__all__:
        cls = getattr(errors, exported)
        assert issubclass(cls, crm_ews.CRMEWSError)
