"""The worker's key: BIP39 mnemonic → secp256k1 key at m/44'/118'/0'/0/0 → `allo` address.

The private key never leaves this object: no attribute prints it, and `repr` shows the address
only. The mnemonic and private key are registered with the redaction filter on load.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import coincurve
import coincurve.ecdsa
from bech32 import bech32_encode, convertbits
from bip32 import BIP32
from mnemonic import Mnemonic

from allora_worker.secrets import register_secret
from allora_worker.wallet_format import BECH32_PREFIX, check_mnemonic, check_private_file, normalize_mnemonic

HD_PATH = "m/44'/118'/0'/0/0"


class WalletError(ValueError):
    """A wallet input is unusable; the message says which and what to do, never the secret."""


def address_from_pubkey(pubkey: bytes, prefix: str = BECH32_PREFIX) -> str:
    """Cosmos address: bech32(prefix, ripemd160(sha256(compressed pubkey)))."""
    digest = hashlib.new("ripemd160", hashlib.sha256(pubkey).digest()).digest()
    words = convertbits(digest, 8, 5)
    assert words is not None  # 8-to-5 bits with padding always converts
    address: str = bech32_encode(prefix, words)
    return address


def read_mnemonic_file(path: Path) -> str:
    problem = check_private_file(path)
    if problem:
        raise WalletError(problem)
    text = path.read_text(encoding="utf-8")
    register_secret(text.strip())
    register_secret(normalize_mnemonic(text))
    return text


@dataclass(frozen=True)
class Wallet:
    """A secp256k1 signing key with its compressed public key and `allo` address."""

    address: str
    public_key: bytes
    _key: coincurve.PrivateKey = field(repr=False, compare=False)

    @classmethod
    def from_mnemonic(cls, mnemonic: str, prefix: str = BECH32_PREFIX) -> Wallet:
        phrase = normalize_mnemonic(mnemonic)
        register_secret(mnemonic.strip())
        register_secret(phrase)
        problem = check_mnemonic(phrase)
        if problem:
            raise WalletError(problem)
        # BIP39 seed with the empty passphrase, then BIP32 over secp256k1 along the Cosmos path.
        seed = Mnemonic.to_seed(phrase, passphrase="")
        key: bytes = BIP32.from_seed(seed).get_privkey_from_path(HD_PATH)
        return cls.from_private_key(key, prefix)

    @classmethod
    def from_private_key(cls, key: bytes, prefix: str = BECH32_PREFIX) -> Wallet:
        register_secret(key.hex())
        private = coincurve.PrivateKey(key)
        public = private.public_key.format(compressed=True)
        return cls(address=address_from_pubkey(public, prefix), public_key=public, _key=private)

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()

    def sign(self, message: bytes) -> bytes:
        """64-byte compact (r||s, low-s) signature over sha256(message), as Cosmos verifies it."""
        der = self._key.sign(message, hasher=_sha256)
        compact: bytes = coincurve.ecdsa.serialize_compact(coincurve.ecdsa.der_to_cdata(der))
        return compact

    def __repr__(self) -> str:
        return f"Wallet(address={self.address!r})"


def _sha256(message: bytes) -> bytes:
    return hashlib.sha256(message).digest()


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Check a 64-byte compact signature over sha256(message)."""
    if len(signature) != 64:
        return False
    try:
        der = coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(signature))
        return coincurve.PublicKey(public_key).verify(der, message, hasher=_sha256)
    except Exception:
        return False


def load_wallet(
    mnemonic: str | None,
    mnemonic_file: Path | None,
    expected_address: str | None = None,
    prefix: str = BECH32_PREFIX,
) -> Wallet:
    """The wallet from a mnemonic file (preferred) or a mnemonic, checked against the expected address."""
    if mnemonic_file is not None:
        phrase = read_mnemonic_file(Path(os.path.expanduser(str(mnemonic_file))))
    elif mnemonic:
        phrase = mnemonic
    else:
        raise WalletError("no wallet configured: set MNEMONIC_FILE (a 0600 file) or MNEMONIC")
    wallet = Wallet.from_mnemonic(phrase, prefix)
    if expected_address and expected_address != wallet.address:
        raise WalletError(
            f"ALLORA_WALLET_ADDR is {expected_address} but the mnemonic derives {wallet.address}; "
            "fix one of them"
        )
    return wallet
