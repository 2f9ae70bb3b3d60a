"""Logging set-up with secret redaction: no secret value ever reaches a log line."""

from __future__ import annotations

import logging
from collections.abc import Iterable

REDACTED = "***"


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
