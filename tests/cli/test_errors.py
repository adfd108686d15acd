"""A newcomer's mistakes end with one line saying what to fix, never a traceback."""

from __future__ import annotations

import gzip
import signal
import subprocess
from pathlib import Path

import pytest

from harness.daemon import BINARY, quick_bundle, wait_until
from tests.cli.conftest import assert_clean_failure, invoke

HEADER = "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT\n"


def _csv(tmp_path: Path, body: bytes, name: str = "candles.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(body)
    return path


@pytest.mark.parametrize("command", [["train", "--out", "b"], ["backtest", "--out", "r"]])
def test_a_non_utf8_csv_is_refused_in_words(tmp_path: Path, command: list[str]) -> None:
    bad = _csv(tmp_path, HEADER.encode() + b"1577836800,2020-01-01 00:00:00,BTCUSDT,1,2,0.5,1.5,3\xff,4\n")
    assert_clean_failure(invoke(*command, "--data", str(bad)), 2, "not UTF-8")


def test_data_import_of_a_non_utf8_csv_exits_2(tmp_path: Path) -> None:
    bad = _csv(tmp_path, b"\xff\xfe" + HEADER.encode())
    result = invoke("data", "import", str(bad), "--cache", str(tmp_path / "c.sqlite"))
    assert_clean_failure(result, 2, "not UTF-8")


def test_train_data_directory_says_it_is_a_directory(tmp_path: Path) -> None:
    assert_clean_failure(invoke("train", "--data", str(tmp_path), "--out", "b"), 2, "is a directory")


def test_an_all_bad_csv_says_no_usable_candle_not_until(tmp_path: Path) -> None:
    rows = "".join(f"{1577836800 + 3600 * i},2020-01-01 {i:02d}:00:00,BTCUSDT,-1,-1,-1,-1,1,1\n" for i in range(5))
    bad = _csv(tmp_path, (HEADER + rows).encode())
    result = invoke("train", "--data", str(bad), "--out", "b")
    assert_clean_failure(result, 2, "no usable candle in 5 row(s)")
    assert "--until" not in result.output


def test_train_accepts_the_projects_own_normalized_csv(tmp_path: Path) -> None:
    from importlib.resources import files

    raw = gzip.decompress(files("allora_worker.data").joinpath("btcusd_1h_binance.csv.gz").read_bytes())
    lines = raw.decode().splitlines()
    assert lines[0].startswith("open_time,")  # the normalized shape, not CryptoDataDownload's
    path = _csv(tmp_path, ("\n".join(lines[:2001]) + "\n").encode(), "normalized.csv")
    from allora_worker.market.csv_source import read_cryptodatadownload

    frame, report = read_cryptodatadownload(path)
    assert len(frame) == report.rows_kept == 2000


def test_register_refuses_a_negative_topic_before_the_chain(tmp_path: Path) -> None:
    # No wallet and no chain here: the flag itself must be refused first.
    assert_clean_failure(invoke("register", "--topic", "-5"), 2, "--topic")


def test_evaluate_refuses_from_after_to(tmp_path: Path) -> None:
    result = invoke("evaluate", "--bundle", str(tmp_path), "--data", "bundled:binance",
                    "--from", "2021-01-01", "--to", "2020-01-01")
    assert_clean_failure(result, 2, "is not after --from")


def test_run_without_topics_names_the_config_file(tmp_path: Path, mnemonic_file: Path) -> None:
    result = invoke("run", "--once", env={"MNEMONIC_FILE": str(mnemonic_file)})
    assert_clean_failure(result, 2, "no topics configured", "--config", "./allora-worker.toml")


def test_global_options_after_the_subcommand_work(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    result = invoke("config", "check", "--config", str(missing))
    assert_clean_failure(result, 2, f"config file {missing} does not exist")


def test_flags_do_not_advertise_a_value(tmp_path: Path) -> None:
    help_text = invoke("run", "--help").output
    assert "--dry-run" in help_text
    assert "<bool>" not in help_text


def test_a_dns_failure_is_not_called_a_timeout(tmp_path: Path, mnemonic_file: Path) -> None:
    result = invoke("--network", "devnet", "wallet", "balance", "--grpc", "grpc+http://no-such-host.invalid:9090",
                    env={"MNEMONIC_FILE": str(mnemonic_file)})
    assert_clean_failure(result, 1, "no-such-host.invalid")
    assert "within" not in result.output


def test_backfill_offline_names_the_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The loopback-only sandbox has no route to Binance: exactly the offline case.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # refused at once, even where a route exists
    result = invoke("data", "backfill", "--source", "binance", "--since", "2024-01-01", "--until", "2024-01-02",
                    "--cache", str(tmp_path / "c.sqlite"))
    assert_clean_failure(result, 1, "api.binance.com")


def test_demo_interrupted_says_interrupted(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    quick_bundle(workdir / "models" / "topic67")
    out = tmp_path / "demo.out"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [str(BINARY), "demo", "--windows", "50", "--block-time", "0.25", "--epoch-length", "10",
             "--workdir", str(workdir)],
            stdout=sink, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
        try:
            wait_until(lambda: "Transaction hash" in out.read_text(errors="replace"), 120, "a first submission")
            process.send_signal(signal.SIGINT)
            code = process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
    text = out.read_text(errors="replace")
    assert code == 130, text
    assert "interrupted (SIGINT)" in text and "Traceback" not in text, text
    # The 50 windows asked for did not all open: only those the daemon reached are listed.
    listed = [line for line in text.splitlines() if line.strip().split(" ")[0].isdigit()]
    assert 1 <= len(listed) < 10, text


def test_wallet_address_refuses_mnemonic_and_mnemonic_file_both_set(mnemonic_file: Path) -> None:
    words = " ".join(["abandon"] * 23 + ["art"])
    result = invoke("wallet", "address", env={"MNEMONIC_FILE": str(mnemonic_file), "MNEMONIC": words})
    assert_clean_failure(result, 2, "both MNEMONIC and MNEMONIC_FILE are set")
    assert "abandon" not in result.output


def test_doctor_on_an_unfunded_devnet_wallet_says_how_to_fund_it(devnet_config: Path) -> None:
    from allora_worker.devnet import DevnetConfig, DevnetThread, TopicConfig

    topic = TopicConfig(id=67, metadata="t", epoch_length=10, worker_submission_window=5, ground_truth_lag=10)
    with DevnetThread(DevnetConfig(block_time=0.2, topics=[topic])) as devnet:
        result = invoke("--config", str(devnet_config), "doctor",
                        env={"ALLORA_WORKER_GRPC_ENDPOINTS": f'["{devnet.grpc_url}"]'})
    assert_clean_failure(result, 3, "fund the wallet", "allora-worker devnet --fund", "docs/DEVNET.md")


def test_no_subcommand_reuses_a_global_option_name() -> None:
    # Global options written after a subcommand are moved before it; a subcommand's own option
    # of the same name would silently become the global one.
    import typer.main

    from allora_worker.cli import GLOBAL_OPTIONS, app

    root = typer.main.get_command(app)
    clashes = []

    def walk(command: object, path: str) -> None:
        for param in getattr(command, "params", []):
            for name in set(param.opts) & set(GLOBAL_OPTIONS):
                clashes.append(f"{path} {name}")
        for sub_name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {sub_name}".strip())

    for name, sub in root.commands.items():  # type: ignore[attr-defined]
        walk(sub, name)
    assert not clashes, clashes
    assert invoke("status", "--state-dir", "somewhere", "--json").exit_code == 0
