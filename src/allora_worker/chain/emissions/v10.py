"""emissions v10 (allora-chain v0.17.x): labeled values, topic output arity, admission visible.

Labels follow the topic (x/emissions/keeper/msgserver/msg_server_worker_payload.go,
validateWorkerInferenceLabels): a SINGLE-arity topic takes at most one label, "" or "y"; a MULTI
topic takes up to max_labels_per_submission labels from its whitelist. A worker with one output
can serve SINGLE topics only (and MULTI topics whose whitelist has just "y").
"""

from __future__ import annotations

from typing import Any as TAny

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from allora_worker.chain.emissions.base import EmissionsAdapter, UnsupportedTopic
from allora_worker.chain.protos import emissions_v10

SINGLE_LABEL = "y"
# The legacy `value` field is set to "0" as the official SDK does: left empty, the chain would
# parse it as 0 and re-marshal it as "0", so the bytes it verifies would differ from those signed.
LEGACY_VALUE = "0"


class V10(EmissionsAdapter):
    version = 10
    pkg = emissions_v10

    def label(self, topic: TAny) -> str:
        arity = getattr(topic, "output_arity", emissions_v10.TopicOutputArity.UNSPECIFIED)
        if arity != emissions_v10.TopicOutputArity.MULTI:
            return SINGLE_LABEL
        allowed = list(getattr(topic, "label_whitelist", []) or [])
        if allowed == [SINGLE_LABEL] or (not allowed and int(topic.max_labels_per_submission or 0) >= 1):
            return SINGLE_LABEL
        raise UnsupportedTopic(
            f"topic {topic.id} is a MULTI-output topic (labels {', '.join(allowed) or 'any'}, up to "
            f"{topic.max_labels_per_submission} per submission); this worker's models give one value, so it "
            f"does not submit to MULTI topics: remove topic {topic.id} from the config (docs/PROTOCOL.md, rule 14)"
        )

    def check_topic(self, topic: TAny) -> str:
        return f"one value labeled {self.label(topic)!r}"

    def inference(self, topic: TAny, topic_id: int, nonce: int, inferer: str, value: str) -> TAny:
        label = self.label(topic) if topic is not None else SINGLE_LABEL
        return emissions_v10.InputInference(
            topic_id=topic_id, block_height=nonce, inferer=inferer, value=LEGACY_VALUE,
            values=[emissions_v10.InputLabeledValue(label=label, value=value)],
        )

    async def admitted(self, stub: TAny, topic_id: int, nonce: int, address: str, timeout: float) -> bool | None:
        # GetWorkerLatestInputInferenceByTopicId returns the inference the chain stores for this
        # window (keeper GetWorkerLatestInputInferenceByTopicId); not found = not admitted.
        try:
            resp = await stub.get_worker_latest_input_inference_by_topic_id(
                emissions_v10.GetWorkerLatestInputInferenceByTopicIdRequest(topic_id=topic_id,
                                                                            worker_address=address),
                timeout=timeout,
            )
        except GRPCError as exc:
            if exc.status == Status.NOT_FOUND or "not found" in (exc.message or "").lower():
                return False
            raise
        inference = resp.latest_input_inference
        return inference is not None and int(inference.block_height) == nonce
