"""Building and signing a SIGN_MODE_DIRECT transaction (the payload itself: `chain.emissions`).

Pure functions over the generated protobuf types (no I/O), so the bytes that get signed are easy
to test. The txhash is known before broadcast: uppercase hex sha256 of the TxRaw bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import betterproto2

from allora_worker.chain.protos import (
    Any,
    AuthInfo,
    Coin,
    Fee,
    ModeInfo,
    ModeInfoSingle,
    PubKey,
    SignDoc,
    SignerInfo,
    SignMode,
    TxBody,
    TxRaw,
)
from allora_worker.chain.wallet import Wallet

SECP256K1_PUBKEY_URL = "/cosmos.crypto.secp256k1.PubKey"


def tx_hash(tx_bytes: bytes) -> str:
    return hashlib.sha256(tx_bytes).hexdigest().upper()


def any_of(type_url: str, msg: betterproto2.Message) -> Any:
    return Any(type_url=type_url, value=bytes(msg))


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
    timeout_height: int = 0,
    sign: bool = True,
) -> BuiltTx:
    """A TxRaw signed in SIGN_MODE_DIRECT (or with an empty signature, for simulation).

    `timeout_height` (0 = none) makes the chain drop the tx once that block is passed, so a tx
    for a closed window cannot linger in a mempool (the Go offchain node sets one too)."""
    body_bytes = bytes(TxBody(messages=msgs, memo=memo, timeout_height=timeout_height))
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
