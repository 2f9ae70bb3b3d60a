"""The metrics endpoint of a worker, and everything monitoring runs in it, started per role.

start(role, settings, ...) installs the alert notifier (athena.alerts; no sink = none), registers the
role's collector, starts the watcher thread when it has something to do (an endpoint or alerts), and
serves /metrics on Settings.metrics.<role>_port (0 = no endpoint). A port that cannot be bound is logged
in one sentence and the worker trades on without metrics: monitoring never stops trading.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client import start_http_server
from prometheus_client.registry import Collector

from athena import alerts
from athena.engine import Account
from athena.observe.collect import AccountCollector, ExchangeStops, StreamCollector
from athena.observe.metrics import REGISTRY
from athena.observe.watch import Watcher
from athena.okx.port import ExchangePort
from athena.state.journal import Journal
from athena.wiring import okx_rest

log = logging.getLogger(__name__)

Role = Literal["orders", "stream"]


@dataclass
class Monitoring:
    role: Role
    url: str | None = None  # http://host:port/metrics, when served
    watcher: Watcher | None = None
    collector: Collector | None = None
    _server: Any = None
    _thread: threading.Thread | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.watcher is not None:
            self.watcher.stop()
        if self.collector is not None:
            try:
                REGISTRY.unregister(self.collector)
            except KeyError:
                pass
            self.collector = None
        for close in self._closers:
            close()
        self._closers.clear()


def port_of(role: Role, acct: Account) -> int:
    m = acct.settings.metrics
    return m.orders_port if role == "orders" else m.stream_port


def start(
    role: Role,
    acct: Account,
    *,
    status: Callable[[], dict[str, Any] | None] | None = None,
    rest: ExchangePort | None = None,
) -> Monitoring:
    """role orders: the account's metrics (ledger, journal, stops, halt, breakers); role stream: the
    WebSockets of `status` (StreamService.status)."""
    settings = acct.settings
    alerts.install_from(settings, acct.redis, acct.keys)
    mon = Monitoring(role)
    port = port_of(role, acct)
    if port == 0 and alerts.current() is None:
        return mon  # nothing to serve, nobody to tell: no thread at all
    stops: ExchangeStops | None = None
    if role == "orders":
        journal = Journal(settings.db_url)
        mon._closers.append(journal.close)
        rest = rest or okx_rest(settings)
        mon._closers.append(rest.close)
        stops = ExchangeStops(acct, rest)  # one listing every 2 s, shared by the endpoint and the watcher
        mon.collector = AccountCollector(acct, journal, stops)
    else:
        mon.collector = StreamCollector(status or (lambda: None))
    REGISTRY.register(mon.collector)
    mon.watcher = Watcher(role, acct, status=status, stops=stops).start()
    if port:
        host = settings.metrics.host
        try:
            mon._server, mon._thread = start_http_server(port, addr=host, registry=REGISTRY)
        except OSError as exc:
            log.error(
                "metrics endpoint of the %s worker not started: %s:%d cannot be bound (%s); set "
                "ATHENA_METRICS_%s_PORT to a free port",
                role,
                host,
                port,
                exc.strerror or exc,
                role.upper(),
            )
            return mon
        mon.url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/metrics"
        log.info("%s worker metrics on %s", role, mon.url)
    return mon
