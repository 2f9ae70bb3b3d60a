"""Deterministic backtest: market data replayed through the same strategy + OMS code against the sim."""
