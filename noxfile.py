"""Developer and CI sessions for crm_ews.

``nox -s tests`` is the README's test command and what ``.ci/run`` calls;
``lint`` and ``typecheck`` keep the tree clean.  Every session installs what it
needs itself, so a fresh machine with Python and pip is enough.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint", "typecheck"]

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


def _schema_env() -> dict[str, str]:
    """CRM_EWS_SCHEMA_DIR pointing at ../shared/ews-schema when that exists."""
    env = {}
    if "CRM_EWS_SCHEMA_DIR" not in os.environ:
        sibling = os.path.join(os.path.dirname(__file__), "..", "shared", "ews-schema")
        if os.path.isdir(sibling):
            env["CRM_EWS_SCHEMA_DIR"] = os.path.abspath(sibling)
    return env


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (schema checks run when CRM_EWS_SCHEMA_DIR is set)."""
    session.install("-e", ".", *_group("tests"))
    session.run("pytest", *session.posargs, env=_schema_env())


@nox.session
def soak(session: nox.Session) -> None:
    """The reliability suite at full size; not part of CI (it takes a while).

    Runs tests/reliability with CRM_EWS_SOAK=1: 1,200 stateful schedules,
    1,000 random SIGKILL moments besides the named crash points, the fault
    sweep over 100 mailboxes at 30 %, thousands of fuzzed responses.  Prints
    the figures at the end and writes them as JSON to
    CRM_EWS_RELIABILITY_REPORT (default: .nox/soak-figures.json).  Arguments
    after ``--`` go to pytest, e.g. ``-k fuzz``.
    """
    session.install("-e", ".", *_group("tests"))
    report = os.environ.get(
        "CRM_EWS_RELIABILITY_REPORT",
        os.path.join(os.path.dirname(__file__), ".nox", "soak-figures.json"),
    )
    env = {
        **_schema_env(),
        "CRM_EWS_SOAK": "1",
        "CRM_EWS_RELIABILITY_REPORT": os.path.abspath(report),
    }
    session.run(
        "pytest", "tests/reliability", "--durations=0", *session.posargs, env=env
    )
    session.log("soak figures written to %s", report)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with mkdocs --strict into a temporary folder.

    Also fails when docs/reference/api.md no longer matches the code or
    docs/limitations.md misses a ``# Limitation:`` note.  The built site is
    thrown away; it is never committed.
    """
    session.install("-e", ".[test]", *_group("docs"))
    session.run("python", "docs/_tools/gen_api.py", "--check")
    session.run("python", "docs/_tools/check_limitations.py")
    site = os.path.join(session.create_tmp(), "site")
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--clean",
        "--site-dir",
        site,
        env={"NO_MKDOCS_2_WARNING": "1"},
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmark suite beside exchangelib; not part of CI.

    Arguments after ``--`` go to ``python -m benchmarks`` (scenario names,
    ``--size smoke``, ``--latency-ms 5``...).  Prints Markdown tables and
    writes the figures as JSON under benchmarks/results/.
    """
    session.install("-e", ".[cli]", "exchangelib==5.6.0")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the library sources."""
    session.install("-e", ".", *_group("typecheck"))
    session.run("mypy", "src")
