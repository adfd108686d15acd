"""Every `allora-worker` command in README.md and docs/ runs, for real, with the exit code the doc implies.

One world serves every command: a devnet on loopback (funding the test wallet), temporary
directories standing for the paths the docs use, and the devnet example config
(`deploy/allora-worker.devnet.toml`) wherever a doc names a config file. What the test changes
in a documented command, and why:

- `/etc/allora-worker`, `/var/lib/allora-worker`, `/var/log/allora-worker` and `~` become
  temporary directories; `--network testnet` becomes `--network devnet` (the only chain here);
  a devnet's `--port` becomes 0 (a free port: the machine is shared).
- The environment names the test devnet's endpoint and one state directory for every command,
  and health port 0.
- `run` without `--once` is the daemon: it must reach `DAEMON MODE STARTED`, then SIGTERM must
  stop it with exit 0. `run --once` exits 0 (submitted) or 4 (nothing submitted), as documented.
  `devnet` must print READY, then stop on Ctrl-C with exit 0. `demo` must exit 0. These and
  `backtest` run as processes beside the others from the start (they need nothing the others make).
- `data backfill` needs the internet, which this machine does not have: it must exit 1 naming
  the host it could not reach (what the docs say it does offline).
Everything else runs in-process and must exit 0.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.daemon import BINARY, quick_bundle
from tests.conftest import TEST_ADDRESS, TEST_MNEMONIC
from tests.deploy.support import (
    ALL_DOCS,
    DEPLOY,
    EXAMPLE_TOML,
    ROOT,
    cli_check,
    inline_commands,
    invocations,
    invocations_with_env,
    shell_lines,
)

DEVNET_TOML = DEPLOY / "allora-worker.devnet.toml"
DAEMON_READY = "DAEMON MODE STARTED"


def _documented_commands() -> list[tuple[str, dict[str, str], list[str]]]:
    found: dict[tuple[str, str], tuple[str, dict[str, str], list[str]]] = {}
    for doc in ALL_DOCS:
        text = doc.read_text(encoding="utf-8")
        for line in [*shell_lines(text), *inline_commands(text)]:
            for env, args in invocations_with_env(line):
                key = (doc.name, json.dumps([sorted(env.items()), args]))
                found.setdefault(key, (doc.name, env, args))
    return list(found.values())  # in the docs' order: README first, then docs/ by name


COMMANDS = _documented_commands()
IDS = [f"{doc}: {' '.join(f'{k}={v}' for k, v in env.items())} {shlex.join(args)}".replace("  ", " ")
       for doc, env, args in COMMANDS]


def command_words(args: list[str]) -> list[str]:
    """The subcommand path of an argument list (global options and their values skipped)."""
    words: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--config", "-c", "--network", "--state-dir", "--log-level"):
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    return words[:2]


@dataclass
class World:
    root: Path
    grpc_url: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def work(self) -> Path:  # the checkout a newcomer works in
        return self.root / "work"

    def rewrite(self, token: str) -> str:
        for prefix, target in (
            ("/etc/allora-worker", self.root / "etc"),
            ("/var/lib/allora-worker", self.root / "state"),
            ("/var/log/allora-worker", self.root / "logs"),
            ("~/", self.root / "home"),
        ):
            if token == prefix or token.startswith(prefix + "/") or (prefix == "~/" and token.startswith(prefix)):
                return str(target) + token[len(prefix.rstrip("/")):]
        return token

    def prepare(self, env: dict[str, str], args: list[str]) -> tuple[dict[str, str], list[str]]:
        args = [self.rewrite(a) for a in args]
        for index, arg in enumerate(args[:-1]):
            if arg == "--network" and args[index + 1] == "testnet":
                args[index + 1] = "devnet"
        if command_words(args)[:1] == ["devnet"]:
            if "--port" in args:
                args[args.index("--port") + 1] = "0"
            else:
                args += ["--port", "0"]
        return {**self.env, **{k: self.rewrite(v) for k, v in env.items()}}, args


@dataclass
class Outcome:
    code: int | None
    output: str
    expected: str

    @property
    def ok(self) -> bool:
        return self.expected == "ok"


def _subprocess_env(env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("ALLORA_WORKER_") and k not in ("MNEMONIC", "MNEMONIC_FILE", "TOPIC_ID",
                                                                "TIINGO_API_KEY", "NOTIFY_SOCKET")}
    return {**base, **env, "PYTHONUNBUFFERED": "1"}


def _start(world: World, env: dict[str, str], args: list[str], out: Path) -> tuple[subprocess.Popen[bytes], Path]:
    sink = out.open("wb")
    process = subprocess.Popen([str(BINARY), *args], stdout=sink, stderr=subprocess.STDOUT,
                               env=_subprocess_env(env), cwd=world.work)
    sink.close()
    return process, out


def _wait_for(process: subprocess.Popen[bytes], out: Path, needle: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in out.read_text(errors="replace"):
            return True
        if process.poll() is not None:
            return needle in out.read_text(errors="replace")
        time.sleep(0.1)
    return False


def _finish(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        return None


def run_documented(world: World, env: dict[str, str], args: list[str], n: int) -> Outcome:
    words = command_words(args)
    out = world.root / "out" / f"{n}.txt"
    if words == ["data", "backfill"]:
        result = _in_process(world, env, args)
        host_named = "api.binance.com" in result.output or "api.tiingo.com" in result.output
        verdict = "ok" if result.exit_code == 1 and host_named else "offline backfill must exit 1 naming the host"
        return Outcome(result.exit_code, result.output, verdict)
    if words[:1] == ["run"] and "--once" in args:
        process, out = _start(world, env, args, out)
        code = _finish(process, 120)
        return Outcome(code, out.read_text(errors="replace"),
                       "ok" if code in (0, 4) else "run --once must exit 0 or 4")
    if words[:1] == ["run"]:
        process, out = _start(world, env, args, out)
        ready = _wait_for(process, out, DAEMON_READY, 120)
        process.send_signal(signal.SIGTERM)
        code = _finish(process, 60)
        verdict = "ok" if ready and code == 0 else f"the daemon must reach {DAEMON_READY} and exit 0 on SIGTERM"
        return Outcome(code, out.read_text(errors="replace"), verdict)
    result = _in_process(world, env, args)
    tb = "Traceback" in result.output or (result.exception is not None and not isinstance(result.exception,
                                                                                          SystemExit))
    verdict = "ok" if result.exit_code == 0 and not tb else "must exit 0"
    output = result.output + (f"\n{type(result.exception).__name__}: {result.exception}" if tb else "")
    return Outcome(result.exit_code, output, verdict)


def _in_process(world: World, env: dict[str, str], args: list[str]):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from allora_worker import secrets
    from allora_worker.cli import app

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(world.work)
        # Each command is a process of its own in real use: it starts with no secrets known.
        mp.setattr(secrets, "REGISTRY", secrets.SecretRegistry())
        for name in list(os.environ):
            if name.startswith("ALLORA_WORKER_") or name in ("MNEMONIC", "MNEMONIC_FILE", "TIINGO_API_KEY"):
                mp.delenv(name)
        return CliRunner().invoke(app, args, env=env)


def _build_world(root: Path, grpc_url: str) -> World:
    world = World(root, grpc_url)
    for name in ("etc", "state", "logs", "home", "out", "work/deploy"):
        (root / name).mkdir(parents=True, exist_ok=True)
    mnemonic = root / "etc" / "mnemonic"
    mnemonic.write_text(TEST_MNEMONIC + "\n")
    mnemonic.chmod(0o600)
    # The checkout: the devnet example where the docs cp/name a config, its bundle beside it.
    shutil.copy(DEVNET_TOML, world.work / "deploy" / DEVNET_TOML.name)
    shutil.copy(DEVNET_TOML, world.work / "allora-worker.toml")
    (world.work / "allora-worker.toml").write_text(
        DEVNET_TOML.read_text().replace('bundle = "../models/topic67"', 'bundle = "models/topic67"'))
    (root / "etc" / "allora-worker.toml").write_text(
        DEVNET_TOML.read_text().replace('bundle = "../models/topic67"', f'bundle = "{root}/state/models/topic67"'))
    for target in (world.work / "models" / "topic67", root / "state" / "models" / "topic67",
                   root / "home" / ".allora-worker" / "demo" / "models" / "topic67"):
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copytree(_shared_bundle(root), target)
    world.env = {
        "HOME": str(root / "home"),
        "MNEMONIC_FILE": str(mnemonic),
        "TIINGO_API_KEY": "REPLACE_WITH_YOUR_TIINGO_API_KEY",
        "ALLORA_WORKER_GRPC_ENDPOINTS": json.dumps([grpc_url]),
        "ALLORA_WORKER_STATE_DIR": str(root / "state"),
        "ALLORA_WORKER_HEALTH__PORT": "0",
    }
    return world


def _shared_bundle(root: Path) -> Path:
    return quick_bundle(root / "bundle" / "topic67")


# Commands that need nothing the others make and mostly wait (blocks, a port): they run as
# processes beside the sequence, so the docs test takes about as long as its daemon runs.
BESIDE = (["demo"], ["devnet"], ["backtest"])


def _beside(world: World, env: dict[str, str], args: list[str], n: int) -> Callable[[], Outcome]:
    """Start a BESIDE command now; the returned function waits for its outcome."""
    process, out = _start(world, env, args, world.root / "out" / f"{n}.txt")
    if command_words(args)[:1] != ["devnet"]:
        return lambda: _outcome(process, out, _finish(process, 300), "must exit 0", {0})
    ready = threading.Event()

    def stop_when_ready() -> None:
        if _wait_for(process, out, "READY", 90):
            ready.set()
        process.send_signal(signal.SIGINT)

    watcher = threading.Thread(target=stop_when_ready, daemon=True)
    watcher.start()

    def finish() -> Outcome:
        watcher.join(120)
        code = _finish(process, 60)
        return _outcome(process, out, code if ready.is_set() else None,
                        "devnet must print READY and exit 0 on Ctrl-C", {0})

    return finish


def _outcome(process: subprocess.Popen[bytes], out: Path, code: int | None, wanted: str,
             codes: set[int]) -> Outcome:
    return Outcome(code, out.read_text(errors="replace"), "ok" if code in codes else wanted)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Outcome]]:
    from allora_worker.devnet import DevnetConfig, DevnetThread, TopicConfig

    root = tmp_path_factory.mktemp("docs")
    topic = TopicConfig(id=67, metadata="docs", epoch_length=10, worker_submission_window=6, ground_truth_lag=10)
    config = DevnetConfig(block_time=0.2, topics=[topic], accounts={TEST_ADDRESS: 10**21})
    with DevnetThread(config) as devnet:
        world = _build_world(root, devnet.grpc_url)
        prepared = [world.prepare(env, args) for _, env, args in COMMANDS]
        keys = [json.dumps([sorted(env.items()), args]) for env, args in prepared]
        waiting: dict[str, Callable[[], Outcome]] = {}
        for n, (env, args) in enumerate(prepared):
            if command_words(args)[:1] in BESIDE and keys[n] not in waiting:
                waiting[keys[n]] = _beside(world, env, args, n)
        by_key: dict[str, Outcome] = {}
        for n, (env, args) in enumerate(prepared):
            if keys[n] not in by_key and keys[n] not in waiting:
                by_key[keys[n]] = run_documented(world, env, args, n)
        for key, finish in waiting.items():
            by_key[key] = finish()
        yield {n: by_key[key] for n, key in enumerate(keys)}


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=IDS)
def test_documented_command_runs(index: int, outcomes: dict[int, Outcome]) -> None:
    doc, _, args = COMMANDS[index]
    outcome = outcomes[index]
    assert outcome.ok, (f"{doc}: `allora-worker {shlex.join(args)}`: {outcome.expected}, "
                        f"got exit {outcome.code}:\n{outcome.output[-3000:]}")


def test_the_docs_are_read_and_hold_the_essential_commands() -> None:
    # Guards the extractor itself: a parser that found nothing would make the test above vacuous.
    joined = {shlex.join(args) for _, _, args in COMMANDS}
    for essential in ("run", "status", "doctor", "config check", "wallet balance", "run --dry-run --once",
                      "demo", "config example"):
        assert any(command == essential or command.endswith(" " + essential) for command in joined), essential
    docs = {doc for doc, _, _ in COMMANDS}
    for name in ("README.md", "QUICK_START.md", "DEPLOYMENT.md", "OPERATIONS.md", "DEVNET.md"):
        assert name in docs


def test_the_production_example_passes_config_check(tmp_path: Path, mnemonic_file: Path) -> None:
    # The docs' commands run on the devnet example; the production one is checked here, its
    # absolute paths moved under tmp_path.
    state = tmp_path / "var-lib"
    quick = _shared_bundle(tmp_path)
    shutil.copytree(quick, state / "models" / "topic67")
    config = tmp_path / "allora-worker.toml"
    config.write_text(EXAMPLE_TOML.read_text().replace("/var/lib/allora-worker", str(state)))
    env = {"MNEMONIC_FILE": str(mnemonic_file), "TIINGO_API_KEY": "x"}
    world = World(tmp_path, "")
    (tmp_path / "work").mkdir()
    result = _in_process(world, env, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output


def test_the_checker_rejects_unknown_commands_and_flags() -> None:
    assert cli_check(["config", "check"])[0]
    assert not cli_check(["config", "chekc"])[0]
    assert not cli_check(["config", "check", "--no-such-flag"])[0]
    assert not cli_check(["config"])[0], "a bare group is not a command"


def test_the_extractor_understands_the_wrappers_used_in_the_docs() -> None:
    line = "sudo -u allora-worker X=1 /opt/allora-worker/venv/bin/allora-worker status --json"
    assert invocations(line) == [["status", "--json"]]
    assert invocations_with_env(line) == [({"X": "1"}, ["status", "--json"])]
    assert invocations("podman exec -it allora-worker allora-worker status") == [["status"]]
    assert invocations("podman run --rm -v a:/b allora-worker:latest config check") == [["config", "check"]]
    assert invocations("systemctl status allora-worker && allora-worker doctor") == [["doctor"]]
    assert invocations("allora-worker config example > allora-worker.toml") == [["config", "example"]]
    assert invocations("journalctl -u allora-worker -f") == []


def test_the_rewrite_maps_every_documented_path() -> None:
    world = World(Path("/t"), "")
    assert world.rewrite("/etc/allora-worker/allora-worker.toml") == "/t/etc/allora-worker.toml"
    assert world.rewrite("/var/lib/allora-worker") == "/t/state"
    assert world.rewrite("~/.allora-mnemonic") == "/t/home/.allora-mnemonic"
    assert world.rewrite("/etc/allora-workerX") == "/etc/allora-workerX"
    assert world.prepare({}, ["devnet", "--port", "9090"])[1] == ["devnet", "--port", "0"]
    assert world.prepare({}, ["--network", "testnet", "wallet", "address"])[1][1] == "devnet"


def test_the_files_quick_start_creates_in_the_checkout_are_ignored_by_git() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for name in ("mnemonic.txt", "allora-worker.toml", "models/topic67/manifest.json", "reports/backtest/report.md"):
        done = subprocess.run([git, "check-ignore", "-q", name], cwd=ROOT)
        assert done.returncode == 0, f"{name} (created by docs/QUICK_START.md) is not in .gitignore"
