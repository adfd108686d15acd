"""Pre-flight checks: everything that must hold before the daemon says READY.

Each check yields a plain-words verdict; `allora-worker doctor` prints them all, and `run` refuses
to start (exit code 3) when any fails, so a misconfigured worker fails loudly at start instead
of quietly missing windows for weeks.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass

from allora_worker.chain import errors as chain_errors
from allora_worker.chain.client import ChainClient
from allora_worker.chain.emissions import UnsupportedTopic
from allora_worker.config import Settings
from allora_worker.market.errors import MarketError
from allora_worker.model.errors import BundleError
from allora_worker.secrets import describe
from allora_worker.worker.topic import TopicRuntime

# The one pre-flight failure that is the configuration's, not the world's: `run` exits 2 on it.
LEASE_CHECK = "lease shorter than the submission window"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    # Failed only because no endpoint answered (a network not up yet at boot, a node restarting):
    # the world's state, not the configuration's; `run` waits for the chain instead of exiting.
    unreachable: bool = False

    def line(self) -> str:
        return f"[{'PASS' if self.ok else 'FAIL'}] {self.name}: {self.detail}"


async def run_checks(
    settings: Settings, client: ChainClient, runtimes: list[TopicRuntime], *, check_data: bool = True
) -> list[Check]:
    checks: list[Check] = [_state_dir_writable(settings)]
    # One query after another: on a loaded host, queries sent together (7a01d12) shared each call's
    # deadline with everything else the process ran, and a full test run at load ~9 saw a topic's
    # four queries miss a 1 s call timeout together, for a wall-time saving never measured apart.
    checks.append(await _guard("chain id", _chain_id(client)))
    version = await _guard("emissions version", _emissions_version(client))
    checks.append(version)
    checks.append(await _guard("balance", _balance(settings, client)))
    for runtime in runtimes:
        topic_id = runtime.topic_id
        if version.ok:
            checks.append(await _guard(f"topic {topic_id} exists and is active", _topic_active(client, topic_id)))
            checks.append(await _guard(f"topic {topic_id} registration", _registered(client, topic_id)))
            checks.append(await _guard(f"topic {topic_id} worker whitelist", _permitted(client, topic_id)))
            checks.append(await _guard(f"topic {topic_id} output", _output(client, topic_id)))
        else:
            # Every topic query would repeat the version failure: one line says it.
            checks.append(Check(f"topic {topic_id} on chain", False,
                                "not checked: the node's emissions version is not usable (see above)",
                                unreachable=version.unreachable))
        checks.append(_model(runtime))
        if check_data:
            checks.append(await _data(runtime))
    if settings.state_url and version.ok and runtimes:
        checks.append(await _guard(LEASE_CHECK, _lease_fits(settings, client, [r.topic_id for r in runtimes])))
    return checks


async def _guard(name: str, probe: asyncio.Future[str] | object) -> Check:
    try:
        detail = await probe  # type: ignore[misc]
    except _Failed as failed:
        return Check(name, False, str(failed))
    except chain_errors.Unavailable as exc:  # DeadlineExceeded too
        return Check(name, False, describe(exc), unreachable=True)
    except chain_errors.ChainError as exc:
        return Check(name, False, describe(exc))
    except Exception as exc:
        return Check(name, False, describe(exc))
    return Check(name, True, str(detail))


class _Failed(Exception):
    pass


def _state_dir_writable(settings: Settings) -> Check:
    path = settings.state_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as exc:
        return Check("state directory", False,
                     f"{path} is not writable ({exc.strerror}); the journal must be written before any tx")
    return Check("state directory", True, f"{path} is writable")


async def _chain_id(client: ChainClient) -> str:
    chain_id = await client.check_chain_id()
    height = await client.latest_height()
    return f"{chain_id} at height {height} via {client.pool.current.url}"


async def _balance(settings: Settings, client: ChainClient) -> str:
    balance = await client.balance()
    minimum = settings.chain.min_balance_uallo
    if balance < minimum:
        raise _Failed(
            f"{client.wallet.address if client.wallet else '?'} holds {balance} uallo, below the minimum "
            f"{minimum}; fund the wallet (on the devnet: allora-worker devnet --fund ADDRESS=UALLO, "
            "see docs/DEVNET.md)"
        )
    return f"{balance} uallo ({balance / 1e18:.6f} ALLO)"


async def _topic_active(client: ChainClient, topic_id: int) -> str:
    topic = await client.topic(topic_id)
    active = await client.is_topic_active(topic_id)
    # Blocks on released chains, seconds on scheduler-driven epochs: the topic does not say which,
    # its nonces do once two were seen (chain/timing.py), so no unit is claimed here.
    summary = (f"'{topic.metadata}', epoch {topic.epoch_length}, window "
               f"{topic.worker_submission_window} (blocks, or seconds on scheduler-driven epochs), "
               f"loss {topic.loss_method}")
    if not active:
        raise _Failed(f"inactive on chain ({summary})")
    return summary


async def _lease_fits(settings: Settings, client: ChainClient, topic_ids: list[int]) -> str:
    """A standby takes over `lease_seconds` after the active stops renewing: a lease that is not
    shorter than a topic's submission window means a dead active can cost that topic whole windows,
    not at most the one it died in."""
    spb = await client.seconds_per_block()
    if spb is None or spb <= 0:
        return "not checked yet: the chain is too young to time its blocks"
    lease = settings.lease_seconds
    said = []
    for topic_id in topic_ids:
        blocks = int(getattr(await client.topic(topic_id), "worker_submission_window", 0) or 0)
        if blocks <= 0:
            said.append(f"topic {topic_id}: window not counted in blocks, not checked")
            continue
        window = blocks * spb
        if lease >= window:
            raise _Failed(
                f"lease_seconds = {lease:g} is not shorter than topic {topic_id}'s submission window "
                f"({blocks} blocks x {spb:.2f} s = {window:.1f} s): a standby could not take over inside "
                f"a window; set lease_seconds well below {window:.0f} (docs/DEPLOYMENT.md: lease x 1.25 "
                "plus one cycle should fit in the window)"
            )
        said.append(f"topic {topic_id}: lease {lease:g} s < window {window:.1f} s ({blocks} blocks x {spb:.2f} s)")
    return "; ".join(said)


async def _registered(client: ChainClient, topic_id: int) -> str:
    if not await client.is_registered(topic_id):
        address = client.wallet.address if client.wallet else "?"
        raise _Failed(f"{address} is not registered as a worker; run: allora-worker register --topic {topic_id}")
    return "registered as a worker"


async def _emissions_version(client: ChainClient) -> str:
    # UnsupportedVersionError names the version the node serves.
    adapter = await client.negotiate()
    return f"the node serves {adapter.name}"


async def _permitted(client: ChainClient, topic_id: int) -> str:
    if not await client.can_submit(topic_id):
        address = client.wallet.address if client.wallet else "?"
        raise _Failed(f"{address} is not permitted to submit to topic {topic_id} (CanSubmitWorkerPayload: the "
                      "topic has a worker whitelist); ask the topic's creator to add the wallet")
    return "permitted to submit"


async def _output(client: ChainClient, topic_id: int) -> str:
    topic = await client.topic(topic_id)
    adapter = await client.negotiate() if client.emissions is None else client.emissions
    try:
        return adapter.check_topic(topic)
    except UnsupportedTopic as exc:
        raise _Failed(str(exc)) from None


def _model(runtime: TopicRuntime) -> Check:
    if not runtime.uses_bundle:
        name = f"topic {runtime.topic_id} predictor"
        try:
            runtime.reload_bundle()
            predictor = runtime.current_predictor()
        except BundleError as exc:
            return Check(name, False, str(exc))
        return Check(name, True, predictor.describe())
    name = f"topic {runtime.topic_id} model bundle"
    try:
        runtime.reload_bundle()
        bundle = runtime.current_bundle()
    except BundleError as exc:
        return Check(name, False, f"{exc} (train one: allora-worker train --out {runtime.bundle_dir})")
    kind = bundle.manifest.get("model", {}).get("format", "?")
    return Check(name, True, f"{runtime.bundle_dir} ({kind}, hash {bundle.content_hash[:12]}, "
                             f"horizon {bundle.horizon_hours} h)")


async def _data(runtime: TopicRuntime) -> Check:
    name = f"topic {runtime.topic_id} market data"
    if not runtime.settings.uses_candles:
        return Check(f"topic {runtime.topic_id} market data", True, "not read (predict_url without check_candles)")
    hours = runtime.bundle.history_hours if runtime.bundle is not None else 48
    try:
        window = await runtime.provider.aget_checked_window(hours, runtime.clock.now())
    except MarketError as exc:
        return Check(name, False, str(exc))
    cross = f", cross-checked with {window.cross_checked_with}" if window.cross_checked_with else ""
    return Check(name, True, f"{len(window.candles)} h from {window.source_name}, last candle "
                             f"{window.last_open_time.isoformat()}{cross}")
