"""Alerts that reach a person: halt, drawdown breach, stop refused, a position unprotected, ledger drift,
breakers, a WebSocket down, a worker's heartbeat gone, an ambiguous order, the daily PnL summary.

The code where a condition happens calls `emit(events.<condition>(...))`; the process's notifier
(installed at start-up from Settings.alerts; none = alerts off) delivers it to the configured sinks on
side threads (athena.alerts.notifier). emit never blocks and never raises.
"""

from __future__ import annotations

import atexit
import logging
from typing import Any

from athena.alerts import events
from athena.alerts.events import Alert
from athena.alerts.notifier import Notifier, SharedGate
from athena.alerts.sinks import Sink, SlackSink, TelegramSink, WebhookSink
from athena.config import Settings
from athena.state.keys import Keys

log = logging.getLogger(__name__)

_notifier: Notifier | None = None


def emit(alert: Alert) -> None:
    notifier = _notifier
    if notifier is not None:
        notifier.notify(alert)


def sinks_from(settings: Settings) -> list[Sink]:
    a = settings.alerts
    ctx = {"account": settings.account, "env": settings.env, "mode": settings.mode}
    out: list[Sink] = []
    if a.webhook_url.get_secret_value():
        out.append(WebhookSink(a.webhook_url.get_secret_value(), a.sink_timeout_s, ctx))
    if a.telegram_bot_token.get_secret_value() and a.telegram_chat_id:
        out.append(
            TelegramSink(
                a.telegram_api_url,
                a.telegram_bot_token.get_secret_value(),
                a.telegram_chat_id,
                a.sink_timeout_s,
                ctx,
            )
        )
    if a.slack_webhook_url.get_secret_value():
        out.append(SlackSink(a.slack_webhook_url.get_secret_value(), a.sink_timeout_s, ctx))
    return out


def install(notifier: Notifier | None) -> Notifier | None:
    """Make `notifier` this process's (the previous one is closed). Returns the previous one."""
    global _notifier
    previous, _notifier = _notifier, notifier
    if previous is not None and previous is not notifier:
        previous.close(timeout=1.0)
    return previous


def install_from(settings: Settings, redis: Any = None, keys: Keys | None = None) -> Notifier | None:
    """This process's notifier from Settings.alerts (None and nothing installed when no sink is set).
    With `redis`, the per-key rate limit holds across the account's processes (SharedGate). At exit,
    what is still queued gets a few seconds to go out (a CLI halt's alert)."""
    if _notifier is not None:
        return _notifier
    sinks = sinks_from(settings)
    if not sinks:
        return None
    a = settings.alerts
    shared = SharedGate(redis, keys or Keys(settings.env, settings.account)) if redis is not None else None
    notifier = Notifier(
        sinks,
        rate_window_s=a.rate_window_s,
        max_per_window=a.max_per_window,
        queue_size=a.queue_size,
        shared=shared,
    )
    install(notifier)
    atexit.register(notifier.close, 3.0)
    log.info("alerts on: %s", ", ".join(s.name for s in sinks))
    return notifier


def current() -> Notifier | None:
    return _notifier


__all__ = ["Alert", "Notifier", "current", "emit", "events", "install", "install_from", "sinks_from"]
