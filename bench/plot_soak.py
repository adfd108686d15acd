#!/usr/bin/env python
"""Plot RSS, open fds and CPU over the windows of one soak report, one line per driver.

    .venv/bin/python bench/plot_soak.py bench/results/soak-harsh-500-both.json \\
        --out docs/img/soak-harsh-500-resources.png

Reads the `series` each driver has in the JSON (bench/soak.py writes it) and saves a PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("report", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    report = json.loads(args.report.read_text())
    drivers = {name: r["series"] for name, r in report["drivers"].items() if r.get("series")}
    if not drivers:
        print(f"{args.report}: no resource series (made by a soak.py older than the plot)", file=sys.stderr)
        return 2
    fig, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    # RSS as growth since READY: the drivers start 60 MB apart, and the trend is what matters.
    panels = [("RSS growth since READY, MB", 1), ("open file descriptors", 2), ("CPU seconds since READY", 3)]
    for ax, (label, col) in zip(axes, panels, strict=True):
        for name, series in drivers.items():
            base = series[0][1] if col == 1 else 0.0
            tag = f"{name} (RSS at READY {series[0][1]:.0f} MB)" if col == 1 else name
            ax.plot([row[0] for row in series], [row[col] - base for row in series], label=tag)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[-1].set_xlabel("window")
    f = report["faults"]
    fig.suptitle(f"soak: {report['devnet']['window_blocks']}-block windows, profile {f['profile']}, seed {f['seed']}")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
