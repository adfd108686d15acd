"""Features, training, walk-forward backtests, safe model bundles and evaluation.

The daemon needs only `load_bundle` / `LoadedBundle` / `BundleError`; `train_bundle` creates a
bundle (the demo and `allora-worker train` call it).
"""

from allora_worker.model.bundle import LoadedBundle, load_bundle
from allora_worker.model.errors import (
    BundleError,
    BundleIntegrityError,
    InsufficientHistoryError,
    LegacyBundleRefused,
    NonFiniteFeaturesError,
)
from allora_worker.model.features import FEATURE_NAMES, HISTORY_HOURS, compute_features

_TRAINING = ("TrainResult", "train_bundle")


def __getattr__(name: str) -> object:
    # Training pulls in scikit-learn and LightGBM; a daemon that only predicts never imports it.
    if name in _TRAINING:
        from allora_worker.model import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FEATURE_NAMES",
    "HISTORY_HOURS",
    "BundleError",
    "BundleIntegrityError",
    "InsufficientHistoryError",
    "LegacyBundleRefused",
    "LoadedBundle",
    "NonFiniteFeaturesError",
    "TrainResult",
    "compute_features",
    "load_bundle",
    "train_bundle",
]
