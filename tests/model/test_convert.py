"""`bundle convert-legacy`: the seed-style model.pkl + features.json becomes a pickle-free ONNX bundle."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from allora_worker.cli import app
from allora_worker.model.bundle import load_bundle
from allora_worker.model.convert import convert_legacy, map_features
from allora_worker.model.errors import BundleError, LegacyBundleRefused
from tests.model.byom_support import SEED_MEANING, seed_style_legacy


@pytest.fixture()
def seed(candles: pd.DataFrame, tmp_path: Path) -> tuple[Path, str, object]:
    return seed_style_legacy(candles, tmp_path / "legacy")


def test_cli_converts_the_seed_pickle_and_the_bundle_needs_no_pickle(seed: tuple[Path, str, object],
                                                                     candles: pd.DataFrame, tmp_path: Path) -> None:
    src, sha, estimator = seed
    out = tmp_path / "converted"
    res = CliRunner().invoke(app, ["bundle", "convert-legacy", str(src), "--allow-pickle", "--model-sha256", sha,
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "converted sklearn.Pipeline" in res.output
    assert "log_return_24h -> ret_24h" in res.output and "volatility_168h -> vol_168h" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["SHA256SUMS", "manifest.json", "model.onnx"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["pickle_sha256"] == sha and manifest["model"]["format"] == "onnx"

    bundle = load_bundle(out)  # no allow_pickle, no pin: nothing is unpickled
    assert bundle.features == SEED_MEANING
    from allora_worker.model.onnx_import import agreement, complete_rows

    X = complete_rows(candles, SEED_MEANING).to_numpy()
    # skl2onnx's tree ensembles run in float32: the stated tolerance is 1e-6 of the prediction scale.
    result = agreement(estimator.predict(X), bundle.model.predict(X))  # type: ignore[attr-defined]
    assert result.ok and result.rows > 4000, result.describe()


def test_without_allow_pickle_or_pin_nothing_is_unpickled(seed: tuple[Path, str, object], candles: pd.DataFrame,
                                                          tmp_path: Path) -> None:
    src, sha, _ = seed
    with pytest.raises(LegacyBundleRefused, match="--allow-pickle"):
        convert_legacy(src, tmp_path / "o", pinned_sha256=sha, allow_pickle=False, candles=candles, data_source="t")
    res = CliRunner().invoke(app, ["bundle", "convert-legacy", str(src), "--allow-pickle",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "pinned sha256" in res.output
    assert not (tmp_path / "o").exists()


def test_features_we_cannot_compute_are_listed(seed: tuple[Path, str, object], candles: pd.DataFrame,
                                               tmp_path: Path) -> None:
    src, sha, _ = seed
    (src / "features.json").write_text(json.dumps(["log_return_24h", "rsi_14", "return_24h", "vol_168h"]))
    with pytest.raises(BundleError, match=r"2 feature\(s\) this worker cannot compute: rsi_14, return_24h"):
        convert_legacy(src, tmp_path / "o", pinned_sha256=sha, allow_pickle=True, candles=candles, data_source="t")
    assert map_features(["logret_1h", "ret_4h"]) == {"logret_1h": "ret_1h", "ret_4h": "ret_4h"}


def test_an_estimator_without_a_converter_is_refused_in_words(candles: pd.DataFrame, tmp_path: Path) -> None:
    from sklearn.kernel_ridge import KernelRidge

    src = tmp_path / "legacy"
    src.mkdir()
    (src / "model.pkl").write_bytes(pickle.dumps(KernelRidge().fit(np.eye(2), np.array([0.0, 1.0]))))
    (src / "features.json").write_text(json.dumps(["ret_24h", "ret_168h"]))
    sha = hashlib.sha256((src / "model.pkl").read_bytes()).hexdigest()
    with pytest.raises(BundleError, match=r"cannot convert a sklearn\.KernelRidge to ONNX"):
        convert_legacy(src, tmp_path / "o", pinned_sha256=sha, allow_pickle=True, candles=candles, data_source="t")
    assert not (tmp_path / "o").exists()


def _boosted(kind: str, X: np.ndarray, y: np.ndarray) -> object:
    if kind == "lightgbm":
        import lightgbm as lgb

        return lgb.LGBMRegressor(n_estimators=80, num_leaves=8, min_child_samples=100, deterministic=True,
                                 force_row_wise=True, n_jobs=1, verbose=-1).fit(X, y)
    xgb = pytest.importorskip("xgboost")  # in the [test] extra (xgboost-cpu)
    return xgb.XGBRegressor(n_estimators=80, max_depth=3, n_jobs=1).fit(X, y)


@pytest.mark.parametrize(("kind", "elementwise"), [("lightgbm", 1e-6), ("xgboost", None)])
def test_a_pickled_boosted_model_converts_and_matches(kind: str, elementwise: float | None, tmp_path: Path) -> None:
    """LightGBM through lightgbm_to_onnx (double), XGBoost through onnxmltools (float32, as XGBoost itself).

    On 12,000 hours: some predictions come within 1e-4 of zero, where float32 trees show.
    """
    from allora_worker.market.bundled import load_bundled
    from allora_worker.model.onnx_import import agreement, complete_rows
    from tests.model.byom_support import SEED_FEATURES, split

    candles = load_bundled("binance").iloc[-12000:]
    X, y, _ = split(candles, SEED_MEANING)
    model = _boosted(kind, X, y)
    src = tmp_path / "legacy"
    src.mkdir()
    (src / "model.pkl").write_bytes(pickle.dumps(model))
    (src / "features.json").write_text(json.dumps(SEED_FEATURES))
    sha = hashlib.sha256((src / "model.pkl").read_bytes()).hexdigest()
    done = convert_legacy(src, tmp_path / "out", pinned_sha256=sha, allow_pickle=True, candles=candles,
                          data_source="t")
    assert done.estimator == f"{kind}.{'LGBMRegressor' if kind == 'lightgbm' else 'XGBRegressor'}"
    bundle = load_bundle(tmp_path / "out")
    rows = complete_rows(candles, SEED_MEANING).to_numpy()
    got, want = bundle.model.predict(rows), model.predict(rows)  # type: ignore[attr-defined]
    assert agreement(want, got).ok, agreement(want, got).describe()
    if elementwise is not None:
        np.testing.assert_allclose(got, want, rtol=elementwise, atol=0)
