"""Two real daemons on one wallet and one PostgreSQL journal: failover without a duplicate.

Every case ends with the same checks (`Pair.check_no_duplicates_and_no_lost_record`): no window
got two payload txs, no account sequence was signed twice, every accepted inference is in the
journal, and every tx that reached the node was journaled as signed under a held lease first.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from allora_worker.journal_pg import PASSWORD_ENV
from harness.daemon import BINARY, wait_until
from harness.postgres import PLANTED_PASSWORD
from tests.conftest import TEST_ADDRESS
from tests.ha.conftest import EPOCH, LEASE, Node, Pair, who_is_active_commands

HANDOVER_LEASE = 4.0

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]


def _readyz(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _run_documented_who_is_active(pair: Pair, node: Node, role: str) -> None:
    """docs/DEPLOYMENT.md's three commands, on this node's config, health port and database."""
    status, curl, psql = who_is_active_commands()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLORA_WORKER_")}
    env.update({"MNEMONIC_FILE": str(pair.mnemonic_file), PASSWORD_ENV: PLANTED_PASSWORD,
                "PGPASSWORD": PLANTED_PASSWORD})
    args = shlex.split(status)
    assert args[0] == "allora-worker" and args[1] == "--config"
    args[0], args[2] = str(BINARY), str(pair.tmp / f"{node.name}.toml")
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"this host: {role}" in out.stdout and "lease: held by" in out.stdout, out.stdout
    assert PLANTED_PASSWORD not in out.stdout + out.stderr
    port = node.daemon.health_url().rsplit(":", 1)[1]
    out = subprocess.run(shlex.split(curl.replace("8000", port)), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and json.loads(out.stdout)["role"] == role, out.stdout
    url = pair.server.url(pair.dbname)
    psql_args = shlex.split(psql.replace("postgresql://allora@db.internal:5432/allora_worker", url))
    psql_args[0] = str(pair.server.bindir / "psql")
    out = subprocess.run(psql_args, env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and TEST_ADDRESS in out.stdout, out.stdout + out.stderr


def _lost(pair: Pair, first: int, last: int) -> list[int]:
    accepted = pair.accepted()
    return [n for n in range(first, last + 1, EPOCH) if n not in accepted]


def test_kill9_of_the_active_the_standby_submits_from_the_next_window(pair: Pair) -> None:
    a, b = pair.start_both()
    # Who is who, as an operator asks: /readyz on each host, and docs/DEPLOYMENT.md's commands.
    code_a, body_a = _readyz(a.daemon.health_url())
    code_b, body_b = _readyz(b.daemon.health_url())
    assert (code_a, body_a["role"]) == (200, "active") and (code_b, body_b["role"]) == (503, "standby")
    _run_documented_who_is_active(pair, a, "active")
    _run_documented_who_is_active(pair, b, "standby")

    first = pair.wait_accepted(1, 60)[0]
    os.kill(a.daemon.pid, signal.SIGKILL)
    killed_at_height = pair.dn.height
    a.daemon.wait(10)
    token_b = b.wait_active(timeout=30)
    assert token_b > a.tokens()[-1]
    # The standby fills the windows after the one the failure happened in.
    after = pair.wait_accepted(2, 60, after=killed_at_height)
    lost = _lost(pair, first, after[-1])
    assert len(lost) <= 1 and all(n <= killed_at_height < n + EPOCH for n in lost), lost
    assert _readyz(b.daemon.health_url())[1]["role"] == "active"
    pair.check_no_duplicates_and_no_lost_record()


def test_sigstop_past_the_lease_then_sigcont_stands_down_without_signing(pair: Pair) -> None:
    a, b = pair.start_both()
    token_a = a.tokens()[-1]
    pair.wait_accepted(1, 60)
    os.kill(a.daemon.pid, signal.SIGSTOP)
    try:
        token_b = b.wait_active(timeout=30)
        pair.wait_accepted(1, 60, after=pair.dn.height)  # B is submitting
    finally:
        os.kill(a.daemon.pid, signal.SIGCONT)
    resumed = time.time()
    a.daemon.wait_for_line(rf"LEASE LOST: token {token_a}\b", 30)
    a.daemon.wait_for_line(r"STANDBY: the wallet's lease is held by", 30)
    assert token_b > token_a
    pair.wait_accepted(1, 60, after=pair.dn.height)  # B goes on
    with pair.journal() as j:
        late = [e for entry in j.entries() for e in j.events(67, entry.nonce)
                if e.fence_token == token_a and e.at > resumed]
    assert late == [], f"the paused leader wrote after it woke up: {late}"
    pair.check_no_duplicates_and_no_lost_record()


@pytest.mark.parametrize("how", ["reset", "silent_drop"])
def test_cutting_the_active_from_postgres_stops_its_signing_within_the_lease(pair: Pair, how: str) -> None:
    proxy = pair.proxy()
    a = pair.start("a", port=proxy.port)  # A alone first: it is the one behind the proxy
    token_a = a.wait_active()
    b = pair.start("b")
    first = pair.wait_accepted(1, 60)[0]
    b.daemon.wait_for_line(r"STANDBY:", 60)
    cut_at, cut_height = time.time(), pair.dn.height
    proxy.cut() if how == "reset" else proxy.blackhole()
    a.daemon.wait_for_line(rf"LEASE LOST: token {token_a}\b", 30)
    if how == "silent_drop":
        # Said by A itself, on its own clock, not learned from a database it cannot hear: no call
        # to PostgreSQL waits past the lease (it used to take ~10 s, blocked on unanswered reads,
        # with /readyz saying 'active' meanwhile).
        assert time.time() - cut_at < LEASE + 5, "the leader waited on a database that does not answer"
        assert _readyz(a.daemon.health_url())[1]["role"] == "standby"
    token_b = b.wait_active(timeout=30)
    assert token_b > token_a
    after = pair.wait_accepted(2, 60, after=cut_height)
    with pair.journal() as j:
        by_a = [e for entry in j.entries() for e in j.events(67, entry.nonce)
                if e.fence_token == token_a and e.to_state == "signed"]
    assert all(e.at < cut_at + LEASE for e in by_a), by_a
    lost = _lost(pair, first, after[-1])
    assert len(lost) <= 1 and all(n <= cut_height < n + EPOCH for n in lost), lost
    proxy.heal()  # A comes back as standby, and stays so
    a.daemon.wait_for_line(r"STANDBY: the wallet's lease is held by", 30)
    pair.check_no_duplicates_and_no_lost_record()


def test_postgres_restarted_mid_run_no_lost_record_no_duplicate(pair: Pair) -> None:
    a, b = pair.start_both()
    token_a = a.tokens()[-1]
    pair.wait_accepted(1, 60)
    pair.server.stop("fast")
    # The active's lease runs out while the database is away: it stands down, says so once, and
    # stops writing (its performance tracker too: a standby records nothing).
    lost = a.daemon.wait_for_line(rf"LEASE LOST: token {token_a}\b", 30)
    a.daemon.wait_for_line(r"STANDBY: the wallet's lease is", 30)
    pair.server.start()
    # Someone leads again and windows are filled again.
    pair.wait_accepted(2, 60, after=pair.dn.height)
    # The old leader can lead again: whoever holds the lease now hands it over, and the other
    # one takes it (the old leader used to stay stuck, neither standby nor active, for good).
    leader = wait_until(lambda: next((n for n in (a, b) if len(n.tokens()) > (n is a)), None), 30,
                        "a leader after the restart")
    other = b if leader is a else a
    taken = len(other.tokens())
    leader.daemon.signal(signal.SIGTERM)
    assert leader.daemon.wait(20) == 0
    other.wait_active(timeout=30, count=taken + 1)
    assert other.tokens()[-1] > token_a
    pair.wait_accepted(1, 60, after=pair.dn.height)
    after_loss = a.daemon.text()[lost.end():]
    assert "FencedOut" not in after_loss and "performance tracking failed" not in after_loss, after_loss[-3000:]
    assert after_loss.count("LEASE LOST") == 0, "one loss, said once"
    pair.check_no_duplicates_and_no_lost_record()


def test_a_lease_that_ran_out_before_the_loops_began_sends_the_leader_back_to_standby(pair: Pair) -> None:
    # The first reconcile after taking the lease stalls the process past the lease (a starved or
    # paused host). The loss is seen before the topic loops start; it used to be signalled on an
    # event the loops never saw, so they ran on without a lease: every write FencedOut, no
    # LEASE LOST, no STANDBY, the lease never taken back.
    stall = LEASE + 1
    a = pair.start("a", command=[sys.executable, "-m", "tests.ha.stall_after_acquire", str(stall)])
    token = a.wait_active()
    a.daemon.wait_for_line(rf"LEASE LOST: token {token}\b", 30)
    assert a.wait_active(timeout=30, count=2) > token
    pair.wait_accepted(2, 60, after=pair.dn.height)
    text = a.daemon.text()
    assert "FencedOut" not in text and "is no longer held" not in text, text[-3000:]
    pair.check_no_duplicates_and_no_lost_record()


def test_sigterm_hands_over_at_once_and_loses_no_window(pair: Pair) -> None:
    # The longest lease the window allows (4 s < 4.5 s). The proof that B came in on A's release,
    # not on its expiry, is on the database's clock: B took the lease before the expiry A's last
    # renewal had set (a watcher reads the lease row every 50 ms until B holds it).
    a, b = pair.start_both(lease=HANDOVER_LEASE)
    token_a = a.tokens()[-1]
    first = pair.wait_accepted(1, 60)[0]
    expiries: list[float] = []
    done = threading.Event()

    def watch() -> None:
        with psycopg.connect(pair.server.url(pair.dbname), password=PLANTED_PASSWORD) as conn:
            while not done.is_set():
                row = conn.execute("SELECT token, EXTRACT(EPOCH FROM expires_at)::float8,"
                                   " EXTRACT(EPOCH FROM acquired_at)::float8 FROM leases").fetchone()
                if row[0] == token_a:
                    expiries.append(row[1])
                elif row[0] > token_a:
                    taken_at.append(row[2])
                    return
                time.sleep(0.05)

    taken_at: list[float] = []
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    wait_until(lambda: len(set(expiries)) >= 2, 30, "the watcher to see A renew its lease")
    a.daemon.signal(signal.SIGTERM)
    assert a.daemon.wait(20) == 0
    a.daemon.wait_for_line(r"LEASE RELEASED", 1)
    b.wait_active(timeout=30)
    watcher.join(10)
    done.set()
    assert taken_at and expiries, (taken_at, expiries)
    # A's release set its expiry to the moment of release; the latest expiry before it is the one
    # its renewals kept pushing ahead. B holding the lease before that moment is only possible
    # because A handed it over.
    renewed_expiry = max(expiries)
    assert taken_at[0] < renewed_expiry, (taken_at[0], renewed_expiry)
    after = pair.wait_accepted(3, 60, after=first)
    assert _lost(pair, first, after[-1]) == []
    pair.check_no_duplicates_and_no_lost_record()
