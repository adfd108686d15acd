"""allora-worker: a crash-safe, observable worker for the Allora Network."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("allora-worker")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
