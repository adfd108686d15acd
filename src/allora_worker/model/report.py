"""The backtest report: metrics table, verdict, per-fold scores, and three PNG plots.

Plots use matplotlib's Agg backend (files only, no display needed on a server).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from allora_worker.model.metrics import Metrics
from allora_worker.model.walkforward import WalkForwardResult

ROLLING_HOURS = 30 * 24


@dataclass
class ReportContext:
    title: str
    data_source: str
    data_sha256: str
    verdict: str
    walk_forward: WalkForwardResult
    metrics: dict[str, Metrics]
    command: str = ""


def metrics_table_md(metrics: dict[str, Metrics]) -> str:
    """The measured table (Markdown), the same one docs/MODEL.md and the README show."""
    lines = [
        "| model | MSE | MAE | ZPTAE | directional acc. [95% CI] | Pearson r |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for name, m in metrics.items():
        r = "n/a (constant)" if not np.isfinite(m.pearson) else f"{m.pearson:+.3f}"
        lines.append(
            f"| {name} | {m.mse:.6f} | {m.mae:.5f} | {m.zptae:.5f} | "
            f"{m.directional_accuracy:.3f} [{m.da_ci_low:.3f}, {m.da_ci_high:.3f}] | {r} |"
        )
    return "\n".join(lines)


# The scatter of 23k hourly rows is one blot of overlapping dots: bin it instead.
SCATTER_GRID = 45


def figures(ctx: ReportContext) -> list[tuple[str, str, Figure]]:
    """(caption, file name, figure) of each plot; every axis labelled."""
    p = ctx.walk_forward.predictions
    model = ctx.walk_forward.model_kind
    horizon = ctx.walk_forward.horizon_hours
    out: list[tuple[str, str, Figure]] = []

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [2.2, 1]})
    ax1.plot(p.index, p["y"], lw=0.6, color="0.55", label="realized")
    ax1.plot(p.index, p[model], lw=1.0, color="C3", label=f"{model} (predicted)")
    ax1.axhline(0, color="k", lw=0.5)
    ax1.set_title(f"{horizon} h log-return: predicted vs realized (out of sample)")
    ax1.set_ylabel(f"{horizon} h log-return")
    ax1.set_xlabel("prediction time (UTC)")
    ax1.legend(loc="upper left")
    bins = ax2.hexbin(p[model], p["y"], gridsize=SCATTER_GRID, bins="log", mincnt=1, cmap="Reds")
    fig.colorbar(bins, ax=ax2, label="hourly rows per bin")
    ax2.axhline(0, color="k", lw=0.5)
    ax2.axvline(0, color="k", lw=0.5)
    ax2.set_title(f"{len(p):,} rows, binned")
    ax2.set_xlabel(f"predicted ({model})")
    ax2.set_ylabel("realized")
    fig.tight_layout()
    out.append(("Predicted vs realized", "predicted_vs_realized.png", fig))

    # Every MSE moves with the market's volatility, so raw curves overlap; divided by the zero
    # baseline's MSE over the same 30 days, below 1 means better than predicting nothing.
    fig, ax = plt.subplots(figsize=(13, 4.5))
    zero = ((p["zero"] - p["y"]) ** 2).rolling(ROLLING_HOURS, min_periods=ROLLING_HOURS // 2).mean()
    for i, name in enumerate(ctx.walk_forward.columns):
        if name == "zero":
            continue
        err = ((p[name] - p["y"]) ** 2).rolling(ROLLING_HOURS, min_periods=ROLLING_HOURS // 2).mean()
        ax.plot(
            p.index,
            err / zero,
            lw=1.4 if name == model else 0.9,
            color="k" if name == model else f"C{i}",
            label=name,
        )
    ax.axhline(1.0, color="0.4", lw=1.0, ls="--", label="zero (baseline)")
    ax.set_title("Rolling 30-day MSE relative to the zero baseline, out of sample (below 1: better than zero)")
    ax.set_ylabel("30-day MSE / zero's 30-day MSE")
    ax.set_xlabel("prediction time (UTC)")
    ax.legend(loc="upper left", ncol=5)
    fig.tight_layout()
    out.append(("Rolling error of the model and each baseline, relative to zero", "rolling_error.png", fig))

    fig, ax = plt.subplots(figsize=(13, 4.5))
    for i, name in enumerate(ctx.walk_forward.columns):
        if name == "zero":
            continue  # makes no directional call; its curve would be flat at 0
        hits = np.where(p[name] == 0, 0.5, (np.sign(p[name]) == np.sign(p["y"])).astype(float))
        ax.plot(
            p.index,
            np.cumsum(hits - 0.5),
            lw=1.4 if name == model else 0.9,
            color="k" if name == model else f"C{i}",
            label=name,
        )
    ax.axhline(0, color="k", lw=0.5)
    ax.set_title(
        "Cumulative directional hits minus a coin flip (hourly rows; 168 consecutive rows share one week)"
    )
    ax.set_ylabel("hits - 0.5 per row, cumulative")
    ax.set_xlabel("prediction time (UTC)")
    ax.legend(loc="upper left", ncol=4)
    fig.tight_layout()
    out.append(("Cumulative directional hits", "cumulative_hits.png", fig))
    return out


def _plots(ctx: ReportContext, out: Path) -> list[tuple[str, str]]:
    files: list[tuple[str, str]] = []
    for caption, name, fig in figures(ctx):
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        files.append((caption, name))
    return files


def _fold_table(ctx: ReportContext) -> str:
    p = ctx.walk_forward.predictions
    names = ctx.walk_forward.columns
    lines = [
        "| fold | test from | rows | " + " | ".join(f"MSE {n}" for n in names) + " |",
        "|---:|---|---:|" + "---:|" * len(names),
    ]
    for fold, part in p.groupby("fold"):
        cells = " | ".join(f"{float(np.mean((part[n] - part['y']) ** 2)):.5f}" for n in names)
        lines.append(f"| {fold} | {part.index[0]:%Y-%m-%d} | {len(part)} | {cells} |")
    return "\n".join(lines)


def render_markdown(ctx: ReportContext, plots: list[tuple[str, str]]) -> str:
    wf = ctx.walk_forward
    p = wf.predictions
    first = wf.folds[0]
    cfg_line = (
        f"{len(wf.folds)} folds of {int((first.test_end - first.test_start) / pd.Timedelta(hours=1))} h, "
        f"expanding training window, purge {wf.horizon_hours} h (the horizon) + embargo "
        f"{int((first.test_start - first.train_end) / pd.Timedelta(hours=1)) - wf.horizon_hours} h "
        "between the last training row and the first test row"
    )
    parts = [
        f"# {ctx.title}",
        "",
        f"- Data: `{ctx.data_source}` (sha256 of candle values `{ctx.data_sha256[:16]}…`)",
        f"- Target: {wf.horizon_hours} h log-return ln(close[t+h]/close[t]), one row per hour",
        f"- Out-of-sample rows: {len(p)} ({p.index[0]:%Y-%m-%d} .. {p.index[-1]:%Y-%m-%d}), "
        f"effective independent periods ≈ {len(p) / wf.horizon_hours:.0f}",
        f"- Walk-forward: {cfg_line}",
        "- Every parameter (weights, ridge alpha, boosting rounds, baseline scales, the ZPTAE scale) "
        "is fitted on each fold's training rows only.",
    ]
    if ctx.command:
        parts.append(f"- Produced by: `{ctx.command}`")
    parts += [
        "",
        "## Verdict",
        "",
        ctx.verdict,
        "",
        "## Out-of-sample metrics",
        "",
        metrics_table_md(ctx.metrics),
        "",
        "ZPTAE is computed by `model/losses.py`, the same function as the SDK's `make_zptae_loss` (alpha 0.25, beta 2, "
        "mse_norm 0.01, gamma 4; checked against it by tests/model/test_losses.py), scale set "
        "to the std of the training fold's targets. Directional accuracy counts a prediction of exactly 0 as "
        "half a hit; its 95% Wilson interval uses the effective sample (rows / horizon), not the row count. "
        "BTC 7-day returns are close to unpredictable: differences inside these intervals are noise.",
        "",
        "## Per fold",
        "",
        _fold_table(ctx),
        "",
        "## Plots",
        "",
    ]
    for caption, name in plots:
        parts += [f"### {caption}", "", f"![{caption}]({name})", ""]
    return "\n".join(parts)


_HTML_HEAD = (
    "<!doctype html><meta charset='utf-8'><title>backtest</title>\n"
    "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}img{max-width:100%}</style>\n"
)


def markdown_to_html(md: str) -> str:
    """The report's Markdown as one standalone HTML page: CommonMark plus tables (markdown-it-py).

    Raw HTML inside the Markdown is escaped, not passed through.
    """
    from markdown_it import MarkdownIt

    body: str = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
    return _HTML_HEAD + body


def write_report(ctx: ReportContext, out_dir: Path | str, fmt: str = "md") -> Path:
    """Write report.md or report.html plus its PNG plots into `out_dir`; return the report path."""
    if fmt not in ("md", "html"):
        raise ValueError(f"report format must be md or html, not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = render_markdown(ctx, _plots(ctx, out))
    path = out / f"report.{fmt}"
    path.write_text(md if fmt == "md" else markdown_to_html(md), encoding="utf-8")
    return path
