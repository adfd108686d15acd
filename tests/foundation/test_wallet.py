from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from allora_worker.chain.wallet import Wallet, WalletError, load_wallet, verify
from allora_worker.wallet_format import check_mnemonic
from tests.conftest import TEST_ADDRESS, TEST_MNEMONIC


def test_abandon_art_vector_derives_the_published_address() -> None:
    wallet = Wallet.from_mnemonic(TEST_MNEMONIC)
    assert wallet.address == TEST_ADDRESS
    assert len(wallet.public_key) == 33 and wallet.public_key[0] in (2, 3)


def test_mnemonic_spacing_and_case_do_not_change_the_key() -> None:
    messy = "  " + TEST_MNEMONIC.upper().replace(" ", "   ") + "\n"
    assert Wallet.from_mnemonic(messy).address == TEST_ADDRESS


def test_signature_is_compact_low_s_and_verifies_only_its_message() -> None:
    wallet = Wallet.from_mnemonic(TEST_MNEMONIC)
    signature = wallet.sign(b"bundle bytes")
    assert len(signature) == 64
    s = int.from_bytes(signature[32:], "big")
    secp256k1_order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    assert s <= secp256k1_order // 2
    assert verify(wallet.public_key, b"bundle bytes", signature)
    assert not verify(wallet.public_key, b"bundle bytez", signature)


def test_repr_never_shows_key_material() -> None:
    wallet = Wallet.from_mnemonic(TEST_MNEMONIC)
    assert "abandon" not in repr(wallet) and TEST_ADDRESS in repr(wallet)


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        (" ".join(["abandon"] * 24), "checksum"),
        (" ".join(["abandon"] * 11), "11 words"),
        (" ".join(["abandon"] * 23 + ["notaword"]), "word list"),
    ],
)
def test_bad_mnemonics_are_explained(phrase: str, expected: str) -> None:
    problem = check_mnemonic(phrase)
    assert problem is not None and expected in problem
    with pytest.raises(WalletError, match=expected):
        Wallet.from_mnemonic(phrase)


def test_key_file_readable_by_others_is_refused(mnemonic_file: Path) -> None:
    mnemonic_file.chmod(0o644)
    with pytest.raises(WalletError, match="chmod 600"):
        load_wallet(None, mnemonic_file)


def test_key_file_0600_loads(mnemonic_file: Path) -> None:
    assert load_wallet(None, mnemonic_file).address == TEST_ADDRESS


def test_expected_address_must_match() -> None:
    other = "allo1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
    with pytest.raises(WalletError, match="ALLORA_WALLET_ADDR"):
        load_wallet(TEST_MNEMONIC, None, other)
    assert load_wallet(TEST_MNEMONIC, None, TEST_ADDRESS).address == TEST_ADDRESS


@pytest.mark.parametrize("words", [12, 15, 18, 21, 24])
def test_wallet_derives_what_bip_utils_derives(words: int) -> None:
    """The wallet uses mnemonic + bip32 + bech32 (light imports); bip-utils, which the devnet
    still uses, is the independent reference: same key, same address, same verdicts."""
    from bip_utils import (
        Bech32Decoder,
        Bip39MnemonicGenerator,
        Bip39MnemonicValidator,
        Bip39SeedGenerator,
        Bip39WordsNum,
        Bip44,
        Bip44Changes,
        Bip44Coins,
    )

    from allora_worker.wallet_format import is_valid_address

    for _ in range(4):
        phrase = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum(words)))
        ref = (Bip44.FromSeed(Bip39SeedGenerator(phrase).Generate(), Bip44Coins.COSMOS)
               .Purpose().Coin().Account(0).Change(Bip44Changes.CHAIN_EXT).AddressIndex(0))
        ref_key = ref.PrivateKey().Raw().ToBytes()
        wallet = Wallet.from_mnemonic(phrase)
        assert wallet.public_key == ref.PublicKey().RawCompressed().ToBytes()
        assert wallet.address == Wallet.from_private_key(ref_key).address
        assert Bech32Decoder.Decode("allo", wallet.address) == hashlib.new(
            "ripemd160", hashlib.sha256(wallet.public_key).digest()).digest()
        assert is_valid_address(wallet.address)
        assert not is_valid_address(wallet.address[:-1] + ("q" if wallet.address[-1] != "q" else "p"))
        assert not is_valid_address("cosmos" + wallet.address[4:])
        # A swapped pair of words: both checks must agree on the checksum verdict.
        split = phrase.split()
        split[0], split[1] = split[1], split[0]
        swapped = " ".join(split)
        assert (check_mnemonic(swapped) is None) == Bip39MnemonicValidator().IsValid(swapped)
