"""The base install (no extras) runs the daemon: `run` never reaches the training stack, and a
command that needs an extra names it in one line.

The slim venv itself is measured by hand (docs/BENCHMARKS.md: `pip install -e .`, then `--version`,
`config check`, `run --once` against the devnet); these tests pin why it works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from allora_worker.devnet import DevnetThread, TopicConfig
from harness.daemon import devnet_config, write_worker_config
from tests.conftest import TEST_ADDRESS

TRAINING_STACK = {"sklearn", "scipy", "lightgbm", "matplotlib", "onnx", "skl2onnx", "onnxmltools"}
# The CLI's own entry point, with the modules it loaded written out when it exits.
RUN_CLI_RECORDING_MODULES = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: json.dump(sorted(sys.modules), open(out, "w")))
from allora_worker.cli import main
sys.argv[0] = "allora-worker"
main()
"""


def _env(mnemonic_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ALLORA_WORKER_") and k not in ("MNEMONIC", "TOPIC_ID", "NOTIFY_SOCKET")}
    env["MNEMONIC_FILE"] = str(mnemonic_file)
    return env


def test_run_once_submits_without_the_training_stack(tmp_path: Path, bundle_dir: Path, mnemonic_file: Path) -> None:
    # A 19 s window, open before the command starts: `run --once` on a loaded machine has time.
    topic = TopicConfig(id=67, metadata="slim", epoch_length=40, worker_submission_window=38, ground_truth_lag=40)
    with DevnetThread(devnet_config(TEST_ADDRESS, [topic], block_time=0.5)) as dn:
        config = write_worker_config(tmp_path / "w.toml", grpc_url=dn.grpc_url, state_dir=tmp_path / "s",
                                     bundle=bundle_dir, epoch_seconds=20.0)
        dn.wait_for_height(41, timeout=60)
        modules = tmp_path / "modules.json"
        result = subprocess.run([sys.executable, "-c", RUN_CLI_RECORDING_MODULES, str(modules),
                                 "--config", str(config), "run", "--once"],
                                env=_env(mnemonic_file), capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
        assert [i for i in dn.accepted_inferences(67) if i.worker == TEST_ADDRESS]
    loaded = {m.split(".")[0] for m in json.loads(modules.read_text())}
    assert "allora_worker" in loaded
    assert loaded & TRAINING_STACK == set()
    # The replayed candles, their checks, the features and the ridge prediction run on numpy alone:
    # pandas is ~40 MB of the daemon's RSS (docs/BENCHMARKS.md, "Idle RSS").
    assert "pandas" not in loaded


def test_a_command_without_its_extra_says_which_in_one_line(tmp_path: Path) -> None:
    # sklearn made unimportable in this one interpreter (None in sys.modules is how Python spells
    # "not installed"), as on a base install.
    probe = ("import sys; sys.modules['sklearn'] = None; sys.argv = ['allora-worker', 'train', '--no-validate', "
             f"'--out', {str(tmp_path / 'b')!r}]; from allora_worker.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: sklearn is not installed; this needs the [train] extra: "
                      "pip install 'allora-worker[train]'"]
    assert "Traceback" not in result.stderr
