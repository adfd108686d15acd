"""The test inference server (inference_server.py) as a real process on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("inference_server.py")


class InferenceServer:
    def __init__(self, directory: Path, mode: str = "seq") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.mode_file = directory / "mode"
        self.log_file = directory / "served.jsonl"
        self.mode_file.write_text(mode)
        self.log_file.touch()
        self.process = subprocess.Popen([sys.executable, str(SCRIPT), str(self.mode_file), str(self.log_file)],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until it listens (or dies: empty line)
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"inference server did not start: {line!r}")
        self.port = int(line.split()[-1])
        self.url = f"http://127.0.0.1:{self.port}/inference/BTC"
        self.health_url = f"http://127.0.0.1:{self.port}/health"

    def set_mode(self, mode: str) -> None:
        self.mode_file.write_text(mode)

    def served(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
