"""The original pipeline's `model.pkl` + `features.json`, loaded only when explicitly trusted.

Unpickling runs arbitrary code, so a pickle is refused unless the operator both passes
`--allow-pickle` AND pins the file's sha256 (`sha256sum model.pkl`): the pin proves that the
file being unpickled is the one they reviewed, not one swapped in later.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from allora_worker.model.errors import BundleError, LegacyBundleRefused

PICKLE_NAME = "model.pkl"
FEATURES_NAME = "features.json"
LEGACY_FORMAT = "legacy-pickle"
DEFAULT_HORIZON_HOURS = 168


@dataclass
class LegacyModel:
    model: Any
    features: list[str]
    horizon_hours: int
    content_hash: str
    file_hashes: dict[str, str]


class _Adapter:
    """Gives an unpickled estimator the `predict(X) -> 1-D float array` shape bundles use."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict(X), dtype="float64").reshape(-1)


def looks_legacy(root: Path) -> bool:
    return (root / PICKLE_NAME).is_file()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_legacy(root: Path, *, allow_pickle: bool, pinned_sha256: str | None) -> LegacyModel:
    pkl = root / PICKLE_NAME
    feats_path = root / FEATURES_NAME
    actual = _sha256(pkl)
    if not allow_pickle:
        raise LegacyBundleRefused(
            f"{pkl} is a pickle, and unpickling runs arbitrary code; it is loaded only with "
            f"--allow-pickle and --model-sha256 {actual} (after you have checked where it came from). "
            "Better: convert it once (`allora-worker bundle convert-legacy`) or retrain with "
            "`allora-worker train`; both write a pickle-free bundle."
        )
    if not pinned_sha256:
        raise LegacyBundleRefused(
            f"--allow-pickle needs a pinned sha256 for {pkl}, so that only the file you reviewed is "
            f"unpickled; its sha256 now is {actual}"
        )
    if pinned_sha256.lower() != actual:
        raise LegacyBundleRefused(
            f"{pkl} has sha256 {actual}, not the pinned {pinned_sha256.lower()}; refusing"
        )
    if not feats_path.is_file():
        raise BundleError(f"legacy bundle {root} has {PICKLE_NAME} but no {FEATURES_NAME}")
    try:
        doc = json.loads(feats_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{feats_path} is not valid JSON: {exc}") from exc
    # The original pipeline wrote a bare list; accept {"features": [...], "horizon_hours": h} too.
    features = doc if isinstance(doc, list) else doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features) or not features:
        raise BundleError(f"{feats_path} must hold a non-empty list of feature names")
    horizon = (
        int(doc.get("horizon_hours", DEFAULT_HORIZON_HOURS))
        if isinstance(doc, dict)
        else DEFAULT_HORIZON_HOURS
    )
    with pkl.open("rb") as handle:
        try:
            estimator = pickle.load(handle)
        except Exception as exc:
            raise BundleError(f"cannot unpickle {pkl}: {exc}") from exc
    if not callable(getattr(estimator, "predict", None)):
        raise BundleError(f"{pkl} does not hold an object with a predict() method")
    hashes = {PICKLE_NAME: actual, FEATURES_NAME: _sha256(feats_path)}
    content = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(hashes.items())).encode()).hexdigest()
    return LegacyModel(_Adapter(estimator), list(features), horizon, content, hashes)
