"""How long Redis keeps what orders, stops and fills leave behind (the journal keeps everything for good).

Each is far beyond Celery's redelivery window and the exchange's late reports, so a redelivered task
or a late report still finds the record that stops it from acting twice.
"""

from __future__ import annotations

DAY_S = 86_400

# A finished order or stop, an order's placing marker and resend count, a released reservation: a
# redelivered placement or a late order report finds them.
ORDER_RETENTION_S = 7 * DAY_S

# A booked fill's marker, a stop's owner: a fill reported again (a reconcile, a replayed push) books
# nothing twice, and a stop that triggers long after its entry is still booked to that entry's strategy.
FILL_RETENTION_S = 30 * DAY_S

# A UTC day's realised PnL (CapitalCommander.daily_realised): the daily figures of the last month.
DAY_PNL_RETENTION_S = 40 * DAY_S

# The exchange's instrument list, cached for every process of the account (athena.wiring.load_instruments
# fills it, the pre-flight refreshes the rows it finds changed).
INSTRUMENTS_CACHE_S = 3600
