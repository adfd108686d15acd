"""Decoding a TxRaw, the signer checks the ante handler runs, and the worker bundle's Validate.

What runs where follows the chain: decoding (unknown type URLs, malformed wire data, out-of-range
bounded decimals) and the signer checks happen at CheckTx; the ante checks that need account state
(fee, funds, pubkey, sequence, signature, gas) live in `state.ChainState.check_tx`. The worker data
bundle's `Validate` is NOT run at CheckTx: allora-chain calls it inside the message server
(x/emissions/keeper/msgserver/msg_server_worker_payload.go, InsertWorkerPayload), i.e. in the
block, where a failure still costs the fee. `bundle_failure` is that check; `state` calls it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import betterproto2
from allora_sdk.rpc_client.protos.cosmos.crypto.secp256k1 import PubKey
from allora_sdk.rpc_client.protos.cosmos.tx.signing.v1beta1 import SignMode
from allora_sdk.rpc_client.protos.cosmos.tx.v1beta1 import AuthInfo, SignDoc, TxBody, TxRaw
from allora_sdk.rpc_client.protos.emissions import v9, v10
from allora_sdk.rpc_client.protos.emissions.v10 import InsertWorkerPayloadRequest

from allora_worker.devnet import codes, crypto, decimal_canon

REGISTER_URL = "/emissions.v10.RegisterRequest"
INSERT_WORKER_PAYLOAD_URL = "/emissions.v10.InsertWorkerPayloadRequest"
SECP256K1_PUBKEY_URL = "/cosmos.crypto.secp256k1.PubKey"

# Message types per emissions version. A node registers the Msg service of its current version
# only (allora-chain app/app.go, x/emissions/module), so another version's type URL fails at decode
# with "unable to resolve type URL", like a chain without that module.
MSG_TYPES_BY_VERSION: dict[int, dict[str, type[betterproto2.Message]]] = {
    8: {},
    9: {
        "/emissions.v9.RegisterRequest": v9.RegisterRequest,
        "/emissions.v9.InsertWorkerPayloadRequest": v9.InsertWorkerPayloadRequest,
    },
    10: {
        REGISTER_URL: v10.RegisterRequest,
        INSERT_WORKER_PAYLOAD_URL: InsertWorkerPayloadRequest,
    },
}
MSG_TYPES = MSG_TYPES_BY_VERSION[10]

# v10 values are BoundedExp40Dec (allora-chain math/bounded_dec.go): a non-zero |x| outside
# [1e-40, 1e40] fails when the message is unmarshaled, i.e. at decode.
BOUND_EXPONENT = 40


def is_register(url: str) -> bool:
    return url.endswith(".RegisterRequest")


def is_worker_payload(url: str) -> bool:
    return url.endswith(".InsertWorkerPayloadRequest")

# Gas model: a flat cost per tx, per byte (ConsumeGasForTxSize, 10/byte on cosmos), per signature
# verification (secp256k1 = 1000) and a per-message execution cost in the range the real chain reports.
GAS_BASE = 30_000
GAS_PER_BYTE = 10
GAS_SIG_VERIFY = 1_000


@dataclass
class DecodedTx:
    tx_bytes: bytes
    txhash: str
    raw: TxRaw
    body: TxBody
    auth_info: AuthInfo
    msgs: list[tuple[str, betterproto2.Message]]
    pubkey: bytes | None
    sequence: int
    gas_limit: int
    fee: dict[str, int]

    @property
    def signer(self) -> str:
        """The address that must sign: the `sender` of the first message (GetSigners)."""
        return str(getattr(self.msgs[0][1], "sender", ""))

    def sign_bytes(self, chain_id: str, account_number: int) -> bytes:
        return bytes(
            SignDoc(
                body_bytes=self.raw.body_bytes,
                auth_info_bytes=self.raw.auth_info_bytes,
                chain_id=chain_id,
                account_number=account_number,
            )
        )

    def gas_needed(self) -> int:
        return (
            GAS_BASE
            + GAS_PER_BYTE * len(self.tx_bytes)
            + GAS_SIG_VERIFY
            + sum(90_000 if is_worker_payload(url) else 60_000 if is_register(url) else 50_000
                  for url, _ in self.msgs)
        )


def tx_hash(tx_bytes: bytes) -> str:
    """CometBFT tx hash: uppercase hex sha256 of the raw tx bytes."""
    return hashlib.sha256(tx_bytes).hexdigest().upper()


def decode_tx(tx_bytes: bytes, version: int = 10) -> DecodedTx:
    if not tx_bytes:
        raise codes.sdk_error(codes.TX_DECODE, "tx bytes are empty: tx parse error")
    try:
        raw = TxRaw.parse(tx_bytes)
        body = TxBody.parse(raw.body_bytes)
        auth_info = AuthInfo.parse(raw.auth_info_bytes)
        # The chain's decoder rejects unknown fields; betterproto keeps them aside instead.
        for part in (raw, body, auth_info):
            if getattr(part, "_unknown_fields", b""):
                raise ValueError(f"unknown fields in {type(part).__name__}")
    except Exception as exc:  # betterproto raises several types on malformed wire data
        raise codes.sdk_error(codes.TX_DECODE, f"{exc}: tx parse error") from exc
    msgs: list[tuple[str, betterproto2.Message]] = []
    for any_msg in body.messages:
        msg_type = MSG_TYPES_BY_VERSION[version].get(any_msg.type_url)
        if msg_type is None:
            raise codes.sdk_error(
                codes.TX_DECODE, f"unable to resolve type URL {any_msg.type_url}: tx parse error"
            )
        try:
            msgs.append((any_msg.type_url, msg_type.parse(any_msg.value)))
        except Exception as exc:
            raise codes.sdk_error(codes.TX_DECODE, f"{exc}: tx parse error") from exc
    if not msgs:
        raise codes.sdk_error(codes.INVALID_REQUEST, "must contain at least one message: invalid request")
    if len(auth_info.signer_infos) != 1:
        # Every message this chain knows has one signer (sender), so a tx has exactly one signature.
        raise codes.sdk_error(
            codes.UNAUTHORIZED,
            f"wrong number of signers; expected 1, got {len(auth_info.signer_infos)}: unauthorized",
        )
    signer_info = auth_info.signer_infos[0]
    if len(raw.signatures) != 1:
        raise codes.sdk_error(
            codes.UNAUTHORIZED,
            f"invalid number of signatures; expected: 1, got {len(raw.signatures)}: unauthorized",
        )
    mode = signer_info.mode_info.single if signer_info.mode_info else None
    if mode is None or mode.mode != SignMode.DIRECT:
        raise codes.sdk_error(codes.UNAUTHORIZED, "devnet accepts SIGN_MODE_DIRECT only: unauthorized")
    pubkey: bytes | None = None
    if signer_info.public_key is not None:
        if signer_info.public_key.type_url != SECP256K1_PUBKEY_URL:
            raise codes.sdk_error(
                codes.INVALID_PUBKEY,
                f"unsupported public key type {signer_info.public_key.type_url}: invalid pubkey",
            )
        pubkey = PubKey.parse(signer_info.public_key.value).key
    fee_msg = auth_info.fee
    fee: dict[str, int] = {}
    for coin in fee_msg.amount if fee_msg else []:
        try:
            fee[coin.denom] = fee.get(coin.denom, 0) + int(coin.amount)
        except ValueError as exc:
            raise codes.sdk_error(
                codes.INSUFFICIENT_FEE, f"invalid fee amount {coin.amount}: insufficient fee"
            ) from exc
    if version >= 10:
        for url, msg in msgs:
            if is_worker_payload(url):
                _check_bounds(msg)
    decoded = DecodedTx(
        tx_bytes=tx_bytes,
        txhash=tx_hash(tx_bytes),
        raw=raw,
        body=body,
        auth_info=auth_info,
        msgs=msgs,
        pubkey=pubkey,
        sequence=signer_info.sequence,
        gas_limit=fee_msg.gas_limit if fee_msg else 0,
        fee=fee,
    )
    validate_basic(decoded)
    return decoded


def validate_basic(tx: DecodedTx) -> None:
    """The signer checks of the ante handler (GetSigners): a valid bech32 sender that signed."""
    signer = tx.signer
    for _url, msg in tx.msgs:
        sender = str(getattr(msg, "sender", ""))
        if not crypto.is_valid_address(sender):
            raise codes.sdk_error(
                codes.INVALID_ADDRESS, f"invalid sender address {sender!r}: invalid address"
            )
        if sender != signer:
            raise codes.sdk_error(codes.UNAUTHORIZED, "all messages must have the same signer: unauthorized")


def _check_bounds(msg: InsertWorkerPayloadRequest) -> None:
    bundle = msg.worker_data_bundle
    inner = bundle.inference_forecasts_bundle if bundle is not None else None
    if inner is None:
        return
    for holder in _value_holders(inner):
        try:
            value = decimal_canon.parse(holder.value)
        except decimal_canon.InvalidDecimal as exc:
            raise codes.sdk_error(codes.TX_DECODE, f"{exc}: tx parse error") from exc
        if value != 0 and not (
            Decimal(f"1e-{BOUND_EXPONENT}") <= abs(value) <= Decimal(f"1e{BOUND_EXPONENT}")
        ):
            raise codes.sdk_error(
                codes.TX_DECODE,
                f"value {holder.value} out of range: |x| must be in [1e-{BOUND_EXPONENT}, "
                f"1e{BOUND_EXPONENT}] or zero: tx parse error",
            )


def bundle_failure(msg: betterproto2.Message) -> codes.TxFailure | None:
    """InputWorkerDataBundle.Validate (allora-chain x/emissions/types/validations.go), run by the
    message server in the block. sdk codes: 18 invalid request, 4 unauthorized, 29 invalid type."""
    bundle = getattr(msg, "worker_data_bundle", None)
    prefix = "Error validating worker data bundle: "

    def bad(code: int, text: str, kind: str) -> codes.TxFailure:
        return codes.sdk_error(code, f"{prefix}{text}: {kind}")

    if bundle is None:
        return bad(codes.INVALID_REQUEST, "worker data bundle cannot be nil", "invalid request")
    if bundle.nonce is None:
        return bad(codes.INVALID_REQUEST, "worker data bundle nonce cannot be nil", "invalid request")
    if bundle.nonce.block_height <= 0:
        return bad(codes.INVALID_TYPE, "worker data bundle nonce block height must be greater than 0",
                   "invalid type")
    if not bundle.worker:
        return bad(codes.INVALID_REQUEST, "worker cannot be empty", "invalid request")
    try:
        pubkey = bytes.fromhex(bundle.pubkey)
    except ValueError:
        pubkey = b""
    if len(pubkey) != 33:
        return bad(codes.INVALID_REQUEST, "invalid pubkey", "invalid request")
    if not bundle.inferences_forecasts_bundle_signature:
        return bad(codes.INVALID_REQUEST, "signature cannot be empty", "invalid request")
    inner = bundle.inference_forecasts_bundle
    if inner is None or (inner.inference is None and inner.forecast is None):
        return bad(codes.INVALID_REQUEST, "inference and forecast cannot both be nil", "invalid request")
    owner = crypto.pubkey_to_address(pubkey)
    for part, who in ((inner.inference, "inferer"), (inner.forecast, "forecaster")):
        if part is None:
            continue
        actor = getattr(part, who)
        if part.topic_id == 0:
            return bad(codes.INVALID_TYPE, "topic id is invalid: topic id zero is reserved", "invalid type")
        if not crypto.is_valid_address(actor):
            return bad(codes.INVALID_ADDRESS, f"{who} address is invalid", "invalid address")
        if actor != owner:
            return bad(codes.UNAUTHORIZED, f"{who} {actor} does not match pubkey {owner}", "unauthorized")
        if actor != bundle.worker:
            return bad(codes.UNAUTHORIZED, f"{who} {actor} does not match worker address {bundle.worker}",
                       "unauthorized")
        if part.topic_id != bundle.topic_id:
            return bad(codes.INVALID_REQUEST,
                       f"topic id {part.topic_id} does not match bundle topic id {bundle.topic_id}",
                       "invalid request")
        if part.block_height != bundle.nonce.block_height:
            return bad(codes.INVALID_REQUEST,
                       f"block height {part.block_height} does not match bundle block height "
                       f"{bundle.nonce.block_height}", "invalid request")
    # The chain verifies the signature over its own re-marshaling of the decoded values, so a value
    # whose text is not canonical ("+1", "1e-3") fails here even though the worker signed its bytes.
    canonical_bundle = type(inner).parse(bytes(inner))
    for holder in _value_holders(canonical_bundle):
        try:
            holder.value = decimal_canon.canonical(holder.value)
        except decimal_canon.InvalidDecimal:
            return codes.sdk_error(codes.TX_DECODE, f"invalid decimal {holder.value!r}: tx parse error")
    if not crypto.verify(pubkey, bundle.inferences_forecasts_bundle_signature, bytes(canonical_bundle)):
        return bad(codes.UNAUTHORIZED, "signature verification failed", "unauthorized")
    return None


def _value_holders(bundle: betterproto2.Message) -> list[Any]:
    """Every message in the bundle whose `value` field is a Dec string the chain re-marshals."""
    out: list[Any] = []
    inference = getattr(bundle, "inference", None)
    if inference is not None:
        values = getattr(inference, "values", [])
        if inference.value or not values:
            out.append(inference)
        out.extend(values)
    forecast = getattr(bundle, "forecast", None)
    if forecast is not None:
        out.extend(forecast.forecast_elements)
    return out
