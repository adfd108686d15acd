"""`train`, `backtest` and `evaluate`: thin commands over `allora_worker.model`."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from allora_worker.exitcodes import EXIT_DATA

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

BUNDLED_PREFIX = "bundled:"
DEFAULT_DATA = "bundled:binance"

def _err() -> Console:
    # rich and pandas are imported where used: the root CLI loads this module for every command.
    from rich.console import Console

    return Console(stderr=True)


def _out() -> Console:
    from rich.console import Console

    return Console()


def load_candles(spec: str) -> tuple[pd.DataFrame, str]:
    """Candles from `bundled:NAME`, a CryptoDataDownload export, or a normalized CSV."""
    if spec.startswith(BUNDLED_PREFIX):
        from allora_worker.market.bundled import load_bundled

        name = spec[len(BUNDLED_PREFIX) :]
        try:
            return load_bundled(name), spec  # type: ignore[arg-type]
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--data") from exc
    path = Path(spec)
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory: give one CSV file (or use {DEFAULT_DATA})",
                                 param_hint="--data")
    if not path.is_file():
        raise typer.BadParameter(f"{path} does not exist (or use {DEFAULT_DATA})", param_hint="--data")
    from allora_worker.market.csv_source import read_cryptodatadownload
    from allora_worker.market.errors import MarketError

    try:
        frame, report = read_cryptodatadownload(path)
    except MarketError as exc:
        raise typer.BadParameter(f"cannot import {path}: {exc}", param_hint="--data") from exc
    _err().print(f"[dim]{report.summary()}[/dim]")
    return frame, f"file:{path.name}"


def _utc(value: str | None, option: str) -> pd.Timestamp | None:
    import pandas as pd

    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date", param_hint=option) from exc
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar on stderr; yields callback(stage, done, total)."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    if not enabled:
        yield lambda stage, done, total: None
        return
    columns = (
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_err(), transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _metrics_table(metrics: dict[str, Any], title: str) -> Table:
    from rich.table import Table

    table = Table(title=title)
    for col in ("model", "MSE", "MAE", "ZPTAE", "dir. acc. [95% CI]", "Pearson r"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in metrics.items():
        r = "n/a" if m.pearson != m.pearson else f"{m.pearson:+.3f}"
        table.add_row(
            name,
            f"{m.mse:.6f}",
            f"{m.mae:.5f}",
            f"{m.zptae:.5f}",
            f"{m.directional_accuracy:.3f} [{m.da_ci_low:.3f}, {m.da_ci_high:.3f}]",
            r,
        )
    return table


def train(
    data: str = typer.Option(
        DEFAULT_DATA, "--data", help="CSV file (CryptoDataDownload or normalized), or bundled:NAME."
    ),
    until: str | None = typer.Option(
        None, "--until", help="Train only on candles before this date (UTC, exclusive)."
    ),
    out: Path = typer.Option(..., "--out", help="Bundle directory to write (replaced atomically)."),
    model: str = typer.Option("ridge", "--model", help="ridge (default) or lightgbm."),
    horizon: int = typer.Option(168, "--horizon", min=1, help="Target horizon in hours."),
    topic: int = typer.Option(67, "--topic", min=1, help="Allora topic id recorded in the manifest."),
    validate: bool = typer.Option(
        True, "--validate/--no-validate", help="Run walk-forward validation first."
    ),
    fallback: bool = typer.Option(
        True,
        "--fallback/--no-fallback",
        help="Bundle the best baseline if the model does not beat zero and drift.",
    ),
) -> None:
    """Train a model and write a pickle-free bundle (walk-forward validated, with fallback)."""
    from allora_worker.model.errors import BundleError
    from allora_worker.model.models import MODEL_KINDS
    from allora_worker.model.train import train_bundle

    if model not in MODEL_KINDS:
        raise typer.BadParameter(f"choose one of {list(MODEL_KINDS)}", param_hint="--model")
    candles, source = load_candles(data)
    try:
        with _progress(True) as update:
            result = train_bundle(
                candles,
                out,
                until=_utc(until, "--until"),
                model=model,
                horizon_hours=horizon,
                topic_id=topic,
                validate=validate,
                fallback=fallback,
                data_source=source,
                progress=update,
            )
    except (BundleError, ValueError) as exc:
        _err().print(f"[red]training failed:[/red] {exc}")
        raise typer.Exit(EXIT_DATA) from exc
    if result.metrics:
        _out().print(_metrics_table(result.metrics, "walk-forward, out of sample"))
    typer.echo(result.verdict)
    typer.echo(
        f"bundle: {result.bundle_path} (holds {result.bundled_kind}; {result.train_rows} training rows; "
        f"{result.seconds:.1f} s)"
    )


def backtest(
    data: str = typer.Option(DEFAULT_DATA, "--data", help="CSV file or bundled:NAME."),
    out: Path = typer.Option(Path("reports/backtest"), "--out", help="Report directory."),
    fmt: str = typer.Option("md", "--format", help="md or html."),
    model: str = typer.Option("ridge", "--model", help="ridge or lightgbm."),
    horizon: int = typer.Option(168, "--horizon", min=1, help="Target horizon in hours."),
    until: str | None = typer.Option(None, "--until", help="Use only candles before this date."),
    bundle: Path | None = typer.Option(None, "--bundle", help="Score this bundle (e.g. ONNX) instead of training."),
    predict_url: str | None = typer.Option(None, "--predict-url", help="Score this endpoint (replayed, ?at=)."),
    predictor: str | None = typer.Option(None, "--predictor", help="Score this plugin."),
    every: int = typer.Option(24, "--every", min=1, help="Endpoint/plugin: score every N-th test hour."),
) -> None:
    """Walk-forward backtest of a model against the baselines; writes a report with plots.

    With --bundle, --predict-url or --predictor, a model trained elsewhere is scored on the same
    test folds as the baselines (refitted per fold) instead of training one here.
    """
    from allora_worker.model.backtest import backtest as run_backtest
    from allora_worker.model.backtest import backtest_external
    from allora_worker.model.errors import BundleError
    from allora_worker.model.report import ReportContext, write_report

    if fmt not in ("md", "html"):
        raise typer.BadParameter("choose md or html", param_hint="--format")
    if sum(v is not None for v in (bundle, predict_url, predictor)) > 1:
        raise typer.BadParameter("give at most one of --bundle, --predict-url and --predictor")
    candles, source = load_candles(data)
    cut = _utc(until, "--until")
    if cut is not None:
        candles = candles.loc[candles.index < cut]
    try:
        if bundle is not None:
            from allora_worker.model.bundle import load_bundle
            from allora_worker.model.features import compute_features

            loaded = load_bundle(bundle)
            feats = compute_features(candles)
            model = f"bundle {bundle.name}"
            result = backtest_external(candles, lambda times: loaded.predict_features(feats.loc[times]),
                                       name=bundle.name, horizon_hours=loaded.horizon_hours)
        elif predict_url is not None or predictor is not None:
            from allora_worker.model.evaluate import predict_history

            other = _other_predictor(predict_url, predictor)
            model = predictor or "endpoint"
            with _progress(True) as update:
                result = backtest_external(
                    candles, lambda times: predict_history(other, candles, times,
                                                           lambda d, t: update("predictions", d, t)),
                    name=model, horizon_hours=horizon, every_hours=every)
        else:
            with _progress(True) as update:
                result = run_backtest(
                    candles,
                    model=model,
                    horizon_hours=horizon,
                    progress=lambda d, t: update("walk-forward", d, t),
                )
    except (ValueError, BundleError) as exc:
        _err().print(f"[red]backtest failed:[/red] {exc}")
        raise typer.Exit(EXIT_DATA) from exc
    ctx = ReportContext(
        title=f"Walk-forward backtest: {model}, {horizon} h BTC/USD log-return",
        data_source=source,
        data_sha256=result.data_sha256,
        verdict=result.verdict,
        walk_forward=result.walk_forward,
        metrics=result.metrics,
        command="allora-worker " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "",
    )
    path = write_report(ctx, out, fmt)
    _out().print(_metrics_table(result.metrics, "walk-forward, out of sample"))
    typer.echo(result.verdict)
    typer.echo(f"report: {path}")


def evaluate(
    bundle: Path | None = typer.Option(None, "--bundle", help="Bundle directory (ours, ONNX or converted)."),
    predict_url: str | None = typer.Option(
        None, "--predict-url", help="An inference endpoint, replayed through ?at=<UTC hour> (see docs/MODEL.md)."
    ),
    predictor: str | None = typer.Option(None, "--predictor", help="A plugin's entry-point name."),
    every: int = typer.Option(24, "--every", min=1, help="Endpoint/plugin: one prediction every N hours."),
    horizon: int = typer.Option(168, "--horizon", min=1, help="Endpoint/plugin: the horizon in hours it predicts."),
    data: str = typer.Option(..., "--data", help="CSV file or bundled:NAME."),
    start: str = typer.Option(
        ..., "--from", help="First prediction time (UTC); earlier rows are history only."
    ),
    end: str | None = typer.Option(None, "--to", help="Prediction times before this date (UTC)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    allow_pickle: bool = typer.Option(
        False, "--allow-pickle", help="Allow a legacy model.pkl (needs --model-sha256)."
    ),
    model_sha256: str | None = typer.Option(
        None, "--model-sha256", help="Pinned sha256 of the bundle/pickle."
    ),
) -> None:
    """Score a bundle, an endpoint or a plugin, and the baselines, on a candle file from a date on."""
    from allora_worker.model.bundle import load_bundle
    from allora_worker.model.errors import BundleError
    from allora_worker.model.evaluate import evaluate_bundle, evaluate_predictor

    chosen = [name for name, v in (("--bundle", bundle), ("--predict-url", predict_url), ("--predictor", predictor))
              if v is not None]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --bundle, --predict-url and --predictor")
    first, stop = _utc(start, "--from"), _utc(end, "--to")
    if first is not None and stop is not None and stop <= first:
        raise typer.BadParameter(f"--to {end} is not after --from {start}", param_hint="--to")
    candles, _ = load_candles(data)
    try:
        if bundle is not None:
            loaded = load_bundle(bundle, allow_pickle=allow_pickle, pinned_sha256=model_sha256)
            result = evaluate_bundle(loaded, candles, first, stop)
        else:
            other = _other_predictor(predict_url, predictor)
            with _progress(not as_json) as update:
                result = evaluate_predictor(other, candles, first, stop, horizon_hours=horizon,
                                            every_hours=every, progress=lambda d, t: update("predictions", d, t))
    except BundleError as exc:
        _err().print(f"[red]evaluate failed:[/red] {exc}")
        raise typer.Exit(EXIT_DATA) from exc
    if as_json:
        keys = ("mse", "mae", "zptae", "directional_accuracy", "da_ci_low", "da_ci_high", "pearson")
        doc = {
            "rows": result.rows,
            "metrics": {name: {k: m.to_dict()[k] for k in keys} for name, m in result.metrics.items()},
        }
        typer.echo(json.dumps(doc, allow_nan=False))
    else:
        _out().print(_metrics_table(result.metrics, f"{result.rows} rows from {result.start:%Y-%m-%d}"))


def _other_predictor(predict_url: str | None, predictor: str | None):  # type: ignore[no-untyped-def]
    if predict_url is not None:
        from allora_worker.model.predictors.http import HttpPredictor

        if not predict_url.startswith(("http://", "https://")):
            raise typer.BadParameter("must start with http:// or https://", param_hint="--predict-url")
        # No bound here: scoring shows how wrong it is; the daemon's bound refuses it live.
        return HttpPredictor(predict_url, float("inf"))
    from allora_worker.model.predictors.plugin import PluginPredictor

    return PluginPredictor.load(predictor or "")


def _feature_list(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def import_onnx(
    file: Path = typer.Argument(..., help="The exported model.onnx (one input: rows x features)."),
    features: str = typer.Option(..., "--features", help="Comma-separated feature names, in the model's input order."),
    out: Path = typer.Option(..., "--out", help="Bundle directory to write (replaced atomically)."),
    data: str = typer.Option(DEFAULT_DATA, "--data", help="Candles for the probe row: CSV file or bundled:NAME."),
    horizon: int = typer.Option(168, "--horizon", min=1, help="Horizon in hours the model predicts."),
    topic: int = typer.Option(67, "--topic", help="Allora topic id recorded in the manifest."),
    output_name: str | None = typer.Option(None, "--output-name", help="Graph output to read (default: the first)."),
    reference: Path | None = typer.Option(
        None, "--reference", help="CSV of feature rows plus 'prediction' from the native model, checked first."
    ),
) -> None:
    """Build a bundle from an ONNX model; the probe is replayed before it is accepted."""
    from allora_worker.model.errors import BundleError
    from allora_worker.model.onnx_import import import_onnx as run_import

    candles, source = load_candles(data)
    try:
        loaded, checked = run_import(file, _feature_list(features), out, candles=candles, data_source=source,
                                     horizon_hours=horizon, topic_id=topic, output_name=output_name,
                                     reference=reference)
    except BundleError as exc:
        _err().print(f"[red]import failed:[/red] {exc}")
        raise typer.Exit(EXIT_DATA) from exc
    probe = loaded.manifest["probe"]
    if checked is not None:
        typer.echo(f"reference check: {checked.describe()}")
    typer.echo(f"bundle: {loaded.path} (onnx, {len(loaded.features)} features, hash {loaded.content_hash[:12]}); "
               f"probe at {loaded.manifest['training']['probe_time']} predicts {probe['prediction']!r}")


def convert_legacy(
    src: Path = typer.Argument(..., help="The legacy directory: model.pkl and features.json."),
    out: Path = typer.Option(..., "--out", help="New bundle directory (pickle-free)."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Unpickle the reviewed model.pkl one last time."),
    model_sha256: str | None = typer.Option(None, "--model-sha256", help="Pinned sha256 of model.pkl."),
    data: str = typer.Option(DEFAULT_DATA, "--data", help="Candles whose newest slice is the agreement check."),
    topic: int = typer.Option(67, "--topic", help="Allora topic id recorded in the manifest."),
    rtol: float = typer.Option(1e-6, "--rtol", help="Allowed ONNX/pickle difference, of the largest prediction."),
) -> None:
    """Convert a legacy model.pkl to an ONNX bundle, once; refuses when they disagree."""
    from allora_worker.model.convert import convert_legacy as run_convert
    from allora_worker.model.errors import BundleError

    candles, source = load_candles(data)
    try:
        done = run_convert(src, out, pinned_sha256=model_sha256, allow_pickle=allow_pickle, candles=candles,
                           data_source=source, topic_id=topic, rtol=rtol)
    except BundleError as exc:
        _err().print(f"[red]conversion refused:[/red] {exc}")
        raise typer.Exit(EXIT_DATA) from exc
    renamed = {k: v for k, v in done.mapping.items() if k != v}
    typer.echo(f"converted {done.estimator}; features: {', '.join(done.bundle.features)}"
               + (f" (renamed: {', '.join(f'{k} -> {v}' for k, v in renamed.items())})" if renamed else ""))
    typer.echo(f"ONNX vs pickle: {done.agreement.describe()}")
    typer.echo(f"bundle: {done.bundle.path} (hash {done.bundle.content_hash[:12]}); it loads without --allow-pickle")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this module's commands to the root app."""
    app.command("train")(train)
    app.command("backtest")(backtest)
    app.command("evaluate")(evaluate)
    bundle_app = typer.Typer(help="Bring your own model: import ONNX, convert a legacy pickle.",
                             no_args_is_help=True)
    groups["bundle"] = bundle_app
    app.add_typer(bundle_app, name="bundle")
    bundle_app.command("import-onnx")(import_onnx)
    bundle_app.command("convert-legacy")(convert_legacy)
