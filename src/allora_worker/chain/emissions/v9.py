"""emissions v9 (allora-chain v0.16.x): an inference carries one unlabeled `value`."""

from __future__ import annotations

from typing import Any as TAny

from allora_worker.chain.emissions.base import EmissionsAdapter
from allora_worker.chain.protos import emissions_v9


class V9(EmissionsAdapter):
    version = 9
    pkg = emissions_v9

    def inference(self, topic: TAny, topic_id: int, nonce: int, inferer: str, value: str) -> TAny:
        return emissions_v9.InputInference(topic_id=topic_id, block_height=nonce, inferer=inferer, value=value)
