"""Logging set-up with secret redaction: no secret value ever reaches a log line.

Two formats (ATHENA_LOG_FORMAT): `text`, one readable line per record, and `json`, one JSON object
per line with ts, level, role, logger, message, and clOrdId/instId/strategy when the code that logs
knows them (a Celery task's arguments, via set_log_context, or a record's `extra`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import orjson

REDACTED = "***"
CONTEXT_FIELDS = ("clOrdId", "instId", "strategy")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(role)s %(name)s: %(message)s"

_NONE: Mapping[str, str] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "athena_log_context", default=_NONE
)


def set_log_context(fields: Mapping[str, str]) -> None:
    """The identifiers every record logged from here on (this thread or task) carries."""
    _context.set(dict(fields))


class ContextFilter(logging.Filter):
    """Puts the process role and the current order identifiers on every record."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = self.role
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "role": getattr(record, "role", ""),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value:
                doc[name] = str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = record.stack_info
        return orjson.dumps(doc, default=str).decode()


class RedactSecrets(logging.Filter):
    """Replaces every known secret value in the formatted message (args included) by ***."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # longest first: a secret that contains another must not leave its tail behind
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            msg = str(record.msg)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        changed = False
        for s in self.secrets:
            if s in msg:
                msg = msg.replace(s, REDACTED)
                changed = True
            if record.exc_text and s in record.exc_text:
                record.exc_text = record.exc_text.replace(s, REDACTED)
            if record.stack_info and s in record.stack_info:
                record.stack_info = record.stack_info.replace(s, REDACTED)
        if changed:
            record.msg, record.args = msg, None
        return True


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RedactSecrets) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    redact = RedactSecrets(secrets)
    for h in root.handlers:
        h.filters = [f for f in h.filters if not isinstance(f, RedactSecrets)]
        h.addFilter(redact)
    root.setLevel(level)


def install_redaction(secrets: Iterable[str], logger: logging.Logger | None = None) -> None:
    """Put one RedactSecrets filter on every handler of `logger` (root by default), adding no
    handler: for processes whose logging someone else set up (Celery workers and beat)."""
    target = logger or logging.getLogger()
    redact = RedactSecrets(secrets)
    for h in target.handlers:
        h.filters = [f for f in h.filters if not isinstance(f, RedactSecrets)]
        h.addFilter(redact)


class _OneLine(logging.Formatter):
    """Text without tracebacks: the exception's type and message on the same line."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None}))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # its last line is "Type: message" (already redacted by RedactSecrets)
            line += f" ({record.exc_text.strip().splitlines()[-1]})"
        return line


def configure_logging(
    level: str | int, fmt: str, role: str, secrets: Iterable[str], stream: Any = None, tracebacks: bool = True
) -> None:
    """The process's whole logging set-up (workers, beat, the CLI): one handler on the root logger,
    `text` or `json` lines, the role and order identifiers on every record, every secret redacted.
    Replaces whatever handlers the root logger had (called again, it changes nothing twice)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    text = logging.Formatter(TEXT_FORMAT) if tracebacks else _OneLine(TEXT_FORMAT)
    handler.setFormatter(JsonFormatter() if fmt == "json" else text)
    handler.addFilter(ContextFilter(role))
    handler.addFilter(RedactSecrets(secrets))  # after the context: it rewrites the final message
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)


def stdout_to_log(logger: logging.Logger, fd: int = 1) -> None:
    """Every line written to file descriptor `fd` (Python's prints and anything writing to the fd
    directly, forked children included) becomes an INFO record of `logger`, so a process logging
    JSON lines prints nothing else. The handlers write to stderr (configure_logging): no loop."""
    sys.stdout.flush()
    read_end, write_end = os.pipe()
    os.dup2(write_end, fd)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip()
                if line.strip():
                    logger.info("%s", line)

    threading.Thread(target=pump, name="athena-stdout-log", daemon=True).start()
