"""Devnet configuration: chain id, port, block time, topics, genesis accounts, fees, faults."""

from __future__ import annotations

from dataclasses import dataclass, field

from allora_worker.devnet.faults import FaultPlan

DEFAULT_CHAIN_ID = "allora-devnet-1"
# 1 ALLO = 1e18 uallo; genesis accounts get plenty so fee tiers never starve a test.
DEFAULT_FUNDS_UALLO = 10**21


@dataclass
class TopicConfig:
    """One topic as the chain stores it; the worker must read these from the chain, never assume them."""

    id: int
    metadata: str = ""
    epoch_length: int = 12
    worker_submission_window: int = 10
    ground_truth_lag: int = 12
    loss_method: str = "zptae"
    active: bool = True
    creator: str = ""
    allow_negative: bool = True
    # None = no topic worker whitelist (anyone registered may submit), as on topic 67.
    worker_whitelist: list[str] | None = None
    # Blocks a nonce stays listed as unfulfilled after its window closed (submissions then fail
    # with 67 "window not available" instead of 75 "nonce not found"). 0 = it leaves with the window.
    nonce_linger_blocks: int = 0
    # Height offset of the first epoch start: nonces open at heights where (h - offset) % epoch_length == 0.
    epoch_offset: int = 0
    # Active-set cap per window (the topic's max_top_inferers_to_reward; None = unlimited). When the
    # set is full, a payload whose EMA score is not above the set's lowest is included with code 0
    # and NOT stored (allora-chain x/emissions/keeper: PlanInferenceAdmission).
    max_active_inferers: int | None = None
    # Other inferers (address -> EMA score) that fill the active set as each window opens.
    rivals: dict[str, float] = field(default_factory=dict)
    # EMA scores of workers at genesis (address -> score); a worker not listed starts at `initial_ema`.
    ema_scores: dict[str, float] = field(default_factory=dict)
    initial_ema: float = 0.0
    # v10 output arity (allora-chain msg_server_worker_payload.go validateWorkerInferenceLabels):
    # "single" takes at most one label, "" or "y"; "multi" takes up to max_labels from label_whitelist.
    output_arity: str = "single"
    max_labels: int = 1
    label_whitelist: list[str] = field(default_factory=list)
    # The unit of epoch_length / worker_submission_window / ground_truth_lag. "blocks": the released
    # chains (EndBlocker opens a nonce every epoch_length blocks). "seconds": scheduler-driven epochs
    # (allora-chain dev branch: keeper/epoch_migrate.go converts those fields from blocks to seconds;
    # keeper/epoch.go StartNewEpoch runs every epoch_length seconds of block time, the nonce is the
    # block height it ran at; CheckWorkerSubmissionWindow accepts while the block time is in
    # [open_at, open_at + worker_submission_window s]). The fields keep their names: nothing in the
    # topic says which unit it uses.
    timing: str = "blocks"


def topic_67(epoch_length: int = 12, window: int = 10) -> TopicConfig:
    """The flagship topic, in a short-epoch shape so a test sees several windows quickly."""
    return TopicConfig(
        id=67,
        metadata="7 Day BTC/USD Log-Return Prediction",
        epoch_length=epoch_length,
        worker_submission_window=window,
        ground_truth_lag=epoch_length,
        loss_method="zptae",
    )


@dataclass
class DevnetConfig:
    """Everything that shapes a devnet run. `port=0` picks a free port (read `Devnet.port`)."""

    chain_id: str = DEFAULT_CHAIN_ID
    host: str = "127.0.0.1"
    port: int = 0
    block_time: float = 5.0
    topics: list[TopicConfig] = field(default_factory=lambda: [topic_67()])
    # address -> uallo balance; each gets an account number at genesis (as a funded genesis account does).
    accounts: dict[str, int] = field(default_factory=dict)
    # Minimum gas price in uallo per gas unit (the validator's min-gas-prices / feemarket floor).
    min_gas_price: float = 10.0
    # (topic_id, address) pairs registered at genesis.
    registered_workers: list[tuple[int, str]] = field(default_factory=list)
    faults: FaultPlan = field(default_factory=FaultPlan)
    # Emissions params that matter to a worker.
    registration_fee: int = 10_000
    data_sending_fee: int = 10_000
    mempool_capacity: int = 5000
    # Blocks are produced on a clock; tests may set False and call `advance_blocks` themselves.
    auto_blocks: bool = True
    genesis_height: int = 1
    # The emissions version the node serves (9 or 10); with `upgrade_height`, the chain switches
    # from 9 to 10 when that block is produced (an in-place upgrade, as allora-chain app/upgrades).
    emissions_version: int = 10
    upgrade_height: int | None = None

    def __post_init__(self) -> None:
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            # The devnet is a test double: it must never be reachable from outside this machine.
            raise ValueError(f"devnet binds loopback only, not {self.host!r}")
        if self.block_time <= 0:
            raise ValueError("block_time must be > 0")
        if self.emissions_version not in range(1, 11):
            # 1-8 stand for "an older node": it answers the version probe and accepts no payload.
            raise ValueError(f"emissions_version must be 9 or 10 (or 1-8, an old node), "
                             f"not {self.emissions_version}")
        if self.upgrade_height is not None and self.emissions_version != 9:
            raise ValueError("an upgrade height needs emissions_version 9 (the upgrade goes from v9 to v10)")
        ids = [t.id for t in self.topics]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate topic id")
