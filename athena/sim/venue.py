"""The venue side of the Exchange that a pre-flight check reads and a test can misconfigure: account
settings (acctLv, perm, ip, a set-leverage refusal), instrument state and specs, scheduled maintenance
(GET /system/status), the price-limit band (GET /public/price-limit, enforced on orders with 51006),
funding charged at an interval (account bills of type 8) and the account bills themselves.

Every knob is set through the admin API (`athena.sim.admin_ops`) or SimConfig; the defaults are a
healthy account on a venue without maintenance, without a price band and without funding charges.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from athena.domain.instrument import Instrument
from athena.sim.models import ZERO, SimOrder, SimPosition
from athena.sim.state import ExchangeState
from athena.sim.util import BadParam, dec, s, text

BILLS_KEPT = 20_000
MAINT_STATES = ("scheduled", "ongoing", "pre_open", "completed", "canceled")
SPEC_FIELDS = ("ctVal", "lotSz", "minSz", "tickSz", "maxMktSz", "maxLmtSz", "lever")
INST_STATES = ("live", "suspend", "preopen", "rebase", "post_only", "test", "settling")
BUY_BILL, SELL_BILL = "1", "2"
FUNDING_BILL, FUNDING_EXPENSE, FUNDING_INCOME = "8", "173", "174"
TRADE_BILL = "2"


class VenueMixin(ExchangeState):
    # provided by the other parts of Exchange (mixin contract for the type checker)
    def mark_of(self, inst_id: str) -> Decimal | None: ...
    def flush(self) -> None: ...

    def init_venue(self) -> None:
        self.acct_lv = "2"
        self.perm = "read_only,trade"
        self.api_ip = "127.0.0.1"  # the key's IP binding ("" = not bound)
        self.leverage_error = ""  # an OKX code set-leverage answers instead of setting (a locked leverage)
        self.maintenance: list[dict[str, Any]] = []
        self.band_pct = ZERO  # price-limit band around the mark (0: no band, `enabled` false)
        self.band_pinned: dict[str, tuple[Decimal, Decimal]] = {}  # instId -> (buyLmt, sellLmt)
        self.funding_rate_override: Decimal | None = None
        self.funding_charged = 0  # funding settlements run
        self.bills: deque[dict[str, Any]] = deque(maxlen=BILLS_KEPT)

    # -- account settings ------------------------------------------------------------------
    def set_account(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Admin: acctLv, perm, ip, posMode (forced, positions or not), leverage_error."""
        if "acctLv" in spec:
            if str(spec["acctLv"]) not in ("1", "2", "3", "4"):
                raise ValueError("acctLv must be 1, 2, 3 or 4")
            self.acct_lv = str(spec["acctLv"])
        if "perm" in spec:
            self.perm = str(spec["perm"])
        if "ip" in spec:
            self.api_ip = str(spec["ip"])
        if "leverage_error" in spec:
            self.leverage_error = str(spec["leverage_error"] or "")
        if "posMode" in spec:
            if spec["posMode"] not in ("net_mode", "long_short_mode"):
                raise ValueError("posMode must be net_mode or long_short_mode")
            self.pos_mode = str(spec["posMode"])
        if "leverage" in spec:  # [{"instId", "lever", "mgnMode"?, "posSide"?}]: set as the account holds it
            for item in spec["leverage"]:
                si = self.inst(item)
                mgn = str(item.get("mgnMode") or "cross")
                self.leverage[(si.instId, mgn, str(item.get("posSide") or ""))] = Decimal(str(item["lever"]))
        return {
            "acctLv": self.acct_lv,
            "perm": self.perm,
            "ip": self.api_ip,
            "posMode": self.pos_mode,
            "leverage_error": self.leverage_error,
        }

    # -- instruments -----------------------------------------------------------------------
    def set_instrument(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Admin: change an instrument's `state` (suspend, ...) or specs (ctVal, lotSz, ...) as listed."""
        si = self.inst(spec)
        row = dict(si.row)
        if "state" in spec:
            if spec["state"] not in INST_STATES:
                raise ValueError(f"state must be one of {', '.join(INST_STATES)}")
            row["state"] = spec["state"]
        for k in SPEC_FIELDS:
            if k in spec:
                row[k] = str(Decimal(str(spec[k])))
        if "lotSz" in spec and "minSz" not in spec:
            row["minSz"] = row["lotSz"]
        self.insts[si.instId] = replace(si, row=row, inst=Instrument.from_okx(row))
        return row

    # -- system status (maintenance) --------------------------------------------------------
    def set_maintenance(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """Admin: {"rows": [...]} replaces the schedule; {"begin_in_s", "duration_s", "serviceType"?,
        "state"?, "env"?, "title"?} adds one window starting that far from now; {"clear": true} empties it."""
        if spec.get("clear"):
            self.maintenance = []
        if "rows" in spec:
            self.maintenance = [dict(r) for r in spec["rows"]]
        if "begin_in_s" in spec:
            now = self.now()
            begin = now + int(float(spec["begin_in_s"]) * 1000)
            end = begin + int(float(spec.get("duration_s", 3600)) * 1000)
            state = str(spec.get("state") or "")
            if state and state not in MAINT_STATES:
                raise ValueError(f"state must be one of {', '.join(MAINT_STATES)}")
            self.maintenance.append(
                {
                    "title": str(spec.get("title") or "Trading account system upgrade"),
                    "state": state,
                    "begin": str(begin),
                    "end": str(end),
                    "preOpenBegin": "",
                    "href": "",
                    "scheDesc": "",
                    "serviceType": str(spec.get("serviceType", "5")),
                    "system": "unified",
                    "maintType": "1",
                    "env": str(spec.get("env", "1")),
                }
            )
        return self.system_status({"state": "any"})

    def _maint_state(self, row: dict[str, Any], now: int) -> str:
        if row.get("state") in ("canceled", "completed", "pre_open") or not row.get("begin"):
            return str(row.get("state") or "scheduled")
        if row.get("state") == "ongoing" and not row.get("end"):
            return "ongoing"
        begin, end = int(row["begin"]), int(row.get("end") or 0)
        if now < begin:
            return "scheduled"
        return "ongoing" if not end or now < end else "completed"

    def system_status(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """GET /system/status: without `state`, the scheduled, ongoing and pre_open windows (OKX's default).
        A window's state follows the clock (scheduled -> ongoing -> completed) unless set as canceled."""
        want = text(params, "state")
        if want and want not in (*MAINT_STATES, "any"):
            raise BadParam("state")
        now = self.now()
        out = []
        for row in self.maintenance:
            st = self._maint_state(row, now)
            if (
                (want == "any")
                or (want and st == want)
                or (not want and st in ("scheduled", "ongoing", "pre_open"))
            ):
                out.append({**row, "state": st})
        return out

    # -- price limit -----------------------------------------------------------------------
    def set_band(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Admin: {"pct": "0.02"} a band of +-2 % around each mark (0 turns it off); {"instId", "buyLmt",
        "sellLmt"} pins one instrument's band; {"instId", "buyLmt": ""} unpins it."""
        if "pct" in spec:
            pct = Decimal(str(spec["pct"]))
            if not 0 <= pct < 1:
                raise ValueError("pct must be in [0, 1)")
            self.band_pct = pct
        if "instId" in spec:
            si = self.inst(spec)
            if spec.get("buyLmt") in (None, ""):
                self.band_pinned.pop(si.instId, None)
            else:
                self.band_pinned[si.instId] = (Decimal(str(spec["buyLmt"])), Decimal(str(spec["sellLmt"])))
        return {i: self.price_limit(i) for i in self.insts}

    def band(self, inst_id: str) -> tuple[Decimal, Decimal] | None:
        """(buyLmt, sellLmt) in force for inst_id, None when no band applies."""
        pinned = self.band_pinned.get(inst_id)
        if pinned is not None:
            return pinned
        if not self.band_pct:
            return None
        mark = self.mark_of(inst_id)
        if mark is None:
            return None
        tick = self.insts[inst_id].inst.tickSz
        buy = (mark * (1 + self.band_pct) / tick).to_integral_value(ROUND_FLOOR) * tick
        sell = (mark * (1 - self.band_pct) / tick).to_integral_value(ROUND_CEILING) * tick
        return buy, sell

    def price_limit(self, inst_id: str) -> dict[str, Any]:
        """GET /public/price-limit: OKX's row; buyLmt/sellLmt "" with enabled false when no band applies."""
        self.inst({"instId": inst_id})
        b = self.band(inst_id)
        return {
            "instType": "SWAP",
            "instId": inst_id,
            "buyLmt": s(b[0]) if b else "",
            "sellLmt": s(b[1]) if b else "",
            "ts": str(self.now()),
            "enabled": b is not None,
        }

    def check_band(self, inst_id: str, side: str, px: Decimal | None, name: str = "px") -> None:
        """51006 for a price a buy may not pay (above buyLmt) or a sell may not take (below sellLmt)."""
        if px is None:
            return
        b = self.band(inst_id)
        if b is not None and (px > b[0] if side == "buy" else px < b[1]):
            raise BadParam(name, "51006")

    def check_trigger_band(self, inst_id: str, trigger: Decimal | None, name: str) -> None:
        """A stop's trigger price outside the band (either side) is refused, 51006, as an order price is."""
        b = self.band(inst_id)
        if trigger is not None and b is not None and not b[1] <= trigger <= b[0]:
            raise BadParam(name, "51006")

    def market_cap(self, o: SimOrder) -> Decimal | None:
        """A market order takes liquidity only up to the band's edge (OKX caps it there)."""
        b = self.band(o.instId)
        return None if b is None else (b[0] if o.side == "buy" else b[1])

    # -- funding ---------------------------------------------------------------------------
    def set_funding(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Admin: {"rate": "0.0001"} the rate every settlement charges ("" = the seeded per-period rate);
        {"settle": true} settles once now."""
        if "rate" in spec:
            self.funding_rate_override = None if spec["rate"] in (None, "") else Decimal(str(spec["rate"]))
        if spec.get("settle"):
            self.settle_funding()
        return {"rate": s(self.funding_rate_override), "settlements": self.funding_charged}

    def funding_rate_for(self, inst_id: str, now: int) -> Decimal:
        if self.funding_rate_override is not None:
            return self.funding_rate_override
        if self.history is not None:
            return Decimal(self.history.funding_now(inst_id)["fundingRate"])
        return Decimal("0.0001")

    def settle_funding(self, rates: Mapping[str, Decimal] | None = None) -> list[dict[str, Any]]:
        """Charge every open position its funding: -rate x signed notional at the mark (longs pay a positive
        rate). Each charge is a bill of type 8 (subType 173 expense / 174 income) with its own billId, booked
        in the position's realizedPnl and fundingFee and in the account's cash (isolated: the margin).
        rates: charge only these instruments, at these rates (a backtest's recorded funding prints)."""
        now = self.now()
        self.funding_charged += 1
        out = []
        for p in list(self.positions.values()):
            mark = self.mark_of(p.instId)
            if not p.pos or mark is None or (rates is not None and p.instId not in rates):
                continue
            rate = rates[p.instId] if rates is not None else self.funding_rate_for(p.instId, now)
            direction = p.direction if p.posSide == "net" else (1 if p.posSide == "long" else -1)
            ct = self.insts[p.instId].inst.coin_per_contract
            amount = (-rate * abs(p.pos) * ct * mark * direction).quantize(Decimal("1e-8"))
            if not amount:
                continue
            p.realizedPnl += amount
            p.funding_fee += amount
            self.cash += amount
            if p.mgnMode == "isolated":
                p.margin += amount
            p.uTime = now
            self._dirty_pos.add((p.instId, p.posSide))
            self._dirty_acct = True
            out.append(
                self._bill(
                    FUNDING_BILL,
                    FUNDING_INCOME if amount > 0 else FUNDING_EXPENSE,
                    p,
                    amount,
                    mark,
                    abs(p.pos),
                    now,
                )
            )
        self.flush()
        return out

    # -- bills -----------------------------------------------------------------------------
    def _bill(
        self,
        kind: str,
        sub: str,
        p: SimPosition,
        amount: Decimal,
        px: Decimal,
        sz: Decimal,
        now: int,
        *,
        fee: Decimal = ZERO,
        order: SimOrder | None = None,
        trade_id: str = "",
        bill_id: str = "",
        exec_type: str = "",
    ) -> dict[str, Any]:
        bill = {
            "instType": "SWAP",
            "billId": bill_id or self.ids.new("bill"),
            "type": kind,
            "subType": sub,
            "ts": str(now),
            "balChg": s(amount + fee),
            "posBalChg": "0",
            "bal": s(self.cash),
            "posBal": s(p.margin) if p.mgnMode == "isolated" else "0",
            "sz": s(sz),
            "px": s(px),
            "ccy": "USDT",
            "pnl": s(amount),
            "fee": s(fee),
            "earnAmt": "",
            "earnApr": "",
            "mgnMode": p.mgnMode,
            "instId": p.instId,
            "ordId": order.ordId if order else "",
            "execType": exec_type,
            "from": "",
            "to": "",
            "notes": "",
            "interest": "0",
            "tag": order.tag if order else "",
            "fillTime": str(now) if order else "",
            "tradeId": trade_id,
            "clOrdId": order.clOrdId if order else "",
            "fillIdxPx": "",
            "fillMarkPx": "",
            "fillPxVol": "",
            "fillPxUsd": "",
            "fillMarkVol": "",
            "fillFwdPx": "",
        }
        self.bills.appendleft(bill)
        return bill

    def trade_bill(
        self,
        o: SimOrder,
        px: Decimal,
        sz: Decimal,
        pnl: Decimal,
        fee: Decimal,
        trade_id: str,
        bill_id: str,
        exec_type: str,
    ) -> None:
        """The bill of one fill (type 2, subType 1 buy / 2 sell), under the fill's own billId."""
        p = self.positions.get((o.instId, "net" if self.pos_mode == "net_mode" else o.posSide))
        if p is not None:
            self._bill(
                TRADE_BILL,
                BUY_BILL if o.side == "buy" else SELL_BILL,
                p,
                pnl,
                px,
                sz,
                self.now(),
                fee=fee,
                order=o,
                trade_id=trade_id,
                bill_id=bill_id,
                exec_type=exec_type,
            )

    def bills_view(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """GET /account/bills (and bills-archive): newest first; filters instType, instId, ccy, mgnMode, type,
        subType, begin/end (ts); `after` = older than that billId, `before` = newer; limit <= 100."""
        inst_type, inst_id = text(params, "instType"), text(params, "instId")
        kind, sub, ccy, mgn = (
            text(params, "type"),
            text(params, "subType"),
            text(params, "ccy"),
            text(params, "mgnMode"),
        )
        after, before = text(params, "after"), text(params, "before")
        begin, end = dec(params, "begin"), dec(params, "end")
        limit = max(1, min(int(text(params, "limit", "100") or 100), 100))
        if inst_type and inst_type != "SWAP":
            return []
        out: list[dict[str, Any]] = []
        rows = list(self.bills)
        if before and not after:  # newer than `before`: the oldest of those first, then back to newest first
            rows = [b for b in rows if int(b["billId"]) > int(before)]
            rows = list(reversed(rows))
        for b in rows:
            if (
                (inst_id and b["instId"] != inst_id)
                or (kind and b["type"] != kind)
                or (sub and b["subType"] != sub)
            ):
                continue
            if (ccy and b["ccy"] != ccy) or (mgn and b["mgnMode"] != mgn):
                continue
            if (after and int(b["billId"]) >= int(after)) or (before and int(b["billId"]) <= int(before)):
                continue
            if (begin is not None and int(b["ts"]) < begin) or (end is not None and int(b["ts"]) > end):
                continue
            out.append(b)
            if len(out) >= limit:
                break
        if before and not after:
            out.reverse()
        return out
