"""Athena: an automated trading system for OKX perpetual swaps."""

__version__ = "0.1.0"
