"""Prometheus metrics (prometheus_client) of the stream worker and the orders worker.

- metrics.py: this process's registry and the metrics its code observes as things happen (latencies,
  alert deliveries, unprotected seconds).
- collect.py: what is read from the real sources at scrape time (capital ledger, journal, Redis state,
  the exchange's stop records, the stream worker's WebSockets).
- watch.py: a side thread per worker that samples those sources every second for the conditions that
  are about time (a position unprotected for N s, a WebSocket down for N s, a heartbeat that stopped,
  an order ambiguous for N s) and raises alerts.
- server.py: the HTTP endpoint, and start-up per role from Settings.metrics (port 0 = off).
"""
