"""Every tx that reaches the devnet's CheckTx, decoded: the witness for "no duplicate, no double sign".

Shared by the HA tests and the failover soak (bench/soak_failover.py): a second payload tx for one
window, or a second signature for one account sequence, cannot hide from the node that received it.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from allora_worker.devnet import DevnetThread, txcheck


@dataclass(frozen=True)
class SeenTx:
    txhash: str
    sequence: int
    payload: tuple[int, int] | None  # (topic, nonce) of an InsertWorkerPayload
    at: float


class NodeRecorder:
    """Wraps the devnet's CheckTx: every tx any daemon broadcast, decoded, in arrival order."""

    def __init__(self, dn: DevnetThread) -> None:
        self.seen: list[SeenTx] = []
        # Hashes of the txs CheckTx let into the mempool: such a tx holds its account sequence.
        # One refused there (its timeout height passed, say) can never land and leaves the
        # sequence free to sign again.
        self.admitted: set[str] = set()
        self._lock = threading.Lock()
        state = dn.state
        original = state.check_tx

        def recording(tx_bytes: bytes) -> Any:
            seen = None
            try:
                tx = txcheck.decode_tx(tx_bytes)
                payload = None
                for _, msg in tx.msgs:
                    bundle = getattr(msg, "worker_data_bundle", None)
                    if bundle is not None:
                        payload = (int(bundle.topic_id), int(bundle.nonce.block_height))
                seen = SeenTx(tx.txhash, tx.sequence, payload, time.time())
                with self._lock:
                    self.seen.append(seen)
            except Exception:  # an undecodable tx is the devnet's to refuse, not ours to count
                pass
            result = original(tx_bytes)  # raises when CheckTx refuses the tx
            if seen is not None:
                with self._lock:
                    self.admitted.add(seen.txhash)
            return result

        state.check_tx = recording  # type: ignore[method-assign]

    def double_signed_sequences(self) -> dict[int, set[str]]:
        """Account sequences signed again while a tx already held them: a second distinct tx for a
        sequence after one with that sequence got into the mempool (the first could still land).
        A re-signature after every earlier tx for the sequence was refused at CheckTx is not one."""
        holder: dict[int, str] = {}
        doubled: dict[int, set[str]] = defaultdict(set)
        with self._lock:
            for tx in self.seen:
                held = holder.get(tx.sequence)
                if held is not None and held != tx.txhash:
                    doubled[tx.sequence].update((held, tx.txhash))
                elif held is None and tx.txhash in self.admitted:
                    holder[tx.sequence] = tx.txhash
        return dict(doubled)

    def duplicate_payloads(self) -> dict[tuple[int, int], set[str]]:
        """Windows for which more than one distinct payload tx was sent."""
        by_window: dict[tuple[int, int], set[str]] = defaultdict(set)
        with self._lock:
            for tx in self.seen:
                if tx.payload is not None:
                    by_window[tx.payload].add(tx.txhash)
        return {w: hashes for w, hashes in by_window.items() if len(hashes) > 1}

    def hashes(self) -> set[str]:
        with self._lock:
            return {tx.txhash for tx in self.seen}
