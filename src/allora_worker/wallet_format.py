"""What a wallet input must look like: a BIP39 mnemonic, an `allo` address, a private key file.

Plain checks on values, below both `config` (which validates settings with them) and `chain`
(which derives keys): they know nothing of the chain or of settings.
"""

from __future__ import annotations

import functools
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mnemonic import Mnemonic

# The BIP39 list and checksum come from `mnemonic` (trezor's reference implementation) and the
# address check from `bech32` (the BIP173 reference): both import in milliseconds. bip_utils did
# the same but its package import loads every coin it knows (~0.3 s CPU and ~14 MB of RSS that the
# daemon then kept for its whole life).

BECH32_PREFIX = "allo"
_BIP39_WORD_COUNTS = (12, 15, 18, 21, 24)


def is_valid_address(address: str, prefix: str = BECH32_PREFIX) -> bool:
    """True for a bech32 (not bech32m) address with this prefix over a 20-byte account id."""
    from bech32 import bech32_decode, convertbits

    hrp, data = bech32_decode(address)
    if hrp != prefix or data is None:
        return False
    payload = convertbits(data, 5, 8, False)
    return payload is not None and len(payload) == 20


def normalize_mnemonic(mnemonic: str) -> str:
    return " ".join(mnemonic.strip().lower().split())


def check_mnemonic(mnemonic: str) -> str | None:
    """None when the mnemonic is a valid BIP39 phrase, else a plain-words problem (no words echoed)."""
    words = normalize_mnemonic(mnemonic).split()
    if len(words) not in _BIP39_WORD_COUNTS:
        return f"mnemonic has {len(words)} words; a BIP39 mnemonic has 12, 15, 18, 21 or 24"
    wordlist = english_words()
    unknown = sum(1 for w in words if w not in wordlist)
    if unknown:
        return f"mnemonic has {unknown} word(s) that are not in the BIP39 English word list"
    if not _english().check(" ".join(words)):
        return "mnemonic fails its BIP39 checksum (a word is wrong or out of order)"
    return None


@functools.cache
def _english() -> Mnemonic:
    from mnemonic import Mnemonic

    return Mnemonic("english")


@functools.cache
def english_words() -> frozenset[str]:
    """The 2048 words of the BIP39 English list (the `mnemonic` package ships it)."""
    return frozenset(_english().wordlist)


def check_private_file(path: Path) -> str | None:
    """None when `path` is a regular file readable by its owner only (0600 or stricter)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"key file {path} does not exist"
    except PermissionError:
        return f"key file {path} cannot be read by this user"
    if not stat.S_ISREG(info.st_mode):
        return f"key file {path} is not a regular file"
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"key file {path} is readable by group/others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run: chmod 600 {path}"
        )
    return None
