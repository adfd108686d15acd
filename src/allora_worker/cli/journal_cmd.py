"""`allora-worker journal check` and `journal backup`: the journal's health and its snapshots."""

from __future__ import annotations

from pathlib import Path

import typer

from allora_worker.cli.common import fail, settings_for

EXIT_JOURNAL = 3


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
