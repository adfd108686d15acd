"""What every model format provides, and the training data they all receive."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TrainingSet:
    """Rows usable for training: finite features and a realized target, in time order."""

    X: np.ndarray  # shape (rows, len(features))
    y: np.ndarray
    times: pd.DatetimeIndex
    features: list[str]
    horizon_hours: int

    def inner_split(self, fraction: float = 0.2) -> tuple[TrainingSet, TrainingSet] | None:
        """(fit, validation) split inside the training data for hyper-parameter choice.

        The validation block is the last `fraction` of the time span, and fitting rows are
        purged by the horizon so that no fitting label overlaps a validation row. Test folds
        are never seen here: this is how models pick settings without tuning on the test.
        """
        import pandas as pd  # training only: a daemon that predicts never builds a TrainingSet

        if len(self.y) < 200:
            return None
        start = self.times[0] + (self.times[-1] - self.times[0]) * (1 - fraction)
        fit_mask = self.times < start - pd.Timedelta(hours=self.horizon_hours)
        val_mask = self.times >= start
        if fit_mask.sum() < 100 or val_mask.sum() < 50:
            return None
        return self.subset(fit_mask), self.subset(val_mask)

    def subset(self, mask: np.ndarray) -> TrainingSet:
        return TrainingSet(self.X[mask], self.y[mask], self.times[mask], self.features, self.horizon_hours)


class Model(Protocol):
    """A trained model that a bundle can store and a worker can serve."""

    format: str  # recorded in the manifest; selects the loader
    kind: str  # ridge, lightgbm, zero, drift, momentum, ewma
    artifact_name: str

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions for rows of X (columns in the bundle's feature order)."""
        ...

    def save(self, directory: Path) -> Path:
        """Write the artifact into `directory`; return its path."""
        ...

    def describe(self) -> dict[str, object]:
        """Small JSON-able summary for the manifest and the report."""
        ...
