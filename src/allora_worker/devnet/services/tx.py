"""cosmos.tx.v1beta1.Service: Simulate, BroadcastTx (sync CheckTx), GetTx."""

from __future__ import annotations

from allora_sdk.rpc_client.protos.cosmos.base.abci import v1beta1 as abci
from allora_sdk.rpc_client.protos.cosmos.tx import v1beta1 as txpb
from allora_sdk.rpc_client.protos.google.protobuf import Any
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from allora_worker.devnet import codes, txcheck
from allora_worker.devnet.services.base import DevnetService, Method


class TxService(DevnetService):
    SERVICE = "cosmos.tx.v1beta1.Service"

    def methods(self) -> list[Method]:
        return [
            ("Simulate", self.simulate, txpb.SimulateRequest, txpb.SimulateResponse),
            ("BroadcastTx", self.broadcast_tx, txpb.BroadcastTxRequest, txpb.BroadcastTxResponse),
            ("GetTx", self.get_tx, txpb.GetTxRequest, txpb.GetTxResponse),
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
        return txpb.GetTxResponse(tx=tx, tx_response=response)
