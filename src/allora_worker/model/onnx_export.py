"""Native estimators to ONNX bytes, with the exporter made for each library.

LightGBM gets a double-precision graph. onnxmltools writes the trees with float32 thresholds and
leaf values (`TreeEnsembleRegressor` of ai.onnx.ml 1): a feature value between a threshold and
its float32 rounding takes the other branch, and 150 float32 leaves summed near zero differ from
LightGBM's double sum by up to ~1e-3 relative. ai.onnx.ml 3 lets thresholds and leaf weights be
double tensors, and onnxruntime then compares and sums in double; only the operator's output is
float32 (the spec fixes its type), so each prediction is LightGBM's own rounded to float32: within
6e-8 relative, even near zero. The trees are read by onnxmltools' own parser (the same walk its
float export uses); only the node is written here, with double attributes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

OPSET = 15  # the newest default opset both skl2onnx and onnxmltools convert to
ML_OPSET_DOUBLE_TREES = 3  # ai.onnx.ml 3 adds nodes_values_as_tensor / target_weights_as_tensor

# LightGBM objectives whose prediction is the raw sum of the trees (no link function).
_IDENTITY_OBJECTIVES = ("regression", "quantile", "huber", "fair", "mape")


class ExportError(ValueError):
    """The estimator cannot be exported (kind, objective or library missing); the message says why."""


def lightgbm_to_onnx(model: Any, width: int) -> bytes:
    """A LightGBM regressor (LGBMRegressor or Booster) as a double-precision ONNX graph.

    Input `input`: double [rows, width]; output `variable`: float [rows, 1]. Raises ExportError for
    a model whose prediction is not the plain sum of its trees (rf averaging, poisson/gamma/tweedie
    exp link, classifiers, linear trees): export those with onnxmltools and accept its float32
    tolerance, or serve them behind predict_url.
    """
    from onnx import TensorProto, helper, numpy_helper

    try:  # onnxmltools' own LightGBM tree walk; `_parse_tree_structure` is not public API
        from onnxmltools.convert.common.tree_ensemble import get_default_tree_classifier_attribute_pairs
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import (
            _parse_tree_structure,
            dump_booster_model,
            modify_tree_for_rule_in_set,
        )
    except ImportError as exc:  # absent, or a release that moved them: the caller falls back
        raise ExportError(f"onnxmltools' LightGBM parser is not importable here: {exc}") from exc

    booster = getattr(model, "booster_", model)
    dump, info = dump_booster_model(booster)
    modify_tree_for_rule_in_set(dump, use_float=True, info=info)  # categorical "a||b" splits -> BRANCH_EQ chains
    objective = str(dump.get("objective", ""))
    if not objective.startswith(_IDENTITY_OBJECTIVES) or dump.get("num_class", 1) != 1:
        raise ExportError(f"LightGBM objective {objective!r} is not a plain regression (sum of trees)")
    if dump.get("average_output"):
        raise ExportError("LightGBM random forests average their trees; only boosted trees export in double")
    if "is_linear=1" in booster.model_to_string():
        raise ExportError("LightGBM linear trees have no ONNX tree operator")
    if dump["max_feature_idx"] + 1 != width:
        raise ExportError(f"the model reads {dump['max_feature_idx'] + 1} features, not {width}")

    attrs = get_default_tree_classifier_attribute_pairs()
    for tree_id, tree in enumerate(dump["tree_info"]):
        # Leaf values already include the shrinkage, hence a learning rate of 1 (as onnxmltools does).
        _parse_tree_structure(tree_id, 0, 1.0, tree["tree_structure"], attrs)
    node_attrs = {
        "n_targets": 1,
        "post_transform": "NONE",
        "nodes_treeids": attrs["nodes_treeids"],
        "nodes_nodeids": attrs["nodes_nodeids"],
        "nodes_featureids": attrs["nodes_featureids"],
        "nodes_modes": attrs["nodes_modes"],
        "nodes_truenodeids": attrs["nodes_truenodeids"],
        "nodes_falsenodeids": attrs["nodes_falsenodeids"],
        "nodes_missing_value_tracks_true": attrs["nodes_missing_value_tracks_true"],
        "target_treeids": attrs["class_treeids"],
        "target_nodeids": attrs["class_nodeids"],
        "target_ids": attrs["class_ids"],
        "nodes_values_as_tensor": numpy_helper.from_array(np.asarray(attrs["nodes_values"], dtype=np.float64)),
        "target_weights_as_tensor": numpy_helper.from_array(np.asarray(attrs["class_weights"], dtype=np.float64)),
    }
    node = helper.make_node("TreeEnsembleRegressor", ["input"], ["variable"], domain="ai.onnx.ml",
                            name="lightgbm_trees", **node_attrs)
    graph = helper.make_graph(
        [node], "lightgbm_double",
        [helper.make_tensor_value_info("input", TensorProto.DOUBLE, [None, width])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
    )
    onx = helper.make_model(graph, producer_name="allora-worker lightgbm_to_onnx",
                            opset_imports=[helper.make_opsetid("", OPSET),
                                           helper.make_opsetid("ai.onnx.ml", ML_OPSET_DOUBLE_TREES)])
    return bytes(onx.SerializeToString())
