"""Print the ours-vs-SDK markdown table of one or more soak JSON reports (docs/BENCHMARKS.md).

    python bench/table.py bench/results/soak-harsh-500-both.json bench/results/soak-mild-150-both.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROWS = [
    ("windows opened", "windows_opened", "{}"),
    ("eligible windows (endpoint reachable >= 2 polls)", "windows_eligible", "{}"),
    ("windows with an accepted submission", "windows_accepted", "{}"),
    ("eligible windows missed", "eligible_missed", "{}"),
    ("duplicate accepted / duplicate payload txs", ("duplicates_accepted", "duplicate_payload_txs"), "{} / {}"),
    ("submissions from bad data (unverified)", ("bad_data_submissions", "unverified_submissions"), "{} ({})"),
    ("txs that reached a block (fees paid)", "txs_delivered", "{}"),
    ("open -> accepted, blocks p50 / p99", ("latency_blocks_p50", "latency_blocks_p99"), "{:.0f} / {:.0f}"),
    ("open -> accepted, seconds p50 / p99", ("latency_s_p50", "latency_s_p99"), "{:.2f} / {:.2f}"),
    ("RSS MB start / final / peak", ("rss_mb_start", "rss_mb_final", "rss_mb_peak"), "{:.0f} / {:.0f} / {:.0f}"),
    ("RSS slope, MB per 100 windows (2nd half)", "rss_mb_slope_per_100_windows", "{:+.2f}"),
    ("open fds start / final / max", ("fds_start", "fds_final", "fds_max"), "{} / {} / {}"),
    ("CPU seconds per window", "cpu_s_per_window", "{:.3f}"),
    ("start to READY, s", "startup_s", "{:.1f}"),
    ("alive at the end", "alive_at_end", "{}"),
]


def cell(report: dict[str, Any], keys: str | tuple[str, ...], fmt: str) -> str:
    keys = (keys,) if isinstance(keys, str) else keys
    values = [report.get(k) for k in keys]
    if any(v is None for v in values):
        return "n/a"
    return fmt.format(*values)


def table(path: str) -> str:
    data = json.loads(Path(path).read_text())
    drivers = list(data["drivers"])
    d = data["devnet"]
    lines = [f"`{data['command']}` — {data['faults']['profile']} profile, seed {data['faults']['seed']}, "
             f"block {d['block_time_s']} s, epoch {d['epoch_blocks']} blocks, window {d['window_blocks']} blocks, "
             f"{d['wall_seconds']:.0f} s wall, {data['when']}", "",
             "| | " + " | ".join(drivers) + " |", "|---|" + "---|" * len(drivers)]
    for label, keys, fmt in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(data["drivers"][x], keys, fmt) for x in drivers) + " |")
    lines.append("")
    injected, episodes = json.dumps(data["devnet"]["injected"]), json.dumps(data["faults"]["episodes"])
    lines.append(f"Faults injected: {injected}; episodes {episodes}.")
    return "\n".join(lines)


if __name__ == "__main__":
    print("\n\n".join(table(p) for p in sys.argv[1:]))
