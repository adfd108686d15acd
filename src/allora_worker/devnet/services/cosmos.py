"""Cosmos SDK services: tendermint node/blocks, auth accounts, bank balances, feemarket gas price."""

from __future__ import annotations

from allora_sdk.rpc_client.protos.cosmos.auth import v1beta1 as auth
from allora_sdk.rpc_client.protos.cosmos.bank import v1beta1 as bank
from allora_sdk.rpc_client.protos.cosmos.base import v1beta1 as base
from allora_sdk.rpc_client.protos.cosmos.base.query.v1beta1 import PageResponse
from allora_sdk.rpc_client.protos.cosmos.base.tendermint import v1beta1 as tm
from allora_sdk.rpc_client.protos.cosmos.crypto.secp256k1 import PubKey
from allora_sdk.rpc_client.protos.feemarket.feemarket import v1 as feemarket
from allora_sdk.rpc_client.protos.google.protobuf import Any
from allora_sdk.rpc_client.protos.tendermint import p2p
from allora_sdk.rpc_client.protos.tendermint import types as tmtypes
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from allora_worker.devnet.services.base import DevnetService, Method
from allora_worker.devnet.state import FEE_DENOM, Block, ChainState

# LegacyDec travels over gRPC as its integer representation with 18 decimals.
_DEC_PRECISION = 10**18


def _block_response(state: ChainState, block: Block) -> tm.GetLatestBlockResponse:
    header = tm.Header(chain_id=state.chain_id, height=block.height, time=block.time)
    return tm.GetLatestBlockResponse(
        block_id=tmtypes.BlockId(hash=block.hash),
        sdk_block=tm.Block(
            header=header, data=tmtypes.Data(txs=[state.txs[h].tx.tx_bytes for h in block.txs])
        ),
    )


class TendermintService(DevnetService):
    SERVICE = "cosmos.base.tendermint.v1beta1.Service"

    def methods(self) -> list[Method]:
        return [
            ("GetNodeInfo", self.get_node_info, tm.GetNodeInfoRequest, tm.GetNodeInfoResponse),
            ("GetSyncing", self.get_syncing, tm.GetSyncingRequest, tm.GetSyncingResponse),
            ("GetLatestBlock", self.get_latest_block, tm.GetLatestBlockRequest, tm.GetLatestBlockResponse),
            (
                "GetBlockByHeight",
                self.get_block_by_height,
                tm.GetBlockByHeightRequest,
                tm.GetBlockByHeightResponse,
            ),
        ]

    def get_node_info(self, _: tm.GetNodeInfoRequest) -> tm.GetNodeInfoResponse:
        return tm.GetNodeInfoResponse(
            default_node_info=p2p.DefaultNodeInfo(
                network=self.state.chain_id,
                moniker="allora-devnet",
                version="0.38.17",
                listen_addr="127.0.0.1",
            ),
            application_version=tm.VersionInfo(name="allora", app_name="allorad", version="devnet"),
        )

    def get_syncing(self, _: tm.GetSyncingRequest) -> tm.GetSyncingResponse:
        return tm.GetSyncingResponse(syncing=False)

    def get_latest_block(self, _: tm.GetLatestBlockRequest) -> tm.GetLatestBlockResponse:
        with self.state.lock:
            return _block_response(self.state, self.state.blocks[self.state.height])

    def get_block_by_height(self, request: tm.GetBlockByHeightRequest) -> tm.GetBlockByHeightResponse:
        with self.state.lock:
            block = self.state.blocks.get(request.height)
            if block is None:
                raise GRPCError(
                    Status.INVALID_ARGUMENT,
                    f"requested block height {request.height} is bigger then the chain length "
                    f"{self.state.height}",
                )
            latest = _block_response(self.state, block)
        return tm.GetBlockByHeightResponse(block_id=latest.block_id, sdk_block=latest.sdk_block)


class AuthService(DevnetService):
    SERVICE = "cosmos.auth.v1beta1.Query"

    def methods(self) -> list[Method]:
        return [
            ("Account", self.account, auth.QueryAccountRequest, auth.QueryAccountResponse),
            ("AccountInfo", self.account_info, auth.QueryAccountInfoRequest, auth.QueryAccountInfoResponse),
        ]

    def _base_account(self, address: str) -> auth.BaseAccount:
        acc = self.state.account(address)
        if acc is None:
            raise GRPCError(Status.NOT_FOUND, f"account {address} not found")
        pub_key = None
        if acc.pubkey is not None:
            pub_key = Any(type_url="/cosmos.crypto.secp256k1.PubKey", value=bytes(PubKey(key=acc.pubkey)))
        return auth.BaseAccount(
            address=acc.address, pub_key=pub_key, account_number=acc.number, sequence=acc.sequence
        )

    def account(self, request: auth.QueryAccountRequest) -> auth.QueryAccountResponse:
        base_account = self._base_account(request.address)
        return auth.QueryAccountResponse(
            account=Any(type_url="/cosmos.auth.v1beta1.BaseAccount", value=bytes(base_account))
        )

    def account_info(self, request: auth.QueryAccountInfoRequest) -> auth.QueryAccountInfoResponse:
        return auth.QueryAccountInfoResponse(info=self._base_account(request.address))


class BankService(DevnetService):
    SERVICE = "cosmos.bank.v1beta1.Query"

    def methods(self) -> list[Method]:
        return [
            ("Balance", self.balance, bank.QueryBalanceRequest, bank.QueryBalanceResponse),
            ("AllBalances", self.all_balances, bank.QueryAllBalancesRequest, bank.QueryAllBalancesResponse),
            (
                "SpendableBalances",
                self.spendable,
                bank.QuerySpendableBalancesRequest,
                bank.QuerySpendableBalancesResponse,
            ),
        ]

    def _amount(self, address: str) -> int:
        acc = self.state.account(address)
        # Like the chain: an unknown address simply has a zero balance.
        return acc.balance if acc is not None else 0

    def balance(self, request: bank.QueryBalanceRequest) -> bank.QueryBalanceResponse:
        amount = self._amount(request.address) if request.denom == FEE_DENOM else 0
        return bank.QueryBalanceResponse(balance=base.Coin(denom=request.denom, amount=str(amount)))

    def _coins(self, address: str) -> list[base.Coin]:
        amount = self._amount(address)
        return [base.Coin(denom=FEE_DENOM, amount=str(amount))] if amount else []

    def all_balances(self, request: bank.QueryAllBalancesRequest) -> bank.QueryAllBalancesResponse:
        coins = self._coins(request.address)
        return bank.QueryAllBalancesResponse(balances=coins, pagination=PageResponse(total=len(coins)))

    def spendable(self, request: bank.QuerySpendableBalancesRequest) -> bank.QuerySpendableBalancesResponse:
        coins = self._coins(request.address)
        return bank.QuerySpendableBalancesResponse(balances=coins, pagination=PageResponse(total=len(coins)))


class FeemarketService(DevnetService):
    SERVICE = "feemarket.feemarket.v1.Query"

    def methods(self) -> list[Method]:
        return [
            ("GasPrice", self.gas_price, feemarket.GasPriceRequest, feemarket.GasPriceResponse),
            ("GasPrices", self.gas_prices, feemarket.GasPricesRequest, feemarket.GasPricesResponse),
        ]

    def _price(self) -> base.DecCoin:
        return base.DecCoin(
            denom=FEE_DENOM, amount=str(int(self.state.config.min_gas_price * _DEC_PRECISION))
        )

    def gas_price(self, request: feemarket.GasPriceRequest) -> feemarket.GasPriceResponse:
        if request.denom != FEE_DENOM:
            raise GRPCError(Status.NOT_FOUND, f"unknown denom {request.denom}")
        return feemarket.GasPriceResponse(price=self._price())

    def gas_prices(self, _: feemarket.GasPricesRequest) -> feemarket.GasPricesResponse:
        return feemarket.GasPricesResponse(prices=[self._price()])
