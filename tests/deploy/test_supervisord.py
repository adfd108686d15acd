"""The supervisord program, run by a real supervisord: start, restart after kill -9, graceful stop.

The shipped `[program:allora-worker]` section is used as it is, except for the keys that name
this machine's paths or users (command, directory, user, environment, stdout_logfile) and
`startsecs` (shortened so the test does not wait 20 s per start). The first tests supervise a
stand-in with the daemon's signal and exit-code contract; the last one supervises the real
`allora-worker run` against a devnet (it needs the daemon).
"""

from __future__ import annotations

import configparser
import contextlib
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from supervisor.xmlrpc import SupervisorTransport

from harness.daemon import wait_until as wait_for
from tests.conftest import TEST_ADDRESS, TEST_MNEMONIC
from tests.deploy.support import SUPERVISOR_CONF, cli_check

PROGRAM = "allora-worker"
LOCAL_KEYS = ("command", "directory", "user", "environment", "stdout_logfile", "startsecs")
FAKE_WORKER = Path(__file__).with_name("fake_worker.py")
BINARY = Path(sys.executable).parent / "allora-worker"


def shipped_program() -> dict[str, str]:
    parser = configparser.RawConfigParser()
    assert parser.read(SUPERVISOR_CONF, encoding="utf-8")
    assert parser.sections() == [f"program:{PROGRAM}"]
    return dict(parser[f"program:{PROGRAM}"])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    with contextlib.suppress(FileNotFoundError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


@dataclass
class Supervisor:
    directory: Path
    program: dict[str, str]
    proxy: Any
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> Path:
        return Path(self.program["stdout_logfile"])

    def info(self) -> dict[str, Any]:
        return self.proxy.supervisor.getProcessInfo(PROGRAM)

    def wait_state(self, state: str, timeout: float = 30.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            info = self.info()
            if info["statename"] == "FATAL" and state != "FATAL":
                tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
                raise AssertionError(f"supervisord gave up on the program (FATAL); its output:\n{tail}")
            return info if info["statename"] == state else None

        return wait_for(reached, timeout, f"state {state}")

    def supervisord_log(self) -> str:
        return (self.directory / "supervisord.log").read_text(errors="replace")


@contextlib.contextmanager
def run_supervisord(program: dict[str, str]) -> Iterator[Supervisor]:
    # A short directory: unix socket paths are limited to ~100 bytes.
    directory = Path(tempfile.mkdtemp(prefix="aw-sv-", dir="/tmp"))
    lines = [
        "[unix_http_server]",
        f"file={directory}/supervisor.sock",
        "chmod=0700",
        "[supervisord]",
        f"logfile={directory}/supervisord.log",
        f"pidfile={directory}/supervisord.pid",
        f"childlogdir={directory}",
        "nodaemon=true",
        "loglevel=info",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{directory}/supervisor.sock",
        f"[program:{PROGRAM}]",
        *(f"{key}={value}" for key, value in program.items()),
    ]
    conf = directory / "supervisord.conf"
    conf.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def connect() -> Any:
        transport = SupervisorTransport(None, None, f"unix://{directory}/supervisor.sock")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"supervisord exited {process.returncode}: {conf.read_text()}")
        try:  # a fresh connection each try: a failed request leaves the transport unusable
            return connect().supervisor.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    proxy = connect()

    supervisor = Supervisor(directory, program, proxy, process)
    try:
        wait_for(up, 30, "supervisord")
        yield supervisor
    finally:
        program_pid = 0
        with contextlib.suppress(Exception):
            program_pid = connect().supervisor.getProcessInfo(PROGRAM)["pid"]
        with contextlib.suppress(Exception):
            connect().supervisor.shutdown()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # Never leave the supervised program behind, even when supervisord itself had to be killed.
        if program_pid and pid_alive(program_pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(program_pid, signal.SIGKILL)
        # Outside pytest's tmp_path (socket path length), so nobody else cleans it up.
        shutil.rmtree(directory, ignore_errors=True)


def program_for(command: str, directory: Path, environment: dict[str, str]) -> dict[str, str]:
    program = shipped_program()
    program.pop("user")  # the test runs as whoever runs it; the shipped value is checked below
    program.update(
        command=command,
        directory=str(directory),
        environment=",".join(f'{key}="{value}"' for key, value in environment.items()),
        stdout_logfile=str(directory / "worker.log"),
        startsecs="1",
    )
    return program


# -- the shipped config --------------------------------------------------------------------------


def test_shipped_program_settings() -> None:
    program = shipped_program()
    assert program["autostart"] == "true"
    assert program["autorestart"] == "unexpected"
    # Clean stop (0), bad config (2), failed pre-flight (3) are expected: no restart loop on them.
    assert set(program["exitcodes"].split(",")) == {"0", "2", "3"}
    assert 3 <= int(program["startretries"]) <= 10
    assert int(program["startsecs"]) >= 10
    assert program["stopsignal"] == "TERM"
    assert int(program["stopwaitsecs"]) > 10, "longer than the daemon's 10 s safe stop"
    assert program["stopasgroup"] == program["killasgroup"] == "true"
    assert program["redirect_stderr"] == "true"
    assert program["stdout_logfile_maxbytes"] == "50MB"
    assert int(program["stdout_logfile_backups"]) >= 3
    assert program["user"] == "allora-worker"
    assert set(program) - set(LOCAL_KEYS), "the test must keep some shipped keys"
    for secret in ("MNEMONIC=", "TIINGO_API_KEY=", 'MNEMONIC="', 'TIINGO_API_KEY="'):
        assert secret not in program["environment"]


def test_shipped_command_runs_the_daemon_with_flags_the_cli_accepts() -> None:
    argv = shlex.split(shipped_program()["command"])
    assert argv[0] == "/opt/allora-worker/venv/bin/allora-worker"
    assert argv[1:] == ["--config", "/etc/allora-worker/allora-worker.toml", "run"], "the program runs the daemon"
    ok, output = cli_check(argv[1:])
    assert ok, output


def test_shipped_environment_names_are_real_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from allora_worker.config import load_settings

    environment = dict(item.split("=", 1) for item in shlex.split(shipped_program()["environment"].replace(",", " ")))
    assert environment["ALLORA_WORKER_STATE_DIR"] == "/var/lib/allora-worker"
    monkeypatch.setenv("ALLORA_WORKER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ALLORA_WORKER_LOG__FILE", str(tmp_path / "logs" / "allora-worker.log"))
    settings = load_settings(None, env_file=None)
    assert settings.state_dir == tmp_path / "state"
    assert settings.log_file == tmp_path / "logs" / "allora-worker.log"


# -- supervising the stand-in --------------------------------------------------------------------


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[Supervisor, Path]]:
    program = program_for(f"{sys.executable} {FAKE_WORKER}", tmp_path, {"FAKE_DIR": str(tmp_path)})
    children: list[int] = []
    with run_supervisord(program) as supervisor:
        yield supervisor, tmp_path
        children = [int(p.read_text()) for p in tmp_path.glob("child-*")]
    for pid in children:  # the orphan of a kill -9, if any
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def events(directory: Path) -> list[str]:
    path = directory / "events"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def test_autostart_and_kill_9_is_followed_by_a_restart(fake: tuple[Supervisor, Path]) -> None:
    supervisor, directory = fake
    first = supervisor.wait_state("RUNNING")["pid"]
    os.kill(first, signal.SIGKILL)
    second = wait_for(
        lambda: (i := supervisor.info())["statename"] == "RUNNING" and i["pid"] != first and i["pid"],
        30,
        "restart",
    )
    assert second != first
    assert [e.split()[0] for e in events(directory)] == ["start", "start"]
    assert "DAEMON MODE STARTED" in supervisor.log.read_text(), "stderr must reach the rotated log file"


def test_stop_is_graceful_and_reaches_the_whole_process_group(fake: tuple[Supervisor, Path]) -> None:
    supervisor, directory = fake
    pid = supervisor.wait_state("RUNNING")["pid"]
    child = int(
        wait_for(lambda: (directory / f"child-{pid}").exists(), 10, "child")
        and (directory / f"child-{pid}").read_text()
    )
    started = time.monotonic()
    assert supervisor.proxy.supervisor.stopProcess(PROGRAM, True)
    elapsed = time.monotonic() - started
    info = supervisor.info()
    assert info["statename"] == "STOPPED"
    assert f"graceful {pid}" in events(directory), "SIGTERM must let the worker finish its step"
    assert elapsed < int(supervisor.program["stopwaitsecs"]), "stopped by SIGTERM, not by the SIGKILL timeout"
    assert f"stopped: {PROGRAM} (exit status 0)" in supervisor.supervisord_log()
    assert "DAEMON SHUTDOWN COMPLETE" in supervisor.log.read_text()
    wait_for(lambda: not pid_alive(child), 10, "the child to be stopped with its group (stopasgroup)")


@pytest.mark.parametrize("code", [2, 3, 0])
def test_config_and_preflight_failures_are_not_restarted(fake: tuple[Supervisor, Path], code: int) -> None:
    supervisor, directory = fake
    supervisor.wait_state("RUNNING")
    (directory / "exit-code").write_text(str(code))
    info = supervisor.wait_state("EXITED")
    assert info["exitstatus"] == code
    time.sleep(3)
    assert supervisor.info()["statename"] == "EXITED", "an expected exit code must not restart"
    assert [e.split()[0] for e in events(directory)] == ["start", f"exit-{code}"]


def test_an_unexpected_exit_is_restarted(fake: tuple[Supervisor, Path]) -> None:
    supervisor, directory = fake
    first = supervisor.wait_state("RUNNING")["pid"]
    (directory / "exit-code").write_text("1")
    wait_for(
        lambda: (i := supervisor.info())["statename"] == "RUNNING" and i["pid"] != first,
        30,
        "restart after exit 1",
    )
    assert [e.split()[0] for e in events(directory)] == ["start", "exit-1", "start"]


# -- supervising the real daemon against a devnet ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _confirmed(journal: Path) -> list[tuple[int, int, str]]:
    if not journal.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)) as db:
            return db.execute(
                "SELECT topic_id, nonce, txhash FROM submissions WHERE state = 'confirmed' ORDER BY nonce"
            ).fetchall()
    except sqlite3.OperationalError:
        return []


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_supervised_worker_against_devnet_restarts_after_kill_9_without_duplicate(tmp_path: Path) -> None:
    """The real daemon under the shipped supervisord program: it starts, submits, is killed with
    SIGKILL, is restarted, submits again without ever submitting a nonce twice, and stops gracefully."""
    from allora_worker.devnet.config import topic_67
    from allora_worker.devnet.server import DevnetThread
    from harness.daemon import devnet_config, quick_bundle, write_worker_config

    assert BINARY.is_file(), f"{BINARY} missing: pip install -e ."
    mnemonic = tmp_path / "mnemonic"
    mnemonic.write_text(TEST_MNEMONIC + "\n")
    mnemonic.chmod(0o600)
    bundle = quick_bundle(tmp_path / "models" / "topic67")
    state = tmp_path / "state"
    journal = state / "journal.sqlite"
    block_time, epoch = 0.2, 12

    config = devnet_config(TEST_ADDRESS, [topic_67(epoch_length=epoch, window=10)], block_time=block_time)
    with DevnetThread(config) as devnet:
        toml = write_worker_config(
            tmp_path / "allora-worker.toml",
            grpc_url=devnet.grpc_url,
            state_dir=state,
            bundle=bundle,
            epoch_seconds=epoch * block_time,
            health_port=_free_port(),
        )
        program = program_for(
            f"{BINARY} --config {toml} run",
            tmp_path,
            {"MNEMONIC_FILE": str(mnemonic), "ALLORA_WORKER_STATE_DIR": str(state), "PYTHONUNBUFFERED": "1"},
        )
        with run_supervisord(program) as supervisor:

            def alive() -> bool:
                # Fail at once, with the worker's output, when the worker is no longer running.
                info = supervisor.info()
                if info["statename"] not in ("RUNNING", "STARTING", "BACKOFF"):
                    tail = supervisor.log.read_text(errors="replace")[-4000:]
                    raise AssertionError(f"the worker is {info['statename']} ({info['exitstatus']}):\n{tail}")
                return True

            first = supervisor.wait_state("RUNNING", timeout=120)["pid"]
            wait_for(lambda: alive() and len(_confirmed(journal)) >= 1, 180, "a first accepted submission", 0.5)

            os.kill(first, signal.SIGKILL)
            wait_for(
                lambda: (i := supervisor.info())["statename"] == "RUNNING" and i["pid"] != first,
                120,
                "supervisord to restart the worker",
            )
            before = len(_confirmed(journal))
            wait_for(lambda: alive() and len(_confirmed(journal)) > before, 180, "a submission after restart", 0.5)

            assert supervisor.proxy.supervisor.stopProcess(PROGRAM, True)
            assert supervisor.info()["statename"] == "STOPPED"
            assert f"stopped: {PROGRAM} (exit status 0)" in supervisor.supervisord_log(), "the stop must be graceful"

        log = supervisor.log.read_text(errors="replace")
        assert log.count("DAEMON MODE STARTED") == 2, "started, then restarted once"
        assert "DAEMON SHUTDOWN COMPLETE" in log
        assert TEST_MNEMONIC not in log

        # No duplicate: the chain holds at most one inference of ours per nonce, and the journal
        # agrees with the chain on every confirmed one.
        ours = [a for a in devnet.accepted_inferences(67) if a.worker == TEST_ADDRESS]
        nonces = [a.nonce for a in ours]
        assert len(nonces) == len(set(nonces)), f"a nonce was submitted twice: {sorted(nonces)}"
        on_chain = {(a.topic_id, a.nonce): a.txhash.upper() for a in ours}
        confirmed = _confirmed(journal)
        assert len(confirmed) >= 2
        for topic_id, nonce, txhash in confirmed:
            assert on_chain.get((topic_id, nonce)) == (txhash or "").upper(), (topic_id, nonce)
        with contextlib.closing(sqlite3.connect(journal)) as db:
            doubles = db.execute(
                "SELECT topic_id, nonce, COUNT(*) FROM events WHERE to_state = 'confirmed' "
                "GROUP BY topic_id, nonce HAVING COUNT(*) > 1"
            ).fetchall()
        assert not doubles, doubles
