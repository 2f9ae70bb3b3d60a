"""Helpers to run real services (a private redis-server) for tests, benchmarks and the demo."""
