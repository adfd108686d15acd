"""A model someone else trained, served through onnxruntime: no code of theirs runs on load.

An ONNX file is a graph of standard operators, not a program, so loading one cannot execute
anything the way unpickling does. The bundle's manifest records the graph's input name, shape
and element type and the output it reads; a file whose graph says otherwise is refused, and
the usual probe replay then checks the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ONNX_FORMAT = "onnx"
ONNX_ARTIFACT = "model.onnx"
# Element types an input may have; anything else (strings, maps) is not a feature matrix.
_DTYPES = {"tensor(double)": np.float64, "tensor(float)": np.float32}


class OnnxSignatureError(ValueError):
    """The graph's inputs or outputs do not fit a one-row-per-prediction feature matrix."""


def _session(model_bytes: bytes) -> Any:
    import onnxruntime as ort  # lazily: a daemon serving another format never loads the runtime

    options = ort.SessionOptions()
    # One row per window: a thread pool only adds start-up cost and contention on small hosts.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types for bad files
        raise OnnxSignatureError(f"onnxruntime cannot load the graph: {exc}") from exc


@dataclass
class OnnxModel:
    features: list[str]
    model_bytes: bytes = field(repr=False)
    session: Any = field(repr=False)
    input_name: str
    input_type: str
    input_shape: list[int | str | None]
    output_name: str
    format: str = ONNX_FORMAT
    kind: str = "onnx"
    artifact_name: str = ONNX_ARTIFACT

    @classmethod
    def from_bytes(cls, model_bytes: bytes, features: list[str], output_name: str | None = None) -> OnnxModel:
        """Open a graph and check it maps an (n, len(features)) matrix to one value per row."""
        session = _session(model_bytes)
        inputs = session.get_inputs()
        if len(inputs) != 1:
            names = [i.name for i in inputs]
            raise OnnxSignatureError(f"the graph has {len(inputs)} inputs {names}; a bundle feeds exactly one "
                                     "feature matrix (export with a single input)")
        inp = inputs[0]
        if inp.type not in _DTYPES:
            raise OnnxSignatureError(f"input {inp.name!r} is {inp.type}; a feature matrix is float or double")
        shape = list(inp.shape)
        width = shape[1] if len(shape) == 2 else None
        if len(shape) != 2 or (isinstance(width, int) and width != len(features)):
            raise OnnxSignatureError(
                f"input {inp.name!r} has shape {shape}; it must be [rows, {len(features)}] for the "
                f"{len(features)} features given ({', '.join(features)})"
            )
        outputs = {o.name: o for o in session.get_outputs()}
        name = output_name or next(iter(outputs))
        if name not in outputs:
            raise OnnxSignatureError(f"the graph has no output {name!r} (it has {list(outputs)})")
        if outputs[name].type not in _DTYPES:
            raise OnnxSignatureError(f"output {name!r} is {outputs[name].type}, not a numeric tensor")
        return cls(list(features), model_bytes, session, inp.name, inp.type, shape, name)

    @classmethod
    def load(cls, path: Path, features: list[str], info: dict[str, Any]) -> OnnxModel:
        """Rebuild from the artifact; refuse a graph whose signature differs from the manifest's."""
        model = cls.from_bytes(path.read_bytes(), features, info.get("output_name"))
        for key in ("input_name", "input_type", "output_name"):
            if key in info and info[key] != getattr(model, key):
                raise OnnxSignatureError(f"{path.name}: {key} is {getattr(model, key)!r}, the manifest says "
                                         f"{info[key]!r}")
        return model

    def predict(self, X: np.ndarray) -> np.ndarray:
        rows = np.asarray(X, dtype="float64").reshape(-1, len(self.features))
        out = self.session.run([self.output_name], {self.input_name: rows.astype(_DTYPES[self.input_type])})[0]
        values = np.asarray(out, dtype="float64").reshape(-1)
        if values.shape[0] != rows.shape[0]:
            raise OnnxSignatureError(f"output {self.output_name!r} gave {values.shape[0]} values for "
                                     f"{rows.shape[0]} rows; a bundle needs one value per row")
        return values

    def save(self, directory: Path) -> Path:
        path = directory / self.artifact_name
        path.write_bytes(self.model_bytes)
        return path

    def describe(self) -> dict[str, object]:
        meta = self.session.get_modelmeta()
        return {
            "kind": self.kind,
            "input_name": self.input_name,
            "input_type": self.input_type,
            "input_shape": [d if isinstance(d, int) else None for d in self.input_shape],
            "output_name": self.output_name,
            "producer": meta.producer_name,
        }
