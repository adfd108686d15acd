"""Read-only performance queries: our EMA score, the active set's lowest, the network inference.

The query names are allora-chain's (x/emissions/keeper/queryserver/query_server_score.go:
GetInfererScoreEma, GetCurrentLowestInfererScore; query_server_inferences.go:
GetNetworkInferencesAtBlock). They go through the client's emissions adapter, so they follow the
node's emissions version (v9, v10) like every other query. An absent score is None here.
"""

from __future__ import annotations

import math
from typing import Any

from allora_worker.chain import errors as E
from allora_worker.chain.client import ChainClient


def _number(text: Any) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


async def inferer_score_ema(client: ChainClient, topic_id: int, address: str) -> float | None:
    resp = await client._em("GetInfererScoreEma", lambda a, q, t: q.get_inferer_score_ema(
        a.pkg.GetInfererScoreEmaRequest(topic_id=topic_id, inferer=address), timeout=t))
    return _number(resp.score.score) if resp.score is not None else None


async def lowest_inferer_score(client: ChainClient, topic_id: int) -> float | None:
    """The lowest EMA score in the topic's active set (None when the chain has none)."""
    resp = await client._em("GetCurrentLowestInfererScore", lambda a, q, t: q.get_current_lowest_inferer_score(
        a.pkg.GetCurrentLowestInfererScoreRequest(topic_id=topic_id), timeout=t))
    return _number(resp.score.score) if resp.score is not None else None


async def network_inference_at(client: ChainClient, topic_id: int, nonce: int) -> float | None:
    """The network's combined inference for the nonce, or None when the chain has none (yet)."""
    try:
        resp = await client._em("GetNetworkInferencesAtBlock", lambda a, q, t: q.get_network_inferences_at_block(
            a.pkg.GetNetworkInferencesAtBlockRequest(topic_id=topic_id, block_height_last_inference=nonce),
            timeout=t))
    except E.QueryFailed as exc:
        if exc.not_found:
            return None
        raise
    bundle = resp.network_inferences
    if bundle is None or not bundle.combined_value:
        return None
    combined = bundle.combined_value
    # v10 carries labeled values (the first is the single-output topic's), v9 one decimal string.
    return _number(combined[0].value if isinstance(combined, list) else combined)
