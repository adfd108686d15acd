"""A tiny predictor plugin package, installed the way pip leaves one: a package and its dist-info.

`install_demo_plugin(site)` writes it under `site`; put `site` on sys.path (or PYTHONPATH) and
`importlib.metadata` finds the distribution and its `allora_worker.predictors` entry points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DIST = "demo-predictor"
VERSION = "0.3.1"

_PACKAGE = '''
import numpy as np


class HalfDayMomentum:
    """Half of the last 24 h log-return."""

    history_hours = 48

    def predict(self, candles):
        close = candles["close"].to_numpy()
        return 0.5 * float(np.log(close[-1] / close[-25]))


class Broken:
    history_hours = 48

    def predict(self, candles):
        raise RuntimeError("the model file is missing")
'''

# A second plugin of the same distribution whose import has a visible side effect: it must
# never be imported unless a topic names it.
_NOISY = '''
import sys

sys.modules["demo_predictor_noisy_was_imported"] = sys.modules[__name__]


class Noisy:
    history_hours = 48

    def predict(self, candles):
        return 0.0
'''


def install_demo_plugin(site: Path, version: str = VERSION) -> Path:
    pkg = site / "demo_predictor"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(_PACKAGE)
    (pkg / "noisy.py").write_text(_NOISY)
    for old in site.glob("demo_predictor-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    info = site / f"demo_predictor-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(
        "[allora_worker.predictors]\n"
        "half-day-momentum = demo_predictor:HalfDayMomentum\n"
        "broken = demo_predictor:Broken\n"
        "noisy = demo_predictor.noisy:Noisy\n"
    )
    (info / "RECORD").write_text("")
    return site


def expected(candles: pd.DataFrame) -> float:
    """What half-day-momentum predicts, computed here independently."""
    close = candles["close"].to_numpy()
    return 0.5 * float(np.log(close[-1] / close[-25]))
