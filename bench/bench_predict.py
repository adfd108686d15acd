"""Benchmark: ONNX bundle predict latency, and the daemon's RSS serving an ONNX vs a ridge bundle.

Run: .venv/bin/python bench/bench_predict.py [--repeat 300] [--runs 3] [--windows 4] [--json FILE]

What is measured, with production settings (the bundle and session the daemon builds):
- `LoadedBundle.predict(candles)` on an ONNX bundle: features from 775 candles + one onnxruntime
  run (the live path), and the onnxruntime run alone; target < 5 ms. Median and p5-p95 per run,
  `--runs` runs.
- The daemon's RSS (VmRSS and VmHWM from /proc) after it filled `--windows` windows on the devnet,
  serving (a) an ONNX bundle (a scikit-learn pipeline exported with skl2onnx: onnxruntime loaded)
  and (b) the default ridge bundle. Needs the [train] extra (skl2onnx) to export the model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from allora_worker.candles import Candles
from allora_worker.market.bundled import load_bundled
from allora_worker.model import HISTORY_HOURS, load_bundle, train_bundle
from allora_worker.model.dataset import build_dataset, training_set
from allora_worker.model.onnx_import import import_onnx

# The "abandon x23 art" test vector: a devnet-only wallet, never funded anywhere real.
TEST_MNEMONIC = " ".join(["abandon"] * 23 + ["art"])
FEATURES = ["ret_168h", "ret_24h", "vol_168h", "dist_ma_720h", "ewma_ret_hl168h", "range_24h"]
BLOCK, EPOCH, WINDOW = 0.15, 10, 8


def onnx_bundle(candles: Any, out: Path) -> Path:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    feats, target = build_dataset(candles, 168)
    data = training_set(feats, target, 168)
    cols = [data.features.index(f) for f in FEATURES]
    pipe = make_pipeline(StandardScaler(), Ridge(alpha=10.0)).fit(data.X[:, cols], data.y)
    onx = convert_sklearn(pipe, initial_types=[("features", DoubleTensorType([None, len(FEATURES)]))],
                          target_opset=17)
    path = out.with_suffix(".onnx")
    path.write_bytes(onx.SerializeToString())
    import_onnx(path, FEATURES, out, candles=candles, data_source="bundled:binance")
    return out


def latency(bundle_dir: Path, candles: Any, repeat: int, runs: int) -> dict[str, Any]:
    bundle = load_bundle(bundle_dir)
    frame = Candles.of(candles.iloc[-(HISTORY_HOURS + 48) :])  # what the daemon hands over (numpy)
    row = np.asarray(bundle.manifest["probe"]["features"], dtype="float64").reshape(1, -1)  # the model alone
    bundle.predict(frame)  # warm-up
    out: dict[str, Any] = {"predict_ms": [], "onnx_run_ms": [], "predict_cpu_ms": []}
    for _ in range(runs):
        calls = (("predict_ms", lambda: bundle.predict(frame)), ("onnx_run_ms", lambda: bundle.model.predict(row)))
        for key, call in calls:
            times, cpu = [], []
            for _ in range(repeat):
                t0, c0 = time.perf_counter(), time.thread_time()
                call()
                times.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.thread_time() - c0) * 1e3)
            for name, values in ((key, times), ("predict_cpu_ms", cpu)):
                if name == "predict_cpu_ms" and key != "predict_ms":
                    continue
                ms = np.array(values)
                out[name].append({"median": float(np.median(ms)), "p5": float(np.percentile(ms, 5)),
                                  "p95": float(np.percentile(ms, 95))})
    return out


def daemon_rss(bundle: Path, workdir: Path, windows: int) -> dict[str, float]:
    from allora_worker.chain.wallet import Wallet
    from allora_worker.devnet import DevnetConfig, DevnetThread, TopicConfig

    address = Wallet.from_mnemonic(TEST_MNEMONIC).address
    topic = TopicConfig(id=67, metadata="bench", epoch_length=EPOCH, worker_submission_window=WINDOW)
    workdir.mkdir(parents=True, exist_ok=True)
    mnemonic = workdir / "mnemonic"
    mnemonic.write_text(TEST_MNEMONIC + "\n")
    mnemonic.chmod(0o600)
    with DevnetThread(DevnetConfig(port=0, block_time=BLOCK, topics=[topic], accounts={address: 10**21},
                                   registered_workers=[(67, address)])) as dn:
        config = workdir / "w.toml"
        config.write_text(
            f'network = "devnet"\ngrpc_endpoints = ["{dn.grpc_url}"]\nstate_dir = "{workdir / "state"}"\n'
            f'[[topics]]\nid = 67\nbundle = "{bundle}"\nsources = ["replay"]\nreplay_start = 2020-03-01T00:00:00Z\n'
            f"replay_speed = {3600.0 / (EPOCH * BLOCK)}\n[health]\nport = 0\n"
        )
        env = {**os.environ, "MNEMONIC_FILE": str(mnemonic)}
        exe = Path(sys.executable).parent / "allora-worker"
        with (workdir / "out.log").open("wb") as log:
            proc = subprocess.Popen([str(exe), "--config", str(config), "run"], stdout=log, stderr=subprocess.STDOUT,
                                    env=env, cwd=workdir)
            try:
                deadline = time.monotonic() + 180
                while len(dn.accepted_inferences(67)) < windows:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError((workdir / "out.log").read_text()[-2000:])
                    time.sleep(0.2)
                status = Path(f"/proc/{proc.pid}/status").read_text()
                maps = Path(f"/proc/{proc.pid}/maps").read_text()
            finally:
                proc.terminate()
                proc.wait(30)
    kb = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith("Vm")}
    return {"rss_mb": kb["VmRSS"] / 1024, "hwm_mb": kb["VmHWM"] / 1024,
            "onnxruntime_mapped": float("onnxruntime" in maps)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--windows", type=int, default=4, help="0: latency only, no daemon runs")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    candles = load_bundled("binance")
    result: dict[str, Any] = {"label": args.label, "when": datetime.now(UTC).isoformat(timespec="seconds"),
                              "cpus": os.cpu_count(), "python": platform.python_version()}
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        work = Path(tmp)
        onnx_dir = onnx_bundle(candles, work / "onnx")
        ridge_dir = work / "ridge"
        train_bundle(candles, ridge_dir, validate=False, fallback=False, data_source="bundled:binance")
        result["latency"] = latency(onnx_dir, candles, args.repeat, args.runs)
        # The same live path on the default ridge bundle, in the same conditions, for comparison.
        result["latency_ridge"] = latency(ridge_dir, candles, args.repeat, args.runs)
        for which, key, label in (
            ("latency", "predict_ms", "ONNX predict() on 775 candles (features + onnxruntime), wall"),
            ("latency", "predict_cpu_ms", "ONNX predict(), CPU time of the calling thread"),
            ("latency", "onnx_run_ms", "onnxruntime run alone (one row), wall"),
            ("latency_ridge", "predict_ms", "ridge predict() on 775 candles, wall"),
            ("latency_ridge", "predict_cpu_ms", "ridge predict(), CPU time of the calling thread"),
        ):
            runs = result[which][key]
            medians = ", ".join(f"{r['median']:.3f}" for r in runs)
            print(f"{label}: median {medians} ms over {len(runs)} runs "
                  f"(p5-p95 {min(r['p5'] for r in runs):.3f}-{max(r['p95'] for r in runs):.3f} ms)  [target < 5 ms]")
        result["daemon"] = {}
        for name, bundle in (("onnx", onnx_dir), ("ridge", ridge_dir)) if args.windows > 0 else ():
            rows = [daemon_rss(bundle, work / f"d-{name}-{i}", args.windows) for i in range(args.runs)]
            result["daemon"][name] = rows
            rss = ", ".join(f"{r['rss_mb']:.0f}" for r in rows)
            print(f"daemon RSS serving the {name} bundle after {args.windows} windows: "
                  f"{rss} MB (peak {max(r['hwm_mb'] for r in rows):.0f} MB; "
                  f"onnxruntime mapped: {all(r['onnxruntime_mapped'] for r in rows)})", flush=True)
    load = os.getloadavg()
    result["loadavg"] = load
    print(f"(load average {load[0]:.1f} on {os.cpu_count()} CPUs)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
