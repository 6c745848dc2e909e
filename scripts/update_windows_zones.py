"""Regenerate ``src/crm_ews/ews/_data/windows_zones.json`` from Unicode CLDR.

Exchange names time zones by their Windows ids ("W. Europe Standard Time");
Python's :mod:`zoneinfo` uses IANA names ("Europe/Berlin").  CLDR maintains
the mapping between the two in ``supplemental/windowsZones.json`` of the npm
package ``cldr-core``, and the IANA aliases (``Asia/Calcutta`` is
``Asia/Kolkata``) in ``bcp47/timezone.json`` of ``cldr-bcp47``.

Usage::

    cd /tmp && npm pack cldr-core cldr-bcp47
    mkdir core bcp47
    tar xzf cldr-core-*.tgz -C core && tar xzf cldr-bcp47-*.tgz -C bcp47
    python scripts/update_windows_zones.py --core /tmp/core/package \\
        --bcp47 /tmp/bcp47/package

The output is deterministic (sorted keys), so a diff shows exactly what a new
CLDR release changed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

#: Where the generated table lives inside the source tree.
OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "src"
    / "crm_ews"
    / "ews"
    / "_data"
    / "windows_zones.json"
)

#: The CLDR "world" territory: its row names the default zone of a Windows id.
WORLD = "001"


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as stream:
        return json.load(stream)


def _canonical_names(bcp47: Any) -> dict[str, str]:
    """Map every IANA name CLDR knows to its current IANA spelling."""
    canonical: dict[str, str] = {}
    for key, entry in bcp47["keyword"]["u"]["tz"].items():
        if key.startswith("_") or not isinstance(entry, dict):
            continue
        names = entry.get("_alias", "").split()
        if not names:
            continue
        preferred = entry.get("_iana", names[0])
        for name in names:
            canonical[name] = preferred
    return canonical


def build_table(core: Any, bcp47: Any, *, source: str) -> dict[str, Any]:
    """Build the JSON document written to :data:`OUTPUT`.

    Args:
        core: The parsed ``supplemental/windowsZones.json`` of ``cldr-core``.
        bcp47: The parsed ``bcp47/timezone.json`` of ``cldr-bcp47``.
        source: A line naming the packages the data came from.

    Returns:
        ``windows_to_iana`` (Windows id to its default IANA zone) and
        ``iana_to_windows`` (every IANA name and alias to a Windows id), with
        the CLDR version and the source.
    """
    canonical = _canonical_names(bcp47)
    windows_to_iana: dict[str, str] = {}
    iana_to_windows: dict[str, str] = {}

    rows = [
        row["mapZone"] for row in core["supplemental"]["windowsZones"]["mapTimezones"]
    ]
    # The world row wins for both directions, so read it first.
    rows.sort(key=lambda row: row["_territory"] != WORLD)
    for row in rows:
        windows = row["_other"]
        for name in row["_type"].split():
            preferred = canonical.get(name, name)
            if row["_territory"] == WORLD:
                windows_to_iana.setdefault(windows, preferred)
            iana_to_windows.setdefault(name, windows)
            iana_to_windows.setdefault(preferred, windows)

    # Aliases of a mapped zone map too (Asia/Kolkata and Asia/Calcutta alike).
    for alias, preferred in canonical.items():
        windows = iana_to_windows.get(preferred)
        if windows is not None:
            iana_to_windows.setdefault(alias, windows)

    return {
        "source": source,
        "cldr_version": core["supplemental"]["version"]["_cldrVersion"],
        "windows_to_iana": dict(sorted(windows_to_iana.items())),
        "iana_to_windows": dict(sorted(iana_to_windows.items())),
    }


def main(argv: list[str] | None = None) -> int:
    """Read the unpacked npm packages and write :data:`OUTPUT`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--core", type=Path, required=True, help="unpacked cldr-core")
    parser.add_argument("--bcp47", type=Path, required=True, help="unpacked cldr-bcp47")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    core_meta = _load(args.core / "package.json")
    bcp47_meta = _load(args.bcp47 / "package.json")
    source = (
        f"Unicode CLDR via npm: {core_meta['name']} {core_meta['version']} "
        f"(supplemental/windowsZones.json), {bcp47_meta['name']} "
        f"{bcp47_meta['version']} (bcp47/timezone.json)"
    )
    table = build_table(
        _load(args.core / "supplemental" / "windowsZones.json"),
        _load(args.bcp47 / "bcp47" / "timezone.json"),
        source=source,
    )

    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8") as stream:
        json.dump(table, stream, indent=1, ensure_ascii=False)
        stream.write("\n")
    print(
        f"wrote {args.output}: {len(table['windows_to_iana'])} Windows ids, "
        f"{len(table['iana_to_windows'])} IANA names (CLDR {table['cldr_version']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
