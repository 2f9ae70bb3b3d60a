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
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None, sinfo=f'  File "x.py", line 1\n    login("{SECRET}")')
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


def test_celery_logging_signal_installs_redaction_without_adding_handlers() -> None:
    """Workers and beat: Celery sets up the handlers; ours only adds the filter (no duplicate lines)."""
    import workers.app as celery_app
    from athena.config import get_settings, load_settings, set_settings

    previous = get_settings()
    set_settings(load_settings(env="test", environ={"OKX_API_KEY": SECRET}, dotenv=False))
    buf = io.StringIO()
    log = logging.getLogger("test_logs_celery")
    log.handlers = [logging.StreamHandler(buf)]
    log.propagate, log.disabled = False, False  # a worker's logging setup may have disabled it
    log.setLevel(logging.DEBUG)
    try:
        celery_app._redact_secrets(logger=log)
        celery_app._redact_secrets(logger=log)  # both signals may fire for one logger: one filter
        assert len(log.handlers) == 1
        assert sum(isinstance(f, RedactSecrets) for f in log.handlers[0].filters) == 1
        log.warning("signing with %s", SECRET)
        assert "signing with ***" in buf.getvalue() and SECRET not in buf.getvalue()
    finally:
        set_settings(previous)
