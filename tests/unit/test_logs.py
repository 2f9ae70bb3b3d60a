"""RedactSecrets: no secret reaches a log line, whether in the message, its args or a traceback."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from athena.logs import REDACTED, RedactSecrets, setup_logging

SECRET = "SuperSecretApiKey123"
LONGER = SECRET + "Tail"  # a secret containing another


@pytest.fixture()
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactSecrets([SECRET, LONGER, ""]))
    log = logging.getLogger("athena.test_logs")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log, buf
    log.removeHandler(handler)


def test_message_and_args_are_redacted(captured: tuple[logging.Logger, io.StringIO]) -> None:
    log, buf = captured
    log.info(f"inline {SECRET}")
    log.info("args %s and %r", SECRET, {"key": SECRET})
    log.info("mapping %(k)s", {"k": SECRET})
    log.info("longer %s", LONGER)
    out = buf.getvalue()
    assert SECRET not in out and "Tail" not in out
    assert out.count(REDACTED) == 5
    assert "inline ***" in out and "longer ***" in out


def test_tracebacks_and_stacks_are_redacted(captured: tuple[logging.Logger, io.StringIO]) -> None:
    log, buf = captured
    try:
        raise RuntimeError(f"auth failed for {SECRET}")
    except RuntimeError:
        log.exception("request failed")
    out = buf.getvalue()
    assert "Traceback" in out and "RuntimeError: auth failed for ***" in out
    assert SECRET not in out
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "m", None, None, sinfo=f'  File "x.py", line 1\n    login("{SECRET}")'
    )
    RedactSecrets([SECRET]).filter(record)
    assert record.stack_info is not None and SECRET not in record.stack_info and REDACTED in record.stack_info


def test_bad_format_string_keeps_the_record() -> None:
    filt = RedactSecrets([SECRET])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, f"oops {SECRET} %s %s", ("only-one",), None)
    assert filt.filter(record) is True
    assert SECRET not in str(record.msg)


def test_no_secrets_is_a_no_op() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    assert RedactSecrets([]).filter(record) and record.args == ("world",)


def test_setup_logging_installs_one_filter_on_root(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        root.handlers = []
        setup_logging("INFO", [SECRET])
        setup_logging("INFO", [SECRET, "AnotherSecret99"])  # idempotent: replaces, never stacks
        filters = [f for h in root.handlers for f in h.filters if isinstance(f, RedactSecrets)]
        assert len(root.handlers) == 1 and len(filters) == 1
        child = logging.getLogger("test_logs_child")  # a name no other test configures
        child.disabled, child.propagate = False, True  # a worker's logging setup may disable old loggers
        child.setLevel(logging.NOTSET)
        child.warning("key=%s other=%s", SECRET, "AnotherSecret99")
        err = capsys.readouterr().err
        assert "key=*** other=***" in err and SECRET not in err
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)


def test_worker_logging_takes_athena_level_and_format_and_redacts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers and beat: Celery's setup_logging signal hands the whole set-up to athena.logs, at
    ATHENA_LOG_LEVEL unless --loglevel was given, as JSON lines with ATHENA_LOG_FORMAT=json."""
    import json

    import workers.app as celery_app
    from athena.config import get_settings, load_settings, set_settings
    from athena.logs import set_log_context

    previous = get_settings()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buf = io.StringIO()
    try:
        env = {"OKX_API_KEY": SECRET, "ATHENA_LOG_LEVEL": "INFO", "ATHENA_LOG_FORMAT": "json"}
        set_settings(load_settings(env="test", environ=env, dotenv=False))
        monkeypatch.setattr("sys.argv", ["celery", "-A", "workers.stream", "worker", "-Q", "stream.main"])
        monkeypatch.setattr("sys.stderr", buf)
        celery_app._setup_logging(loglevel=logging.WARNING)  # Celery's default when no --loglevel is given
        assert root.level == logging.INFO and len(root.handlers) == 1
        log = logging.getLogger("test_logs_celery")
        log.disabled, log.propagate = False, True
        log.setLevel(logging.NOTSET)
        set_log_context({"clOrdId": "c1", "instId": "BTC-USDT-SWAP"})
        log.info("signing with %s", SECRET)
        set_log_context({})
        log.info("no order here")
        lines = [json.loads(line) for line in buf.getvalue().splitlines()]
        assert [x["message"] for x in lines] == ["signing with ***", "no order here"]
        assert (
            lines[0]["clOrdId"] == "c1"
            and lines[0]["instId"] == "BTC-USDT-SWAP"
            and "clOrdId" not in lines[1]
        )
        assert {k for k in lines[1]} == {"ts", "level", "role", "logger", "message"}
        assert lines[0]["role"] == "stream" and lines[0]["level"] == "INFO" and lines[0]["ts"].endswith("Z")
        assert SECRET not in buf.getvalue()
        # an explicit --loglevel wins over ATHENA_LOG_LEVEL
        monkeypatch.setattr("sys.argv", ["celery", "-A", "workers.app", "beat", "--loglevel", "ERROR"])
        celery_app._setup_logging(loglevel=logging.ERROR)
        assert root.level == logging.ERROR
    finally:
        set_settings(previous)
        root.handlers = saved_handlers
        root.setLevel(saved_level)
