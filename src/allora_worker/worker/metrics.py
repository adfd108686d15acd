"""The Prometheus metrics of one worker process, on a private registry (no global state in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import generate_latest

# Outcomes a cycle can end in; the label set is closed so dashboards and alerts can rely on it.
OUTCOMES = (
    "accepted",
    "already_submitted",
    "missed",
    "not_admitted",
    "rejected",
    "failed",
    "skipped_data",
    "skipped_model",
    "dry_run",
)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # process_start_time_seconds, RSS, open fds, CPU: the restart-loop alert and leak hunting need them.
        ProcessCollector(registry=r)
        self.cycles = Counter("allora_worker_cycles", "Submission cycles run", ["topic"], registry=r)
        self.submissions = Counter(
            "allora_worker_submissions", "Cycle outcomes by topic", ["topic", "outcome"], registry=r
        )
        self.last_success = Gauge(
            "allora_worker_last_success_timestamp_seconds",
            "Unix time of the last accepted submission",
            ["topic"],
            registry=r,
        )
        self.window_to_accepted = Histogram(
            "allora_worker_window_to_accepted_seconds",
            "Seconds from first seeing a window open to its submission being accepted on chain",
            ["topic"],
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.data_age = Gauge(
            "allora_worker_data_age_seconds", "Age of the last closed candle used", ["topic"], registry=r
        )
        self.last_prediction = Gauge(
            "allora_worker_last_prediction", "Last value submitted (or dry-run)", ["topic"], registry=r
        )
        self.balance = Gauge("allora_worker_balance_uallo", "Wallet balance in uallo", registry=r)
        self.loop_heartbeat = Gauge(
            "allora_worker_loop_heartbeat_timestamp_seconds",
            "Unix time the scheduler loop last made progress",
            registry=r,
        )
        self.windows_without_success = Gauge(
            "allora_worker_windows_without_success",
            "Consecutive windows of a topic that ended without an accepted submission",
            ["topic"],
            registry=r,
        )
        self.ready = Gauge("allora_worker_ready", "1 once pre-flight checks passed", registry=r)
        self.topic_fatal = Gauge(
            "allora_worker_topic_fatal",
            "1 when a topic stopped for a reason no retry fixes (e.g. not whitelisted); other topics go on",
            ["topic"],
            registry=r,
        )
        self.emissions_version = Gauge(
            "allora_worker_emissions_version",
            "The emissions module version the node serves (found by probing; changes on a chain upgrade)",
            registry=r,
        )
        # Performance (worker/performance.py): realized loss once a submission's horizon passed.
        self.realized_loss = Gauge(
            "allora_worker_realized_loss_mean",
            "Mean realized loss (the topic's loss function) of accepted submissions past their horizon; "
            "who = ours, zero (the zero baseline) or network (the chain's combined inference)",
            ["topic", "who"],
            registry=r,
        )
        self.realized_count = Gauge(
            "allora_worker_realized_submissions", "Accepted submissions whose horizon passed and were scored",
            ["topic"], registry=r,
        )
        self.score_ema = Gauge("allora_worker_score_ema", "The chain's EMA score of this worker", ["topic"],
                               registry=r)
        self.lowest_active_score = Gauge(
            "allora_worker_active_set_lowest_score", "The lowest EMA score in the topic's active set",
            ["topic"], registry=r,
        )
        self.in_active_set = Gauge(
            "allora_worker_in_active_set", "1 when our EMA score is at or above the active set's lowest",
            ["topic"], registry=r,
        )
        self.runway_days = Gauge(
            "allora_worker_runway_days", "Days the balance lasts at the recent spending rate", registry=r
        )
        self.fees_spent = Gauge(
            "allora_worker_spent_uallo", "uallo spent (balance decreases) over the recorded history", registry=r
        )

    def outcome(self, topic_id: int, outcome: str) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self.submissions.labels(topic=str(topic_id), outcome=outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
