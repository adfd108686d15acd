"""`bundle import-onnx`: turn an exported ONNX model into a verified bundle.

The operator names the features the model reads, in the order it reads them, from the
features this worker computes. The probe row is the newest complete feature row of real
candles; its prediction is recorded and replayed on every load. With a reference file (rows
of those features plus the prediction their own framework gave) the import also proves the
export is faithful before anything is written.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from allora_worker.model.bundle import LoadedBundle, load_bundle, write_bundle
from allora_worker.model.errors import BundleError
from allora_worker.model.features import FEATURE_NAMES, compute_features
from allora_worker.model.models.onnx import OnnxModel, OnnxSignatureError

# Two runtimes summing the same trees in float32 differ by ~1e-7 of the prediction scale.
AGREEMENT_RTOL = 1e-6


@dataclass(frozen=True)
class Agreement:
    rows: int
    max_abs_diff: float
    scale: float  # the largest |reference prediction|: what "relative" is relative to
    rtol: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.rtol * max(self.scale, 1e-12)

    def describe(self) -> str:
        rel = self.max_abs_diff / max(self.scale, 1e-12)
        return (f"{self.rows} rows, largest difference {self.max_abs_diff:.3g} = {rel:.3g} of the largest "
                f"prediction {self.scale:.3g} (tolerance {self.rtol:g})")


def agreement(reference: np.ndarray, candidate: np.ndarray, rtol: float = AGREEMENT_RTOL) -> Agreement:
    """How far `candidate` is from `reference`, relative to the reference's own scale.

    Elementwise relative error is meaningless for a log-return near zero (a 1e-9 prediction
    off by 1e-15 is "1e-6 relative"), so the yardstick is the largest reference prediction.
    """
    ref = np.asarray(reference, dtype="float64").reshape(-1)
    got = np.asarray(candidate, dtype="float64").reshape(-1)
    if ref.shape != got.shape:
        raise BundleError(f"{got.shape[0]} predictions to compare with {ref.shape[0]}")
    if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(got))):
        return Agreement(len(ref), math.inf, float(np.nanmax(np.abs(ref), initial=0.0)), rtol)
    return Agreement(len(ref), float(np.max(np.abs(ref - got), initial=0.0)), float(np.max(np.abs(ref), initial=0.0)),
                     rtol)


def check_feature_names(features: list[str]) -> list[str]:
    unknown = [f for f in features if f not in FEATURE_NAMES]
    if unknown:
        raise BundleError(f"this worker does not compute {', '.join(unknown)}; it computes: {', '.join(FEATURE_NAMES)}")
    if len(set(features)) != len(features) or not features:
        raise BundleError("give each feature once, in the order the model reads them")
    return list(features)


def complete_rows(candles: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Feature rows of `candles` whose every named feature is finite."""
    frame = compute_features(candles)[features]
    return frame.loc[np.isfinite(frame.to_numpy()).all(axis=1)]


def import_onnx(
    onnx_file: Path,
    features: list[str],
    out: Path,
    *,
    candles: pd.DataFrame,
    data_source: str,
    horizon_hours: int = 168,
    topic_id: int = 67,
    output_name: str | None = None,
    reference: Path | None = None,
    rtol: float = AGREEMENT_RTOL,
) -> tuple[LoadedBundle, Agreement | None]:
    """Write a bundle for `onnx_file` at `out` and load it back (hashes and probe verified)."""
    features = check_feature_names(features)
    if not onnx_file.is_file():
        raise BundleError(f"{onnx_file} does not exist")
    model_bytes = onnx_file.read_bytes()
    try:
        model = OnnxModel.from_bytes(model_bytes, features, output_name)
    except OnnxSignatureError as exc:
        raise BundleError(f"{onnx_file}: {exc}") from exc
    checked = _check_reference(model, reference, rtol) if reference is not None else None
    rows = complete_rows(candles, features)
    if rows.empty:
        raise BundleError("the candles give no complete feature row for the probe; give a longer --data file")
    probe_time = rows.index[-1]
    write_bundle(
        out,
        model,
        horizon_hours=horizon_hours,
        topic_id=topic_id,
        training={"imported_from": onnx_file.name, "data_source": data_source,
                  "probe_time": probe_time.isoformat()},
        probe_features=rows.iloc[-1].to_numpy(),
        features=features,
        extra={"source": {"kind": "onnx-import", "sha256": hashlib.sha256(model_bytes).hexdigest(),
                          **({"reference_check": checked.describe()} if checked else {})}},
    )
    return load_bundle(out), checked


def _check_reference(model: OnnxModel, reference: Path, rtol: float) -> Agreement:
    """Compare ONNX with the native framework's own predictions on rows the operator supplies."""
    try:
        table = pd.read_csv(reference)
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read the reference file {reference}: {exc}") from exc
    missing = [c for c in [*model.features, "prediction"] if c not in table.columns]
    if missing:
        raise BundleError(f"{reference} lacks columns {missing}; it needs the features and 'prediction'")
    result = agreement(table["prediction"].to_numpy(), model.predict(table[model.features].to_numpy()), rtol)
    if not result.ok:
        raise BundleError(f"the ONNX export disagrees with the reference predictions: {result.describe()}")
    return result
