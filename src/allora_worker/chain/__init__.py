"""Wallet, chain queries, the transaction lifecycle and chain error classes."""
