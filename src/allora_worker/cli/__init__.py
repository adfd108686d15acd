"""The `allora-worker` command line: thin commands over the library.

Each command group lives in its own module and adds itself through `register(app, groups)`,
so that the root stays small and a reader finds a command by its name.
"""

from __future__ import annotations

from pathlib import Path

import typer

from allora_worker import __version__
from allora_worker.cli import (
    chain_cmd,
    config_cmd,
    data_cmd,
    devnet_cmd,
    model_cmd,
    run_cmd,
    wallet_cmd,
)
from allora_worker.cli.common import global_options

app = typer.Typer(
    name="allora-worker",
    help="Train a forecasting model and submit one prediction to every open Allora worker window.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"allora-worker {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="TOML config file (default: ./allora-worker.toml when present)."
    ),
    network: str | None = typer.Option(None, "--network", help="testnet, mainnet, devnet or custom."),
    state_dir: Path | None = typer.Option(None, "--state-dir", help="Where the journal, cache and logs live."),
    log_level: str | None = typer.Option(None, "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """allora-worker command line."""
    options = global_options(ctx)
    options.config = config
    overrides: dict[str, object] = {"network": network, "state_dir": state_dir}
    if log_level:
        overrides["log"] = {"level": log_level.upper()}
    options.overrides = {k: v for k, v in overrides.items() if v is not None}


groups: dict[str, typer.Typer] = {}
for _module in (config_cmd, wallet_cmd, chain_cmd, data_cmd, model_cmd, devnet_cmd, run_cmd):
    _module.register(app, groups)


def main() -> None:
    app()
