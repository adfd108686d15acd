"""gRPC requests the real daemon makes per window, counted by the devnet, per method; and, with
`--latency`, how many windows a slow node still lets it fill.

    .venv/bin/python bench/calls_per_window.py [--epochs 12] [--topics 1] [--latency 0] [--label NAME]

A devnet with 0.2 s blocks, 16-block epochs and 12-block windows (3.2 s epochs, as the soaks);
`--topics` topics on the same epochs; the daemon with production timeouts and heartbeat. Once the
daemon is up, the counters are read at the start of a window and again `--epochs` epochs later, so
pre-flight and probing are left out. `--latency S` delays every gRPC answer by S seconds (a sick
node). Prints JSON: windows opened and filled, calls per window opened (all topics), per method.
About 1 minute.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from allora_worker.devnet import DevnetThread, TopicConfig
from harness.daemon import DaemonProcess, devnet_config, quick_bundle, wait_until, write_worker_config

# The public "abandon x23 art" test vector: a throwaway devnet key, never a real one.
TEST_MNEMONIC = " ".join(["abandon"] * 23 + ["art"])
TEST_ADDRESS = "allo1r5v5srda7xfth3hn2s26txvrcrntldju4cacqx"
BLOCK, EPOCH, WINDOW = 0.2, 16, 12


def calls(dn: DevnetThread) -> Counter[str]:
    assert dn.devnet is not None
    counted: Counter[str] = Counter()
    for service in dn.devnet.services:
        for path, n in list(service.calls.items()):
            counted[path.rsplit("/", 1)[-1]] += n
    return counted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--topics", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="calls-"))
    key = root / "key"
    key.write_text(TEST_MNEMONIC + "\n")
    key.chmod(0o600)
    bundle = quick_bundle(root / "bundle")
    topic_ids = [67 + i for i in range(args.topics)]
    topics = [TopicConfig(id=t, metadata="t", epoch_length=EPOCH, worker_submission_window=WINDOW) for t in topic_ids]
    with DevnetThread(devnet_config(TEST_ADDRESS, topics, block_time=BLOCK)) as dn:
        cfg = write_worker_config(root / "w.toml", grpc_url=dn.grpc_url, state_dir=root / "s", bundle=bundle,
                                  topics=topic_ids, epoch_seconds=EPOCH * BLOCK,
                                  extra={"heartbeat_seconds": 3600.0,
                                         "chain": {"confirm_timeout_seconds": 60.0, "call_timeout_seconds": 10.0}})
        daemon = DaemonProcess(cfg, mnemonic_file=key, output=root / "o.log")
        daemon.wait_for_line("DAEMON MODE STARTED", 180)
        if args.latency:
            dn.faults.latency = {"*": args.latency}
        first = dn.state.height + EPOCH - dn.state.height % EPOCH + EPOCH  # a whole epoch after the start
        last = first + args.epochs * EPOCH
        wait_until(lambda: dn.state.height >= first, 60, "the first measured window")
        start = calls(dn)
        wait_until(lambda: dn.state.height >= last, 60 + args.epochs * EPOCH * BLOCK * 4, "the measured epochs")
        end = calls(dn)
        wait_until(lambda: dn.state.height >= last + WINDOW + 1, 60, "the last window to close")
        daemon.stop()
        opened = [(t, n) for t in topic_ids for n in range(first, last, EPOCH)]
        filled = {(i.topic_id, i.nonce) for t in topic_ids for i in dn.accepted_inferences(t)
                  if i.worker == TEST_ADDRESS}
    delta = end - start
    total = sum(delta.values())
    windows = len(opened)
    print(json.dumps({
        "label": args.label, "topics": args.topics, "latency_s": args.latency, "windows_opened": windows,
        "windows_filled": sum(1 for w in opened if w in filled),
        "calls_total": total, "calls_per_window": round(total / windows, 2),
        "per_method_per_window": {m: round(n / windows, 2) for m, n in delta.most_common()},
    }, indent=1))


if __name__ == "__main__":
    main()
