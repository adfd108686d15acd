"""Each command imports only what it needs: pinned on the modules a fresh interpreter holds after it.

`--version`, `--help` and `config check` must not load the chain (SDK, gRPC, protobuf), market or
model stacks; `status` reads the journal and the heartbeat without them. Startup time itself is
measured by bench/bench_cli.py (a timed test would flake on a loaded machine); this pins the cause.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Third-party stacks a light command has no use for (each costs 0.1-1.5 s and 10-60 MB to import).
HEAVY_PACKAGES = ("allora_sdk", "cosmpy", "grpclib", "grpc", "betterproto2", "aiohttp", "requests",
                  "websockets", "pandas", "sklearn", "scipy", "lightgbm", "matplotlib")
# Our own code that belongs to other commands.
HEAVY_OURS = ("allora_worker.chain.client", "allora_worker.chain.tx", "allora_worker.market",
              "allora_worker.model", "allora_worker.devnet", "allora_worker.worker.service",
              "allora_worker.worker.cycle", "allora_worker.worker.scheduler")

RUN_AND_LIST = """
import json, sys
out, argv = sys.argv[1], sys.argv[2:]
from allora_worker.cli import app
try:
    app(args=argv, prog_name="allora-worker")
    code = 0
except SystemExit as exc:
    code = exc.code
with open(out, "w") as handle:
    json.dump({"code": code, "modules": sorted(sys.modules)}, handle)
"""


def loaded_after(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    out = cwd / "modules.json"
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("ALLORA_WORKER_") and k not in ("MNEMONIC", "MNEMONIC_FILE", "TOPIC_ID")}
    subprocess.run([sys.executable, "-c", RUN_AND_LIST, str(out), *argv], cwd=cwd, env={**clean, **(env or {})},
                   capture_output=True, check=True, timeout=120)
    result = json.loads(out.read_text())
    return result["code"], result["modules"]


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules
            if m.split(".")[0] in HEAVY_PACKAGES or any(m == o or m.startswith(o + ".") for o in HEAVY_OURS)]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A devnet config with a state dir, a (placeholder) bundle dir and a journal with one entry."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (tmp_path / "bundle").mkdir()
    (tmp_path / "allora-worker.toml").write_text(
        'network = "devnet"\n'
        f'state_dir = "{state}"\n'
        'grpc_endpoints = ["grpc+http://127.0.0.1:1"]\n\n'
        "[[topics]]\nid = 67\n"
        f'bundle = "{tmp_path / "bundle"}"\n'
        'sources = ["replay"]\nreplay_start = "2020-03-01T00:00:00+00:00"\n'
    )
    from allora_worker.journal import Journal

    with Journal(state / "journal.sqlite") as journal:
        journal.claim(67, 100)
    return tmp_path


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["status", "--help"], ["config", "check"],
                                  ["config", "show"], ["status"]])
def test_light_commands_import_no_chain_market_or_model_code(argv: list[str], workdir: Path) -> None:
    mnemonic = workdir / "mnemonic"
    mnemonic.write_text(" ".join(["abandon"] * 23 + ["art"]) + "\n")
    mnemonic.chmod(0o600)
    code, modules = loaded_after(argv, workdir, {"MNEMONIC_FILE": str(mnemonic)})
    assert code == 0, f"{argv} exited {code}"
    found = {m if m.startswith("allora_worker") else m.split(".")[0] for m in heavy(modules)}
    # `config check` verifies the mnemonic's BIP39 checksum, with `mnemonic`, not bip_utils.
    found |= {m.split(".")[0] for m in modules if m.split(".")[0] == "bip_utils"}
    assert not found, f"{argv} imported {sorted(found)}"


@pytest.mark.parametrize("argv", [["--help"], ["status", "--help"], ["journal", "--help"], ["run", "--help"]])
def test_help_screens_load_no_rich_renderer(argv: list[str], workdir: Path) -> None:
    """typer's rich help (rich + markdown-it, ~75 ms of imports) was a third of --help's 0.3 s budget;
    the plain click renderer prints the same options and commands."""
    code, modules = loaded_after(argv, workdir)
    assert code == 0, f"{argv} exited {code}"
    assert {m.split(".")[0] for m in modules} & {"rich", "markdown_it", "pygments"} == set()


def test_the_probe_sees_what_a_command_imports_when_it_runs(workdir: Path) -> None:
    """`data show` imports the candle cache inside the command: the probe must see it there."""
    code, modules = loaded_after(["data", "show", "--cache", str(workdir / "none.sqlite")], workdir)
    assert code == 1  # no cache at that path
    assert "allora_worker.market.cache" in heavy(modules)


def test_the_daemon_loads_no_sdk_stack(tmp_path: Path) -> None:
    """`run` imports the worker service; its protobuf types are chain/pb, not allora_sdk's (whose
    package __init__ loads cosmpy, aiohttp, grpcio, requests and websockets: ~55 MB, ~1 s), and
    its wallet is not bip_utils' (every coin it knows: ~14 MB kept for the daemon's life)."""
    out = tmp_path / "modules.json"
    probe = ("import json, sys; import allora_worker.worker.service; "
             f"json.dump(sorted(sys.modules), open({str(out)!r}, 'w'))")
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=120)
    loaded = {m.split(".")[0] for m in json.loads(out.read_text())}
    assert "allora_worker" in loaded
    assert loaded & {"allora_sdk", "cosmpy", "aiohttp", "grpc", "requests", "websockets", "bip_utils"} == set()
