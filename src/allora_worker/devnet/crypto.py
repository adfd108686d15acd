"""secp256k1 and bech32 helpers the chain uses to check signatures and derive addresses."""

from __future__ import annotations

import hashlib

import bech32
from coincurve import PrivateKey, PublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact

ADDRESS_PREFIX = "allo"


def pubkey_to_address(pubkey: bytes, prefix: str = ADDRESS_PREFIX) -> str:
    """Cosmos address of a compressed secp256k1 key: bech32(ripemd160(sha256(pubkey)))."""
    digest = hashlib.new("ripemd160", hashlib.sha256(pubkey).digest()).digest()
    words = bech32.convertbits(digest, 8, 5)
    assert words is not None
    return str(bech32.bech32_encode(prefix, words))


def is_valid_address(address: str, prefix: str = ADDRESS_PREFIX) -> bool:
    hrp, data = bech32.bech32_decode(address)
    return hrp == prefix and data is not None


def verify(pubkey: bytes, signature: bytes, message: bytes) -> bool:
    """Verify a 64-byte r||s signature over sha256(message), as the Cosmos secp256k1 key does.

    libsecp256k1 rejects high-S signatures, which matches the chain (it requires low-S too).
    """
    if len(pubkey) != 33 or len(signature) != 64:
        return False
    try:
        key = PublicKey(pubkey)
        der = cdata_to_der(deserialize_compact(signature))
        return bool(key.verify(der, message, hasher=lambda m: hashlib.sha256(m).digest()))
    except (ValueError, TypeError):
        return False


def sign(private_key: bytes, message: bytes) -> bytes:
    """64-byte r||s signature over sha256(message) (what a Cosmos wallet produces)."""
    return bytes(PrivateKey(private_key).sign_recoverable(message)[:64])


def public_key(private_key: bytes) -> bytes:
    return bytes(PrivateKey(private_key).public_key.format(compressed=True))
