"""Models a data scientist would bring: trained here on the real bundled candles, then exported.

Each helper returns the native estimator and its ONNX bytes, exported the way the exporters'
own documentation shows (skl2onnx for scikit-learn; LightGBM through our double-precision
`lightgbm_to_onnx`), with a double input so that no precision is lost before the graph runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allora_worker.model.dataset import build_dataset, training_set
from allora_worker.model.features import FEATURE_NAMES

# A data scientist's own choice of inputs: a subset, in their own order.
PIPELINE_FEATURES = ["ret_168h", "ret_24h", "vol_168h", "dist_ma_720h", "ewma_ret_hl168h", "range_24h"]
LGBM_FEATURES = list(FEATURE_NAMES)


@dataclass
class Brought:
    native: Any
    onnx: bytes
    features: list[str]
    X_test: np.ndarray  # held-out rows (after the training rows, purged by the horizon)


def split(candles: pd.DataFrame, features: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    feats, target = build_dataset(candles, 168)
    data = training_set(feats, target, 168)
    X = pd.DataFrame(data.X, columns=data.features)[features].to_numpy()
    cut = int(len(data.y) * 0.7)
    return X[:cut], data.y[:cut], X[cut + 168 :]


def sklearn_pipeline(candles: pd.DataFrame) -> Brought:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, X_test = split(candles, PIPELINE_FEATURES)
    pipe = make_pipeline(StandardScaler(), Ridge(alpha=10.0)).fit(X, y)
    onx = convert_sklearn(pipe, initial_types=[("features", DoubleTensorType([None, X.shape[1]]))],
                          target_opset=17)
    return Brought(pipe, onx.SerializeToString(), PIPELINE_FEATURES, X_test)


def lightgbm_model(candles: pd.DataFrame) -> Brought:
    """A LightGBM regressor exported in double precision (the way docs/MODEL.md shows)."""
    import lightgbm as lgb

    from allora_worker.model.onnx_export import lightgbm_to_onnx

    X, y, X_test = split(candles, LGBM_FEATURES)
    model = lgb.LGBMRegressor(n_estimators=150, num_leaves=8, min_child_samples=200, learning_rate=0.03,
                              deterministic=True, force_row_wise=True, n_jobs=1, verbose=-1).fit(X, y)
    return Brought(model, lightgbm_to_onnx(model, X.shape[1]), LGBM_FEATURES, X_test)


def onnxmltools_float_export(model: Any, width: int) -> bytes:
    """The same model through onnxmltools' own converter (float32 trees), for comparison."""
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import DoubleTensorType

    onx = convert_lightgbm(model, initial_types=[("input", DoubleTensorType([None, width]))], target_opset=15)
    return bytes(onx.SerializeToString())


# The original script's names for features, and what they are in this worker's terms (written
# out here, not read from the alias table under test).
SEED_FEATURES = ["log_return_24h", "volatility_168h", "ret_168h", "dist_ma_720h"]
SEED_MEANING = ["ret_24h", "vol_168h", "ret_168h", "dist_ma_720h"]


def seed_style_legacy(candles: pd.DataFrame, directory: Path) -> tuple[Path, str, Any]:
    """A `model.pkl` + `features.json` directory as the original pipeline wrote it; returns (dir, sha, estimator)."""
    import pickle

    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, _ = split(candles, SEED_MEANING)
    estimator = make_pipeline(StandardScaler(), GradientBoostingRegressor(n_estimators=60, max_depth=3,
                                                                          random_state=0)).fit(X, y)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.pkl").write_bytes(pickle.dumps(estimator))
    (directory / "features.json").write_text(json.dumps(SEED_FEATURES))
    return directory, hashlib.sha256((directory / "model.pkl").read_bytes()).hexdigest(), estimator
