"""What every emissions version shares: the query stub, the worker data bundle, registration.

An adapter is chosen by probing the node (`chain.emissions.probe`). Versions differ only where the
chain's messages differ (how an inference carries its value, which labels a topic takes, how
admission can be checked); those few methods are overridden in `v9.py` / `v10.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any as TAny

from allora_worker.chain.canonical import canonical_decimal
from allora_worker.chain.protos import Any, emissions_v3
from allora_worker.chain.wallet import Wallet


class UnsupportedTopic(ValueError):
    """The topic's shape (output arity, labels) is one this worker cannot submit to."""


@dataclass(frozen=True)
class Payload:
    msg: Any  # the InsertWorkerPayloadRequest wrapped for a TxBody
    value: str  # the canonical decimal string signed


class EmissionsAdapter:
    version: int = 0
    pkg: ModuleType

    @property
    def name(self) -> str:
        return f"emissions.v{self.version}"

    def url(self, message: str) -> str:
        return f"/{self.name}.{message}"

    def query(self, channel: TAny) -> TAny:
        return self.pkg.QueryServiceStub(channel)

    # -- what differs between versions ---------------------------------------------------------

    def inference(self, topic: TAny, topic_id: int, nonce: int, inferer: str, value: str) -> TAny:
        raise NotImplementedError

    def check_topic(self, topic: TAny) -> str:
        """A plain description of what this worker will send to `topic`; raises UnsupportedTopic."""
        return "one value"

    async def admitted(self, stub: TAny, topic_id: int, nonce: int, address: str, timeout: float) -> bool | None:
        """While the window is open: whether the chain holds our inference for `nonce` in the
        window's active set; None when this version cannot tell."""
        return None

    async def in_closed_set(self, stub: TAny, topic_id: int, nonce: int, address: str,
                            timeout: float) -> bool | None:
        """After the window closed: whether our inference is in the set the chain kept for `nonce`.

        Closing a window writes its active set's inferences under the nonce (allora-chain
        x/emissions/keeper/actor_utils/worker.go CloseWorkerNonce -> InsertActiveInferences), read
        by GetInferencesAtBlock (v9 and v10 alike). An empty set says nothing: a code-0 tx that was
        not admitted met a full set, so a closed window without us still lists others; empty means
        the set was never written or was pruned since (PruneRecordsAfterRewards): unknown.
        """
        resp = await stub.get_inferences_at_block(
            self.pkg.GetInferencesAtBlockRequest(topic_id=topic_id, block_height=nonce), timeout=timeout)
        kept = list(resp.inferences.inferences) if resp.inferences is not None else []
        if not kept:
            return None
        return any(i.inferer == address for i in kept)

    # -- shared --------------------------------------------------------------------------------

    def payload(self, wallet: Wallet, topic: TAny, topic_id: int, nonce: int, value: float | str) -> Payload:
        canonical = canonical_decimal(value)
        inference = self.inference(topic, topic_id, nonce, wallet.address, canonical)
        bundle = self.pkg.InputInferenceForecastBundle(inference=inference)
        # The chain verifies secp256k1 over sha256(serialized bundle); Wallet.sign hashes with sha256.
        signature = wallet.sign(bytes(bundle))
        msg = self.pkg.InsertWorkerPayloadRequest(
            sender=wallet.address,
            worker_data_bundle=self.pkg.InputWorkerDataBundle(
                worker=wallet.address,
                nonce=emissions_v3.Nonce(block_height=nonce),
                topic_id=topic_id,
                inference_forecasts_bundle=bundle,
                inferences_forecasts_bundle_signature=signature,
                pubkey=wallet.public_key_hex,
            ),
        )
        return Payload(Any(type_url=self.url("InsertWorkerPayloadRequest"), value=bytes(msg)), canonical)

    def register(self, wallet: Wallet, topic_id: int) -> Any:
        msg = self.pkg.RegisterRequest(sender=wallet.address, topic_id=topic_id, owner=wallet.address,
                                       is_reputer=False)
        return Any(type_url=self.url("RegisterRequest"), value=bytes(msg))
