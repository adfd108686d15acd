"""Decoding a TxRaw and the stateless checks (ValidateBasic) the chain runs before any state.

The ante checks that need account state (fee, funds, pubkey, sequence, signature, gas) live in
`state.ChainState.check_tx`, which calls `decode_tx` and `validate_basic` first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import betterproto2
from allora_sdk.rpc_client.protos.cosmos.crypto.secp256k1 import PubKey
from allora_sdk.rpc_client.protos.cosmos.tx.signing.v1beta1 import SignMode
from allora_sdk.rpc_client.protos.cosmos.tx.v1beta1 import AuthInfo, SignDoc, TxBody, TxRaw
from allora_sdk.rpc_client.protos.emissions.v10 import (
    InputInferenceForecastBundle,
    InsertWorkerPayloadRequest,
    RegisterRequest,
)

from allora_worker.devnet import codes, crypto, decimal_canon

REGISTER_URL = "/emissions.v10.RegisterRequest"
INSERT_WORKER_PAYLOAD_URL = "/emissions.v10.InsertWorkerPayloadRequest"
SECP256K1_PUBKEY_URL = "/cosmos.crypto.secp256k1.PubKey"

# Message types this chain executes; anything else is "unable to resolve type URL" like a chain
# without that module.
MSG_TYPES: dict[str, type[betterproto2.Message]] = {
    REGISTER_URL: RegisterRequest,
    INSERT_WORKER_PAYLOAD_URL: InsertWorkerPayloadRequest,
}

# Gas model: a flat cost per tx, per byte (ConsumeGasForTxSize, 10/byte on cosmos), per signature
# verification (secp256k1 = 1000) and a per-message execution cost in the range the real chain reports.
GAS_BASE = 30_000
GAS_PER_BYTE = 10
GAS_SIG_VERIFY = 1_000
GAS_PER_MSG = {REGISTER_URL: 60_000, INSERT_WORKER_PAYLOAD_URL: 90_000}


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
            + sum(GAS_PER_MSG.get(url, 50_000) for url, _ in self.msgs)
        )


def tx_hash(tx_bytes: bytes) -> str:
    """CometBFT tx hash: uppercase hex sha256 of the raw tx bytes."""
    return hashlib.sha256(tx_bytes).hexdigest().upper()


def decode_tx(tx_bytes: bytes) -> DecodedTx:
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
        msg_type = MSG_TYPES.get(any_msg.type_url)
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
    """Stateless message checks run in CheckTx (msg.ValidateBasic and the bundle's Validate)."""
    signer = tx.signer
    for url, msg in tx.msgs:
        sender = str(getattr(msg, "sender", ""))
        if not crypto.is_valid_address(sender):
            raise codes.sdk_error(
                codes.INVALID_ADDRESS, f"invalid sender address {sender!r}: invalid address"
            )
        if sender != signer:
            raise codes.sdk_error(codes.UNAUTHORIZED, "all messages must have the same signer: unauthorized")
        if url == INSERT_WORKER_PAYLOAD_URL:
            assert isinstance(msg, InsertWorkerPayloadRequest)
            validate_worker_payload(msg)


def validate_worker_payload(msg: InsertWorkerPayloadRequest) -> None:
    """The worker data bundle checks: shape, canonical values, pubkey ownership, bundle signature."""
    bundle = msg.worker_data_bundle
    if bundle is None or bundle.inference_forecasts_bundle is None or bundle.nonce is None:
        raise codes.emissions_error(codes.E_INVALID_VALUE, "worker data bundle is incomplete: invalid value")
    inner = bundle.inference_forecasts_bundle
    if inner.inference is None and inner.forecast is None:
        raise codes.emissions_error(
            codes.E_INVALID_VALUE, "bundle has neither inference nor forecast: invalid value"
        )
    for part, who, topic, height in (
        (
            inner.inference,
            inner.inference and inner.inference.inferer,
            inner.inference and inner.inference.topic_id,
            inner.inference and inner.inference.block_height,
        ),
        (
            inner.forecast,
            inner.forecast and inner.forecast.forecaster,
            inner.forecast and inner.forecast.topic_id,
            inner.forecast and inner.forecast.block_height,
        ),
    ):
        if part is None:
            continue
        if who != bundle.worker:
            raise codes.sdk_error(
                codes.UNAUTHORIZED, "inferer/forecaster does not match bundle worker: unauthorized"
            )
        if topic != bundle.topic_id or height != bundle.nonce.block_height:
            raise codes.emissions_error(
                codes.E_INVALID_VALUE,
                "inference topic or block height does not match the bundle nonce: invalid value",
            )
    # Values must parse as the chain's Dec; the chain then re-marshals them before verifying the signature.
    canonical_bundle = InputInferenceForecastBundle.parse(bytes(inner))
    non_canonical: list[str] = []
    for holder in _value_holders(canonical_bundle):
        text = holder.value
        try:
            fixed = decimal_canon.canonical(text)
        except decimal_canon.InvalidDecimal as exc:
            raise codes.emissions_error(codes.E_INVALID_VALUE, f"{exc}: invalid value") from exc
        if fixed != text:
            non_canonical.append(f"{text!r} re-marshals as {fixed!r}")
            holder.value = fixed
    try:
        pubkey = bytes.fromhex(bundle.pubkey)
    except ValueError:
        pubkey = b""
    if len(pubkey) != 33 or crypto.pubkey_to_address(pubkey) != bundle.worker:
        raise codes.emissions_error(
            codes.E_SIGNATURE_VERIFICATION_FAILED,
            "bundle pubkey is not a 33-byte compressed key of the worker address: "
            "signature verification was failed",
        )
    if not crypto.verify(pubkey, bundle.inferences_forecasts_bundle_signature, bytes(canonical_bundle)):
        why = f" (non-canonical value: {', '.join(non_canonical)})" if non_canonical else ""
        raise codes.emissions_error(
            codes.E_SIGNATURE_VERIFICATION_FAILED,
            f"invalid bundle signature{why}: signature verification was failed",
        )


def _value_holders(bundle: InputInferenceForecastBundle) -> list[betterproto2.Message]:
    """Every message in the bundle whose `value` field is a Dec string the chain re-marshals."""
    out: list[betterproto2.Message] = []
    if bundle.inference is not None:
        if bundle.inference.value or not bundle.inference.values:
            out.append(bundle.inference)
        out.extend(bundle.inference.values)
    if bundle.forecast is not None:
        out.extend(bundle.forecast.forecast_elements)
    return out
