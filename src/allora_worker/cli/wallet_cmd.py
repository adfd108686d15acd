"""`allora-worker wallet address`: the worker's address and public key (never the mnemonic)."""

from __future__ import annotations

import typer

from allora_worker.cli.common import fail, settings_for
from allora_worker.exitcodes import EXIT_CONFIG


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    wallet_app = groups.setdefault("wallet", typer.Typer(help="The worker's wallet.", no_args_is_help=True))
    app.add_typer(wallet_app, name="wallet")

    @wallet_app.command("address")
    def address(ctx: typer.Context) -> None:
        """Print the address (and public key) derived from MNEMONIC_FILE / MNEMONIC."""
        from allora_worker.chain.wallet import WalletError
        from allora_worker.worker.wiring import wallet_from_settings

        settings = settings_for(ctx)
        try:
            wallet = wallet_from_settings(settings)
        except WalletError as exc:
            fail(str(exc), code=EXIT_CONFIG)
        typer.echo(f"address:    {wallet.address}")
        typer.echo(f"public key: {wallet.public_key_hex}")
