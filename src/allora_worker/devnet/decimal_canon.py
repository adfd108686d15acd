"""The chain's view of a decimal string: parse like apd, re-marshal like `Dec.Marshal` (apd 'G' text).

The chain re-marshals every inference value before it checks the bundle signature, so a value whose
text differs from its re-marshaled form ("+1", "1e-3", "01.5") breaks the signature. Written here
independently of the SDK's `canonicalize_dec` so the devnet checks the SDK rather than echoing it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# apd accepts an optional sign, digits with an optional point, an optional exponent; NaN/Inf are
# parsed by apd but rejected by the chain's Dec type.
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class InvalidDecimal(ValueError):
    """The string is not a finite decimal the chain's Dec type accepts."""


def parse(text: str) -> Decimal:
    if not _NUMBER.match(text):
        raise InvalidDecimal(f"invalid decimal string {text!r}")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise InvalidDecimal(f"invalid decimal string {text!r}") from exc
    if not value.is_finite():
        raise InvalidDecimal(f"non-finite decimal {text!r}")
    return value


def marshal(value: Decimal) -> str:
    """apd `Text('G')`: plain notation unless the adjusted exponent is < -6 or the exponent > 0."""
    sign, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    ndigits = len(digits)
    if all(d == 0 for d in digit_tuple) and -2000 <= exponent < 0:
        # apd pads a zero coefficient so "0.000" stays in plain notation.
        ndigits += -exponent
    adjusted = exponent + ndigits - 1
    prefix = "-" if sign else ""
    if exponent <= 0 and adjusted >= -6:
        if exponent == 0:
            return prefix + digits
        left = -exponent - len(digits)
        if left >= 0:
            return prefix + "0." + "0" * left + digits
        point = len(digits) + exponent
        return prefix + digits[:point] + "." + digits[point:]
    adj = exponent + len(digits) - 1
    body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{prefix}{body}E{'-' if adj < 0 else '+'}{abs(adj)}"


def canonical(text: str) -> str:
    """The chain's re-marshaled form of `text` (raises InvalidDecimal when the chain rejects it)."""
    return marshal(parse(text))


def is_canonical(text: str) -> bool:
    try:
        return canonical(text) == text
    except InvalidDecimal:
        return False
