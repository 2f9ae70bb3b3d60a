"""The Exchange's state, shared by its parts (orders, account, algos, public market data)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from athena.sim.instruments import SimInstrument
from athena.sim.models import Market, SimAlgo, SimOrder, SimPosition
from athena.sim.util import BadParam, Clock, Ids

if TYPE_CHECKING:
    from athena.sim.history import MarketHistory

Listener = Callable[[str, dict[str, Any], list[dict[str, Any]]], None]
WantFn = Callable[[str, str], bool]  # (channel, instId) -> is anyone subscribed?


class ExchangeState:
    """Attributes only; behaviour lives in the mixins that make up Exchange."""

    insts: dict[str, SimInstrument]
    by_code: dict[int, str]
    clock: Clock
    ids: Ids
    uid: str
    markets: dict[str, Market]
    orders: dict[str, SimOrder]  # every order still remembered, by ordId
    pending: dict[str, dict[str, SimOrder]]  # instId -> ordId -> working order
    pending_cl: dict[str, SimOrder]  # clOrdId -> working order
    cl_latest: dict[str, str]  # clOrdId -> latest ordId
    done: deque[str]  # terminal ordIds, oldest first (bounded history)
    algos: dict[str, SimAlgo]
    algo_cl: dict[str, str]  # live algoClOrdId -> algoId
    fills: deque[dict[str, Any]]
    positions: dict[tuple[str, str], SimPosition]
    leverage: dict[tuple[str, str, str], Decimal]
    cash: Decimal
    pos_mode: str
    maker_fee: Decimal
    taker_fee: Decimal
    caa: dict[str, int]  # cancel-all-after: tag ("" = account) -> deadline ms
    listeners: list[Listener]
    wants: WantFn
    _dirty_pos: set[tuple[str, str]]
    _dirty_acct: bool
    _dirty_mkt: set[str]
    _trades_out: dict[str, list[dict[str, str]]]
    history: MarketHistory | None = None  # what the history endpoints serve (SimServer sets it)
    # the venue's knobs (athena.sim.venue): account settings, maintenance, price band, funding, bills
    acct_lv: str
    perm: str
    api_ip: str
    leverage_error: str
    maintenance: list[dict[str, Any]]
    band_pct: Decimal
    band_pinned: dict[str, tuple[Decimal, Decimal]]
    funding_rate_override: Decimal | None
    funding_charged: int
    bills: deque[dict[str, Any]]

    def now(self) -> int:
        return self.clock()

    def inst(self, body: dict[str, Any]) -> SimInstrument:
        inst_id = body.get("instId")
        if inst_id in (None, "") and body.get("instIdCode") not in (None, ""):
            try:
                inst_id = self.by_code.get(int(body["instIdCode"]))
            except (TypeError, ValueError) as exc:
                raise BadParam("instIdCode") from exc
            if inst_id is None:
                raise BadParam("instIdCode", "51001")
        if inst_id in (None, ""):
            raise BadParam("instId")
        si = self.insts.get(str(inst_id))
        if si is None:
            raise BadParam("instId", "51001")
        return si

    def check_trigger_band(self, inst_id: str, trigger: Decimal | None, name: str) -> None:
        raise NotImplementedError  # athena.sim.venue.VenueMixin

    def emit(self, channel: str, arg: dict[str, Any], data: list[dict[str, Any]]) -> None:
        for fn in self.listeners:
            fn(channel, arg, data)
