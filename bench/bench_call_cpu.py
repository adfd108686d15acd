"""CPU microseconds our client stack spends per gRPC request, against the project's devnet.

    .venv/bin/python bench/bench_call_cpu.py [--calls 300] [--runs 5] [--profile FILE]

The devnet runs on its own thread in this process; the client (ChainClient with production
settings: call_timeout 10 s, the EndpointPool's failover and retry) runs on the main thread, and
only the main thread's CPU is counted (time.thread_time), so the devnet's work is left out. Each
run makes `--calls` sequential requests of one kind (GetLatestBlock via latest_height(),
GetUnfulfilledWorkerNonces via open_nonces()) after a warm-up; a run's figure is its CPU per call.
Prints JSON: per method, the median of the runs and min/max. `--profile FILE` also writes a
cProfile of one extra run of each method (pstats format). Under a minute.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from allora_worker.chain.client import ChainClient
from allora_worker.devnet import DevnetThread, TopicConfig
from harness.daemon import devnet_config

ADDRESS = "allo1r5v5srda7xfth3hn2s26txvrcrntldju4cacqx"  # the public "abandon x23 art" test vector
TOPIC = 67


async def per_call_us(fn: Callable[[], Awaitable[object]], n: int) -> float:
    cpu = time.thread_time()
    for _ in range(n):
        await fn()
    return (time.thread_time() - cpu) / n * 1e6


async def measure(url: str, chain_id: str, calls: int, runs: int, profile: str | None) -> dict[str, object]:
    client = ChainClient([url], chain_id, None, call_timeout_s=10.0)
    kinds: dict[str, Callable[[], Awaitable[object]]] = {
        "GetLatestBlock": client.latest_height,
        "GetUnfulfilledWorkerNonces": lambda: client.open_nonces(TOPIC),
    }
    out: dict[str, object] = {}
    try:
        for name, fn in kinds.items():
            await per_call_us(fn, 30)  # warm-up: connect, negotiate the emissions version, caches
            figures = [await per_call_us(fn, calls) for _ in range(runs)]
            out[name] = {"median_us": round(statistics.median(figures), 1), "min_us": round(min(figures), 1),
                         "max_us": round(max(figures), 1), "runs_us": [round(f, 1) for f in figures]}
        if profile:
            prof = cProfile.Profile(time.thread_time)  # CPU of this thread, not wall time
            prof.enable()
            for fn in kinds.values():
                await per_call_us(fn, calls)
            prof.disable()
            prof.dump_stats(profile)
    finally:
        client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    topics = [TopicConfig(id=TOPIC, metadata="t", epoch_length=20, worker_submission_window=10)]
    with DevnetThread(devnet_config(ADDRESS, topics, block_time=1.0)) as dn:
        result = asyncio.run(measure(dn.grpc_url, dn.config.chain_id, args.calls, args.runs, args.profile))
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps({"label": args.label, "calls_per_run": args.calls, "runs": args.runs,
                      "loadavg": load, "per_call": result}, indent=1))


if __name__ == "__main__":
    main()
