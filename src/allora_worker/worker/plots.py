"""The performance plots, as PNG bytes (matplotlib, Agg): shared by `report` and the status page.

Each function returns None when there is nothing to draw yet, so callers show words instead.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.0), dpi=90)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def predictions(rows: list[dict[str, Any]], topic_id: int) -> bytes | None:
    """Our prediction vs the realized value vs the network's, per scored nonce."""
    if not rows:
        return None
    fig, ax = _figure()
    nonces = [r["nonce"] for r in rows]
    ax.plot(nonces, [r["realized"] for r in rows], "k.-", label="realized")
    ax.plot(nonces, [r["predicted"] for r in rows], "b.-", label="ours")
    net = [(r["nonce"], r["network_value"]) for r in rows if r["network_value"] is not None]
    if net:
        ax.plot([n for n, _ in net], [v for _, v in net], "g.--", label="network")
    ax.set_title(f"topic {topic_id}: prediction vs realized")
    ax.set_xlabel("nonce (block height)")
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def rolling_loss(rows: list[dict[str, Any]], topic_id: int, window: int = 24) -> bytes | None:
    """Rolling mean loss: ours vs the zero baseline (and the network's)."""
    if not rows:
        return None
    import pandas as pd

    frame = pd.DataFrame(rows).set_index("nonce")
    roll = frame[["loss", "loss_zero", "loss_network"]].astype("float64").rolling(window, min_periods=1).mean()
    fig, ax = _figure()
    ax.plot(roll.index, roll["loss"], "b-", label="ours")
    ax.plot(roll.index, roll["loss_zero"], "r--", label="zero baseline")
    if roll["loss_network"].notna().any():
        ax.plot(roll.index, roll["loss_network"], "g:", label="network")
    ax.set_title(f"topic {topic_id}: rolling mean loss ({window} windows)")
    ax.set_xlabel("nonce (block height)")
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def scores(history: list[tuple[float, float | None, float | None]], topic_id: int) -> bytes | None:
    """Our EMA score vs the active set's lowest, over time."""
    points = [(datetime.fromtimestamp(at, UTC), s, low) for at, s, low in history if s is not None]
    if not points:
        return None
    fig, ax = _figure()
    ax.plot([p[0] for p in points], [p[1] for p in points], "b-", label="our EMA score")
    lows = [(p[0], p[2]) for p in points if p[2] is not None]
    if lows:
        ax.plot([t for t, _ in lows], [v for _, v in lows], "r--", label="active set's lowest")
    ax.set_title(f"topic {topic_id}: EMA score vs the active-set threshold")
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    return _png(fig)


def balance(history: list[tuple[float, int]]) -> bytes | None:
    if len(history) < 2:
        return None
    fig, ax = _figure()
    ax.plot([datetime.fromtimestamp(at, UTC) for at, _ in history], [b / 1e18 for _, b in history], "b-")
    ax.set_title("wallet balance (ALLO)")
    fig.autofmt_xdate()
    return _png(fig)
