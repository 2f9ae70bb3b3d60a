"""Secrets stay secret in reprs, error messages, tracebacks and log lines; live mode refuses to start
without keys and the explicit confirmation; compose and README keep the privileged parts protected.
(The whole-stack check with Flower and a password-protected Redis is test_secrets_stack.py.)"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

import pytest
import yaml

from athena import procs
from athena.config import LIVE_CONFIRMATION, ROOT, ConfigError, load_settings
from athena.logs import setup_logging
from athena.okx.errors import OkxError
from athena.okx.private_ws import OkxPrivateWsGateway
from athena.okx.rest import OkxRestGateway
from athena.testing.redis_server import free_port

KEY, SECRET, PASS, REDIS_PW = (
    "sekrit-key-4d1f9",
    "sekrit-secret-8b2c7",
    "sekrit-pass-3e6a0",
    "sekrit-redis-5c8d2",
)
SECRETS = (KEY, SECRET, PASS, REDIS_PW)
ENV = {
    "OKX_API_KEY": KEY,
    "OKX_SECRET_KEY": SECRET,
    "OKX_PASSPHRASE": PASS,
    "REDIS_URL": f"redis://:{REDIS_PW}@127.0.0.1:6399/0",
}


def _clean(text: str, where: str) -> None:
    for s in SECRETS:
        assert s not in text, (
            f"secret {s[:9]}... found in {where}: ...{text[max(0, text.find(s) - 80) : text.find(s) + 40]}..."
        )


def test_settings_repr_str_dump_hide_secrets() -> None:
    s = load_settings(env="test", environ={**ENV, "ATHENA_MODE": "demo"}, dotenv=False)
    assert s.credentials() == (KEY, SECRET, PASS)  # they are loaded ...
    for text in (repr(s), str(s), s.model_dump_json(), str(s.model_dump()), repr(s.okx), repr(s.redis_url)):
        _clean(text, "Settings repr/dump")  # ... and never shown
    assert set(s.secrets()) >= {SECRET, PASS, REDIS_PW}


def test_gateway_reprs_errors_and_tracebacks_hide_secrets() -> None:
    rest = OkxRestGateway(
        base_url=f"http://127.0.0.1:{free_port()}",
        credentials=(KEY, SECRET, PASS),
        auto_sync_clock=False,
        timeout_s=1.0,
    )
    ws = OkxPrivateWsGateway(f"ws://127.0.0.1:{free_port()}/ws/v5/private", KEY, SECRET, PASS)
    _clean(
        repr(rest) + repr(rest.creds) + str(rest.creds) + repr(ws) + repr(ws.private) + str(vars(rest)),
        "gateway repr",
    )
    with pytest.raises(OkxError) as info:  # nothing listens there: a signed request fails
        rest.balance()
    _clean(str(info.value) + "".join(traceback.format_exception(info.value)), "REST error/traceback")
    rest.close()


def test_log_lines_and_logged_tracebacks_are_redacted(tmp_path: Path) -> None:
    s = load_settings(env="test", environ={**ENV, "ATHENA_MODE": "demo"}, dotenv=False)
    root = logging.getLogger()
    saved = list(root.handlers)
    handler = logging.FileHandler(tmp_path / "x.log")
    root.addHandler(handler)
    try:
        setup_logging("INFO", s.secrets())
        log = logging.getLogger("athena.security-test")
        log.warning(
            "connecting to %s with %s", s.redis_url.get_secret_value(), s.okx.secret_key.get_secret_value()
        )
        try:
            raise RuntimeError(f"failed with passphrase {PASS}")
        except RuntimeError:
            log.exception("boom %s", SECRET)
        handler.flush()
    finally:
        root.handlers = saved
        handler.close()
    text = (tmp_path / "x.log").read_text()
    assert "connecting to" in text and "RuntimeError" in text and "***" in text
    for s_ in (SECRET, PASS, REDIS_PW):
        assert s_ not in text


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"ATHENA_MODE": "live"}, "OKX_API_KEY"),  # no keys
        ({"ATHENA_MODE": "live", "OKX_API_KEY": KEY, "OKX_SECRET_KEY": SECRET}, "OKX_PASSPHRASE"),
        (
            {"ATHENA_MODE": "live", "OKX_API_KEY": KEY, "OKX_SECRET_KEY": SECRET, "OKX_PASSPHRASE": PASS},
            "ATHENA_LIVE_CONFIRM",
        ),
        (
            {
                "ATHENA_MODE": "live",
                "OKX_API_KEY": KEY,
                "OKX_SECRET_KEY": SECRET,
                "OKX_PASSPHRASE": PASS,
                "ATHENA_LIVE_CONFIRM": "yes",
            },
            "ATHENA_LIVE_CONFIRM",
        ),
        ({"ATHENA_MODE": "demo"}, "OKX_API_KEY"),
    ],
)
def test_live_and_demo_refuse_without_keys_and_confirmation(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env="test", environ=env, dotenv=False)
    assert needle in str(info.value) or needle.lower().replace("okx_", "okx.") in str(info.value).lower()
    _clean(str(info.value), "config error")


def test_live_accepted_with_keys_and_confirmation() -> None:
    s = load_settings(
        env="test",
        environ={**ENV, "ATHENA_MODE": "live", "ATHENA_LIVE_CONFIRM": LIVE_CONFIRMATION},
        dotenv=False,
    )
    assert s.mode == "live" and not s.simulated_trading


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "athena.cli", "config"],
        ["-m", "celery", "-A", "workers.app", "worker", "-Q", "orders", "-P", "solo"],
    ],
)
def test_live_processes_exit_at_start_without_confirmation(argv: list[str], tmp_path: Path) -> None:
    """A real process (the CLI, an orders worker) given live keys but no confirmation exits at once,
    says why, and prints no secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHENA_", "OKX_", "REDIS_URL"))}
    env.update(
        {
            **ENV,
            "ATHENA_MODE": "live",
            "ATHENA_ENV": "test",
            "ATHENA_VAR_DIR": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            "ATHENA_DB_URL": f"sqlite:///{tmp_path}/a.db",
        }
    )
    proc = procs.run(
        [sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert "ATHENA_LIVE_CONFIRM" in out, out[-2000:]
    _clean(out, " ".join(argv))


def test_compose_protects_flower_and_persists_redis() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    svc = compose["services"]
    flower = " ".join(svc["flower"]["command"])
    assert "basic-auth" not in flower  # the password is not on Flower's command line...
    assert svc["flower"]["environment"]["FLOWER_BASIC_AUTH"].startswith(
        "${FLOWER_BASIC_AUTH:?"
    )  # ...and unset refuses
    assert all(str(p).startswith("127.0.0.1:") for p in svc["flower"]["ports"])  # not on every interface
    redis = " ".join(svc["redis"]["command"])
    assert (
        "--appendonly yes" in redis and "requirepass" in redis and "--requirepass" not in redis
    )  # not on argv
    assert svc["redis"]["environment"]["REDIS_PASSWORD"].startswith(
        "${REDIS_PASSWORD:?"
    )  # no password, no start
    # the broker can trade the account: published on loopback unless the operator names an address
    assert [str(p) for p in svc["redis"]["ports"]] == ["${ATHENA_REDIS_BIND:-127.0.0.1}:6379:6379"]
    # every Athena container reaches it with the password (tests/unit/test_deploy_files.py resolves it)
    assert compose["x-athena-env"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")


def test_readme_marks_manual_controls_privileged() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("Manual controls (privileged)") :]
    section = section[: section.index("\n## ")]
    for word in ("athena flatten", "athena reconcile", "REDIS_URL=redis://:", "basic auth"):
        assert word in section


def test_alert_urls_and_tokens_stay_secret(tmp_path: Path) -> None:
    """A webhook URL and a bot token are credentials: not in Settings' reprs, the sinks' reprs, nor a log
    line."""
    from athena import alerts

    token, hook, slack = (
        "777:sekrit-bot-token",
        "https://h.example/sekrit-hook-path",
        "https://s.example/sekrit-slack",
    )
    env = {
        "ATHENA_TELEGRAM_BOT_TOKEN": token,
        "ATHENA_TELEGRAM_CHAT_ID": "1",
        "ATHENA_ALERT_WEBHOOK_URL": hook,
        "ATHENA_SLACK_WEBHOOK_URL": slack,
    }
    s = load_settings(env="test", environ=env, dotenv=False)
    sinks = alerts.sinks_from(s)
    shown = repr(s) + str(s.model_dump()) + s.model_dump_json() + repr(s.alerts) + repr(sinks)
    for secret in ("sekrit-bot-token", "sekrit-hook-path", "sekrit-slack"):
        assert secret not in shown
        assert any(secret in x for x in s.secrets())  # so every log line is redacted of them
