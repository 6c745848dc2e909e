"""Guard tests: the store names exported from crm_ews.sync."""

from __future__ import annotations

import crm_ews.sync
from crm_ews.sync import _store, _store_memory, _store_sqlite


def test_store_names_are_exported_from_sync() -> None:
    """Every public name of the store modules is importable from crm_ews.sync."""
    names = {*_store.__all__, *_store_memory.__all__, *_store_sqlite.__all__}

    assert names <= set(crm_ews.sync.__all__)
    assert crm_ews.sync.__all__ == sorted(crm_ews.sync.__all__)


def test_both_stores_offer_every_protocol_method() -> None:
    """Memory and SQLite stores implement each StateStore method."""
    wanted = {
        name
        for name, value in vars(_store.StateStore).items()
        if callable(value) and not name.startswith("_")
    }

    for store in (_store_memory.MemoryStateStore, _store_sqlite.SQLiteStateStore):
        assert wanted <= set(dir(store)), store.__name__
    assert "put_link" in wanted
