"""ONNX bundles: a scikit-learn pipeline and a LightGBM model, exported, imported, verified."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from allora_worker.cli import app
from allora_worker.model.bundle import load_bundle
from allora_worker.model.errors import BundleError, BundleIntegrityError
from allora_worker.model.features import HISTORY_HOURS
from allora_worker.model.onnx_import import import_onnx
from tests.model.byom_support import Brought, lightgbm_model, onnxmltools_float_export, sklearn_pipeline


@pytest.fixture(scope="module")
def pipeline(candles: pd.DataFrame) -> Brought:
    return sklearn_pipeline(candles)


@pytest.fixture(scope="module")
def booster() -> Brought:
    # 12,000 hours (2020-02 .. 2021-06): held-out predictions come within 1e-4 of zero, where
    # float32 trees showed their error; the newest 5,000 hours alone all predict about +0.2.
    from allora_worker.market.bundled import load_bundled

    return lightgbm_model(load_bundled("binance").iloc[-12000:])


def _write(tmp_path: Path, brought: Brought, name: str = "model.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(brought.onnx)
    return path


def test_cli_imports_a_pipeline_and_it_predicts_like_sklearn(pipeline: Brought, candles: pd.DataFrame,
                                                             tmp_path: Path) -> None:
    src = _write(tmp_path, pipeline)
    reference = tmp_path / "reference.csv"
    table = pd.DataFrame(pipeline.X_test[:200], columns=pipeline.features)
    table["prediction"] = pipeline.native.predict(pipeline.X_test[:200])
    table.to_csv(reference, index=False)
    out = tmp_path / "bundle"
    res = CliRunner().invoke(app, ["bundle", "import-onnx", str(src), "--features", ",".join(pipeline.features),
                                   "--out", str(out), "--reference", str(reference)])
    assert res.exit_code == 0, res.output
    assert "reference check: 200 rows" in res.output

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["format"] == "onnx" and manifest["features"] == pipeline.features
    assert manifest["model"]["input_name"] == "features" and manifest["model"]["input_shape"] == [None, 6]
    assert manifest["model"]["output_name"] == "variable" and manifest["horizon_hours"] == 168
    assert "model.onnx" in (out / "SHA256SUMS").read_text()

    bundle = load_bundle(out)
    got = bundle.model.predict(pipeline.X_test)
    want = pipeline.native.predict(pipeline.X_test)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)  # double graph: elementwise
    # The live path (features from candles) gives the native model's value on the same row.
    window = candles.iloc[-HISTORY_HOURS:]
    from allora_worker.model.features import compute_features

    row = compute_features(window)[pipeline.features].iloc[[-1]].to_numpy()
    assert bundle.predict(window) == pytest.approx(float(pipeline.native.predict(row)[0]), rel=1e-6, abs=1e-15)


def test_lightgbm_import_agrees_with_native_elementwise(booster: Brought, candles: pd.DataFrame,
                                                        tmp_path: Path) -> None:
    bundle, _ = import_onnx(_write(tmp_path, booster), booster.features, tmp_path / "b", candles=candles,
                            data_source="test")
    got = bundle.model.predict(booster.X_test)
    want = booster.native.predict(booster.X_test)
    assert len(want) > 3000 and np.min(np.abs(want)) < 1e-4
    # Double thresholds and leaves: every prediction within 1e-6 of its own value, even near zero.
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    # Why lightgbm_to_onnx exists: onnxmltools' float32 trees miss that bound on the same rows. If
    # this starts passing, onnxmltools became exact and our export can go.
    from allora_worker.model.models.onnx import OnnxModel

    floats = OnnxModel.from_bytes(onnxmltools_float_export(booster.native, len(booster.features)), booster.features)
    assert np.max(np.abs(floats.predict(booster.X_test) - want) / np.abs(want)) > 1e-6


def test_lightgbm_models_that_are_not_a_plain_sum_of_trees_are_refused_in_words() -> None:
    import lightgbm as lgb

    from allora_worker.model.onnx_export import ExportError, lightgbm_to_onnx

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = np.exp(X[:, 0])
    common = {"n_estimators": 3, "verbose": -1, "n_jobs": 1}
    cases = [
        (lgb.LGBMRegressor(objective="poisson", **common), "objective 'poisson'"),
        (lgb.LGBMRegressor(boosting_type="rf", bagging_freq=1, bagging_fraction=0.5, **common), "average"),
        (lgb.LGBMRegressor(linear_tree=True, **common), "linear trees"),
    ]
    for model, words in cases:
        with pytest.raises(ExportError, match=words):
            lightgbm_to_onnx(model.fit(X, y), 3)
    with pytest.raises(ExportError, match="reads 3 features, not 4"):
        lightgbm_to_onnx(lgb.LGBMRegressor(**common).fit(X, y), 4)


def test_wrong_width_unknown_feature_and_bad_reference_are_refused(pipeline: Brought, candles: pd.DataFrame,
                                                                   tmp_path: Path) -> None:
    src = _write(tmp_path, pipeline)
    with pytest.raises(BundleError, match=r"must be \[rows, 5\]"):
        import_onnx(src, pipeline.features[:5], tmp_path / "a", candles=candles, data_source="t")
    with pytest.raises(BundleError, match="does not compute rsi_14"):
        import_onnx(src, [*pipeline.features[:5], "rsi_14"], tmp_path / "a", candles=candles, data_source="t")
    reference = tmp_path / "ref.csv"
    table = pd.DataFrame(pipeline.X_test[:50], columns=pipeline.features)
    table["prediction"] = pipeline.native.predict(pipeline.X_test[:50]) * 1.01  # another model's numbers
    table.to_csv(reference, index=False)
    with pytest.raises(BundleError, match="disagrees with the reference"):
        import_onnx(src, pipeline.features, tmp_path / "a", candles=candles, data_source="t", reference=reference)
    assert not (tmp_path / "a").exists()  # nothing written on refusal
    (tmp_path / "junk.onnx").write_bytes(b"<html>not a model</html>")
    with pytest.raises(BundleError, match="cannot load the graph"):
        import_onnx(tmp_path / "junk.onnx", pipeline.features, tmp_path / "a", candles=candles, data_source="t")


def test_swapped_onnx_file_is_refused_on_verify_and_load(pipeline: Brought, booster: Brought,
                                                         candles: pd.DataFrame, tmp_path: Path) -> None:
    bundle, _ = import_onnx(_write(tmp_path, pipeline), pipeline.features, tmp_path / "b", candles=candles,
                            data_source="t")
    bundle.verify()
    (tmp_path / "b" / "model.onnx").write_bytes(booster.onnx)
    with pytest.raises(BundleIntegrityError, match="changed since it was loaded"):
        bundle.verify()
    with pytest.raises(BundleIntegrityError, match=r"model\.onnx has sha256"):
        load_bundle(tmp_path / "b")
