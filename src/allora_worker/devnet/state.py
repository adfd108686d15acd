"""The chain state machine: accounts, topics and worker nonces, mempool, blocks, tx results.

One lock guards everything, so the gRPC handlers (event-loop thread) and a test reading results or
flipping state from another thread see consistent snapshots. Nothing here awaits.

Two views of an account exist, as on a Cosmos node: the committed state (what queries return) and
the mempool's check state (what CheckTx validates against: the sequence is bumped and the fee
reserved when a tx is accepted). At every commit the check state is rebuilt from the committed
state plus the txs still waiting, like CometBFT's mempool recheck.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from allora_worker.devnet import codes, txcheck
from allora_worker.devnet.config import DevnetConfig, TopicConfig
from allora_worker.devnet.crypto import pubkey_to_address, verify
from allora_worker.devnet.faults import FaultInjector
from allora_worker.devnet.txcheck import DecodedTx

FEE_DENOM = "uallo"


@dataclass
class Account:
    address: str
    number: int
    sequence: int = 0
    pubkey: bytes | None = None
    balance: int = 0


@dataclass(frozen=True)
class AcceptedInference:
    topic_id: int
    nonce: int
    worker: str
    value: str
    height: int
    txhash: str


@dataclass
class TxResult:
    txhash: str
    height: int
    code: int
    codespace: str
    raw_log: str
    gas_wanted: int
    gas_used: int
    tx: DecodedTx
    timestamp: datetime


@dataclass
class Block:
    height: int
    time: datetime
    hash: bytes
    txs: list[str] = field(default_factory=list)


@dataclass
class TopicState:
    config: TopicConfig
    # nonce height -> last height at which a payload for it is accepted (nonce + window)
    open_nonces: dict[int, int] = field(default_factory=dict)
    # nonce height -> height after which it leaves the unfulfilled list (window end + linger)
    listed_until: dict[int, int] = field(default_factory=dict)
    # nonce -> the active inferer set of that window (who is stored), and its size cap
    active: dict[int, set[str]] = field(default_factory=dict)
    # The lowest EMA score of the newest active set seen: the keeper stores it per topic
    # (GetLowestInfererScoreEma), so it outlives the window that set it.
    last_lowest: float | None = None
    workers: set[str] = field(default_factory=set)
    windows_opened: int = 0
    last_epoch_start: int = 0
    # nonce -> the active set's inferences written when the window closed, sorted by inferer:
    # (inferer, value). allora-chain x/emissions/keeper/actor_utils/worker.go CloseWorkerNonce ->
    # closeActiveInferencesSet -> InsertActiveInferences (allInferences, read by GetInferencesAtBlock).
    closed_sets: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    # timing = "seconds": nonce -> the block time its worker window opened (Epoch.WorkerSubmissionWindow.OpenAt)
    open_at: dict[int, datetime] = field(default_factory=dict)
    last_epoch_time: datetime | None = None
    opened: list[int] = field(default_factory=list)  # every nonce opened, for tests and benchmarks


@dataclass
class _Pending:
    tx: DecodedTx
    fee: int
    gas_used: int
    drop: bool


class ChainState:
    def __init__(self, config: DevnetConfig, faults: FaultInjector | None = None) -> None:
        self.config = config
        self.chain_id = config.chain_id
        self.faults = faults
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self._next_account_number = 0
        self.topics: dict[int, TopicState] = {t.id: TopicState(t) for t in config.topics}
        self.blocks: dict[int, Block] = {}
        self.txs: dict[str, TxResult] = {}
        self.inferences: list[AcceptedInference] = []
        # (topic, address) -> (EMA score, nonce height of its last update)
        self.ema: dict[tuple[int, str], tuple[float, int]] = {}
        self.not_admitted: list[tuple[int, int, str]] = []
        self.mempool: list[_Pending] = []
        self._check_seq: dict[str, int] = {}
        self._reserved: dict[str, int] = {}
        self.counters: dict[str, int] = {
            "txs_seen": 0,
            "txs_accepted": 0,
            "txs_rejected": 0,
            "txs_included": 0,
            "txs_failed": 0,
            "txs_dropped": 0,
            "simulations": 0,
        }
        for address, amount in config.accounts.items():
            self.fund(address, amount)
        for topic_id, address in config.registered_workers:
            self.topic(topic_id).workers.add(address)
        for t in config.topics:
            for address, score in {**t.ema_scores, **t.rivals}.items():
                self.ema[(t.id, address)] = (score, 0)
        self.height = config.genesis_height
        self.blocks[self.height] = self._make_block(self.height)

    # ----- accounts -------------------------------------------------------------------------
    def fund(self, address: str, amount: int) -> Account:
        """Credit uallo (creates the account, with the next account number, like a first transfer)."""
        with self.lock:
            acc = self.accounts.get(address)
            if acc is None:
                acc = Account(address, self._next_account_number)
                self._next_account_number += 1
                self.accounts[address] = acc
            acc.balance += amount
            return acc

    def account(self, address: str) -> Account | None:
        with self.lock:
            return self.accounts.get(address)

    def bump_sequence(self, address: str, count: int = 1) -> int:
        """An external tx from the same key was committed: sequence moves on without us."""
        with self.lock:
            acc = self.accounts[address]
            acc.sequence += count
            self._rebuild_check_state()
            return acc.sequence

    def check_sequence(self, address: str) -> int:
        with self.lock:
            acc = self.accounts[address]
            return self._check_seq.get(address, acc.sequence)

    @property
    def emissions_version(self) -> int:
        """The version served now: 10 from the upgrade height on (app/upgrades: an in-place upgrade)."""
        up = self.config.upgrade_height
        if up is not None and self.height >= up:
            return 10
        return self.config.emissions_version

    # ----- topics ---------------------------------------------------------------------------
    def topic(self, topic_id: int) -> TopicState:
        return self.topics[topic_id]

    def add_topic(self, config: TopicConfig) -> None:
        with self.lock:
            self.topics[config.id] = TopicState(config)

    def register_worker(self, topic_id: int, address: str) -> None:
        with self.lock:
            self.topics[topic_id].workers.add(address)

    def unfulfilled_nonces(self, topic_id: int) -> list[int]:
        """Newest first, like the chain's query."""
        with self.lock:
            topic = self.topics.get(topic_id)
            if topic is None:
                return []
            return sorted(topic.listed_until, reverse=True)

    def is_nonce_unfulfilled(self, topic_id: int, nonce: int) -> bool:
        with self.lock:
            topic = self.topics.get(topic_id)
            return topic is not None and nonce in topic.listed_until

    def next_epoch_start(self, topic: TopicState) -> int:
        cfg = topic.config
        h = self.height + 1
        return h + (cfg.epoch_offset - h) % cfg.epoch_length

    # ----- blocks ---------------------------------------------------------------------------
    def _make_block(self, height: int) -> Block:
        digest = hashlib.sha256(f"{self.chain_id}/{height}".encode()).digest()
        return Block(height, datetime.now(UTC), digest)

    def advance_block(self) -> Block:
        """Produce the next block: deliver mempool txs, then EndBlock opens/closes worker windows."""
        with self.lock:
            self.height += 1
            block = self._make_block(self.height)
            self.blocks[self.height] = block
            waiting, self.mempool = self.mempool, []
            if self.config.upgrade_height == self.height:
                # An upgrade halts the old binary at this height and starts the new one: the
                # mempool does not survive the restart (cosmos-sdk x/upgrade, app/upgrades).
                self.counters["txs_dropped"] += len(waiting)
                waiting = []
            for pending in waiting:
                if pending.drop:
                    self.counters["txs_dropped"] += 1
                    continue
                result = self._deliver(pending, block)
                if result is not None:
                    block.txs.append(result.txhash)
            self._end_block()
            self._rebuild_check_state()
            return block

    def _end_block(self) -> None:
        h = self.height
        for topic in self.topics.values():
            cfg = topic.config
            if cfg.timing == "seconds":
                self._scheduler_tasks(topic, self.blocks[h])
                continue
            for nonce, last in list(topic.open_nonces.items()):
                if h >= last:
                    del topic.open_nonces[nonce]
            for nonce, until in list(topic.listed_until.items()):
                if h >= until:
                    del topic.listed_until[nonce]
                    self._close_set_at(topic, nonce)
            if cfg.active and (h - cfg.epoch_offset) % cfg.epoch_length == 0:
                self._open_window(topic, h, h + cfg.worker_submission_window)

    def _open_window(self, topic: TopicState, h: int, last: int) -> None:
        cfg = topic.config
        topic.open_nonces[h] = last
        topic.listed_until[h] = last + cfg.nonce_linger_blocks
        topic.windows_opened += 1
        topic.opened.append(h)
        topic.last_epoch_start = h
        # Rivals submit as the window opens and take active-set slots, best first.
        best = sorted(cfg.rivals, key=lambda a: -cfg.rivals[a])
        if cfg.max_active_inferers is not None:
            best = best[: cfg.max_active_inferers]
        topic.active[h] = set(best)

    def _close_set_at(self, topic: TopicState, nonce: int) -> None:
        closed = topic.active.pop(nonce, None)
        # With no active inferer the chain writes nothing (ErrNoQualifiedInferers).
        if closed:
            topic.last_lowest = min(self._score(topic, a) for a in closed)
            topic.closed_sets[nonce] = self._close_set(topic, nonce, closed)

    def _scheduler_tasks(self, topic: TopicState, block: Block) -> None:
        """timing = "seconds": the scheduler's tasks due at this block's time (allora-chain
        keeper/epoch.go, epoch_transitions.go): close worker windows whose CloseAt has passed, and
        start a new epoch every epoch_length seconds (the nonce is this block's height)."""
        cfg, h, now = topic.config, block.height, block.time
        window = timedelta(seconds=cfg.worker_submission_window)
        for nonce, opened in list(topic.open_at.items()):
            if now > opened + window and nonce in topic.open_nonces:
                # CloseEpochWorkerWindowTask: the nonce is fulfilled (listed for the linger, then gone).
                del topic.open_nonces[nonce]
                topic.listed_until[nonce] = h + cfg.nonce_linger_blocks
        for nonce, until in list(topic.listed_until.items()):
            if h >= until:
                del topic.listed_until[nonce]
                topic.open_at.pop(nonce, None)
                self._close_set_at(topic, nonce)
        if not cfg.active or h < cfg.epoch_offset:
            return
        last = topic.last_epoch_time
        if last is None or now >= last + timedelta(seconds=cfg.epoch_length):
            never = 1 << 62  # closed by time, not by height
            self._open_window(topic, h, never)
            topic.listed_until[h] = never
            topic.open_at[h] = now
            topic.last_epoch_time = now

    def _rebuild_check_state(self) -> None:
        self._check_seq = {}
        self._reserved = {}
        for pending in self.mempool:
            signer = pending.tx.signer
            self._check_seq[signer] = self._check_seq.get(signer, self.accounts[signer].sequence) + 1
            self._reserved[signer] = self._reserved.get(signer, 0) + pending.fee

    # ----- CheckTx / Simulate / DeliverTx ---------------------------------------------------
    def check_tx(self, tx_bytes: bytes) -> tuple[str, int, int]:
        """CheckTx + mempool insert. Returns (txhash, gas_wanted, gas_used) or raises TxFailure."""
        with self.lock:
            self.counters["txs_seen"] += 1
            try:
                tx = txcheck.decode_tx(tx_bytes, self.emissions_version)
                if any(p.tx.txhash == tx.txhash for p in self.mempool) or tx.txhash in self.txs:
                    raise codes.sdk_error(codes.TX_IN_MEMPOOL_CACHE, "tx already exists in cache")
                timeout = tx.body.timeout_height
                if timeout and self.height + 1 > timeout:
                    # cosmos-sdk x/auth/ante TxTimeoutHeightDecorator: the next block is past it.
                    raise codes.sdk_error(
                        codes.TX_TIMEOUT_HEIGHT,
                        f"block height: {self.height + 1}, timeout height: {timeout}: tx timeout height",
                    )
                fee, gas_used = self._ante(tx, simulate=False)
                if self.faults is not None and self.faults.plan.mempool_full:
                    raise codes.sdk_error(codes.MEMPOOL_IS_FULL, "mempool is full")
                if len(self.mempool) >= self.config.mempool_capacity:
                    raise codes.sdk_error(
                        codes.MEMPOOL_IS_FULL,
                        f"mempool is full: number of txs {len(self.mempool)} "
                        f"(max: {self.config.mempool_capacity})",
                    )
            except codes.TxFailure:
                self.counters["txs_rejected"] += 1
                raise
            drop = self.faults.take_drop() if self.faults is not None else False
            self.mempool.append(_Pending(tx, fee, gas_used, drop))
            self._check_seq[tx.signer] = self.check_sequence(tx.signer) + 1
            self._reserved[tx.signer] = self._reserved.get(tx.signer, 0) + fee
            self.counters["txs_accepted"] += 1
            return tx.txhash, tx.gas_limit, gas_used

    def simulate(self, tx_bytes: bytes) -> tuple[int, int]:
        """Run the ante checks without signature and the messages without writing. Returns gas."""
        with self.lock:
            self.counters["simulations"] += 1
            tx = txcheck.decode_tx(tx_bytes, self.emissions_version)
            _, gas_used = self._ante(tx, simulate=True)
            for index, (url, msg) in enumerate(tx.msgs):
                failure = self._execute(url, msg, tx, write=False)
                if failure is not None:
                    raise codes.msg_failure(index, failure)
            return tx.gas_limit, gas_used

    def _ante(self, tx: DecodedTx, *, simulate: bool) -> tuple[int, int]:
        """The ante handler in the SDK's order: fee, funds, pubkey, sequence, signature, gas."""
        signer = tx.signer
        acc = self.accounts.get(signer)
        if acc is None:
            raise codes.sdk_error(codes.UNKNOWN_ADDRESS, f"account {signer} not found: unknown address")
        gas_used = tx.gas_needed()
        fee = tx.fee.get(FEE_DENOM, 0)
        if not simulate:
            required = math.ceil(tx.gas_limit * self.config.min_gas_price)
            if fee < required or set(tx.fee) - {FEE_DENOM}:
                got = ",".join(f"{v}{d}" for d, v in sorted(tx.fee.items())) or "0uallo"
                raise codes.sdk_error(
                    codes.INSUFFICIENT_FEE,
                    f"insufficient fees; got: {got} required: {required}{FEE_DENOM}: insufficient fee",
                )
        spendable = acc.balance - self._reserved.get(signer, 0)
        if fee > spendable:
            raise codes.sdk_error(
                codes.INSUFFICIENT_FUNDS,
                f"spendable balance {spendable}{FEE_DENOM} is smaller than {fee}{FEE_DENOM}: "
                "insufficient funds",
            )
        pubkey = tx.pubkey if tx.pubkey is not None else acc.pubkey
        if pubkey is None:
            raise codes.sdk_error(
                codes.INVALID_PUBKEY, f"pubkey on account {signer} is not set: invalid pubkey"
            )

        if pubkey_to_address(pubkey) != signer:
            raise codes.sdk_error(
                codes.INVALID_PUBKEY,
                f"pubKey does not match signer address {signer} with signer index: 0: invalid pubkey",
            )
        expected = self._check_seq.get(signer, acc.sequence)
        if tx.sequence != expected:
            raise codes.sdk_error(
                codes.WRONG_SEQUENCE,
                f"account sequence mismatch, expected {expected}, got {tx.sequence}: "
                "incorrect account sequence",
            )
        if not simulate and not verify(
            pubkey, tx.raw.signatures[0], tx.sign_bytes(self.chain_id, acc.number)
        ):
            raise codes.sdk_error(
                codes.UNAUTHORIZED,
                f"signature verification failed; please verify account number ({acc.number}), "
                f"sequence ({tx.sequence}) and chain-id ({self.chain_id}): unauthorized",
            )
        if not simulate and gas_used > tx.gas_limit:
            raise codes.sdk_error(
                codes.OUT_OF_GAS,
                f"out of gas in location: txSize; gasWanted: {tx.gas_limit}, gasUsed: {gas_used}: out of gas",
            )
        return fee, gas_used

    def _deliver(self, pending: _Pending, block: Block) -> TxResult | None:
        tx = pending.tx
        acc = self.accounts[tx.signer]
        timeout = tx.body.timeout_height
        if tx.sequence != acc.sequence or acc.balance < pending.fee or (timeout and block.height > timeout):
            # Recheck would have evicted it (an external tx took its sequence): never included.
            self.counters["txs_dropped"] += 1
            return None
        acc.balance -= pending.fee
        acc.sequence += 1
        if acc.pubkey is None:
            acc.pubkey = tx.pubkey
        failure: codes.TxFailure | None = None
        for index, (url, msg) in enumerate(tx.msgs):
            failure = self._execute(url, msg, tx, write=False)
            if failure is not None:
                failure = codes.msg_failure(index, failure)
                break
        if failure is None:
            # All messages pass: now apply them (a tx is atomic).
            for url, msg in tx.msgs:
                self._execute(url, msg, tx, write=True)
        result = TxResult(
            txhash=tx.txhash,
            height=block.height,
            code=failure.code if failure else 0,
            codespace=failure.codespace if failure else "",
            raw_log=failure.log if failure else "",
            gas_wanted=tx.gas_limit,
            gas_used=pending.gas_used,
            tx=tx,
            timestamp=block.time,
        )
        self.txs[tx.txhash] = result
        self.counters["txs_failed" if failure else "txs_included"] += 1
        return result

    # ----- emissions messages ---------------------------------------------------------------
    # These run in the block (DeliverTx) and in Simulate, never at CheckTx: the fee is already
    # charged and the sequence used when they fail (cosmos-sdk baseapp runTx; allora-chain
    # msg servers). Each rule names the allora-chain file it follows.
    def _execute(self, url: str, msg: Any, tx: DecodedTx, *, write: bool) -> codes.TxFailure | None:
        if txcheck.is_register(url):
            return self._register(msg, write)
        return self._insert_worker_payload(msg, tx, write)

    def _register(self, msg: Any, write: bool) -> codes.TxFailure | None:
        # x/emissions/keeper/msgserver/msg_server_registrations.go (Register)
        topic = self.topics.get(msg.topic_id)
        if topic is None:
            return codes.emissions_error(codes.E_TOPIC_DOES_NOT_EXIST, "topic does not exist")
        if msg.is_reputer:
            return codes.sdk_error(codes.INVALID_REQUEST, "devnet registers workers only: invalid request")
        acc = self.accounts[msg.sender]
        if msg.sender in topic.workers:
            return codes.emissions_error(
                codes.E_ADDRESS_ALREADY_REGISTERED,
                "worker is already registered in this topic: address already registered in a topic",
            )
        if acc.balance < self.config.registration_fee:
            return codes.emissions_error(
                codes.E_REGISTRANT_NOT_ENOUGH_DENOM, "topic registrant does not have enough denom"
            )
        if write:
            acc.balance -= self.config.registration_fee
            topic.workers.add(msg.sender)
        return None

    def _insert_worker_payload(self, msg: Any, tx: DecodedTx, write: bool) -> codes.TxFailure | None:
        """x/emissions/keeper/msgserver/msg_server_worker_payload.go (InsertWorkerPayload), in its order."""
        bundle = msg.worker_data_bundle
        # 1. whitelist (CanSubmitWorkerPayload) before anything else, with the real text
        topic = self.topics.get(bundle.topic_id) if bundle is not None else None
        worker = bundle.worker if bundle is not None else ""
        if topic is not None and not self.can_submit(topic, worker):
            return codes.emissions_error(
                codes.E_NOT_PERMITTED_TO_SUBMIT_WORKER_PAYLOAD,
                "Worker is not permitted to submit payload: not permitted to submit payload",
            )
        # 2. InputWorkerDataBundle.Validate (x/emissions/types/validations.go): sdk 18 / 4 / 29
        failure = txcheck.bundle_failure(msg)
        if failure is not None:
            return failure
        # 3. the topic (ErrInvalidTopicId), the nonce (75), the window (67), registration (13)
        if topic is None:
            return codes.emissions_error(codes.E_INVALID_TOPIC_ID, "invalid topic ID")
        nonce = bundle.nonce.block_height
        if nonce not in topic.listed_until:
            return codes.emissions_error(codes.E_UNFULFILLED_NONCE_NOT_FOUND, "unfulfilled nonce not found")
        window = topic.config.worker_submission_window
        if topic.config.timing == "seconds":
            # CheckWorkerSubmissionWindow: the block time inside [open_at, close_at], inclusive.
            opened = topic.open_at.get(nonce)
            now = self.blocks[self.height].time if write else datetime.now(UTC)
            if opened is None or not opened <= now <= opened + timedelta(seconds=window):
                return codes.emissions_error(
                    codes.E_WORKER_NONCE_WINDOW_NOT_AVAILABLE,
                    f"worker wall-clock window not open for topic {topic.config.id} legacy nonce {nonce}: "
                    "worker nonce window not available",
                )
        elif not nonce <= self.height <= nonce + window:
            return codes.emissions_error(
                codes.E_WORKER_NONCE_WINDOW_NOT_AVAILABLE,
                f"Worker window not open for topic: {topic.config.id}, current block {self.height}, "
                f"start window: {nonce}, end window: {nonce + window}: worker nonce window not available",
            )
        if worker not in topic.workers:
            return codes.emissions_error(
                codes.E_ADDRESS_NOT_REGISTERED,
                "worker is not registered in this topic: address not registered",
            )
        # 4. the data sending fee, a bank send (msg_server_util_payment.go): sdk/5 when short
        acc = self.accounts[msg.sender]
        fee = self.config.data_sending_fee
        if acc.balance < fee:
            return codes.sdk_error(
                codes.INSUFFICIENT_FUNDS,
                f"spendable balance {acc.balance}{FEE_DENOM} is smaller than {fee}{FEE_DENOM}: "
                "insufficient funds",
            )
        inference = bundle.inference_forecasts_bundle.inference
        if inference is None:
            return None
        # 5. labels and output arity (v10 only: v9 inferences carry one unlabeled `value`)
        labels = self._label_failure(topic, inference)
        if labels is not None:
            return labels
        # 6. admission (x/emissions/keeper: PlanInferenceAdmission): already active -> plain
        #    errors.New (code 1), EMA already updated for this window -> 78, else open slot /
        #    evict the lowest / not admitted (code 0, nothing stored).
        active = topic.active.setdefault(nonce, set())
        if worker in active:
            return codes.undefined_error("inference already submitted")
        score, updated_at = self.ema.get((topic.config.id, worker), (topic.config.initial_ema, 0))
        if updated_at >= nonce:
            return codes.emissions_error(
                codes.E_CANT_UPDATE_EMA_MORE_THAN_ONCE_PER_WINDOW, "cannot update EMA more than once per window"
            )
        cap = topic.config.max_active_inferers
        evict: str | None = None
        admitted = cap is None or len(active) < cap
        if not admitted and active:
            lowest = min(active, key=lambda a: self._score(topic, a))
            if score > self._score(topic, lowest):
                admitted, evict = True, lowest
        if not write:
            return None
        acc.balance -= fee
        self.ema[(topic.config.id, worker)] = (score, nonce)
        if not admitted:
            self.not_admitted.append((topic.config.id, nonce, worker))
            return None
        if evict is not None:
            active.discard(evict)
        active.add(worker)
        values = getattr(inference, "values", None)
        value = values[0].value if values else inference.value
        self.inferences.append(AcceptedInference(topic.config.id, nonce, worker, value, self.height, tx.txhash))
        return None

    def _close_set(self, topic: TopicState, nonce: int, active: set[str]) -> list[tuple[str, str]]:
        stored = {i.worker: i.value for i in self.inferences if i.topic_id == topic.config.id and i.nonce == nonce}
        # Rivals are simulated and their values not modelled: "0" stands in for theirs.
        return [(a, stored.get(a, "0")) for a in sorted(active)]

    def inferences_at_block(self, topic_id: int, nonce: int) -> list[tuple[str, str]]:
        """The inferences the chain kept for a closed window (empty while it is open, or if none)."""
        with self.lock:
            topic = self.topics.get(topic_id)
            return list(topic.closed_sets.get(nonce, [])) if topic is not None else []

    def live_inference(self, topic_id: int, worker: str) -> AcceptedInference | None:
        """The worker's inference the keeper holds for the topic's open window, or None.

        allora-chain keeps one inference per (topic, worker) only while the worker is in an open
        window's active set (x/emissions/keeper/worker.go, WorkerKeeper.InsertInference); eviction removes it
        (RemoveInference) and closing the window clears them all (ResetWorkersIndividualSubmissionsForTopic).
        """
        with self.lock:
            topic = self.topics.get(topic_id)
            if topic is None:
                return None
            nonces = [n for n, members in topic.active.items() if worker in members]
            if not nonces:
                return None
            newest = max(nonces)
            mine = [i for i in self.inferences if i.topic_id == topic_id and i.nonce == newest and i.worker == worker]
            return mine[-1] if mine else None

    def _score(self, topic: TopicState, address: str) -> float:
        return self.ema.get((topic.config.id, address), (topic.config.initial_ema, 0))[0]

    def lowest_active_score(self, topic_id: int, nonce: int) -> float | None:
        with self.lock:
            topic = self.topics[topic_id]
            active = topic.active.get(nonce) or set()
            if active:
                return min(self._score(topic, a) for a in active)
            # Between windows (no set open): the topic's stored lowest, as the keeper keeps it.
            return topic.last_lowest

    def ema_score(self, topic_id: int, address: str) -> tuple[float, int]:
        with self.lock:
            topic = self.topics[topic_id]
            return self.ema.get((topic_id, address), (topic.config.initial_ema, 0))

    def can_submit(self, topic: TopicState, address: str) -> bool:
        whitelist = topic.config.worker_whitelist
        return whitelist is None or address in whitelist

    def _label_failure(self, topic: TopicState, inference: Any) -> codes.TxFailure | None:
        """validateWorkerInferenceLabels (msg_server_worker_payload.go), v10 topics only."""
        if self.emissions_version < 10:
            return None
        cfg = topic.config
        labels = [lv.label for lv in inference.values]
        cap = 1 if cfg.output_arity == "single" else cfg.max_labels
        prefix = "input inference failed label validation: "
        if len(labels) > cap:
            return codes.emissions_error(
                codes.E_TOO_MANY_LABELS,
                f"{prefix}submission has {len(labels)} labels, per-topic cap is {cap}: too many labels",
            )
        if len(set(labels)) != len(labels):
            return codes.emissions_error(codes.E_INVALID_LABEL, f"{prefix}duplicate label: invalid label name")
        if cfg.output_arity == "single":
            if labels and labels[0] not in ("", "y"):
                return codes.emissions_error(
                    codes.E_INVALID_LABEL, f"single-output topic takes label \"\" or \"y\", not {labels[0]!r}"
                )
        elif cfg.label_whitelist:
            for label in labels:
                if label not in cfg.label_whitelist:
                    return codes.emissions_error(
                        codes.E_LABEL_NOT_IN_WHITELIST,
                        f"{prefix}label {label!r} is not in topic label whitelist",
                    )
        return None

    # ----- the network inference (the devnet runs no reputers: the mean of the window's) ------
    def network_inference(self, topic_id: int, nonce: int) -> float | None:
        """The combined (mean) inference of a nonce's accepted inferences, or None without any."""
        with self.lock:
            values = [float(i.value) for i in self.inferences if i.topic_id == topic_id and i.nonce == nonce]
        return sum(values) / len(values) if values else None

    # ----- reads for tests and benchmarks ---------------------------------------------------
    def accepted_inferences(self, topic_id: int | None = None) -> list[AcceptedInference]:
        with self.lock:
            return [i for i in self.inferences if topic_id is None or i.topic_id == topic_id]

    def windows_opened(self) -> dict[int, int]:
        with self.lock:
            return {tid: t.windows_opened for tid, t in self.topics.items()}

    def tx_result(self, txhash: str) -> TxResult | None:
        with self.lock:
            return self.txs.get(txhash.upper())
