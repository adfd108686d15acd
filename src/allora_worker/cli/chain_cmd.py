"""`allora-worker register --topic N` and `allora-worker wallet balance`.

Endpoints and chain id come from the settings (preset network, env, TOML) unless `--grpc` /
`--chain-id` override them; the wallet from MNEMONIC_FILE / MNEMONIC.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import typer

from allora_worker.cli.common import fail, settings_for
from allora_worker.exitcodes import EXIT_CONFIG

if TYPE_CHECKING:
    from allora_worker.chain.wallet import Wallet
    from allora_worker.config import Settings

UALLO_PER_ALLO = Decimal(10) ** 18

GRPC_OPTION = typer.Option(None, "--grpc", help="gRPC endpoint (repeat for failover); overrides settings.")
CHAIN_ID_OPTION = typer.Option(None, "--chain-id", help="Chain id; overrides settings.")


def _load(ctx: typer.Context, grpc: list[str] | None, chain_id: str | None) -> tuple[Settings, Wallet]:
    # Imported here, as in every command below: the chain stack is for the commands that talk to it.
    from allora_worker.chain.wallet import WalletError
    from allora_worker.worker.wiring import wallet_from_settings

    settings = settings_for(ctx, grpc_endpoints=grpc or None, chain_id=chain_id)
    try:
        wallet = wallet_from_settings(settings)
    except WalletError as exc:
        fail(str(exc), code=EXIT_CONFIG)
    return settings, wallet


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    wallet_app = groups.setdefault("wallet", typer.Typer(help="The worker's wallet.", no_args_is_help=True))
    if not any(info.typer_instance is wallet_app for info in app.registered_groups):
        app.add_typer(wallet_app, name="wallet")

    @app.command("register")
    def register_cmd(
        ctx: typer.Context,
        topic: int = typer.Option(..., "--topic", min=1, help="Topic id to register the wallet in as a worker."),
        grpc: list[str] | None = GRPC_OPTION,
        chain_id: str | None = CHAIN_ID_OPTION,
    ) -> None:
        """Register the wallet as a worker in a topic (does nothing if it already is)."""
        import asyncio

        from allora_worker.chain.errors import ChainError
        from allora_worker.worker.wiring import client_from_settings

        settings, wallet = _load(ctx, grpc, chain_id)

        async def go() -> str:
            async with client_from_settings(settings, wallet) as client:
                await client.check_chain_id()
                await client.topic(topic)  # a clear error for an unknown topic
                if await client.is_registered(topic):
                    return f"{wallet.address} is already registered in topic {topic}"
                resp = await client.register(topic)
                return (f"registered {wallet.address} in topic {topic} "
                        f"(tx {resp.txhash}, height {resp.height})")

        try:
            typer.echo(asyncio.run(go()))
        except ChainError as exc:
            fail(str(exc))

    @wallet_app.command("balance")
    def balance_cmd(
        ctx: typer.Context,
        grpc: list[str] | None = GRPC_OPTION,
        chain_id: str | None = CHAIN_ID_OPTION,
    ) -> None:
        """Print the wallet's fee-denom balance."""
        import asyncio

        from allora_worker.chain.errors import ChainError
        from allora_worker.worker.wiring import client_from_settings

        settings, wallet = _load(ctx, grpc, chain_id)

        async def go() -> int:
            async with client_from_settings(settings, wallet) as client:
                await client.check_chain_id()
                return await client.balance()

        try:
            amount = asyncio.run(go())
        except ChainError as exc:
            fail(str(exc))
        typer.echo(f"address: {wallet.address}")
        typer.echo(f"balance: {amount} uallo ({Decimal(amount) / UALLO_PER_ALLO:f} ALLO)")
