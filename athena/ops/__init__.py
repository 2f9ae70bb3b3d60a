"""Use cases run by the orders worker (thin Celery tasks call these): placement, stops, sync,
reconcile, ghost cleanup, protection, flatten, heartbeat. Each is idempotent: safe to run twice."""
