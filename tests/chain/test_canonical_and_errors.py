"""Pure units: the canonical decimal string and the chain-code → error-class table."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest
from allora_sdk.rpc_client.dec_canonical import canonicalize_dec

from allora_worker.chain import errors as E
from allora_worker.chain.canonical import ValueNotCanonicalizable, apd_text, canonical_decimal
from allora_worker.chain.fees import FeePlan, parse_dec_coin_amount
from allora_worker.devnet import decimal_canon


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0123, "0.0123"), (-0.0, "0"), (0, "0"), (-3.0, "-3"), (1200.0, "1200"), ("1.500", "1.5"),
        ("+2", "2"), ("00012.30", "12.3"), ("1E+3", "1000"), (1e-6, "0.000001"),
        (-1.2345e-05, "-0.000012345"),
        (0.1 + 0.2, "0.30000000000000004"), (Decimal("7.10"), "7.1"),
        # Below 1e-6 the chain's own text has an exponent: it is the only form that round-trips.
        (1.5e-7, "1.5E-7"),
    ],
)
def test_canonical_examples(value: object, text: str) -> None:
    assert canonical_decimal(value) == text  # type: ignore[arg-type]


def test_canonical_round_trips_through_the_chain_marshaller() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        v = rng.choice([rng.uniform(-1, 1), rng.gauss(0, 0.05), rng.uniform(-1e6, 1e6),
                        rng.uniform(-1, 1) * 10 ** rng.randint(-12, 12)])
        s = canonical_decimal(v)
        # Three independent implementations of apd Text('G') agree the string is a fixed point.
        assert apd_text(s) == s == decimal_canon.canonical(s) == canonicalize_dec(s), v
        assert float(s) == v
        if abs(v) >= 1e-6:
            assert "E" not in s and "e" not in s and not s.startswith("+")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "abc", "NaN", True])
def test_non_finite_is_refused(bad: object) -> None:
    with pytest.raises(ValueNotCanonicalizable):
        canonical_decimal(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("codespace", "code", "log", "cls"),
    [
        ("emissions", 78, "cannot update EMA more than once per window", E.AlreadySubmitted),
        ("emissions", 67, "worker nonce window not available", E.WindowClosed),
        ("emissions", 75, "unfulfilled nonce not found", E.WindowClosed),
        ("emissions", 73, "cannot pay the data sending fee", E.OutOfFunds),
        ("emissions", 13, "address not registered", E.NotRegistered),
        ("sdk", 32, "account sequence mismatch, expected 7, got 5", E.SequenceMismatch),
        ("sdk", 13, "insufficient fees; got: 10uallo required: 2500uallo", E.InsufficientFee),
        ("sdk", 11, "out of gas in location: txSize; gasWanted: 100, gasUsed: 150: out of gas", E.OutOfGas),
        ("sdk", 20, "mempool is full", E.MempoolFull),
        ("sdk", 5, "insufficient funds", E.OutOfFunds),
        ("undefined", 1, "inference already submitted", E.AlreadySubmitted),
        (None, None, "rpc error: not in topic worker whitelist", E.NotWhitelisted),
        ("sdk", 4, "signature verification failed", E.Rejected),
    ],
)
def test_classify(codespace: str | None, code: int | None, log: str, cls: type[E.ChainError]) -> None:
    err = E.classify(codespace, code, log, txhash="AB")
    assert type(err) is cls and err.code == code and err.txhash == "AB"
    assert err.handling


def test_classify_extracts_numbers_and_redacts() -> None:
    from allora_worker.secrets import register_secret

    seq = E.classify("sdk", 32, "account sequence mismatch, expected 7, got 5")
    assert isinstance(seq, E.SequenceMismatch) and seq.expected == 7
    fee = E.classify("sdk", 13, "insufficient fees; got: 10uallo required: 2500uallo")
    assert isinstance(fee, E.InsufficientFee) and fee.required == 2500
    gas = E.classify("sdk", 11, "out of gas in location: txSize; gasWanted: 100, gasUsed: 150: out of gas")
    assert isinstance(gas, E.OutOfGas) and (gas.gas_wanted, gas.gas_used) == (100, 150)
    register_secret("hunter2-super-secret")
    leaked = E.classify(None, None, "boom hunter2-super-secret")
    assert "hunter2-super-secret" not in str(leaked) and "***" in str(leaked)


def test_fee_plan_cap_and_reprice() -> None:
    plan = FeePlan(gas_limit=100_000, gas_price=Decimal(15), base_price=Decimal(10), max_fee=1_200_000)
    assert plan.fee() == 1_200_000  # tier over the cap, minimum under it: clamped
    plan.reprice(required=1_100_000, last_fee=1_000_000)
    assert plan.gas_price >= Decimal(11)
    with pytest.raises(E.FeeCapExceeded):
        plan.reprice(required=None, last_fee=1_200_000)
    with pytest.raises(E.FeeCapExceeded):
        FeePlan(gas_limit=100_000, gas_price=Decimal(20), base_price=Decimal(20), max_fee=10).fee()
    assert parse_dec_coin_amount("10000000000000000000") == Decimal(10)
    assert parse_dec_coin_amount("0.025") == Decimal("0.025")
