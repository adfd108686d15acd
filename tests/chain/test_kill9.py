"""kill -9 at every step of a real submitter process, then restart: exactly one inference per nonce.

Each crash point gets its own wallet and state dir, so the four scenarios run side by side against
one devnet (in a thread of this process); the submitter runs as a separate OS process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum

from allora_worker.chain.wallet import Wallet
from allora_worker.devnet.config import DevnetConfig, TopicConfig
from allora_worker.devnet.server import DevnetThread
from allora_worker.journal import CONFIRMED, Journal
from tests.crash_points import CRASH_ENV, CRASH_POINTS

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]

TOPIC = 67
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def wallets(tmp_path: Path) -> dict[str, tuple[Wallet, Path]]:
    out = {}
    for point in CRASH_POINTS:
        phrase = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
        key = tmp_path / f"{point}.mnemonic"
        key.write_text(phrase)
        key.chmod(0o600)
        out[point] = (Wallet.from_mnemonic(phrase), key)
    return out


@pytest.fixture()
def devnet(wallets: dict[str, tuple[Wallet, Path]]) -> Iterator[DevnetThread]:
    config = DevnetConfig(
        block_time=0.1,
        # A window (300 s) that spans a crash and a restart of every scenario even on a loaded
        # machine: at 30 s, eight process starts under load outlived it and the restart took the next.
        topics=[TopicConfig(id=TOPIC, epoch_length=4000, worker_submission_window=3000, ground_truth_lag=4000,
                            epoch_offset=2)],
        accounts={w.address: 10**21 for w, _ in wallets.values()},
        registered_workers=[(TOPIC, w.address) for w, _ in wallets.values()],
    )
    with DevnetThread(config) as dn:
        dn.wait_for_height(3)
        yield dn


def _start(devnet: DevnetThread, key: Path, state: Path, crash_at: str | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MNEMONIC", CRASH_ENV)}
    env["MNEMONIC_FILE"] = str(key)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    if crash_at:
        env[CRASH_ENV] = crash_at
    cmd = [sys.executable, "-m", "tests.chain.submitter", "--state-dir", str(state),
           "--grpc", devnet.grpc_url, "--chain-id", devnet.config.chain_id, "--topic", str(TOPIC),
           # A cap, not a wait: confirmation returns when the tx is in a block. Ten seconds ran out
           # with eight submitter processes starting at once on a loaded machine.
           "--value", "0.0421", "--confirm-timeout", "120"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill9_at_every_step_then_restart(devnet: DevnetThread, wallets: dict[str, tuple[Wallet, Path]],
                                          tmp_path: Path) -> None:
    states = {p: tmp_path / f"state-{p}" for p in CRASH_POINTS}
    crashed = {p: _start(devnet, key, states[p], p) for p, (_, key) in wallets.items()}
    for point, proc in crashed.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == -signal.SIGKILL, f"{point}: rc={proc.returncode} out={out} err={err}"

    # What the journal holds right after each crash (the step before the kill is on disk).
    expected_after_crash = {"claimed": "claimed", "signed": "signed", "broadcast": "signed",
                            "before_confirm": "broadcast"}
    nonces = {}
    for point in CRASH_POINTS:
        with Journal(states[point] / "journal.sqlite") as j:
            [entry] = j.entries(topic_id=TOPIC)
            assert entry.state == expected_after_crash[point], point
            nonces[point] = entry.nonce

    restarted = {p: _start(devnet, key, states[p], None) for p, (_, key) in wallets.items()}
    for point, proc in restarted.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"{point}: rc={proc.returncode} out={out} err={err}"
        report = json.loads(out.strip().splitlines()[-1])
        assert report["outcome"] in ("confirmed", "already_done"), report

    accepted = devnet.accepted_inferences(TOPIC)
    for point, (wallet, _) in wallets.items():
        mine = [a for a in accepted if a.worker == wallet.address]
        # Exactly one accepted inference for the nonce, the one the journal records.
        assert [(a.nonce, a.value) for a in mine] == [(nonces[point], "0.0421")], point
        with Journal(states[point] / "journal.sqlite") as j:
            entry = j.get(TOPIC, nonces[point])
            assert entry is not None and entry.state == CONFIRMED and entry.txhash == mine[0].txhash, point
    # The crash after claim left nothing in flight: the still-open nonce was submitted on restart.
    assert devnet.state.is_nonce_unfulfilled(TOPIC, nonces["claimed"])


def test_second_instance_refuses_while_the_first_runs(devnet: DevnetThread,
                                                      wallets: dict[str, tuple[Wallet, Path]],
                                                      tmp_path: Path) -> None:
    from allora_worker.journal import InstanceLock

    wallet, key = wallets["claimed"]
    state = tmp_path / "state"
    with InstanceLock(state, wallet.address):
        proc = _start(devnet, key, state, None)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert f"pid {os.getpid()}" in json.loads(out.strip().splitlines()[-1])["error"]
    assert devnet.accepted_inferences(TOPIC) == []
