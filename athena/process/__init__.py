"""The process level: what an operator or a worker runs as a process or a command, on top of
everything else in athena. launch starts the stack's processes (Redis, simulator, workers); demo runs
the stack live and visible; control and status are the operator's commands (halt, resume, flatten,
reconcile, config, status); stream_service is the stream worker's runtime (workers.stream).

Only the entry points use this package (athena.cli, athena.dashboard, workers); nothing below
imports it (an import-linter contract in pyproject.toml)."""
