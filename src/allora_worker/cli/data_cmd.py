"""`allora-worker data backfill|import|show`: fill and inspect the local candle cache.

pandas and the market modules are imported inside the commands, so that other commands (and
`--help`) do not pay for them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from allora_worker.exitcodes import EXIT_BAD_INPUT, EXIT_DATA

_CACHE_HELP = "Candle cache file (default: candles.sqlite in the state directory, as the daemon uses)."


def _cache_path(ctx: typer.Context, cache: Path | None) -> Path:
    """--cache, else the state directory's cache, as the daemon reads it (flags, env, TOML)."""
    if cache is not None:
        return cache
    from allora_worker.cli.common import settings_for

    return settings_for(ctx).candle_cache_path


def _parse_date(text: str) -> datetime:
    import pandas as pd

    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    moment: datetime = stamp.to_pydatetime()
    return moment


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    data_app = typer.Typer(help="Fill and inspect the local candle cache.", no_args_is_help=True)
    groups["data"] = data_app
    app.add_typer(data_app, name="data")

    @data_app.command("backfill")
    def backfill(
        ctx: typer.Context,
        source: str = typer.Option("tiingo", "--source", "-s", help="One of: tiingo, binance, coinbase."),
        since: str = typer.Option(..., "--since", help="First candle to fetch (UTC date or time)."),
        until: str | None = typer.Option(None, "--until", help="Stop before this time (default: now)."),
        cache: Path | None = typer.Option(None, "--cache", help=_CACHE_HELP),
    ) -> None:
        """Fetch closed hourly candles from a provider into the cache, in provider-sized chunks."""
        import pandas as pd
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from allora_worker.market.cache import CandleCache
        from allora_worker.market.errors import MarketError, ResponseError
        from allora_worker.market.parsing import hour_chunks
        from allora_worker.market.schema import last_closed_open_time
        from allora_worker.market.sources import make_http_source

        try:
            src = make_http_source(source)
        except (ValueError, MarketError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_DATA) from None
        start = _parse_date(since)
        end = (
            _parse_date(until) if until else last_closed_open_time(datetime.now(UTC)) + pd.Timedelta(hours=1)
        )
        chunks = hour_chunks(start, end, src.chunk_hours)
        stored = empty = 0
        with (
            CandleCache(_cache_path(ctx, cache)) as db,
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
            ) as progress,
        ):
            task = progress.add_task(f"{src.name}", total=len(chunks))
            for lo, hi in chunks:
                try:
                    stored += db.store(src.name, src.fetch(lo, hi))
                except ResponseError as exc:
                    if "no closed candles" not in exc.message:
                        typer.echo(f"error: {exc}", err=True)
                        raise typer.Exit(EXIT_DATA) from None
                    empty += 1  # before the listing or a provider outage: nothing to store
                except MarketError as exc:
                    typer.echo(f"error: {exc}", err=True)
                    raise typer.Exit(EXIT_DATA) from None
                progress.advance(task)
        note = f" ({empty} chunk(s) had no candles)" if empty else ""
        typer.echo(
            f"{src.name}: stored {stored} candles from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}{note}"
        )

    @data_app.command("import")
    def import_(
        ctx: typer.Context,
        file: Path = typer.Argument(
            ..., exists=True, dir_okay=False, help="CryptoDataDownload CSV (or .csv.gz)."
        ),
        source: str | None = typer.Option(None, "--source", help="Cache key (default: csv:<file name>)."),
        cache: Path | None = typer.Option(None, "--cache", help=_CACHE_HELP),
    ) -> None:
        """Import a CryptoDataDownload export into the cache, cleaning its quirks (see the report)."""
        from allora_worker.market.cache import CandleCache
        from allora_worker.market.csv_source import read_cryptodatadownload
        from allora_worker.market.errors import MarketError

        try:
            frame, report = read_cryptodatadownload(file)
        except MarketError as exc:
            typer.echo(f"error: cannot import {file}: {exc}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        name = source or f"csv:{file.name}"
        with CandleCache(_cache_path(ctx, cache)) as db:
            db.store(name, frame)
        typer.echo(report.summary())
        for when, why in sorted(report.dropped.items()):
            typer.echo(f"  dropped {when}: {why}")
        typer.echo(f"stored {len(frame)} candles as {name!r}")

    @data_app.command("show")
    def show(
        ctx: typer.Context,
        source: str | None = typer.Option(None, "--source", help="Only this cache key."),
        cache: Path | None = typer.Option(None, "--cache", help=_CACHE_HELP),
        max_gaps: int = typer.Option(10, "--max-gaps", help="List at most this many gaps."),
    ) -> None:
        """Per source in the cache: range, gaps, and the last candle."""
        from allora_worker.market.cache import CandleCache

        path = _cache_path(ctx, cache)
        if not path.exists() and cache is not None:
            typer.echo(f"no cache at {path}", err=True)
            raise typer.Exit(EXIT_DATA)
        if not path.exists():
            # The state directory's cache not filled yet is a state, not a failure.
            typer.echo(f"{path}: no candles yet (fill it with `allora-worker data backfill` or `data import`)")
            return
        with CandleCache(path) as db:
            names = [source] if source else db.sources()
            if not names:
                typer.echo(f"{path}: empty")
                return
            for name in names:
                s = db.summary(name)
                if s.count == 0 or s.first is None or s.last is None:
                    typer.echo(f"{name}: no candles")
                    continue
                typer.echo(
                    f"{name}: {s.count} candles, {s.first:%Y-%m-%d %H:%M} .. {s.last:%Y-%m-%d %H:%M} UTC"
                )
                typer.echo(f"  gaps: {len(s.gaps)} ({s.missing_hours} missing hours)")
                for a, b in s.gaps[:max_gaps]:
                    typer.echo(f"    {a:%Y-%m-%d %H:%M} .. {b:%Y-%m-%d %H:%M}")
                open_, high, low, close, volume = db.read(name, s.last).values[-1]
                typer.echo(
                    f"  last: {s.last:%Y-%m-%d %H:%M} open {open_:g} high {high:g} "
                    f"low {low:g} close {close:g} volume {volume:g}"
                )
