"""emissions.v{9,10}.QueryService: the topic, nonce, window and registration queries a worker makes.

A node serves the query service of its current emissions version only (allora-chain app/app.go
registers one x/emissions module; app/upgrades switch it in place): the other version's calls
answer UNIMPLEMENTED, as grpc-go does for an unknown service. `ChainState.emissions_version`
decides, so a scheduled upgrade switches the services at its height.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from types import ModuleType
from typing import Any

from allora_sdk.rpc_client.protos.emissions import v2, v3, v9, v10
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from allora_worker.devnet.services.base import DevnetService, Method
from allora_worker.devnet.state import TopicState

_ARITY = {"single": v10.TopicOutputArity.SINGLE, "multi": v10.TopicOutputArity.MULTI}


class EmissionsQueryService(DevnetService):
    SERVICE = "emissions.v10.QueryService"
    VERSION = 10
    em: ModuleType = v10

    def _served(self, func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def call(request: Any) -> Any:
            if self.state.emissions_version != self.VERSION:
                raise GRPCError(Status.UNIMPLEMENTED, f"unknown service {self.SERVICE}")
            return func(request)

        return call

    def methods(self) -> list[Method]:
        return [(name, self._served(func), req, resp) for name, func, req, resp in self._methods()]

    def _methods(self) -> list[Method]:
        em = self.em
        methods: list[Method] = [
            ("GetParams", self.get_params, em.GetParamsRequest, em.GetParamsResponse),
            ("GetNextTopicId", self.get_next_topic_id, em.GetNextTopicIdRequest, em.GetNextTopicIdResponse),
            ("GetTopic", self.get_topic, em.GetTopicRequest, em.GetTopicResponse),
            ("TopicExists", self.topic_exists, em.TopicExistsRequest, em.TopicExistsResponse),
            ("IsTopicActive", self.is_topic_active, em.IsTopicActiveRequest, em.IsTopicActiveResponse),
            (
                "GetUnfulfilledWorkerNonces",
                self.unfulfilled,
                em.GetUnfulfilledWorkerNoncesRequest,
                em.GetUnfulfilledWorkerNoncesResponse,
            ),
            (
                "GetOpenWorkerSubmissionWindows",
                self.open_windows,
                em.GetOpenWorkerSubmissionWindowsRequest,
                em.GetOpenWorkerSubmissionWindowsResponse,
            ),
            (
                "IsWorkerNonceUnfulfilled",
                self.is_unfulfilled,
                em.IsWorkerNonceUnfulfilledRequest,
                em.IsWorkerNonceUnfulfilledResponse,
            ),
            (
                "CanSubmitWorkerPayload",
                self.can_submit,
                em.CanSubmitWorkerPayloadRequest,
                em.CanSubmitWorkerPayloadResponse,
            ),
            (
                "IsWorkerRegisteredInTopicId",
                self.is_registered,
                em.IsWorkerRegisteredInTopicIdRequest,
                em.IsWorkerRegisteredInTopicIdResponse,
            ),
            (
                "GetWorkerSubmissionWindowStatus",
                self.window_status,
                em.GetWorkerSubmissionWindowStatusRequest,
                em.GetWorkerSubmissionWindowStatusResponse,
            ),
            (
                "GetLatestNetworkInferences",
                self.latest_network_inferences,
                em.GetLatestNetworkInferencesRequest,
                em.GetLatestNetworkInferencesResponse,
            ),
            (
                "GetInfererScoreEma",
                self.inferer_score_ema,
                em.GetInfererScoreEmaRequest,
                em.GetInfererScoreEmaResponse,
            ),
            (
                "GetCurrentLowestInfererScore",
                self.lowest_inferer_score,
                em.GetCurrentLowestInfererScoreRequest,
                em.GetCurrentLowestInfererScoreResponse,
            ),
            # allora-chain x/emissions/keeper/queryserver/query_server_inferences.go
            (
                "GetNetworkInferencesAtBlock",
                self.network_inferences_at_block,
                em.GetNetworkInferencesAtBlockRequest,
                em.GetNetworkInferencesAtBlockResponse,
            ),
            # allora-chain x/emissions/keeper/queryserver/query_server_inferences.go: the set the
            # chain wrote when the window closed (empty before, or when nobody was active).
            (
                "GetInferencesAtBlock",
                self.inferences_at_block,
                em.GetInferencesAtBlockRequest,
                em.GetInferencesAtBlockResponse,
            ),
        ]
        if self.VERSION >= 10:
            methods.append((
                "GetWorkerLatestInputInferenceByTopicId",
                self.latest_input_inference,
                em.GetWorkerLatestInputInferenceByTopicIdRequest,
                em.GetWorkerLatestInputInferenceByTopicIdResponse,
            ))
        else:
            methods.append((
                "GetWorkerLatestInferenceByTopicId",
                self.latest_inference,
                em.GetWorkerLatestInferenceByTopicIdRequest,
                em.GetWorkerLatestInferenceByTopicIdResponse,
            ))
        return methods

    def inferences_at_block(self, request: Any) -> Any:
        self._topic(request.topic_id)
        stored = self.state.inferences_at_block(request.topic_id, request.block_height)
        if self.VERSION >= 10:
            inferences = [v10.Inference(topic_id=request.topic_id, block_height=request.block_height, inferer=a,
                                        values=[value]) for a, value in stored]
            return v10.GetInferencesAtBlockResponse(inferences=v10.Inferences(inferences=inferences))
        old = [v3.Inference(topic_id=request.topic_id, block_height=request.block_height, inferer=a, value=value)
               for a, value in stored]
        return self.em.GetInferencesAtBlockResponse(inferences=v3.Inferences(inferences=old))

    def latest_inference(self, request: Any) -> Any:
        """v9: the worker's inference held for the open window (keeper GetWorkerLatestInferenceByTopicId)."""
        self._topic(request.topic_id)
        live = self.state.live_inference(request.topic_id, request.worker_address)
        if live is None:
            raise GRPCError(Status.NOT_FOUND, "worker inference not found: not found")
        return self.em.GetWorkerLatestInferenceByTopicIdResponse(latest_inference=v3.Inference(
            topic_id=live.topic_id, block_height=live.nonce, inferer=live.worker, value=live.value))

    def network_inferences_at_block(
        self, request: Any
    ) -> Any:
        self._topic(request.topic_id)
        combined = self.state.network_inference(request.topic_id, request.block_height_last_inference)
        if combined is None:
            raise GRPCError(Status.NOT_FOUND, "network inference not found: not found")
        em = self.em
        value = [v10.LabeledValue(value=repr(combined))] if self.VERSION >= 10 else repr(combined)
        return em.GetNetworkInferencesAtBlockResponse(network_inferences=em.NetworkInferenceBundle(
            topic_id=request.topic_id, nonce=request.block_height_last_inference, combined_value=value))

    def _topic(self, topic_id: int) -> TopicState:
        topic = self.state.topics.get(topic_id)
        if topic is None:
            # collections.ErrNotFound surfaces as NotFound through the gRPC gateway.
            raise GRPCError(Status.NOT_FOUND, f"topic {topic_id} not found: not found")
        return topic

    def get_params(self, _: Any) -> Any:
        cfg = self.state.config
        return self.em.GetParamsResponse(
            params=v9.Params(
                version=f"v{self.VERSION}-devnet",
                registration_fee=str(cfg.registration_fee),
                data_sending_fee=str(cfg.data_sending_fee),
                max_unfulfilled_worker_requests=100,
                min_epoch_length=1,
                max_string_length=255,
                max_elements_per_forecast=12,
                max_top_inferers_to_reward=48,
            )
        )

    def get_next_topic_id(self, _: Any) -> Any:
        return self.em.GetNextTopicIdResponse(next_topic_id=max(self.state.topics, default=0) + 1)

    def get_topic(self, request: Any) -> Any:
        with self.state.lock:
            topic = self._topic(request.topic_id)
            cfg = topic.config
            extra: dict[str, Any] = {}
            if self.VERSION >= 10:
                extra = {"output_arity": _ARITY[cfg.output_arity], "max_labels_per_submission": cfg.max_labels,
                         "label_whitelist": list(cfg.label_whitelist)}
            em = self.em
            return em.GetTopicResponse(
                topic=em.Topic(
                    id=cfg.id,
                    creator=cfg.creator,
                    metadata=cfg.metadata,
                    loss_method=cfg.loss_method,
                    epoch_last_ended=topic.last_epoch_start,
                    epoch_length=cfg.epoch_length,
                    ground_truth_lag=cfg.ground_truth_lag,
                    worker_submission_window=cfg.worker_submission_window,
                    allow_negative=cfg.allow_negative,
                    p_norm="3",
                    alpha_regret="0.1",
                    epsilon="0.01",
                    initial_regret="0",
                    merit_sortition_alpha="0.1",
                    active_inferer_quantile="0.25",
                    active_forecaster_quantile="0.25",
                    active_reputer_quantile="0.25",
                    **extra,
                ),
                weight="0",
                effective_revenue="0",
                topic_stake="0",
            )

    def topic_exists(self, request: Any) -> Any:
        return self.em.TopicExistsResponse(exists=request.topic_id in self.state.topics)

    def is_topic_active(self, request: Any) -> Any:
        topic = self.state.topics.get(request.topic_id)
        return self.em.IsTopicActiveResponse(is_active=topic is not None and topic.config.active)

    def _nonces(self, topic_id: int) -> v3.Nonces:
        return v3.Nonces(nonces=[v3.Nonce(block_height=n) for n in self.state.unfulfilled_nonces(topic_id)])

    def unfulfilled(
        self, request: Any
    ) -> Any:
        return self.em.GetUnfulfilledWorkerNoncesResponse(nonces=self._nonces(request.topic_id))

    def open_windows(
        self, request: Any
    ) -> Any:
        with self.state.lock:
            topic = self.state.topics.get(request.topic_id)
            heights = sorted(topic.open_nonces, reverse=True) if topic else []
        return self.em.GetOpenWorkerSubmissionWindowsResponse(
            nonces=v3.Nonces(nonces=[v3.Nonce(block_height=n) for n in heights])
        )

    def is_unfulfilled(
        self, request: Any
    ) -> Any:
        return self.em.IsWorkerNonceUnfulfilledResponse(
            is_worker_nonce_unfulfilled=self.state.is_nonce_unfulfilled(
                request.topic_id, request.block_height
            )
        )

    def _whitelisted(self, topic: TopicState, address: str) -> bool:
        whitelist = topic.config.worker_whitelist
        return whitelist is None or address in whitelist

    def can_submit(self, request: Any) -> Any:
        topic = self._topic(request.topic_id)
        return self.em.CanSubmitWorkerPayloadResponse(
            can_submit_worker_payload=self._whitelisted(topic, request.address)
        )

    def is_registered(
        self, request: Any
    ) -> Any:
        with self.state.lock:
            topic = self.state.topics.get(request.topic_id)
            return self.em.IsWorkerRegisteredInTopicIdResponse(
                is_registered=topic is not None and request.address in topic.workers
            )

    def window_status(
        self, request: Any
    ) -> Any:
        with self.state.lock:
            topic = self._topic(request.topic_id)
            cfg = topic.config
            height = self.state.height
            current = max(topic.open_nonces, default=0)
            next_start = self.state.next_epoch_start(topic)
            return self.em.GetWorkerSubmissionWindowStatusResponse(
                is_open=bool(current) and current <= height <= topic.open_nonces[current],
                current_nonce_block_height=current,
                window_start_block=current,
                window_end_block=current + cfg.worker_submission_window if current else 0,
                next_window_start_block=next_start,
                next_window_end_block=next_start + cfg.worker_submission_window,
                is_registered=request.address in topic.workers,
                is_whitelisted=self._whitelisted(topic, request.address),
                is_topic_active=cfg.active,
            )

    def latest_network_inferences(
        self, request: Any
    ) -> Any:
        # The devnet runs no reputers and computes no network inference: an empty bundle, as on a
        # topic before its first reward epoch.
        self._topic(request.topic_id)
        return self.em.GetLatestNetworkInferencesResponse(
            network_inferences=self.em.NetworkInferenceBundle(topic_id=request.topic_id), inference_block_height=0
        )

    def latest_input_inference(
        self, request: Any
    ) -> Any:
        # Held only while the worker is in an open window's active set (ChainState.live_inference).
        last = self.state.live_inference(request.topic_id, request.worker_address)
        if last is None:
            raise GRPCError(Status.NOT_FOUND, "worker inference not found: not found")
        return self.em.GetWorkerLatestInputInferenceByTopicIdResponse(
            latest_input_inference=self.em.InputInference(
                topic_id=last.topic_id,
                block_height=last.nonce,
                inferer=last.worker,
                values=[self.em.InputLabeledValue(label="y", value=last.value)],
            )
        )

    def inferer_score_ema(self, request: Any) -> Any:
        score, height = self.state.ema_score(request.topic_id, request.inferer)
        return self.em.GetInfererScoreEmaResponse(
            score=v3.Score(topic_id=request.topic_id, block_height=height, address=request.inferer, score=repr(score))
        )

    def lowest_inferer_score(self, request: Any) -> Any:
        # The lowest EMA score of the active set of the newest window (keeper GetLowestInfererScoreEma).
        with self.state.lock:
            topic = self._topic(request.topic_id)
            nonce = max(topic.active, default=0)
        lowest = self.state.lowest_active_score(request.topic_id, nonce)
        return self.em.GetCurrentLowestInfererScoreResponse(
            score=v3.Score(topic_id=request.topic_id, block_height=nonce, address="",
                           score="" if lowest is None else repr(lowest))
        )


class EmissionsQueryServiceV9(EmissionsQueryService):
    SERVICE = "emissions.v9.QueryService"
    VERSION = 9
    em = v9


class OldEmissionsQueryService(EmissionsQueryService):
    """An older emissions version's query service: only its parameters query, enough for a worker
    to name what a node serves. Registered for every version a probe asks, so a node of another
    version answers UNIMPLEMENTED (grpc-go's "unknown service"), never a bare HTTP/2 error."""

    PARAMS = "GetParams"

    def _methods(self) -> list[Method]:
        module = self.em
        request = getattr(module, "GetParamsRequest", None) or getattr(module, "QueryParamsRequest", None)
        response = getattr(module, "GetParamsResponse", None) or getattr(module, "QueryParamsResponse", None)
        if request is None or response is None:  # the SDK ships no v1 query types: v2's, both empty
            request, response = v2.QueryParamsRequest, v2.QueryParamsResponse
        return [(self.PARAMS, self.get_params, request, response)]

    def get_params(self, _: Any) -> Any:
        return self._methods()[0][3]()


def _old(version: int) -> type[OldEmissionsQueryService]:
    # v1-v3 name the service `Query` and the call `Params`; v4 renamed them
    # (allora-chain x/emissions/proto/emissions/v{1,2,3,4}/query.proto).
    module = import_module(f"allora_sdk.rpc_client.protos.emissions.v{version}")
    service = f"emissions.v{version}.{'Query' if version <= 3 else 'QueryService'}"
    params = "Params" if version <= 3 else "GetParams"
    return type(f"EmissionsQueryServiceV{version}", (OldEmissionsQueryService,),
                {"SERVICE": service, "VERSION": version, "em": module, "PARAMS": params})


OLD_VERSIONS: tuple[type[OldEmissionsQueryService], ...] = tuple(_old(v) for v in range(8, 0, -1))
