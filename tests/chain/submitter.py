"""A minimal real submitter: one wallet, one topic, the newest open nonce, the journal in the loop.

    MNEMONIC_FILE=key.txt python -m tests.chain.submitter \\
        --state-dir ./state --grpc grpc+http://127.0.0.1:9090 --chain-id allora-devnet-1 \\
        --topic 67 --value 0.0123

Steps: take the wallet's InstanceLock, open the journal, check the chain id, reconcile in-flight
entries, then claim the newest open nonce (skipped if already done), record the value, submit.
Prints one JSON line with the outcome. Exit 0 when the nonce is confirmed or already done, 2 when
there is no open nonce, 3 when another instance holds the lock, 1 on a fatal error.

For the kill -9 tests only (it lives under tests/): ALLORA_WORKER_CRASH_AT=claimed|signed|broadcast|
before_confirm makes the process SIGKILL itself at that step (see tests/crash_points.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from allora_worker.chain import errors as E
from allora_worker.chain.canonical import canonical_decimal
from allora_worker.chain.client import ChainClient
from allora_worker.chain.wallet import load_wallet
from allora_worker.journal import InstanceLock, InstanceLockedError, Journal
from allora_worker.secrets import describe
from allora_worker.worker.reconcile import reconcile, submit_journaled
from tests.crash_points import CRASH_ENV, die, install

JOURNAL_FILE = "journal.sqlite"


async def run(args: argparse.Namespace) -> int:
    mnemonic_file = os.environ.get("MNEMONIC_FILE")
    wallet = load_wallet(os.environ.get("MNEMONIC"), Path(mnemonic_file) if mnemonic_file else None)
    state_dir = Path(args.state_dir)
    try:
        lock = InstanceLock(state_dir, wallet.address).acquire()
    except InstanceLockedError as exc:
        print(json.dumps({"outcome": "locked", "error": str(exc)}), flush=True)
        return 3
    try:
        with Journal(state_dir / JOURNAL_FILE) as journal:
            client = ChainClient(args.grpc, args.chain_id, wallet, call_timeout_s=args.call_timeout,
                                 confirm_timeout_s=args.confirm_timeout)
            try:
                return await _cycle(client, journal, args)
            finally:
                client.close()
    finally:
        lock.release()


async def _cycle(client: ChainClient, journal: Journal, args: argparse.Namespace) -> int:
    try:
        await client.check_chain_id()
        settled = await reconcile(journal, client)
        nonces = await client.open_nonces(args.topic)
        if not nonces:
            print(json.dumps({"outcome": "no_open_nonce", "reconciled": len(settled)}), flush=True)
            return 2
        nonce = nonces[-1]
        value = canonical_decimal(args.value)
        claimed = journal.claim(args.topic, nonce, value=value, model_hash=args.model_hash)
        if claimed is None:
            done = journal.get(args.topic, nonce)
            print(json.dumps({"outcome": "already_done", "nonce": nonce, "state": done and done.state}),
                  flush=True)
            return 0
        if os.environ.get(CRASH_ENV) == "claimed":
            die()
        entry = await submit_journaled(client, journal, args.topic, nonce, value)
    except E.Fatal as exc:
        print(json.dumps({"outcome": "fatal", "error": describe(exc)}), flush=True)
        return 1
    print(json.dumps({"outcome": entry.state, "nonce": nonce, "txhash": entry.txhash, "value": entry.value,
                      "reconciled": [s.__dict__ for s in settled]}), flush=True)
    return 0 if entry.state == "confirmed" else 4


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.chain.submitter", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--grpc", action="append", required=True, help="gRPC endpoint; repeat for failover")
    p.add_argument("--chain-id", required=True)
    p.add_argument("--topic", type=int, required=True)
    p.add_argument("--value", required=True)
    p.add_argument("--model-hash", default=None)
    p.add_argument("--call-timeout", type=float, default=5.0)
    p.add_argument("--confirm-timeout", type=float, default=30.0)
    args = p.parse_args(argv)
    step = os.environ.get(CRASH_ENV)
    if step and step != "claimed":
        install(step)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
