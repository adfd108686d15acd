"""A predictor from an installed Python package, registered under the `allora_worker.predictors` entry point.

A plugin is code the operator chose to install, so it runs in the worker's process; it is
imported only when a topic names it (`predictor = "NAME"`), never by discovery. The entry point
names an object (or a class, instantiated once without arguments) with `history_hours: int`
and `predict(candles: DataFrame) -> float`. Every journal row it produced
names it (`model_hash` = `plugin:<distribution>:<name>`) and its release (`model_version` = the
distribution's version), so a score can always be traced to the code that made it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

from allora_worker.candles import Candles
from allora_worker.model.predictors import PredictorError

if TYPE_CHECKING:
    import pandas as pd

GROUP = "allora_worker.predictors"


def installed() -> list[str]:
    return sorted(ep.name for ep in metadata.entry_points(group=GROUP))


@dataclass
class PluginPredictor:
    name: str
    distribution: str
    version: str
    plugin: Any

    @classmethod
    def load(cls, name: str) -> PluginPredictor:
        found = metadata.entry_points(group=GROUP).select(name=name)
        if not found:
            names = ", ".join(installed()) or "none"
            raise PredictorError(f"no predictor plugin named {name!r} is installed (installed: {names}); "
                                 f"a package registers one under the {GROUP!r} entry point")
        point = next(iter(found))
        dist = point.dist
        if dist is None:
            raise PredictorError(f"plugin {name!r} has no installed distribution to take its version from")
        try:
            obj = point.load()
            plugin = obj() if isinstance(obj, type) else obj
        except Exception as exc:  # importing the operator's package can fail in any way
            raise PredictorError(f"plugin {name!r} ({dist.name} {dist.version}) failed to load: "
                                 f"{type(exc).__name__}: {exc}") from exc
        hours = getattr(plugin, "history_hours", None)
        if not callable(getattr(plugin, "predict", None)) or not isinstance(hours, int) or hours < 1:
            raise PredictorError(f"plugin {name!r} ({point.value}) needs predict(candles) -> float and "
                                 "history_hours (a positive int)")
        return cls(name, dist.name, dist.version, plugin)

    @property
    def history_hours(self) -> int:
        return int(self.plugin.history_hours)

    @property
    def content_hash(self) -> str:
        return f"plugin:{self.distribution}:{self.name}"

    @property
    def model_version(self) -> str:
        return self.version

    def describe(self) -> str:
        return f"plugin {self.name!r} ({self.distribution} {self.version}, {self.history_hours} h of candles)"

    def check(self) -> None:
        """The running code must still be the installed release the journal names."""
        try:
            now = metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            now = "not installed"
        if now != self.version:
            raise PredictorError(f"plugin {self.name!r}: {self.distribution} is {now} on disk but {self.version} "
                                 "is running; restart the worker (or send SIGHUP) to serve the installed one")

    def predict(self, candles: Candles | pd.DataFrame | None) -> float:
        if candles is None:
            raise PredictorError(f"plugin {self.name!r} predicts from candles; none were given")
        # The plugin contract is a DataFrame: built here, so pandas is imported only for a plugin's user.
        frame = candles.to_frame() if isinstance(candles, Candles) else candles
        try:
            value = float(self.plugin.predict(frame))
        except Exception as exc:  # the operator's code
            raise PredictorError(f"plugin {self.name!r} failed: {type(exc).__name__}: {exc}") from exc
        if not math.isfinite(value):
            raise PredictorError(f"plugin {self.name!r} returned {value!r}, not a finite number")
        return value
