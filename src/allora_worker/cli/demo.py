"""`allora-worker demo`: the whole job, offline, in about a minute.

It starts the local devnet with topic 67 on short epochs, trains the default model on the bundled
real Binance candles up to the replay start (if no demo model exists), registers a fresh
throwaway wallet through a real tx, and runs the same daemon `allora-worker run` runs, with the
bundled real candles replayed as live data (one epoch = one hour of history). It stops after a
few windows and prints what happened to each. No network, no secrets.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum

from allora_worker.chain.wallet import Wallet
from allora_worker.config import HealthSettings, LogSettings, Settings, TopicSettings
from allora_worker.devnet import DevnetConfig, DevnetThread, topic_67
from allora_worker.exitcodes import EXIT_INTERRUPTED
from allora_worker.journal import Journal
from allora_worker.logging_setup import configure_logging, get_logger
from allora_worker.market.bundled import load_bundled
from allora_worker.model.bundle import load_bundle
from allora_worker.model.errors import BundleError
from allora_worker.model.train import train_bundle
from allora_worker.worker.service import RunOptions, WorkerService
from allora_worker.worker.wiring import client_from_settings

log = get_logger("demo")

TOPIC_ID = 67
# The model learns from history before the replay starts, so the demo predicts out of sample.
TRAIN_UNTIL = datetime(2020, 1, 1, tzinfo=UTC)
REPLAY_START = datetime(2020, 3, 1, tzinfo=UTC)


@dataclass
class DemoOptions:
    windows: int = 6
    block_time: float = 0.25
    epoch_length: int = 20
    workdir: Path | None = None
    log_level: str = "INFO"


@dataclass
class DemoReport:
    windows: list[int]
    accepted: dict[int, str]
    tx_hashes: dict[int, str]
    log_file: Path
    journal: Path
    health_url: str | None
    interrupted: str | None = None  # the signal that stopped the demo early, if one did


def run_demo(options: DemoOptions) -> int:
    workdir = (options.workdir or Path("~/.allora-worker/demo")).expanduser()
    run_dir = workdir / "runs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_file = run_dir / "logs" / "allora-worker.log"
    configure_logging(level=options.log_level, log_file=log_file)
    print(f"allora-worker demo: devnet + bundled real BTC candles + model + daemon, {options.windows} windows")
    bundle_dir = workdir / "models" / f"topic{TOPIC_ID}"
    _ensure_model(bundle_dir)

    # A throwaway wallet: its mnemonic lives in this process only and is redacted from every log.
    wallet = Wallet.from_mnemonic(str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24)))
    window = max(2, options.epoch_length // 2)
    config = DevnetConfig(
        block_time=options.block_time,
        topics=[topic_67(epoch_length=options.epoch_length, window=window)],
        accounts={wallet.address: 10**21},
    )
    epoch_seconds = options.epoch_length * options.block_time
    with DevnetThread(config) as devnet:
        print(f"devnet: {devnet.grpc_url}, topic {TOPIC_ID} epoch {options.epoch_length} blocks "
              f"x {options.block_time}s, window {window} blocks")
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            network="devnet",
            grpc_endpoints=[devnet.grpc_url],
            state_dir=run_dir,
            heartbeat_seconds=max(5.0, epoch_seconds * 2),
            topics=[TopicSettings(
                id=TOPIC_ID,
                bundle=bundle_dir,
                sources=["replay"],
                replay_dataset="binance",
                replay_start=REPLAY_START,
                # One epoch of devnet time replays one hour of history.
                replay_speed=3600.0 / epoch_seconds,
                max_data_age_hours=2.0,
            )],
            health=HealthSettings(port=0),
            log=LogSettings.model_validate({"level": options.log_level, "file": log_file}),
        )
        _register(settings, wallet)
        report = _run_daemon(settings, wallet, devnet, options, window)
    return _print_report(report)


def _ensure_model(bundle_dir: Path) -> None:
    try:
        bundle = load_bundle(bundle_dir)
    except BundleError:
        bundle = None
    if bundle is not None:
        print(f"model: {bundle_dir} (hash {bundle.content_hash[:12]})")
        return
    print(f"model: none at {bundle_dir}; training on bundled Binance candles before {TRAIN_UNTIL:%Y-%m-%d} ...")
    started = time.perf_counter()
    candles = load_bundled("binance")
    result = train_bundle(candles, bundle_dir, until=TRAIN_UNTIL, data_source="bundled:binance")
    print(f"model: trained in {time.perf_counter() - started:.1f}s; bundle holds '{result.bundled_kind}'")
    print(f"model: {result.verdict}")


def _register(settings: Settings, wallet: Wallet) -> None:
    async def register() -> None:
        client = client_from_settings(settings, wallet)
        try:
            await client.register(TOPIC_ID)
        finally:
            client.close()

    asyncio.run(register())
    print(f"wallet: {wallet.address} registered in topic {TOPIC_ID} (a real RegisterRequest tx)")


def _run_daemon(settings: Settings, wallet: Wallet, devnet: DevnetThread, options: DemoOptions,
                window: int) -> DemoReport:
    service = WorkerService(settings, RunOptions(), wallet=wallet)
    ready_height: list[int] = []

    def watch() -> None:
        service.ready.wait()
        start = devnet.height
        ready_height.append(start)
        # Stop once `windows` windows that opened after READY have closed.
        last_close = _demo_windows(start, options)[-1] + window
        deadline = time.monotonic() + (last_close - start + 10) * options.block_time * 3 + 30
        while devnet.height <= last_close + 1 and time.monotonic() < deadline:
            time.sleep(options.block_time)
        service.request_stop("demo: windows done")

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    summary = service.run()
    watcher.join(timeout=5)
    start = ready_height[0] if ready_height else 0
    windows = _demo_windows(start, options)
    interrupted = summary.reason if summary.reason in ("SIGINT", "SIGTERM") else None
    if interrupted:
        # Windows after the last one the daemon claimed were never run (the user stopped it
        # first): they are not "missed". The devnet kept making blocks during the shutdown, so
        # its height says nothing about where the daemon stopped; the journal does.
        with Journal(settings.journal_path) as journal:
            claimed = [e.nonce for e in journal.entries(TOPIC_ID)]
        last_run = max(claimed, default=-1)
        windows = [n for n in windows if n <= last_run]
    ours = {i.nonce: i for i in devnet.accepted_inferences(TOPIC_ID) if i.worker == wallet.address}
    return DemoReport(
        windows=windows,
        accepted={n: ours[n].value for n in windows if n in ours},
        tx_hashes={n: ours[n].txhash for n in windows if n in ours},
        log_file=settings.log_file,
        journal=settings.journal_path,
        health_url=summary.health_url,
        interrupted=interrupted,
    )


def _demo_windows(ready_height: int, options: DemoOptions) -> list[int]:
    """The nonces of the first `options.windows` windows that open after the daemon is READY."""
    first = ((ready_height // options.epoch_length) + 1) * options.epoch_length
    return [first + i * options.epoch_length for i in range(options.windows)]


def _print_report(report: DemoReport) -> int:
    print()
    print(f"{'window (nonce)':>15}  {'outcome':<9}  {'value':<24}  tx hash")
    for nonce in report.windows:
        if nonce in report.accepted:
            print(f"{nonce:>15}  {'accepted':<9}  {report.accepted[nonce]:<24}  {report.tx_hashes[nonce]}")
        else:
            print(f"{nonce:>15}  {'missed':<9}  {'-':<24}  -")
    opened, accepted = len(report.windows), len(report.accepted)
    print()
    if report.interrupted:
        print(f"interrupted ({report.interrupted}): {opened} window(s) ran before the stop, "
              f"accepted: {accepted}, missed: {opened - accepted}; the later windows were not run")
    else:
        print(f"windows open: {opened}, accepted: {accepted}, missed: {opened - accepted}")
    print(f"log: {report.log_file}")
    print(f"journal: {report.journal} (allora-worker --state-dir {report.journal.parent} status)")
    if report.interrupted:
        return EXIT_INTERRUPTED
    return 0 if opened and accepted == opened else 1
