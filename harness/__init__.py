"""Shared by tests/ and bench/ (never by src/): running the real daemon against the devnet."""
