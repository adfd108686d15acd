"""cosmos.tx.v1beta1.Service: Simulate, BroadcastTx (sync CheckTx), GetTx, GetTxsEvent (devnet/txsearch.py)."""

from __future__ import annotations

from allora_sdk.rpc_client.protos.cosmos.base.abci import v1beta1 as abci
from allora_sdk.rpc_client.protos.cosmos.tx import v1beta1 as txpb
from allora_sdk.rpc_client.protos.google.protobuf import Any
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from allora_worker.devnet import codes, txcheck, txsearch
from allora_worker.devnet.services.base import DevnetService, Method
from allora_worker.devnet.state import TxResult


class TxService(DevnetService):
    SERVICE = "cosmos.tx.v1beta1.Service"

    def methods(self) -> list[Method]:
        return [
            ("Simulate", self.simulate, txpb.SimulateRequest, txpb.SimulateResponse),
            ("BroadcastTx", self.broadcast_tx, txpb.BroadcastTxRequest, txpb.BroadcastTxResponse),
            ("GetTx", self.get_tx, txpb.GetTxRequest, txpb.GetTxResponse),
            ("GetTxsEvent", self.get_txs_event, txpb.GetTxsEventRequest, txpb.GetTxsEventResponse),
        ]

    def simulate(self, request: txpb.SimulateRequest) -> txpb.SimulateResponse:
        tx_bytes = request.tx_bytes or (bytes(request.tx) if request.tx else b"")
        try:
            gas_wanted, gas_used = self.state.simulate(tx_bytes)
        except codes.TxFailure as failure:
            # The gateway maps ABCI errors of a simulation to gRPC Unknown with the log as message.
            raise GRPCError(Status.UNKNOWN, failure.log) from failure
        return txpb.SimulateResponse(
            gas_info=abci.GasInfo(gas_wanted=gas_wanted, gas_used=gas_used), result=abci.Result()
        )

    def broadcast_tx(self, request: txpb.BroadcastTxRequest) -> txpb.BroadcastTxResponse:
        if request.mode not in (txpb.BroadcastMode.SYNC, txpb.BroadcastMode.ASYNC):
            raise GRPCError(Status.INVALID_ARGUMENT, f"unsupported broadcast mode {request.mode}")
        txhash = txcheck.tx_hash(request.tx_bytes) if request.tx_bytes else ""
        try:
            txhash, gas_wanted, gas_used = self.state.check_tx(request.tx_bytes)
        except codes.TxFailure as failure:
            return txpb.BroadcastTxResponse(
                tx_response=abci.TxResponse(
                    txhash=txhash, codespace=failure.codespace, code=failure.code, raw_log=failure.log
                )
            )
        return txpb.BroadcastTxResponse(
            tx_response=abci.TxResponse(txhash=txhash, code=0, gas_wanted=gas_wanted, gas_used=gas_used)
        )

    def get_tx(self, request: txpb.GetTxRequest) -> txpb.GetTxResponse:
        result = self.state.tx_result(request.hash)
        if result is None:
            raise GRPCError(Status.NOT_FOUND, f"tx not found: {request.hash}")
        tx, response = _response(result)
        return txpb.GetTxResponse(tx=tx, tx_response=response)

    def get_txs_event(self, request: txpb.GetTxsEventRequest) -> txpb.GetTxsEventResponse:
        # cosmos-sdk v0.50 x/auth/tx/service.go GetTxsEvent: only `query` is read (the deprecated
        # `events` list is ignored); page/limit page through CometBFT's TxSearch.
        try:
            conditions = txsearch.parse(request.query)
        except txsearch.QueryError as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, str(exc)) from None
        with self.state.lock:
            results = sorted(self.state.txs.values(), key=lambda r: r.height)
        found = []
        for result in results:
            events = txsearch.events_of(result.tx, height=result.height, txhash=result.txhash, code=result.code)
            if all(c.matches(events.get(c.key, [])) for c in conditions):
                found.append(result)
        if request.order_by == txpb.OrderBy.DESC:
            found.reverse()
        try:
            start, end = txsearch.page_bounds(len(found), request.page, request.limit)
        except txsearch.QueryError as exc:
            raise GRPCError(Status.UNKNOWN, str(exc)) from None
        pairs = [_response(result) for result in found[start:end]]
        return txpb.GetTxsEventResponse(
            txs=[tx for tx, _ in pairs], tx_responses=[response for _, response in pairs], total=len(found)
        )


def _response(result: TxResult) -> tuple[txpb.Tx, abci.TxResponse]:
    tx = txpb.Tx(body=result.tx.body, auth_info=result.tx.auth_info, signatures=result.tx.raw.signatures)
    response = abci.TxResponse(
        height=result.height,
        txhash=result.txhash,
        codespace=result.codespace,
        code=result.code,
        raw_log=result.raw_log,
        gas_wanted=result.gas_wanted,
        gas_used=result.gas_used,
        tx=Any(type_url="/cosmos.tx.v1beta1.Tx", value=bytes(tx)),
        timestamp=result.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return tx, response
