"""A journal that is lost, damaged, mixed with another journal's WAL or written for another chain
stops the real daemon at start (exit 3, in words, with what to do), and `status --json` reports it
without a traceback.

One daemon run on the devnet makes a real journal (a confirmed submission); each case damages a
copy of its state directory the way an operator's disk or hands would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from allora_worker.journal import CONFIRMED, Journal
from allora_worker.journal_guard import JournalRefused, marker_path, open_journal
from harness.daemon import BINARY

from .conftest import Rig

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

CHAIN = "allora-devnet-1"
OTHER_WALLET = "allo1r5v5srda7xfth3hn2s26txvrcrntldju4cacqx"


def _zero_bytes(state: Path, _tmp: Path) -> None:
    (state / "journal.sqlite").write_bytes(b"")


def _half(state: Path, _tmp: Path) -> None:
    path = state / "journal.sqlite"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _random_bytes_in_submissions(state: Path, _tmp: Path) -> None:
    path = state / "journal.sqlite"
    with sqlite3.connect(path) as db:
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name='submissions'").fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size + 8)  # past the b-tree page header's first bytes
        handle.write(os.urandom(64))


def _deleted(state: Path, _tmp: Path) -> None:
    (state / "journal.sqlite").unlink()


def _foreign_wal(state: Path, tmp: Path) -> None:
    # Another daemon's journal, still open (its WAL holds its recent transactions).
    other = tmp / "other" / "journal.sqlite"
    other.parent.mkdir(parents=True)
    opened = open_journal(other, chain_id=CHAIN, wallet=OTHER_WALLET)
    for nonce in (20, 40, 60):
        opened.journal.claim(67, nonce)
        opened.journal.mark_missed(67, nonce, reason="another daemon's row")
    shutil.copy(other.with_name("journal.sqlite-wal"), state / "journal.sqlite-wal")
    opened.journal.close()


def _other_chain(state: Path, _tmp: Path) -> None:
    # The journal of this state directory was written for another network.
    with sqlite3.connect(state / "journal.sqlite") as db:
        db.execute("UPDATE journal_identity SET chain_id='allora-testnet-1'")


CASES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "zero_bytes": (_zero_bytes, r"is 0 bytes"),
    "truncated_half": (_half, r"is damaged"),
    "random_bytes_in_submissions": (_random_bytes_in_submissions, r"is damaged"),
    "deleted": (_deleted, r"is gone, but this state directory had one"),
    "foreign_wal": (_foreign_wal, r"does not belong to the journal"),
    "other_chain": (_other_chain, r"belongs to chain 'allora-testnet-1'"),
}


def test_a_lost_damaged_or_foreign_journal_refuses_to_start(make_rig, tmp_path: Path) -> None:
    rig: Rig = make_rig()
    config = rig.config()
    first = rig.start(config)
    rig.wait_accepted_count(1, timeout=60)
    assert first.stop() == 0, first.text()[-3000:]
    entry = next(e for e in rig.journal_entries() if e.state == CONFIRMED)
    assert entry.state == CONFIRMED
    assert marker_path(rig.state_dir / "journal.sqlite").exists()

    failures: list[str] = []
    for name, (damage, words) in CASES.items():
        state = tmp_path / f"state-{name}"
        shutil.copytree(rig.state_dir, state)
        damage(state, tmp_path / name)
        case_config = rig.config(f"{name}.toml", state_dir=state)
        daemon = rig.start(case_config, output=tmp_path / f"{name}.log")
        try:
            code = daemon.wait(timeout=40)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            code = daemon.wait(timeout=10)
            failures.append(f"{name}: the daemon ran on this journal instead of refusing it")
            continue
        text = daemon.text()
        if code != 3 or "journal refused" not in text or not re.search(words, text):
            failures.append(f"{name}: exit {code}\n{text[-1500:]}")
            continue
        if "Traceback" in text:
            failures.append(f"{name}: traceback in the daemon's output")
        if "DAEMON MODE STARTED" in text:
            failures.append(f"{name}: the daemon went READY")
        status = subprocess.run([str(BINARY), "--config", str(case_config), "status", "--json"],
                                capture_output=True, text=True, timeout=60)
        if status.returncode != 0 or "Traceback" in status.stderr + status.stdout:
            failures.append(f"{name}: status --json exit {status.returncode}: {status.stderr[-1500:]}")
            continue
        report = json.loads(status.stdout)
        if name != "other_chain" and not report.get("journal_problem"):
            failures.append(f"{name}: status --json does not report the journal problem: {report}")
    assert not failures, "\n\n".join(failures)
    # The foreign WAL was never replayed over our rows: moved aside, our journal is whole.
    state = tmp_path / "state-foreign_wal"
    (state / "journal.sqlite-wal").rename(state / "journal.sqlite-wal.foreign")
    with Journal(state / "journal.sqlite") as journal:
        assert (entry.nonce, CONFIRMED) in [(e.nonce, e.state) for e in journal.entries()]
        assert not {20, 40, 60} & {e.nonce for e in journal.entries() if e.error == "another daemon's row"}


def test_journal_identity_names_chain_and_wallet(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    opened = open_journal(path, chain_id=CHAIN, wallet=OTHER_WALLET)
    assert opened.fresh and opened.identity.chain_id == CHAIN and opened.identity.wallet == OTHER_WALLET
    opened.journal.close()
    again = open_journal(path, chain_id=CHAIN, wallet=OTHER_WALLET)
    assert not again.fresh and again.identity.journal_id == opened.identity.journal_id
    again.journal.close()
    with pytest.raises(JournalRefused, match="belongs to wallet"):
        open_journal(path, chain_id=CHAIN, wallet="allo1someoneelse")
    with pytest.raises(JournalRefused, match="belongs to chain"):
        open_journal(path, chain_id="allora-mainnet-1", wallet=OTHER_WALLET)
    # Another journal copied over ours (its own marker left behind) is not ours.
    other = tmp_path / "other" / "journal.sqlite"
    other.parent.mkdir()
    open_journal(other, chain_id=CHAIN, wallet=OTHER_WALLET).journal.close()
    shutil.copy(other, path)
    with pytest.raises(JournalRefused, match="replaced by another daemon's journal"):
        open_journal(path, chain_id=CHAIN, wallet=OTHER_WALLET)
