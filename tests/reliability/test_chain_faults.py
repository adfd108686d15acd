"""The daemon keeps submitting through chain-side faults, and never submits twice.

Each test runs the real daemon against a devnet with 3 s epochs (30 blocks of 0.1 s, a 25-block
window) and flips one fault at a window's opening height, then checks the chain: which windows got
our inference, and that no nonce ever got a second payload tx.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from allora_worker.journal import MISSED

from .conftest import Rig

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

EPOCH, WINDOW = 30, 25


def _rig(make_rig, **kw) -> Rig:  # type: ignore[no-untyped-def]
    return make_rig(epoch=EPOCH, window=WINDOW, epoch_offset=25, **kw)


def _running(rig: Rig, **config_kw):  # type: ignore[no-untyped-def]
    daemon = rig.start(rig.config(extra={"chain": {"confirm_timeout_seconds": 0.5}}, **config_kw))
    daemon.wait_for_line("DAEMON MODE STARTED")
    first = rig.next_nonce()
    rig.wait_accepted(first, timeout=20)
    return daemon, first


def _missed_or_absent(rig: Rig, nonce: int) -> None:
    assert nonce not in rig.accepted_nonces()
    states = {e.nonce: e.state for e in rig.journal_entries()}
    assert states.get(nonce, MISSED) == MISSED, states


def test_rpc_outage_shorter_and_longer_than_a_window(make_rig) -> None:
    rig = _rig(make_rig)
    daemon, n1 = _running(rig)
    # Shorter: every call fails for the first 8 blocks of the window; the rest is enough.
    n2 = n1 + EPOCH
    rig.dn.faults.unavailable_blocks = [(n2 - 1, n2 + 8)]
    rig.wait_accepted(n2, timeout=15)
    # Longer than a window: from before n3 opens until after it closed, into the next window.
    n3 = n2 + EPOCH
    rig.dn.faults.unavailable_blocks = [(n3 - 2, n3 + EPOCH + 5)]
    n4, n5 = n3 + EPOCH, n3 + 2 * EPOCH
    rig.wait_accepted(n4, timeout=20)
    rig.wait_accepted(n5, timeout=15)
    assert daemon.process.poll() is None
    assert daemon.stop() == 0
    _missed_or_absent(rig, n3)
    assert {n1, n2, n4, n5} <= rig.accepted_nonces()
    rig.assert_no_duplicates()
    assert "chain unreachable" in daemon.text() or "Unavailable" in daemon.text()


class _Proxy:
    """A loopback TCP proxy to the devnet that can turn into a black hole (bytes in, nothing out)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.blackhole = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []

    def start(self) -> _Proxy:
        self.thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self.loop).result(5)
        self.server = server
        self.port = int(server.sockets[0].getsockname()[1])
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if self.blackhole:
            await reader.read(-1)
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers.append(up_writer)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if not self.blackhole:
                    dst.write(data)
                    await dst.drain()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer), return_exceptions=True)

    def stop(self) -> None:
        async def close() -> None:
            for w in self._writers:
                w.close()
            self.server.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def proxy_factory() -> Iterator:  # type: ignore[type-arg]
    made: list[_Proxy] = []

    def make(port: int) -> _Proxy:
        made.append(_Proxy(port).start())
        return made[-1]

    yield make
    for p in made:
        p.stop()


def test_blackholed_first_endpoint_fails_over_to_the_second(make_rig, proxy_factory) -> None:
    rig = _rig(make_rig)
    proxy = proxy_factory(rig.dn.port)
    daemon, n1 = _running(rig, grpc_url=[f"grpc+http://127.0.0.1:{proxy.port}", rig.dn.grpc_url])
    # The first endpoint stops answering mid-run: requests are read and never answered.
    proxy.blackhole = True
    following = [n1 + k * EPOCH for k in range(1, 4)]
    for n in following:
        rig.wait_accepted(n, timeout=20)
    assert daemon.stop() == 0
    rig.assert_no_duplicates()


def test_sequence_bumped_by_an_outside_tx(make_rig) -> None:
    rig = _rig(make_rig)
    daemon, n1 = _running(rig)
    from tests.conftest import TEST_ADDRESS

    for k in range(1, 4):
        n = n1 + k * EPOCH
        rig.wait_height(n - 1)
        rig.dn.bump_sequence(TEST_ADDRESS, k)  # another process with the same key sent k txs
        rig.wait_accepted(n, timeout=15)
    assert daemon.stop() == 0
    rig.assert_no_duplicates()


def test_mempool_full_for_part_of_a_window_and_for_a_whole_window(make_rig) -> None:
    rig = _rig(make_rig)
    daemon, n1 = _running(rig)
    n2, n3, n4 = n1 + EPOCH, n1 + 2 * EPOCH, n1 + 3 * EPOCH
    rig.wait_height(n2 - 1)
    rig.dn.faults.mempool_full = True
    rig.wait_height(n2 + 8)
    rig.dn.faults.mempool_full = False
    rig.wait_accepted(n2, timeout=15)
    rig.wait_height(n3 - 1)
    rig.dn.faults.mempool_full = True
    rig.wait_height(n3 + WINDOW + 1)
    rig.dn.faults.mempool_full = False
    rig.wait_accepted(n4, timeout=15)
    assert daemon.stop() == 0
    _missed_or_absent(rig, n3)
    assert rig.dn.state.counters["txs_rejected"] > 0  # the full mempool did turn txs away
    rig.assert_no_duplicates()


def test_tx_that_is_never_included(make_rig) -> None:
    rig = _rig(make_rig)
    daemon, n1 = _running(rig)
    n2, n3, n4 = n1 + EPOCH, n1 + 2 * EPOCH, n1 + 3 * EPOCH
    # One tx passes CheckTx and silently vanishes: the same signed bytes are re-sent, and land.
    rig.wait_height(n2 - 1)
    rig.dn.faults.drop_txs = 1
    rig.wait_accepted(n2, timeout=15)
    assert rig.dn.state.counters["txs_dropped"] >= 1
    # Every tx vanishes for a whole window: nothing lands, nothing is double-sent, the daemon lives.
    rig.wait_height(n3 - 1)
    rig.dn.faults.drop_txs = -1
    rig.wait_height(n3 + WINDOW + 1)
    rig.dn.faults.drop_txs = 0
    rig.wait_accepted(n4, timeout=15)
    assert daemon.stop() == 0
    _missed_or_absent(rig, n3)
    rig.assert_no_duplicates()


def test_dropped_tx_is_resent_within_the_window_when_confirm_timeout_is_long(make_rig) -> None:
    rig = _rig(make_rig)
    # Confirmation may take as long as a window (as 60 s may on a chain with 5 s blocks).
    daemon = rig.start(rig.config(extra={"chain": {"confirm_timeout_seconds": WINDOW * 0.1 + 0.5}}))
    daemon.wait_for_line("DAEMON MODE STARTED")
    first = rig.next_nonce()
    rig.wait_accepted(first, timeout=20)
    n2 = first + EPOCH
    rig.wait_height(n2 - 1)
    rig.dn.faults.drop_txs = 1  # one tx vanishes from the mempool; the node is fine otherwise
    rig.wait_height(n2 + WINDOW + 1)
    assert daemon.stop() == 0
    rig.assert_no_duplicates()
    assert rig.dn.state.counters["txs_dropped"] == 1
    assert n2 in rig.accepted_nonces(), "the window was lost to one dropped tx"


def test_a_chain_unreachable_at_start_is_waited_for_not_exited_on(make_rig) -> None:
    """A host that boots before its network (or whose only node restarts) must not exit 3 at
    pre-flight: systemd does not restart on 3, so the worker would stay down for good."""
    rig = _rig(make_rig)
    rig.dn.faults.unavailable_for(3600)  # every call fails UNAVAILABLE until the test lifts it
    daemon = rig.start(rig.config())
    daemon.wait_for_line(r"pre-flight: no endpoint answers .* asking again", timeout=60)
    daemon.wait_for_line(r"pre-flight: no endpoint answers .* asking again", timeout=60, count=2)
    assert daemon.process.poll() is None, daemon.text()[-2000:]
    assert not rig.accepted_nonces()
    rig.dn.faults.unavailable_until = None  # the network is up
    daemon.wait_for_line("DAEMON MODE STARTED", timeout=90)
    assert "pre-flight: the chain answers again" in daemon.text()
    first = rig.next_nonce()
    rig.wait_accepted(first, timeout=30)
    assert daemon.stop() == 0, daemon.text()[-3000:]
    rig.assert_no_duplicates()
