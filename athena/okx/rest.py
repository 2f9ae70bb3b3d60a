"""OkxRestGateway: the signed OKX V5 REST API on one persistent requests.Session.

Every method returns domain (or athena.okx.types) objects and raises athena.okx.errors.*, classified
by the request (errors.CODES): a timeout or lost connection after a POST was sent, an HTTP 5xx answer
to a trade POST, or an outcome-unknown code on one (51149, 50001, 50013, 50026, ...) is OkxAmbiguous
(query by clOrdId, never resend blindly); a refused connection, or 5xx / 50001 / 50013 on any other
request, is OkxTransient. 50011 backs off and retries a bounded number of times; 50102 (clock skew)
re-syncs the clock and retries once, except on requests carrying expTime.

Order placement and amendment (single and batch) carry OKX's `expTime` header: server time +
`exp_time_ms` (default: the read timeout; 0 disables). A request the network delays past it is dropped
by the exchange instead of executing late. Keeping it <= the read timeout means that once a call timed
out (AMBIGUOUS) the request can no longer start executing, so the query by clOrdId that resolves it
is final. Such a drop answers 50102 (or an unknown code); since the order was definitely not executed
it is raised as OkxExpired (an OkxRejected), never retried with a fresh deadline (that would execute it
late after all).

With an order WebSocket attached (`attach_order_ws`, athena/okx/ws_orders.py: the orders worker's), an
order is placed over it (`op: order`, same body, same expTime, same rate limiter) while it is logged in,
and by REST when it is not; a WS reply is read by the same rules as a REST envelope, and a WS request that
was sent and got no reply is OkxAmbiguous as a REST timeout is.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
import requests
from requests import exceptions as rex

from athena.domain import (
    AlgoOrder,
    AlgoState,
    BookTop,
    Instrument,
    OrderRequest,
    OrderState,
    OrderUpdate,
    Position,
    PosMode,
    PosSide,
    TdMode,
    Ticker,
)
from athena.domain.money import fmt
from athena.fastpath.requests_session import new_session
from athena.okx import parse
from athena.okx.errors import (
    TIMESTAMP_EXPIRED,
    OkxAmbiguous,
    OkxAuthError,
    OkxError,
    OkxExpired,
    OkxOrderNotFound,
    OkxRateLimited,
    OkxRejected,
    OkxTransient,
    ParseError,
    classify,
    outcome_unknown,
)
from athena.okx.ratelimit import RateLimiter
from athena.okx.signing import Clock, Credentials, rest_headers
from athena.okx.types import (
    AccountConfig,
    AlgoAck,
    Balance,
    Bill,
    CancelAllAfter,
    ClosePositionAck,
    LeverageInfo,
    Maintenance,
    OkxFill,
    OrderAck,
    PriceLimit,
    TradeFee,
)
from athena.okx.ws_orders import WsNotSent, WsOrderEntry

if TYPE_CHECKING:
    from athena.config import Settings

log = logging.getLogger(__name__)


class OkxRestGateway:
    """OKX REST client. Build with `OkxRestGateway(settings)` or explicit `base_url`/`credentials`."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        base_url: str | None = None,
        credentials: Credentials | tuple[str, str, str] | None = None,
        simulated_trading: bool | None = None,
        timeout_s: float | None = None,
        connect_timeout_s: float = 3.0,
        clock: Clock | None = None,
        rate_limiter: RateLimiter | None = None,
        rate_limit_retries: int = 2,
        rate_limit_backoff_s: float = 1.0,
        max_rate_limit_wait_s: float = 5.0,
        auto_sync_clock: bool = True,
        exp_time_ms: int | None = None,
    ) -> None:
        if settings is not None:
            base_url = base_url or settings.rest_url
            credentials = credentials or settings.credentials()
            simulated_trading = settings.simulated_trading if simulated_trading is None else simulated_trading
            timeout_s = timeout_s or settings.okx.timeout_s
        if not base_url:
            raise ValueError("OkxRestGateway needs settings or base_url")
        if isinstance(credentials, tuple):
            credentials = Credentials(*credentials)
        self.base_url = base_url.rstrip("/")
        self.creds = credentials or Credentials("", "", "")
        self.timeout = (min(connect_timeout_s, timeout_s or 5.0), timeout_s or 5.0)
        self.clock = clock or Clock()
        self.limiter = rate_limiter or RateLimiter()
        self.rate_limit_retries = rate_limit_retries
        self.rate_limit_backoff_s = rate_limit_backoff_s
        self.max_rate_limit_wait_s = max_rate_limit_wait_s
        self.auto_sync_clock = auto_sync_clock
        self.exp_time_ms = (
            int(self.timeout[1] * 1000) if exp_time_ms is None else exp_time_ms
        )  # 0: no expTime
        self._sync_tried = False
        self.session = new_session()  # athena/fastpath/requests_session.py
        # requests re-reads the proxy / CA-bundle environment on every call (os.environ scanned
        # twice per request, on the order path): read it once here instead.
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle:
            self.session.verify = ca_bundle
        self.session.trust_env = False
        self.session.headers["Content-Type"] = "application/json"
        self.session.headers["Accept"] = "application/json"
        if simulated_trading:
            self.session.headers["x-simulated-trading"] = "1"
        self.stats = {"requests": 0, "rate_limited": 0, "clock_resyncs": 0, "expired": 0, "ws_orders": 0}
        self.order_ws: WsOrderEntry | None = None

    def __repr__(self) -> str:
        return f"OkxRestGateway({self.base_url!r})"

    def close(self) -> None:
        if self.order_ws is not None:
            self.order_ws.stop(timeout=2.0)
            self.order_ws = None
        self.session.close()

    def attach_order_ws(self, entry: WsOrderEntry) -> None:
        """Place orders over this logged-in WebSocket from now on (REST while it is not ready); started
        here, stopped by close()."""
        self.order_ws = entry
        entry.start()

    def __enter__(self) -> OkxRestGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        for s in self.creds.secrets():
            if len(s) >= 4:
                text = text.replace(s, "***")
        return text[:300]

    def _send(
        self, method: str, target: str, body: bytes | None, signed: bool, clOrdId: str, expires: bool = False
    ) -> requests.Response:
        headers: dict[str, str] = {}
        if signed:
            if self.auto_sync_clock and not self._sync_tried:
                self.sync_clock()
            now_ms = self.clock.now_ms()
            headers = rest_headers(self.creds, now_ms, method, target, body.decode() if body else "")
            if expires and self.exp_time_ms:
                headers["expTime"] = str(now_ms + self.exp_time_ms)  # server time (clock offset applied)
        self.stats["requests"] += 1
        path = target.split("?", 1)[0]
        try:
            return self.session.request(
                method, self.base_url + target, data=body, headers=headers, timeout=self.timeout
            )
        except rex.ConnectTimeout:
            raise OkxTransient("connect timeout", path=path) from None
        except rex.ReadTimeout:
            if method == "POST":
                raise OkxAmbiguous("timeout after the request was sent", path=path, clOrdId=clOrdId) from None
            raise OkxTransient("read timeout", path=path) from None
        except rex.ConnectionError as exc:
            if _never_sent(exc) or method != "POST":
                raise OkxTransient(f"connection failed: {type(exc).__name__}", path=path) from None
            raise OkxAmbiguous(
                "connection lost after the request was sent", path=path, clOrdId=clOrdId
            ) from None
        except rex.RequestException as exc:
            if method == "POST":
                raise OkxAmbiguous(
                    f"request failed: {type(exc).__name__}", path=path, clOrdId=clOrdId
                ) from None
            raise OkxTransient(f"request failed: {type(exc).__name__}", path=path) from None

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        *,
        signed: bool = True,
        instId: str = "",
        clOrdId: str = "",
    ) -> dict[str, Any]:
        """One API call with rate limiting. Returns the envelope when code is 0, 1 or 2."""
        query = urlencode({k: v for k, v in (params or {}).items() if v not in (None, "")})
        target = path + ("?" + query if query else "")
        raw_body = orjson.dumps(body) if body is not None else None
        family = self.limiter.family(method, path)
        expires = method == "POST" and path in EXP_TIME_PATHS and bool(self.exp_time_ms)
        write = method == "POST" and path in ORDER_PATHS
        resynced = False
        attempt = 0
        while True:
            self.limiter.acquire(family, instId)
            resp = self._send(method, target, raw_body, signed, clOrdId, expires)
            env = self._envelope(resp, method, path, clOrdId)
            code = str(env.get("code", ""))
            if code in ("0", "1", "2") and resp.status_code < 400:
                return env
            retry_after = _retry_after(resp, self.rate_limit_backoff_s * (2**attempt))
            err = classify(
                code,
                self._scrub(str(env.get("msg") or "")),
                resp.status_code,
                path,
                clOrdId=clOrdId,
                retry_after=retry_after,
                write=write,
            )
            if isinstance(err, OkxRateLimited):
                self.stats["rate_limited"] += 1
                self.limiter.penalize(family, instId, retry_after)
                if attempt < self.rate_limit_retries and retry_after <= self.max_rate_limit_wait_s:
                    attempt += 1
                    log.info("OKX 50011 on %s: backing off %.2fs (attempt %d)", path, retry_after, attempt)
                    time.sleep(retry_after)
                    continue
            elif code == TIMESTAMP_EXPIRED and signed and expires:
                raise self._expired(err, path, clOrdId, resp.status_code)
            elif code == TIMESTAMP_EXPIRED and signed and not resynced:
                resynced = True
                self.stats["clock_resyncs"] += 1
                self.sync_clock()
                continue
            raise err

    def _expired(self, err: OkxError, path: str, clOrdId: str, http_status: int | None = None) -> OkxExpired:
        """A request refused for its expTime (or clock skew) was definitely not executed: the clock is
        re-measured for the next call, and this one is never sent again with a fresh deadline (it would
        execute late after all)."""
        self.stats["expired"] += 1
        self.stats["clock_resyncs"] += 1
        self.sync_clock()
        return OkxExpired(
            f"not executed: expTime passed or clock skew ({err.msg})",
            err.code,
            http_status=http_status,
            path=path,
            clOrdId=clOrdId,
        )

    def _envelope(self, resp: requests.Response, method: str, path: str, clOrdId: str) -> dict[str, Any]:
        try:
            env = orjson.loads(resp.content)
            if not isinstance(env, dict):
                raise ValueError("not an object")
        except ValueError:
            status = resp.status_code
            if status >= 500 and method == "POST" and path in ORDER_PATHS:
                raise OkxAmbiguous(
                    f"unreadable HTTP {status} on a trade request", "", status, path, clOrdId
                ) from None
            if status >= 500 or status == 429:
                err = classify("", f"HTTP {status}", status, path)
                raise err from None
            if method == "POST" and status < 300:
                raise OkxAmbiguous(f"unreadable reply (HTTP {status})", path=path, clOrdId=clOrdId) from None
            raise OkxTransient(f"unreadable reply (HTTP {status})", http_status=status, path=path) from None
        return env

    def _items(self, env: dict[str, Any], path: str) -> list[Any]:
        data = env.get("data")
        if not isinstance(data, list):
            raise ParseError(f"{path}: data is not a list")
        return data

    def _one_item(
        self,
        env: dict[str, Any],
        path: str,
        clOrdId: str = "",
        req: OrderRequest | None = None,
        write: bool = False,
    ) -> dict[str, Any]:
        """The single result item; raises the classified error when its sCode (or code) is not 0.
        write: the reply to a trade write (an outcome-unknown code is then AMBIGUOUS)."""
        data = self._items(env, path)
        item = data[0] if data else None
        code = str(env.get("code", ""))
        s_code = str(item.get("sCode", "")) if isinstance(item, dict) else ""
        if code == "0" and s_code in ("", "0"):
            if not isinstance(item, dict):
                raise ParseError(f"{path}: no result item")
            return item
        s_msg = self._scrub(str(item.get("sMsg", ""))) if isinstance(item, dict) else ""
        cid = clOrdId or (
            str(item.get("clOrdId") or item.get("algoClOrdId") or "") if isinstance(item, dict) else ""
        )
        err = classify(
            code,
            self._scrub(str(env.get("msg") or "")),
            None,
            path,
            sCode=s_code,
            sMsg=s_msg,
            clOrdId=cid,
            write=write,
        )
        if isinstance(err, OkxRejected) and req is not None:
            err.update = parse.order_rejected(req, s_code or code, s_msg)
        raise err

    # -- clock ----------------------------------------------------------------------------------
    def server_time(self) -> int:
        env = self._call("GET", "/api/v5/public/time", signed=False)
        return parse.as_int(self._one_item(env, "/public/time").get("ts"))

    def sync_clock(self) -> int:
        """Measure server - local clock offset (ms) so a drifting host clock does not cause 50102."""
        self._sync_tried = True
        try:
            t0 = time.time() * 1000
            server_ms = self.server_time()
            t1 = time.time() * 1000
        except OkxError as exc:
            log.warning("clock sync failed: %s", exc)
            return self.clock.offset_ms
        self.clock.update(server_ms, t0, t1)
        return self.clock.offset_ms

    # -- public ---------------------------------------------------------------------------------
    def instruments(self, instType: str = "SWAP", instId: str | None = None) -> list[Instrument]:
        env = self._call(
            "GET", "/api/v5/public/instruments", {"instType": instType, "instId": instId}, signed=False
        )
        return [parse.instrument(r) for r in self._items(env, "/public/instruments")]

    def ticker(self, instId: str) -> Ticker:
        env = self._call("GET", "/api/v5/market/ticker", {"instId": instId}, signed=False)
        return parse.ticker(self._one_item(env, "/market/ticker"))

    def books(self, instId: str, sz: int = 5) -> BookTop:
        env = self._call("GET", "/api/v5/market/books", {"instId": instId, "sz": sz}, signed=False)
        return parse.book_top(instId, self._one_item(env, "/market/books"))

    def price_limit(self, instId: str) -> PriceLimit:
        """The band an order price must respect: buys at most buyLmt, sells at least sellLmt."""
        env = self._call("GET", "/api/v5/public/price-limit", {"instId": instId}, signed=False)
        return parse.price_limit(self._one_item(env, "/public/price-limit"))

    def system_status(self, state: str | None = None) -> list[Maintenance]:
        """Maintenance windows (without state: the scheduled, ongoing and pre_open ones). 1 request / 5 s."""
        env = self._call("GET", "/api/v5/system/status", {"state": state}, signed=False)
        return [parse.maintenance(r) for r in self._items(env, "/system/status")]

    # -- account --------------------------------------------------------------------------------
    def balance(self, ccy: str | None = None) -> Balance:
        env = self._call("GET", "/api/v5/account/balance", {"ccy": ccy})
        return parse.balance(self._one_item(env, "/account/balance"))

    def positions(self, instId: str | None = None, instType: str = "SWAP") -> list[Position]:
        env = self._call("GET", "/api/v5/account/positions", {"instType": instType, "instId": instId})
        return [parse.position(r) for r in self._items(env, "/account/positions")]

    def account_config(self) -> AccountConfig:
        env = self._call("GET", "/api/v5/account/config")
        return parse.account_config(self._one_item(env, "/account/config"))

    def trade_fee(self, instType: str = "SWAP", instId: str | None = None) -> TradeFee:
        """The account's fee tier and rates (TradeFee.rates(settleCcy) picks the USDT / USDC ones)."""
        env = self._call("GET", "/api/v5/account/trade-fee", {"instType": instType, "instId": instId})
        return parse.trade_fee(self._one_item(env, "/account/trade-fee"))

    def leverage_info(self, instId: str, mgnMode: TdMode = TdMode.CROSS) -> list[LeverageInfo]:
        """The leverage the account holds for instId in mgnMode (per posSide in isolated long/short mode)."""
        env = self._call("GET", "/api/v5/account/leverage-info", {"instId": instId, "mgnMode": str(mgnMode)})
        return [parse.leverage(r) for r in self._items(env, "/account/leverage-info")]

    def bills(
        self,
        type: str | None = None,
        subType: str | None = None,
        instId: str | None = None,
        before: str | None = None,
        after: str | None = None,
        limit: int = 100,
        instType: str = "SWAP",
    ) -> list[Bill]:
        """One page of the account's bills of the last 7 days, newest first: `before` = newer than that
        billId, `after` = older than it."""
        env = self._call(
            "GET",
            "/api/v5/account/bills",
            {
                "instType": instType,
                "type": type,
                "subType": subType,
                "instId": instId,
                "before": before,
                "after": after,
                "limit": limit,
            },
        )
        return [parse.bill(r) for r in self._items(env, "/account/bills")]

    def set_leverage(
        self,
        instId: str,
        lever: Decimal | int,
        mgnMode: TdMode = TdMode.CROSS,
        posSide: PosSide | None = None,
    ) -> LeverageInfo:
        body: dict[str, Any] = {"instId": instId, "lever": fmt(Decimal(lever)), "mgnMode": str(mgnMode)}
        if posSide is not None and posSide is not PosSide.NET:
            body["posSide"] = str(posSide)
        env = self._call("POST", "/api/v5/account/set-leverage", body=body)
        return parse.leverage(self._one_item(env, "/account/set-leverage"))

    def set_position_mode(self, posMode: PosMode) -> PosMode:
        env = self._call("POST", "/api/v5/account/set-position-mode", body={"posMode": str(posMode)})
        item = self._one_item(env, "/account/set-position-mode")
        try:
            return PosMode(item.get("posMode") or posMode)
        except ValueError:
            raise ParseError(f"set-position-mode: unknown posMode {item.get('posMode')!r}") from None

    # -- orders ---------------------------------------------------------------------------------
    def place_order(self, req: OrderRequest) -> OrderUpdate:
        """Send req.to_okx() as is. Accepted -> OrderUpdate(LIVE, ordId); rejected -> OkxRejected
        (with .update = OrderUpdate(REJECTED)); timeout after sending -> OkxAmbiguous."""
        ws = self.order_ws
        if ws is not None and ws.ready:
            try:
                return self._place_order_ws(ws, req)
            except WsNotSent:
                pass  # nothing reached the exchange: REST
        try:
            env = self._call(
                "POST", "/api/v5/trade/order", body=req.to_okx(), instId=req.instId, clOrdId=req.clOrdId
            )
        except (
            OkxRejected
        ) as exc:  # envelope-level rejection (e.g. expired): still a definite REJECTED update
            if exc.update is None:
                exc.update = parse.order_rejected(req, exc.sCode or exc.code, exc.sMsg or exc.msg)
            raise
        with _sent("/api/v5/trade/order", req.clOrdId):
            return parse.order_ack(self._one_item(env, "/trade/order", req.clOrdId, req, write=True), req)

    def _place_order_ws(self, ws: WsOrderEntry, req: OrderRequest) -> OrderUpdate:
        """One order over the order WebSocket. WsNotSent when the exchange did not process it for a reason
        of the connection (not logged in there, rate limited): the caller sends it by REST."""
        path = "/api/v5/trade/order"
        family = self.limiter.family("POST", path)
        self.limiter.acquire(family, req.instId)
        try:
            env = ws.request("order", [req.to_okx()], timeout_s=self.timeout[1], exp_time_ms=self.exp_time_ms)
        except OkxAmbiguous as exc:
            exc.clOrdId = req.clOrdId
            raise
        self.stats["ws_orders"] += 1
        code = str(env.get("code", ""))
        if code not in ("0", "1", "2"):
            text = self._scrub(str(env.get("msg") or ""))
            err = classify(code, text, None, path, clOrdId=req.clOrdId, write=True)
            if isinstance(err, OkxRateLimited):
                self.stats["rate_limited"] += 1
                self.limiter.penalize(family, req.instId, err.retry_after)
                raise WsNotSent("rate limited on the WebSocket")  # REST backs off and retries
            if code == TIMESTAMP_EXPIRED and self.exp_time_ms:
                err = self._expired(err, path, req.clOrdId)
            elif isinstance(err, OkxAuthError):  # 60011...: the exchange no longer sees this socket logged in
                ws.force_reconnect()
                raise WsNotSent(f"WebSocket refused the op: {err}")
            if isinstance(err, OkxRejected):
                err.update = parse.order_rejected(req, err.sCode or code, err.sMsg or err.msg)
            raise err
        with _sent(path, req.clOrdId):
            return parse.order_ack(self._one_item(env, path, req.clOrdId, req, write=True), req)

    def place_batch(self, reqs: Sequence[OrderRequest]) -> list[OrderUpdate]:
        """Up to 20 orders. Per-order results in order: LIVE when accepted, AMBIGUOUS when the item's sCode
        leaves the outcome unknown (51149, ...: query it by clOrdId), REJECTED (sCode) when refused."""
        if not reqs:
            return []
        if len(reqs) > 20:
            raise ValueError("place_batch: at most 20 orders")
        env = self._call(
            "POST",
            "/api/v5/trade/batch-orders",
            body=[r.to_okx() for r in reqs],
            instId=reqs[0].instId,
            clOrdId=",".join(r.clOrdId for r in reqs),
        )
        with _sent("/api/v5/trade/batch-orders", ",".join(r.clOrdId for r in reqs)):
            items = self._items(env, "/trade/batch-orders")
            if len(items) != len(reqs) or not all(isinstance(i, dict) for i in items):
                raise ParseError(f"batch-orders: {len(items)} results for {len(reqs)} orders")
            by_id = {str(i.get("clOrdId") or ""): i for i in items}
            out = []
            for req, pos_item in zip(reqs, items, strict=True):
                item = by_id.get(req.clOrdId, pos_item)  # order_ack refuses an item naming another order
                s_code = str(item.get("sCode", "0"))
                if s_code == "0":
                    out.append(parse.order_ack(item, req))
                elif outcome_unknown(s_code):
                    out.append(
                        replace(
                            parse.order_rejected(req, s_code, self._scrub(str(item.get("sMsg") or ""))),
                            state=OrderState.AMBIGUOUS,
                        )
                    )
                else:
                    out.append(parse.order_rejected(req, s_code, self._scrub(str(item.get("sMsg") or ""))))
            return out

    def cancel_order(self, instId: str, clOrdId: str | None = None, ordId: str | None = None) -> OrderAck:
        """Cancel accepted (the final state arrives on the orders channel). Filled, cancelled or unknown ->
        OkxOrderNotPending; an outcome-unknown answer -> OkxAmbiguous (not cancelled as far as we know)."""
        body = _ids(instId, clOrdId, ordId)
        env = self._call(
            "POST", "/api/v5/trade/cancel-order", body=body, instId=instId, clOrdId=clOrdId or ""
        )
        with _sent("/api/v5/trade/cancel-order", clOrdId or ""):
            return parse.order_ack_plain(
                self._one_item(env, "/trade/cancel-order", clOrdId or "", write=True)
            )

    def amend_order(
        self,
        instId: str,
        clOrdId: str | None = None,
        ordId: str | None = None,
        newSz: Decimal | None = None,
        newPx: Decimal | None = None,
        reqId: str | None = None,
        cxlOnFail: bool = False,
    ) -> OrderAck:
        if newSz is None and newPx is None:
            raise ValueError("amend_order: newSz or newPx required")
        body = _ids(instId, clOrdId, ordId)
        if newSz is not None:
            body["newSz"] = fmt(newSz)
        if newPx is not None:
            body["newPx"] = fmt(newPx)
        if reqId:
            body["reqId"] = reqId
        if cxlOnFail:
            body["cxlOnFail"] = True
        env = self._call("POST", "/api/v5/trade/amend-order", body=body, instId=instId, clOrdId=clOrdId or "")
        with _sent("/api/v5/trade/amend-order", clOrdId or ""):
            return parse.order_ack_plain(self._one_item(env, "/trade/amend-order", clOrdId or "", write=True))

    def get_order(
        self, instId: str, clOrdId: str | None = None, ordId: str | None = None
    ) -> OrderUpdate | None:
        """The order as the exchange knows it, or None when it does not exist (OkxOrderNotFound)."""
        try:
            env = self._call("GET", "/api/v5/trade/order", _ids(instId, clOrdId, ordId))
            data = self._items(env, "/trade/order")
            if not data and str(env.get("code")) == "0":
                return None
            return parse.order_update(self._one_item(env, "/trade/order", clOrdId or ""), source="rest_query")
        except OkxOrderNotFound:
            return None

    def orders_pending(self, instId: str | None = None, max_pages: int = 40) -> list[OrderUpdate]:
        """All live/partially_filled orders (paged by 100, newest first)."""
        return self._paged(
            "/api/v5/trade/orders-pending",
            {"instType": "SWAP", "instId": instId},
            "ordId",
            max_pages,
            lambda r: parse.order_update(r, source="rest_query"),
        )

    def orders_history(
        self,
        instId: str | None = None,
        state: str | None = None,
        limit: int = 100,
        ordType: str | None = None,
        after: str | None = None,
    ) -> list[OrderUpdate]:
        """Finished orders of the last 7 days, newest first; after: older than that ordId (the next page)."""
        env = self._call(
            "GET",
            "/api/v5/trade/orders-history",
            {
                "instType": "SWAP",
                "instId": instId,
                "state": state,
                "ordType": ordType,
                "after": after,
                "limit": limit,
            },
        )
        return [parse.order_update(r, source="rest_query") for r in self._items(env, "/trade/orders-history")]

    def fills(self, instId: str | None = None, ordId: str | None = None, limit: int = 100) -> list[OkxFill]:
        env = self._call(
            "GET",
            "/api/v5/trade/fills",
            {"instType": "SWAP", "instId": instId, "ordId": ordId, "limit": limit},
        )
        return [parse.fill(r) for r in self._items(env, "/trade/fills")]

    def close_position(
        self,
        instId: str,
        mgnMode: TdMode = TdMode.CROSS,
        posSide: PosSide = PosSide.NET,
        clOrdId: str | None = None,
        autoCxl: bool = False,
    ) -> ClosePositionAck:
        body: dict[str, Any] = {"instId": instId, "mgnMode": str(mgnMode)}
        if posSide is not PosSide.NET:
            body["posSide"] = str(posSide)
        if clOrdId:
            body["clOrdId"] = clOrdId
        if autoCxl:
            body["autoCxl"] = True
        env = self._call(
            "POST", "/api/v5/trade/close-position", body=body, instId=instId, clOrdId=clOrdId or ""
        )
        with _sent("/api/v5/trade/close-position", clOrdId or ""):
            return parse.close_position_ack(
                self._one_item(env, "/trade/close-position", clOrdId or "", write=True)
            )

    def cancel_all_after(self, timeout_s: int) -> CancelAllAfter:
        """Dead-man's switch: cancel everything unless called again within timeout_s (0 disables, 10-120)."""
        if timeout_s != 0 and not 10 <= timeout_s <= 120:
            raise ValueError("cancel_all_after: timeout_s must be 0 or 10..120")
        env = self._call("POST", "/api/v5/trade/cancel-all-after", body={"timeOut": str(timeout_s)})
        return parse.cancel_all_after(self._one_item(env, "/trade/cancel-all-after"))

    # -- algo (stop) orders ---------------------------------------------------------------------
    def place_algo(self, algo: AlgoOrder) -> AlgoOrder:
        """A conditional stop-loss executed at market (slOrdPx -1). Returns algo with algoId, LIVE."""
        body: dict[str, Any] = {
            "instId": algo.instId,
            "tdMode": str(algo.tdMode),
            "side": str(algo.side),
            "ordType": "conditional",
            "slTriggerPx": fmt(algo.slTriggerPx),
            "slOrdPx": "-1",
            "slTriggerPxType": algo.slTriggerPxType,
        }
        if algo.closeFraction is not None:
            body["closeFraction"] = fmt(algo.closeFraction)
        elif algo.sz is not None:
            body["sz"] = fmt(algo.sz)
        if algo.posSide is not PosSide.NET:
            body["posSide"] = str(algo.posSide)
        if algo.reduceOnly:
            body["reduceOnly"] = True
        if algo.algoClOrdId:
            body["algoClOrdId"] = algo.algoClOrdId
        env = self._call(
            "POST", "/api/v5/trade/order-algo", body=body, instId=algo.instId, clOrdId=algo.algoClOrdId
        )
        with _sent("/api/v5/trade/order-algo", algo.algoClOrdId):
            item = self._one_item(env, "/trade/order-algo", algo.algoClOrdId, write=True)
            algo_id = parse.opt_s(item, "algoId")
            if algo_id is None:
                raise ParseError("order-algo: accepted without algoId")
        return replace(
            algo, algoId=algo_id, state=AlgoState.LIVE, uTime=parse.as_int(item.get("ts")) or algo.uTime
        )

    def cancel_algos(
        self, instId: str, algoIds: Iterable[str] = (), algoClOrdIds: Iterable[str] = ()
    ) -> list[AlgoAck]:
        """Cancel up to 10 algos by algoId or algoClOrdId. Per-item results (check .ok; .outcome_unknown:
        neither cancelled nor refused, query or cancel again)."""
        body = [{"instId": instId, "algoId": a} for a in algoIds] + [
            {"instId": instId, "algoClOrdId": c} for c in algoClOrdIds
        ]
        if not body:
            return []
        if len(body) > 10:
            raise ValueError("cancel_algos: at most 10 per call")
        env = self._call("POST", "/api/v5/trade/cancel-algos", body=body, instId=instId)
        with _sent(
            "/api/v5/trade/cancel-algos", ",".join(str(b.get("algoClOrdId") or b.get("algoId")) for b in body)
        ):
            return [
                AlgoAck(
                    str(i.get("algoId") or ""),
                    str(i.get("algoClOrdId") or ""),
                    str(i.get("sCode", "0")),
                    self._scrub(str(i.get("sMsg") or "")),
                )
                for i in self._items(env, "/trade/cancel-algos")
                if isinstance(i, dict)
            ]

    def algos_pending(
        self, instId: str | None = None, ordType: str = "conditional,oco", max_pages: int = 10
    ) -> list[AlgoOrder]:
        """Working stops, whole-position ones (closeFraction, no sz) included. Algos AlgoOrder cannot
        represent (take-profit only) are logged and skipped."""

        def one(row: Any) -> AlgoOrder | None:
            try:
                return parse.algo_order(row)
            except ParseError as exc:
                log.warning("algos_pending: skipped %s", exc)
                return None

        rows = self._paged(
            "/api/v5/trade/orders-algo-pending",
            {"ordType": ordType, "instType": "SWAP", "instId": instId},
            "algoId",
            max_pages,
            one,
        )
        return [a for a in rows if a is not None]

    # -- helpers --------------------------------------------------------------------------------
    def _paged(self, path: str, params: dict[str, Any], cursor: str, max_pages: int, conv: Any) -> list[Any]:
        out: list[Any] = []
        seen: set[Any] = set()  # a server repeating a row across pages must not count it twice
        after: str | None = None
        for _ in range(max_pages):
            env = self._call("GET", path, {**params, "after": after, "limit": 100})
            rows = self._items(env, path)
            for r in rows:
                key = r.get(cursor) if isinstance(r, dict) else None
                if key is None or key not in seen:
                    seen.add(key)
                    out.append(conv(r))
            if len(rows) < 100:
                break
            last = rows[-1].get(cursor) if isinstance(rows[-1], dict) else None
            if not last or last == after:
                break
            after = str(last)
        return out


# Requests that create, change or cancel orders: after an HTTP 5xx their outcome is unknown.
ORDER_PATHS = frozenset(
    {
        "/api/v5/trade/order",
        "/api/v5/trade/batch-orders",
        "/api/v5/trade/cancel-order",
        "/api/v5/trade/amend-order",
        "/api/v5/trade/amend-batch-orders",
        "/api/v5/trade/close-position",
        "/api/v5/trade/order-algo",
        "/api/v5/trade/cancel-algos",
        "/api/v5/trade/cancel-batch-orders",
    }
)
# Requests OKX drops when they arrive after their expTime header (API v5 docs: place, batch-place, amend,
# batch-amend).
EXP_TIME_PATHS = frozenset(
    {
        "/api/v5/trade/order",
        "/api/v5/trade/batch-orders",
        "/api/v5/trade/amend-order",
        "/api/v5/trade/amend-batch-orders",
    }
)


@contextmanager
def _sent(path: str, clOrdId: str) -> Iterator[None]:
    """An unreadable reply to a request that was sent and may have acted (an ack without a list, an item
    naming another order, no algoId) is AMBIGUOUS, not a ParseError: the caller must query by clOrdId."""
    try:
        yield
    except ParseError as exc:
        raise OkxAmbiguous(
            f"unreadable reply to a sent request: {exc.msg}", path=path, clOrdId=clOrdId
        ) from None


def _ids(instId: str, clOrdId: str | None, ordId: str | None) -> dict[str, Any]:
    if not clOrdId and not ordId:
        raise ValueError("clOrdId or ordId required")
    body: dict[str, Any] = {"instId": instId}
    if ordId:
        body["ordId"] = ordId
    if clOrdId:
        body["clOrdId"] = clOrdId
    return body


def _retry_after(resp: requests.Response, default: float) -> float:
    raw = resp.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw else default
    except ValueError:
        return default


def _never_sent(exc: BaseException) -> bool:
    """True when the connection failed before any byte of the request left (refused, DNS, ...)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        name = type(cur).__name__
        if name in (
            "NewConnectionError",
            "NameResolutionError",
            "ConnectTimeoutError",
            "ConnectionRefusedError",
        ):
            return True
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException) and id(reason) not in seen:
            cur = reason
            continue
        nxt = cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None
        cur = nxt or cur.__cause__ or cur.__context__
    return False
