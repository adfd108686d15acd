"""Features, training, backtests, safe model bundles and evaluation."""
