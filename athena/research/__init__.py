"""Research: `athena optimize`, a parameter search whose trials are deterministic backtests run by
research workers (Celery queue `research.<account>`)."""
