"""The alert notifier and its sinks against a real local HTTP server: what each sink sends (Telegram's
sendMessage shape, Slack's and the generic webhook's), the per-key rate limit, and that a failing or
hanging sink blocks nobody, breaks nothing and is counted."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from athena import alerts
from athena.alerts import events
from athena.alerts.notifier import Notifier
from athena.alerts.sinks import SlackSink, TelegramSink, WebhookSink
from athena.config import load_settings
from athena.observe.metrics import REGISTRY
from tests.recording_http import RecordingServer
from tests.waiting import wait_for

TOKEN = "123456:AAH-secret-bot-token"
CTX = {"account": "main", "env": "test", "mode": "sim"}


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def notifiers() -> Iterator[list[Notifier]]:
    made: list[Notifier] = []
    yield made
    for n in made:
        n.close(timeout=0.5)


def test_telegram_sends_bot_api_send_message(
    http_recorder: RecordingServer, notifiers: list[Notifier]
) -> None:
    sink = TelegramSink(http_recorder.url, TOKEN, "-100777", timeout_s=2.0, context=CTX)
    n = Notifier([sink])
    notifiers.append(n)
    assert n.notify(events.halt("drawdown 12% >= 10% <b>", "drawdown_breaker"))
    assert n.flush(5.0)
    [body] = http_recorder.bodies(f"/bot{TOKEN}/sendMessage")
    assert set(body) == {"chat_id", "text", "parse_mode"}
    assert body["chat_id"] == "-100777" and body["parse_mode"] == "HTML"
    assert "HALTED by drawdown_breaker" in body["text"] and "main/test" in body["text"]
    assert "&lt;b&gt;" in body["text"] and body["text"].startswith("<b>")  # the reason is escaped, not markup
    assert TOKEN not in repr(sink) and TOKEN not in repr(n)
    n.notify(events.halt("x" * 10_000, "operator"))  # Telegram refuses a text over 4096 characters
    assert n.flush(5.0)
    assert len(http_recorder.bodies(f"/bot{TOKEN}/sendMessage")[-1]["text"]) < 4096


def test_webhook_and_slack_payloads(http_recorder: RecordingServer, notifiers: list[Notifier]) -> None:
    n = Notifier(
        [
            WebhookSink(f"{http_recorder.url}/hook", 2.0, CTX),
            SlackSink(f"{http_recorder.url}/slack", 2.0, CTX),
        ]
    )
    notifiers.append(n)
    n.notify(events.unprotected("BTC-USDT-SWAP", 21.4, "3", "1"))
    assert n.flush(5.0)
    [hook] = http_recorder.bodies("/hook")
    assert hook["event"] == "unprotected" and hook["key"] == "unprotected:BTC-USDT-SWAP"
    assert hook["severity"] == "critical" and hook["account"] == "main" and hook["source"] == "athena"
    assert hook["fields"] == {"instId": "BTC-USDT-SWAP", "seconds": 21.4, "pos": "3", "covered": "1"}
    [slack] = http_recorder.bodies("/slack")
    assert set(slack) == {"text"} and "no covering exchange stop for 21 s" in slack["text"]
    assert n.stats() == {
        "webhook": {"sent": 1, "failed": 0, "dropped": 0},
        "slack": {"sent": 1, "failed": 0, "dropped": 0},
    }


def test_rate_limit_per_key_then_the_count_of_what_was_held(
    http_recorder: RecordingServer, notifiers: list[Notifier]
) -> None:
    clock = FakeClock()
    n = Notifier(
        [WebhookSink(f"{http_recorder.url}/hook", 2.0, CTX)], rate_window_s=60, max_per_window=2, clock=clock
    )
    notifiers.append(n)
    before = _sample("athena_alerts_suppressed_total", event="ws_down")
    sent = [n.notify(events.ws_down("public", 31 + i, "connecting")) for i in range(5)]
    assert sent == [True, True, False, False, False]
    assert n.notify(events.ws_down("private", 31, "connecting"))  # another key: its own budget
    assert n.flush(5.0)
    assert [b["key"] for b in http_recorder.bodies("/hook")] == [
        "ws_down:public",
        "ws_down:public",
        "ws_down:private",
    ]
    assert _sample("athena_alerts_suppressed_total", event="ws_down") - before == 3
    clock.now += 59.9
    assert not n.notify(events.ws_down("public", 90, "connecting"))  # still inside the window
    clock.now += 0.2
    assert n.notify(events.ws_down("public", 91, "connecting"))
    assert n.flush(5.0)
    last = http_recorder.bodies("/hook")[-1]
    assert last["key"] == "ws_down:public" and "(4 similar alerts held back in the last 60 s)" in last["text"]


def test_hanging_and_failing_sinks_block_nothing_and_are_counted(
    http_recorder: RecordingServer, notifiers: list[Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    http_recorder.hang.add(f"/bot{TOKEN}/sendMessage")
    http_recorder.status["/broken"] = 500
    hanging = TelegramSink(http_recorder.url, TOKEN, "42", timeout_s=0.3, context=CTX)
    n = Notifier(
        [
            hanging,
            WebhookSink(f"{http_recorder.url}/broken", 2.0, CTX),
            SlackSink(f"{http_recorder.url}/ok", 2.0),
        ],
        rate_window_s=60,
        queue_size=6,
    )
    notifiers.append(n)
    fail_tg = _sample("athena_alert_sink_failures_total", sink="telegram")
    fail_hook = _sample("athena_alert_sink_failures_total", sink="webhook")
    dropped = _sample("athena_alerts_dropped_total", sink="telegram")
    caplog.set_level(logging.WARNING)
    t0 = time.monotonic()
    for i in range(6):  # distinct keys: none is rate-limited
        assert n.notify(events.ambiguous(f"cl{i}", "BTC-USDT-SWAP", 61))
    assert time.monotonic() - t0 < 0.1, "notify waited for a sink"
    # the healthy sink got all six while the hanging one is stuck on its first
    wait_for(lambda: len(http_recorder.bodies("/ok")) == 6, 5.0, "the healthy sink's six")
    t0 = time.monotonic()
    for i in range(6, 10):  # the hanging sink's queue is full now: these are dropped for it, not waited on
        assert n.notify(events.ambiguous(f"cl{i}", "BTC-USDT-SWAP", 61))
    assert time.monotonic() - t0 < 0.1, "notify waited for a full queue"
    wait_for(lambda: len(http_recorder.bodies("/ok")) == 10, 5.0, "the healthy sink's ten")
    assert n.flush(10.0)  # each hanging request times out after 0.3 s, and is counted
    st = n.stats()
    assert st["telegram"]["sent"] == 0 and st["telegram"]["failed"] + st["telegram"]["dropped"] == 10
    assert st["telegram"]["dropped"] >= 3
    assert _sample("athena_alert_sink_failures_total", sink="telegram") - fail_tg == st["telegram"]["failed"]
    assert _sample("athena_alerts_dropped_total", sink="telegram") - dropped == st["telegram"]["dropped"]
    assert st["webhook"] == {"sent": 0, "failed": 10, "dropped": 0}  # every HTTP 500, counted
    assert _sample("athena_alert_sink_failures_total", sink="webhook") - fail_hook == 10
    assert st["slack"] == {"sent": 10, "failed": 0, "dropped": 0}
    assert "telegram: no answer within 0.3 s" in caplog.text and "webhook: HTTP 500" in caplog.text
    assert TOKEN not in caplog.text


def test_an_unreachable_sink_never_logs_its_url(
    notifiers: list[Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    from athena.testing.redis_server import free_port

    caplog.set_level(logging.DEBUG)
    sink = TelegramSink(f"http://127.0.0.1:{free_port()}", TOKEN, "42", timeout_s=1.0)
    n = Notifier([sink])
    notifiers.append(n)
    n.notify(events.halt("test", "operator"))
    assert n.flush(5.0)
    assert n.stats()["telegram"]["failed"] == 1
    assert "telegram: ConnectionError" in caplog.text and TOKEN not in caplog.text


def test_alert_settings_are_secrets_and_build_the_sinks(tmp_path: object) -> None:
    env = {
        "ATHENA_TELEGRAM_BOT_TOKEN": TOKEN,
        "ATHENA_TELEGRAM_CHAT_ID": "42",
        "ATHENA_SLACK_WEBHOOK_URL": "https://hooks.example/services/T0/B0/slack-secret-path",
        "ATHENA_ALERT_WEBHOOK_URL": "https://alerts.example/hook?key=webhook-secret-key",
    }
    settings = load_settings(env="test", environ=env, dotenv=False)
    assert [s.name for s in alerts.sinks_from(settings)] == ["webhook", "telegram", "slack"]
    for secret in (TOKEN, "slack-secret-path", "webhook-secret-key"):
        assert secret not in repr(settings) and secret not in str(settings.model_dump())
        assert any(secret in s for s in settings.secrets())  # redacted from every log line
    off = load_settings(env="test", environ={}, dotenv=False)
    assert alerts.sinks_from(off) == [] and not off.alerts.any_sink()
    assert off.metrics.orders_port == 0 and off.metrics.stream_port == 0  # monitoring is off in tests


def test_emit_without_a_notifier_does_nothing() -> None:
    previous = alerts.install(None)
    try:
        alerts.emit(events.halt("x", "y"))  # no sink configured: a no-op, no thread, no error
    finally:
        alerts.install(previous)
