"""docs/MODEL.md "Bring your own model": every worked example runs, in order, as written.

The blocks fenced ```bash byom are whole scripts (Python heredocs, servers started and killed),
so they run here end to end in one empty directory, with this venv first on PATH; each must
exit 0. The TOML table is read with the settings model.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from allora_worker.config import TopicSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "MODEL.md"


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## Bring your own model")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def _blocks(fence: str) -> list[str]:
    return re.findall(rf"^```{re.escape(fence)}\n(.*?)^```$", _section(), flags=re.S | re.M)


def test_the_section_has_one_example_per_kind() -> None:
    scripts = _blocks("bash byom")
    joined = "\n".join(scripts)
    for needle in ("bundle import-onnx", "bundle convert-legacy", "--predict-url", "--predictor"):
        assert needle in joined, needle
    assert len(scripts) == 5 and len(_blocks("toml")) == 1


def test_the_toml_example_is_a_valid_topic() -> None:
    (table,) = tomllib.loads(_blocks("toml")[0])["topics"]
    topic = TopicSettings(**table)
    assert topic.predict_url == "http://127.0.0.1:8000/inference/BTC" and not topic.uses_candles


@pytest.mark.slow
def test_every_worked_example_runs(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    for number, script in enumerate(_blocks("bash byom"), 1):
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"example {number} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert not list((tmp_path / "models" / "converted").glob("*.pkl"))
    assert (tmp_path / "models" / "my-onnx" / "model.onnx").is_file()
    assert (tmp_path / "models" / "lgbm" / "model.onnx").is_file()
