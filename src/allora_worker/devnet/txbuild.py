"""Building and signing txs without the SDK or cosmpy: for hand-built (also deliberately bad) txs.

Tests use it to pin every rejection; benchmarks and demos use it to play "another client" (for
example an external tx that takes a sequence number). It follows the Cosmos wire format exactly:
TxRaw{body_bytes, auth_info_bytes, signatures} with a SIGN_MODE_DIRECT signature over SignDoc.
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
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins

from allora_worker.devnet import crypto
from allora_worker.devnet.txcheck import INSERT_WORKER_PAYLOAD_URL, REGISTER_URL, SECP256K1_PUBKEY_URL


@dataclass(frozen=True)
class Key:
    private: bytes

    @classmethod
    def from_seed(cls, seed: str) -> Key:
        """A deterministic test key (sha256 of a label)."""
        return cls(hashlib.sha256(seed.encode()).digest())

    @classmethod
    def from_mnemonic(cls, mnemonic: str) -> Key:
        """BIP39 mnemonic at the Cosmos path m/44'/118'/0'/0/0."""
        seed = Bip39SeedGenerator(mnemonic).Generate()
        node = (
            Bip44.FromSeed(seed, Bip44Coins.COSMOS)
            .Purpose()
            .Coin()
            .Account(0)
            .Change(Bip44Changes.CHAIN_EXT)
            .AddressIndex(0)
        )
        return cls(bytes(node.PrivateKey().Raw().ToBytes()))

    @property
    def pubkey(self) -> bytes:
        return crypto.public_key(self.private)

    @property
    def address(self) -> str:
        return crypto.pubkey_to_address(self.pubkey)

    def sign(self, message: bytes) -> bytes:
        return crypto.sign(self.private, message)


def register_msg(key: Key, topic_id: int) -> tuple[str, betterproto2.Message]:
    return REGISTER_URL, RegisterRequest(
        sender=key.address, topic_id=topic_id, owner=key.address, is_reputer=False
    )


def payload_msg(
    key: Key,
    topic_id: int,
    nonce: int,
    value: str = "0.0123",
    *,
    signing_key: Key | None = None,
    pubkey_hex: str | None = None,
    bundle_topic_id: int | None = None,
) -> tuple[str, betterproto2.Message]:
    """An InsertWorkerPayloadRequest shaped like the SDK's (value "0" + labeled values ["y"]).

    `signing_key` signs the bundle with another key (a bad bundle signature); `pubkey_hex`
    overrides the advertised key; the value string is signed exactly as given (so a non-canonical
    value yields a bundle the chain cannot verify after re-marshaling).
    """
    inference = InputInference(
        topic_id=topic_id,
        block_height=nonce,
        inferer=key.address,
        value="0",
        values=[InputLabeledValue(label="y", value=value)],
    )
    bundle = InputInferenceForecastBundle(inference=inference)
    signature = (signing_key or key).sign(bytes(bundle))
    data = InputWorkerDataBundle(
        worker=key.address,
        nonce=Nonce(block_height=nonce),
        topic_id=topic_id if bundle_topic_id is None else bundle_topic_id,
        inference_forecasts_bundle=bundle,
        inferences_forecasts_bundle_signature=signature,
        pubkey=key.pubkey.hex() if pubkey_hex is None else pubkey_hex,
    )
    return INSERT_WORKER_PAYLOAD_URL, InsertWorkerPayloadRequest(sender=key.address, worker_data_bundle=data)


def build_tx(
    key: Key,
    msgs: list[tuple[str, betterproto2.Message]],
    *,
    chain_id: str,
    account_number: int,
    sequence: int,
    gas_limit: int = 300_000,
    fee_uallo: int | None = None,
    min_gas_price: float = 10.0,
    signer_key: Key | None = None,
    memo: str = "",
) -> bytes:
    """Serialized TxRaw. Fee defaults to gas_limit × min_gas_price; `signer_key` signs with another key."""
    body = TxBody(messages=[Any(type_url=url, value=bytes(msg)) for url, msg in msgs], memo=memo)
    fee = fee_uallo if fee_uallo is not None else int(gas_limit * min_gas_price)
    auth_info = AuthInfo(
        signer_infos=[
            SignerInfo(
                public_key=Any(type_url=SECP256K1_PUBKEY_URL, value=bytes(PubKey(key=key.pubkey))),
                mode_info=ModeInfo(single=ModeInfoSingle(mode=SignMode.DIRECT)),
                sequence=sequence,
            )
        ],
        fee=Fee(amount=[Coin(denom="uallo", amount=str(fee))], gas_limit=gas_limit),
    )
    body_bytes, auth_info_bytes = bytes(body), bytes(auth_info)
    sign_doc = SignDoc(
        body_bytes=body_bytes,
        auth_info_bytes=auth_info_bytes,
        chain_id=chain_id,
        account_number=account_number,
    )
    signature = (signer_key or key).sign(bytes(sign_doc))
    return bytes(TxRaw(body_bytes=body_bytes, auth_info_bytes=auth_info_bytes, signatures=[signature]))
