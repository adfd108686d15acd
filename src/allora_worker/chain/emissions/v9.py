"""emissions v9 (allora-chain v0.16.x): an inference carries one unlabeled `value`."""

from __future__ import annotations

from typing import Any as TAny

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from allora_worker.chain.emissions.base import EmissionsAdapter
from allora_worker.chain.protos import emissions_v9


class V9(EmissionsAdapter):
    version = 9
    pkg = emissions_v9

    def inference(self, topic: TAny, topic_id: int, nonce: int, inferer: str, value: str) -> TAny:
        return emissions_v9.InputInference(topic_id=topic_id, block_height=nonce, inferer=inferer, value=value)

    async def admitted(self, stub: TAny, topic_id: int, nonce: int, address: str, timeout: float) -> bool | None:
        # v9 names it GetWorkerLatestInferenceByTopicId (an emissions.v3 Inference): the keeper's
        # (topic, worker) inference, held while we are in the open window's active set
        # (x/emissions/keeper/worker.go, WorkerKeeper.GetWorkerLatestInferenceByTopicId); not found = not held.
        try:
            resp = await stub.get_worker_latest_inference_by_topic_id(
                emissions_v9.GetWorkerLatestInferenceByTopicIdRequest(topic_id=topic_id, worker_address=address),
                timeout=timeout,
            )
        except GRPCError as exc:
            if exc.status == Status.NOT_FOUND or "not found" in (exc.message or "").lower():
                return False
            raise
        inference = resp.latest_inference
        return inference is not None and int(inference.block_height) == nonce
