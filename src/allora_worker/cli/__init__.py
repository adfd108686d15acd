"""The `allora-worker` command line: thin commands over the library.

Each command group lives in its own module and adds itself through `register(app, groups)`,
so that the root stays small and a reader finds a command by its name.
"""

from __future__ import annotations

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
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """allora-worker command line."""


groups: dict[str, typer.Typer] = {}
for _module in (config_cmd, wallet_cmd, chain_cmd, data_cmd, model_cmd, devnet_cmd, run_cmd):
    _module.register(app, groups)


def main() -> None:
    app()
