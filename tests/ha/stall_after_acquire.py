"""The real daemon whose first reconcile after it takes the lease stalls past the lease, from outside.

`python -m tests.ha.stall_after_acquire SECONDS --config C run ...` runs `allora-worker` with
`allora_worker.worker.service.reconcile` wrapped (production code has no such hook): the first
call blocks the whole process for SECONDS (a CPU-starved host, or one paused by the hypervisor),
then keeps talking to the chain as long again, as a reconcile of in-flight txs does, before the
real reconcile runs. With SECONDS longer than `lease_seconds`, the lease is gone by the time the
topic loops would start: the daemon must notice, stand down, and take the lease back.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from typing import Any

from allora_worker.worker import service


def install(stall_s: float) -> None:
    original = service.reconcile
    stalled = False

    @functools.wraps(original)
    async def reconcile(*args: Any, **kwargs: Any) -> Any:
        nonlocal stalled
        if not stalled:
            stalled = True
            time.sleep(stall_s)  # the event loop is frozen: no renewal can happen
            await asyncio.sleep(stall_s)  # then the chain round trips of a reconcile
        return await original(*args, **kwargs)

    service.reconcile = reconcile  # type: ignore[assignment]


def main(argv: list[str]) -> int:
    install(float(argv[0]))
    from allora_worker.cli import main as cli_main

    sys.argv = ["allora-worker", *argv[1:]]
    return cli_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
