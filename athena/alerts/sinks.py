"""Where alerts go: a generic JSON webhook, Telegram's Bot API, a Slack-compatible incoming webhook.

Each sink POSTs one alert with a bounded timeout and raises on anything but a 2xx answer. Their URLs
and tokens are secrets (a webhook URL is a credential: whoever has it can post): a sink's repr, and
every error it raises, name the sink only; requests' own exception texts (which quote the URL, and so
Telegram's token) are never passed on.
"""

from __future__ import annotations

import html
from typing import Any, Protocol

import requests

from athena.alerts.events import Alert

ICON = {"info": "i", "warning": "!", "critical": "!!"}
TELEGRAM_MAX_TEXT = 3500  # sendMessage takes 4096 characters after entity parsing; escaping adds some


class SinkError(RuntimeError):
    """A delivery failed; the text names the sink and what kind of failure, never its URL."""


class Sink(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


class _HttpSink:
    name = "http"

    def __init__(self, url: str, timeout_s: float, context: dict[str, str] | None = None) -> None:
        self._url = url
        self._timeout = (min(timeout_s, 3.0), timeout_s)  # (connect, read)
        self._context = context or {}
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def payload(self, alert: Alert) -> dict[str, Any]:
        raise NotImplementedError

    def send(self, alert: Alert) -> None:
        try:
            r = self._session.post(self._url, json=self.payload(alert), timeout=self._timeout)
        except requests.Timeout:
            raise SinkError(f"{self.name}: no answer within {self._timeout[1]} s") from None
        except requests.RequestException as exc:
            raise SinkError(f"{self.name}: {type(exc).__name__}") from None
        if not 200 <= r.status_code < 300:
            raise SinkError(f"{self.name}: HTTP {r.status_code}")

    def close(self) -> None:
        self._session.close()


class WebhookSink(_HttpSink):
    """Any endpoint taking JSON: the alert as data (event, key, severity, text, fields, ts_ms) with the
    account and environment it came from."""

    name = "webhook"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return {
            "source": "athena",
            **self._context,
            "event": alert.event,
            "key": alert.key,
            "severity": alert.severity,
            "text": alert.text,
            "fields": alert.fields,
            "ts_ms": alert.ts_ms,
        }


def _headline(alert: Alert, context: dict[str, str]) -> str:
    where = "/".join(context[k] for k in ("account", "env") if context.get(k))
    return f"[{ICON[alert.severity]}] Athena {where} {alert.event}".replace("  ", " ")


class TelegramSink(_HttpSink):
    """Bot API sendMessage: {chat_id, text, parse_mode}; the token is part of the URL (a secret)."""

    name = "telegram"

    def __init__(
        self, api_url: str, token: str, chat_id: str, timeout_s: float, context: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{api_url.rstrip('/')}/bot{token}/sendMessage", timeout_s, context)
        self.chat_id = chat_id

    def payload(self, alert: Alert) -> dict[str, Any]:
        body = alert.text if len(alert.text) <= TELEGRAM_MAX_TEXT else alert.text[:TELEGRAM_MAX_TEXT] + " ..."
        text = f"<b>{html.escape(_headline(alert, self._context))}</b>\n{html.escape(body)}"
        return {"chat_id": self.chat_id, "text": text, "parse_mode": "HTML"}


class SlackSink(_HttpSink):
    """An incoming webhook taking {"text": ...} (Slack, and Mattermost's and Rocket.Chat's compatible
    ones)."""

    name = "slack"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return {"text": f"*{_headline(alert, self._context)}*\n{alert.text}"}
