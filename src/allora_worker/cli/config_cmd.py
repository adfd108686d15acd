"""`allora-worker config check|show`: validate the effective configuration, or print it with secrets masked."""

from __future__ import annotations

import json

import typer

from allora_worker.cli.common import settings_for
from allora_worker.exitcodes import EXIT_CONFIG
from allora_worker.secrets import redact


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    config_app = typer.Typer(help="Check or show the effective configuration.", no_args_is_help=True)
    groups["config"] = config_app
    app.add_typer(config_app, name="config")

    @config_app.command("check")
    def check(ctx: typer.Context) -> None:
        """Validate the configuration; list every problem and exit 2 if there is any."""
        from allora_worker.config import validate

        settings = settings_for(ctx)
        problems = validate(settings)
        if problems:
            typer.echo("invalid configuration:", err=True)
            for problem in problems:
                typer.echo(f"  - {problem}", err=True)
            raise typer.Exit(EXIT_CONFIG)
        topics = ", ".join(str(t.id) for t in settings.effective_topics) or "none"
        typer.echo(f"configuration OK: network {settings.network} ({settings.effective_chain_id}), topics {topics}")

    @config_app.command("example")
    def example() -> None:
        """Print a commented starting config (testnet, topic 67): allora-worker config example > allora-worker.toml"""
        from allora_worker.config_example import EXAMPLE_TOML

        typer.echo(EXAMPLE_TOML, nl=False)

    @config_app.command("show")
    def show(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Print the effective configuration (after flags, environment, .env and TOML), secrets as ***."""
        settings = settings_for(ctx)
        data = settings.redacted_dict()
        if as_json:
            typer.echo(redact(json.dumps(data, indent=2)))
            return
        for line in _flatten(data):
            typer.echo(redact(line))


def _flatten(data: object, prefix: str = "") -> list[str]:
    if isinstance(data, dict):
        lines: list[str] = []
        for key, value in data.items():
            lines.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return lines
    return [f"{prefix} = {json.dumps(data)}"]
