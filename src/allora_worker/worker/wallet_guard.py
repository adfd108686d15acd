"""One wallet, one journal: notice a second worker signing for this wallet from another journal.

The `flock` in the state directory stops a second daemon on the same state directory; a second
daemon with *another* state directory (another host, or a copied config) is invisible to it. The
chain is not: our wallet's inference for a window that this journal never sent a landed tx for
was sent by someone else with this key. Two daemons on one wallet race on the account sequence
and on every window, so the daemon refuses in words and exits 3 (`WalletInUse`):

- at start, before anything is signed: for each topic's open window (and the one before), the
  chain holds our inference but this journal has no landed tx for it;
- while running: the chain answers "already submitted" for a window this journal never landed a
  tx for (the simulation catches it before the payload is signed).

A PostgreSQL journal is shared by the pair, so a takeover's txs are in it and never look foreign.
"""

from __future__ import annotations

from allora_worker.chain import errors as E
from allora_worker.chain.client import ChainClient
from allora_worker.journal import Journal
from allora_worker.logging_setup import get_logger

log = get_logger("worker.wallet_guard")


class WalletInUse(Exception):
    """Another worker with this wallet and another journal is submitting: stop (exit 3)."""


async def landed_here(journal: Journal, client: ChainClient, topic_id: int, nonce: int) -> bool:
    """Whether a tx of this journal for (topic, nonce) is in a block with code 0."""
    entry = journal.get(topic_id, nonce)
    if entry is not None and entry.state == "confirmed" and entry.txhash:
        return True
    hashes = {e.txhash for e in journal.events(topic_id, nonce) if e.txhash}
    for txhash in sorted(hashes):
        resp = await client.get_tx(txhash)
        if resp is not None and int(resp.code) == 0:
            return True
    return False


async def refusal(journal: Journal, client: ChainClient, topic_id: int, nonce: int, how: str) -> WalletInUse:
    """The words for the operator, with the account sequence as the second witness."""
    address = client.wallet.address if client.wallet else "?"
    sequences = [e.sequence for e in journal.entries() if e.sequence is not None]
    try:
        chain_sequence: int | str = (await client.account()).sequence
    except E.ChainError:
        chain_sequence = "unknown"
    ours = f"this journal's last signed tx used sequence {max(sequences)}" if sequences else \
        "this journal has signed nothing yet"
    return WalletInUse(
        f"ANOTHER WORKER IS USING WALLET {address}: {how} topic {topic_id} window {nonce}, and this "
        f"journal ({journal.describe()}) never sent it (account sequence {chain_sequence} on chain; "
        f"{ours}). Two daemons on one wallet race on the account sequence and waste fees. Stop the "
        "other one (another state directory or host), or run both as an active/standby pair on one "
        "PostgreSQL journal (state_url, docs/DEPLOYMENT.md). Refusing to sign anything."
    )


async def check_alone(journal: Journal, client: ChainClient, topic_ids: list[int]) -> None:
    """Before the first signature: raise WalletInUse if a recent window holds our inference that
    this journal did not send."""
    for topic_id in topic_ids:
        try:
            open_nonces = await client.open_nonces(topic_id)
            epoch = int((await client.topic(topic_id)).epoch_length) if open_nonces else 0
        except E.ChainError as exc:
            log.warning("wallet check for topic %d skipped: %s", topic_id, exc)
            continue
        candidates = set(open_nonces) | {n - epoch for n in open_nonces if epoch and n - epoch > 0}
        for nonce in sorted(candidates, reverse=True):
            admission = await client.admission(topic_id, nonce)
            if admission.stored and not await landed_here(journal, client, topic_id, nonce):
                raise await refusal(journal, client, topic_id, nonce, "the chain already holds its inference for")
