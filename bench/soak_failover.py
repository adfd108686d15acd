"""Failover soak: two real daemons, one wallet, one PostgreSQL journal; kill -9 the active every ~N windows.

    python bench/soak_failover.py --windows 200 --every 20 --json bench/results/failover-soak-200.json

One devnet (in this process, every tx at CheckTx recorded), one real PostgreSQL server
(initdb + pg_ctl in a temp dir, harness/postgres.py), hosts `a` and `b`: the real daemon
(`allora-worker run`) with its own state directory and the shared `state_url`. Every `--every`
windows (the kill lands at a random moment of the epoch, seeded) the active host gets SIGKILL; the
killed host is started again at once and comes back as the standby, so the kills alternate hosts.

Measured, from the devnet and the database, never from the daemons' own words:
- windows opened from the first accepted one to the last closed one, and how many were filled;
- per failover: kill -> the standby holds the lease (a new fencing token in `leases`), and
  kill -> its first accepted inference; the windows lost around each kill;
- duplicate payload txs (two txs for one window) and double-signed sequences (two txs for one
  account sequence) among every tx the node received.
Production settings but the clock: the daemon, its journal and lease code are the shipped ones;
blocks, epochs and the lease are scaled down (see --block-time, --epoch-length, --lease).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from allora_worker.devnet import DevnetThread, TopicConfig  # noqa: E402
from allora_worker.journal_pg import PASSWORD_ENV, lease_holder  # noqa: E402
from harness.chain_recorder import NodeRecorder  # noqa: E402
from harness.daemon import DaemonProcess, devnet_config, quick_bundle, write_worker_config  # noqa: E402
from harness.postgres import PLANTED_PASSWORD, PgServer, postgres_bindir  # noqa: E402

MNEMONIC = " ".join(["abandon"] * 23 + ["art"])
ADDRESS = "allo1r5v5srda7xfth3hn2s26txvrcrntldju4cacqx"
TOPIC = 67
OFFSET = 2


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        bindir = postgres_bindir()
        if bindir is None:
            raise SystemExit("PostgreSQL server binaries are not installed (apt-get install postgresql)")
        self.server = PgServer(bindir)
        self.dbname = self.server.fresh_database()
        os.environ[PASSWORD_ENV] = PLANTED_PASSWORD  # for the lease reads below
        self.params = {"host": "127.0.0.1", "port": self.server.port, "user": "allora", "dbname": self.dbname,
                       "password": PLANTED_PASSWORD, "connect_timeout": 5}
        self.mnemonic = work / "mnemonic"
        self.mnemonic.write_text(MNEMONIC + "\n")
        self.mnemonic.chmod(0o600)
        self.bundle = quick_bundle(work / "bundle")
        self.epoch = args.epoch_length
        self.window = args.window or int(args.epoch_length * 0.75)
        topic = TopicConfig(id=TOPIC, metadata="topic 67", epoch_length=self.epoch,
                            worker_submission_window=self.window, epoch_offset=OFFSET)
        self.dn = DevnetThread(devnet_config(ADDRESS, [topic], block_time=args.block_time)).start()
        self.recorder = NodeRecorder(self.dn)
        self.hosts: dict[str, DaemonProcess] = {}
        self.restarts = {"a": 0, "b": 0}

    def start(self, name: str) -> DaemonProcess:
        config = write_worker_config(
            self.work / f"{name}.toml", grpc_url=self.dn.grpc_url, state_dir=self.work / f"state-{name}",
            bundle=self.bundle, epoch_seconds=self.epoch * self.args.block_time,
            extra={"state_url": self.server.url(self.dbname), "lease_seconds": self.args.lease},
        )
        self.restarts[name] += 1
        daemon = DaemonProcess(config, mnemonic_file=self.mnemonic,
                               output=self.work / f"{name}.{self.restarts[name]}.log",
                               env={PASSWORD_ENV: PLANTED_PASSWORD})
        self.hosts[name] = daemon
        return daemon

    def accepted(self) -> dict[int, float]:
        """nonce -> wall time we first saw it accepted (polled)."""
        return {i.nonce: 0.0 for i in self.dn.accepted_inferences(TOPIC) if i.worker == ADDRESS}

    def lease(self) -> tuple[str, int] | None:
        try:
            holder = lease_holder(self.params, ADDRESS)
        except Exception:
            return None
        if holder is None or not holder.active:
            return None
        return holder.holder, holder.token

    def active_host(self) -> str | None:
        held = self.lease()
        if held is None:
            return None
        pid = int(held[0].split(":")[1])
        for name, daemon in self.hosts.items():
            if daemon.pid == pid and daemon.process.poll() is None:
                return name
        return None

    def run(self) -> dict[str, Any]:
        rng = random.Random(self.args.seed)
        self.start("a")
        self.start("b")
        deadline = time.monotonic() + 180
        while self.active_host() is None:
            for name, daemon in self.hosts.items():
                if daemon.process.poll() is not None:
                    raise SystemExit(f"host {name} exited:\n{daemon.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise SystemExit("no host became active in 180 s")
            time.sleep(0.1)
        seen: dict[int, float] = {}

        def poll_accepted() -> None:
            now = time.monotonic()
            for nonce in self.accepted():
                seen.setdefault(nonce, now)

        while not seen:
            poll_accepted()
            time.sleep(0.05)
        first = min(seen)
        last_nonce_wanted = first + (self.args.windows - 1) * self.epoch
        failovers: list[dict[str, Any]] = []
        next_kill_after = first + self.args.every * self.epoch
        started = time.monotonic()
        while True:
            poll_accepted()
            height = self.dn.height
            if height > last_nonce_wanted + self.window + 2:
                break
            if height >= next_kill_after and next_kill_after + self.args.every * self.epoch <= last_nonce_wanted:
                # A random moment in this epoch, so the kill hits every step of a cycle over the run.
                target = next_kill_after + rng.randrange(0, self.epoch)
                while self.dn.height < target:
                    poll_accepted()
                    time.sleep(0.02)
                victim = self.active_host()
                before = self.lease()
                if victim is None or before is None:
                    time.sleep(0.1)
                    continue
                kill_height = self.dn.height
                killed_at = time.monotonic()
                os.kill(self.hosts[victim].pid, signal.SIGKILL)
                self.hosts[victim].wait(10)
                took_over = None
                while time.monotonic() - killed_at < 120:
                    now_lease = self.lease()
                    if now_lease is not None and now_lease[1] > before[1]:
                        took_over = time.monotonic() - killed_at
                        break
                    poll_accepted()
                    time.sleep(0.02)
                self.start(victim)  # back as the standby
                first_after = None
                while time.monotonic() - killed_at < 120:
                    poll_accepted()
                    later = [t for n, t in seen.items() if t > killed_at]
                    if later:
                        first_after = min(later) - killed_at
                        break
                    time.sleep(0.02)
                failovers.append({"victim": victim, "kill_height": kill_height, "token_before": before[1],
                                  "lease_takeover_s": took_over, "kill_to_next_accepted_s": first_after})
                print(f"failover {len(failovers)}: killed {victim} at height {kill_height}; lease taken "
                      f"after {took_over and round(took_over, 2)} s, next accepted after "
                      f"{first_after and round(first_after, 2)} s", flush=True)
                next_kill_after = kill_height - (kill_height - OFFSET) % self.epoch + self.args.every * self.epoch
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        for daemon in self.hosts.values():
            daemon.stop(30)
        poll_accepted()
        windows = list(range(first, last_nonce_wanted + 1, self.epoch))
        filled = [n for n in windows if n in seen]
        lost = [n for n in windows if n not in seen]
        for f in failovers:
            f["lost_windows"] = [n for n in lost if n <= f["kill_height"] < n + 2 * self.epoch]
        takeovers = [f["lease_takeover_s"] for f in failovers if f["lease_takeover_s"] is not None]
        to_accept = [f["kill_to_next_accepted_s"] for f in failovers if f["kill_to_next_accepted_s"] is not None]
        return {
            "settings": {"windows": self.args.windows, "every": self.args.every, "block_time": self.args.block_time,
                         "epoch_length": self.epoch, "window": self.window, "lease_seconds": self.args.lease,
                         "seed": self.args.seed},
            "elapsed_s": round(elapsed, 1),
            "windows": len(windows),
            "filled": len(filled),
            "lost": lost,
            "failovers": failovers,
            "lease_takeover_s": {"p50": percentile(takeovers, 50), "p99": percentile(takeovers, 99),
                                 "max": max(takeovers, default=None),
                                 "mean": statistics.fmean(takeovers) if takeovers else None},
            "kill_to_next_accepted_s": {"p50": percentile(to_accept, 50), "p99": percentile(to_accept, 99),
                                        "max": max(to_accept, default=None)},
            "duplicate_payload_txs": {f"{t}/{n}": sorted(h)
                                      for (t, n), h in self.recorder.duplicate_payloads().items()},
            "double_signed_sequences": {str(s): sorted(h) for s, h in self.recorder.double_signed_sequences().items()},
            "txs_seen_by_node": len(self.recorder.seen),
            "load_average_at_end": os.getloadavg(),
        }

    def close(self) -> None:
        for daemon in self.hosts.values():
            if daemon.process.poll() is None:
                daemon.process.kill()
        self.dn.stop()
        self.server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--every", type=int, default=20, help="windows between kills")
    parser.add_argument("--block-time", type=float, default=0.1)
    parser.add_argument("--epoch-length", type=int, default=40, help="blocks per epoch (one window each)")
    parser.add_argument("--window", type=int, default=0, help="submission window in blocks (default 75%%)")
    parser.add_argument("--lease", type=float, default=1.5, help="lease_seconds of both hosts")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="failover-soak-") as tmp:
        soak = Soak(args, Path(tmp))
        try:
            report = soak.run()
        finally:
            soak.close()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    ok = not report["duplicate_payload_txs"] and not report["double_signed_sequences"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
