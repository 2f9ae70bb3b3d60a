"""Account side of the Exchange: positions, margin, balance, leverage, position mode, liquidation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from athena.sim.models import ZERO, SimOrder, SimPosition
from athena.sim.state import ExchangeState
from athena.sim.util import BadParam, dec, rnd, s, text

DEFAULT_LEVER = Decimal(10)


class AccountMixin(ExchangeState):
    # -- leverage and modes ------------------------------------------------------------------
    def lever_for(self, inst_id: str, mgn_mode: str, pos_side: str) -> Decimal:
        key_side = pos_side if (mgn_mode == "isolated" and self.pos_mode == "long_short_mode") else ""
        return self.leverage.get((inst_id, mgn_mode, key_side), DEFAULT_LEVER)

    def set_leverage(self, body: dict[str, Any]) -> dict[str, Any]:
        si = self.inst(body)
        mgn = text(body, "mgnMode")
        if mgn not in ("cross", "isolated"):
            raise BadParam("mgnMode")
        lever = dec(body, "lever", required=True)
        assert lever is not None
        if self.leverage_error:  # a misconfigured account (admin): OKX refuses the change
            raise BadParam("lever", self.leverage_error)
        if lever < 1:
            raise BadParam("lever")
        if lever > si.inst.lever:
            raise BadParam("lever", "59102")
        pos_side = text(body, "posSide")
        if mgn == "isolated" and self.pos_mode == "long_short_mode":
            if pos_side not in ("long", "short"):
                raise BadParam("posSide")
            sides = [pos_side]
        else:
            pos_side = ""
            sides = [""]
        for side in sides:
            self.leverage[(si.instId, mgn, side)] = lever
        for p in self.positions.values():
            if p.instId == si.instId and p.mgnMode == mgn and (not pos_side or p.posSide == pos_side):
                p.lever = lever
                self._dirty_pos.add((p.instId, p.posSide))
        self._dirty_acct = True
        return {"lever": s(lever), "mgnMode": mgn, "instId": si.instId, "posSide": pos_side}

    def set_position_mode(self, body: dict[str, Any]) -> dict[str, Any]:
        mode = text(body, "posMode")
        if mode not in ("net_mode", "long_short_mode"):
            raise BadParam("posMode")
        if mode != self.pos_mode:
            if any(p.pos for p in self.positions.values()) or any(self.pending.values()):
                raise BadParam("posMode", "59000")
            self.pos_mode = mode
        return {"posMode": mode}

    def account_config(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "mainUid": self.uid,
            "acctLv": self.acct_lv,
            "acctStpMode": "cancel_maker",
            "posMode": self.pos_mode,
            "autoLoan": False,
            "greeksType": "PA",
            "level": "Lv1",
            "levelTmp": "",
            "ctIsoMode": "automatic",
            "mgnIsoMode": "automatic",
            "spotOffsetType": "",
            "roleType": "0",
            "traderInsts": [],
            "spotRoleType": "0",
            "spotTraderInsts": [],
            "opAuth": "0",
            "kycLv": "2",
            "label": "athena-sim",
            "ip": self.api_ip,
            "perm": self.perm,
            "liquidationGear": "-1",
            "enableSpotBorrow": False,
            "spotBorrowAutoRepay": False,
            "type": "0",
            "settleCcy": "USDT",
            "settleCcyList": ["USDT"],
        }

    def trade_fee(self, params: dict[str, Any]) -> dict[str, Any]:
        """GET /account/trade-fee: the account's fee rates (negative = paid), the rates fills are charged at.

        For SWAP, maker/taker are the coin-margined rates and makerU/takerU the USDT-margined ones (OKX's
        field split); the sim's one tier applies to every margin currency."""
        inst_type = text(params, "instType")
        if not inst_type:
            raise BadParam("instType", "50014")
        if inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            raise BadParam("instType")
        mk, tk = s(self.maker_fee), s(self.taker_fee)
        derivative = inst_type in ("SWAP", "FUTURES")
        return {
            "category": "1",
            "delivery": "",
            "exercise": "",
            "instType": inst_type,
            "level": "Lv1",
            "maker": mk,
            "taker": tk,
            "makerU": mk if derivative else "",
            "takerU": tk if derivative else "",
            "makerUSDC": mk if derivative else "",
            "takerUSDC": tk if derivative else "",
            "ruleType": "normal",
            "feeGroup": [{"groupId": "1", "maker": mk, "taker": tk}],
            "fiat": [],
            "ts": str(self.now()),
        }

    # -- position math -----------------------------------------------------------------------
    def position_key(self, o: SimOrder) -> tuple[str, str]:
        return (o.instId, "net" if self.pos_mode == "net_mode" else o.posSide)

    def get_pos(self, inst_id: str, pos_side: str) -> SimPosition | None:
        return self.positions.get((inst_id, pos_side))

    def apply_fill(self, o: SimOrder, px: Decimal, sz: Decimal, fee: Decimal, trade_id: str) -> Decimal:
        """Update the position for a fill; returns the realised PnL (before fee)."""
        key = self.position_key(o)
        ct = self.insts[o.instId].inst.coin_per_contract
        now = self.now()
        p = self.positions.get(key)
        if p is None:
            p = SimPosition(self.ids.new("pos"), o.instId, key[1], o.tdMode, o.lever, now)
            self.positions[key] = p
        if not p.pos:
            p.mgnMode, p.lever, p.cTime, p.margin = o.tdMode, o.lever, now, ZERO
            p.realizedPnl = p.pnl = p.fee = p.funding_fee = ZERO
        sign = 1 if o.side == "buy" else -1
        if key[1] == "net":
            delta = sz * sign
            cur_dir = p.direction
        else:
            opening = (key[1] == "long") == (o.side == "buy")
            delta = sz if opening else -sz
            cur_dir = 1 if p.pos else 0
        pnl = ZERO
        before = abs(p.pos)
        if cur_dir == 0 or (delta > 0) == (cur_dir > 0):
            new_abs = before + abs(delta)
            p.avgPx = px if p.avgPx is None or not before else (p.avgPx * before + px * abs(delta)) / new_abs
            p.pos += delta
            if p.mgnMode == "isolated":
                p.margin += abs(delta) * ct * px / p.lever
        else:
            close = min(before, abs(delta))
            side_dir = p.direction if key[1] == "net" else (1 if key[1] == "long" else -1)
            assert p.avgPx is not None
            pnl = (px - p.avgPx) * close * ct * side_dir
            if p.mgnMode == "isolated" and before:
                p.margin -= p.margin * close / before
            rest = abs(delta) - close
            p.pos += close * (-side_dir if key[1] == "net" else -1)
            if rest:  # net mode flip: the remainder opens the other way
                p.pos = rest * sign
                p.avgPx = px
                if p.mgnMode == "isolated":
                    p.margin = rest * ct * px / p.lever
            elif not p.pos:
                p.avgPx = None
                p.margin = ZERO
        p.pnl += pnl
        p.fee += fee
        p.realizedPnl += pnl + fee
        p.uTime, p.tradeId = now, trade_id
        self.cash += pnl + fee
        self._dirty_pos.add(key)
        self._dirty_acct = True
        return pnl

    def mark_of(self, inst_id: str) -> Decimal | None:
        m = self.markets[inst_id]
        return m.mark if m.mark is not None else m.mid

    def upl(self, p: SimPosition) -> Decimal:
        mark = self.mark_of(p.instId)
        if not p.pos or p.avgPx is None or mark is None:
            return ZERO
        dirn = p.direction if p.posSide == "net" else (1 if p.posSide == "long" else -1)
        return (mark - p.avgPx) * abs(p.pos) * self.insts[p.instId].inst.coin_per_contract * dirn

    def notional(self, p: SimPosition) -> Decimal:
        mark = self.mark_of(p.instId) or p.avgPx or ZERO
        return abs(p.pos) * self.insts[p.instId].inst.coin_per_contract * mark

    def mmr(self, p: SimPosition) -> Decimal:
        return self.notional(p) * self.insts[p.instId].mmr_rate

    def imr(self, p: SimPosition) -> Decimal:
        return self.notional(p) / p.lever if p.mgnMode == "cross" else p.margin

    def order_frozen(self) -> Decimal:
        tot = ZERO
        for book in self.pending.values():
            for o in book.values():
                if not o.reduceOnly and o.px is not None and not self.is_closing(o):
                    tot += o.remaining * self.insts[o.instId].inst.coin_per_contract * o.px / o.lever
        return tot

    def is_closing(self, o: SimOrder) -> bool:
        if self.pos_mode == "long_short_mode":
            return (o.posSide == "long") != (o.side == "buy")
        return o.reduceOnly

    def totals(self) -> dict[str, Decimal]:
        upl = iso_margin = imr = mmr = notional = ZERO
        for p in self.positions.values():
            if not p.pos:
                continue
            upl += self.upl(p)
            imr += self.imr(p)
            mmr += self.mmr(p)
            notional += self.notional(p)
            if p.mgnMode == "isolated":
                iso_margin += p.margin
        frozen = self.order_frozen()
        eq = self.cash + upl
        avail = eq - imr - frozen
        return {
            "upl": upl,
            "iso": iso_margin,
            "imr": imr,
            "mmr": mmr,
            "frozen": frozen,
            "eq": eq,
            "avail": avail,
            "notional": notional,
        }

    def liq_px(self, p: SimPosition, t: dict[str, Decimal]) -> Decimal | None:
        if not p.pos or p.avgPx is None:
            return None
        q = abs(p.pos) * self.insts[p.instId].inst.coin_per_contract
        rate = self.insts[p.instId].mmr_rate
        margin = p.margin if p.mgnMode == "isolated" else t["eq"] - t["mmr"] + self.mmr(p) - self.upl(p)
        dirn = p.direction if p.posSide == "net" else (1 if p.posSide == "long" else -1)
        if dirn > 0:
            px = (p.avgPx * q - margin) / (q * (1 - rate))
        else:
            px = (p.avgPx * q + margin) / (q * (1 + rate))
        tick = self.insts[p.instId].inst.tickSz
        return max(px, ZERO).quantize(tick)

    # -- views -----------------------------------------------------------------------------
    def position_json(self, p: SimPosition, t: dict[str, Decimal] | None = None) -> dict[str, Any]:
        t = t or self.totals()
        m = self.markets[p.instId]
        mark = self.mark_of(p.instId)
        upl = self.upl(p)
        imr = self.imr(p) if p.pos else ZERO
        liq = self.liq_px(p, t)
        notional = self.notional(p) if p.pos else ZERO
        return {
            "instType": "SWAP",
            "instId": p.instId,
            "mgnMode": p.mgnMode,
            "posId": p.posId,
            "posSide": p.posSide,
            "pos": s(p.pos),
            "availPos": s(abs(p.pos)) if p.pos else "",
            "posCcy": "",
            "baseBal": "",
            "quoteBal": "",
            "avgPx": s(rnd(p.avgPx)),
            "markPx": s(mark),
            "last": s(m.last),
            "idxPx": s(mark),
            "usdPx": "",
            "upl": s(upl),
            "uplRatio": s((upl / imr).quantize(Decimal("1e-8"))) if imr else "0",
            "uplLastPx": s(upl),
            "lever": s(p.lever),
            "liqPx": s(liq) if liq else "",
            "imr": s(imr) if p.mgnMode == "cross" and p.pos else "",
            "margin": s(p.margin) if p.mgnMode == "isolated" and p.pos else "",
            "mgnRatio": s(
                ((t["eq"] if p.mgnMode == "cross" else p.margin + upl) / self.mmr(p)).quantize(
                    Decimal("0.01")
                )
            )
            if p.pos and self.mmr(p)
            else "",
            "mmr": s(self.mmr(p)) if p.pos else "",
            "notionalUsd": s(notional),
            "adl": "1" if p.pos else "",
            "ccy": "USDT",
            "bePx": s(rnd(p.avgPx)),
            "realizedPnl": s(p.realizedPnl),
            "pnl": s(p.pnl),
            "fee": s(p.fee),
            "fundingFee": s(p.funding_fee),
            "liqPenalty": "0",
            "settledPnl": "",
            "closeOrderAlgo": [],
            "tradeId": p.tradeId,
            "interest": "",
            "optVal": "",
            "pendingCloseOrdLiabVal": "",
            "deltaBS": "",
            "deltaPA": "",
            "gammaBS": "",
            "gammaPA": "",
            "thetaBS": "",
            "thetaPA": "",
            "vegaBS": "",
            "vegaPA": "",
            "spotInUseAmt": "",
            "spotInUseCcy": "",
            "clSpotInUseAmt": "",
            "maxSpotInUseAmt": "",
            "bizRefId": "",
            "bizRefType": "",
            "nonSettleAvgPx": "",
            "cTime": str(p.cTime),
            "uTime": str(p.uTime or p.cTime),
        }

    def positions_view(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        inst_ids = [x for x in text(params, "instId").split(",") if x]
        inst_type = text(params, "instType")
        if inst_type and inst_type not in ("SWAP", "ANY"):
            return []
        pos_ids = [x for x in text(params, "posId").split(",") if x]
        t = self.totals()
        rows = []
        for p in sorted(self.positions.values(), key=lambda p: p.cTime, reverse=True):
            if (inst_ids and p.instId not in inst_ids) or (pos_ids and p.posId not in pos_ids):
                continue
            if not p.pos and not inst_ids:
                continue
            rows.append(self.position_json(p, t))
        return rows

    def balance(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        t = self.totals()
        now = str(self.now())
        ccys = [x for x in text(params or {}, "ccy").split(",") if x]
        eq = t["eq"]
        detail = {
            "ccy": "USDT",
            "eq": s(eq),
            "cashBal": s(self.cash),
            "uTime": now,
            "isoEq": s(t["iso"]),
            "availEq": s(t["avail"]),
            "disEq": s(eq),
            "fixedBal": "0",
            "availBal": s(self.cash - t["iso"] - t["frozen"]),
            "frozenBal": s(t["imr"] + t["frozen"]),
            "ordFrozen": s(t["frozen"]),
            "liab": "",
            "upl": s(t["upl"]),
            "uplLiab": "",
            "crossLiab": "",
            "isoLiab": "",
            "mgnRatio": s((eq / t["mmr"]).quantize(Decimal("0.01"))) if t["mmr"] else "",
            "interest": "",
            "twap": "0",
            "maxLoan": "",
            "eqUsd": s(eq),
            "borrowFroz": "",
            "notionalLever": s((t["notional"] / eq).quantize(Decimal("0.0001"))) if eq > 0 else "0",
            "stgyEq": "0",
            "isoUpl": "0",
            "spotInUseAmt": "",
            "clSpotInUseAmt": "",
            "maxSpotInUseAmt": "",
            "spotIsoBal": "0",
            "imr": s(t["imr"]),
            "mmr": s(t["mmr"]),
            "smtSyncEq": "0",
            "spotCopyTradingEq": "0",
            "spotBal": "",
            "openAvgPx": "",
            "accAvgPx": "",
            "spotUpl": "",
            "spotUplRatio": "",
            "totalPnl": "",
            "totalPnlRatio": "",
            "rewardBal": "0",
            "coinUsdPrice": "1",
            "collateralEnabled": False,
            "collateralRestrict": False,
            "colBorrAutoConversion": "0",
        }
        details = [detail] if not ccys or "USDT" in ccys else []
        return {
            "adjEq": "",
            "availEq": "",
            "borrowFroz": "",
            "delta": "",
            "deltaLever": "",
            "deltaNeutralStatus": "",
            "details": details,
            "imr": s(t["imr"]),
            "isoEq": s(t["iso"]),
            "mgnRatio": detail["mgnRatio"],
            "mmr": s(t["mmr"]),
            "notionalUsd": s(t["notional"]),
            "notionalUsdForBorrow": "",
            "notionalUsdForFutures": s(t["notional"]),
            "notionalUsdForOption": "",
            "notionalUsdForSwap": s(t["notional"]),
            "ordFroz": s(t["frozen"]),
            "totalEq": s(eq),
            "uTime": now,
            "upl": s(t["upl"]),
        }
