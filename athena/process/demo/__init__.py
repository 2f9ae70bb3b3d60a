"""`athena demo`: the whole stack on embedded defaults, live and visible.

Starts Redis (REDIS_URL if one answers and its DB is free, else a private one), the simulator, the
orders worker, the stream worker running ScalperV1, celery beat and (if installed) Flower, as real
child processes logging under `var/runs/<timestamp>/logs/`. A director drives the simulator so a
short run shows the whole mission: entries and fills, exchange stops, a take profit and a stop-loss
hit (the price is pushed through them), time stops (short time_stop_s), position sync and reconcile
by beat, and a WebSocket drop the stream worker recovers from. At the end (or Ctrl-C): flatten, a
final reconcile, stop every child, print a summary, write a report under `var/reports/<timestamp>/`.

`--paper` (docs/PAPER.md): the simulator is a paper venue fed by a public OKX feed (OKX's by default,
`--upstream-rest` / `--upstream-ws` for another); nothing moves that market, so the director only
drops the stack's WebSockets, and exits come as the market brings them.

The parts: run (the Demo and `main`), director (drives the simulator), state (what the demo saw),
view (the terminal), report (the report and the summary's checks).
"""
