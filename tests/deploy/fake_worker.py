"""A stand-in for `allora-worker run` under supervisord: the daemon's signal and exit-code contract only.

It starts a child process (to see that a stop reaches the whole process group), logs to stderr like
the daemon, stops at a "safe point" on SIGTERM and exits 0, and exits with a code written to
`$FAKE_DIR/exit-code` when asked (to see which exit codes supervisord restarts).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

directory = Path(os.environ["FAKE_DIR"])
pid = os.getpid()
stopping = False


def event(name: str) -> None:
    with (directory / "events").open("a") as handle:
        handle.write(f"{name} {pid}\n")


def on_term(signum: int, frame: object) -> None:
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_term)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
(directory / f"child-{pid}").write_text(str(child.pid))
event("start")
print("DAEMON MODE STARTED", file=sys.stderr, flush=True)
exit_file = directory / "exit-code"
while not stopping:
    if exit_file.exists():
        code = int(exit_file.read_text())
        exit_file.unlink()
        event(f"exit-{code}")
        child.kill()
        sys.exit(code)
    time.sleep(0.05)
time.sleep(0.5)  # finish the step in flight
event("graceful")
print("DAEMON SHUTDOWN COMPLETE", file=sys.stderr, flush=True)
sys.exit(0)
