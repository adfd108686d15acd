"""Median and spread (min-max) of several soak reports, per driver: the seeds of one configuration.

    python bench/soak_summary.py bench/results/soak-mild-30-both.COMMIT.seed{1,2,3}.json

Prints a markdown table (docs/BENCHMARKS.md): one row per figure, `median [min-max]` per driver,
so a figure is never quoted without its spread. CPU is given per window and per accepted window:
a driver stuck in a fixed wait does no work in the windows it misses, which lowers its CPU per
window without making it cheaper per submission. Runs of 500 windows also get RSS by window range
(median, spread and fitted slope), the figures behind "no growth over 500 windows".
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROWS = [
    ("eligible windows missed (sum)", "eligible_missed", "sum"),
    ("windows with an accepted submission (sum)", "windows_accepted", "sum"),
    ("duplicate payload txs (sum)", "duplicate_payload_txs", "sum"),
    ("submissions from bad data (sum)", "bad_data_submissions", "sum"),
    ("open -> accepted, seconds p50", "latency_s_p50", "{:.2f}"),
    ("RSS MB at start", "rss_mb_start", "{:.1f}"),
    ("RSS MB peak", "rss_mb_peak", "{:.1f}"),
    ("RSS MB after the last window", "rss_mb_final", "{:.1f}"),
    ("CPU seconds per window", "cpu_s_per_window", "{:.3f}"),
]


def cell(values: list[float], fmt: str) -> str:
    if fmt == "sum":
        return str(int(sum(values)))
    if not values:
        return "n/a"
    return f"{fmt.format(statistics.median(values))} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def second_half_rss(series: list[list[float]]) -> float:
    """Median RSS (MB) of a report's `series` points ([window, RSS MB, fds, CPU s]) from the
    middle window on."""
    last = series[-1][0]
    return statistics.median(p[1] for p in series if p[0] >= last / 2)


# Window ranges of a long run's RSS: before the first horizon passes (no realized loss yet) and
# after it, where "no growth" is judged. Printed only for runs that reach the range's end.
RSS_RANGES = ((10, 160), (200, 500), (500, 1000))


def slope_per_100(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (window, MB) points, in MB per 100 windows."""
    n = len(points)
    mx = sum(w for w, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((w - mx) ** 2 for w, _ in points)
    return 100 * sum((w - mx) * (v - my) for w, v in points) / var if var else 0.0


def rss_by_range(name: str, series: list[list[float]]) -> list[str]:
    """Markdown rows: RSS median [min-max] and slope per window range, and the largest rise
    between two points of the series (a step, as opposed to a creep)."""
    rows = []
    for lo, hi in RSS_RANGES:
        pts = [(p[0], p[1]) for p in series if lo <= p[0] <= hi]
        # The series has a point every 5 windows: a run of `hi` windows may end a few short of it.
        if len(pts) < 3 or series[-1][0] < hi - 10:
            continue
        values = [v for _, v in pts]
        rows.append(f"| {name} | {lo}-{hi} | {len(pts)} | {cell(values, '{:.1f}')} | "
                    f"{slope_per_100(pts):+.2f} |")
    if rows:
        rise, at, to = max((b[1] - a[1], a[0], b[0]) for a, b in itertools.pairwise(series))
        rows.append(f"| {name} | largest rise between two points | | {rise:+.1f} MB (windows {at:.0f}-{to:.0f}) | |")
    return rows


def main(paths: list[str]) -> None:
    reports: list[dict[str, Any]] = [json.loads(Path(p).read_text()) for p in paths]
    drivers = sorted({d for r in reports for d in r["drivers"]}, key=lambda d: (d != "ours", d))
    print(f"{len(reports)} runs: " + ", ".join(Path(p).name for p in paths))
    print()
    print("| | " + " | ".join(f"{d}: median [min-max]" for d in drivers) + " |")
    print("|---|" + "---|" * len(drivers))
    for label, key, fmt in ROWS:
        cells = []
        for d in drivers:
            values = [float(r["drivers"][d][key]) for r in reports
                      if d in r["drivers"] and r["drivers"][d].get(key) is not None]
            cells.append(cell(values, fmt))
        print(f"| {label} | " + " | ".join(cells) + " |")
    # Idle RSS: the daemon waits most of each window, so the median over the run's second half
    # (after the one-time costs of the first windows) is what a host's memory budget sees.
    idle = {d: [second_half_rss(r["drivers"][d]["series"]) for r in reports
                if d in r["drivers"] and r["drivers"][d].get("series")] for d in drivers}
    print("| RSS MB, median over the second half | " + " | ".join(cell(idle[d], "{:.1f}") for d in drivers) + " |")
    per_accepted = {d: [r["drivers"][d]["cpu_s_total"] / r["drivers"][d]["windows_accepted"] for r in reports
                        if d in r["drivers"] and r["drivers"][d].get("windows_accepted")] for d in drivers}
    print("| CPU seconds per accepted window | " + " | ".join(cell(per_accepted[d], "{:.3f}") for d in drivers) + " |")
    ratios = [r["drivers"]["ours"]["cpu_s_per_window"] / r["drivers"]["sdk"]["cpu_s_per_window"]
              for r in reports if {"ours", "sdk"} <= set(r["drivers"]) and r["drivers"]["sdk"]["cpu_s_per_window"]]
    if ratios:
        print(f"| CPU per window, ours / sdk (same run) | {cell(ratios, '{:.2f}')} | |")
    ranges = [row for p, r in zip(paths, reports, strict=True) for d in drivers
              if d in r["drivers"] and r["drivers"][d].get("series")
              for row in rss_by_range(f"{Path(p).name} {d}", r["drivers"][d]["series"])]
    if ranges:
        print()
        print("| run | windows | points | RSS MB median [min-max] | slope, MB per 100 windows |")
        print("|---|---|---|---|---|")
        print("\n".join(ranges))
    print()
    for p, r in zip(paths, reports, strict=True):
        print(f"- {Path(p).name}: report written {r.get('when', '?')}, {r['devnet']['wall_seconds']} s")


if __name__ == "__main__":
    main(sys.argv[1:])
