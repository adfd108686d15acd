"""The official allora-sdk `AlloraWorker` loop, as a user of it would run it, for the soak.

    python bench/sdk_driver.py --grpc grpc+http://127.0.0.1:PORT --chain-id allora-devnet-1 \\
        --mnemonic-file key.txt --bundle DIR --replay-start 2020-03-01T00:00:00Z --replay-speed 1800 \\
        --poll 0.4 --predictions out.jsonl

The prediction function is the same one our daemon uses: the same bundle's `predict` on the same
bundled real candles replayed on the same clock (one epoch = one replayed hour) — without our
candle checks, because the SDK has none (a user would have to write them). Each prediction is
appended to `--predictions` (nonce, last candle, value) so the soak can check what was submitted.

Offline, the SDK's websocket subscription cannot connect (the devnet serves gRPC only): it is
pointed at a closed loopback port, logs the failure and keeps its polling loop, which submits. The
faucet is skipped by the SDK itself off testnet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from datetime import datetime, timedelta
from pathlib import Path

from allora_sdk.rpc_client.config import AlloraNetworkConfig, AlloraWalletConfig
from allora_sdk.worker.worker import AlloraWorker

from allora_worker.market.clock import ReplayClock
from allora_worker.market.replay import ReplaySource
from allora_worker.market.schema import HOUR, last_closed_open_time
from allora_worker.model.bundle import load_bundle


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main(args: argparse.Namespace) -> None:
    bundle = load_bundle(Path(args.bundle))
    clock = ReplayClock(datetime.fromisoformat(args.replay_start.replace("Z", "+00:00")), speed=args.replay_speed)
    source = ReplaySource.bundled("binance", clock)
    out = Path(args.predictions).open("a", buffering=1)  # noqa: SIM115 (open for the whole run)

    def predict(ctx) -> float:  # type: ignore[no-untyped-def]
        now = clock.now()
        last = last_closed_open_time(now)
        candles = source.fetch(last - timedelta(hours=bundle.history_hours + 2), last + HOUR)
        value = float(bundle.predict(candles))
        out.write(json.dumps({"nonce": ctx.nonce, "last": candles.last.isoformat(), "value": value,
                              "replay_now": now.isoformat()}) + "\n")
        return value

    network = AlloraNetworkConfig(
        chain_id=args.chain_id, url=args.grpc, websocket_url=f"ws://127.0.0.1:{_closed_port()}/websocket",
        faucet_url=None, fee_minimum_gas_price=10.0,
    )
    mnemonic = Path(args.mnemonic_file).read_text().strip()
    worker = AlloraWorker.inferer(run=predict, wallet=AlloraWalletConfig(mnemonic=mnemonic), network=network,
                                  topic_id=args.topic, polling_interval=args.poll, show_banner=False)
    print("SDK WORKER STARTING", flush=True)
    async for _ in worker.run():
        pass


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grpc", required=True)
    p.add_argument("--chain-id", required=True)
    p.add_argument("--mnemonic-file", required=True)
    p.add_argument("--topic", type=int, default=67)
    p.add_argument("--bundle", required=True)
    p.add_argument("--replay-start", required=True)
    p.add_argument("--replay-speed", type=float, required=True)
    p.add_argument("--poll", type=float, required=True)
    p.add_argument("--predictions", required=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main(p.parse_args()))
    sys.exit(0)
