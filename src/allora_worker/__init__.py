"""allora-worker: a crash-safe, observable worker for the Allora Network."""

# The one place the version is written: pyproject.toml reads it from here (dynamic version), so
# `--version` needs no importlib.metadata (which costs more than the rest of the command).
__version__ = "0.1.0"

__all__ = ["__version__"]
