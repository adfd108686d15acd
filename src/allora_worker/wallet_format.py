"""What a wallet input must look like: a BIP39 mnemonic, an `allo` address, a private key file.

Plain checks on values, below both `config` (which validates settings with them) and `chain`
(which derives keys): they know nothing of the chain or of settings.
"""

from __future__ import annotations

import functools
import stat
from pathlib import Path

# bip_utils is imported inside the checks that use it: its package import loads every coin it
# knows (~0.2 s CPU and ~20 MB), and `status` or `config show` load settings without checking a key.

BECH32_PREFIX = "allo"
_BIP39_WORD_COUNTS = (12, 15, 18, 21, 24)


def is_valid_address(address: str, prefix: str = BECH32_PREFIX) -> bool:
    from bip_utils import Bech32Decoder

    try:
        return len(Bech32Decoder.Decode(prefix, address)) == 20
    except Exception:
        return False


def normalize_mnemonic(mnemonic: str) -> str:
    return " ".join(mnemonic.strip().lower().split())


def check_mnemonic(mnemonic: str) -> str | None:
    """None when the mnemonic is a valid BIP39 phrase, else a plain-words problem (no words echoed)."""
    words = normalize_mnemonic(mnemonic).split()
    if len(words) not in _BIP39_WORD_COUNTS:
        return f"mnemonic has {len(words)} words; a BIP39 mnemonic has 12, 15, 18, 21 or 24"
    from bip_utils import Bip39MnemonicValidator

    wordlist = english_words()
    unknown = sum(1 for w in words if w not in wordlist)
    if unknown:
        return f"mnemonic has {unknown} word(s) that are not in the BIP39 English word list"
    try:
        if not Bip39MnemonicValidator().IsValid(" ".join(words)):
            return "mnemonic fails its BIP39 checksum (a word is wrong or out of order)"
    except Exception:
        return "mnemonic has a word that is not in the BIP39 English word list"
    return None


@functools.cache
def english_words() -> frozenset[str]:
    """The 2048 words of the BIP39 English list (bip-utils ships it)."""
    from bip_utils import Bip39Languages
    from bip_utils.bip.bip39.bip39_mnemonic_utils import Bip39WordsListGetter

    words = Bip39WordsListGetter().GetByLanguage(Bip39Languages.ENGLISH)
    return frozenset(words.GetWordAtIdx(i) for i in range(words.Length()))


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
