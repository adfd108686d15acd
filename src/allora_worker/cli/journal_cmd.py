"""`allora-worker journal check`, `backup` and `recover`: its health, snapshots, rebuild from the chain."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from allora_worker.cli.common import fail, settings_for
from allora_worker.exitcodes import EXIT_CONFIG, EXIT_JOURNAL, EXIT_UNEXPECTED


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    journal_app = groups.setdefault("journal", typer.Typer(help="The submission journal.", no_args_is_help=True))
    app.add_typer(journal_app, name="journal")

    @journal_app.command("check")
    def check(ctx: typer.Context) -> None:
        """Check the journal as the daemon does at start (identity, WAL, quick_check); exit 3 if it is not sound."""
        from allora_worker.journal_guard import inspect

        settings = settings_for(ctx)
        problem = inspect(settings.journal_path)
        if problem is not None:
            fail(problem, code=EXIT_JOURNAL)
        if not settings.journal_path.exists():
            typer.echo(f"no journal yet at {settings.journal_path}")
            return
        typer.echo(f"journal {settings.journal_path}: sound")

    @journal_app.command("backup")
    def backup(
        ctx: typer.Context,
        keep: int = typer.Option(7, "--keep", min=1, help="How many snapshots to keep (the oldest go)."),
        to: Path | None = typer.Option(None, "--to", help="Directory for the snapshots (default <state_dir>/backups)."),
    ) -> None:
        """Snapshot the journal with SQLite's online backup API (safe while the daemon runs), checked and rotated."""
        from allora_worker.journal_backup import backup_journal
        from allora_worker.journal_guard import JournalRefused

        settings = settings_for(ctx)
        try:
            target = backup_journal(settings.journal_path, to, keep=keep)
        except JournalRefused as exc:
            fail(str(exc), code=EXIT_JOURNAL)
        except FileNotFoundError:
            typer.echo(f"no journal yet at {settings.journal_path}: nothing to back up")
            return
        typer.echo(f"journal snapshot written: {target}")

    @journal_app.command("recover")
    def recover_cmd(
        ctx: typer.Context,
        wait: float = typer.Option(60.0, "--wait", min=0, help="Seconds to wait for pending txs to land."),
    ) -> None:
        """Rebuild (or repair) the journal from the chain: this wallet's landed payload txs become confirmed rows.

        Stop the daemon first. A lost, truncated or damaged journal is moved aside (kept, renamed
        *.refused-<time>) and a new one is written; a sound one is repaired in place.
        """
        import asyncio

        from allora_worker.chain.errors import ChainError
        from allora_worker.chain.wallet import WalletError
        from allora_worker.journal import InstanceLock, InstanceLockedError
        from allora_worker.journal_guard import JournalRefused
        from allora_worker.worker.permissions import PRIVATE_UMASK, tighten_state_dir
        from allora_worker.worker.recover import Outcome, RecoverRefused, recover
        from allora_worker.worker.wiring import client_from_settings, wallet_from_settings

        settings = settings_for(ctx)
        if settings.state_url:
            fail("journal recover rebuilds the SQLite journal; a PostgreSQL journal is restored with the "
                 "database's own backups", code=EXIT_CONFIG)
        try:
            wallet = wallet_from_settings(settings)
        except WalletError as exc:
            fail(str(exc), code=EXIT_CONFIG)
        async def go() -> Outcome:
            async with client_from_settings(settings, wallet) as client:
                return await recover(client, settings.journal_path, chain_id=settings.effective_chain_id,
                                     topic_ids=[t.id for t in settings.effective_topics], wait_s=wait)

        def locked() -> Outcome:
            lock = InstanceLock(settings.state_dir, wallet.address)
            try:
                lock.acquire()
            except InstanceLockedError as exc:
                fail(f"{exc}: stop the daemon before recovering its journal", code=EXIT_JOURNAL)
            try:
                tighten_state_dir(settings.state_dir)
                return asyncio.run(go())
            except (RecoverRefused, JournalRefused) as exc:
                fail(str(exc), code=EXIT_JOURNAL)
            except ChainError as exc:
                fail(f"the chain could not be read ({exc}); nothing was written", code=EXIT_UNEXPECTED)
            finally:
                lock.release()
                tighten_state_dir(settings.state_dir)

        # What recover writes (a new state directory, journal, identity) is as private as the
        # daemon's own files (0700 / 0600) whatever the shell's umask; the caller's umask comes back.
        previous = os.umask(PRIVATE_UMASK)
        try:
            outcome = locked()
        finally:
            os.umask(previous)
        for moved in outcome.set_aside:
            typer.echo(f"set aside: {moved}")
        for label, rows in (("added", outcome.added), ("confirmed", outcome.confirmed)):
            for row in rows:
                typer.echo(f"{label}: topic {row.topic_id} nonce {row.nonce} tx {row.txhash} height {row.height}")
        typer.echo(f"journal {settings.journal_path}: {len(outcome.added)} row(s) added, "
                   f"{len(outcome.confirmed)} settled, {outcome.known} already known, "
                   f"from {outcome.txs_seen} landed tx(s) of {wallet.address}")
