"""A new journal for a wallet whose tx may still be in flight: "in doubt" until the chain says.

When the journal is new (the state directory was lost or wiped, or moved aside after a refusal),
a tx the lost journal broadcast may still wait in a mempool. A tx that already landed is caught
for free: the payload's simulation answers "already submitted". A tx still *pending* is not: the
simulation passes, and a second payload tx for the same window would be signed with the next
sequence and pay a second fee (code 78 when both land).

The chain shows a pending tx of ours without any index: a simulation signed with the committed
account sequence fails with "account sequence mismatch, expected N+k" when k txs of this wallet
wait in the node's mempool (the SDK's ante handler checks the sequence against CheckTx state).
While any is pending, the windows open now are left to it; submitting starts with the next one.
"""

from __future__ import annotations

from allora_worker.chain import errors as chain_errors
from allora_worker.chain.client import ChainClient
from allora_worker.logging_setup import get_logger
from allora_worker.secrets import describe

log = get_logger("worker.in_doubt")


async def pending_txs(client: ChainClient, topic_id: int, nonce: int) -> int:
    """How many txs of this wallet the node holds in its mempool (0 if none or unknown)."""
    committed = (await client.account()).sequence
    async with client.allocator.lock:
        client.forget_sequence()
        try:
            await client.prepare(topic_id, nonce, "0")  # signed, never broadcast
        except chain_errors.ChainError as exc:
            log.info("pending-tx probe for topic %d nonce %d: %s", topic_id, nonce, describe(exc))
            return 0
        finally:
            seen = client.allocator.next_sequence
            client.forget_sequence()
    return max(0, (seen or committed) - committed)


async def first_safe_nonce(client: ChainClient, topic_ids: list[int]) -> int | None:
    """For a new journal: None when nothing of this wallet is pending; else the lowest nonce that
    may be submitted (above every window open now), said in words."""
    for topic_id in topic_ids:
        open_now = await client.open_nonces(topic_id)
        if not open_now:
            continue
        pending = await pending_txs(client, topic_id, max(open_now))
        if pending:
            height = await client.latest_height()
            log.warning(
                "IN DOUBT: the journal is new, but %d tx(s) of this wallet wait in the node's mempool: a lost "
                "journal's payload may be among them. The windows open now (up to height %d) are left to it; "
                "submitting starts with the next window", pending, height)
            return height + 1
    return None
