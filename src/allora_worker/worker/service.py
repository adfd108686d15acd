"""The daemon's lifecycle: start, pre-flight, READY, the topic loops, heartbeat, signals, shutdown.

Only a bad configuration at start (exit 2), a failed pre-flight or a held wallet lock (exit 3),
the end time, a signal, or a topic made inactive with `on_inactive = "stop"` end the process;
no failed cycle does.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from allora_worker import __version__
from allora_worker.chain.client import ChainClient
from allora_worker.chain.emissions import EmissionsAdapter
from allora_worker.chain.wallet import Wallet, WalletError
from allora_worker.config import ConfigError, Settings, health_exposed, validate
from allora_worker.exitcodes import EXIT_CONFIG, EXIT_NOTHING_SUBMITTED, EXIT_OK, EXIT_PREFLIGHT, EXIT_UNEXPECTED
from allora_worker.journal import (
    FencedOut,
    InstanceLock,
    InstanceLockedError,
    Journal,
    JournalError,
    require_free_space,
)
from allora_worker.journal_guard import JournalRefused, open_journal, start_new_epoch
from allora_worker.logging_setup import get_logger
from allora_worker.market.clock import Clock
from allora_worker.secrets import describe
from allora_worker.worker.cycle import CycleCounter, CycleResult
from allora_worker.worker.health import HealthServer, HealthState
from allora_worker.worker.heartbeat import HeartbeatFile, RunCounters, write_heartbeat
from allora_worker.worker.in_doubt import first_safe_nonce
from allora_worker.worker.metrics import WorkerMetrics
from allora_worker.worker.performance import PerformanceTracker
from allora_worker.worker.permissions import tighten_state_dir
from allora_worker.worker.preflight import LEASE_CHECK, Check, run_checks
from allora_worker.worker.reconcile import reconcile
from allora_worker.worker.scheduler import ChainChanged, Shared, TopicLoop
from allora_worker.worker.sdnotify import SystemdNotifier
from allora_worker.worker.topic import TopicRuntime
from allora_worker.worker.wallet_guard import WalletInUse, check_alone
from allora_worker.worker.wiring import client_from_settings, wallet_from_settings

if TYPE_CHECKING:
    from allora_worker.journal_pg import Lease, PostgresJournal

log = get_logger("worker.service")

# A stop request waits this long for cycles to reach a safe point, then cancels them: every
# state is journaled before its effect, so a cancelled cycle is reconciled on the next start.
STOP_GRACE_SECONDS = 7.0
# Pre-flight while no endpoint answers: asked again after this long, doubling up to the max.
PREFLIGHT_RETRY_START_S = 2.0
PREFLIGHT_RETRY_MAX_S = 60.0
# heartbeat.json is rewritten after a loop iteration that changed what it says, but not more often
# than this: a devnet polls many times a second, and the file only needs to tell "alive" from "stuck".
HEARTBEAT_FILE_MIN_INTERVAL_S = 1.0
# ... and after an iteration that changed nothing, once this old (or a quarter of
# health.stall_seconds, the age at which `status` calls the loop stuck, if that is shorter).
HEARTBEAT_FILE_REFRESH_S = 10.0


@dataclass
class RunOptions:
    once: bool = False
    dry_run: bool = False
    until: datetime | None = None
    schedule: str | None = None
    preflight_data: bool = True


@dataclass
class RunSummary:
    exit_code: int = EXIT_OK
    reason: str = ""
    results: list[CycleResult] = field(default_factory=list)
    counters: RunCounters = field(default_factory=RunCounters)
    health_url: str | None = None


class WorkerService:
    """Run with `run()` (blocking) or `await run_async()`. `request_stop()` is thread-safe."""

    def __init__(
        self,
        settings: Settings,
        options: RunOptions | None = None,
        *,
        reload_settings: Callable[[], Settings] | None = None,
        clock: Clock | None = None,
        on_ready: Callable[[WorkerService], None] | None = None,
        on_result: Callable[[CycleResult], None] | None = None,
        install_signal_handlers: bool = True,
        wallet: Wallet | None = None,
    ) -> None:
        self.settings = settings
        # An injected wallet (the demo's throwaway key) replaces the configured mnemonic.
        self._wallet = wallet
        self.options = options or RunOptions()
        self.reload_settings = reload_settings
        self.clock = clock
        self.on_ready = on_ready
        self.on_result = on_result
        self.install_signal_handlers = install_signal_handlers
        self.metrics = WorkerMetrics()
        self.health = HealthState(
            stall_seconds=settings.health.stall_seconds,
            max_windows_without_success=settings.health.max_windows_without_success,
        )
        self.counters = RunCounters()
        # Cycle numbers run on across SIGHUP reloads.
        self._cycles = CycleCounter()
        self.notifier = SystemdNotifier()
        self.health_server: HealthServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._generation_stop = asyncio.Event()
        self._reload_requested = False
        self._stop_reason = ""
        self._lease_lost = False
        # The shared journal's lease while this host runs on one (None on SQLite).
        self._lease: Lease | None = None
        self._wallet_in_use: WalletInUse | None = None
        # Added to every heartbeat file: this host's role when the journal is shared.
        self._heartbeat_extra: dict[str, Any] = {}
        self._journal: Journal | None = None
        self._journal_fresh = False
        # Nonces below this are not submitted (a new journal while a tx of ours is pending).
        self._not_before: int | None = None
        self.ready = threading.Event()
        self._heartbeat_file = HeartbeatFile(
            settings.state_dir, min_interval_s=HEARTBEAT_FILE_MIN_INTERVAL_S,
            refresh_s=min(HEARTBEAT_FILE_REFRESH_S, settings.health.stall_seconds / 4))
        self._beat_failed = False
        self._balance_failed = False
        self._tracker: PerformanceTracker | None = None

    # -- control (any thread) ---------------------------------------------------------------

    def request_stop(self, reason: str = "stop requested") -> None:
        if self._loop is None:
            self._stop_reason = reason
            return
        self._loop.call_soon_threadsafe(self._on_stop, reason)

    def request_reload(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_reload)

    def _on_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            log.info("%s: stopping at the next safe point", reason)
            self._stop_reason = reason
            self.notifier.stopping()
        self._stop.set()
        self._generation_stop.set()

    def _on_reload(self) -> None:
        log.info("SIGHUP: reloading configuration and models after the current cycle")
        self._reload_requested = True
        self._generation_stop.set()

    # -- entry points ------------------------------------------------------------------------

    def run(self) -> RunSummary:
        return asyncio.run(self.run_async())

    async def run_async(self) -> RunSummary:
        summary = RunSummary(counters=self.counters)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._generation_stop = asyncio.Event()
        if self.install_signal_handlers and threading.current_thread() is threading.main_thread():
            # From the first moment: a SIGTERM during start-up is a clean stop too, never a kill.
            self._loop.add_signal_handler(signal.SIGTERM, self._on_stop, "SIGTERM")
            self._loop.add_signal_handler(signal.SIGINT, self._on_stop, "SIGINT")
            self._loop.add_signal_handler(signal.SIGHUP, self._on_reload)
        problems = validate(self.settings, need_wallet=self._wallet is None)
        if problems:
            for problem in problems:
                log.error("config: %s", problem)
            summary.exit_code, summary.reason = EXIT_CONFIG, "invalid configuration"
            return summary
        try:
            wallet = self._wallet or wallet_from_settings(self.settings)
        except WalletError as exc:
            log.error("wallet: %s", exc)
            summary.exit_code, summary.reason = EXIT_CONFIG, "wallet"
            return summary
        lock = InstanceLock(self.settings.state_dir, wallet.address)
        try:
            lock.acquire()
            tighten_state_dir(self.settings.state_dir)
        except InstanceLockedError as exc:
            log.error("%s", exc)
            summary.exit_code, summary.reason = EXIT_PREFLIGHT, "wallet lock held by another process"
            return summary
        except OSError as exc:
            log.error("state directory %s cannot be used (%s); the journal must be written before any tx, "
                      "so nothing will be submitted: fix the path or its permissions",
                      self.settings.state_dir, exc.strerror or exc)
            summary.exit_code, summary.reason = EXIT_PREFLIGHT, "state directory unusable"
            return summary
        try:
            return await self._run_locked(wallet, summary)
        finally:
            lock.release()

    async def _run_locked(self, wallet: Wallet, summary: RunSummary) -> RunSummary:
        settings = self.settings
        try:
            if settings.state_url:
                from allora_worker.journal_pg import PostgresJournal

                # The shared journal: its schema is versioned and its writes fenced by the lease.
                shared = PostgresJournal(settings.state_url, password_file=settings.state_password_file)
                try:
                    shared.claim_owner(wallet.address, settings.effective_chain_id)  # one database per wallet
                except Exception:
                    shared.close()
                    raise
                journal: Journal = shared
            else:
                opened = open_journal(settings.journal_path, chain_id=settings.effective_chain_id,
                                      wallet=wallet.address)
                journal, self._journal_fresh = opened.journal, opened.fresh
        except JournalRefused as exc:
            log.error("journal refused: %s", exc)
            summary.exit_code, summary.reason = EXIT_PREFLIGHT, "journal refused"
            return summary
        except JournalError as exc:
            log.error("journal: %s; nothing will be submitted without it", exc)
            summary.exit_code, summary.reason = EXIT_PREFLIGHT, "journal unavailable"
            return summary
        lease: Lease | None = None
        if settings.state_url:
            from allora_worker.journal_pg import Lease, PostgresJournal

            assert isinstance(journal, PostgresJournal)
            lease = self._lease = Lease(journal.params, wallet.address, settings.lease_seconds)
            journal_pg: PostgresJournal = journal
        client = client_from_settings(settings, wallet)
        client.on_version = self._on_emissions_version
        try:
            runtimes = [TopicRuntime.build(settings, t, self.clock) for t in settings.effective_topics]
            self._banner(wallet, runtimes)
            checks = await self._preflight(settings, client, runtimes)
            if checks is None:
                summary.reason = self._stop_reason or "stopped"
                return summary
            for check in checks:
                (log.info if check.ok else log.error)("pre-flight %s", check.line())
            if any(c.name == LEASE_CHECK and not c.ok for c in checks):
                summary.exit_code, summary.reason = EXIT_CONFIG, "invalid configuration: lease_seconds"
                log.error("config: lease_seconds must be shorter than every topic's submission window "
                          "(see the FAIL line above); not starting")
                return summary
            if not all(c.ok for c in checks):
                summary.exit_code, summary.reason = EXIT_PREFLIGHT, "pre-flight checks failed"
                log.error("pre-flight failed: not starting (see the FAIL lines above; `allora-worker doctor`)")
                return summary
            if lease is None:
                # Before anything is re-sent: a reset chain must never see the old chain's signed txs.
                current = await self._check_not_reset(journal, client)
                if current is None:
                    summary.exit_code, summary.reason = EXIT_PREFLIGHT, "the chain was reset"
                    return summary
                journal = self._journal = current
                if self._journal_fresh:
                    self._not_before = await first_safe_nonce(client, [r.topic_id for r in runtimes])
                await self._reconcile(journal, client)
                # No shared journal: make sure no other journal signs for this wallet (exit 3).
                await check_alone(journal, client, [r.topic_id for r in runtimes])
            self._tracker = PerformanceTracker(journal, client, runtimes, self.metrics, wallet.address)
            await self._refresh_balance(client)
            if settings.health.enabled and not self.options.once:
                try:
                    self.health_server = HealthServer(settings.health.host, settings.health.port, self.health,
                                                      self.metrics, page=lambda: self._page(journal)).start()
                except OSError as exc:
                    # A restart loop under systemd helps nobody: say which port and which setting.
                    log.error("health server cannot listen on %s:%d (%s): another process holds the port; "
                              "stop it, or choose another port with health.port "
                              "(ALLORA_WORKER_HEALTH__PORT; 0 picks a free one) or health.enabled = false",
                              settings.health.host, settings.health.port, exc.strerror or exc)
                    summary.exit_code, summary.reason = EXIT_PREFLIGHT, f"health port {settings.health.port} in use"
                    return summary
                if health_exposed(settings.health.host):
                    log.warning("HEALTH SERVER REACHABLE FROM OTHER MACHINES: %s (health.allow_remote = true); "
                                "/metrics and the status page show the balance, tx hashes and errors: "
                                "firewall the port", self.health_server.url)
                summary.health_url = self.health_server.url
            self.health.ready = lease is None
            self.metrics.ready.set(1)
            self.notifier.ready(f"submitting for topics {', '.join(str(r.topic_id) for r in runtimes)}"
                                if lease is None else "standby until this host holds the wallet's lease")
            log.info("🚀 DAEMON MODE STARTED: %d topic(s), %s", len(runtimes),
                     "one pass" if self.options.once else "until stopped")
            self._beat(force=True)
            self.ready.set()
            if self.on_ready is not None:
                self.on_ready(self)
            if self._stop_reason:
                self._stop.set()
            if lease is None:
                await self._supervise(client, journal, runtimes, summary)
            else:
                await self._run_with_lease(client, journal_pg, lease, runtimes, summary)
            if self._wallet_in_use is not None:
                raise self._wallet_in_use
        except WalletInUse as exc:
            log.error("%s", exc)
            summary.exit_code, summary.reason = EXIT_PREFLIGHT, "another worker uses this wallet"
        except ConfigError as exc:
            log.error("%s", exc)
            summary.exit_code, summary.reason = EXIT_CONFIG, "invalid configuration"
        except Exception as exc:
            log.exception("the daemon failed unexpectedly: %s", describe(exc))
            summary.exit_code, summary.reason = EXIT_UNEXPECTED, describe(exc)
        finally:
            if lease is not None:
                lease.release()
                lease.close()
            if self.health_server is not None:
                self.health_server.stop()
            client.close()
            (self._journal or journal).close()
            self._shutdown_summary(summary)
        return summary

    # -- the running daemon ------------------------------------------------------------------

    async def _reconcile(self, journal: Journal, client: ChainClient) -> None:
        settled = await reconcile(journal, client)
        for item in settled:
            log.info("reconciled topic %d nonce %d: %s -> %s", item.topic_id, item.nonce, item.before,
                     item.after)

    # -- active/standby on a shared journal ----------------------------------------------------

    async def _run_with_lease(self, client: ChainClient, journal: PostgresJournal, lease: Lease,
                              runtimes: list[TopicRuntime], summary: RunSummary) -> None:
        """Standby until this host holds the wallet's lease; then reconcile, submit, and keep it.

        Losing the lease (not renewed in time: a pause, a partition, the database down) stops
        the topic loops at once and returns to standby; the journal's fence refuses any write
        this host attempts after the lease is gone. A stop request releases the lease as soon
        as the loops are at a safe point, so the standby takes over without waiting for expiry.
        """
        while not self._stop.is_set():
            token = await self._wait_for_lease(lease)
            if token is None:
                break
            journal.fence = lease.fence
            self._lease_lost = False
            self._set_role("active", f"lease token {token}")
            log.info("LEASE ACQUIRED: this host is ACTIVE for %s (fencing token %d, lease %.3gs)",
                     lease.wallet, token, lease.ttl)
            # The other host may have moved the account sequence: ask the chain before signing.
            client.forget_sequence()
            keeper = asyncio.create_task(self._keep_lease(lease), name="lease")
            try:
                await self._reconcile(journal, client)  # in-flight txs of the last active first
                # The pair's txs are all in this journal: an inference of ours on chain that it never
                # sent was signed by a daemon on another database (exit 3, as on SQLite).
                await check_alone(journal, client, [r.topic_id for r in runtimes])
                await self._supervise(client, journal, runtimes, summary)
            except FencedOut as exc:
                log.error("%s", exc)
                self._lease_lost = True
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
                journal.fence = None
            if not self._lease_lost:
                break
            self._set_role("standby", f"lease token {token} lost")
            log.warning("LEASE LOST: token %d is no longer ours; STANDBY now (nothing more is signed here)", token)
            summary.reason = ""
        if lease.token is not None:
            await asyncio.to_thread(lease.release)
            log.info("LEASE RELEASED: the standby may take over now")

    async def _wait_for_lease(self, lease: Lease) -> int | None:
        from allora_worker.journal import JournalUnavailable
        from allora_worker.journal_pg import lease_holder

        interval = min(max(lease.ttl / 4, 0.2), 5.0)
        said = None
        while not self._stop.is_set():
            try:
                token = await asyncio.to_thread(lease.try_acquire)
                if token is not None:
                    return token
                holder = await asyncio.to_thread(lease_holder, lease.params, lease.wallet)
                who = f"held by {holder.holder} (token {holder.token})" if holder else "held"
                situation = who
            except JournalUnavailable as exc:
                who = f"database unreachable ({exc})"
                situation = "unreachable"  # said once, however the connection attempts fail
            self._set_role("standby", who)
            if situation != said:
                log.info("STANDBY: the wallet's lease is %s; taking over when it expires", who)
                said = situation
            self.health.progress()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)
        return None

    async def _keep_lease(self, lease: Lease) -> None:
        from allora_worker.journal import JournalUnavailable

        interval = lease.ttl / 4
        while True:
            await asyncio.sleep(interval)
            try:
                held = await asyncio.to_thread(lease.renew)
            except JournalUnavailable as exc:
                log.warning("lease renewal failed (%s); the lease lasts %.1fs more at most", exc,
                            max(0.0, lease.seconds_left()))
                held = lease.valid()
            if not held or not lease.valid():
                self._lease_lost = True
                # Standby from this moment in /readyz and status, before the loops have stopped.
                self._set_role("standby", f"lease token {lease.token or 'lost'} lost")
                self._generation_stop.set()
                return

    def _set_role(self, role: str, detail: str) -> None:
        self.health.role = role
        self.health.ready = role == "active"
        self._heartbeat_extra = {"role": role, "lease": detail}
        with contextlib.suppress(OSError):
            write_heartbeat(self.settings.state_dir, self.counters, self._heartbeat_extra)

    async def _supervise(self, client: ChainClient, journal: Journal, runtimes: list[TopicRuntime],
                         summary: RunSummary) -> None:
        background = [asyncio.create_task(self._heartbeat(client), name="heartbeat")]
        if self.notifier.watchdog_interval:
            background.append(asyncio.create_task(self._watchdog(), name="watchdog"))
        try:
            while True:
                self._generation_stop = asyncio.Event()
                # A lease lost before this generation began (while the last active's in-flight txs
                # were reconciled, say) was signalled on the previous event: it must stop this one
                # too, or the loops would run on without a lease and never hand back to standby.
                if self._stop.is_set() or self._lease_lost:
                    self._generation_stop.set()
                shared = Shared(client=client, journal=journal, metrics=self.metrics, health=self.health,
                                counters=self.counters, cycles=self._cycles,
                                stop=self._generation_stop, dry_run=self.options.dry_run,
                                on_result=self.on_result, on_iteration=self._beat,
                                space_check=self._space_check())
                loops = [self._topic_loop(r, shared) for r in runtimes]
                tasks = [asyncio.create_task(tl.run(once=self.options.once), name=f"topic-{tl.topic_id}")
                         for tl in loops]
                await self._wait_generation(tasks, summary)
                for tl in loops:
                    # A stop the operator asked for (SIGTERM) is why the daemon ends, not a topic
                    # that stopped by itself earlier while the others went on.
                    if tl.ended_reason and not self._stop_reason:
                        summary.reason = tl.ended_reason
                if shared.chain_changed is not None:
                    renewed = self._after_chain_change(journal, shared.chain_changed)
                    if renewed is None:
                        summary.exit_code, summary.reason = EXIT_PREFLIGHT, str(shared.chain_changed)
                        break
                    journal = self._journal = renewed
                    continue
                if self._stop.is_set() or self.options.once or self._lease_lost:
                    break
                if self._reload_requested:
                    self._reload_requested = False
                    runtimes = self._reloaded_runtimes(runtimes)
                    if self._tracker is not None:
                        self._tracker.runtimes = runtimes
                    continue
                # Every topic loop ended by itself (end time, inactive topic): the daemon is done.
                break
        finally:
            await _cancel_and_wait(background)
        if self.options.once:
            submitted = any(r.outcome in ("accepted", "already_submitted", "dry_run") for r in summary.results)
            summary.exit_code = EXIT_OK if submitted else EXIT_NOTHING_SUBMITTED
            summary.reason = "submitted" if submitted else "nothing submitted (no open window, or it failed)"
        elif not summary.reason:
            summary.reason = self._stop_reason or "all topics ended"

    async def _check_not_reset(self, journal: Journal, client: ChainClient) -> Journal | None:
        """At start: a chain below a nonce the journal holds, or whose account sequence for this
        wallet is not past a tx the journal saw land, was reset; apply `chain.on_reset`.

        (The sequence catches a reset chain that has already grown past our heights.)
        """
        top = journal.max_nonce()
        if top is None:
            return journal
        height = await client.latest_height()
        why = None
        if height < top:
            why = f"the chain is at height {height}, below nonce {top} that this journal already holds"
        landed = journal.max_landed_sequence()
        if why is None and landed is not None:
            sequence = (await client.account()).sequence
            if sequence <= landed:
                why = (f"the chain's account sequence for this wallet is {sequence}, but this journal holds a tx "
                       f"with sequence {landed} that landed in a block")
        if why is None:
            return journal
        return self._after_chain_change(journal, ChainChanged(
            f"{why}: the chain was reset (same chain id, new history)", reset=True))

    def _after_chain_change(self, journal: Journal, event: ChainChanged) -> Journal | None:
        """A new journal epoch for a reset chain (chain.on_reset = "new_journal"), else None: stop."""
        # A shared (PostgreSQL) journal is not archived from one host: both must be told.
        if not event.reset or self.settings.chain.on_reset != "new_journal" or journal.dialect != "sqlite":
            log.error("%s. Nothing more is submitted; exiting with code %d. %s", event, EXIT_PREFLIGHT,
                      "Fix the gRPC endpoint or the chain id." if not event.reset else
                      "Its rows are not mixed with the new chain's: set chain.on_reset = \"new_journal\" "
                      "to archive this journal and start a new journal epoch, or use another state_dir.")
            return None
        try:
            opened, archived = start_new_epoch(journal)
        except (JournalRefused, OSError) as exc:
            log.error("%s; a new journal epoch could not be started: %s", event, exc)
            return None
        log.warning("%s: the old chain's journal is archived as %s; journal epoch %d begins for the new chain",
                    event, archived, opened.identity.epoch)
        return opened.journal

    def _topic_loop(self, runtime: TopicRuntime, shared: Shared) -> TopicLoop:
        topic_until = runtime.settings.until
        candidates = [u for u in (self.options.until, self.settings.until, topic_until) if u is not None]
        until = min((_aware(u) for u in candidates), default=None)
        schedule = self.options.schedule or runtime.settings.schedule
        loop = TopicLoop(runtime, shared, until=until, schedule=schedule)
        loop.auto_rebroadcast = self.settings.chain.rebroadcast_seconds is None
        loop.not_before = self._not_before
        return loop

    async def _preflight(self, settings: Settings, client: ChainClient,
                         runtimes: list[TopicRuntime]) -> list[Check] | None:
        """The pre-flight checks, asked again while their only failures are an unreachable chain.

        Exit 3 tells systemd not to restart (RestartPreventExitStatus): on a host that boots before
        its network, or while the only node restarts, exiting would leave no worker at all. A check
        the chain answered (not registered, another chain id) still ends the start at once. None
        when a stop was asked while waiting.
        """
        delay = PREFLIGHT_RETRY_START_S
        since = time.monotonic()
        while True:
            checks = await run_checks(settings, client, runtimes, check_data=self.options.preflight_data)
            failed = [c for c in checks if not c.ok]
            if self.options.once or not failed or not all(c.unreachable for c in failed):
                if delay != PREFLIGHT_RETRY_START_S:
                    log.info("pre-flight: the chain answers again after %.0fs", time.monotonic() - since)
                return checks
            if delay == PREFLIGHT_RETRY_START_S:
                for check in failed:
                    log.warning("pre-flight %s", check.line())
            log.warning("pre-flight: no endpoint answers (%d check(s) waiting on the chain); asking again "
                        "in %.0fs; nothing is signed until it answers", len(failed), delay)
            # systemd (Type=notify) would kill a start that outlasts TimeoutStartSec: say we wait.
            self.notifier.status("waiting for the chain: no endpoint answers")
            self.notifier.notify(f"EXTEND_TIMEOUT_USEC={int((delay + 60) * 1_000_000)}")
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return None
            except TimeoutError:
                pass
            delay = min(delay * 2, PREFLIGHT_RETRY_MAX_S)

    async def _wait_generation(self, tasks: list[asyncio.Task[list[CycleResult]]], summary: RunSummary) -> None:
        pending = set(tasks)
        stop_waiter = asyncio.create_task(self._generation_stop.wait())
        try:
            while pending:
                done, _ = await asyncio.wait([*pending, stop_waiter], return_when=asyncio.FIRST_COMPLETED)
                finished = pending & done
                pending -= finished
                for task in finished:
                    try:
                        summary.results.extend(task.result())
                    except WalletInUse as exc:
                        # Stop the other topics too, then report it (exit 3) once they are safe.
                        self._wallet_in_use = exc
                        self._on_stop("another worker uses this wallet")
                if stop_waiter in done:
                    break
            if pending:
                # Cycles finish at a safe point within the grace period, or are cancelled. A lost
                # lease cancels at once: nothing they could still do would be recorded.
                grace = 0 if self._lease_lost else STOP_GRACE_SECONDS
                settled, late = await asyncio.wait(pending, timeout=grace) if grace else (set(), pending)
                for task in settled:
                    if not task.cancelled() and task.exception() is None:
                        summary.results.extend(task.result())
                for task in late:
                    if grace:
                        log.warning("%s did not reach a safe point in %.0fs; cancelling (journal is consistent)",
                                    task.get_name(), grace)
                    else:
                        log.info("%s cancelled: the lease is gone (journal is consistent)", task.get_name())
                await _cancel_and_wait(late)
        finally:
            stop_waiter.cancel()

    def _reloaded_runtimes(self, current: list[TopicRuntime]) -> list[TopicRuntime]:
        if self.reload_settings is None:
            for runtime in current:
                runtime.reload_bundle()
            log.info("reload: models will be reloaded (no config file to re-read)")
            return current
        try:
            fresh = self.reload_settings()
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return current
        problems = validate(fresh, need_wallet=self._wallet is None)
        if problems:
            log.error("reload refused, keeping the running configuration: %s", "; ".join(problems))
            return current
        if (fresh.effective_endpoints, fresh.effective_chain_id) != (
            self.settings.effective_endpoints, self.settings.effective_chain_id
        ):
            log.warning("reload: network changes need a restart; keeping the running endpoints")
        self.settings = fresh
        runtimes = [TopicRuntime.build(fresh, t, self.clock) for t in fresh.effective_topics]
        log.info("reload: configuration re-read; topics %s; models reloaded",
                 ", ".join(str(r.topic_id) for r in runtimes))
        return runtimes

    async def _heartbeat(self, client: ChainClient) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            # The balance is journaled with the scores, in one transaction.
            await self._track(await self._refresh_balance(client, record=False))
            outcomes = ", ".join(f"{k}={v}" for k, v in sorted(self.counters.outcomes.items())) or "none yet"
            last_tx = self.counters.last_tx_hashes[-1] if self.counters.last_tx_hashes else "none"
            log.info("💓 HEARTBEAT: up %s, %d cycles, outcomes: %s, last tx %s",
                     _duration(self.counters.uptime_seconds), self.counters.cycles, outcomes, last_tx)
            # Not forced: the file says nothing the line above changed, and the loop's iterations
            # keep it fresh (HeartbeatFile.refresh_s). A forced rewrite here was one file creation
            # and rename per heartbeat, i.e. per window on an hourly topic.
            self._beat()

    def _space_check(self) -> Callable[[], None] | None:
        """The free-space reserve of the SQLite journal's disk (a PostgreSQL journal keeps its own)."""
        settings = self.settings
        if settings.state_url or settings.state_min_free_kib <= 0:
            return None
        return lambda: require_free_space(settings.state_dir, settings.state_min_free_kib * 1024)

    def _beat(self, force: bool = False) -> None:
        """Offer heartbeat.json a rewrite after every loop iteration: `status` and a probe see what
        changed within an iteration (a second at most), and a file older than its refresh period
        (`HeartbeatFile`) means a stuck loop."""
        healthy, detail = self.health.verdict()
        try:
            self._heartbeat_file.beat(self.counters, {
                **self._heartbeat_extra, "state": "running", "healthy": healthy, "problems": detail.get("problems", []),
                "windows_without_success": detail.get("windows_without_success", {}),
            }, force=force)
        except OSError as exc:
            if not self._beat_failed:
                log.warning("cannot write the heartbeat file: %s", exc)
            self._beat_failed = True
        else:
            self._beat_failed = False

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_interval or 10.0
        while True:
            await asyncio.sleep(interval)
            healthy_loop = time.monotonic() - self.health.last_progress < self.settings.health.stall_seconds
            if healthy_loop:
                self.notifier.watchdog()
            else:
                log.error("loop stalled: withholding the systemd watchdog ping so systemd restarts us")

    def _page(self, journal: Journal) -> str:
        """The status page (health server thread): running state, windows, performance, wallet."""
        from allora_worker.worker.report import collect, render_html

        healthy, detail = self.health.verdict()
        c = self.counters
        words = (f"{'running' if healthy else 'running, UNHEALTHY'}: up {_duration(c.uptime_seconds)}, "
                 f"{c.cycles} cycles, outcomes: "
                 + (", ".join(f"{k}={v}" for k, v in sorted(c.outcomes.items())) or "none yet"))
        topic_ids = [t.id for t in self.settings.effective_topics]
        return render_html(collect(journal, topic_ids), title="allora-worker status",
                           state={"healthy": healthy, "words": words, "problems": detail.get("problems", [])})

    def _may_record(self) -> bool:
        """May this host write the journal now? Always on SQLite; on a shared journal only while
        it holds the lease (a standby, or a leader whose lease ran out, records nothing)."""
        lease = self._lease
        return lease is None or (not self._lease_lost and lease.valid())

    async def _track(self, balance: int | None = None) -> None:
        """Realized losses, scores, runway (and `balance`, when read): never allowed to disturb the
        heartbeat or the loops."""
        if self._tracker is None or not self._may_record():
            return
        try:
            with contextlib.suppress(FencedOut):  # the lease may run out between the check and the write
                await self._tracker.update(balance)
        except Exception as exc:
            log.warning("performance tracking failed this time: %s", describe(exc))

    async def _refresh_balance(self, client: ChainClient, *, record: bool = True) -> int | None:
        """The wallet's balance into the metrics (and the journal when `record`); None when unread."""
        try:
            balance = await client.balance()
            self.metrics.balance.set(balance)
            if record and self._tracker is not None and self._may_record():
                with contextlib.suppress(FencedOut):  # the lease may run out between the check and the write
                    self._tracker.record_balance(balance)
        except Exception as exc:
            # Once per failing stretch: during an outage the topic loops already said so.
            (log.debug if self._balance_failed else log.warning)("balance query failed: %s", describe(exc))
            self._balance_failed = True
            return None
        self._balance_failed = False
        return balance

    # -- words for people --------------------------------------------------------------------

    def _banner(self, wallet: Wallet, runtimes: list[TopicRuntime]) -> None:
        s = self.settings
        log.info("allora-worker %s starting", __version__)
        log.info("  network:  %s (%s) via %s", s.network, s.effective_chain_id, ", ".join(s.effective_endpoints))
        log.info("  address:  %s", wallet.address)
        for runtime in runtimes:
            t = runtime.settings
            log.info("  topic %d: model %s, data %s, schedule %s%s", t.id, runtime.bundle_dir, "+".join(t.sources),
                     self.options.schedule or t.schedule, f", until {t.until.isoformat()}" if t.until else "")
        end = self.options.until or s.until
        log.info("  end time: %s", end.isoformat() if end else "none (runs until stopped)")
        log.info("  state:    %s (journal %s)", s.state_dir, s.journal_path.name)
        if self.options.dry_run:
            log.info("  DRY RUN: transactions are signed and logged, never broadcast")

    def _on_emissions_version(self, adapter: EmissionsAdapter) -> None:
        if self.counters.emissions_version != adapter.version:
            log.info("  emissions: %s (probed from the node)", adapter.name)
        self.counters.emissions_version = adapter.version
        self.metrics.emissions_version.set(adapter.version)

    def _shutdown_summary(self, summary: RunSummary) -> None:
        c = self.counters
        outcomes = ", ".join(f"{k}={v}" for k, v in sorted(c.outcomes.items())) or "none"
        log.info("🛑 DAEMON SHUTDOWN COMPLETE: %s; up %s, Total cycles: %d, outcomes: %s",
                 summary.reason or "done", _duration(c.uptime_seconds), c.cycles, outcomes)
        with contextlib.suppress(OSError):
            write_heartbeat(self.settings.state_dir, c, {"state": "stopped", "stopped": True,
                                                          "reason": summary.reason})


async def _cancel_and_wait(tasks: list[asyncio.Task[Any]] | set[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until every one has ended.

    Cancelled again while one is still running: on Python 3.11 `asyncio.wait_for` swallows a
    cancellation that lands as its inner call completes, and a heartbeat that swallowed it would
    otherwise be awaited forever (the daemon then never got back to standby).
    """
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
        for task in pending:
            log.debug("%s is still running after a cancel; cancelling it again", task.get_name())
    for task in tasks:
        if not task.cancelled():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"
