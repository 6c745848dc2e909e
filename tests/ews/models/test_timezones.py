"""The Windows <-> IANA time zone map generated from CLDR."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest

from crm_ews.ews._models import CalendarItem, item_from_xml
from crm_ews.ews._timezones import (
    CLDR_VERSION,
    iana_to_windows,
    windows_id_for,
    windows_to_iana,
    zone_for_windows_id,
)

from .conftest import reparse

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "update_windows_zones.py"


def _table() -> dict[str, object]:
    raw = resources.files("crm_ews.ews").joinpath("_data", "windows_zones.json")
    data: dict[str, object] = json.loads(raw.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("windows", "iana"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Eastern Standard Time", "America/New_York"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("India Standard Time", "Asia/Kolkata"),
        ("UTC", "Etc/UTC"),
    ],
)
def test_known_pairs_map_both_ways(windows: str, iana: str) -> None:
    """CLDR's default zones map to their Windows id and back."""
    assert windows_to_iana(windows) == iana
    assert iana_to_windows(iana) == windows


def test_iana_aliases_map_too() -> None:
    """Old and alternative IANA names resolve like the current ones."""
    assert iana_to_windows("Asia/Calcutta") == "India Standard Time"
    assert iana_to_windows("Europe/Kiev") == iana_to_windows("Europe/Kyiv")
    assert iana_to_windows("UTC") == "UTC"
    assert iana_to_windows("Europe/Amsterdam") == "W. Europe Standard Time"


@pytest.mark.parametrize("function", [windows_to_iana, iana_to_windows])
def test_unknown_names_raise_value_error(function: object) -> None:
    """A name the table lacks raises ValueError, not KeyError."""
    with pytest.raises(ValueError, match="Mars"):
        function("Mars/Olympus_Mons")  # type: ignore[operator]  # both take one name


def test_every_windows_id_round_trips_to_a_loadable_zone() -> None:
    """Each Windows id's default zone exists locally and maps back to the id."""
    table = _table()["windows_to_iana"]
    assert isinstance(table, dict)
    assert len(table) > 100

    for windows, iana in table.items():
        assert isinstance(ZoneInfo(iana), ZoneInfo)
        assert iana_to_windows(iana) == windows


def test_table_records_its_source() -> None:
    """The generated file names the CLDR release and the packages used."""
    table = _table()

    assert table["cldr_version"] == CLDR_VERSION
    assert "cldr-core" in str(table["source"])
    assert "windowsZones" in str(table["source"])


def test_windows_id_for_tzinfo() -> None:
    """ZoneInfo and UTC zones have a Windows id; fixed offsets do not."""
    assert windows_id_for(ZoneInfo("America/New_York")) == "Eastern Standard Time"
    assert windows_id_for(UTC) == "UTC"
    assert windows_id_for(timezone(timedelta(hours=2))) is None
    assert windows_id_for(None) is None


def test_zone_for_unknown_windows_id_is_none() -> None:
    """A custom Windows id gives no zone rather than an error."""
    assert zone_for_windows_id("Customized Time Zone") is None
    assert zone_for_windows_id("Tokyo Standard Time") == ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("zone", "local"),
    [
        ("Europe/Berlin", datetime(2024, 3, 31, 1, 59)),
        ("Europe/Berlin", datetime(2024, 3, 31, 3, 0)),
        ("Europe/Berlin", datetime(2024, 10, 27, 2, 30, fold=0)),
        ("Europe/Berlin", datetime(2024, 10, 27, 2, 30, fold=1)),
        ("America/New_York", datetime(2024, 11, 3, 1, 30, fold=1)),
    ],
)
def test_dst_transition_round_trips(zone: str, local: datetime) -> None:
    """Times next to and inside a DST switch keep their instant and wall clock."""
    start = local.replace(tzinfo=ZoneInfo(zone))
    item = CalendarItem(subject="s", start=start, end=start + timedelta(hours=1))

    decoded = item_from_xml(reparse(item.to_xml()))

    assert isinstance(decoded, CalendarItem)
    assert decoded.start is not None
    assert decoded.start.astimezone(UTC) == start.astimezone(UTC)
    assert decoded.start.utcoffset() == start.utcoffset()
    assert decoded.start.tzinfo is start.tzinfo


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_windows_zones", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_update_script_builds_both_directions_from_cldr_shapes() -> None:
    """The generator reads CLDR's JSON shapes and applies world rows and aliases."""
    script = _load_script()
    core = {
        "supplemental": {
            "version": {"_cldrVersion": "99"},
            "windowsZones": {
                "mapTimezones": [
                    {
                        "mapZone": {
                            "_other": "X Standard Time",
                            "_type": "Asia/Calcutta",
                            "_territory": "IN",
                        }
                    },
                    {
                        "mapZone": {
                            "_other": "X Standard Time",
                            "_type": "Asia/Calcutta",
                            "_territory": "001",
                        }
                    },
                ]
            },
        }
    }
    bcp47 = {
        "keyword": {
            "u": {
                "tz": {
                    "_alias": "timezone",
                    "inccu": {
                        "_alias": "Asia/Calcutta Asia/Kolkata",
                        "_iana": "Asia/Kolkata",
                    },
                }
            }
        }
    }

    table = script.build_table(core, bcp47, source="test")

    assert table["cldr_version"] == "99"
    assert table["windows_to_iana"] == {"X Standard Time": "Asia/Kolkata"}
    assert table["iana_to_windows"] == {
        "Asia/Calcutta": "X Standard Time",
        "Asia/Kolkata": "X Standard Time",
    }
