"""Active/standby harness: two real daemons, one wallet, one real PostgreSQL, the devnet.

`Pair` starts daemon A and daemon B with their own state directories and one shared
`state_url`; `NodeRecorder` sees every tx that reaches the devnet's CheckTx (so a second
signature for one account sequence, or a second payload tx for one window, cannot hide);
`TcpProxy` stands between a daemon and PostgreSQL so a test can cut that link.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from allora_worker.devnet import DevnetThread, TopicConfig
from allora_worker.journal_pg import PASSWORD_ENV, PostgresJournal
from harness.chain_recorder import NodeRecorder
from harness.daemon import DaemonProcess, devnet_config, quick_bundle, wait_until, write_worker_config
from harness.postgres import PLANTED_PASSWORD, PgServer
from tests.conftest import TEST_ADDRESS

# Blocks of 0.1 s; a window every 6 s that stays open 4.5 s; a 2 s lease. A dead active costs
# at most the window it died in: the standby holds the lease ~2.5 s after the last renewal.
BLOCK = 0.1
EPOCH = 60
WINDOW = 45
OFFSET = 2
LEASE = 2.0
TOPIC = 67


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return quick_bundle(tmp_path_factory.mktemp("bundle") / "topic67")


class TcpProxy:
    """127.0.0.1:port -> target. `cut()` resets every open connection and refuses new ones (a
    firewall REJECT between one host and the database); `blackhole()` keeps every connection open
    but forwards nothing more, either way, and new ones get nowhere (packets silently dropped
    past this host: the daemon's own TCP sees its data acknowledged, by the proxy's kernel, so
    neither keepalives nor tcp_user_timeout notice; only the daemon's own deadlines can);
    `heal()` lets connections through again."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = False
        self._blackholed = False
        self._held: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="pg-proxy").start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut:
                _reset(client)
                continue
            if self._blackholed:
                with self._lock:
                    self._held.append(client)  # connected, and never answered
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if not self._blackholed:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._cut = True
        with self._lock:
            sockets, self._open = self._open, []
        for s in sockets:
            _reset(s)

    def blackhole(self) -> None:
        self._blackholed = True

    def heal(self) -> None:
        self._cut = False
        self._blackholed = False
        with self._lock:
            held, self._held = self._held, []
        for s in held:
            _reset(s)

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()


def _reset(sock: socket.socket) -> None:
    # SO_LINGER 0: close sends RST, as a rejecting firewall would.
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    except OSError:
        pass


DEPLOYMENT_MD = Path(__file__).resolve().parents[2] / "docs" / "DEPLOYMENT.md"


def who_is_active_commands() -> list[str]:
    """The shell lines under docs/DEPLOYMENT.md's "Who is active?" (run for real by the tests)."""
    text = DEPLOYMENT_MD.read_text(encoding="utf-8")
    block = text[text.index("**Who is active?**"):]
    block = block[block.index("```bash") + len("```bash"):]
    return [line.strip() for line in block[:block.index("```")].splitlines() if line.strip()]


_ACQUIRED = r"LEASE ACQUIRED: this host is ACTIVE .* \(fencing token (\d+)"


@dataclass
class Node:
    name: str
    daemon: DaemonProcess

    def tokens(self) -> list[int]:
        return [int(t) for t in re.findall(_ACQUIRED, self.daemon.text())]

    def wait_active(self, timeout: float = 60.0, count: int = 1) -> int:
        return int(self.daemon.wait_for_line(_ACQUIRED, timeout, count).group(1))


@dataclass
class Pair:
    dn: DevnetThread
    server: PgServer
    dbname: str
    recorder: NodeRecorder
    tmp: Path
    bundle: Path
    mnemonic_file: Path
    nodes: dict[str, Node] = field(default_factory=dict)
    proxies: list[TcpProxy] = field(default_factory=list)

    def start_both(self, *, lease: float = LEASE, port_a: int | None = None) -> tuple[Node, Node]:
        """Daemons a and b at once; returns (active, standby) when one leads and the other waits."""
        nodes = [self.start("a", port=port_a, lease=lease), self.start("b", lease=lease)]

        def settled() -> tuple[Node, Node] | None:
            active = [n for n in nodes if n.tokens()]
            standby = [n for n in nodes if "STANDBY: the wallet's lease is held by" in n.daemon.text()]
            if len(active) == 1 and standby and standby[0] is not active[0]:
                return active[0], standby[0]
            for n in nodes:
                assert n.daemon.process.poll() is None, f"{n.name} exited:\n{n.daemon.text()[-3000:]}"
            return None

        return wait_until(settled, 90, "one active and one standby daemon")

    def start(self, name: str, *, port: int | None = None, lease: float = LEASE,
              command: list[str] | None = None, dbname: str | None = None,
              mnemonic_file: Path | None = None) -> Node:
        state = self.tmp / f"state-{name}"
        config = write_worker_config(
            self.tmp / f"{name}.toml", grpc_url=self.dn.grpc_url, state_dir=state, bundle=self.bundle,
            epoch_seconds=EPOCH * BLOCK,
            extra={"state_url": self.server.url(dbname or self.dbname, port=port), "lease_seconds": lease},
        )
        output = self.tmp / f"{name}.log"
        daemon = DaemonProcess(config, mnemonic_file=mnemonic_file or self.mnemonic_file, output=output,
                               env={PASSWORD_ENV: PLANTED_PASSWORD}, command=command)
        node = Node(name, daemon)
        self.nodes[name] = node
        return node

    def proxy(self) -> TcpProxy:
        proxy = TcpProxy(self.server.port)
        self.proxies.append(proxy)
        return proxy

    def journal(self) -> PostgresJournal:
        return PostgresJournal(self.server.url(self.dbname), fenced=False)

    def accepted(self) -> dict[int, str]:
        """nonce -> txhash of our accepted inferences."""
        return {i.nonce: i.txhash for i in self.dn.accepted_inferences(TOPIC) if i.worker == TEST_ADDRESS}

    def wait_accepted(self, count: int, timeout: float, after: int = -1) -> list[int]:
        return wait_until(lambda: (lambda got: got if len(got) >= count else None)(
            sorted(n for n in self.accepted() if n > after)), timeout, f"{count} accepted windows after {after}")

    def closed_nonces(self, first: int) -> list[int]:
        """Every window from `first` on that has closed by now."""
        height = self.dn.height
        return [n for n in range(first, height, EPOCH) if n + WINDOW < height]

    def check_no_duplicates_and_no_lost_record(self) -> None:
        assert self.recorder.duplicate_payloads() == {}, "a window got two payload txs"
        assert self.recorder.double_signed_sequences() == {}, "an account sequence was signed twice"
        with self.journal() as j:
            for nonce, txhash in self.accepted().items():
                entry = j.get(TOPIC, nonce)
                assert entry is not None and entry.txhash == txhash, (nonce, entry)
            signed = {e.txhash for entry in j.entries() for e in j.events(TOPIC, entry.nonce)
                      if e.to_state == "signed"}
        # Every tx that reached the node was journaled as signed, under a valid lease, first.
        assert self.recorder.hashes() <= signed, self.recorder.hashes() - signed

    def stop_all(self) -> None:
        for node in self.nodes.values():
            node.daemon.stop(timeout=20)


@pytest.fixture()
def pair(postgres_server: PgServer, tmp_path: Path, bundle_dir: Path, mnemonic_file: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    monkeypatch.setenv(PASSWORD_ENV, PLANTED_PASSWORD)  # the test reads the journal too
    topic = TopicConfig(id=TOPIC, metadata="topic 67", epoch_length=EPOCH, worker_submission_window=WINDOW,
                        epoch_offset=OFFSET)
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic], block_time=BLOCK)) as dn:
        recorder = NodeRecorder(dn)
        p = Pair(dn, postgres_server, postgres_server.fresh_database(), recorder, tmp_path, bundle_dir,
                 mnemonic_file)
        try:
            yield p
        finally:
            p.stop_all()
            for proxy in p.proxies:
                proxy.close()
            for node in p.nodes.values():
                assert PLANTED_PASSWORD not in node.daemon.text(), f"{node.name} logged the password"
