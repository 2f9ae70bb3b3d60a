"""Exchange: the simulator's pure in-process engine (no sockets, no asyncio).

Deterministic for a seed and an injectable clock. OKX JSON dicts in and out; pushes go to listeners
`fn(channel, arg, data)`. One account; net or long/short position mode; cross or isolated margin.
Athena's orders rest in a private book and trade against a synthetic market book: a crossing order
takes the market's levels (taker); a resting order fills (maker, at its own price) when the market
book crosses it or a market trade prints through it.
"""

from __future__ import annotations

from collections import Counter, deque
from decimal import Decimal
from typing import Any

from athena.sim.account import AccountMixin
from athena.sim.algos import AlgoMixin
from athena.sim.book import make_book
from athena.sim.errors import msg
from athena.sim.instruments import SimInstrument, default_instruments
from athena.sim.models import ZERO, Market, SimAlgo, SimOrder
from athena.sim.public import PublicMixin
from athena.sim.state import Listener, WantFn
from athena.sim.util import BadParam, Clock, Ids, dec, flag, s, text, valid_client_id, wall_clock_ms
from athena.sim.venue import VenueMixin

ORD_TYPES = ("market", "limit", "post_only", "fok", "ioc", "optimal_limit_ioc")
HISTORY = 20_000  # terminal orders remembered


class Exchange(AccountMixin, AlgoMixin, PublicMixin, VenueMixin):
    def __init__(
        self,
        instruments: list[SimInstrument] | None = None,
        seed: int = 7,
        clock: Clock | None = None,
        initial_usdt: Decimal = Decimal(100_000),
        maker_fee: Decimal = Decimal("-0.0002"),
        taker_fee: Decimal = Decimal("-0.0005"),
        uid: str = "1",
    ) -> None:
        insts = instruments or default_instruments()
        self.insts = {si.instId: si for si in insts}
        self.by_code = {int(si.row["instIdCode"]): si.instId for si in insts if si.row.get("instIdCode")}
        self.clock = clock or wall_clock_ms
        self.seed = seed
        self.ids = Ids(seed)
        self.uid = uid
        self.markets = {}
        self.orders, self.pending, self.pending_cl, self.cl_latest = {}, {i: {} for i in self.insts}, {}, {}
        self.accepted = 0  # orders ever accepted, and per clOrdId (history trims self.orders)
        self.cl_accepted: Counter[str] = Counter()
        self.done = deque()
        self.algos, self.algo_cl = {}, {}
        self.fills = deque(maxlen=HISTORY)
        self.positions, self.leverage = {}, {}
        self.cash = initial_usdt
        self.pos_mode = "net_mode"
        self.maker_fee, self.taker_fee = maker_fee, taker_fee
        self.caa = {}
        self.listeners = []
        self.wants = lambda channel, inst_id: bool(self.listeners)
        self._dirty_pos, self._dirty_acct, self._dirty_mkt, self._trades_out = set(), False, set(), {}
        self.init_venue()
        for si in insts:
            m = Market(si.instId)
            tick = si.inst.tickSz
            m.bids, m.asks = make_book(int(si.start_px / tick), tick, si.inst.lotSz, si.depth_sz)
            m.mark = m.last = si.start_px
            m.lastSz = si.inst.minSz
            m.ts = self.now()
            self.markets[si.instId] = m

    # -- listeners -------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self.listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self.listeners:
            self.listeners.remove(fn)

    def set_wants(self, fn: WantFn) -> None:
        """Tell the engine which (channel, instId) pushes anyone wants, so it skips building the rest."""
        self.wants = fn

    # -- place -----------------------------------------------------------------------------
    def place_order(self, body: dict[str, Any], *, _algo: SimAlgo | None = None) -> dict[str, Any]:
        """POST /trade/order semantics for one item; returns {clOrdId, ordId, tag, ts, sCode, sMsg,
        subCode}."""
        now = self.now()
        cl, tag = text(body, "clOrdId"), text(body, "tag")
        item = {
            "clOrdId": cl,
            "ordId": "",
            "tag": tag,
            "ts": str(now),
            "sCode": "0",
            "sMsg": "Order placed",
            "subCode": "",
        }
        try:
            o = self._new_order(body, cl, tag, now)
        except BadParam as e:
            item.update(sCode=e.code, sMsg=msg(e.code, e.name))
            return item
        if _algo is not None:
            o.algoId, o.algoClOrdId = _algo.algoId, _algo.algoClOrdId
        item["ordId"] = o.ordId
        self.orders[o.ordId] = o
        self.pending[o.instId][o.ordId] = o
        self.accepted += 1
        if cl:
            self.pending_cl[cl] = o
            self.cl_latest[cl] = o.ordId
            self.cl_accepted[cl] += 1  # > 1: the same intent placed twice (chaos invariant)
        self._push_order(o)
        self._execute(o)
        if o.working and o.ordType in ("market", "optimal_limit_ioc", "ioc", "fok"):
            self._cancel(o, "14" if o.ordType == "ioc" else "13" if o.ordType == "fok" else "0")
        self.flush()
        return item

    def _new_order(self, body: dict[str, Any], cl: str, tag: str, now: int) -> SimOrder:
        si = self.inst(body)
        inst = si.inst
        if self.acct_lv == "1":  # spot mode: no derivatives
            raise BadParam("instId", "51010")
        td = text(body, "tdMode")
        if td not in ("cross", "isolated"):
            raise BadParam("tdMode")
        side = text(body, "side")
        if side not in ("buy", "sell"):
            raise BadParam("side")
        ord_type = text(body, "ordType")
        if ord_type not in ORD_TYPES:
            raise BadParam("ordType")
        if cl and not valid_client_id(cl):
            raise BadParam("clOrdId")
        if tag and not valid_client_id(tag, 16):
            raise BadParam("tag")
        if cl and cl in self.pending_cl:
            raise BadParam("clOrdId", "51016")
        sz = dec(body, "sz")
        if sz is None:
            raise BadParam("sz", "50014")
        if sz <= 0:
            raise BadParam("sz")
        if sz % inst.lotSz:
            raise BadParam("sz", "51121")
        if sz < inst.minSz:
            raise BadParam("sz", "51020")
        px: Decimal | None = None
        if ord_type not in ("market", "optimal_limit_ioc"):
            px = dec(body, "px")
            if px is None:
                raise BadParam("px", "50014")
            if px <= 0 or px % inst.tickSz:
                raise BadParam("px")
            if sz > inst.maxLmtSz:
                raise BadParam("sz", "51202")
            self.check_band(si.instId, side, px)
        elif sz > inst.maxMktSz:
            raise BadParam("sz", "51202")
        pos_side = text(body, "posSide")
        if self.pos_mode == "net_mode":
            if pos_side not in ("", "net"):
                raise BadParam("posSide")
            pos_side = "net"
        elif pos_side not in ("long", "short"):
            raise BadParam("posSide")
        reduce = flag(body, "reduceOnly") if self.pos_mode == "net_mode" else False
        o = SimOrder(
            self.ids.new("ord"),
            cl,
            tag,
            si.instId,
            td,
            side,
            pos_side,
            ord_type,
            px,
            sz,
            reduce,
            self.lever_for(si.instId, td, pos_side),
            now,
        )
        self._check_position_rules(o)
        return o

    def _check_position_rules(self, o: SimOrder) -> None:
        if self.pos_mode == "net_mode":
            p = self.positions.get((o.instId, "net"))
            if o.reduceOnly:
                pos = p.pos if p else ZERO
                if not pos or (pos > 0) == (o.side == "buy"):
                    raise BadParam("reduceOnly", "51170")
                if o.sz > abs(pos):
                    raise BadParam("sz", "51112")
                return
        elif self.is_closing(o):
            p = self.positions.get((o.instId, o.posSide))
            if p is None or not p.pos:
                raise BadParam("posSide", "51169")
            if o.sz > p.pos:
                raise BadParam("sz", "51112")
            return
        # opening (or possibly opening) order: initial margin must be available
        ref = o.px or self._taker_ref(o) or self.mark_of(o.instId)
        if ref is None:
            return
        need = o.sz * self.insts[o.instId].inst.coin_per_contract * ref / o.lever
        if need > self.totals()["avail"]:
            raise BadParam("sz", "51008")

    def _taker_ref(self, o: SimOrder) -> Decimal | None:
        m = self.markets[o.instId]
        return m.best_ask if o.side == "buy" else m.best_bid

    # -- matching --------------------------------------------------------------------------
    def _execute(self, o: SimOrder) -> None:
        """Match a new (or re-priced) order against the synthetic market book."""
        m = self.markets[o.instId]
        levels = m.asks if o.side == "buy" else m.bids
        cap = o.px if o.px is not None else self.market_cap(o)  # a market order stops at the band's edge
        crosses = bool(levels) and (
            cap is None or (levels[0][0] <= cap if o.side == "buy" else levels[0][0] >= cap)
        )
        if o.ordType == "post_only":
            if crosses:
                self._cancel(o, "31")
            return
        if not crosses:
            return
        if o.ordType == "fok" and self._available(levels, o) < o.remaining:
            return  # cancelled by the caller with cancelSource 13
        self._take(o, levels, cap)

    @staticmethod
    def _available(levels: list[tuple[Decimal, Decimal, int]], o: SimOrder) -> Decimal:
        tot = ZERO
        for px, sz, _ in levels:
            if o.px is not None and (px > o.px if o.side == "buy" else px < o.px):
                break
            tot += sz
        return tot

    def _take(self, o: SimOrder, levels: list[tuple[Decimal, Decimal, int]], cap: Decimal | None) -> None:
        i = 0
        while o.remaining > 0 and i < len(levels):
            px, sz, k = levels[i]
            if cap is not None and (px > cap if o.side == "buy" else px < cap):
                break
            q = min(sz, o.remaining)
            self._fill(o, px, q, "T")
            self.record_trade(o.instId, px, q, o.side, None)
            if q == sz:
                i += 1
            else:
                levels[i] = (px, sz - q, k)
        del levels[:i]
        self._dirty_mkt.add(o.instId)

    def match_resting_book(self, inst_id: str) -> None:
        """The market book moved: resting orders it now crosses fill as makers at their own price."""
        m = self.markets[inst_id]
        book = self.pending[inst_id]
        if not book:
            return
        for o in sorted(book.values(), key=lambda o: o.cTime):
            if not o.working or o.px is None:
                continue
            levels = m.asks if o.side == "buy" else m.bids
            while (
                o.remaining > 0
                and levels
                and (levels[0][0] <= o.px if o.side == "buy" else levels[0][0] >= o.px)
            ):
                lpx, lsz, k = levels[0]
                q = min(lsz, o.remaining)
                self._fill(o, o.px, q, "M")
                self.record_trade(inst_id, o.px, q, "sell" if o.side == "buy" else "buy", None)
                if q == lsz:
                    levels.pop(0)
                else:
                    levels[0] = (lpx, lsz - q, k)

    def match_resting_trade(self, inst_id: str, px: Decimal, sz: Decimal, side: str) -> None:
        """A market trade printed at px: resting orders it traded through fill; at their price, half of it."""
        book = self.pending[inst_id]
        if not book:
            return
        lot = self.insts[inst_id].inst.lotSz
        left = sz
        want = "buy" if side == "sell" else "sell"
        cands = [
            o
            for o in book.values()
            if o.side == want
            and o.px is not None
            and o.working
            and (o.px >= px if want == "buy" else o.px <= px)
        ]
        cands.sort(key=lambda o: (-o.px if want == "buy" else o.px, o.cTime))  # type: ignore[operator]
        for o in cands:
            if left <= 0:
                break
            share = left if o.px != px else (left / 2).quantize(lot, rounding="ROUND_DOWN")
            q = min(share, o.remaining)
            if q <= 0:
                continue
            self._fill(o, o.px, q, "M")  # type: ignore[arg-type]
            left -= q

    def _fill(self, o: SimOrder, px: Decimal, sz: Decimal, exec_type: str) -> None:
        inst = self.insts[o.instId].inst
        notional = sz * inst.coin_per_contract * px
        fee = notional * (self.maker_fee if exec_type == "M" else self.taker_fee)
        trade_id = self.ids.new("trade")
        pnl = self.apply_fill(o, px, sz, fee, trade_id)
        now = self.now()
        bill_id = self.ids.new("bill")
        self.trade_bill(o, px, sz, pnl, fee, trade_id, bill_id, exec_type)
        o.accFillSz += sz
        o.notional += px * sz
        o.fee += fee
        o.pnl += pnl
        o.fillPx, o.fillSz, o.fillTime, o.tradeId, o.fillFee, o.fillPnl, o.execType = (
            px,
            sz,
            now,
            trade_id,
            fee,
            pnl,
            exec_type,
        )
        o.uTime = now
        o.amendResult = ""
        o.state = "filled" if o.remaining <= 0 else "partially_filled"
        self.fills.appendleft(
            {
                "instType": "SWAP",
                "instId": o.instId,
                "tradeId": trade_id,
                "ordId": o.ordId,
                "clOrdId": o.clOrdId,
                "billId": bill_id,
                "subType": "1" if o.side == "buy" else "2",
                "tag": o.tag,
                "fillPx": s(px),
                "fillSz": s(sz),
                "fillIdxPx": s(self.mark_of(o.instId)),
                "fillPnl": s(pnl),
                "fillPxVol": "",
                "fillPxUsd": "",
                "fillMarkVol": "",
                "fillFwdPx": "",
                "fillMarkPx": s(self.mark_of(o.instId)),
                "side": o.side,
                "posSide": o.posSide,
                "execType": exec_type,
                "feeCcy": "USDT",
                "fee": s(fee),
                "feeRate": s(self.maker_fee if exec_type == "M" else self.taker_fee),
                "ts": str(now),
                "fillTime": str(now),
            }
        )
        if o.state == "filled":
            self._retire(o)
        self._push_order(o)
        p = self.positions.get(self.position_key(o))
        if p is not None and not p.pos:
            self.cancel_close_algos(o.instId, p.posSide)

    def _retire(self, o: SimOrder) -> None:
        self.pending[o.instId].pop(o.ordId, None)
        if o.clOrdId and self.pending_cl.get(o.clOrdId) is o:
            del self.pending_cl[o.clOrdId]
        self.done.append(o.ordId)
        while len(self.done) > HISTORY:
            old = self.done.popleft()
            gone = self.orders.pop(old, None)
            if gone and gone.clOrdId and self.cl_latest.get(gone.clOrdId) == old:
                del self.cl_latest[gone.clOrdId]

    def _cancel(self, o: SimOrder, source: str) -> None:
        o.state = "canceled"
        o.cancelSource = source
        o.uTime = self.now()
        o.amendResult = ""
        o.fillSz, o.execType, o.fillFee, o.fillPnl = ZERO, "", ZERO, ZERO
        self._retire(o)
        self._push_order(o)

    def _push_order(self, o: SimOrder) -> None:
        self._dirty_acct = True
        if self.wants("orders", o.instId):
            self.emit(
                "orders",
                {
                    "channel": "orders",
                    "instType": "SWAP",
                    "instId": o.instId,
                    "instFamily": self.insts[o.instId].row["instFamily"],
                },
                [o.to_okx(ws=True)],
            )

    # -- cancel / amend --------------------------------------------------------------------
    def find(self, body: dict[str, Any]) -> SimOrder | None:
        ord_id, cl = text(body, "ordId"), text(body, "clOrdId")
        if ord_id:
            o = self.orders.get(ord_id)
        elif cl:
            o = self.pending_cl.get(cl) or self.orders.get(self.cl_latest.get(cl, ""))
        else:
            raise BadParam("ordId", "50014")
        named = body.get("instId") not in (None, "") or body.get("instIdCode") not in (None, "")
        if o is not None and named and o.instId != self.inst(body).instId:
            return None  # an order of another instrument than the one named (instId or instIdCode)
        return o

    def cancel_order(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self.now()
        item = {
            "clOrdId": text(body, "clOrdId"),
            "ordId": text(body, "ordId"),
            "ts": str(now),
            "sCode": "0",
            "sMsg": "",
        }
        try:
            self.inst(body)
            o = self.find(body)
        except BadParam as e:
            item.update(sCode=e.code, sMsg=msg(e.code, e.name))
            return item
        if o is None or not o.working:
            item.update(sCode="51400", sMsg=msg("51400"))
            return item
        item.update(clOrdId=o.clOrdId, ordId=o.ordId)
        self._cancel(o, "1")
        self.flush()
        return item

    def amend_order(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self.now()
        req_id = text(body, "reqId")
        item = {
            "clOrdId": text(body, "clOrdId"),
            "ordId": text(body, "ordId"),
            "ts": str(now),
            "reqId": req_id,
            "sCode": "0",
            "sMsg": "",
            "subCode": "",
        }
        try:
            si = self.inst(body)
            o = self.find(body)
            if o is None or not o.working:
                raise BadParam("ordId", "51503")
            new_sz, new_px = dec(body, "newSz"), dec(body, "newPx")
            if new_sz is None and new_px is None:
                raise BadParam("newSz", "50014")
            if new_sz is not None and (new_sz <= o.accFillSz or new_sz % si.inst.lotSz):
                raise BadParam("newSz", "51121" if new_sz > o.accFillSz else "51000")
            if new_px is not None:
                if o.px is None or new_px <= 0 or new_px % si.inst.tickSz:
                    raise BadParam("newPx")
                self.check_band(o.instId, o.side, new_px, "newPx")
                m = self.markets[o.instId]
                top = m.best_ask if o.side == "buy" else m.best_bid
                if (
                    o.ordType == "post_only"
                    and top is not None
                    and (new_px >= top if o.side == "buy" else new_px <= top)
                ):
                    if flag(body, "cxlOnFail"):
                        self._cancel(o, "31")
                        self.flush()
                    raise BadParam("newPx", "51511")
        except BadParam as e:
            item.update(sCode=e.code, sMsg=msg(e.code, e.name))
            return item
        item.update(clOrdId=o.clOrdId, ordId=o.ordId)
        if new_sz is not None:
            o.sz = new_sz
        if new_px is not None:
            o.px = new_px
        o.uTime, o.amendResult, o.reqId = now, "0", req_id
        o.fillSz, o.execType = ZERO, ""
        self._push_order(o)
        if o.ordType != "post_only":
            self._execute(o)
        self.flush()
        return item

    # -- queries ---------------------------------------------------------------------------
    def get_order(self, params: dict[str, Any]) -> dict[str, Any] | None:
        self.inst(params)
        o = self.find(params)
        return o.to_okx() if o else None

    def _page(self, rows: list[SimOrder], params: dict[str, Any]) -> list[dict[str, Any]]:
        after, before = text(params, "after"), text(params, "before")
        limit = max(1, min(int(text(params, "limit", "100") or 100), 100))
        out: list[dict[str, Any]] = []
        for o in rows:
            if (after and int(o.ordId) >= int(after)) or (before and int(o.ordId) <= int(before)):
                continue
            out.append(o.to_okx())
            if len(out) >= limit:
                break
        return out

    def _filter(self, o: SimOrder, params: dict[str, Any]) -> bool:
        inst_type, inst_id = text(params, "instType"), text(params, "instId")
        ord_type, state = text(params, "ordType"), text(params, "state")
        fam = text(params, "instFamily") or text(params, "uly")
        return not (
            (inst_type and inst_type not in ("SWAP", "ANY"))
            or (inst_id and o.instId != inst_id)
            or (ord_type and o.ordType not in ord_type.split(","))
            or (state and o.state != state)
            or (fam and self.insts[o.instId].row["instFamily"] != fam)
        )

    def orders_pending(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [o for book in self.pending.values() for o in book.values() if self._filter(o, params)]
        rows.sort(key=lambda o: int(o.ordId), reverse=True)
        return self._page(rows, params)

    def orders_history(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows = []
        for oid in reversed(self.done):
            o = self.orders.get(oid)
            if o is not None and self._filter(o, params):
                rows.append(o)
        return self._page(rows, params)

    def fills_view(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        inst_id, ord_id = text(params, "instId"), text(params, "ordId")
        inst_type = text(params, "instType")
        after, before = text(params, "after"), text(params, "before")
        limit = max(1, min(int(text(params, "limit", "100") or 100), 100))
        out: list[dict[str, Any]] = []
        if inst_type and inst_type != "SWAP":
            return out
        for f in self.fills:
            if (inst_id and f["instId"] != inst_id) or (ord_id and f["ordId"] != ord_id):
                continue
            if (after and int(f["billId"]) >= int(after)) or (before and int(f["billId"]) <= int(before)):
                continue
            out.append(f)
            if len(out) >= limit:
                break
        return out

    # -- positions -------------------------------------------------------------------------
    def close_position(self, body: dict[str, Any]) -> dict[str, Any]:
        si = self.inst(body)
        mgn = text(body, "mgnMode")
        if mgn not in ("cross", "isolated"):
            raise BadParam("mgnMode")
        pos_side = text(body, "posSide")
        if self.pos_mode == "long_short_mode":
            if pos_side not in ("long", "short"):
                raise BadParam("posSide")
        else:
            pos_side = "net"
        p = self.positions.get((si.instId, pos_side))
        if p is None or not p.pos or p.mgnMode != mgn:
            raise BadParam("instId", "51023")
        if flag(body, "autoCxl"):
            for o in list(self.pending[si.instId].values()):
                if self.is_closing(o) or o.reduceOnly:
                    self._cancel(o, "1")
        cl, tag = text(body, "clOrdId"), text(body, "tag")
        side = (
            ("sell" if p.pos > 0 else "buy")
            if pos_side == "net"
            else ("sell" if pos_side == "long" else "buy")
        )
        order = {
            "instId": si.instId,
            "tdMode": mgn,
            "side": side,
            "ordType": "market",
            "sz": str(abs(p.pos)),
            "clOrdId": cl,
            "tag": tag,
            "reduceOnly": pos_side == "net",
        }
        if pos_side != "net":
            order["posSide"] = pos_side
        item = self.place_order(order)
        if item["sCode"] != "0":
            raise BadParam(item["sMsg"] or "sz", item["sCode"])
        return {"instId": si.instId, "posSide": pos_side, "clOrdId": cl, "tag": tag}

    # -- cancel-all-after and time ---------------------------------------------------------
    def cancel_all_after(self, body: dict[str, Any]) -> dict[str, Any]:
        t = dec(body, "timeOut")
        if t is None:
            raise BadParam("timeOut", "50014")
        tag = text(body, "tag")
        now = self.now()
        if t == 0:
            self.caa.pop(tag, None)
            return {"triggerTime": "0", "tag": tag, "ts": str(now // 1000)}
        if t < 10 or t > 120 or t != t.to_integral_value():
            raise BadParam("timeOut")
        if tag and tag not in self.caa and sum(1 for k in self.caa if k) >= 20:
            raise BadParam("tag", "51071")
        self.caa[tag] = now + int(t) * 1000
        return {"triggerTime": str(self.caa[tag] // 1000), "tag": tag, "ts": str(now // 1000)}

    def poll(self) -> None:
        """Run timers (cancel-all-after) against the clock. The server calls this periodically."""
        if not self.caa:
            return
        now = self.now()
        for tag, deadline in list(self.caa.items()):
            if now >= deadline:
                del self.caa[tag]
                for book in self.pending.values():
                    for o in list(book.values()):
                        if not tag or o.tag == tag:
                            self._cancel(o, "20")
        self.flush()

    # -- after every operation -------------------------------------------------------------
    def after_price_change(self, inst_id: str) -> None:
        self.check_algos(inst_id)
        self.check_liquidation(inst_id)

    def check_liquidation(self, inst_id: str) -> None:
        victims = []
        for p in self.positions.values():
            if (
                p.pos
                and p.instId == inst_id
                and p.mgnMode == "isolated"
                and p.margin + self.upl(p) <= self.mmr(p)
            ):
                victims.append(p)
        if any(p.pos and p.mgnMode == "cross" for p in self.positions.values()):
            t = self.totals()
            cross_mmr = sum(
                (self.mmr(p) for p in self.positions.values() if p.pos and p.mgnMode == "cross"), ZERO
            )
            if t["eq"] - t["iso"] <= cross_mmr:
                victims += [p for p in self.positions.values() if p.pos and p.mgnMode == "cross"]
        for p in victims:
            self._liquidate(p)

    def _liquidate(self, p: Any) -> None:
        mark = self.mark_of(p.instId)
        if mark is None or not p.pos:
            return
        for o in list(self.pending[p.instId].values()):
            self._cancel(o, "0")
        side = (
            ("sell" if p.pos > 0 else "buy")
            if p.posSide == "net"
            else ("sell" if p.posSide == "long" else "buy")
        )
        o = SimOrder(
            self.ids.new("ord"),
            "",
            "",
            p.instId,
            p.mgnMode,
            side,
            p.posSide,
            "market",
            None,
            abs(p.pos),
            p.posSide == "net",
            p.lever,
            self.now(),
            category="full_liquidation",
        )
        self.orders[o.ordId] = o
        self.pending[o.instId][o.ordId] = o
        self._fill(o, mark, o.sz, "T")

    def flush(self) -> None:
        """Send the coalesced positions/account/public pushes of the operation that just ran."""
        if self._dirty_pos:
            keys, self._dirty_pos = self._dirty_pos, set()
            t = self.totals()
            for key in keys:
                p = self.positions.get(key)
                if p is not None and self.wants("positions", p.instId):
                    self.emit(
                        "positions",
                        {
                            "channel": "positions",
                            "instType": "SWAP",
                            "instId": p.instId,
                            "instFamily": self.insts[p.instId].row["instFamily"],
                        },
                        [self.position_json(p, t)],
                    )
        if self._dirty_acct:
            self._dirty_acct = False
            if self.wants("account", ""):
                self.emit("account", {"channel": "account"}, [self.balance()])
        self.flush_public()

    # -- admin -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything about the account, for tests and the admin API."""
        return {
            "posMode": self.pos_mode,
            "cash": s(self.cash),
            "balance": self.balance(),
            "positions": [self.position_json(p) for p in self.positions.values()],
            "pending": self.orders_pending({}),
            "algos": [a.to_okx() for a in self.algos.values() if a.state == "live"],
            "fills": len(self.fills),
            "cancelAllAfter": dict(self.caa),
            "ordersAccepted": self.accepted,
            "dupClOrdIds": {c: n for c, n in self.cl_accepted.items() if n > 1},
            "markets": {
                i: {
                    "last": s(m.last),
                    "mark": s(self.mark_of(i)),
                    "bid": s(m.best_bid),
                    "ask": s(m.best_ask),
                    "seqId": m.seq,
                }
                for i, m in self.markets.items()
            },
        }
