"""The one exception family of the model layer.

The daemon catches `BundleError` around every use of a bundle, so every failure a bundle can
raise (bad files, wrong hashes, missing history, non-finite features) is a subclass of it,
and every message is plain enough to act on without reading the code.
"""

from __future__ import annotations


class BundleError(Exception):
    """A model bundle cannot be written, loaded, verified, or cannot predict."""


class BundleIntegrityError(BundleError):
    """A bundle file is missing, or its sha256 differs from the one recorded."""


class InsufficientHistoryError(BundleError):
    """The candle frame does not reach back as far as the features need."""


class NonFiniteFeaturesError(BundleError):
    """A feature at the prediction time is NaN or infinite (usually gaps in the candles)."""


class LegacyBundleRefused(BundleError):
    """A pickle bundle was found but loading it was not explicitly allowed and pinned."""
