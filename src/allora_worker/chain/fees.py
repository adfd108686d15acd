"""Gas and fee policy: simulated gas × adjustment, feemarket price × tier, a hard fee cap."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from allora_worker.chain.errors import FeeCapExceeded

# LegacyDec travels over gRPC as its integer representation scaled by 1e18 (no decimal point).
_LEGACY_DEC_SCALE = Decimal(10) ** 18
# Each reprice after an "insufficient fee" answer raises the gas price by this factor.
REPRICE_FACTOR = Decimal("1.5")
# Each "out of gas" raises the limit by this factor (or to what the chain says it used, if more).
REGAS_FACTOR = 1.5


def parse_dec_coin_amount(amount: str) -> Decimal:
    """A DecCoin amount as sent by the node: '0.025' (text) or '25000000000000000' (LegacyDec wire)."""
    text = amount.strip()
    if not text:
        return Decimal(0)
    if "." in text:
        return Decimal(text)
    return Decimal(text) / _LEGACY_DEC_SCALE


@dataclass
class FeePlan:
    """The gas limit and gas price of the next attempt, and the cap nothing may exceed."""

    gas_limit: int
    gas_price: Decimal  # uallo per gas, tier included
    base_price: Decimal  # the market minimum, tier excluded
    max_fee: int

    def fee(self) -> int:
        """The fee for this attempt; clamped to the cap when only the tier pushes it over."""
        wanted = math.ceil(self.gas_limit * self.gas_price)
        if wanted <= self.max_fee:
            return wanted
        minimum = math.ceil(self.gas_limit * self.base_price)
        if minimum > self.max_fee:
            raise FeeCapExceeded(
                f"the minimum fee {minimum} uallo (gas {self.gas_limit} × price {self.base_price}) exceeds "
                f"max_fee {self.max_fee} uallo; raise max_fee or wait for lower gas prices"
            )
        return self.max_fee

    def reprice(self, required: int | None, last_fee: int) -> None:
        """After 'insufficient fee': pay at least what the node asked for, and more than last time."""
        if last_fee >= self.max_fee:
            raise FeeCapExceeded(
                f"the node wants more than max_fee {self.max_fee} uallo (asked {required}); "
                "raise max_fee or wait for lower gas prices"
            )
        price = self.gas_price * REPRICE_FACTOR
        if required is not None and self.gas_limit > 0:
            price = max(price, Decimal(required) / self.gas_limit)
        self.gas_price = price
        self.base_price = max(self.base_price, price / REPRICE_FACTOR)
        if required is not None and required > self.max_fee:
            raise FeeCapExceeded(
                f"the node requires {required} uallo, above max_fee {self.max_fee} uallo; "
                "raise max_fee or wait for lower gas prices"
            )

    def regas(self, gas_used: int | None, gas_adjustment: float) -> None:
        bigger = int(self.gas_limit * REGAS_FACTOR)
        if gas_used:
            bigger = max(bigger, int(gas_used * gas_adjustment))
        self.gas_limit = bigger
