"""Where a topic's prediction comes from: a verified bundle, an HTTP endpoint, or a plugin.

Every predictor gives the cycle the same four things: how many hours of checked candles it
needs (0: none), a per-cycle check (a bundle re-hashes its files, an endpoint answers its
health probe), `predict(candles) -> float`, and the identity the journal records with each
prediction (`content_hash`; `model_version` for code that has releases). A failure of any of
them is a `BundleError`: the cycle skips the window with the message, and the daemon goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from allora_worker.model.errors import BundleError

if TYPE_CHECKING:
    import pandas as pd

    from allora_worker.candles import Candles


class PredictorError(BundleError):
    """A predictor other than a bundle could not give a usable value this cycle."""


class Predictor(Protocol):
    @property
    def history_hours(self) -> int: ...

    @property
    def content_hash(self) -> str: ...

    @property
    def model_version(self) -> str | None:
        """The release of the code that predicts (a plugin's package version); None when the hash says it all."""
        ...

    def check(self) -> None:
        """Raise BundleError when the predictor cannot be trusted this cycle."""
        ...

    def predict(self, candles: Candles | pd.DataFrame | None) -> float:
        """The daemon passes `Candles` (numpy); evaluate and backtest pass DataFrames."""
        ...

    def describe(self) -> str: ...


__all__ = ["Predictor", "PredictorError"]
