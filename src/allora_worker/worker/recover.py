"""`journal recover`: rebuild the journal from the chain when it was lost or damaged.

The journal is what stops a second payload tx for a window already paid for. When it is gone
(a wiped state directory, a disk that died, a refused journal), the chain still knows what this
wallet landed: `GetTxsEvent` by `message.sender` lists our successful txs, and each payload tx
names its (topic, nonce). Recover writes one `confirmed` row per landed payload (tx hash, height,
sequence, value), so the restarted daemon skips those windows without asking the chain again,
and rows left unfinished by a crash or a full disk (`signed`, `broadcast`) are settled.

A tx still waiting in a mempool is not in the index yet: recover waits for this wallet's pending
txs to land (the probe of `worker/in_doubt.py`) before it scans, and refuses (exit 3) if they do
not within its budget, since a journal written now would not know them.

What it cannot know: a tx the node's index pruned (nodes keep a limited history), and whether a
code-0 payload was admitted to the active set (recorded `confirmed`; the window took our one try
either way, so a re-send could only fail and pay a fee).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from allora_worker.chain.client import ChainClient
from allora_worker.chain.protos import Tx, TxResponse, emissions_module
from allora_worker.journal import Journal
from allora_worker.journal_guard import JournalRefused, inspect, marker_path, open_journal
from allora_worker.worker.in_doubt import pending_txs

_PAYLOAD = ".InsertWorkerPayloadRequest"


class RecoverRefused(RuntimeError):
    """Recover cannot write a journal that would be complete; the message says why."""


@dataclass(frozen=True)
class Landed:
    topic_id: int
    nonce: int
    txhash: str
    height: int
    sequence: int | None
    value: str | None


@dataclass
class Outcome:
    journal: Path
    set_aside: list[Path] = field(default_factory=list)
    added: list[Landed] = field(default_factory=list)
    confirmed: list[Landed] = field(default_factory=list)
    known: int = 0
    txs_seen: int = 0


def landed_payloads(found: list[tuple[TxResponse, Tx]], worker: str) -> list[Landed]:
    """Our InsertWorkerPayload messages inside successful txs (v9 and v10 payloads)."""
    landed = []
    for response, tx in found:
        if response.code != 0 or tx.body is None:
            continue
        signers = tx.auth_info.signer_infos if tx.auth_info else []
        sequence = int(signers[0].sequence) if signers else None
        for message in tx.body.messages:
            version = _payload_version(message.type_url)
            if version is None:
                continue
            bundle = emissions_module(version).InsertWorkerPayloadRequest().parse(message.value).worker_data_bundle
            if bundle is None or bundle.worker != worker or bundle.nonce is None:
                continue
            landed.append(Landed(int(bundle.topic_id), int(bundle.nonce.block_height), response.txhash.upper(),
                                 int(response.height), sequence, _value(bundle)))
    return landed


def _payload_version(type_url: str) -> int | None:
    # "/emissions.v10.InsertWorkerPayloadRequest" -> 10; the worker signs v9 and v10 payloads.
    if not type_url.endswith(_PAYLOAD):
        return None
    package = type_url.removeprefix("/").removesuffix(_PAYLOAD)
    version = package.removeprefix("emissions.v")
    return int(version) if version in ("9", "10") else None


def _value(bundle: Any) -> str | None:
    inference = bundle.inference_forecasts_bundle.inference if bundle.inference_forecasts_bundle else None
    if inference is None:
        return None
    labeled = getattr(inference, "values", None)
    if labeled:
        return str(labeled[0].value)
    return str(inference.value) or None


def set_aside(path: Path) -> list[Path]:
    """Move a refused journal and its WAL, shared-memory and identity files out of the way (kept
    for a post-mortem), so a new journal can be written in its place."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved = []
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"), marker_path(path)):
        if part.exists():
            target = part.with_name(f"{part.name}.refused-{stamp}")
            part.rename(target)
            moved.append(target)
    return moved


async def wait_for_pending(client: ChainClient, topic_ids: list[int], wait_s: float, poll_s: float) -> int:
    """Wait until no tx of this wallet waits in the node's mempool; the count still pending."""
    deadline = time.monotonic() + wait_s
    while True:
        pending = 0
        for topic_id in topic_ids:
            open_now = await client.open_nonces(topic_id)
            if open_now:
                pending = await pending_txs(client, topic_id, max(open_now))
                break
        if pending == 0 or time.monotonic() >= deadline:
            return pending
        await asyncio.sleep(poll_s)


async def recover(client: ChainClient, path: Path, *, chain_id: str, topic_ids: list[int],
                  wait_s: float = 60.0, poll_s: float = 1.0) -> Outcome:
    """Rebuild or repair the journal at `path` from the chain. Raises `RecoverRefused` or
    `JournalRefused` (the journal belongs to another chain or wallet: nothing is touched)."""
    wallet = client.wallet
    if wallet is None:
        raise RecoverRefused("journal recover needs the wallet (MNEMONIC_FILE or MNEMONIC) the journal belongs to")
    await client.check_chain_id()
    pending = await wait_for_pending(client, topic_ids, wait_s, poll_s)
    if pending:
        raise RecoverRefused(
            f"{pending} tx(s) of {wallet.address} still wait in the node's mempool after {wait_s:.0f} s: a "
            "journal written now would not know them. Run `allora-worker journal recover` again once they landed"
        )
    found = await client.txs_by_sender(wallet.address)
    outcome = Outcome(path, txs_seen=len(found))
    if inspect(path) is not None:
        outcome.set_aside = set_aside(path)
    opened = open_journal(path, chain_id=chain_id, wallet=wallet.address)
    with contextlib.closing(opened.journal) as journal:
        _record(journal, landed_payloads(found, wallet.address), outcome)
    return outcome


def _record(journal: Journal, landed: list[Landed], outcome: Outcome) -> None:
    for item in landed:
        detail = f"recovered from the chain: tx {item.txhash} landed at height {item.height}"
        done = journal.restore_landed(item.topic_id, item.nonce, txhash=item.txhash, height=item.height,
                                      sequence=item.sequence, value=item.value, detail=detail)
        if done == "added":
            outcome.added.append(item)
        elif done == "confirmed":
            outcome.confirmed.append(item)
        else:
            outcome.known += 1


__all__ = ["JournalRefused", "Landed", "Outcome", "RecoverRefused", "landed_payloads", "recover"]
