"""Pure domain types: no I/O. Money is Decimal; absent values are None, never 0."""

from athena.domain.enums import (
    AlgoState,
    OrderState,
    OrdType,
    PosMode,
    PosSide,
    Side,
    TdMode,
    TriggerPxType,
)
from athena.domain.instrument import Instrument, InstrumentError
from athena.domain.market import BookTop, Level, Tick, Ticker, Trade
from athena.domain.money import BadNumber, D, fmt, opt_D, round_to_step
from athena.domain.orders import (
    AlgoOrder,
    Fill,
    Order,
    OrderIntentError,
    OrderRequest,
    OrderUpdate,
    Position,
    valid_cl_ord_id,
)

__all__ = [
    "AlgoOrder",
    "AlgoState",
    "BadNumber",
    "BookTop",
    "D",
    "Fill",
    "Instrument",
    "InstrumentError",
    "Level",
    "OrdType",
    "Order",
    "OrderIntentError",
    "OrderRequest",
    "OrderState",
    "OrderUpdate",
    "PosMode",
    "PosSide",
    "Position",
    "Side",
    "TdMode",
    "Tick",
    "Ticker",
    "Trade",
    "TriggerPxType",
    "fmt",
    "opt_D",
    "round_to_step",
    "valid_cl_ord_id",
]
