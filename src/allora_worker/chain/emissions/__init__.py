"""Per-emissions-version adapters and the probe that picks one.

A node serves the Msg and Query services of one emissions version at a time: another version's
queries answer UNIMPLEMENTED, its messages fail to decode ("unable to resolve type URL")
(allora-chain app/app.go registers the current x/emissions module only; app/upgrades switch it in
place). `probe` asks the node which version it serves, newest first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from allora_worker.chain.emissions.base import EmissionsAdapter, Payload, UnsupportedTopic
from allora_worker.chain.emissions.v9 import V9
from allora_worker.chain.emissions.v10 import V10

ADAPTERS: dict[int, EmissionsAdapter] = {10: V10(), 9: V9()}
SUPPORTED = tuple(sorted(ADAPTERS, reverse=True))
# Older versions, probed only to name what a node serves (v1-v3 by their own parameters path,
# chain/pb_light.params_path).
KNOWN_OLDER = (8, 7, 6, 5, 4, 3, 2, 1)


class UnsupportedVersion(Exception):
    def __init__(self, found: int | None) -> None:
        self.found = found
        supported = ", ".join(f"v{v}" for v in SUPPORTED)
        if found is None:
            text = (f"the node answers no emissions version from v{SUPPORTED[0]} down to v1 (it supports "
                    f"{supported}): is this an Allora node's gRPC endpoint?")
        else:
            text = (f"the node serves emissions v{found}, which this worker does not support "
                    f"(it supports {supported}); upgrade allora-worker or use a node of a supported network")
        super().__init__(text)


# (version, the generated module's GetParams call) -> answers True when the node serves it.
Probe = Callable[[int], Awaitable[bool]]


async def probe(serves: Probe) -> EmissionsAdapter:
    """The adapter of the version the node serves; UnsupportedVersion naming what it found."""
    for version in SUPPORTED:
        if await serves(version):
            return ADAPTERS[version]
    for version in KNOWN_OLDER:
        if await serves(version):
            raise UnsupportedVersion(version)
    raise UnsupportedVersion(None)


__all__ = ["ADAPTERS", "SUPPORTED", "EmissionsAdapter", "Payload", "UnsupportedTopic", "UnsupportedVersion",
           "probe"]
