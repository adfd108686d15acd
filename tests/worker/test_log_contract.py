"""The original script's log contract: its operators' grep commands count the right things in a
real daemon log (docs/MIGRATION.md lists them), and `log.ascii` gives the same words in plain ASCII.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from allora_worker.devnet import DevnetThread, TopicConfig
from harness.daemon import DaemonProcess, devnet_config, write_worker_config
from tests.conftest import TEST_ADDRESS

pytestmark = pytest.mark.integration

BLOCK = 0.15
EPOCH = 10
WINDOW = 8


def _topic() -> TopicConfig:
    return TopicConfig(id=67, metadata="7 Day BTC/USD Log-Return Prediction", epoch_length=EPOCH,
                       worker_submission_window=WINDOW)


def sh(command: str, log: Path) -> str:
    """An operator's shell command over the log file (LOG), output stripped."""
    done = subprocess.run(["bash", "-c", command], env={"LOG": str(log), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.strip()


def test_the_old_grep_commands_count_the_right_things(tmp_path: Path, bundle_dir: Path,
                                                       mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [_topic()], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK)
        until = (datetime.now(UTC) + timedelta(seconds=25)).isoformat()
        daemon = DaemonProcess(config, "--until", until, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        assert daemon.wait(60) == 0, daemon.text()[-3000:]
        accepted = [i for i in dn.accepted_inferences(67) if i.worker == TEST_ADDRESS]
    log = tmp_path / "s" / "logs" / "allora-worker.log"  # the rotating file the old script's users grep
    text = log.read_text()
    assert len(accepted) >= 2
    assert sh('grep -c "🚀 DAEMON MODE STARTED" "$LOG"', log) == "1"
    assert sh('grep -c "🛑 DAEMON SHUTDOWN COMPLETE" "$LOG"', log) == "1"
    total = re.search(r"🛑 DAEMON SHUTDOWN COMPLETE: .*Total cycles: (\d+)", text)
    last_cycle = int(sh('grep -o "SUBMISSION CYCLE #[0-9]*" "$LOG" | tail -1 | tr -dc 0-9', log))
    assert total and int(total.group(1)) == last_cycle

    # The commands docs/MIGRATION.md gives, run as written, each with what it must print.
    def heartbeat(out: str) -> bool:
        return out.count("\n") == 0 and "💓 HEARTBEAT: up" in out

    expected = {
        'grep -c "✅ Submission success" "$LOG"': lambda out: out == str(len(accepted)),
        'grep -o "Transaction hash: [0-9A-F]*" "$LOG" | cut -d" " -f3':
            lambda out: sorted(out.split()) == sorted(i.txhash for i in accepted),
        'grep -c "SUBMISSION CYCLE #" "$LOG"': lambda out: int(out) == last_cycle,
        'grep "💓 HEARTBEAT" "$LOG" | tail -1': heartbeat,
        # Said between windows, rate-limited: not once per poll.
        'grep -c "no unfulfilled nonce" "$LOG"': lambda out: 1 <= int(out) <= len(accepted) + 2,
        'grep "⏰ .*end date .* reached. Shutting down." "$LOG"': lambda out: out.count("⏰") == 1,
        'grep "🛑 DAEMON SHUTDOWN COMPLETE" "$LOG"': lambda out: "Total cycles: " in out,
        # A clean run has nothing for the error grep to find.
        'grep -E "❌|ERROR" "$LOG"': lambda out: out == "",
    }
    assert set(migration_greps()) == set(expected), "docs/MIGRATION.md and this test list other commands"
    for command, check in expected.items():
        out = sh(command, log)
        assert check(out), (command, out)


def migration_greps() -> list[str]:
    text = (Path(__file__).parents[2] / "docs" / "MIGRATION.md").read_text(encoding="utf-8")
    block = text.split("```bash\nLOG=", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines()[1:] if line.strip()]


def test_ascii_option_writes_plain_ascii_with_the_same_words(tmp_path: Path, bundle_dir: Path,
                                                            mnemonic_file: Path) -> None:
    with DevnetThread(devnet_config(TEST_ADDRESS, [_topic()], block_time=BLOCK)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=EPOCH * BLOCK,
                                     extra={"log": {"ascii": True}})
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file, output=tmp_path / "o.log")
        try:
            daemon.wait_for_line("Transaction hash: ", timeout=60)
        finally:
            assert daemon.stop() == 0, daemon.text()[-3000:]
    for log in (tmp_path / "o.log", tmp_path / "s" / "logs" / "allora-worker.log"):
        raw = log.read_bytes()
        assert raw.isascii(), [line for line in raw.splitlines() if not line.isascii()][:3]
        text = raw.decode()
        for words in ("DAEMON MODE STARTED", "SUBMISSION CYCLE #1", "[OK] Submission success",
                      "Transaction hash: ", "DAEMON SHUTDOWN COMPLETE"):
            assert words in text, words
