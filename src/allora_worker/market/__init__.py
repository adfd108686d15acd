"""Hourly candles: sources, local cache, checks."""
