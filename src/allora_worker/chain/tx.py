"""Building and signing: the worker data bundle and a SIGN_MODE_DIRECT transaction.

Pure functions over the SDK's generated protobuf types (no I/O), so the bytes that get signed are
easy to test. The txhash is known before broadcast: uppercase hex sha256 of the TxRaw bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import betterproto2
from allora_sdk.rpc_client.protos.cosmos.base.v1beta1 import Coin
from allora_sdk.rpc_client.protos.cosmos.crypto.secp256k1 import PubKey
from allora_sdk.rpc_client.protos.cosmos.tx.signing.v1beta1 import SignMode
from allora_sdk.rpc_client.protos.cosmos.tx.v1beta1 import (
    AuthInfo,
    Fee,
    ModeInfo,
    ModeInfoSingle,
    SignDoc,
    SignerInfo,
    TxBody,
    TxRaw,
)
from allora_sdk.rpc_client.protos.emissions.v3 import Nonce
from allora_sdk.rpc_client.protos.emissions.v10 import (
    InputInference,
    InputInferenceForecastBundle,
    InputLabeledValue,
    InputWorkerDataBundle,
    InsertWorkerPayloadRequest,
    RegisterRequest,
)
from allora_sdk.rpc_client.protos.google.protobuf import Any

from allora_worker.chain.canonical import canonical_decimal
from allora_worker.chain.wallet import Wallet

INSERT_WORKER_PAYLOAD_URL = "/emissions.v10.InsertWorkerPayloadRequest"
REGISTER_URL = "/emissions.v10.RegisterRequest"
SECP256K1_PUBKEY_URL = "/cosmos.crypto.secp256k1.PubKey"

# v10 inferences carry labeled values; a single-output topic uses one label. The legacy `value`
# field is set to "0" as the official SDK does: left empty, the chain would parse it as 0 and
# re-marshal it as "0", so the bytes it verifies would differ from the bytes we signed.
SINGLE_LABEL = "y"
LEGACY_VALUE = "0"


def tx_hash(tx_bytes: bytes) -> str:
    return hashlib.sha256(tx_bytes).hexdigest().upper()


def any_of(type_url: str, msg: betterproto2.Message) -> Any:
    return Any(type_url=type_url, value=bytes(msg))


def worker_payload(
    wallet: Wallet, topic_id: int, nonce: int, value: float | str
) -> tuple[InsertWorkerPayloadRequest, str]:
    """The signed InsertWorkerPayload message and the canonical value string it carries."""
    canonical = canonical_decimal(value)
    inference = InputInference(
        topic_id=topic_id,
        block_height=nonce,
        inferer=wallet.address,
        value=LEGACY_VALUE,
        values=[InputLabeledValue(label=SINGLE_LABEL, value=canonical)],
    )
    bundle = InputInferenceForecastBundle(inference=inference)
    # The chain verifies secp256k1 over sha256(serialized bundle); Wallet.sign hashes with sha256.
    signature = wallet.sign(bytes(bundle))
    msg = InsertWorkerPayloadRequest(
        sender=wallet.address,
        worker_data_bundle=InputWorkerDataBundle(
            worker=wallet.address,
            nonce=Nonce(block_height=nonce),
            topic_id=topic_id,
            inference_forecasts_bundle=bundle,
            inferences_forecasts_bundle_signature=signature,
            pubkey=wallet.public_key_hex,
        ),
    )
    return msg, canonical


def register_msg(wallet: Wallet, topic_id: int) -> RegisterRequest:
    return RegisterRequest(sender=wallet.address, topic_id=topic_id, owner=wallet.address, is_reputer=False)


@dataclass(frozen=True)
class BuiltTx:
    tx_bytes: bytes
    txhash: str
    sequence: int
    gas_limit: int
    fee: int


def build_tx(
    wallet: Wallet,
    msgs: list[Any],
    *,
    chain_id: str,
    account_number: int,
    sequence: int,
    gas_limit: int,
    fee_amount: int,
    fee_denom: str,
    memo: str = "",
    sign: bool = True,
) -> BuiltTx:
    """A TxRaw signed in SIGN_MODE_DIRECT (or with an empty signature, for simulation)."""
    body_bytes = bytes(TxBody(messages=msgs, memo=memo))
    signer = SignerInfo(
        public_key=any_of(SECP256K1_PUBKEY_URL, PubKey(key=wallet.public_key)),
        mode_info=ModeInfo(single=ModeInfoSingle(mode=SignMode.DIRECT)),
        sequence=sequence,
    )
    fee = Fee(amount=[Coin(denom=fee_denom, amount=str(fee_amount))], gas_limit=gas_limit)
    auth_bytes = bytes(AuthInfo(signer_infos=[signer], fee=fee))
    if sign:
        doc = SignDoc(body_bytes=body_bytes, auth_info_bytes=auth_bytes, chain_id=chain_id,
                      account_number=account_number)
        signature = wallet.sign(bytes(doc))
    else:
        signature = b""
    raw = bytes(TxRaw(body_bytes=body_bytes, auth_info_bytes=auth_bytes, signatures=[signature]))
    return BuiltTx(tx_bytes=raw, txhash=tx_hash(raw), sequence=sequence, gas_limit=gas_limit, fee=fee_amount)
