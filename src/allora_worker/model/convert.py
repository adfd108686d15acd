"""`bundle convert-legacy`: unpickle the reviewed `model.pkl` one last time and write ONNX.

The original pipeline's pickle can only ever be trusted, never checked; an ONNX graph runs no
code on load. The conversion unpickles the file only under the same two conditions as loading
it (`--allow-pickle` and the pinned sha256), maps the names in `features.json` onto the features
this worker computes, converts the estimator with the exporter made for its library, and
writes the bundle only if the graph and the pickle agree on the probe rows: every complete
feature row of a held-out slice of real candles (the newest `HOLDOUT_HOURS` of `--data`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from allora_worker.model import legacy
from allora_worker.model.bundle import LoadedBundle, load_bundle, write_bundle
from allora_worker.model.errors import BundleError
from allora_worker.model.features import FEATURE_NAMES, HISTORY_HOURS, MA_WINDOWS, RETURN_WINDOWS, VOL_WINDOWS
from allora_worker.model.models.onnx import OnnxModel, OnnxSignatureError
from allora_worker.model.onnx_export import OPSET, ExportError, lightgbm_to_onnx
from allora_worker.model.onnx_import import AGREEMENT_RTOL, Agreement, agreement, complete_rows

HOLDOUT_HOURS = 2000

# Names the original scripts used for a quantity this worker computes the same way. Only exact
# equivalents: a simple (not log) return or a differently defined volatility is refused instead.
LEGACY_ALIASES: dict[str, str] = {
    **{f"log_return_{k}h": f"ret_{k}h" for k in RETURN_WINDOWS},  # log(close_t / close_{t-k})
    **{f"logret_{k}h": f"ret_{k}h" for k in RETURN_WINDOWS},
    **{f"volatility_{w}h": f"vol_{w}h" for w in VOL_WINDOWS},  # sample std of hourly log returns
    **{f"log_dist_sma_{w}h": f"dist_ma_{w}h" for w in MA_WINDOWS},  # log(close / SMA_w)
}


@dataclass(frozen=True)
class Conversion:
    bundle: LoadedBundle
    mapping: dict[str, str]  # features.json name -> our feature
    estimator: str
    agreement: Agreement


def map_features(names: list[str]) -> dict[str, str]:
    """features.json names -> ours; raises BundleError listing every name we cannot compute."""
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    for name in names:
        ours = name if name in FEATURE_NAMES else LEGACY_ALIASES.get(name)
        if ours is None:
            unknown.append(name)
        else:
            mapping[name] = ours
    if unknown:
        raise BundleError(
            f"features.json names {len(unknown)} feature(s) this worker cannot compute: {', '.join(unknown)}. "
            "It computes " + ", ".join(FEATURE_NAMES) + "; retrain on those (allora-worker train) or serve the "
            "model behind predict_url"
        )
    if len(set(mapping.values())) != len(mapping):
        raise BundleError(f"features.json names the same feature twice: {mapping}")
    return mapping


def describe_estimator(estimator: Any) -> str:
    kind = type(estimator)
    return f"{kind.__module__.split('.')[0]}.{kind.__qualname__}"


def to_onnx(estimator: Any, width: int) -> bytes:
    """ONNX bytes for a scikit-learn, LightGBM or XGBoost estimator; BundleError for anything else."""
    library = type(estimator).__module__.split(".")[0]
    what = describe_estimator(estimator)
    try:
        if library == "sklearn":
            from skl2onnx import convert_sklearn
            from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

            try:  # double end to end where the converters support it (trees need ai.onnx.ml 3)
                onx = convert_sklearn(estimator, initial_types=[("features", DoubleTensorType([None, width]))],
                                      target_opset={"": OPSET, "ai.onnx.ml": 3})
                OnnxModel.from_bytes(onx.SerializeToString(), [f"x{i}" for i in range(width)])
            except Exception:
                onx = convert_sklearn(estimator, initial_types=[("features", FloatTensorType([None, width]))],
                                      target_opset=OPSET)
        elif library == "lightgbm":
            try:  # double thresholds and leaves: LightGBM's own numbers (see onnx_export)
                return lightgbm_to_onnx(estimator, width)
            except ExportError:  # rf, exp link, linear trees: onnxmltools' float32 graph, checked below
                from onnxmltools import convert_lightgbm
                from onnxmltools.convert.common.data_types import DoubleTensorType

                onx = convert_lightgbm(estimator, initial_types=[("features", DoubleTensorType([None, width]))],
                                       target_opset=OPSET)
        elif library == "xgboost":
            from onnxmltools import convert_xgboost
            from onnxmltools.convert.common.data_types import FloatTensorType

            # float32 in: XGBoost predicts in float32 itself, and onnxmltools 1.16's graph for a
            # double input gave values 27 % off (xgboost 3.2).
            onx = convert_xgboost(estimator, initial_types=[("features", FloatTensorType([None, width]))],
                                  target_opset=OPSET)
        else:
            raise BundleError(
                f"cannot convert a {what}: only scikit-learn estimators and pipelines, LightGBM and XGBoost "
                "models are converted. Export it to ONNX with its own tools and use `bundle import-onnx`, or "
                "serve it behind predict_url"
            )
    except BundleError:
        raise
    except ImportError as exc:
        raise BundleError(f"converting a {what} needs the exporters: pip install 'allora-worker[train]' ({exc})") \
            from exc
    except Exception as exc:  # each exporter raises its own types for what it does not support
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(f"cannot convert a {what} to ONNX: {first}") from exc
    return bytes(onx.SerializeToString())


def convert_legacy(
    src: Path,
    out: Path,
    *,
    pinned_sha256: str | None,
    allow_pickle: bool,
    candles: pd.DataFrame,
    data_source: str,
    topic_id: int = 67,
    rtol: float = AGREEMENT_RTOL,
) -> Conversion:
    """Convert the legacy bundle at `src`; write a pickle-free bundle at `out` only if they agree."""
    if out.resolve() == src.resolve():
        raise BundleError("write the converted bundle to a new directory (--out), not over the pickle")
    old = legacy.load_legacy(src, allow_pickle=allow_pickle, pinned_sha256=pinned_sha256)
    mapping = map_features(old.features)
    features = [mapping[name] for name in old.features]
    estimator = old.model.estimator
    try:
        model = OnnxModel.from_bytes(to_onnx(estimator, len(features)), features)
    except OnnxSignatureError as exc:
        raise BundleError(f"the converted graph is not usable: {exc}") from exc
    rows = complete_rows(candles.iloc[-(HOLDOUT_HOURS + HISTORY_HOURS) :], features)
    if len(rows) < 100:
        raise BundleError(f"the held-out slice of --data gives only {len(rows)} complete feature rows; "
                          "give a longer candle file")
    X = rows.to_numpy()
    try:
        pickled = old.model.predict(X)
    except Exception as exc:  # the unpickled object is arbitrary code
        raise BundleError(f"the pickled model fails on real feature rows: {exc}") from exc
    checked = agreement(pickled, model.predict(X), rtol)
    if not checked.ok:
        raise BundleError(f"the ONNX conversion of the {describe_estimator(estimator)} disagrees with the pickle: "
                          f"{checked.describe()}; nothing written")
    write_bundle(
        out,
        model,
        horizon_hours=old.horizon_hours,
        topic_id=topic_id,
        training={"converted_from": str(src), "data_source": data_source,
                  "holdout": f"{rows.index[0].isoformat()}..{rows.index[-1].isoformat()}"},
        probe_features=X[-1],
        features=features,
        extra={"source": {"kind": "legacy-conversion", "pickle_sha256": old.file_hashes[legacy.PICKLE_NAME],
                          "estimator": describe_estimator(estimator), "feature_mapping": mapping,
                          "agreement": checked.describe()}},
    )
    return Conversion(load_bundle(out), mapping, describe_estimator(estimator), checked)
