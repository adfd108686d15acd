"""`run` (the daemon), `status`, `doctor` and `demo`.

The worker, chain and model modules are imported inside the commands that use them, so that
`--help`, `--version` and `status` start without loading the SDK's protobuf types or pandas.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from allora_worker.cli.common import fail, global_options, settings_for, setup_logging
from allora_worker.exitcodes import EXIT_CONFIG, EXIT_PREFLIGHT

if TYPE_CHECKING:
    from allora_worker.config import Settings
    from allora_worker.journal import Entry


def _parse_until(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--until {value!r} is not an ISO time such as 2026-12-31T00:00:00Z", code=EXIT_CONFIG)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("run")
    def run(
        ctx: typer.Context,
        once: bool = typer.Option(False, "--once", help="One cycle per topic; exit 0 if it submitted, 4 if not."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Everything but the broadcast: sign and log the tx."),
        until: str | None = typer.Option(None, "--until", help="End time (ISO 8601, UTC); graceful stop then."),
        schedule: str | None = typer.Option(
            None, "--schedule", help="nonce (default: follow the chain's windows) or interval (hourly)."
        ),
        topic: list[int] | None = typer.Option(None, "--topic", help="Only these topic ids (repeatable)."),
    ) -> None:
        """Run the worker daemon: submit one prediction to every open window of the configured topics."""
        from allora_worker.config import ConfigError, load_settings
        from allora_worker.worker.service import RunOptions, WorkerService

        if schedule is not None and schedule not in ("nonce", "interval"):
            fail("--schedule must be nonce or interval", code=EXIT_CONFIG)
        end = _parse_until(until)
        options = global_options(ctx)

        def load() -> Settings:
            settings = load_settings(options.config, options.overrides)
            if topic:
                settings = _only_topics(settings, topic)
            return settings

        try:
            settings = load()
        except ConfigError as error:
            typer.echo("invalid configuration:", err=True)
            for problem in error.problems:
                typer.echo(f"  - {problem}", err=True)
            raise typer.Exit(EXIT_CONFIG) from None
        if end is not None and end <= datetime.now(UTC):
            fail(f"--until {end.isoformat()} is in the past", code=EXIT_CONFIG)
        if not settings.effective_topics:
            where = options.config or (
                "./allora-worker.toml" if Path("allora-worker.toml").is_file() else "no config file"
            )
            fail(
                f"no topics configured ({where}): add a [[topics]] table to the config file "
                "(pass it with --config FILE, or name it ./allora-worker.toml), or set TOPIC_ID",
                code=EXIT_CONFIG,
            )
        from allora_worker.worker.permissions import PRIVATE_UMASK

        # Everything the daemon creates (journal, WAL, log, heartbeat, candles) is its own only.
        os.umask(PRIVATE_UMASK)
        setup_logging(settings)
        service = WorkerService(
            settings,
            RunOptions(once=once, dry_run=dry_run, until=end, schedule=schedule),
            reload_settings=load,
        )
        summary = service.run()
        raise typer.Exit(summary.exit_code)

    @app.command("status")
    def status(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        last: int = typer.Option(10, "--last", help="How many recent submissions to show."),
    ) -> None:
        """Show the journal: recent submissions, outcomes, last heartbeat and tx hashes."""
        settings = settings_for(ctx)
        report = status_report(settings, last)
        if as_json:
            typer.echo(json.dumps(report, indent=2))
            return
        hb = report["heartbeat"]
        daemon = report["daemon"]
        typer.echo(f"daemon: {daemon['words']}")
        typer.echo(f"journal: {report['journal']}")
        if report["journal_problem"]:
            typer.echo(f"JOURNAL PROBLEM: {report['journal_problem']}")
        if settings.state_url:
            lease = report.get("lease")
            role = (hb or {}).get("role") if hb and not hb.get("stopped") else None
            typer.echo(f"this host: {role or 'not running'}")
            if lease:
                typer.echo(f"lease: {'held' if lease['active'] else 'expired'} by {lease['holder']} "
                           f"(token {lease['token']}, {lease['expires_in_seconds']}s left)")
            else:
                typer.echo("lease: never taken")
        if hb:
            age = time.time() - hb["time"]
            typer.echo(f"last heartbeat: {age:.0f}s ago, {hb.get('cycles', 0)} cycles this run"
                       + (f"; problems: {'; '.join(hb['problems'])}" if hb.get("problems") else ""))
            if hb.get("emissions_version"):
                typer.echo(f"chain: emissions v{hb['emissions_version']}")
        else:
            typer.echo("last heartbeat: none (the daemon has not run with this state directory)")
        totals = ", ".join(f"{k}={v}" for k, v in report["totals"].items()) or "no submissions yet"
        typer.echo(f"submissions by state: {totals}")
        for line in report["performance"]:
            typer.echo(line)
        for item in report["recent"]:
            when = datetime.fromtimestamp(item["updated_at"], UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            typer.echo(f"  {when} topic {item['topic_id']} nonce {item['nonce']} {item['state']:<9} "
                       f"value {item['value'] or '-'} tx {item['txhash'] or '-'}"
                       + (f" ({item['error']})" if item["error"] and item["state"] != "confirmed" else ""))

    @app.command("report")
    def report_cmd(
        ctx: typer.Context,
        out: Path = typer.Option(Path("report"), "--out", help="Directory for report.md, its plots and report.html."),
    ) -> None:
        """Is it any good, and is it earning? Realized losses vs zero and the network, EMA score vs the
        active set, balance and runway, with plots (Markdown and a self-contained HTML page)."""
        from allora_worker.journal import Journal
        from allora_worker.worker.report import collect, render_html, write_markdown

        settings = settings_for(ctx)
        if not settings.journal_path.exists():
            fail(f"no journal at {settings.journal_path}: the worker has not run with this state directory")
        with Journal(settings.journal_path) as journal:
            data = collect(journal, [t.id for t in settings.effective_topics])
        markdown = write_markdown(data, out)
        page = out / "report.html"
        page.write_text(render_html(data, title="allora-worker report"), encoding="utf-8")
        typer.echo(f"wrote {markdown} and {page}")
        for topic_id, t in data["summary"]["topics"].items():
            from allora_worker.worker.report import topic_lines

            for line in topic_lines(topic_id, t):
                typer.echo(f"topic {topic_id}: {line}")

    @app.command("doctor")
    def doctor(ctx: typer.Context) -> None:
        """Run every pre-flight check and say, in words, which pass and which fail."""
        import asyncio

        from allora_worker.chain.wallet import WalletError
        from allora_worker.config import validate
        from allora_worker.worker.preflight import LEASE_CHECK, Check, run_checks
        from allora_worker.worker.topic import TopicRuntime
        from allora_worker.worker.wiring import client_from_settings, wallet_from_settings

        settings = settings_for(ctx)
        setup_logging(settings, to_file=False)
        problems = validate(settings)
        for problem in problems:
            typer.echo(f"[FAIL] config: {problem}")
        if problems:
            raise typer.Exit(EXIT_CONFIG)
        typer.echo("[PASS] config: valid")
        try:
            wallet = wallet_from_settings(settings)
        except WalletError as exc:
            typer.echo(f"[FAIL] wallet: {exc}")
            raise typer.Exit(EXIT_CONFIG) from None
        typer.echo(f"[PASS] wallet: {wallet.address}")
        runtimes = [TopicRuntime.build(settings, t) for t in settings.effective_topics]

        async def checks() -> list[Check]:
            client = client_from_settings(settings, wallet)
            try:
                return await run_checks(settings, client, runtimes)
            finally:
                client.close()

        results = asyncio.run(checks())
        for check in results:
            typer.echo(check.line())
        if any(c.name == LEASE_CHECK and not c.ok for c in results):
            raise typer.Exit(EXIT_CONFIG)  # as `run` does: the configuration must change
        if not all(c.ok for c in results):
            raise typer.Exit(EXIT_PREFLIGHT)

    @app.command("demo")
    def demo(
        ctx: typer.Context,
        windows: int = typer.Option(6, "--windows", help="How many submission windows to run for."),
        block_time: float = typer.Option(0.25, "--block-time", help="Devnet seconds per block."),
        epoch_length: int = typer.Option(20, "--epoch-length", help="Blocks per epoch (one window each)."),
        workdir: Path | None = typer.Option(None, "--workdir", help="Where the demo keeps its model and state."),
    ) -> None:
        """Run everything offline: devnet + bundled real candles replayed live + model + daemon."""
        from allora_worker.cli.demo import DemoOptions, run_demo

        options = global_options(ctx)
        level = options.overrides.get("log", {}).get("level", "INFO") if options.overrides else "INFO"
        code = run_demo(DemoOptions(windows=windows, block_time=block_time, epoch_length=epoch_length,
                                    workdir=workdir, log_level=level))
        raise typer.Exit(code)


def _only_topics(settings: Settings, topics: list[int]) -> Settings:
    from allora_worker.config import ConfigError

    chosen = [t for t in settings.effective_topics if t.id in topics]
    missing = sorted(set(topics) - {t.id for t in chosen})
    if missing:
        raise ConfigError([f"--topic {m}: no such topic in the configuration" for m in missing])
    return settings.model_copy(update={"topics": chosen, "topic_id": None})


def _shared_journal_view(settings: Settings) -> tuple[list[Entry], str, dict[str, object] | None]:
    """The PostgreSQL journal's rows and who holds the wallet's lease (read-only: no fence needed)."""
    from allora_worker.journal_pg import PostgresJournal, lease_holder
    from allora_worker.worker.wiring import wallet_from_settings

    with PostgresJournal(str(settings.state_url), password_file=settings.state_password_file) as journal:
        entries = journal.entries()
        where = journal.describe()
        address = settings.wallet_address
        if address is None:
            with contextlib.suppress(Exception):
                address = wallet_from_settings(settings).address
        holder = lease_holder(journal.params, address) if address else None
    if holder is None:
        return entries, where, None
    return entries, where, {"holder": holder.holder, "token": holder.token, "active": holder.active,
                            "expires_in_seconds": round(holder.expires_in_seconds, 1)}


def status_report(settings: Settings, last: int = 10) -> dict[str, Any]:
    from allora_worker import journal_guard
    from allora_worker.journal import Journal, JournalError
    from allora_worker.secrets import redact_tree
    from allora_worker.worker.heartbeat import daemon_state, read_heartbeat
    from allora_worker.worker.perf_summary import summarize
    from allora_worker.worker.report import topic_lines, wallet_lines

    totals: dict[str, int] = {}
    recent: list[dict[str, object]] = []
    entries: list[Entry] = []
    where = str(settings.journal_path)
    lease: dict[str, object] | None = None
    problem: str | None = None
    performance: list[str] = []
    if settings.state_url:
        try:
            entries, where, lease = _shared_journal_view(settings)
        except JournalError as exc:
            problem = str(exc)
    else:
        # A damaged or lost journal is reported in words, never as a traceback (`journal_problem`).
        problem = journal_guard.inspect(settings.journal_path)
        if problem is None and settings.journal_path.exists():
            try:
                with Journal(settings.journal_path) as journal:
                    entries = journal.entries()
                    perf = summarize(journal, [t.id for t in settings.effective_topics], recent=0)
                for topic_id, t in perf["topics"].items():  # type: ignore[attr-defined]
                    performance += [f"topic {topic_id}: {line}" for line in topic_lines(topic_id, t)]
                performance += [f"wallet: {line}" for line in wallet_lines(perf["wallet"])]  # type: ignore[arg-type]
            except sqlite3.Error as exc:
                problem, entries = f"the journal {settings.journal_path} cannot be read: {exc}", []
    if entries:
        for entry in entries:
            totals[entry.state] = totals.get(entry.state, 0) + 1
        for entry in sorted(entries, key=lambda e: e.updated_at, reverse=True)[:last]:
            recent.append({
                "topic_id": entry.topic_id, "nonce": entry.nonce, "state": entry.state, "value": entry.value,
                "txhash": entry.txhash, "chain_code": entry.chain_code, "attempts": entry.attempts,
                "error": entry.error, "updated_at": entry.updated_at,
            })
    report = {
        "journal": where,
        "journal_problem": problem,
        **({"lease": lease} if settings.state_url else {}),
        "totals": dict(sorted(totals.items())),
        "recent": recent,
        "last_tx_hashes": [r["txhash"] for r in recent if r["txhash"] and r["state"] == "confirmed"],
        "performance": performance,
        "heartbeat": read_heartbeat(settings.state_dir),
        "daemon": asdict(daemon_state(settings.state_dir, stale_after_s=settings.health.stall_seconds)),
    }
    # Errors and the heartbeat repeat what providers and nodes said (and an older heartbeat file
    # may predate its redaction): every string of the report is masked before anyone sees it.
    return cast(dict[str, object], redact_tree(report))
