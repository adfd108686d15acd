"""`ChainClient`: queries and the InsertWorkerPayload transaction lifecycle, over gRPC with failover.

The lifecycle is owned here, not by the SDK's TxManager: the CheckTx code is read, inclusion is
confirmed with a deadline, and every failure is raised as exactly one class of `chain.errors`.
Hooks let the caller journal each step before the next external effect:

    prepare (sign)  -> on_signed(SignedTx)      -> broadcast -> on_broadcast(SignedTx) -> confirm

One `asyncio.Lock` per wallet (per event loop) spans sequence allocation, signing and broadcast, so
concurrent topics never sign two txs with the same account sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import typing
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from allora_worker.chain import errors as E
from allora_worker.chain.emissions import EmissionsAdapter, UnsupportedVersion, probe
from allora_worker.chain.endpoints import EndpointPool
from allora_worker.chain.fees import FeePlan, parse_dec_coin_amount
from allora_worker.chain.pb_light import EmissionsProbeStub, LatestBlockStub, TxLookupStub, TxResult, latest_header
from allora_worker.chain.protos import (
    Any,
    AuthStub,
    BankStub,
    BroadcastMode,
    BroadcastTxRequest,
    FeemarketStub,
    GasPriceRequest,
    GetBlockByHeightRequest,
    GetLatestBlockRequest,
    GetNodeInfoRequest,
    GetTxsEventRequest,
    OrderBy,
    QueryAccountInfoRequest,
    QueryBalanceRequest,
    SimulateRequest,
    TendermintStub,
    Tx,
    TxResponse,
    TxStub,
)
from allora_worker.chain.timing import BlockClock, TopicTiming, infer_unit
from allora_worker.chain.tx import build_tx
from allora_worker.chain.wallet import Wallet
from allora_worker.secrets import describe

log = logging.getLogger(__name__)

# Used when simulation fails for a reason CheckTx will report better (the SDK's default too).
DEFAULT_GAS_LIMIT = 250_000
# Re-send period while confirming, until the caller knows the block time (then: one block).
DEFAULT_REBROADCAST_S = 3.0
# CheckTx-level retries (sequence, fee, gas, mempool) inside one submit.
MAX_ATTEMPTS = 6
# A feemarket gas price read at height H is reused while the chain is below H + this many blocks:
# the topics submitting in one window ask once, and the fee multiplier covers a few blocks' drift
# (an "insufficient fee" answer reprices from the node's figure and drops the cached one).
GAS_PRICE_REUSE_BLOCKS = 3


@dataclass(frozen=True)
class SignedTx:
    """A signed tx whose hash is known before it leaves the process."""

    topic_id: int
    nonce: int
    value: str  # canonical decimal string actually signed
    txhash: str
    tx_bytes: bytes
    sequence: int
    account_number: int
    gas_limit: int
    fee: int


@dataclass(frozen=True)
class Cadence:
    """How often a confirmation looks for the tx and re-sends it. A caller that knows the chain's
    pace for one topic passes its own; without one the client's defaults apply."""

    poll_s: float
    rebroadcast_s: float


@dataclass(frozen=True)
class SubmitResult:
    topic_id: int
    nonce: int
    value: str
    txhash: str
    height: int
    gas_wanted: int
    gas_used: int
    fee: int
    sequence: int
    attempts: int


@dataclass(frozen=True)
class Admission:
    """Whether the chain stored our inference for a nonce, with the scores that decided it."""

    stored: bool | None  # None: the chain could not tell (a failed query, or a pruned closed set)
    our_score: float | None = None
    lowest_score: float | None = None

    def words(self) -> str:
        ours = "unknown" if self.our_score is None else f"{self.our_score:.6g}"
        lowest = "unknown" if self.lowest_score is None else f"{self.lowest_score:.6g}"
        return f"our EMA score {ours} vs the active set's lowest {lowest}"


@dataclass
class Account:
    number: int
    sequence: int


@dataclass
class _SequenceAllocator:
    """The wallet's next sequence and the lock that serialises sign+broadcast."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    account_number: int | None = None
    next_sequence: int | None = None


# (address, loop) -> allocator: one per wallet even if several clients share a wallet in one loop.
_allocators: weakref.WeakValueDictionary[tuple[str, int], _SequenceAllocator] = weakref.WeakValueDictionary()


def _allocator_for(address: str) -> _SequenceAllocator:
    key = (address, id(asyncio.get_running_loop()))
    alloc = _allocators.get(key)
    if alloc is None:
        alloc = _SequenceAllocator()
        _allocators[key] = alloc
    return alloc


OnSigned = Callable[[SignedTx], None]
OnBroadcast = Callable[[SignedTx], None]


class ChainClient:
    """Async client for one wallet. Construct with plain parameters; call `close()` when done."""

    def __init__(
        self,
        endpoints: list[str],
        chain_id: str,
        wallet: Wallet | None,
        *,
        fee_denom: str = "uallo",
        gas_adjustment: float = 1.3,
        fee_multiplier: float = 1.5,
        max_fee: int = 5_000_000_000_000_000,
        call_timeout_s: float = 10.0,
        confirm_timeout_s: float = 60.0,
        poll_interval_s: float = 0.5,
        fallback_gas_price: Decimal | float | None = None,
        backoff_s: float = 1.0,
        rebroadcast_s: float = DEFAULT_REBROADCAST_S,
    ) -> None:
        self.pool = EndpointPool(endpoints, call_timeout_s=call_timeout_s)
        self.chain_id = chain_id
        self.wallet = wallet
        self.fee_denom = fee_denom
        self.gas_adjustment = gas_adjustment
        self.fee_multiplier = Decimal(str(fee_multiplier))
        self.max_fee = int(max_fee)
        self.confirm_timeout_s = confirm_timeout_s
        self.poll_interval_s = poll_interval_s
        self.fallback_gas_price = None if fallback_gas_price is None else Decimal(str(fallback_gas_price))
        self.backoff_s = backoff_s
        self.rebroadcast_s = rebroadcast_s
        self._alloc: _SequenceAllocator | None = None
        # The emissions version the node serves, found by probing (None until the first need).
        self.emissions: EmissionsAdapter | None = None
        self.on_version: Callable[[EmissionsAdapter], None] | None = None
        self._topics: dict[int, object] = {}
        # The block time from block headers, and the nonces each topic opened (a topic's timing
        # unit is read from their spacing: chain/timing.py).
        self.clock = BlockClock()
        self._nonces_seen: dict[int, list[int]] = {}
        self._units: dict[int, str] = {}
        self._seen_height: int | None = None  # the latest height a poll read
        self._gas_price: tuple[Decimal, int] | None = None  # (price, height it was read at)

    async def __aenter__(self) -> ChainClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.pool.close()

    def _need_wallet(self) -> Wallet:
        if self.wallet is None:
            raise E.Fatal("this operation signs a tx: configure a wallet (MNEMONIC_FILE or MNEMONIC)")
        return self.wallet

    @property
    def allocator(self) -> _SequenceAllocator:
        if self._alloc is None:
            self._alloc = _allocator_for(self._need_wallet().address)
        return self._alloc

    # -- queries ---------------------------------------------------------------------------

    async def node_chain_id(self) -> str:
        resp = await self.pool.call(
            "GetNodeInfo", lambda ch, t: TendermintStub(ch).get_node_info(GetNodeInfoRequest(), timeout=t)
        )
        return resp.default_node_info.network if resp.default_node_info else ""

    async def check_chain_id(self) -> str:
        """Raise `ChainIdMismatch` unless the node serves the configured chain."""
        actual = await self.node_chain_id()
        if actual != self.chain_id:
            raise E.ChainIdMismatch(
                f"configured chain id {self.chain_id!r} but the node serves {actual!r}; "
                "fix the chain id or the gRPC endpoint"
            )
        return actual

    async def latest_height(self) -> int:
        resp = await self.pool.call(
            "GetLatestBlock",
            # The header only (chain/pb_light.py): the whole block, decoded, cost most of a poll's CPU.
            lambda ch, t: LatestBlockStub(ch).get_latest_block_header(timeout=t),
        )
        header = latest_header(resp)
        # Every poll reads the latest block, so the chain id in its header is checked for free:
        # a node swapped for another network is caught before the next signature, not at restart.
        if header is not None and header.chain_id and header.chain_id != self.chain_id:
            raise E.ChainIdMismatch(
                f"the node now serves chain {header.chain_id!r}, not {self.chain_id!r}: stopped submitting; "
                "fix the gRPC endpoint or the chain id"
            )
        if header is not None:
            self.clock.observe(int(header.height), header.time)
        height = int(header.height) if header is not None else 0
        self._seen_height = height
        return height

    async def seconds_per_block(self, span: int = 20) -> float | None:
        """The chain's recent block time: the header times of the latest block and of the one `span`
        blocks before it (the chain's own clock, not ours). None when the chain is too young or a
        header carries no time."""
        latest = await self.pool.call(
            "GetLatestBlock",
            # The whole block (the header-only view has no time): asked once, at start.
            lambda ch, t: TendermintStub(ch).get_latest_block(GetLatestBlockRequest(), timeout=t),
        )
        newer = _header(latest)
        if newer is None or newer.time is None:
            return None
        span = min(span, int(newer.height) - 1)
        if span < 2:
            return None
        older_block = await self.pool.call(
            "GetBlockByHeight",
            lambda ch, t: TendermintStub(ch).get_block_by_height(
                GetBlockByHeightRequest(height=int(newer.height) - span), timeout=t),
        )
        older = _header(older_block)
        if older is None or older.time is None:
            return None
        return float((newer.time - older.time).total_seconds()) / span

    # -- the emissions version -----------------------------------------------------------------

    async def negotiate(self) -> EmissionsAdapter:
        """Probe which emissions version the node serves (newest first) and use its adapter.
        Raises `UnsupportedVersionError` naming a version this worker does not speak."""

        async def serves(version: int) -> bool:
            try:
                # Served or not is the whole question: the answer is not decoded (chain/pb_light.py).
                await self.pool.call(
                    f"emissions.v{version}.GetParams",
                    lambda ch, t: EmissionsProbeStub(ch).get_params(version, timeout=t),
                )
            except E.QueryFailed as exc:
                if exc.status == "UNIMPLEMENTED":
                    return False
                raise
            return True

        try:
            adapter = await probe(serves)
        except UnsupportedVersion as exc:
            raise E.UnsupportedVersionError(str(exc)) from None
        changed = self.emissions is not None and self.emissions.version != adapter.version
        self.emissions = adapter
        if changed:
            log.warning("the node now serves %s (a chain upgrade); continuing with it", adapter.name)
            self._topics.clear()
        if self.on_version is not None:
            self.on_version(adapter)
        return adapter

    async def _adapter(self) -> EmissionsAdapter:
        return self.emissions if self.emissions is not None else await self.negotiate()

    async def _em(self, what: str,
                  call: Callable[[EmissionsAdapter, typing.Any, float], Awaitable[typing.Any]]) -> typing.Any:
        """An emissions query through the current version's stub. UNIMPLEMENTED means the node
        moved to another version (an upgrade): probe again and ask once more."""
        adapter = await self._adapter()
        try:
            return await self.pool.call(what, lambda ch, t: call(adapter, adapter.query(ch), t))
        except E.QueryFailed as exc:
            if exc.status != "UNIMPLEMENTED":
                raise
        log.info("%s: %s is not served any more; probing the node's emissions version", what, adapter.name)
        adapter = await self.negotiate()
        return await self.pool.call(what, lambda ch, t: call(adapter, adapter.query(ch), t))

    async def topic(self, topic_id: int) -> typing.Any:
        try:
            resp: typing.Any = await self._em(
                "GetTopic", lambda a, q, t: q.get_topic(a.pkg.GetTopicRequest(topic_id=topic_id), timeout=t)
            )
        except E.QueryFailed as exc:
            if not exc.not_found:
                raise
            resp = None
        if resp is None or resp.topic is None:
            raise E.Fatal(f"topic {topic_id} does not exist on {self.chain_id}; check the topic id")
        self._topics[topic_id] = resp.topic
        return resp.topic

    async def is_topic_active(self, topic_id: int) -> bool:
        resp: typing.Any = await self._em(
            "IsTopicActive",
            lambda a, q, t: q.is_topic_active(a.pkg.IsTopicActiveRequest(topic_id=topic_id), timeout=t),
        )
        return bool(resp.is_active)

    async def open_nonces(self, topic_id: int) -> list[int]:
        """Open worker nonces (block heights), oldest first. Empty between windows: not an error."""
        resp: typing.Any = await self._em(
            "GetUnfulfilledWorkerNonces",
            lambda a, q, t: q.get_unfulfilled_worker_nonces(
                a.pkg.GetUnfulfilledWorkerNoncesRequest(topic_id=topic_id), timeout=t
            ),
        )
        if resp.nonces is None:
            return []
        nonces = sorted({n.block_height for n in resp.nonces.nonces})
        self._saw_nonces(topic_id, nonces)
        return nonces

    def _saw_nonces(self, topic_id: int, nonces: list[int]) -> None:
        seen = self._nonces_seen.setdefault(topic_id, [])
        fresh = [n for n in nonces if n not in seen]
        if not fresh:
            return
        seen[:] = sorted(seen + fresh)[-8:]
        topic: typing.Any = self._topics.get(topic_id)
        unit = (infer_unit(int(getattr(topic, "epoch_length", 0) or 0), seen, self.clock.seconds_per_block)
                if topic is not None else None)
        if unit is not None and unit != self._units.get(topic_id, "blocks"):
            spb = self.clock.seconds_per_block
            log.warning("topic %d counts its epoch (%s) and window (%s) in %s: its nonces %s at %s s per block "
                        "say so; timing follows", topic_id, getattr(topic, "epoch_length", "?"),
                        getattr(topic, "worker_submission_window", "?"), unit, seen[-3:],
                        "unknown" if spb is None else f"{spb:.3g}")
        if unit is not None:
            self._units[topic_id] = unit

    def timing(self, topic_id: int) -> TopicTiming | None:
        """The topic's timing in its unit (blocks, not yet `known`, until two of its nonces were
        seen); None before the topic was read."""
        topic: typing.Any = self._topics.get(topic_id)
        if topic is None:
            return None
        unit = typing.cast(typing.Any, self._units.get(topic_id, "blocks"))
        return TopicTiming(unit, int(topic.epoch_length or 0), int(topic.worker_submission_window or 0),
                           known=topic_id in self._units)

    async def is_nonce_open(self, topic_id: int, nonce: int) -> bool:
        resp: typing.Any = await self._em(
            "IsWorkerNonceUnfulfilled",
            lambda a, q, t: q.is_worker_nonce_unfulfilled(
                a.pkg.IsWorkerNonceUnfulfilledRequest(topic_id=topic_id, block_height=nonce), timeout=t
            ),
        )
        return bool(resp.is_worker_nonce_unfulfilled)

    async def window_status(self, topic_id: int) -> typing.Any:
        address = self.wallet.address if self.wallet else ""
        return await self._em(
            "GetWorkerSubmissionWindowStatus",
            lambda a, q, t: q.get_worker_submission_window_status(
                a.pkg.GetWorkerSubmissionWindowStatusRequest(topic_id=topic_id, address=address), timeout=t
            ),
        )

    async def can_submit(self, topic_id: int) -> bool:
        address = self._need_wallet().address
        resp: typing.Any = await self._em(
            "CanSubmitWorkerPayload",
            lambda a, q, t: q.can_submit_worker_payload(
                a.pkg.CanSubmitWorkerPayloadRequest(topic_id=topic_id, address=address), timeout=t
            ),
        )
        return bool(resp.can_submit_worker_payload)

    async def is_registered(self, topic_id: int, address: str | None = None) -> bool:
        addr = address or self._need_wallet().address
        resp: typing.Any = await self._em(
            "IsWorkerRegisteredInTopicId",
            lambda a, q, t: q.is_worker_registered_in_topic_id(
                a.pkg.IsWorkerRegisteredInTopicIdRequest(topic_id=topic_id, address=addr), timeout=t
            ),
        )
        return bool(resp.is_registered)

    async def admission(self, topic_id: int, nonce: int) -> Admission:
        """Ask the chain whether it stored our inference for `nonce` (code 0 does not promise it:
        a full active set keeps the best EMA scores, PlanInferenceAdmission), and the scores.

        While the window is open the chain holds our inference only if we are in its active set;
        once it has closed, the set it kept for the nonce (GetInferencesAtBlock) is the answer.
        """
        address = self._need_wallet().address
        try:
            stored: bool | None = await self._em(
                "GetWorkerLatestInferenceByTopicId",
                lambda a, q, t: a.admitted(q, topic_id, nonce, address, t),
            )
        except E.ChainError as exc:
            log.info("admission of topic %d nonce %d: live check failed: %s", topic_id, nonce, describe(exc))
            stored = None
        if stored is not True:
            # Not held (or not known) now: if the window has closed, the kept set settles it.
            try:
                still_open = await self.is_nonce_open(topic_id, nonce)
            except E.ChainError:
                still_open = True  # cannot tell: keep what the live check said
            if not still_open:
                stored = await self._closed_set_admission(topic_id, nonce, address)
        ours = lowest = None
        if stored is False:
            ours, lowest = await self._scores(topic_id, address)
        return Admission(stored=stored, our_score=ours, lowest_score=lowest)

    async def _closed_set_admission(self, topic_id: int, nonce: int, address: str) -> bool | None:
        try:
            kept: bool | None = await self._em(
                "GetInferencesAtBlock", lambda a, q, t: a.in_closed_set(q, topic_id, nonce, address, t))
        except E.ChainError as exc:
            log.info("admission of topic %d nonce %d unknown: the closed window's set could not be read: %s",
                     topic_id, nonce, describe(exc))
            return None
        if kept is None:
            log.info("admission of topic %d nonce %d unknown: the chain keeps no inferences for the closed "
                     "window (never written, or pruned since)", topic_id, nonce)
        return kept

    async def _scores(self, topic_id: int, address: str) -> tuple[float | None, float | None]:
        def score(resp: typing.Any) -> float | None:
            try:
                return float(resp.score.score) if resp.score is not None and resp.score.score else None
            except ValueError:
                return None

        try:
            ours = await self._em("GetInfererScoreEma", lambda a, q, t: q.get_inferer_score_ema(
                a.pkg.GetInfererScoreEmaRequest(topic_id=topic_id, inferer=address), timeout=t))
            lowest = await self._em("GetCurrentLowestInfererScore", lambda a, q, t: q.get_current_lowest_inferer_score(
                a.pkg.GetCurrentLowestInfererScoreRequest(topic_id=topic_id), timeout=t))
        except E.ChainError:
            return None, None
        return score(ours), score(lowest)

    async def account(self, address: str | None = None) -> Account:
        addr = address or self._need_wallet().address
        try:
            resp = await self.pool.call(
                "AccountInfo",
                lambda ch, t: AuthStub(ch).account_info(QueryAccountInfoRequest(address=addr), timeout=t),
            )
        except E.QueryFailed as exc:
            if exc.not_found:
                raise E.OutOfFunds(
                    f"account {addr} does not exist on {self.chain_id}: send it some uallo first"
                ) from None
            raise
        if resp.info is None:
            raise E.OutOfFunds(f"account {addr} does not exist on {self.chain_id}: send it some uallo first")
        return Account(number=int(resp.info.account_number), sequence=int(resp.info.sequence))

    async def balance(self, address: str | None = None, denom: str | None = None) -> int:
        addr = address or self._need_wallet().address
        resp = await self.pool.call(
            "Balance",
            lambda ch, t: BankStub(ch).balance(
                QueryBalanceRequest(address=addr, denom=denom or self.fee_denom), timeout=t
            ),
        )
        return int(resp.balance.amount) if resp.balance and resp.balance.amount else 0

    async def gas_price(self) -> Decimal:
        """The feemarket's current minimum gas price (uallo per gas), or the configured fallback."""
        cached, seen = self._gas_price, self._seen_height
        if cached is not None and seen is not None and seen - cached[1] < GAS_PRICE_REUSE_BLOCKS:
            return cached[0]
        try:
            resp = await self.pool.call(
                "GasPrice",
                lambda ch, t: FeemarketStub(ch).gas_price(GasPriceRequest(denom=self.fee_denom), timeout=t),
            )
        except E.QueryFailed as exc:
            if exc.status == "UNIMPLEMENTED" and self.fallback_gas_price is not None:
                return self.fallback_gas_price
            raise
        if resp.price is None or not resp.price.amount:
            if self.fallback_gas_price is not None:
                return self.fallback_gas_price
            raise E.Unavailable("the node returned no gas price for " + self.fee_denom)
        price = parse_dec_coin_amount(resp.price.amount)
        self._gas_price = (price, seen) if seen is not None else None
        return price

    async def get_tx(self, txhash: str) -> TxResult | None:
        """The tx's result if it is in a block, None if the node does not know it (yet)."""
        try:
            # The result's scalars only (chain/pb_light.py): polled once a block while confirming,
            # the full answer (the tx, every event) cost ~2.4 ms CPU a poll on a mainnet-like tx.
            resp = await self.pool.call(
                "GetTx", lambda ch, t: TxLookupStub(ch).get_tx_result(txhash.upper(), timeout=t)
            )
        except E.QueryFailed as exc:
            if exc.not_found:
                return None
            raise
        return resp.tx_response if resp.tx_response and resp.tx_response.txhash else None

    async def txs_by_sender(self, address: str | None = None, *, above_height: int = 0,
                            per_page: int = 100) -> list[tuple[TxResponse, Tx]]:
        """This wallet's txs whose messages succeeded, oldest first, from the node's tx index.

        cosmos-sdk v0.50 `GetTxsEvent` with the query `message.sender='<addr>'`: the message
        events are dropped with a failed tx's state, so only successful txs match. A node that
        prunes its index (or runs without one) answers fewer than were sent.
        """
        addr = address or self._need_wallet().address
        query = f"message.sender='{addr}'"
        if above_height > 0:
            query += f" AND tx.height>{int(above_height)}"

        async def fetch(page: int) -> typing.Any:
            request = GetTxsEventRequest(query=query, order_by=OrderBy.ASC, page=page, limit=per_page)
            return await self.pool.call("GetTxsEvent", lambda ch, t: TxStub(ch).get_txs_event(request, timeout=t))

        found: list[tuple[TxResponse, Tx]] = []
        page = 1
        while True:
            resp = await fetch(page)
            found += list(zip(resp.tx_responses, resp.txs, strict=True))
            if not resp.tx_responses or len(found) >= int(resp.total):
                return found
            page += 1

    # -- transaction primitives --------------------------------------------------------------

    async def simulate(self, msgs: list[Any], sequence: int, account_number: int) -> int:
        """Gas the chain reports for `msgs`, × gas_adjustment. A chain verdict raises its class."""
        wallet = self._need_wallet()
        draft = build_tx(wallet, msgs, chain_id=self.chain_id, account_number=account_number,
                         sequence=sequence, gas_limit=0, fee_amount=0, fee_denom=self.fee_denom, sign=False)
        try:
            resp = await self.pool.call(
                "Simulate",
                lambda ch, t: TxStub(ch).simulate(SimulateRequest(tx_bytes=draft.tx_bytes), timeout=t),
            )
        except E.QueryFailed as exc:
            raise E.classify(None, None, exc.grpc_message or str(exc)) from None
        used = int(resp.gas_info.gas_used) if resp.gas_info else 0
        return max(int(used * self.gas_adjustment), 1)

    def forget_sequence(self) -> None:
        """Query the account before the next signature (after something else moved the sequence)."""
        self.allocator.next_sequence = None

    async def _resync(self, expected: int | None = None) -> Account:
        acc = await self.account()
        alloc = self.allocator
        alloc.account_number = acc.number
        # The node's "expected N" is fresher than a query against a lagging replica; take the larger.
        alloc.next_sequence = max(acc.sequence, expected) if expected is not None else acc.sequence
        return Account(acc.number, alloc.next_sequence)

    async def _plan(self, msgs: list[Any]) -> FeePlan:
        alloc = self.allocator
        if alloc.next_sequence is None or alloc.account_number is None:
            await self._resync()
        assert alloc.next_sequence is not None and alloc.account_number is not None
        # The gas price does not depend on the simulation: ask for both at once (one round trip
        # less before the broadcast; on a node answering in seconds that is a window's margin).
        price = asyncio.ensure_future(self.gas_price())
        try:
            gas = await self._simulated_gas(msgs)
            base = await price
        finally:
            if not price.done():
                price.cancel()
                with contextlib.suppress(asyncio.CancelledError, E.ChainError):
                    await price
        return FeePlan(gas_limit=gas, gas_price=base * self.fee_multiplier, base_price=base,
                       max_fee=self.max_fee)

    async def _simulated_gas(self, msgs: list[Any]) -> int:
        alloc = self.allocator
        assert alloc.next_sequence is not None and alloc.account_number is not None
        try:
            gas = await self.simulate(msgs, alloc.next_sequence, alloc.account_number)
        except E.SequenceMismatch as exc:
            await self._resync(exc.expected)
            gas = await self.simulate(msgs, alloc.next_sequence, alloc.account_number)
        except E.VersionMismatch:
            raise
        except E.Rejected as exc:
            # The message runs in the block, after the fee is taken: a tx the simulation already
            # rejected would fail there too and burn its fee. Never broadcast it.
            raise E.WouldFail(f"simulation says the chain would reject this tx: {exc.message}",
                              code=exc.code, codespace=exc.codespace) from None
        except E.OutOfGas:
            gas = DEFAULT_GAS_LIMIT
        return gas

    def _sign(self, msgs: list[Any], plan: FeePlan, topic_id: int, nonce: int, value: str) -> SignedTx:
        alloc = self.allocator
        assert alloc.next_sequence is not None and alloc.account_number is not None
        built = build_tx(self._need_wallet(), msgs, chain_id=self.chain_id,
                         account_number=alloc.account_number, sequence=alloc.next_sequence,
                         gas_limit=plan.gas_limit, fee_amount=plan.fee(), fee_denom=self.fee_denom,
                         timeout_height=self.window_end(topic_id, nonce))
        return SignedTx(topic_id=topic_id, nonce=nonce, value=value, txhash=built.txhash,
                        tx_bytes=built.tx_bytes, sequence=built.sequence, account_number=alloc.account_number,
                        gas_limit=built.gas_limit, fee=built.fee)

    async def broadcast(self, signed: SignedTx) -> TxResponse:
        """BroadcastTx (sync). Returns the CheckTx response when the tx is in the mempool (code 0, or
        'already in mempool/cache' for these exact bytes); raises the failure's class otherwise."""
        resp = await self.pool.call(
            "BroadcastTx",
            lambda ch, t: TxStub(ch).broadcast_tx(
                BroadcastTxRequest(tx_bytes=signed.tx_bytes, mode=BroadcastMode.SYNC), timeout=t
            ),
        )
        r = resp.tx_response
        if r is None:
            raise E.Unavailable("BroadcastTx returned no tx_response")
        if r.code == 0:
            return r
        if r.codespace == E.SDK and r.code == E.SDK_TX_IN_MEMPOOL_CACHE:
            # The very same bytes are already known to the node: our tx is in flight, not rejected.
            return r
        raise E.classify(r.codespace, r.code, r.raw_log, txhash=signed.txhash)

    async def _height_or_none(self) -> int | None:
        try:
            return await self.latest_height()
        except E.Unavailable:
            return None

    async def confirm(self, txhash: str, timeout_s: float | None = None, *,
                      resend: SignedTx | None = None, cadence: Cadence | None = None) -> TxResult:
        """Poll GetTx until the tx is in a block (deadline: `timeout_s`, else confirm_timeout_s). A
        failed DeliverTx raises its class; a tx never seen raises `ConfirmTimeout`.

        With `resend`, the same signed bytes are broadcast again every `rebroadcast_s` while
        waiting: a node that dropped the tx from its mempool gets it back within the window. The
        same bytes have the same hash and sequence, so at most one copy can ever be included. When
        the node says that sequence is used and GetTx still does not find the tx a block later,
        another tx took the sequence and ours can never land: `Superseded`, so the caller can
        re-sign at once instead of waiting out the deadline.
        """
        budget = self.confirm_timeout_s if timeout_s is None else timeout_s
        poll_s = cadence.poll_s if cadence is not None else self.poll_interval_s
        rebroadcast_s = cadence.rebroadcast_s if cadence is not None else self.rebroadcast_s
        deadline = time.monotonic() + budget
        next_resend = time.monotonic() + rebroadcast_s
        superseded_at: float | None = None
        # The chain was at least this high when the tx was sent: a re-send goes only to a chain that
        # still is (bytes of a reset chain's past, same chain id, could land on the new one). The
        # height the last poll read, before this send, is such a bound without another request
        # (one of ~17 per window); only a client that has read none asks.
        floor = (self._seen_height or await self._height_or_none()) if resend is not None else None
        while True:
            # Every caller has just broadcast the tx: it cannot be in a block before the next one
            # is committed, so the first look waits one period too (a look at once finds only a
            # block committed in the milliseconds since the send: a request spent on nothing).
            await asyncio.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
            try:
                r = await self.get_tx(txhash)
            except E.Unavailable:
                r = None  # keep polling other endpoints until the deadline
            if r is not None:
                if r.code != 0:
                    raise E.classify(r.codespace, r.code, r.raw_log, txhash=txhash)
                return r
            now = time.monotonic()
            if superseded_at is not None and now >= superseded_at:
                raise E.Superseded(f"tx {txhash} is not in a block and its sequence is used by another tx",
                                   txhash=txhash)
            if resend is not None and now >= next_resend:
                next_resend = now + rebroadcast_s
                height = await self._height_or_none()  # also raises ChainIdMismatch
                if floor is not None and height is not None and height < floor:
                    log.warning("the chain went back from height %d to %d since tx %s was sent: not re-sending "
                                "it (the chain was reset)", floor, height, txhash)
                    resend = None
                    continue
                floor = floor if floor is not None else height
                try:
                    await self.broadcast(resend)
                except E.SequenceMismatch:
                    # Used by this very tx (GetTx finds it once indexed) or by another one: give
                    # the index one re-send period (about a block) before deciding.
                    superseded_at = time.monotonic() + rebroadcast_s
                    resend = None
                except E.ChainError as exc:
                    log.info("re-broadcast of %s not accepted now: %s", txhash, describe(exc))
                    if "signature verification failed" in str(exc).lower():
                        # Bytes that verified when first sent no longer do: the node may now serve
                        # another chain (ChainIdMismatch ends the cycle); either way, never again.
                        resend = None
                        await self.check_chain_id()
            if time.monotonic() >= deadline:
                raise E.ConfirmTimeout(f"tx {txhash} not in a block after {budget:.3g}s", txhash=txhash)

    def window_end(self, topic_id: int, nonce: int) -> int:
        """The last height the chain accepts a payload for `nonce` (its timeout height), or 0 when
        unknown (no topic read yet, or a window in seconds before the block time is known)."""
        timing = self.timing(topic_id)
        return timing.end_height(nonce, self.clock.seconds_per_block) if timing is not None else 0

    async def _payload(self, topic_id: int, nonce: int, value: float | str) -> tuple[list[Any], str]:
        adapter = await self._adapter()
        topic = self._topics.get(topic_id)
        if topic is None:
            # Its output arity decides the label (v10); its window, the tx's timeout height.
            topic = await self.topic(topic_id)
        built = adapter.payload(self._need_wallet(), topic, topic_id, nonce, value)
        return [built.msg], built.value

    async def prepare(self, topic_id: int, nonce: int, value: float | str) -> SignedTx:
        """Sign the payload with the wallet's next sequence (no broadcast). The caller must hold
        `allocator.lock` from here until `broadcast` returns, or use `submit`."""
        msgs, canonical = await self._payload(topic_id, nonce, value)
        plan = await self._plan(msgs)
        return self._sign(msgs, plan, topic_id, nonce, canonical)

    # -- the lifecycle -----------------------------------------------------------------------

    async def submit(
        self,
        topic_id: int,
        nonce: int,
        value: float | str,
        *,
        on_signed: OnSigned | None = None,
        on_broadcast: OnBroadcast | None = None,
        confirm_timeout_s: float | None = None,
        cadence: Cadence | None = None,
    ) -> SubmitResult:
        """Sign, broadcast, confirm one inference, retrying what a retry can fix.

        `on_signed` runs after signing and before broadcast; `on_broadcast` after CheckTx accepted
        the tx and before confirmation. Both are synchronous so a journal write completes first.
        `confirm_timeout_s` bounds each confirmation (the scheduler passes what is left of the
        window); None means the client's confirm_timeout_s. A message type the node no longer
        knows (a chain upgrade between versions) is rebuilt once for the version it now serves.
        `cadence`: the topic's confirm pace.
        """
        for _ in range(2):
            msgs, canonical = await self._payload(topic_id, nonce, value)
            try:
                resp, signed, attempts = await self._send(msgs, topic_id, nonce, canonical, on_signed,
                                                          on_broadcast, confirm_timeout_s, cadence)
                break
            except E.VersionMismatch as exc:
                log.warning("topic %d nonce %d: %s; probing the node's emissions version", topic_id, nonce,
                            exc.message)
                await self.negotiate()
        else:
            raise E.Rejected(f"the node rejects both emissions message versions (topic {topic_id})")
        return SubmitResult(
            topic_id=topic_id, nonce=nonce, value=canonical, txhash=signed.txhash, height=int(resp.height),
            gas_wanted=int(resp.gas_wanted), gas_used=int(resp.gas_used), fee=signed.fee,
            sequence=signed.sequence, attempts=attempts,
        )

    async def register(self, topic_id: int) -> TxResult:
        """Register the wallet as a worker in `topic_id` (AlreadyRegistered if it already is)."""
        adapter = await self._adapter()
        msgs = [adapter.register(self._need_wallet(), topic_id)]
        resp, _, _ = await self._send(msgs, topic_id, 0, "", None, None)
        return resp

    async def _send(
        self,
        msgs: list[Any],
        topic_id: int,
        nonce: int,
        value: str,
        on_signed: OnSigned | None,
        on_broadcast: OnBroadcast | None,
        confirm_timeout_s: float | None = None,
        cadence: Cadence | None = None,
    ) -> tuple[TxResult, SignedTx, int]:
        plan: FeePlan | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            async with self.allocator.lock:
                if plan is None:
                    plan = await self._plan(msgs)
                signed, accepted = await self._sign_and_broadcast(msgs, plan, topic_id, nonce, value,
                                                                  on_signed, attempt)
            if not accepted:
                continue
            if on_broadcast is not None:
                on_broadcast(signed)
            try:
                resp = await self.confirm(signed.txhash, confirm_timeout_s, resend=signed, cadence=cadence)
            except E.Superseded:
                # Another tx used our sequence (an outside tx from this key): ours can never land,
                # so a fresh signature is the only way to fill the window.
                log.info("tx %s superseded (sequence %d used elsewhere); re-signing", signed.txhash,
                         signed.sequence)
                async with self.allocator.lock:
                    await self._resync()
                continue
            except E.OutOfGas as exc:
                # DeliverTx ran out of gas: the sequence was consumed, the nonce is still ours to fill.
                log.info("tx %s ran out of gas in the block; raising gas", signed.txhash)
                plan.regas(exc.gas_used, self.gas_adjustment)
                continue
            return resp, signed, attempt
        raise E.Rejected(f"gave up after {MAX_ATTEMPTS} attempts (topic {topic_id}, nonce {nonce})")

    async def _sign_and_broadcast(
        self,
        msgs: list[Any],
        plan: FeePlan,
        topic_id: int,
        nonce: int,
        value: str,
        on_signed: OnSigned | None,
        attempt: int,
    ) -> tuple[SignedTx, bool]:
        """One attempt under the wallet lock. Returns (signed, True) when the node accepted it,
        (signed, False) when the plan was adjusted and a new attempt should follow."""
        alloc = self.allocator
        signed = self._sign(msgs, plan, topic_id, nonce, value)
        if on_signed is not None:
            on_signed(signed)
        try:
            await self.broadcast(signed)
        except E.SequenceMismatch as exc:
            log.info("sequence mismatch (expected %s); resyncing", exc.expected)
            await self._resync(exc.expected)
            return signed, False
        except E.InsufficientFee as exc:
            self._gas_price = None
            plan.reprice(exc.required, signed.fee)
            log.info("insufficient fee %d; repricing to %s/gas", signed.fee, plan.gas_price)
            return signed, False
        except E.OutOfGas as exc:
            plan.regas(exc.gas_used, self.gas_adjustment)
            return signed, False
        except E.MempoolFull:
            if attempt >= MAX_ATTEMPTS:
                raise
            await asyncio.sleep(self.backoff_s * attempt)
            self.pool.rotate()
            return signed, False
        alloc.next_sequence = signed.sequence + 1
        return signed, True


def _header(resp: typing.Any) -> typing.Any:
    """The header of a GetLatestBlock / GetBlockByHeight answer (newer nodes fill `sdk_block`)."""
    block = resp.sdk_block or resp.block
    return block.header if block else None
