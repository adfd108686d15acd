"""Fault points for the kill -9 tests, installed from outside: production code has no crash hooks.

`install(step)` wraps `ChainClient.submit`'s journal callbacks in this process so that it SIGKILLs
itself at one step of a submission:

- `signed`: the signed tx is on disk (journal `signed`), before broadcast;
- `broadcast`: the node accepted the tx, before the journal says so;
- `before_confirm`: the journal says `broadcast`, before confirmation.

(`claimed`, after the claim is on disk and before signing, is a step of the caller: the submitter
below kills itself there; the daemon tests hold the cycle there and kill it from outside.)

    python -m tests.crash_points STEP --config C run ...   # the real daemon, dying at STEP
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Any

from allora_worker.chain.client import ChainClient

CRASH_ENV = "ALLORA_WORKER_CRASH_AT"
CRASH_POINTS = ("claimed", "signed", "broadcast", "before_confirm")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(step: str) -> None:
    """Make every `ChainClient.submit` in this process SIGKILL it at `step` (one of CRASH_POINTS)."""
    if step not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {step!r}; choose one of {CRASH_POINTS}")
    original = ChainClient.submit

    @functools.wraps(original)
    async def submit(self: ChainClient, *args: Any, on_signed: Any = None, on_broadcast: Any = None,
                     **kwargs: Any) -> Any:
        def signed(s: Any) -> None:
            if on_signed is not None:
                on_signed(s)
            if step == "signed":
                die()

        def broadcast(s: Any) -> None:
            if step == "broadcast":
                die()
            if on_broadcast is not None:
                on_broadcast(s)
            if step == "before_confirm":
                die()

        return await original(self, *args, on_signed=signed, on_broadcast=broadcast, **kwargs)

    ChainClient.submit = submit  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    """`python -m tests.crash_points STEP ARGS...`: `allora-worker ARGS...` that dies at STEP."""
    install(argv[0])
    from allora_worker.cli import main as cli_main

    sys.argv = ["allora-worker", *argv[1:]]
    return cli_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
