"""Model bundles: a directory with `manifest.json`, one artifact, and `SHA256SUMS`.

Writing: the artifact is saved, hashed, and the manifest records the hash, the feature list,
the horizon, the training range and data hash, validation metrics, and a probe (one feature
row and the prediction it gave at training time). Loading re-hashes every file, checks the
feature schema against the code that will compute the features, rebuilds the model without
pickle, and replays the probe. `content_hash` is sha256(manifest.json): the manifest commits
to the artifact's hash, so one value identifies the whole bundle in the journal.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from allora_worker import __version__
from allora_worker.candles import HOUR_NS, Candles
from allora_worker.extras import missing_extra
from allora_worker.model import legacy
from allora_worker.model.errors import (
    BundleError,
    BundleIntegrityError,
    InsufficientHistoryError,
    NonFiniteFeaturesError,
)
from allora_worker.model.features import (
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    HISTORY_HOURS,
    latest_features,
)
from allora_worker.model.models import Model, load_model

if TYPE_CHECKING:
    import pandas as pd

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
SCHEMA_VERSION = 1
PROBE_TOLERANCE = 1e-9


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json_safe(value: Any) -> Any:
    """NaN/inf are not JSON; metrics like Pearson r of a constant are undefined -> null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.floating | np.integer):
        return _json_safe(value.item())
    return value


def write_bundle(
    out_dir: Path | str,
    model: Model,
    *,
    horizon_hours: int,
    topic_id: int,
    training: dict[str, Any],
    probe_features: np.ndarray,
    extra: dict[str, Any] | None = None,
    features: list[str] | None = None,
) -> Path:
    """Write a bundle atomically (build in a temp dir, then swap) and return its path.

    `features` is the model's input columns in order: all of `FEATURE_NAMES` for our own
    models, any subset of them for an imported one.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    probe = np.asarray(probe_features, dtype="float64").reshape(1, -1)
    probe_pred = float(model.predict(probe)[0])
    if not np.all(np.isfinite(probe)) or not math.isfinite(probe_pred):
        raise BundleError("refusing to write a bundle whose probe prediction is not finite")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        artifact = model.save(tmp)
        manifest: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "package_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "topic_id": topic_id,
            "horizon_hours": horizon_hours,
            "history_hours": HISTORY_HOURS,
            "feature_set_version": FEATURE_SET_VERSION,
            "features": list(features or FEATURE_NAMES),
            "model": {"format": model.format, "artifact": artifact.name, **model.describe()},
            "training": training,
            "probe": {"features": probe[0].tolist(), "prediction": probe_pred},
            **(extra or {}),
            "files": {artifact.name: sha256_file(artifact)},
        }
        (tmp / MANIFEST).write_text(json.dumps(_json_safe(manifest), indent=2) + "\n", encoding="utf-8")
        sums = "".join(f"{sha256_file(tmp / n)}  {n}\n" for n in sorted([artifact.name, MANIFEST]))
        (tmp / SUMS).write_text(sums, encoding="utf-8")
        for path in tmp.iterdir():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# How old a file's last change must be before verify() trusts its stat signature instead of its hash.
_SETTLED_NS = 1_000_000_000


@dataclass
class LoadedBundle:
    """A verified bundle, ready to predict. Build it with `load_bundle`."""

    path: Path
    manifest: dict[str, Any]
    model: Any  # a Model, or a legacy estimator adapter
    content_hash: str
    file_hashes: dict[str, str] = field(repr=False)
    # Each file's (inode, size, mtime, ctime) when its hash last matched: verify() re-hashes only a
    # file whose signature moved. A rewrite in place or a file renamed over it moves the ctime,
    # which no writer can set back; a signature is kept only once its ctime is a second old, so a
    # second write within the filesystem's timestamp tick cannot hide behind the first ("racy" files).
    _matched: dict[str, tuple[int, int, int, int]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def history_hours(self) -> int:
        return int(self.manifest["history_hours"])

    @property
    def model_version(self) -> None:
        return None  # content_hash covers every file of the bundle

    @property
    def horizon_hours(self) -> int:
        return int(self.manifest["horizon_hours"])

    @property
    def topic_id(self) -> int | None:
        topic = self.manifest.get("topic_id")
        return None if topic is None else int(topic)

    @property
    def features(self) -> list[str]:
        return list(self.manifest["features"])

    def check(self) -> None:
        """The per-cycle check every predictor has: for a bundle, its files' hashes."""
        self.verify()

    def describe(self) -> str:
        fmt = self.manifest.get("model", {}).get("format", "?")
        return f"{self.path} ({fmt}, hash {self.content_hash[:12]}, horizon {self.horizon_hours} h)"

    def verify(self) -> None:
        """Raise BundleIntegrityError if any file changed since loading.

        Runs before every cycle, on the event loop: a file is re-hashed only when its stat signature
        moved since its hash last matched (re-hashing a multi-MB model every cycle cost ms of CPU
        for nothing). The signature is taken before hashing, so a change during the hash moves it
        again and is hashed at the next call."""
        for name, expected in self.file_hashes.items():
            path = self.path / name
            try:
                st = path.stat()
            except FileNotFoundError:
                st = None
            if st is None or not stat.S_ISREG(st.st_mode):
                self._matched.pop(name, None)
                raise BundleIntegrityError(f"bundle file {path} has disappeared")
            signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if self._matched.get(name) == signature:
                continue
            if sha256_file(path) != expected:
                self._matched.pop(name, None)
                raise BundleIntegrityError(f"bundle file {path} changed since it was loaded")
            if time.time_ns() - st.st_ctime_ns > _SETTLED_NS:
                self._matched[name] = signature

    def predict_features(self, features: pd.DataFrame) -> np.ndarray:
        """Predictions for rows of a `compute_features` frame (rows with NaN give NaN)."""
        return np.asarray(self.model.predict(features[self.features].to_numpy()), dtype="float64")

    def predict(self, candles: Candles | pd.DataFrame | None) -> float:
        """Prediction of the horizon log-return from the LAST candle of `candles` (numpy or a frame)."""
        if candles is None:
            raise BundleError("a bundle predicts from candles; none were given")
        try:
            # The last row only (numpy): the whole frame costs ~3 ms more per call, and is equal to it.
            features = latest_features(candles)
        except ValueError as exc:
            raise BundleError(f"cannot predict: {exc}") from exc
        arrays = Candles.of(candles)
        last = arrays.last
        have = int((arrays.times[-1] - arrays.times[0]) // HOUR_NS) + 1
        if have < self.history_hours:
            raise InsufficientHistoryError(
                f"the model needs {self.history_hours} hours of candles ending at {last:%Y-%m-%d %H:%M}Z; "
                f"the frame covers only {have} hours (from {arrays.first:%Y-%m-%d %H:%M}Z)"
            )
        row = features[[FEATURE_NAMES.index(name) for name in self.features]].reshape(1, -1)
        bad = [name for name, v in zip(self.features, row[0], strict=True) if not math.isfinite(float(v))]
        if bad:
            raise NonFiniteFeaturesError(
                f"features at {last:%Y-%m-%d %H:%M}Z are not finite ({', '.join(bad)}); "
                "the candles before it likely have missing hours"
            )
        value = float(self.model.predict(row)[0])
        if not math.isfinite(value):
            raise BundleError(f"the model produced a non-finite prediction at {last:%Y-%m-%d %H:%M}Z")
        return value


def load_bundle(
    path: Path | str, *, allow_pickle: bool = False, pinned_sha256: str | None = None
) -> LoadedBundle:
    """Load and verify a bundle directory (see module docstring); raise BundleError if unsafe."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"model bundle {root} does not exist or is not a directory")
    if not (root / MANIFEST).is_file():
        if legacy.looks_legacy(root):
            return _from_legacy(root, allow_pickle=allow_pickle, pinned_sha256=pinned_sha256)
        raise BundleError(f"{root} has no {MANIFEST}; it is not a model bundle")
    manifest_bytes = (root / MANIFEST).read_bytes()
    content_hash = hashlib.sha256(manifest_bytes).hexdigest()
    if pinned_sha256 is not None and pinned_sha256.lower() != content_hash:
        raise BundleIntegrityError(
            f"bundle {root} has content hash {content_hash}, not the pinned {pinned_sha256.lower()}"
        )
    try:
        manifest = json.loads(manifest_bytes)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{root / MANIFEST} is not valid JSON: {exc}") from exc
    _check_schema(root, manifest)
    hashes = _check_files(root, manifest)
    model_info = manifest["model"]
    try:
        model = load_model(model_info["format"], root / model_info["artifact"], manifest["features"], model_info)
    except (ValueError, KeyError, OSError) as exc:
        raise BundleError(f"cannot load the model artifact of {root}: {exc}") from exc
    except ImportError as exc:  # a LightGBM bundle on an install without the [train] extra
        raise BundleError(f"cannot load the model artifact of {root}: {missing_extra(exc) or exc}") from exc
    _check_probe(root, manifest, model)
    hashes[MANIFEST] = content_hash
    return LoadedBundle(root, manifest, model, content_hash, hashes)


def _check_schema(root: Path, manifest: dict[str, Any]) -> None:
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise BundleError(f"{root}: manifest schema {manifest.get('schema_version')} is not {SCHEMA_VERSION}")
    for key in ("features", "horizon_hours", "history_hours", "model", "files", "probe"):
        if key not in manifest:
            raise BundleError(f"{root}: manifest lacks {key!r}")
    if manifest.get("feature_set_version") != FEATURE_SET_VERSION:
        raise BundleError(
            f"{root} was trained on feature set v{manifest.get('feature_set_version')}, but this worker "
            f"computes v{FEATURE_SET_VERSION}; retrain the bundle with this version"
        )
    unknown = [f for f in manifest["features"] if f not in FEATURE_NAMES]
    if unknown:
        raise BundleError(f"{root} needs features this worker does not compute: {unknown}")
    if int(manifest["history_hours"]) < HISTORY_HOURS:
        raise BundleError(
            f"{root} declares {manifest['history_hours']} history hours; features need {HISTORY_HOURS}"
        )


def _check_files(root: Path, manifest: dict[str, Any]) -> dict[str, str]:
    files: dict[str, str] = dict(manifest["files"])
    if manifest["model"].get("artifact") not in files:
        raise BundleError(f"{root}: the manifest does not record the artifact's sha256")
    for name, expected in files.items():
        if Path(name).name != name:
            raise BundleError(f"{root}: file name {name!r} in the manifest is not a plain name")
        target = root / name
        if not target.is_file():
            raise BundleIntegrityError(f"{root}: {name} is missing")
        actual = sha256_file(target)
        if actual != expected:
            raise BundleIntegrityError(f"{root}: {name} has sha256 {actual}, the manifest says {expected}")
    return files


def _check_probe(root: Path, manifest: dict[str, Any], model: Any) -> None:
    probe = manifest["probe"]
    x = np.asarray(probe["features"], dtype="float64").reshape(1, -1)
    got = float(model.predict(x)[0])
    want = float(probe["prediction"])
    if not math.isfinite(got):
        raise BundleError(f"{root}: the probe prediction is not finite")
    if abs(got - want) > PROBE_TOLERANCE * max(1.0, abs(want)):
        raise BundleError(f"{root}: the probe predicts {got!r}, but at training time it gave {want!r}")


def _from_legacy(root: Path, *, allow_pickle: bool, pinned_sha256: str | None) -> LoadedBundle:
    loaded = legacy.load_legacy(root, allow_pickle=allow_pickle, pinned_sha256=pinned_sha256)
    unknown = [f for f in loaded.features if f not in FEATURE_NAMES]
    if unknown:
        raise BundleError(f"legacy bundle {root} needs features this worker does not compute: {unknown}")
    manifest: dict[str, Any] = {
        "schema_version": None,
        "features": loaded.features,
        "horizon_hours": loaded.horizon_hours,
        "history_hours": HISTORY_HOURS,
        "topic_id": None,
        "model": {"format": legacy.LEGACY_FORMAT, "artifact": legacy.PICKLE_NAME},
        "files": loaded.file_hashes,
    }
    probe = np.zeros((1, len(loaded.features)))
    try:
        value = float(loaded.model.predict(probe)[0])
    except Exception as exc:  # an arbitrary unpickled object can fail in any way
        raise BundleError(f"legacy model in {root} fails a probe prediction: {exc}") from exc
    if not math.isfinite(value):
        raise BundleError(f"legacy model in {root} gives a non-finite probe prediction")
    return LoadedBundle(root, manifest, loaded.model, loaded.content_hash, loaded.file_hashes)
