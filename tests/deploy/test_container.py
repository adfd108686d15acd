"""The container image definition: parsed (no container engine runs here), and its HEALTHCHECK run."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.deploy.support import CONTAINERFILE, ROOT, cli_check, containerfile_instructions

VALID = {
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
}
INSTRUCTIONS = containerfile_instructions()


def final_stage() -> list[tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(INSTRUCTIONS) if keyword == "FROM"]
    return INSTRUCTIONS[starts[-1] :]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            for item in shlex.split(rest):
                key, sep, value = item.partition("=")
                assert sep, f"use the ENV key=value form: {item}"
                env[key] = value
    return env


def test_every_instruction_is_valid() -> None:
    assert INSTRUCTIONS, "no instruction parsed"
    for keyword, rest in INSTRUCTIONS:
        assert keyword in VALID, f"unknown instruction {keyword}"
        assert rest, f"{keyword} without arguments"
    first = next(keyword for keyword, _ in INSTRUCTIONS if keyword != "ARG")
    assert first == "FROM"
    for keyword, rest in INSTRUCTIONS:
        if keyword in ("CMD", "ENTRYPOINT", "VOLUME"):
            assert isinstance(json.loads(rest), list), f"{keyword} must use the JSON (exec) form"
        if keyword == "FROM":
            assert ":" in rest.split()[0], "pin the base image tag"


def test_build_context_paths_exist() -> None:
    for keyword, rest in INSTRUCTIONS:
        if keyword == "COPY" and "--from=" not in rest:
            for source in shlex.split(rest)[:-1]:
                assert (ROOT / source).exists(), f"COPY source {source} is not in the repository"


def test_runs_as_a_non_root_user_with_a_state_volume() -> None:
    stage = final_stage()
    users = [rest for keyword, rest in stage if keyword == "USER"]
    assert users, "the final stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), "the worker must not run as root"
    volumes = [v for keyword, rest in stage if keyword == "VOLUME" for v in json.loads(rest)]
    env = env_of(stage)
    assert env["ALLORA_WORKER_STATE_DIR"] in volumes, "the state directory must be the volume"
    # The volume is created before USER with the worker's uid owning it.
    assert any(
        keyword == "RUN" and f"-o {user}" in rest and env["ALLORA_WORKER_STATE_DIR"] in rest for keyword, rest in stage
    )


def test_health_server_listens_on_all_interfaces_only_inside_the_container(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from allora_worker.config import load_settings

    env = env_of(final_stage())
    assert env["ALLORA_WORKER_HEALTH__HOST"] == "0.0.0.0"
    port = env["ALLORA_WORKER_HEALTH__PORT"]
    assert ("EXPOSE", port) in final_stage()
    for key in ("ALLORA_WORKER_HEALTH__HOST", "ALLORA_WORKER_HEALTH__PORT", "ALLORA_WORKER_HEALTH__ALLOW_REMOTE"):
        monkeypatch.setenv(key, env[key])
    settings = load_settings(None, env_file=None)
    assert (settings.health.host, settings.health.port) == ("0.0.0.0", int(port))
    assert settings.health.allow_remote, "0.0.0.0 must be allowed explicitly (health.allow_remote)"
    monkeypatch.delenv("ALLORA_WORKER_HEALTH__HOST")
    assert load_settings(None, env_file=None).health.host == "127.0.0.1", "outside a container: loopback"


def test_the_image_runs_the_daemon() -> None:
    stage = final_stage()
    entrypoint = json.loads(next(rest for keyword, rest in reversed(stage) if keyword == "ENTRYPOINT"))
    cmd = json.loads(next(rest for keyword, rest in reversed(stage) if keyword == "CMD"))
    assert entrypoint == ["allora-worker"]
    assert cmd == ["--config", "/etc/allora-worker/allora-worker.toml", "run"], "the image runs the daemon"
    assert ("STOPSIGNAL", "SIGTERM") in stage
    ok, output = cli_check(cmd)
    assert ok, output


def _healthcheck_command() -> list[str]:
    checks = [rest for keyword, rest in final_stage() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    options, _, command = checks[0].partition(" CMD ")
    for option in shlex.split(options):
        assert option.split("=")[0] in ("--interval", "--timeout", "--start-period", "--retries"), option
    argv = json.loads(command)
    assert argv[0] == "python", "python-based: the image has no curl"
    assert not {"curl", "wget"} & set(" ".join(argv).split())
    return argv


class _Health(BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []  # noqa: RUF012

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok" if type(self).status == 200 else b"stalled")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_follows_healthz(
    health_server: ThreadingHTTPServer, tmp_path: Path, status: int, healthy: bool
) -> None:
    argv = _healthcheck_command()
    _Health.status = status
    _Health.paths = []
    port = health_server.server_address[1]
    env = {"ALLORA_WORKER_HEALTH__PORT": str(port), "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30, cwd=tmp_path)
    assert (result.returncode == 0) is healthy, result.stderr
    assert _Health.paths == ["/healthz"]


def test_healthcheck_fails_when_nothing_listens(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = _healthcheck_command()
    env = {"ALLORA_WORKER_HEALTH__PORT": str(port)}
    result = subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30, cwd=tmp_path)
    assert result.returncode != 0


def test_build_context_excludes_secrets_and_local_state() -> None:
    ignore = (CONTAINERFILE.parent / "Containerfile.dockerignore").read_text().split()
    for pattern in (".git", ".venv", ".env", "*.env", "**/mnemonic*"):
        assert pattern in ignore
