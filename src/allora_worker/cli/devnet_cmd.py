"""`allora-worker devnet`: run the local Allora devnet standalone on loopback."""

from __future__ import annotations

import contextlib
import signal
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from allora_worker.devnet import DevnetConfig


def _parse_funds(items: list[str]) -> dict[str, int]:
    funds: dict[str, int] = {}
    for item in items:
        address, sep, amount = item.partition("=")
        if not sep or not amount.isdigit():
            raise typer.BadParameter(f"--fund expects ADDRESS=UALLO, got {item!r}")
        funds[address] = int(amount)
    return funds


def _parse_registrations(items: list[str]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for item in items:
        topic, sep, address = item.partition(":")
        if not sep or not topic.isdigit():
            raise typer.BadParameter(f"--register expects TOPIC:ADDRESS, got {item!r}")
        out.append((int(topic), address))
    return out


async def _serve(config: DevnetConfig, duration: float) -> None:
    import asyncio

    from allora_worker.devnet import Devnet

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Devnet(config) as dn:
        typer.echo(
            f"devnet {config.chain_id} serving gRPC on {dn.endpoint} (SDK url {dn.grpc_url})", err=True
        )
        typer.echo(f"READY {dn.grpc_url}", err=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=duration if duration > 0 else None)
        typer.echo(
            f"devnet stopped at height {dn.height}; accepted inferences: {len(dn.accepted_inferences())}",
            err=True,
        )


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this module's commands to the root app."""

    @app.command("devnet")
    def devnet(
        port: int = typer.Option(9090, help="Loopback port (0 = any free port)."),
        block_time: float = typer.Option(5.0, help="Seconds between blocks."),
        chain_id: str = typer.Option("allora-devnet-1", help="Chain id reported by GetNodeInfo."),
        topic: list[int] = typer.Option([67], help="Topic id to create (repeatable)."),
        epoch_length: int = typer.Option(12, help="Epoch length in blocks, for every topic."),
        window: int = typer.Option(10, help="Worker submission window in blocks, for every topic."),
        fund: list[str] = typer.Option([], help="Genesis balance ADDRESS=UALLO (repeatable)."),
        register_worker: list[str] = typer.Option(
            [], "--register", help="Pre-registered worker TOPIC:ADDRESS (repeatable)."
        ),
        min_gas_price: float = typer.Option(10.0, help="Minimum gas price in uallo per gas."),
        error_rate: float = typer.Option(0.0, help="Probability that any call fails UNAVAILABLE."),
        seed: int = typer.Option(0, help="Seed of the fault plan's random draws."),
        duration: float = typer.Option(0.0, help="Stop after this many seconds (0 = until a signal)."),
        emissions_version: int = typer.Option(10, help="Emissions module version the node serves (9 or 10)."),
        upgrade_height: int | None = typer.Option(
            None, help="Upgrade the emissions module from v9 to v10 in place at this height."),
    ) -> None:
        """Run a local Allora chain (real gRPC, real protobuf types) on 127.0.0.1."""
        # Imported here: the devnet (and its protobuf types) is for this command only.
        import asyncio

        from allora_worker.devnet import DevnetConfig, FaultPlan, TopicConfig

        topics = [
            TopicConfig(
                id=tid,
                metadata=f"devnet topic {tid}",
                epoch_length=epoch_length,
                worker_submission_window=window,
                ground_truth_lag=epoch_length,
            )
            for tid in topic
        ]
        config = DevnetConfig(
            chain_id=chain_id,
            port=port,
            block_time=block_time,
            topics=topics,
            accounts=_parse_funds(fund),
            registered_workers=_parse_registrations(register_worker),
            min_gas_price=min_gas_price,
            faults=FaultPlan(seed=seed, error_rate={"*": error_rate} if error_rate else {}),
            emissions_version=emissions_version,
            upgrade_height=upgrade_height,
        )
        asyncio.run(_serve(config, duration))
