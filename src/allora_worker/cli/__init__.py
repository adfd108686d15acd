"""The `allora-worker` command line: thin commands over the library.

Each command group lives in its own module and adds itself through `register(app, groups)`,
so that the root stays small and a reader finds a command by its name.
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

from allora_worker import __version__
from allora_worker.cli import (
    chain_cmd,
    config_cmd,
    data_cmd,
    devnet_cmd,
    journal_cmd,
    model_cmd,
    run_cmd,
    wallet_cmd,
)
from allora_worker.cli.common import global_options
from allora_worker.exitcodes import EXIT_UNEXPECTED

# The root's options, with whether each takes a value. Written after the subcommand
# (`config check --config FILE`, as people do), they are moved before it.
GLOBAL_OPTIONS = {"--config": True, "-c": True, "--network": True, "--state-dir": True, "--log-level": True}


def hoist_global_options(args: list[str]) -> list[str]:
    """`A B --config F C` -> `--config F A B C`: the global options first, the rest in order."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and index > 0:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in arg
            front.extend(args[index : index + 1 + takes_value])
            index += 1 + takes_value
            continue
        rest.append(arg)
        index += 1
    return front + rest


class _RootGroup(TyperGroup):
    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        _hide_flag_metavars(self)

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        return super().parse_args(ctx, hoist_global_options(list(args)))


def _hide_flag_metavars(command: object) -> None:
    """Typer labels every on/off flag `<bool>` in the help, as if it took a value; it takes none."""
    for param in getattr(command, "params", []):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    get_help_option = getattr(command, "get_help_option", None)
    if get_help_option is not None:

        def help_option(ctx, _original=get_help_option):  # type: ignore[no-untyped-def]
            option = _original(ctx)
            if option is not None and option.metavar is None:
                option.metavar = ""
            return option

        command.get_help_option = help_option  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_metavars(sub)


app = typer.Typer(
    name="allora-worker",
    cls=_RootGroup,
    help="Train a forecasting model and submit one prediction to every open Allora worker window.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: typer's rich help renderer costs ~75 ms of imports (rich, markdown-it)
    # on every --help, a third of the 0.3 s a help screen may take.
    rich_markup_mode=None,
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
        None, "--config", "-c",
        help="TOML config file (default: ./allora-worker.toml when present). Global options may also "
        "follow the subcommand.",
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
for _module in (config_cmd, wallet_cmd, chain_cmd, data_cmd, model_cmd, devnet_cmd, run_cmd, journal_cmd):
    _module.register(app, groups)


def main() -> None:
    try:
        app()
    except ImportError as error:
        # A command reached a library of an extra the install left out: say which, in one line.
        from allora_worker.extras import missing_extra

        advice = missing_extra(error)
        if advice is None:
            raise
        typer.echo(f"error: {advice}", err=True)
        raise SystemExit(EXIT_UNEXPECTED) from None
