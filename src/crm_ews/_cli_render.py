"""What the ``crm-ews`` commands do and show: wiring, progress and tables.

Kept apart from :mod:`crm_ews._cli` so the click declarations stay short and
this module's functions can be called (and tested) without a terminal.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from crm_ews._config import ConfigError, SyncConfig, load_config
from crm_ews._demo import DemoResult, run_demo
from crm_ews.backends import EWSMailboxBackend
from crm_ews.ews import AsyncEWSClient
from crm_ews.sync import (
    RunReport,
    SQLiteStateStore,
    SyncEngine,
    SyncRunner,
    doctor,
    scope_script,
)

__all__ = [
    "run_demo_command",
    "run_doctor_command",
    "run_scope_script_command",
    "run_sync_command",
]


def _console() -> Console:
    return Console(highlight=False)


# -- demo -------------------------------------------------------------------


def run_demo_command(
    *, mailboxes: int, items: int, as_json: bool, workdir: Path | None, seed: int
) -> bool:
    """Run the demo, show progress and a summary; return whether it converged."""
    console = _console()
    with tempfile.TemporaryDirectory(prefix="crm-ews-demo-") as scratch:
        folder = workdir if workdir is not None else Path(scratch)
        if as_json:
            result = asyncio.run(
                run_demo(mailboxes=mailboxes, items=items, workdir=folder, seed=seed)
            )
            click.echo(json.dumps(result.as_dict(), indent=2))
            return result.converged

        console.print(
            f"[bold]crm-ews demo[/]: {mailboxes} simulated mailboxes, {items} items "
            "per entity on each side, SQLite CRM and state store"
        )
        with Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=False,
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def tick(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = progress.add_task(name, total=total)
                progress.update(tasks[name], completed=done)

            result = asyncio.run(
                run_demo(
                    mailboxes=mailboxes,
                    items=items,
                    workdir=folder,
                    seed=seed,
                    progress=tick,
                )
            )
        _print_demo(console, result)
        return result.converged


def _print_demo(console: Console, result: DemoResult) -> None:
    table = Table(
        title="Sync passes (calls/mbx: EWS calls per mailbox; new/upd/del: records "
        "written on either side)"
    )
    for column in (
        "pass",
        "secs",
        "calls/mbx",
        "new",
        "upd",
        "del",
        "confl",
        "park",
        "err",
    ):
        table.add_column(column, justify="right" if column != "pass" else "left")
    for run in result.runs:
        totals = run.report.totals()
        table.add_row(
            run.name,
            f"{run.seconds:.2f}",
            f"{run.calls_per_mailbox(len(result.mailboxes)):.1f}",
            *(
                str(totals.get(key, 0))
                for key in (
                    "created",
                    "updated",
                    "deleted",
                    "conflicts",
                    "parked",
                    "errors",
                )
            ),
        )
    console.print(table)

    sides = Table(title="Records after the demo")
    sides.add_column("entity")
    sides.add_column("CRM", justify="right")
    sides.add_column("Exchange", justify="right")
    for entity, counts in sorted(result.counts.items()):
        sides.add_row(entity, str(counts.get("crm", 0)), str(counts.get("exchange", 0)))
    console.print(sides)

    if result.converged:
        console.print("[bold green]Both sides converged.[/]")
    else:
        console.print(
            "[bold red]The sides differ:[/] " + ", ".join(result.differences[:10])
        )


# -- sync, doctor, scope-script ----------------------------------------------


def _load(path: Path) -> SyncConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _verify(config: SyncConfig) -> bool | ssl.SSLContext:
    verify = config.exchange.verify
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


@dataclass
class _Wiring:
    config: SyncConfig
    client: AsyncEWSClient
    backend: EWSMailboxBackend


@asynccontextmanager
async def _wired(config: SyncConfig) -> AsyncIterator[_Wiring]:
    try:
        auth = config.auth()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    async with AsyncEWSClient(
        config.exchange.url,
        auth=auth,
        verify=_verify(config),
        timeout=config.exchange.timeout,
        server_version=config.exchange.server_version,
    ) as client:
        yield _Wiring(config, client, EWSMailboxBackend(client))


def run_sync_command(
    path: Path,
    *,
    dry_run: bool,
    as_json: bool,
    only: Sequence[str],
    force_deletions: bool,
) -> bool:
    """Sync as configured; return whether every mailbox finished."""
    config = _load(path)
    enrolled = config.sync.mailboxes
    unknown = [m for m in only if m.casefold() not in {e.casefold() for e in enrolled}]
    if unknown:
        raise click.ClickException(f"not enrolled: {', '.join(unknown)}")
    if not config.policies:
        raise click.ClickException("no [policies.<entity>] section: nothing to sync")
    try:
        repositories = config.repositories()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    async def main() -> RunReport:
        async with _wired(config) as wiring:
            store = SQLiteStateStore(config.state.path)
            try:
                engine = SyncEngine(
                    backend=wiring.backend,
                    repositories=repositories,
                    store=store,
                    policies=config.entity_policies(),
                    enrolled=enrolled,
                    worker_id=config.sync.worker_id,
                )
                runner = SyncRunner(engine, concurrency=config.sync.concurrency)
                return await runner.run(
                    list(only) or enrolled,
                    dry_run=dry_run,
                    force_deletions=force_deletions,
                )
            finally:
                store.close()

    report = asyncio.run(main())
    if as_json:
        click.echo(report.to_json())
    else:
        _print_report(_console(), report, dry_run=dry_run)
    return not report.failed


def _print_report(console: Console, report: RunReport, *, dry_run: bool) -> None:
    table = Table(title="Dry run: the plan" if dry_run else "Sync report")
    for column in (
        "mailbox",
        "entity",
        "created",
        "updated",
        "deleted",
        "conflicts",
        "parked",
        "skipped",
        "errors",
    ):
        table.add_column(column)
    for mailbox in report.mailboxes:
        if mailbox.error is not None:
            table.add_row(
                mailbox.mailbox, "-", f"[red]{mailbox.error}[/]", "", "", "", "", "", ""
            )
            continue
        for entity in mailbox.entities.values():
            table.add_row(
                mailbox.mailbox,
                entity.entity.value,
                str(sum(entity.created.values())),
                str(sum(entity.updated.values())),
                str(sum(entity.deleted.values())),
                str(entity.conflicts),
                str(entity.parked),
                str(sum(entity.skipped.values())),
                str(sum(entity.errors.values())),
            )
        if dry_run:
            for entity_type, action, reason in mailbox.plan:
                console.print(
                    f"  {mailbox.mailbox} {entity_type.value}: {action} ({reason})"
                )
    console.print(table)


def run_doctor_command(path: Path, *, as_json: bool) -> bool:
    """Run the preflight checks; return whether everything is as it should be."""
    config = _load(path)

    async def main() -> bool:
        async with _wired(config) as wiring:
            report = await doctor(
                wiring.backend,
                config.sync.mailboxes,
                unenrolled_sample=config.doctor.unenrolled_sample,
                service_account=config.exchange.username,
            )
        if as_json:
            click.echo(json.dumps(report.as_dict(), indent=2))
            return report.ok
        console = _console()
        table = Table(title="Impersonation preflight")
        table.add_column("mailbox")
        table.add_column("enrolled")
        table.add_column("status")
        table.add_column("response code")
        for enrolled, checks in ((True, report.enrolled), (False, report.unenrolled)):
            for check in checks:
                good = check.status.value == "ok"
                expected = good if enrolled else not good
                colour = "green" if expected else "red"
                table.add_row(
                    check.mailbox,
                    "yes" if enrolled else "no",
                    f"[{colour}]{check.status.value}[/]",
                    check.response_code or "",
                )
        console.print(table)
        for warning in report.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        return report.ok

    return asyncio.run(main())


def run_scope_script_command(path: Path) -> None:
    """Print the management-scope script for the enrolled mailboxes."""
    config = _load(path)
    if not config.exchange.username:
        raise click.ClickException("[exchange] username names the service account")
    try:
        script = scope_script(
            config.sync.mailboxes,
            service_account=config.exchange.username,
            attribute=config.scope.attribute,
            marker=config.scope.marker,
            scope_name=config.scope.scope_name,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(script, nl=False)
