"""Check that ``docs/limitations.md`` lists every ``# Limitation:`` note.

Each line of the page ends with the file its note lives in, relative to
``src/crm_ews`` and in backticks inside parentheses, e.g.
``(`ews/_paging.py`)``.  This script counts the notes per file in the source
and the lines per file on the page and reports every file whose notes
outnumber its lines, or that the page names but no longer has notes::

    python docs/_tools/check_limitations.py

It exits 1 when the page needs attention.  It cannot tell whether a line
describes its note well; a person reads the note and writes the line.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "crm_ews"
PAGE = ROOT / "docs" / "limitations.md"

_NOTE = re.compile(r"^\s*#\s*Limitation:")
_CITED = re.compile(r"\(`([\w/.]+\.py)`\)")


def notes_per_file() -> Counter[str]:
    """How many ``# Limitation:`` notes each source file has."""
    counts: Counter[str] = Counter()
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found = sum(1 for line in text.splitlines() if _NOTE.match(line))
        if found:
            counts[path.relative_to(PACKAGE).as_posix()] = found
    return counts


def lines_per_file() -> Counter[str]:
    """How many lines of the page cite each file."""
    return Counter(_CITED.findall(PAGE.read_text(encoding="utf-8")))


def main() -> int:
    """Print the differences; return 1 when there are any."""
    notes = notes_per_file()
    cited = lines_per_file()
    problems = [
        f"{name}: {count} note(s) in the source, {cited[name]} line(s) on the page"
        for name, count in sorted(notes.items())
        if cited[name] < count
    ]
    problems += [
        f"{name}: cited on the page but has no Limitation note"
        for name in sorted(cited)
        if name not in notes
    ]
    for problem in problems:
        print(f"docs/limitations.md: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
