"""The wallet and the chain client as the settings describe them (one place for every command).

Above both `config` (plain values) and `chain` (which knows nothing of settings): the one place
that turns the one into the other.
"""

from __future__ import annotations

from allora_worker.chain.client import DEFAULT_REBROADCAST_S, ChainClient
from allora_worker.chain.wallet import Wallet, WalletError, load_wallet
from allora_worker.config import FEE_TIER_MULTIPLIER, Settings


def wallet_from_settings(settings: Settings) -> Wallet:
    """MNEMONIC_FILE (0600) or MNEMONIC, checked against ALLORA_WALLET_ADDR; raises WalletError."""
    if settings.mnemonic is not None and settings.mnemonic_file is not None:
        # Which one signs must never be a silent choice: they may be two different wallets.
        raise WalletError(
            "both MNEMONIC and MNEMONIC_FILE are set: unset MNEMONIC and keep the words only in the "
            "0600 file MNEMONIC_FILE names"
        )
    return load_wallet(
        settings.mnemonic.get_secret_value() if settings.mnemonic else None,
        settings.mnemonic_file,
        settings.wallet_address,
    )


def client_from_settings(settings: Settings, wallet: Wallet | None) -> ChainClient:
    """A ChainClient on the configured endpoints, chain id, fee tier and cap, and deadlines."""
    preset = settings.preset
    return ChainClient(
        settings.effective_endpoints,
        settings.effective_chain_id,
        wallet,
        fee_denom=preset.fee_denom if preset else "uallo",
        gas_adjustment=settings.fees.gas_adjustment,
        fee_multiplier=FEE_TIER_MULTIPLIER[settings.fees.tier],
        max_fee=settings.fees.max_fee_uallo,
        call_timeout_s=settings.chain.call_timeout_seconds,
        confirm_timeout_s=settings.chain.confirm_timeout_seconds,
        fallback_gas_price=preset.min_gas_price if preset else None,
        rebroadcast_s=settings.chain.rebroadcast_seconds or DEFAULT_REBROADCAST_S,
    )
