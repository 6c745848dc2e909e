"""Shared fixtures: the EWS schema (when CRM_EWS_SCHEMA_DIR names it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree


@pytest.fixture(scope="session")
def ews_schema() -> etree.XMLSchema:
    """Microsoft's EWS schema, compiled once; skips visibly when unset."""
    folder = os.environ.get("CRM_EWS_SCHEMA_DIR")
    if not folder:
        pytest.skip("CRM_EWS_SCHEMA_DIR is not set: schema validation skipped")
    path = Path(folder) / "messages.xsd"
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(path), parser))
