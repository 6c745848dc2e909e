"""The ``crm-ews`` command line: a click group that subcommands join.

Needs the ``cli`` extra (``pip install 'crm-ews[cli]'``).  Each command is a
thin shell over the library:

- ``demo``: an offline two-way sync on the embedded defaults;
- ``sync``, ``doctor``, ``scope-script``: against a real Exchange, configured
  by a TOML file (see :mod:`crm_ews._config`);
- ``simulator``: serves an :class:`~crm_ews.testing.ExchangeSimulator` over
  HTTP until interrupted.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

try:
    import click
except ModuleNotFoundError as exc:  # pragma: no cover -- only without the extra
    raise SystemExit(
        "crm-ews: the command line needs the 'cli' extra: pip install 'crm-ews[cli]'"
    ) from exc

from crm_ews import __version__
from crm_ews.testing import (
    ExchangeSimulator,
    FaultInjection,
    ServerProfile,
    ServiceAccount,
    SimulatorServer,
)

_SERVERS = {
    "2016": ServerProfile.EXCHANGE_2016,
    "2019": ServerProfile.EXCHANGE_2019,
    "se": ServerProfile.EXCHANGE_SE,
}


@click.group()
@click.version_option(__version__, prog_name="crm-ews")
def cli() -> None:
    """Central Exchange (EWS) sync for CRM backends."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port; 0 picks a free one."
)
@click.option(
    "--service-account", required=True, help="Login of the impersonating account."
)
@click.option(
    "--password",
    required=True,
    envvar="CRM_EWS_SIMULATOR_PASSWORD",
    help="Its Basic auth password (or CRM_EWS_SIMULATOR_PASSWORD).",
)
@click.option("--mailbox", "mailboxes", multiple=True, help="A user mailbox; repeat.")
@click.option(
    "--scope",
    "scope",
    multiple=True,
    help="A mailbox the account may impersonate; repeat. Default: all.",
)
@click.option(
    "--seed-items",
    type=click.IntRange(min=0),
    default=0,
    help="Sample calendar items, contacts and tasks per mailbox (each).",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Delay added to every call.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for ids.")
@click.option(
    "--server",
    "server",
    type=click.Choice(sorted(_SERVERS)),
    default="2016",
    show_default=True,
    help="Exchange version to report.",
)
@click.option(
    "--schema-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CRM_EWS_SCHEMA_DIR",
    default=None,
    help="Folder with messages.xsd: validate requests against it.",
)
def simulator(
    host: str,
    port: int,
    service_account: str,
    password: str,
    mailboxes: tuple[str, ...],
    scope: tuple[str, ...],
    seed_items: int,
    latency_ms: float,
    seed: int,
    server: str,
    schema_dir: Path | None,
) -> None:
    """Serve a simulated Exchange at http://HOST:PORT/EWS/Exchange.asmx.

    Runs until interrupted (Ctrl+C or SIGTERM).
    """
    try:
        account = ServiceAccount(
            service_account, password, scope=frozenset(scope) if scope else None
        )
        sim = ExchangeSimulator(
            service_accounts=[account],
            mailboxes=mailboxes,
            seed=seed,
            server=_SERVERS[server],
            faults=FaultInjection(latency_ms=latency_ms),
            schema=schema_dir,
        )
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from exc
    created = sim.seed_items(seed_items, mailboxes=mailboxes)

    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, _stop)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with SimulatorServer(sim, host=host, port=port) as served:
            click.echo(f"Exchange simulator listening on {served.url}")
            users = [address for address in sim.mailboxes if address != account.name]
            click.echo(
                f"service account {account.name}; "
                f"mailboxes: {', '.join(users) or 'none'}; {created} sample items"
            )
            while not stop.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo("simulator stopped")


@cli.command()
@click.option(
    "--mailboxes",
    type=click.IntRange(1, 2000),
    default=3,
    show_default=True,
    help="Simulated integration mailboxes.",
)
@click.option(
    "--items",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="Sample items per entity and mailbox, on each side.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run reports as JSON.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the SQLite CRM and state store here (default: a temporary folder).",
)
@click.option("--seed", type=int, default=2026, show_default=True, help="Sample seed.")
def demo(
    mailboxes: int, items: int, as_json: bool, workdir: Path | None, seed: int
) -> None:
    """Sync a simulated Exchange with a SQLite CRM, offline, twice.

    Seeds both sides, syncs, edits both sides (a conflict, a delete on each
    side, a new recurring appointment), syncs again, runs once more idle and
    checks that both sides hold the same data.  Exits 0 only when they do.
    """
    from crm_ews._cli_render import run_demo_command

    converged = run_demo_command(
        mailboxes=mailboxes, items=items, as_json=as_json, workdir=workdir, seed=seed
    )
    raise SystemExit(0 if converged else 1)


_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="The TOML configuration file.",
)


@cli.command()
@_CONFIG
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.option(
    "--mailbox", "only", multiple=True, help="Sync only these enrolled mailboxes."
)
@click.option(
    "--force-deletions", is_flag=True, help="Apply deletions the guard refuses."
)
def sync(
    config_path: Path,
    dry_run: bool,
    as_json: bool,
    only: tuple[str, ...],
    force_deletions: bool,
) -> None:
    """Sync the enrolled mailboxes with the CRM named in the configuration."""
    from crm_ews._cli_render import run_sync_command

    ok = run_sync_command(
        config_path,
        dry_run=dry_run,
        as_json=as_json,
        only=only,
        force_deletions=force_deletions,
    )
    raise SystemExit(0 if ok else 1)


@cli.command()
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor(config_path: Path, as_json: bool) -> None:
    """Check that the service account reaches exactly the enrolled mailboxes."""
    from crm_ews._cli_render import run_doctor_command

    ok = run_doctor_command(config_path, as_json=as_json)
    raise SystemExit(0 if ok else 1)


@cli.command("scope-script")
@_CONFIG
def scope_script_command(config_path: Path) -> None:
    """Print Exchange Management Shell commands that narrow impersonation."""
    from crm_ews._cli_render import run_scope_script_command

    run_scope_script_command(config_path)


def main() -> None:
    """Console-script entry point."""
    cli()
