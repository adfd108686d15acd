"""What a confirmation asks the node: the tx by hash, and no extra height read when a poll has
just read one (each request is ~1-2 ms of CPU in the pure-Python gRPC stack; ~17 per window)."""

from __future__ import annotations

from collections import Counter

from .conftest import Env


def _calls(env: Env) -> Counter[str]:
    counted: Counter[str] = Counter()
    for service in env.devnet.services:
        for path, n in list(service.calls.items()):
            counted[path.rsplit("/", 1)[-1]] += n
    return counted


async def test_a_confirmation_after_a_poll_reads_no_height_before_the_tx_lands(env: Env) -> None:
    c = env.make_client()
    nonce = await env.open_nonce(c, 67)
    await c.latest_height()  # the scheduler's poll, before it signs
    signed = await c.prepare(67, nonce, 0.07)
    await c.broadcast(signed)
    before = _calls(env)
    # The re-send period (3 s by default) is far longer than the devnet's 0.1 s blocks: the tx is
    # found before any re-send, so the only requests are GetTx.
    result = await c.confirm(signed.txhash, resend=signed)
    asked = _calls(env) - before
    assert result.height >= nonce
    assert asked["GetTx"] >= 1
    assert asked["GetLatestBlock"] == 0, dict(asked)
