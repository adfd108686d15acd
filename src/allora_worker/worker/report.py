"""`allora-worker report` and the status page: what the worker did and how good it was.

Both are built from the same plain data: the journal's recent windows per topic (accepted, missed,
not admitted, skipped, with reasons) and `performance.summarize` (realized losses, scores, wallet).
The HTML is self-contained: styles inline, plots as data: URIs, no script and nothing fetched.
"""

from __future__ import annotations

import base64
import functools
import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from allora_worker.journal import Entry, Journal
from allora_worker.worker import plots
from allora_worker.worker.perf_summary import summarize

# What a journal state means on a timeline, in words a person reads.
OUTCOME = {
    "confirmed": "accepted",
    "missed": "missed",
    "not_admitted": "not admitted",
    "rejected": "skipped",
    "claimed": "in progress",
    "signed": "in flight",
    "broadcast": "in flight",
}
COLOUR = {"accepted": "#2e7d32", "missed": "#c62828", "not admitted": "#ef6c00", "skipped": "#757575",
          "in progress": "#1565c0", "in flight": "#1565c0"}


@dataclass
class Window:
    topic_id: int
    nonce: int
    outcome: str
    reason: str
    txhash: str | None
    at: float


def windows(entries: list[Entry], per_topic: int = 48) -> dict[int, list[Window]]:
    out: dict[int, list[Window]] = {}
    for entry in sorted(entries, key=lambda e: (e.topic_id, e.nonce)):
        outcome = OUTCOME.get(entry.state, entry.state)
        if entry.state == "confirmed" and (entry.chain_code not in (0, None) or entry.height is None):
            reason = "already on chain"
        elif entry.state == "confirmed":
            reason = f"height {entry.height}"
        else:
            reason = entry.error or ""
        out.setdefault(entry.topic_id, []).append(
            Window(entry.topic_id, entry.nonce, outcome, reason, entry.txhash, entry.updated_at))
    return {t: ws[-per_topic:] for t, ws in out.items()}


def collect(journal: Journal, topic_ids: list[int] | None = None) -> dict[str, Any]:
    return {"summary": summarize(journal, topic_ids), "windows": windows(journal.entries())}


def _fmt(value: float | None, digits: int = 6) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _allo(uallo: float | None) -> str:
    # Devnet and testnet fees are far below 1e-6 ALLO: keep the uallo figure beside it.
    return "n/a" if uallo is None else f"{uallo / 1e18:.6f} ALLO ({uallo:.0f} uallo)"


def topic_lines(topic_id: int, t: dict[str, Any]) -> list[str]:
    """The words for one topic (Markdown-safe plain text), shared by report and status."""
    loss = t["mean_loss"]
    lines = [f"realized: {t['evaluated']} accepted submission(s) past their horizon; mean loss "
             f"ours {_fmt(loss['ours'])}, zero baseline {_fmt(loss['zero'])}, network {_fmt(loss['network'])}; "
             f"better than zero in {t['beats_zero']} of {t['evaluated']}"]
    if t["in_active_set"] is None:
        lines.append(f"EMA score {_fmt(t['score'])}; active set's lowest {_fmt(t['lowest'])}: "
                     "in the active set: unknown")
    else:
        lines.append(f"EMA score {_fmt(t['score'])}; active set's lowest {_fmt(t['lowest'])}: in the active set: "
                     f"{'yes' if t['in_active_set'] else 'no'}, by {_fmt(abs(t['margin']))}")
    return lines


def wallet_lines(w: dict[str, Any]) -> list[str]:
    runway = w["runway_days"]
    return [f"balance {_allo(w['balance_uallo'])}; net change {_allo(w['net_change_uallo'])}; "
            f"fees spent {_allo(w['spent_uallo'])}; "
            + (f"runway: fees for {runway:.1f} more days at this cadence" if runway is not None
               else "runway: unknown (no spending recorded yet)")]


def _plot_set(summary: dict[str, Any]) -> list[tuple[str, str, Callable[[], bytes | None]]]:
    items: list[tuple[str, str, Callable[[], bytes | None]]] = []
    for topic_id, t in summary["topics"].items():
        rows, hist = t["rows"], t["score_history"]
        items.append((f"topic{topic_id}-predictions", f"topic {topic_id}: prediction vs realized vs network",
                      functools.partial(plots.predictions, rows, topic_id)))
        items.append((f"topic{topic_id}-loss", f"topic {topic_id}: rolling loss vs zero",
                      functools.partial(plots.rolling_loss, rows, topic_id)))
        items.append((f"topic{topic_id}-score", f"topic {topic_id}: EMA score vs the active-set threshold",
                      functools.partial(plots.scores, hist, topic_id)))
    items.append(("balance", "wallet balance", functools.partial(plots.balance, summary["wallet"]["history"])))
    return items


NO_PLOTS = "plots need matplotlib, which the base install leaves out: pip install 'allora-worker[train]'"


def _draw(draw: Callable[[], bytes | None]) -> bytes | None:
    try:
        return draw()
    except ImportError:
        return None


def _plots_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def write_markdown(data: dict[str, Any], out_dir: Path) -> Path:
    """report.md with its plots as PNG files beside it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = data["summary"]
    lines = ["# allora-worker report", "", f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.", ""]
    for topic_id, t in summary["topics"].items():
        lines += [f"## Topic {topic_id}", ""] + [f"- {line}" for line in topic_lines(topic_id, t)] + [""]
        if t["rows"]:
            lines += ["| nonce | ours | realized | network | loss | zero loss | network loss |",
                      "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
            lines += [f"| {r['nonce']} | {r['predicted']:.6f} | {r['realized']:.6f} | {_fmt(r['network_value'])} | "
                      f"{r['loss']:.6g} | {r['loss_zero']:.6g} | {_fmt(r['loss_network'])} |" for r in t["rows"]]
            lines.append("")
    lines += ["## Wallet", ""] + [f"- {line}" for line in wallet_lines(summary["wallet"])] + [""]
    if not _plots_available():
        lines += [f"({NO_PLOTS})", ""]
    for name, title, draw in _plot_set(summary):
        png = _draw(draw)
        if png is not None:
            (out_dir / f"{name}.png").write_bytes(png)
            lines += [f"![{title}]({name}.png)", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


_STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
.timeline{display:flex;flex-wrap:wrap;gap:2px;margin:.5em 0}
.w{width:14px;height:22px;display:inline-block;border-radius:2px}
.legend span{margin-right:1em}.state{font-size:1.1em;font-weight:bold}
.ok{color:#2e7d32}.bad{color:#c62828}img{max-width:100%;border:1px solid #eee;margin:.3em 0}"""


def render_html(data: dict[str, Any], *, state: dict[str, Any] | None = None, title: str = "allora-worker") -> str:
    """One self-contained HTML page (no script, no external resource)."""
    e = html.escape
    summary = data["summary"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{e(title)}</h1>"]
    if state is not None:
        healthy = state.get("healthy")
        parts.append(f"<p class='state {'ok' if healthy else 'bad'}' id='running-state'>{e(state['words'])}</p>")
        for problem in state.get("problems", []):
            parts.append(f"<p class='bad'>{e(problem)}</p>")
    parts.append("<div class='legend'>" + "".join(
        f"<span><i class='w' style='background:{c}'></i> {e(o)}</span>"
        for o, c in COLOUR.items() if o != "in progress") + "</div>")
    topic_ids = sorted(set(summary["topics"]) | set(data["windows"]))
    for topic_id in topic_ids:
        parts.append(f"<h2 id='topic-{topic_id}'>Topic {topic_id}</h2>")
        ws = data["windows"].get(topic_id, [])
        parts.append(f"<p>last {len(ws)} windows, oldest first:</p><div class='timeline'>" + "".join(
            f"<i class='w' style='background:{COLOUR.get(w.outcome, '#999')}' "
            f"title='nonce {w.nonce}: {e(w.outcome)}{': ' + e(w.reason) if w.reason else ''}'></i>"
            for w in ws) + "</div>")
        recent = [w for w in ws if w.outcome in ("missed", "not admitted", "skipped")][-8:]
        if recent:
            parts.append("<table class='reasons'><tr><th>nonce</th><th>outcome</th><th>reason</th></tr>" + "".join(
                f"<tr><td>{w.nonce}</td><td>{e(w.outcome)}</td><td style='text-align:left'>{e(w.reason)}</td></tr>"
                for w in recent) + "</table>")
        t = summary["topics"].get(topic_id)
        if t is not None:
            parts += [f"<p class='perf'>{e(line)}</p>" for line in topic_lines(topic_id, t)]
            if t["rows"]:
                parts.append("<table class='realized'><tr><th>nonce</th><th>ours</th><th>realized</th>"
                             "<th>network</th><th>loss</th><th>zero loss</th><th>network loss</th></tr>" + "".join(
                                 f"<tr><td>{r['nonce']}</td><td>{r['predicted']:.6f}</td><td>{r['realized']:.6f}</td>"
                                 f"<td>{_fmt(r['network_value'])}</td><td>{r['loss']:.6g}</td>"
                                 f"<td>{r['loss_zero']:.6g}</td><td>{_fmt(r['loss_network'])}</td></tr>"
                                 for r in t["rows"][-12:]) + "</table>")
    wallet = wallet_lines(summary["wallet"])
    parts.append("<h2>Wallet</h2>" + "".join(f"<p id='wallet'>{e(line)}</p>" for line in wallet))
    parts.append("<h2>Plots</h2>")
    if not _plots_available():
        parts.append(f"<p>{e(NO_PLOTS)}</p>")
    for _name, caption, draw in _plot_set(summary):
        png = _draw(draw)
        if png is not None:
            parts.append(f"<figure><img alt='{e(caption)}' src='data:image/png;base64,"
                         f"{base64.b64encode(png).decode()}'><figcaption>{e(caption)}</figcaption></figure>")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    parts.append(f"<p style='color:#888;font-size:.8em'>generated {stamp}</p></body></html>")
    return "".join(parts)
