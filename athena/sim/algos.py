"""Algo (conditional stop / take-profit / trigger) orders of the Exchange."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from athena.sim.models import SimAlgo
from athena.sim.state import ExchangeState
from athena.sim.util import BadParam, dec, flag, text, valid_client_id

MARKET = Decimal(-1)


class AlgoMixin(ExchangeState):
    # provided by Exchange (mixin contract for the type checker)
    def lever_for(self, inst_id: str, mgn_mode: str, pos_side: str) -> Decimal: ...  # type: ignore[empty-body]
    def place_order(self, body: dict[str, Any], *, _algo: SimAlgo | None = None) -> dict[str, Any]: ...  # type: ignore[empty-body]
    def mark_of(self, inst_id: str) -> Decimal | None: ...
    def flush(self) -> None: ...

    def place_algo(self, body: dict[str, Any]) -> dict[str, Any]:
        cl = text(body, "algoClOrdId")
        tag = text(body, "tag")
        item = {"algoId": "", "algoClOrdId": cl, "clOrdId": "", "tag": tag, "sCode": "0", "sMsg": ""}
        try:
            algo = self._parse_algo(body, cl, tag)
        except BadParam as e:
            from athena.sim.errors import msg

            item.update(sCode=e.code, sMsg=msg(e.code, e.name))
            return item
        self.algos[algo.algoId] = algo
        if cl:
            self.algo_cl[cl] = algo.algoId
        item["algoId"] = algo.algoId
        self._push_algo(algo)
        self.check_algos(algo.instId)
        self.flush()
        return item

    def _parse_algo(self, body: dict[str, Any], cl: str, tag: str) -> SimAlgo:
        si = self.inst(body)
        ord_type = text(body, "ordType")
        if ord_type not in ("conditional", "oco", "trigger"):
            raise BadParam("ordType")
        side = text(body, "side")
        if side not in ("buy", "sell"):
            raise BadParam("side")
        td = text(body, "tdMode")
        if td not in ("cross", "isolated"):
            raise BadParam("tdMode")
        pos_side = text(body, "posSide", "net")
        if self.pos_mode == "long_short_mode" and pos_side not in ("long", "short"):
            raise BadParam("posSide")
        if self.pos_mode == "net_mode" and pos_side != "net":
            raise BadParam("posSide")
        if cl and not valid_client_id(cl):
            raise BadParam("algoClOrdId")
        if cl and cl in self.algo_cl:
            raise BadParam("algoClOrdId", "51065")
        frac = text(body, "closeFraction")
        sz = dec(body, "sz")
        if frac:
            if frac != "1":
                raise BadParam("closeFraction")
            sz = None
        else:
            if sz is None:
                raise BadParam("sz", "50014")
            if sz <= 0:
                raise BadParam("sz")
            if sz % si.inst.lotSz:
                raise BadParam("sz", "51121")
        algo = SimAlgo(
            self.ids.new("algo"),
            cl,
            si.instId,
            td,
            side,
            pos_side,
            ord_type,
            sz,
            frac,
            flag(body, "reduceOnly") or bool(frac),
            tag,
            self.lever_for(si.instId, td, pos_side),
            self.now(),
        )
        if ord_type == "trigger":
            algo.triggerPx = self._px(body, "triggerPx", si.inst.tickSz, True)
            algo.orderPx = self._px(body, "orderPx", si.inst.tickSz, True)
            algo.triggerPxType = text(body, "triggerPxType", "last")
            ref = self._ref_px(si.instId, algo.triggerPxType)
            algo.trig_dir = "up" if ref is None or algo.triggerPx >= ref else "down"  # type: ignore[operator]
        else:
            algo.slTriggerPx = self._px(body, "slTriggerPx", si.inst.tickSz, False)
            algo.tpTriggerPx = self._px(body, "tpTriggerPx", si.inst.tickSz, False)
            if algo.slTriggerPx is None and algo.tpTriggerPx is None:
                raise BadParam("slTriggerPx", "50014")
            if algo.slTriggerPx is not None:
                algo.slOrdPx = self._px(body, "slOrdPx", si.inst.tickSz, True)
                algo.slTriggerPxType = text(body, "slTriggerPxType", "last")
            if algo.tpTriggerPx is not None:
                algo.tpOrdPx = self._px(body, "tpOrdPx", si.inst.tickSz, True)
                algo.tpTriggerPxType = text(body, "tpTriggerPxType", "last")
            for t in (algo.slTriggerPxType, algo.tpTriggerPxType):
                if t and t not in ("last", "mark", "index"):
                    raise BadParam("slTriggerPxType")
            self.check_trigger_band(si.instId, algo.slTriggerPx, "slTriggerPx")
            self.check_trigger_band(si.instId, algo.tpTriggerPx, "tpTriggerPx")
        return algo

    @staticmethod
    def _px(body: dict[str, Any], key: str, tick: Decimal, required: bool) -> Decimal | None:
        v = dec(body, key, required=required)
        if v is None:
            return None
        if v == MARKET and key in ("slOrdPx", "tpOrdPx", "orderPx"):
            return MARKET
        if v <= 0 or v % tick:
            raise BadParam(key)
        return v

    def _ref_px(self, inst_id: str, kind: str) -> Decimal | None:
        return self.mark_of(inst_id) if kind in ("mark", "index") else self.markets[inst_id].last

    def cancel_algos(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for body in items:
            algo_id = text(body, "algoId") or self.algo_cl.get(text(body, "algoClOrdId"), "")
            a = self.algos.get(algo_id)
            if a is None or a.state != "live" or a.instId != text(body, "instId", a.instId):
                out.append(
                    {
                        "algoId": algo_id,
                        "algoClOrdId": text(body, "algoClOrdId"),
                        "sCode": "51400",
                        "sMsg": "Cancellation failed as the order does not exist.",
                        "clOrdId": "",
                        "tag": "",
                    }
                )
                continue
            self._end_algo(a, "canceled")
            out.append(
                {
                    "algoId": a.algoId,
                    "algoClOrdId": a.algoClOrdId,
                    "sCode": "0",
                    "sMsg": "",
                    "clOrdId": "",
                    "tag": a.tag,
                }
            )
        self.flush()
        return out

    def _end_algo(self, a: SimAlgo, state: str) -> None:
        a.state = state
        a.uTime = self.now()
        if a.algoClOrdId:
            self.algo_cl.pop(a.algoClOrdId, None)
        self._push_algo(a)

    def algos_list(self, params: dict[str, Any], pending: bool) -> list[dict[str, Any]]:
        types = [x for x in text(params, "ordType").split(",") if x]
        if not types:
            raise BadParam("ordType", "50014")
        inst_id, algo_id, state = text(params, "instId"), text(params, "algoId"), text(params, "state")
        cl = text(params, "algoClOrdId")
        after, before = text(params, "after"), text(params, "before")  # algoId cursors, newest first
        rows = []
        for a in reversed(self.algos.values()):
            if (a.state == "live") != pending or a.ordType not in types:
                continue
            if (after and int(a.algoId) >= int(after)) or (before and int(a.algoId) <= int(before)):
                continue
            if (
                (inst_id and a.instId != inst_id)
                or (algo_id and a.algoId != algo_id)
                or (cl and a.algoClOrdId != cl)
            ):
                continue
            if state and a.state != state:
                continue
            rows.append(a.to_okx())
        limit = int(text(params, "limit", "100") or 100)
        return rows[: max(1, min(limit, 100))]

    def get_algo(self, params: dict[str, Any]) -> dict[str, Any] | None:
        algo_id = text(params, "algoId")
        if not algo_id:
            cl = text(params, "algoClOrdId")
            algo_id = self.algo_cl.get(cl, "") or next(
                (a.algoId for a in reversed(self.algos.values()) if cl and a.algoClOrdId == cl), ""
            )
        a = self.algos.get(algo_id)
        return a.to_okx() if a else None

    def _push_algo(self, a: SimAlgo) -> None:
        if self.wants("orders-algo", a.instId):
            self.emit(
                "orders-algo",
                {
                    "channel": "orders-algo",
                    "instType": "SWAP",
                    "instId": a.instId,
                    "instFamily": self.insts[a.instId].row["instFamily"],
                },
                [a.to_okx()],
            )

    # -- triggering --------------------------------------------------------------------------
    def check_algos(self, inst_id: str) -> None:
        for _ in range(10):  # a triggered order can move the price and trigger another; bounded
            fired = [
                a
                for a in list(self.algos.values())
                if a.state == "live" and a.instId == inst_id and self._fires(a)
            ]
            if not fired:
                return
            for a, (kind, ord_px, trig) in fired_list(fired, self):
                self._trigger(a, kind, ord_px, trig)

    def _fires(self, a: SimAlgo) -> tuple[str, Decimal | None, Decimal] | None:
        if a.ordType == "trigger":
            ref = self._ref_px(a.instId, a.triggerPxType)
            assert a.triggerPx is not None
            if ref is not None and (ref >= a.triggerPx if a.trig_dir == "up" else ref <= a.triggerPx):
                return ("", a.orderPx, a.triggerPx)
            return None
        if a.slTriggerPx is not None:
            ref = self._ref_px(a.instId, a.slTriggerPxType)
            if ref is not None and (ref <= a.slTriggerPx if a.side == "sell" else ref >= a.slTriggerPx):
                return ("sl", a.slOrdPx, a.slTriggerPx)
        if a.tpTriggerPx is not None:
            ref = self._ref_px(a.instId, a.tpTriggerPxType)
            if ref is not None and (ref >= a.tpTriggerPx if a.side == "sell" else ref <= a.tpTriggerPx):
                return ("tp", a.tpOrdPx, a.tpTriggerPx)
        return None

    def _trigger(self, a: SimAlgo, kind: str, ord_px: Decimal | None, trig: Decimal) -> None:
        if a.state != "live":
            return
        sz = a.sz
        if sz is None:  # closeFraction 1: the whole position at trigger time
            p = self.positions.get((a.instId, "net" if self.pos_mode == "net_mode" else a.posSide))
            sz = abs(p.pos) if p else Decimal(0)
        a.triggerTime = self.now()
        a.actualSz, a.actualSide = sz, kind
        a.actualPx = ord_px if ord_px is not None and ord_px != MARKET else trig
        body = {
            "instId": a.instId,
            "tdMode": a.tdMode,
            "side": a.side,
            "sz": str(sz),
            "tag": a.tag,
            "ordType": "market" if ord_px is None or ord_px == MARKET else "limit",
            "px": "" if ord_px is None or ord_px == MARKET else str(ord_px),
            "reduceOnly": a.reduceOnly and self.pos_mode == "net_mode",
        }
        if self.pos_mode == "long_short_mode":
            body["posSide"] = a.posSide
        item = self.place_order(body, _algo=a) if sz else {"sCode": "51169", "ordId": ""}
        a.ordId = item.get("ordId", "")
        if item["sCode"] == "0":
            self._end_algo(a, "effective")
        else:
            a.failCode = item["sCode"]
            self._end_algo(a, "order_failed")

    def cancel_close_algos(self, inst_id: str, pos_side: str) -> None:
        """closeFraction algos die with their position (OKX cancels them when it is closed)."""
        for a in list(self.algos.values()):
            if (
                a.state == "live"
                and a.instId == inst_id
                and a.closeFraction
                and (pos_side == "net" or a.posSide == pos_side)
            ):
                self._end_algo(a, "canceled")


def fired_list(
    algos: list[SimAlgo], mx: AlgoMixin
) -> list[tuple[SimAlgo, tuple[str, Decimal | None, Decimal]]]:
    out = []
    for a in algos:
        f = mx._fires(a)
        if f is not None:
            out.append((a, f))
    return out
