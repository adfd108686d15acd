"""What every command shares: the global options, loading settings, and turning errors into exit codes."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from allora_worker.exitcodes import EXIT_CONFIG, EXIT_UNEXPECTED
from allora_worker.secrets import redact

if TYPE_CHECKING:
    # config (pydantic) is imported by the commands that load settings, not by `--version`/`--help`.
    from allora_worker.config import ConfigError, Settings


@dataclass
class GlobalOptions:
    config: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


def global_options(ctx: typer.Context) -> GlobalOptions:
    root = ctx.find_root()
    if not isinstance(root.obj, GlobalOptions):
        root.obj = GlobalOptions()
    return root.obj


def fail(message: str, code: int = EXIT_UNEXPECTED) -> NoReturn:
    typer.echo(redact(f"error: {message}"), err=True)
    raise typer.Exit(code)


def fail_config(error: ConfigError) -> NoReturn:
    typer.echo("invalid configuration:", err=True)
    for problem in error.problems:
        typer.echo(f"  - {problem}", err=True)
    raise typer.Exit(EXIT_CONFIG)


def settings_for(ctx: typer.Context, **overrides: Any) -> Settings:
    """Settings with this command's flags on top of the global flags; exits 2 listing every problem."""
    from allora_worker.config import ConfigError, load_settings

    options = global_options(ctx)
    merged = {**options.overrides, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return load_settings(options.config, merged)
    except ConfigError as error:
        fail_config(error)


def setup_logging(settings: Settings, *, to_file: bool = True) -> None:
    from allora_worker.logging_setup import configure_logging

    configure_logging(
        level=settings.log.level,
        log_file=settings.log_file if to_file else None,
        max_bytes=settings.log.max_bytes,
        backups=settings.log.backups,
        json_lines=settings.log.json_lines,
        stream=sys.stderr,
        ascii_only=settings.log.ascii,
    )
