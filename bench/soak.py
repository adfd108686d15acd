"""Soak: many windows on an accelerated devnet clock under a named fault profile, ours vs the SDK's loop.

    python bench/soak.py --windows 500 --profile harsh --block-time 0.1 --epoch-length 20 \\
        --driver both --json bench/results/soak-harsh-500.json

One devnet (in this process), topic 67 with `--epoch-length` blocks per epoch and a submission
window of `--window` blocks (default 80 % of the epoch). Each driver is a separate OS process with
its own funded, registered wallet:

- `ours`: the real daemon, `allora-worker --config C run`, on the bundled real candles replayed as
  live data (one epoch = one replayed hour), the same bundle for both drivers;
- `sdk`: the official `allora_sdk.worker.AlloraWorker` polling loop with the same `predict` on the
  same replay (bench/sdk_driver.py), polling as often as ours does (a quarter of a window).

Faults come from bench/profiles.py, pinned to block heights from `--seed`, and hit both drivers
alike. Measured per driver, from the chain and from /proc/PID: windows opened, windows with an
accepted submission, eligible windows (an endpoint reachable for at least two poll intervals),
duplicates, submissions from bad data, window-open-to-accepted latency, RSS, open fds, CPU.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pandas as pd  # noqa: E402
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum  # noqa: E402
from profiles import BLACKHOLE_METHOD, Schedule, build_schedule  # noqa: E402

from allora_worker.chain.canonical import canonical_decimal  # noqa: E402
from allora_worker.chain.wallet import Wallet  # noqa: E402
from allora_worker.config import ChainSettings, Settings  # noqa: E402
from allora_worker.devnet import DevnetConfig, DevnetThread, FaultPlan, TopicConfig  # noqa: E402
from allora_worker.journal import Journal  # noqa: E402
from allora_worker.market.bundled import load_bundled  # noqa: E402
from allora_worker.market.checks import CheckConfig, check_window  # noqa: E402
from allora_worker.model.bundle import load_bundle  # noqa: E402
from harness.daemon import REPLAY_START, DaemonProcess, quick_bundle, write_worker_config  # noqa: E402

TOPIC = 67
# Ours runs on the production chain timeouts (the defaults a user gets), not the shortened ones of
# the daemon tests: a comparison with the SDK's loop is fair only on what users really run.
PRODUCTION_CHAIN = ChainSettings()
OURS_CHAIN = {"call_timeout_seconds": PRODUCTION_CHAIN.call_timeout_seconds,
              "confirm_timeout_seconds": PRODUCTION_CHAIN.confirm_timeout_seconds}
# The heartbeat (balance, scores, realized losses, one log line) runs every `heartbeat_seconds`,
# 3600 s by default: one replayed hour, which on the soak's clock is one epoch. The daemon tests'
# 2 s made ours do 1.6 heartbeats per 3.2 s window, work that production does once an hour.
PRODUCTION_HEARTBEAT_S = float(Settings.model_fields["heartbeat_seconds"].default)
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_DATA_AGE_H = 2.0


# -- /proc sampling ----------------------------------------------------------------------------


def proc_sample(pid: int) -> dict[str, float] | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = {line.split(":")[0]: line.split(":")[1].split() for line in status.splitlines() if ":" in line}
    if "VmRSS" not in fields:
        return None  # exited between the liveness check and the read (a zombie has no memory lines)
    after = stat.rsplit(")", 1)[1].split()
    cpu = (int(after[11]) + int(after[12])) / CLK_TCK  # utime + stime
    return {"rss_mb": int(fields["VmRSS"][0]) / 1024, "hwm_mb": int(fields["VmHWM"][0]) / 1024,
            "fds": fds, "cpu_s": cpu, "threads": int(fields["Threads"][0])}


@dataclass
class Driver:
    name: str
    wallet: Wallet
    key: Path
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    daemon: DaemonProcess | None = None
    log: Path | None = None
    started_wall: float = 0.0
    ready_wall: float = 0.0
    samples: list[dict[str, float]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""


class Sampler(threading.Thread):
    def __init__(self, drivers: list[Driver], dn: DevnetThread, period: float = 0.5) -> None:
        super().__init__(daemon=True, name="sampler")
        self.drivers, self.dn, self.period = drivers, dn, period
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for d in self.drivers:
                if d.alive():
                    s = proc_sample(d.pid)
                    if s is not None:
                        s["t"] = time.time()
                        s["height"] = self.dn.height
                        d.samples.append(s)
            self.stopped.wait(self.period)


# -- drivers -------------------------------------------------------------------------------------


def new_key(path: Path) -> Wallet:
    phrase = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
    path.write_text(phrase + "\n")
    path.chmod(0o600)
    return Wallet.from_mnemonic(phrase)


def start_ours(d: Driver, dn: DevnetThread, bundle: Path, epoch_seconds: float) -> None:
    config = write_worker_config(
        d.workdir / "worker.toml", grpc_url=dn.grpc_url, state_dir=d.workdir / "state", bundle=bundle,
        epoch_seconds=epoch_seconds,
        extra={"chain": dict(OURS_CHAIN),
               "heartbeat_seconds": PRODUCTION_HEARTBEAT_S * epoch_seconds / 3600.0,
               "log": {"file": str(d.workdir / "worker-file.log")}},
    )
    d.log = d.workdir / "daemon.out"
    d.started_wall = time.time()
    d.daemon = DaemonProcess(config, mnemonic_file=d.key, output=d.log)
    d.process = d.daemon.process


def start_sdk(d: Driver, dn: DevnetThread, bundle: Path, epoch_seconds: float, poll: float) -> None:
    d.log = d.workdir / "sdk.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_") and k != "MNEMONIC"}
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, str(ROOT / "bench" / "sdk_driver.py"), "--grpc", dn.grpc_url,
           "--chain-id", dn.config.chain_id, "--mnemonic-file", str(d.key), "--bundle", str(bundle),
           "--replay-start", REPLAY_START.isoformat(), "--replay-speed", str(3600.0 / epoch_seconds),
           "--poll", str(poll), "--predictions", str(d.workdir / "predictions.jsonl")]
    d.started_wall = time.time()
    handle = d.log.open("ab")
    d.process = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=str(d.workdir))


READY = {"ours": "DAEMON MODE STARTED", "sdk": "Starting polling worker"}


def wait_ready(d: Driver, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if READY[d.name] in d.text():
            d.ready_wall = time.time()
            return
        if not d.alive():
            raise SystemExit(f"{d.name} exited before it was ready:\n{d.text()[-3000:]}")
        time.sleep(0.05)
    raise SystemExit(f"{d.name} not ready after {timeout}s:\n{d.text()[-3000:]}")


def stop(d: Driver) -> int | None:
    if d.process is None:
        return None
    if d.process.poll() is None:
        d.process.send_signal(signal.SIGTERM)
        try:
            d.process.wait(20)
        except subprocess.TimeoutExpired:
            d.process.kill()
            d.process.wait(10)
    return d.process.returncode


# -- fault controller ------------------------------------------------------------------------------


def apply_schedule(dn: DevnetThread, schedule: Schedule, addresses: list[str], end_height: int,
                   deadline: float) -> dict[str, int]:
    """Flip the devnet's faults at the scheduled heights until `end_height`."""
    plan = dn.faults
    plan.error_rate = {"*": schedule.rates.error_rate} if schedule.rates.error_rate else {}
    latency = {}
    if schedule.rates.latency_s:
        latency["*"] = schedule.rates.latency_s
    if schedule.rates.broadcast_latency_s:
        latency["BroadcastTx"] = schedule.rates.broadcast_latency_s
    plan.latency = latency
    plan.unavailable_blocks = [(e.start, e.end) for e in schedule.episodes if e.kind == "outage"]
    pending = [e for e in schedule.episodes if e.kind in ("mempool_full", "blackhole", "drop", "bump")]
    active: list[Any] = []
    applied: Counter[str] = Counter()
    while dn.height < end_height and time.monotonic() < deadline:
        h = dn.height
        while pending and pending[0].start <= h:
            e = pending.pop(0)
            applied[e.kind] += 1
            if e.kind == "mempool_full":
                plan.mempool_full = True
                active.append(e)
            elif e.kind == "blackhole":
                plan.blackhole = {BLACKHOLE_METHOD}
                active.append(e)
            elif e.kind == "drop":
                plan.drop_txs = e.count
            elif e.kind == "bump":
                for address in addresses:
                    dn.bump_sequence(address)
        for e in [a for a in active if a.end < h]:
            active.remove(e)
            if e.kind == "mempool_full" and not any(a.kind == "mempool_full" for a in active):
                plan.mempool_full = False
            if e.kind == "blackhole" and not any(a.kind == "blackhole" for a in active):
                plan.blackhole = set()
        time.sleep(0.005)
    plan.error_rate, plan.latency, plan.mempool_full, plan.blackhole, plan.drop_txs = {}, {}, False, set(), 0
    return dict(applied)


# -- analysis --------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def slope_per_100(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return None if den == 0 else 100 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


class Truth:
    """What the bundle predicts from the real replayed candles ending at a given hour."""

    def __init__(self, bundle: Path) -> None:
        self.bundle = load_bundle(bundle)
        self.frame = load_bundled("binance")
        self.cache: dict[pd.Timestamp, tuple[float, str]] = {}

    def at(self, last: pd.Timestamp) -> tuple[float, str]:
        if last not in self.cache:
            hours = self.bundle.history_hours
            part = self.frame.loc[(self.frame.index > last - pd.Timedelta(hours=hours)) & (self.frame.index <= last)]
            verdict = check_window(part, now=(last + pd.Timedelta(hours=1)).to_pydatetime(), hours=hours,
                                   config=CheckConfig(max_staleness=timedelta(hours=MAX_DATA_AGE_H)))
            self.cache[last] = (float(self.bundle.predict(part)), str(verdict))
        return self.cache[last]


def analyse(name: str, d: Driver, dn: DevnetThread, schedule: Schedule, nonces: list[int], window: int,
            poll_blocks: int, block_time: float, epoch_seconds: float, truth: Truth,
            cutoff: float) -> dict[str, Any]:
    state = dn.state
    with state.lock:
        results = list(state.txs.values())
        block_times = {h: b.time for h, b in state.blocks.items()}
    accepted = [a for a in dn.accepted_inferences(TOPIC) if a.worker == d.wallet.address]
    by_nonce: dict[int, Any] = {}
    dup_accepted = 0
    for a in accepted:
        if a.nonce in by_nonce:
            dup_accepted += 1
        by_nonce.setdefault(a.nonce, a)
    payload_txs: Counter[int] = Counter()
    fee_txs = 0
    for r in results:
        if r.tx.signer != d.wallet.address:
            continue
        fee_txs += 1
        for _url, msg in r.tx.msgs:
            bundle = getattr(msg, "worker_data_bundle", None)
            if bundle is not None and bundle.topic_id == TOPIC:
                payload_txs[bundle.nonce.block_height] += 1
    dup_txs = sum(c - 1 for c in payload_txs.values() if c > 1)

    bad = schedule.bad_blocks()
    eligible, missed_eligible = [], []
    for n in nonces:
        run = best = 0
        for h in range(n, n + window):
            run = 0 if h in bad else run + 1
            best = max(best, run)
        if best >= 2 * poll_blocks:
            eligible.append(n)
            if n not in by_nonce:
                missed_eligible.append(n)
    in_range = [n for n in nonces if n in by_nonce]

    latency_blocks = [by_nonce[n].height - n for n in in_range]
    latency_s = [(block_times[by_nonce[n].height] - block_times[n]).total_seconds() for n in in_range
                 if by_nonce[n].height in block_times and n in block_times]

    # Bad data: the accepted value must be what the bundle predicts from the real candles the driver
    # says it used, those candles must pass the checks, and they must be fresh for that window.
    used = used_data(name, d)
    bad_data: list[dict[str, Any]] = []
    unverified = 0
    speed = 3600.0 / epoch_seconds
    slack_h = max(0.0, (d.ready_wall - d.started_wall)) * speed / 3600 + 1.0
    for n in in_range:
        a = by_nonce[n]
        info = used.get(n)
        if info is None:
            unverified += 1
            continue
        last = pd.Timestamp(info["last"])
        expected, verdict = truth.at(last)
        problems = []
        if abs(float(a.value) - expected) > 1e-12 and a.value != canonical_decimal(expected):
            problems.append(f"value {a.value} != {expected!r} from the real candles ending {last}")
        if verdict != "ok":
            problems.append(f"candles fail the checks: {verdict}")
        opened = block_times.get(n)
        if opened is not None:
            replay_now = REPLAY_START + timedelta(seconds=(opened.timestamp() - d.started_wall) * speed)
            age_h = (replay_now - (last.to_pydatetime() + timedelta(hours=1))).total_seconds() / 3600
            if age_h > MAX_DATA_AGE_H + slack_h:
                problems.append(f"data {age_h:.1f} h old at the window")
        if problems:
            bad_data.append({"nonce": n, "problems": problems})

    # From READY to the end of the last window (the process is still running; shutdown excluded).
    samples = [s for s in d.samples if d.ready_wall <= s["t"] <= cutoff]
    cpu_run = (samples[-1]["cpu_s"] - samples[0]["cpu_s"]) if len(samples) >= 2 else None
    half = samples[len(samples) // 2:]
    return {
        "driver": name,
        "address": d.wallet.address,
        "windows_opened": len(nonces),
        "windows_eligible": len(eligible),
        "windows_accepted": len(in_range),
        "eligible_missed": len(missed_eligible),
        "eligible_missed_nonces": missed_eligible[:50],
        "duplicates_accepted": dup_accepted,
        "duplicate_payload_txs": dup_txs,
        "txs_delivered": fee_txs,
        "bad_data_submissions": len(bad_data),
        "bad_data_examples": bad_data[:10],
        "unverified_submissions": unverified,
        "latency_blocks_p50": percentile([float(x) for x in latency_blocks], 50),
        "latency_blocks_p99": percentile([float(x) for x in latency_blocks], 99),
        "latency_s_p50": percentile(latency_s, 50),
        "latency_s_p99": percentile(latency_s, 99),
        "rss_mb_start": samples[0]["rss_mb"] if samples else None,
        "rss_mb_final": samples[-1]["rss_mb"] if samples else None,
        "rss_mb_peak": max(s["hwm_mb"] for s in samples) if samples else None,
        "rss_mb_slope_per_100_windows": slope_per_100(
            [window_index(s["height"], nonces) for s in half], [s["rss_mb"] for s in half]
        ) if len(nonces) > 1 else None,
        "fds_start": samples[0]["fds"] if samples else None,
        "fds_final": samples[-1]["fds"] if samples else None,
        "fds_max": max(s["fds"] for s in samples) if samples else None,
        "threads_final": samples[-1]["threads"] if samples else None,
        "cpu_s_total": cpu_run,
        "cpu_s_per_window": cpu_run / len(nonces) if cpu_run is not None and nonces else None,
        "startup_s": round(d.ready_wall - d.started_wall, 2),
        "series": resource_series(samples, nonces),
    }


SERIES_POINTS = 100


def window_index(height: float, nonces: list[int]) -> float:
    """Windows since the first measured one (fractional: where in its epoch `height` falls)."""
    return (height - nonces[0]) / (nonces[1] - nonces[0])


def resource_series(samples: list[dict[str, float]], nonces: list[int]) -> list[list[float]]:
    """[window, RSS MB, open fds, CPU s since READY] at up to SERIES_POINTS evenly spaced samples,
    for bench/plot_soak.py: a trend shows in a picture before it shows in a slope."""
    if not samples or len(nonces) < 2:
        return []
    step = max(1, len(samples) // SERIES_POINTS)
    cpu0 = samples[0]["cpu_s"]
    return [[round(window_index(s["height"], nonces), 1), round(s["rss_mb"], 2), s["fds"],
             round(s["cpu_s"] - cpu0, 2)] for s in samples[::step]]


def used_data(name: str, d: Driver) -> dict[int, dict[str, Any]]:
    """nonce -> {"last": last candle open time} the driver says it predicted from."""
    out: dict[int, dict[str, Any]] = {}
    if name == "ours":
        path = d.workdir / "state" / "journal.sqlite"
        if path.exists():
            with Journal(path) as j:
                for e in j.entries(topic_id=TOPIC):
                    if e.data_window:
                        last = e.data_window.rsplit("..", 1)[1].split("#", 1)[0]
                        out[e.nonce] = {"last": last}
    else:
        path = d.workdir / "predictions.jsonl"
        if path.exists():
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                out[int(rec["nonce"])] = {"last": rec["last"]}
    return out


# -- main ------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    window = args.window or max(2, int(args.epoch_length * 0.8))
    epoch_seconds = args.epoch_length * args.block_time
    poll_blocks = max(1, math.ceil(window / 4))
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bundle = quick_bundle(workdir / "bundle")
    names = ["ours", "sdk"] if args.driver == "both" else [args.driver]
    drivers = []
    for name in names:
        sub = workdir / name
        shutil.rmtree(sub, ignore_errors=True)
        sub.mkdir()
        key = sub / "mnemonic.txt"
        drivers.append(Driver(name, new_key(key), key, sub))
    topic = TopicConfig(id=TOPIC, metadata="7 Day BTC/USD Log-Return Prediction", epoch_length=args.epoch_length,
                        worker_submission_window=window, ground_truth_lag=args.epoch_length)
    config = DevnetConfig(block_time=args.block_time, topics=[topic],
                          accounts={d.wallet.address: 10**24 for d in drivers},
                          registered_workers=[(TOPIC, d.wallet.address) for d in drivers],
                          faults=FaultPlan(seed=args.seed))
    print(f"soak: {args.windows} windows, profile {args.profile}, seed {args.seed}, block {args.block_time}s, "
          f"epoch {args.epoch_length} blocks, window {window} blocks, drivers {', '.join(names)}, workdir {workdir}",
          flush=True)
    with DevnetThread(config) as dn:
        sampler = Sampler(drivers, dn)
        sampler.start()
        for d in drivers:
            if d.name == "ours":
                start_ours(d, dn, bundle, epoch_seconds)
            else:
                start_sdk(d, dn, bundle, epoch_seconds, poll_blocks * args.block_time)
        for d in drivers:
            wait_ready(d)
        h = dn.height + args.epoch_length
        first = h + (args.epoch_length - h % args.epoch_length)
        nonces = [first + k * args.epoch_length for k in range(args.windows)]
        end_height = nonces[-1] + window + 2
        schedule = build_schedule(args.profile, args.seed, first_nonce=first, epoch=args.epoch_length,
                                  window=window, windows=args.windows)
        started = time.monotonic()
        budget = (end_height - dn.height) * args.block_time * 3 + 120
        applied = apply_schedule(dn, schedule, [d.wallet.address for d in drivers], end_height,
                                 time.monotonic() + budget)
        elapsed = time.monotonic() - started
        time.sleep(0.6)  # one more sample at the end
        cutoff = time.time()
        exits = {d.name: {"alive_at_end": d.alive()} for d in drivers}
        for d in drivers:
            exits[d.name]["exit_code"] = stop(d)
        sampler.stopped.set()
        sampler.join(5)
        truth = Truth(bundle)
        report = {
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "devnet": {"block_time_s": args.block_time, "epoch_blocks": args.epoch_length, "window_blocks": window,
                       "poll_blocks": poll_blocks, "first_nonce": first, "last_nonce": nonces[-1],
                       "wall_seconds": round(elapsed, 1), "counters": dict(dn.state.counters),
                       "injected": dict(dn._dn.injector.injected)},
            "ours_chain_settings": OURS_CHAIN,
            "ours_heartbeat_seconds": PRODUCTION_HEARTBEAT_S * epoch_seconds / 3600.0,
            "faults": {**schedule.summary(), "applied": applied},
            "drivers": {d.name: {**analyse(d.name, d, dn, schedule, nonces, window, poll_blocks, args.block_time,
                                           epoch_seconds, truth, cutoff), **exits[d.name]} for d in drivers},
            "workdir": str(workdir),
        }
    return report


def targets(report: dict[str, Any], driver: str = "ours") -> list[str]:
    """The reliability targets; returns the ones missed (empty = all met)."""
    r = report["drivers"][driver]
    missed = []
    if r["eligible_missed"]:
        missed.append(f"{r['eligible_missed']} eligible window(s) without an accepted submission")
    if r["duplicates_accepted"] or r["duplicate_payload_txs"]:
        missed.append(f"duplicates: {r['duplicates_accepted']} accepted, {r['duplicate_payload_txs']} txs")
    if r["bad_data_submissions"] or r["unverified_submissions"]:
        missed.append(f"{r['bad_data_submissions']} bad-data, {r['unverified_submissions']} unverified submission(s)")
    if r["rss_mb_peak"] is not None and r["rss_mb_peak"] >= 200:
        missed.append(f"peak RSS {r['rss_mb_peak']:.0f} MB >= 200 MB")
    if r["fds_final"] is not None and r["fds_start"] is not None and r["fds_final"] > r["fds_start"] + 2:
        missed.append(f"fds grew {r['fds_start']} -> {r['fds_final']}")
    if not r.get("alive_at_end"):
        missed.append("the worker was not alive at the end")
    return missed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", type=int, default=50)
    p.add_argument("--profile", default="mild", choices=["none", "mild", "harsh"])
    p.add_argument("--block-time", type=float, default=0.1)
    p.add_argument("--epoch-length", type=int, default=20)
    p.add_argument("--window", type=int, default=None, help="blocks; default 80%% of the epoch")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--driver", default="ours", choices=["ours", "sdk", "both"])
    p.add_argument("--workdir", default=None)
    p.add_argument("--json", default=None, help="write the report here")
    args = p.parse_args(argv)
    report = run(args)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        # The raw logs beside the JSON (gzipped), so every number can be traced to what happened.
        for name in report["drivers"]:
            for raw in sorted((Path(report["workdir"]) / name).glob("*.out")):
                with raw.open("rb") as src, gzip.open(out.with_name(f"{out.stem}.{name}.log.gz"), "wb") as dst:
                    shutil.copyfileobj(src, dst)
    if "ours" in report["drivers"]:
        missed = targets(report)
        print("targets (ours): " + ("all met" if not missed else "MISSED: " + "; ".join(missed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
