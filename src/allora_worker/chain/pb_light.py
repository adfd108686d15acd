"""Partial views of large chain answers: only the fields the worker reads on every poll.

Protobuf decoders skip fields a message does not declare, so declaring a subset is a wire-exact
way to read part of an answer (or none of it). `GetLatestBlock` answers with the whole block twice (`block` and
`sdk_block`: every transaction and every validator's commit signature), and the worker reads
three header fields of it on each poll; decoding the rest cost most of a poll's CPU.

Field numbers follow cosmos/base/tendermint/v1beta1/query.proto (GetLatestBlockResponse: block 2,
sdk_block 3), .../types.proto (Block: header 1; Header: chain_id 2, height 3, time 4) and
cometbft/proto/tendermint/types/{block,types}.proto (the same numbers). tests/chain/test_pb_light.py
checks them against the full generated types in `chain/pb`.

The emissions version probe asks each version's `GetParams` only to learn whether the node serves
it (UNIMPLEMENTED or an answer): the answer, the module's ~60 parameters, is never read, and
decoding it was the probe's main cost (its classes are built on first use: ~50 ms each).

GetTx is polled once a block while a submission confirms; its answer carries the decoded tx and
the result's events and logs, of which the worker reads the scalars (code, codespace, raw_log,
height, gas). Field numbers: cosmos/tx/v1beta1/service.proto (GetTxResponse: tx 1, tx_response 2)
and cosmos/base/abci/v1beta1/abci.proto (TxResponse: logs 7, tx 11, events 13 left out).
"""

# betterproto2 declares fields as dataclass defaults by design (as chain/pb's generated code does).
# ruff: noqa: RUF009

from __future__ import annotations

import datetime
from dataclasses import dataclass

import betterproto2

from allora_worker.chain.pb import google_protobuf as _google_protobuf
from allora_worker.chain.pb.cosmos_base_tendermint_v1beta1 import GetLatestBlockRequest
from allora_worker.chain.pb.cosmos_tx_v1beta1 import GetTxRequest

LATEST_BLOCK_PATH = "/cosmos.base.tendermint.v1beta1.Service/GetLatestBlock"


@dataclass(eq=False, repr=False)
class HeaderIds(betterproto2.Message):
    """A block header's chain id, height and time (tendermint.types.Header or the SDK's Header).

    The time gives the chain's own block time (chain/timing.py BlockClock): a topic timed in
    seconds has its window converted to blocks with it."""

    chain_id: str = betterproto2.field(2, betterproto2.TYPE_STRING)
    height: int = betterproto2.field(3, betterproto2.TYPE_INT64)
    time: datetime.datetime | None = betterproto2.field(
        4, betterproto2.TYPE_MESSAGE, unwrap=lambda: _google_protobuf.Timestamp, optional=True)


@dataclass(eq=False, repr=False)
class HeaderOnlyBlock(betterproto2.Message):
    header: HeaderIds | None = betterproto2.field(1, betterproto2.TYPE_MESSAGE, optional=True)


@dataclass(eq=False, repr=False)
class LatestBlockHeader(betterproto2.Message):
    """GetLatestBlockResponse without block_id, the block's data, evidence and last commit."""

    block: HeaderOnlyBlock | None = betterproto2.field(2, betterproto2.TYPE_MESSAGE, optional=True)
    sdk_block: HeaderOnlyBlock | None = betterproto2.field(3, betterproto2.TYPE_MESSAGE, optional=True)


def latest_header(answer: LatestBlockHeader) -> HeaderIds | None:
    """`sdk_block`'s header, else the deprecated `block`'s (an older node fills only that one).

    Plain `is not None` tests: betterproto2's `__bool__` compares every field with its default, and
    `sdk_block or block` paid it twice per poll (~5 us); a HeaderOnlyBlock is truthy exactly when
    its one field is set, so the choice is the same."""
    sdk, legacy = answer.sdk_block, answer.block
    if sdk is not None and sdk.header is not None:
        return sdk.header
    return legacy.header if legacy is not None else None


class LatestBlockStub(betterproto2.ServiceStub):
    async def get_latest_block_header(self, *, timeout: float | None = None) -> LatestBlockHeader:
        answer: LatestBlockHeader = await self._unary_unary(
            LATEST_BLOCK_PATH, GetLatestBlockRequest(), LatestBlockHeader, timeout=timeout)
        return answer


@dataclass(eq=False, repr=False)
class Unread(betterproto2.Message):
    """An empty request, or an answer none of whose fields is read (the decoder skips them all)."""


def params_path(version: int) -> str:
    """The node's parameters query of emissions v`version`. v1-v3 name the service `Query` and the
    call `Params`; v4 renamed them (allora-chain x/emissions/proto/emissions/v{1,2,3,4}/query.proto)."""
    if version <= 3:
        return f"/emissions.v{version}.Query/Params"
    return f"/emissions.v{version}.QueryService/GetParams"


class EmissionsProbeStub(betterproto2.ServiceStub):
    async def get_params(self, version: int, *, timeout: float | None = None) -> Unread:
        """emissions.vN's parameters query (`params_path`); its request is empty in every version."""
        answer: Unread = await self._unary_unary(params_path(version), Unread(), Unread, timeout=timeout)
        return answer


@dataclass(eq=False, repr=False)
class TxResult(betterproto2.Message):
    """A TxResponse's scalars: everything but its logs, the tx itself and its events."""

    height: int = betterproto2.field(1, betterproto2.TYPE_INT64)
    txhash: str = betterproto2.field(2, betterproto2.TYPE_STRING)
    codespace: str = betterproto2.field(3, betterproto2.TYPE_STRING)
    code: int = betterproto2.field(4, betterproto2.TYPE_UINT32)
    data: str = betterproto2.field(5, betterproto2.TYPE_STRING)
    raw_log: str = betterproto2.field(6, betterproto2.TYPE_STRING)
    info: str = betterproto2.field(8, betterproto2.TYPE_STRING)
    gas_wanted: int = betterproto2.field(9, betterproto2.TYPE_INT64)
    gas_used: int = betterproto2.field(10, betterproto2.TYPE_INT64)
    timestamp: str = betterproto2.field(12, betterproto2.TYPE_STRING)


@dataclass(eq=False, repr=False)
class TxLookup(betterproto2.Message):
    """GetTxResponse without the decoded tx."""

    tx_response: TxResult | None = betterproto2.field(2, betterproto2.TYPE_MESSAGE, optional=True)


class TxLookupStub(betterproto2.ServiceStub):
    async def get_tx_result(self, txhash: str, *, timeout: float | None = None) -> TxLookup:
        answer: TxLookup = await self._unary_unary(
            "/cosmos.tx.v1beta1.Service/GetTx", GetTxRequest(hash=txhash), TxLookup, timeout=timeout)
        return answer
