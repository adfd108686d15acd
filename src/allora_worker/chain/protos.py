"""The one place the worker's chain code gets its protobuf types from.

Today they come from the official `allora-sdk` wheel's generated modules. Every chain module of the
worker (client, tx, the per-version emissions adapters) imports them from here, so where the types
come from can change in this file alone.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from allora_sdk.rpc_client.protos.cosmos.auth.v1beta1 import QueryAccountInfoRequest
from allora_sdk.rpc_client.protos.cosmos.auth.v1beta1 import QueryStub as AuthStub
from allora_sdk.rpc_client.protos.cosmos.bank.v1beta1 import QueryBalanceRequest
from allora_sdk.rpc_client.protos.cosmos.bank.v1beta1 import QueryStub as BankStub
from allora_sdk.rpc_client.protos.cosmos.base.abci.v1beta1 import TxResponse
from allora_sdk.rpc_client.protos.cosmos.base.tendermint.v1beta1 import (
    GetLatestBlockRequest,
    GetNodeInfoRequest,
)
from allora_sdk.rpc_client.protos.cosmos.base.tendermint.v1beta1 import ServiceStub as TendermintStub
from allora_sdk.rpc_client.protos.cosmos.base.v1beta1 import Coin
from allora_sdk.rpc_client.protos.cosmos.crypto.secp256k1 import PubKey
from allora_sdk.rpc_client.protos.cosmos.tx.signing.v1beta1 import SignMode
from allora_sdk.rpc_client.protos.cosmos.tx.v1beta1 import (
    AuthInfo,
    BroadcastMode,
    BroadcastTxRequest,
    Fee,
    GetTxRequest,
    ModeInfo,
    ModeInfoSingle,
    SignDoc,
    SignerInfo,
    SimulateRequest,
    TxBody,
    TxRaw,
)
from allora_sdk.rpc_client.protos.cosmos.tx.v1beta1 import ServiceStub as TxStub
from allora_sdk.rpc_client.protos.emissions import v3 as emissions_v3
from allora_sdk.rpc_client.protos.emissions import v9 as emissions_v9
from allora_sdk.rpc_client.protos.emissions import v10 as emissions_v10
from allora_sdk.rpc_client.protos.feemarket.feemarket.v1 import GasPriceRequest
from allora_sdk.rpc_client.protos.feemarket.feemarket.v1 import QueryStub as FeemarketStub
from allora_sdk.rpc_client.protos.google.protobuf import Any

__all__ = [
    "Any",
    "AuthInfo",
    "AuthStub",
    "BankStub",
    "BroadcastMode",
    "BroadcastTxRequest",
    "Coin",
    "Fee",
    "FeemarketStub",
    "GasPriceRequest",
    "GetLatestBlockRequest",
    "GetNodeInfoRequest",
    "GetTxRequest",
    "ModeInfo",
    "ModeInfoSingle",
    "PubKey",
    "QueryAccountInfoRequest",
    "QueryBalanceRequest",
    "SignDoc",
    "SignMode",
    "SignerInfo",
    "SimulateRequest",
    "TendermintStub",
    "TxBody",
    "TxRaw",
    "TxResponse",
    "TxStub",
    "emissions_module",
    "emissions_v3",
    "emissions_v9",
    "emissions_v10",
]


def emissions_module(version: int) -> ModuleType:
    """The generated types of emissions v`version` (used to probe which version a node serves)."""
    return import_module(f"allora_sdk.rpc_client.protos.emissions.v{version}")
