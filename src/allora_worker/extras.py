"""Which optional extra provides a library the base install leaves out, and how to say so.

The base install runs the daemon; training, backtests, plots, LightGBM bundles and ONNX export
need `[train]`, the PostgreSQL journal `[postgres]`, the official SDK (the network's loss functions
for realized losses, the devnet's types) `[sdk]`, which `[train]` includes (pyproject.toml). A command that reaches one
of these libraries without it says, in one line, which extra to install.
"""

from __future__ import annotations

EXTRA_OF: dict[str, str] = {
    "sklearn": "train",
    "scipy": "train",
    "lightgbm": "train",
    "matplotlib": "train",
    "onnx": "train",
    "skl2onnx": "train",
    "onnxmltools": "train",
    "psycopg": "postgres",
    "allora_sdk": "sdk",
}


def missing_extra(error: ImportError) -> str | None:
    """The one-line advice for an import that failed because an extra is not installed, else None."""
    name = (getattr(error, "name", None) or "").split(".")[0]
    extra = EXTRA_OF.get(name)
    if extra is None:
        return None
    return f"{name} is not installed; this needs the [{extra}] extra: pip install 'allora-worker[{extra}]'"
