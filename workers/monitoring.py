"""The orders worker's monitoring (athena.observe.server): its metrics endpoint on
Settings.metrics.orders_port, the alert notifier and the watcher thread, for as long as the worker runs.
The stream worker starts its own in workers/stream.py (its metrics come from its StreamService)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import bootsteps

from athena.config import get_settings

log = logging.getLogger(__name__)


class OrdersMonitoring(bootsteps.StartStopStep):  # type: ignore[misc]
    name = "workers.monitoring.OrdersMonitoring"
    label = "athena monitoring"
    # after the queue claim: a refused worker serves no metrics and sends no alert
    requires: ClassVar[tuple[str, ...]] = ("workers.claim:QueueClaim",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.monitoring: Any = None  # athena.observe.server.Monitoring
        self.acct: Any = None  # athena.engine.Account

    def start(self, worker: Any) -> None:
        # imported here, not with workers.app: beat imports the app and needs none of it (its RAM)
        from athena.observe.server import start as start_monitoring
        from athena.wiring import account

        settings = get_settings()
        if settings.metrics.orders_port == 0 and not settings.alerts.any_sink():
            return
        self.acct = account(settings)
        try:
            self.monitoring = start_monitoring("orders", self.acct)
        except Exception:  # monitoring never stops trading
            log.exception("orders worker monitoring not started")

    def stop(self, worker: Any) -> None:
        if self.monitoring is not None:
            self.monitoring.close()
            self.monitoring = None
        if self.acct is not None:
            self.acct.close()
            self.acct = None
