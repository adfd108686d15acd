"""gRPC services of the devnet, one module per chain module family."""

from __future__ import annotations

from allora_worker.devnet.faults import FaultInjector
from allora_worker.devnet.services.base import DevnetService
from allora_worker.devnet.services.cosmos import AuthService, BankService, FeemarketService, TendermintService
from allora_worker.devnet.services.emissions import (
    OLD_VERSIONS,
    EmissionsQueryService,
    EmissionsQueryServiceV9,
)
from allora_worker.devnet.services.tx import TxService
from allora_worker.devnet.state import ChainState

SERVICE_TYPES: tuple[type[DevnetService], ...] = (
    TendermintService,
    AuthService,
    BankService,
    TxService,
    FeemarketService,
    EmissionsQueryService,
    EmissionsQueryServiceV9,
    *OLD_VERSIONS,
)


def build_services(state: ChainState, faults: FaultInjector) -> list[DevnetService]:
    return [service_type(state, faults) for service_type in SERVICE_TYPES]


__all__ = ["SERVICE_TYPES", "DevnetService", "build_services"]
