from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from allora_worker.model import bundle as bundle_mod
from allora_worker.model.bundle import load_bundle
from allora_worker.model.dataset import build_dataset, training_set
from allora_worker.model.errors import (
    BundleError,
    BundleIntegrityError,
    InsufficientHistoryError,
    NonFiniteFeaturesError,
)
from allora_worker.model.features import FEATURE_NAMES, HISTORY_HOURS, compute_features
from allora_worker.model.models.ridge import RidgeModel
from allora_worker.model.train import train_bundle


@pytest.fixture(scope="module")
def ridge_bundle(candles: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("b") / "ridge"
    train_bundle(candles.iloc[:4000], out, model="ridge", validate=False, fallback=False)
    return out


def test_manifest_records_what_the_daemon_needs(ridge_bundle: Path, candles: pd.DataFrame) -> None:
    manifest = json.loads((ridge_bundle / "manifest.json").read_text())
    assert manifest["features"] == FEATURE_NAMES
    assert manifest["horizon_hours"] == 168 and manifest["topic_id"] == 67
    assert manifest["history_hours"] == HISTORY_HOURS
    assert manifest["model"]["format"] == "ridge-json-v1"
    assert manifest["training"]["candles_until"] == candles.index[3999].isoformat()
    assert len(manifest["training"]["data_sha256"]) == 64
    assert set(manifest["files"]) == {"model.json"}
    sums = (ridge_bundle / "SHA256SUMS").read_text()
    assert "manifest.json" in sums and "model.json" in sums
    assert not list(ridge_bundle.glob("*.pkl"))


def test_load_and_predict_equals_batch_prediction(ridge_bundle: Path, candles: pd.DataFrame) -> None:
    b = load_bundle(ridge_bundle)
    assert b.history_hours == HISTORY_HOURS and b.horizon_hours == 168
    assert len(b.content_hash) == 64
    b.verify()
    feats = compute_features(candles)
    batch = pd.Series(b.predict_features(feats), index=feats.index)
    for i in (1500, 4500, len(candles) - 1):
        live = b.predict(candles.iloc[: i + 1])
        assert np.isfinite(live)
        assert live == pytest.approx(batch.loc[candles.index[i]], rel=1e-9, abs=1e-12)


def test_ridge_json_serves_what_sklearn_fitted(candles: pd.DataFrame) -> None:
    data = training_set(*build_dataset(candles, 168), 168)
    model = RidgeModel.fit(data)
    scaler = StandardScaler().fit(data.X)
    reference = Ridge(alpha=model.alpha).fit(scaler.transform(data.X), data.y)
    np.testing.assert_allclose(model.predict(data.X[:200]), reference.predict(scaler.transform(data.X[:200])))


def test_tampered_artifact_is_refused(ridge_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in ridge_bundle.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    doc = json.loads((copy / "model.json").read_text())
    doc["intercept"] += 0.01
    (copy / "model.json").write_text(json.dumps(doc))
    with pytest.raises(BundleIntegrityError, match="sha256"):
        load_bundle(copy)


def test_verify_detects_a_change_after_loading(ridge_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in ridge_bundle.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    b = load_bundle(copy)
    b.verify()
    (copy / "manifest.json").write_text((copy / "manifest.json").read_text() + " ")
    with pytest.raises(BundleIntegrityError, match=r"manifest\.json changed"):
        b.verify()
    (copy / "model.json").unlink()
    with pytest.raises(BundleIntegrityError):
        b.verify()


def test_verify_rehashes_only_a_file_whose_stat_moved(ridge_bundle: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # verify() runs before every cycle: an unchanged multi-MB model must not be hashed each time.
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in ridge_bundle.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    b = load_bundle(copy)
    b.verify()  # the copies are brand new: hashed, not trusted by stat yet
    time.sleep(1.1)  # a second after the last change the stat signature is trusted
    hashed: list[str] = []
    real = bundle_mod.sha256_file
    monkeypatch.setattr(bundle_mod, "sha256_file", lambda path: hashed.append(path.name) or real(path))
    for _ in range(3):
        b.verify()
    assert sorted(hashed) == sorted(b.file_hashes), hashed  # once each, then by stat only
    # Rewritten in place with the same size and its mtime put back: the ctime still moves.
    model = copy / "model.json"
    before = model.stat()
    data = model.read_bytes()
    flipped = data.replace(b"1", b"2", 1) if b"1" in data else data.replace(b"0", b"9", 1)
    assert len(flipped) == len(data) and flipped != data
    with model.open("r+b") as handle:
        handle.write(flipped)
    os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(BundleIntegrityError, match=r"model\.json changed"):
        b.verify()
    model.write_bytes(data)  # put back: verifies again, by hash
    b.verify()


def test_pinned_hash(ridge_bundle: Path) -> None:
    h = load_bundle(ridge_bundle).content_hash
    assert load_bundle(ridge_bundle, pinned_sha256=h.upper()).content_hash == h
    with pytest.raises(BundleIntegrityError, match="pinned"):
        load_bundle(ridge_bundle, pinned_sha256="0" * 64)


def _rewrite_manifest(src: Path, dst: Path, **changes: object) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest.update(changes)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_feature_schema_is_checked(ridge_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="feature set v99"):
        load_bundle(_rewrite_manifest(ridge_bundle, tmp_path / "a", feature_set_version=99))
    with pytest.raises(BundleError, match="does not compute"):
        load_bundle(_rewrite_manifest(ridge_bundle, tmp_path / "b", features=[*FEATURE_NAMES[:-1], "rsi_14"]))


def test_probe_mismatch_is_refused(ridge_bundle: Path, tmp_path: Path) -> None:
    manifest = json.loads((ridge_bundle / "manifest.json").read_text())
    probe = dict(manifest["probe"], prediction=manifest["probe"]["prediction"] + 1.0)
    with pytest.raises(BundleError, match="probe"):
        load_bundle(_rewrite_manifest(ridge_bundle, tmp_path / "p", probe=probe))


def test_missing_history_and_nonfinite_features_raise(ridge_bundle: Path, candles: pd.DataFrame) -> None:
    b = load_bundle(ridge_bundle)
    with pytest.raises(InsufficientHistoryError, match=f"needs {HISTORY_HOURS} hours"):
        b.predict(candles.iloc[-(HISTORY_HOURS - 1) :])
    assert np.isfinite(b.predict(candles.iloc[-HISTORY_HOURS:]))
    gappy = candles.drop(index=candles.index[-2])
    with pytest.raises(NonFiniteFeaturesError, match="ret_1h"):
        b.predict(gappy)
    assert issubclass(InsufficientHistoryError, BundleError) and issubclass(
        NonFiniteFeaturesError, BundleError
    )


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(BundleError, match="no manifest"):
        load_bundle(tmp_path)


@pytest.mark.parametrize("kind", ["lightgbm", "drift", "momentum", "ewma", "zero"])
def test_other_formats_round_trip(kind: str, candles: pd.DataFrame, tmp_path: Path) -> None:
    res = train_bundle(candles.iloc[:4000], tmp_path / kind, model=kind, validate=False)
    b = load_bundle(res.bundle_path)
    expected = {"lightgbm": "lightgbm-text-v1"}.get(kind, "baseline-json-v1")
    assert b.manifest["model"]["format"] == expected
    value = b.predict(candles)
    assert np.isfinite(value)
    if kind == "zero":
        assert value == 0.0


def test_rewrite_is_atomic_and_replaces(ridge_bundle: Path, candles: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "b"
    train_bundle(candles.iloc[:4000], out, model="drift", validate=False)
    first = load_bundle(out).content_hash
    train_bundle(candles.iloc[:4200], out, model="drift", validate=False)
    assert load_bundle(out).content_hash != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no temp dirs left behind
    assert bundle_mod.MANIFEST == "manifest.json"
