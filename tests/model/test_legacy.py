from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from allora_worker.model.bundle import load_bundle
from allora_worker.model.errors import BundleError, LegacyBundleRefused


@pytest.fixture()
def legacy_dir(tmp_path: Path) -> tuple[Path, str]:
    model = LinearRegression().fit(np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0.0, 0.1, 0.2]))
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    (tmp_path / "features.json").write_text(json.dumps(["ret_168h", "vol_168h"]))
    return tmp_path, hashlib.sha256((tmp_path / "model.pkl").read_bytes()).hexdigest()


def test_pickle_refused_by_default(legacy_dir: tuple[Path, str]) -> None:
    path, sha = legacy_dir
    with pytest.raises(LegacyBundleRefused, match="--allow-pickle") as err:
        load_bundle(path)
    assert sha in str(err.value)  # tells the operator what to pin after review
    assert issubclass(LegacyBundleRefused, BundleError)


def test_pickle_needs_a_pin(legacy_dir: tuple[Path, str]) -> None:
    path, _ = legacy_dir
    with pytest.raises(LegacyBundleRefused, match="pinned sha256"):
        load_bundle(path, allow_pickle=True)
    with pytest.raises(LegacyBundleRefused, match="not the pinned"):
        load_bundle(path, allow_pickle=True, pinned_sha256="ab" * 32)


def test_pinned_pickle_loads_and_predicts(legacy_dir: tuple[Path, str], candles: pd.DataFrame) -> None:
    path, sha = legacy_dir
    b = load_bundle(path, allow_pickle=True, pinned_sha256=sha)
    assert b.features == ["ret_168h", "vol_168h"] and b.horizon_hours == 168
    assert np.isfinite(b.predict(candles))
    b.verify()
    (path / "features.json").write_text(json.dumps(["vol_168h", "ret_168h"]))
    with pytest.raises(BundleError, match="changed"):
        b.verify()


def test_unknown_legacy_features_refused(legacy_dir: tuple[Path, str]) -> None:
    path, sha = legacy_dir
    (path / "features.json").write_text(json.dumps(["ret_168h", "some_old_feature"]))
    with pytest.raises(BundleError, match="some_old_feature"):
        load_bundle(path, allow_pickle=True, pinned_sha256=sha)
