"""The inference value as a decimal string the chain re-marshals byte-for-byte.

The chain parses the value into its `alloraMath.Dec` (cockroachdb/apd) and, to check the bundle
signature, marshals it again with apd's `Text('G')`. The signed bytes contain our string, so the
string must equal that re-marshaled form or the signature check fails. We emit the plain form:
no exponent, no leading '+', no leading zeros, no superfluous trailing fractional zeros, '-0' as '0'.

apd itself switches to exponent notation when the value's most significant digit sits below
1e-6 (adjusted exponent < -6); for such tiny non-zero values no plain string round-trips, so we
emit apd's own form (e.g. `1.5E-7`) — the only one the chain accepts unchanged.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

# apd 'G' format: plain notation iff exponent <= 0 and adjusted exponent >= -6.
_ADJ_LIMIT = -6


class ValueNotCanonicalizable(ValueError):
    """The value is not a finite number."""


def canonical_decimal(value: float | int | str | Decimal) -> str:
    """The chain-canonical string of `value` (floats go through their shortest repr, never binary)."""
    d = _to_decimal(value)
    if not d.is_finite():
        raise ValueNotCanonicalizable(f"non-finite value {value!r}")
    if d.is_zero():
        return "0"
    sign, digits_t, exp = d.as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digits_t)).lstrip("0") or "0"
    # Drop trailing zeros of the fraction only (exponent must stay <= 0 for plain notation).
    while exp < 0 and len(digits) > 1 and digits.endswith("0"):
        digits = digits[:-1]
        exp += 1
    if exp > 0:  # 12E+2 -> 1200: move the exponent into the coefficient
        digits += "0" * exp
        exp = 0
    prefix = "-" if sign else ""
    adjusted = exp + len(digits) - 1
    if adjusted < _ADJ_LIMIT:
        # apd's fmtE: d[.ddd]E-n, the only text of this value the chain keeps unchanged.
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{body}E-{-adjusted}"
    if exp == 0:
        return prefix + digits
    point = len(digits) + exp
    if point <= 0:
        return prefix + "0." + "0" * (-point) + digits
    return prefix + digits[:point] + "." + digits[point:]


def apd_text(value: str) -> str:
    """What apd `Text('G')` prints for `value` as parsed (used to check round-trips)."""
    d = Decimal(value)
    sign, digits_t, exp = d.as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digits_t))
    ndigits = len(digits)
    if d.is_zero() and -2000 <= exp < 0:
        ndigits += -exp
    adjusted = exp + ndigits - 1
    prefix = "-" if sign else ""
    if exp <= 0 and adjusted >= _ADJ_LIMIT:
        if exp == 0:
            return prefix + digits
        left = -exp - len(digits)
        if left >= 0:
            return prefix + "0." + "0" * left + digits
        return prefix + digits[: len(digits) + exp] + "." + digits[len(digits) + exp :]
    adj = exp + len(digits) - 1
    body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{prefix}{body}E{'-' if adj < 0 else '+'}{abs(adj)}"


def _to_decimal(value: float | int | str | Decimal) -> Decimal:
    if isinstance(value, bool):
        raise ValueNotCanonicalizable("a bool is not a prediction")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueNotCanonicalizable(f"non-finite value {value!r}")
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueNotCanonicalizable(f"not a decimal: {value!r}") from exc
    raise ValueNotCanonicalizable(f"unsupported value type {type(value).__name__}")
