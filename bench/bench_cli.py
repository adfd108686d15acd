"""CLI startup: wall time and peak RSS of `allora-worker` commands, each run N times (median, spread).

    .venv/bin/python bench/bench_cli.py --runs 7 --json bench/results/cli-startup.json

Every run is a fresh OS process of the installed `allora-worker` script (the user's command), timed
from spawn to exit; its peak RSS is the kernel's `ru_maxrss` for that one child (`os.wait4`), so the
figures are whole-process, interpreter included. `status` and `config check` run on a temporary
state directory holding a small journal and a heartbeat; `doctor` runs against a devnet on loopback
(in this process) with a funded, registered wallet and a ridge bundle trained here, so every
pre-flight check passes, as a healthy install's would.

The first run of each command is a warm-up (page cache, .pyc files) and is not counted. The machine
may be shared: the spread (min-max) says how noisy the figures are; quote medians with it. CPU time
(user + system of the command's process) is printed beside wall time: on a loaded machine wall time
is mostly waiting for a core, and CPU time is the steadier figure of the work the command does.
`--exe` measures another install (e.g. a slim venv's `allora-worker`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The "abandon x23 art" test vector: a devnet-only wallet, never funded anywhere real.
TEST_MNEMONIC = " ".join(["abandon"] * 23 + ["art"])
TOPIC = 67
COMMANDS: dict[str, list[str]] = {
    "--version": ["--version"],
    "--help": ["--help"],
    "status --help": ["status", "--help"],
    "status": ["status"],
    "config check": ["config", "check"],
    "doctor": ["doctor"],
}


# Runs the command and reports its wall time and rusage. It sits between this (large) process and
# the command because Linux carries a process's peak RSS across fork and exec: a child forked from
# here would report this process's peak, not its own. The launcher is small (python -I -S), and
# `ru_maxrss` is a maximum, so its floor only shows for a command smaller than the launcher.
LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(json.dumps({"wall_s": wall, "rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "exit": os.waitstatus_to_exitcode(status)}), file=sys.stderr)
"""


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", LAUNCHER, *argv], env=env, cwd=cwd,
                          capture_output=True, text=True, check=False)
    stderr_lines = proc.stderr.rstrip().splitlines()
    measured = json.loads(stderr_lines[-1])
    measured["stdout_tail"] = proc.stdout[-300:]
    measured["stderr_tail"] = "\n".join(stderr_lines[:-1])[-300:]
    return measured


def summarize(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _toml(value: Any) -> str:
    return json.dumps(value)


def prepare(workdir: Path, grpc_url: str | None, bundle: Path) -> tuple[Path, dict[str, str]]:
    """A config, a state dir with a journal and a heartbeat, and the environment the commands run in."""
    state = workdir / "state"
    state.mkdir(mode=0o700)
    mnemonic_file = workdir / "mnemonic"
    mnemonic_file.write_text(TEST_MNEMONIC + "\n")
    mnemonic_file.chmod(0o600)
    lines = ['network = "devnet"', f"state_dir = {_toml(str(state))}"]
    if grpc_url:
        lines.append(f"grpc_endpoints = [{_toml(grpc_url)}]")
    lines += ["", "[[topics]]", f"id = {TOPIC}", f"bundle = {_toml(str(bundle))}", 'sources = ["replay"]',
              'replay_start = "2020-03-01T00:00:00+00:00"', "replay_speed = 3600.0"]
    config = workdir / "allora-worker.toml"
    config.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ALLORA_WORKER_") and k not in ("MNEMONIC", "TOPIC_ID", "NOTIFY_SOCKET")}
    env["MNEMONIC_FILE"] = str(mnemonic_file)
    _seed_state(state)
    return config, env


def _seed_state(state: Path) -> None:
    """A journal with a few entries and a heartbeat, so `status` has something real to read."""
    from allora_worker.journal import Journal

    with Journal(state / "journal.sqlite") as journal:
        for nonce in range(100, 160, 10):
            journal.claim(TOPIC, nonce)
    (state / "heartbeat.json").write_text(json.dumps({"time": time.time(), "pid": 1, "cycles": 6,
                                                       "stopped": True}))


def train_small_bundle(out: Path) -> Path:
    from allora_worker.market.bundled import load_bundled
    from allora_worker.model.train import train_bundle

    train_bundle(load_bundled("binance"), out, until="2020-01-01T00:00:00Z", validate=False,
                 data_source="bundled:binance")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="Counted runs per command (after one warm-up).")
    parser.add_argument("--exe", default=str(Path(sys.executable).with_name("allora-worker")),
                        help="The allora-worker script to measure (default: this venv's).")
    parser.add_argument("--commands", nargs="*", default=list(COMMANDS), choices=list(COMMANDS))
    parser.add_argument("--bundle", type=Path, help="A trained bundle directory (default: train a ridge one).")
    parser.add_argument("--label", default="", help="A note stored in the JSON (e.g. the commit measured).")
    parser.add_argument("--json", type=Path, help="Write every run and the summary here.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        workdir = Path(tmp)
        bundle = args.bundle or train_small_bundle(workdir / "bundle")
        devnet = None
        grpc_url = None
        if "doctor" in args.commands:
            from allora_worker.chain.wallet import Wallet
            from allora_worker.devnet import DevnetConfig, DevnetThread, TopicConfig

            address = Wallet.from_mnemonic(TEST_MNEMONIC).address
            topic = TopicConfig(id=TOPIC, metadata="bench topic", epoch_length=20, worker_submission_window=16,
                                ground_truth_lag=20)
            devnet = DevnetThread(DevnetConfig(port=0, block_time=1.0, topics=[topic],
                                               accounts={address: 10**21}, registered_workers=[(TOPIC, address)]))
            devnet.start()
            assert devnet.devnet is not None
            grpc_url = devnet.devnet.grpc_url
        try:
            _, env = prepare(workdir, grpc_url, bundle)
            results: dict[str, Any] = {}
            for name in args.commands:
                argv = [args.exe, *COMMANDS[name]]
                run_once(argv, env, workdir)  # warm-up, not counted
                runs = [run_once(argv, env, workdir) for _ in range(args.runs)]
                bad = [r for r in runs if r["exit"] != 0]
                results[name] = {
                    "argv": COMMANDS[name], "runs": runs,
                    "wall_s": summarize([r["wall_s"] for r in runs]),
                    "rss_mb": summarize([r["rss_mb"] for r in runs]),
                    "cpu_s": summarize([r["cpu_s"] for r in runs]),
                    "exit_codes": sorted({r["exit"] for r in runs}),
                }
                w, c, m = (results[name][k] for k in ("wall_s", "cpu_s", "rss_mb"))
                note = f"  EXIT {bad[0]['exit']}: {bad[0]['stderr_tail'].strip()[-160:]}" if bad else ""
                print(f"{name:<14} wall {w['median']:6.3f} s [{w['min']:.3f}-{w['max']:.3f}]  "
                      f"cpu {c['median']:6.3f} s [{c['min']:.3f}-{c['max']:.3f}]  "
                      f"peak RSS {m['median']:6.1f} MB [{m['min']:.1f}-{m['max']:.1f}]{note}", flush=True)
        finally:
            if devnet is not None:
                devnet.stop()

    load = os.getloadavg()
    print(f"({args.runs} runs each after a warm-up; load average {load[0]:.1f} on {os.cpu_count()} CPUs)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "label": args.label, "exe": args.exe, "runs_per_command": args.runs,
            "when": datetime.now(UTC).isoformat(timespec="seconds"), "loadavg": load,
            "cpus": os.cpu_count(), "python": platform.python_version(), "results": results,
        }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
