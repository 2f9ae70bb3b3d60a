"""This process's metric registry and the metrics observed where things happen.

A registry of our own, not prometheus_client's global one: the endpoint then serves exactly Athena's
metrics (plus the process's CPU and memory), and a test can read values from it. Observing a metric
is a few hundred nanoseconds under a lock and never I/O, so the order and stop paths may call these
freely; a process without an endpoint (a test, the CLI) observes into a registry nobody reads.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

# decision (the order recorded by the stream worker) -> the exchange's ack of the placement
ORDER_LATENCY = Histogram(
    "athena_order_latency_seconds",
    "From an order's decision to the exchange's acknowledgement of it",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
# a fill reaching the stream worker -> its exchange stop acknowledged
STOP_LATENCY = Histogram(
    "athena_stop_latency_seconds",
    "From a fill's arrival to the exchange's acknowledgement of its stop",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
UNPROTECTED_SECONDS = Counter(
    "athena_position_unprotected_seconds",
    "Seconds during which an open position lacked a covering exchange stop "
    "(summed over instruments; sampled every second by the orders worker)",
    registry=REGISTRY,
)
ALERTS_SENT = Counter(
    "athena_alerts_sent", "Alerts delivered, by sink and event", ["sink", "event"], registry=REGISTRY
)
ALERT_FAILURES = Counter(
    "athena_alert_sink_failures",
    "Alert deliveries that failed (error, refusal or timeout)",
    ["sink"],
    registry=REGISTRY,
)
ALERTS_DROPPED = Counter(
    "athena_alerts_dropped",
    "Alerts dropped because a sink's queue was full (a slow sink)",
    ["sink"],
    registry=REGISTRY,
)
ALERTS_SUPPRESSED = Counter(
    "athena_alerts_suppressed", "Alerts held back by the per-key rate limit", ["event"], registry=REGISTRY
)


def observe_order_ack(decided_ms: int, acked_ms: int) -> None:
    if decided_ms > 0 and acked_ms >= decided_ms:
        ORDER_LATENCY.observe((acked_ms - decided_ms) / 1000)


def observe_stop_ack(seconds: float) -> None:
    if seconds >= 0:
        STOP_LATENCY.observe(seconds)
