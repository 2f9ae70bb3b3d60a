"""SimServer: the Exchange served over aiohttp on loopback (REST /api/v5, WS /ws/v5/*, admin /sim/*).

`SimServer(config).start()` runs the app on its own event loop in a background thread and returns when
listening; every Exchange call happens on that loop thread. `.stop()` cleans up.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from aiohttp import web

from athena.sim.admin_ops import venue_admin
from athena.sim.auth import check_rest, exp_time_error
from athena.sim.config import SimConfig
from athena.sim.errors import msg
from athena.sim.exchange import Exchange
from athena.sim.faults import Faults
from athena.sim.history import MarketHistory
from athena.sim.market import SyntheticMarket
from athena.sim.paper import PaperExchange, fetch_instruments
from athena.sim.ratelimit import RateLimiter
from athena.sim.rest import Route, find_route
from athena.sim.upstream import UpstreamFeed
from athena.sim.util import BadParam, text
from athena.sim.ws import WsHub

log = logging.getLogger("athena.sim")
T = TypeVar("T")
HTTP400 = {"50000", "50002", "50014", "50015", "50016", "51000"}
# Requests that honour OKX's `expTime` header (API v5 docs: place, batch-place, amend, batch-amend).
# Admin requests that drive the synthetic market: refused by a paper venue (its market is the upstream's).
PAPER_REFUSED = frozenset({"price", "step", "market"})
BATCH_PATHS = frozenset(
    {
        "/api/v5/trade/batch-orders",
        "/api/v5/trade/cancel-batch-orders",
        "/api/v5/trade/amend-batch-orders",
        "/api/v5/trade/cancel-algos",
    }
)
EXP_TIME_PATHS = frozenset(
    {
        "/api/v5/trade/order",
        "/api/v5/trade/batch-orders",
        "/api/v5/trade/amend-order",
        "/api/v5/trade/amend-batch-orders",
    }
)


def _resp(
    status: int, code: str, message: str, data: list[Any], extra: dict[str, Any] | None = None
) -> web.Response:
    env: dict[str, Any] = {"code": code, "msg": message, "data": data}
    if extra:
        env.update(extra)
    return web.Response(body=orjson.dumps(env), status=status, content_type="application/json")


def _scode_reply(raw: bytes, code: str, ts: str) -> web.Response:
    """The rest_scode fault's answer: every item of the request refused with `code`, ids echoed."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = {}
    items = body if isinstance(body, list) else [body]
    data = [
        {
            **{k: str(it.get(k) or "") for k in ("clOrdId", "ordId", "algoClOrdId", "algoId", "tag")},
            "ts": ts,
            "sCode": code,
            "sMsg": msg(code),
            "subCode": "",
        }
        for it in items
        if isinstance(it, dict)
    ]
    return _resp(200, "1", msg("1"), data)


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (about twice the requests/s and pushes/s of the stdlib loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()  # type: ignore[no-any-return]


class SimServer:
    def __init__(self, config: SimConfig | Any = None, **overrides: Any) -> None:
        if config is None:
            config = SimConfig()
        elif not isinstance(config, SimConfig):
            config = SimConfig.from_settings(config)
        for k, v in overrides.items():
            if not hasattr(config, k):
                raise TypeError(f"SimConfig has no field {k!r}")
            setattr(config, k, v)
        self.config = config
        self.keys = {k.key: k for k in config.keys}
        self.upstream: UpstreamFeed | None = None
        if config.paper:
            insts = config.instruments or fetch_instruments(config.upstream_rest_url, config.inst_ids)
            self.exchange: Exchange = PaperExchange(insts, config.seed, config.clock, config.initial_usdt)
        else:
            self.exchange = Exchange(config.instruments, config.seed, config.clock, config.initial_usdt)
        self.exchange.history = MarketHistory(self.exchange, max_trades=config.history_trades)
        if config.history_backfill_s > 0:
            self.exchange.history.backfill(config.history_backfill_s)
        if config.price_limit_pct:
            self.exchange.band_pct = Decimal(str(config.price_limit_pct))
        self._funding_period = self._period(self.exchange.now())
        self.market = SyntheticMarket(self.exchange, config.seed)
        self.market_running = config.tick_interval_ms > 0 and not config.paper
        if isinstance(self.exchange, PaperExchange):
            self.upstream = UpstreamFeed(self.exchange, config.upstream_ws_url)
        self.faults = Faults(rng=random.Random(config.seed))
        self.faults.update(config.faults)
        self.limiter = RateLimiter(config.rate_limit_scale, config.rate_limits)
        self.hub = WsHub(self)
        self.exchange.add_listener(self.hub.on_push)
        self.exchange.set_wants(self.hub.wants)
        self.skew_s = 0.0  # added to the server's wall clock for auth checks (tests of 50102)
        self.port = config.port
        self.cert_file: str | None = None
        self.requests = 0
        # Optional bench/test hook: called with (path, raw body, monotonic_ns at receipt) per REST request.
        self.on_request: Callable[[str, bytes, int], None] | None = None
        # The same for WebSocket frames: (ws kind, frame text, monotonic_ns when the frame was read), so a
        # WS order op and a REST order are stamped at the same point (bench/bench_vs_nautilus.py).
        self.on_ws_message: Callable[[str, str, int], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    # -- addresses -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.config.tls else 'http'}://{self.config.host}:{self.port}"

    def ws_url(self, kind: str = "public") -> str:
        return f"{'wss' if self.config.tls else 'ws'}://{self.config.host}:{self.port}/ws/v5/{kind}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> SimServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = _new_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_async())
            except BaseException as exc:  # reported to start()'s caller
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._stop_async())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"athena-sim-{self.config.port}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("simulator did not start in time")
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start_async(self) -> None:
        ssl_ctx = None
        if self.config.tls:
            from athena.sim.tls import make_cert, server_context

            cert, key = make_cert()
            self.cert_file = str(cert)
            ssl_ctx = server_context(cert, key)
        self._runner = web.AppRunner(
            self.build_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.config.host, self.config.port, ssl_context=ssl_ctx, reuse_address=True
        )
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._tasks = [
            asyncio.ensure_future(c)
            for c in (self._market_loop(), self._timer_loop(), self.hub.idle_loop(self.config.idle_timeout_s))
        ]
        if self.upstream is not None:
            self._tasks.append(asyncio.ensure_future(self.upstream.run()))

    async def _stop_async(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.hub.drop_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _market_loop(self) -> None:
        while True:
            if not (self.market_running and self.config.tick_interval_ms > 0):
                await asyncio.sleep(0.05)  # stepping is off: look again later, do not spin every 1 ms
                continue
            await asyncio.sleep(self.config.tick_interval_ms / 1000)
            if self.market_running and self.config.tick_interval_ms > 0:
                self.market.step()

    async def _timer_loop(self) -> None:
        last_funding = time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            self.exchange.poll()
            self.exchange.keepalive_books(int(self.config.books_keepalive_s * 1000))
            if time.monotonic() - last_funding >= self.config.funding_push_s:
                last_funding = time.monotonic()
                self.exchange.push_funding()
            self._settle_funding_when_due()

    def _period(self, now_ms: int) -> int:
        every_ms = int(self.config.funding_interval_s * 1000)
        return now_ms // every_ms if every_ms > 0 else 0

    def reset_funding_timer(self) -> None:
        """The funding interval changed: the next settlement is at the next multiple of the new one."""
        self._funding_period = self._period(self.exchange.now())

    def _settle_funding_when_due(self) -> None:
        """Funding settles when the engine clock enters a new interval (OKX: every 8 h at fixed times); a
        paper venue settles at the upstream's own fundingTime and rate instead."""
        if isinstance(self.exchange, PaperExchange):
            self.exchange.settle_due_funding()
            return
        if self.config.funding_interval_s <= 0:
            return
        period = self._period(self.exchange.now())
        if period > self._funding_period:
            self._funding_period = period
            self.exchange.settle_funding()

    def now_ms(self) -> int:
        """The server's wall clock in ms, shifted by the /sim/skew admin setting."""
        return int((time.time() + self.skew_s) * 1000)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run fn(*args) on the server's loop thread (the Exchange is single-threaded) and return its
        result."""
        if self._loop is None:
            return fn(*args)

        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    # -- app -------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("*", "/api/v5/{tail:.*}", self._api)
        app.router.add_get("/ws/v5/{kind}", self.hub.handle)
        app.router.add_route("*", "/sim/{tail:.*}", self._admin)
        return app

    def place(self, body: dict[str, Any]) -> dict[str, Any]:
        """Place one order, honouring the reject-next-orders fault."""
        if self.faults.reject_orders > 0:
            self.faults.reject_orders -= 1
            self.faults.fired["reject_orders"] += 1
            code = self.faults.reject_code
            return {
                "clOrdId": text(body, "clOrdId"),
                "ordId": "",
                "tag": text(body, "tag"),
                "ts": str(self.exchange.now()),
                "sCode": code,
                "sMsg": msg(code),
                "subCode": "",
            }
        return self.exchange.place_order(body)

    async def _api(self, request: web.Request) -> web.Response:
        recv_ns = time.monotonic_ns()
        self.requests += 1
        in_time = str(time.time_ns() // 1000)
        path = request.path
        route = find_route(request.method, path)
        if route is None:
            return _resp(404, "404", "Not Found", [])
        if isinstance(route, str):
            return _resp(405, "50115", msg("50115"), [])
        raw = await request.read()
        if self.on_request is not None:
            self.on_request(path, raw, recv_ns)
        f = self.faults
        if f.rest_down():  # the whole REST endpoint is down: a load balancer answers, nothing is processed
            return web.Response(
                status=503, text="503 Service Temporarily Unavailable", content_type="text/html"
            )
        if f.rest_rate_limit.fire(path, f.rng):
            f.fired["rest_rate_limit"] += 1
            return _resp(429, "50011", msg("50011"), [])
        if f.rest_5xx.fire(path, f.rng):
            code = f.draw_code(f.rest_5xx_code)
            f.fired["rest_5xx"] += 1
            f.fired[f"rest_5xx_{code}"] += 1
            if f.rest_5xx_execute or (
                f.rest_5xx_execute_rate > 0 and f.rng.random() < f.rest_5xx_execute_rate
            ):
                f.fired["rest_5xx_executed"] += 1
                await self._process(request, route, raw, in_time)
            return _resp(503, code, msg(code), [])
        if route.trade and path in BATCH_PATHS and f.batch_partial.fire(path, f.rng):
            f.fired["batch_partial"] += 1
            return await self._partial_batch(request, route, raw, in_time)
        if route.trade and route.method == "POST" and f.rest_scode.fire(path, f.rng):
            f.fired["rest_scode"] += 1
            if f.rest_scode_execute:
                await self._process(request, route, raw, in_time)
            return _scode_reply(raw, f.rest_scode_code, str(self.exchange.now()))
        if f.rest_timeout.fire(path, f.rng):
            f.fired["rest_timeout"] += 1
            await asyncio.sleep(f.rest_timeout_hold_s)  # the client gives up; the order still happens
        return await self._process(request, route, raw, in_time)

    async def _partial_batch(
        self, request: web.Request, route: Route, raw: bytes, in_time: str
    ) -> web.Response:
        """The batch_partial fault: some items refused with a per-item sCode and not processed, the rest
        processed as usual; one answer with every item in its place."""
        f = self.faults
        try:
            items = orjson.loads(raw)
        except orjson.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not items:
            return await self._process(request, route, raw, in_time)
        failed = {i for i in range(len(items)) if f.rng.random() < 0.5} or {f.rng.randrange(len(items))}
        answers: list[Any] = []
        if len(failed) < len(items):
            resp = await self._process(request, route, raw, in_time, keep=lambda i: i not in failed)
            env = orjson.loads(resp.body) if isinstance(resp.body, bytes) else {}
            if str(env.get("code")) not in ("0", "1", "2"):
                return resp  # refused whole (auth, expTime, a bad parameter): as it is
            answers = list(env.get("data") or [])
        out: list[Any] = []
        ts = str(self.exchange.now())
        for i, it in enumerate(items):
            if i in failed:
                code = f.draw_code(f.batch_partial_code)
                f.fired[f"batch_partial_{code}"] += 1
                ids = (
                    {k: str(it.get(k) or "") for k in ("clOrdId", "ordId", "algoClOrdId", "algoId", "tag")}
                    if isinstance(it, dict)
                    else {}
                )
                out.append({**ids, "ts": ts, "sCode": code, "sMsg": msg(code), "subCode": ""})
            else:
                out.append(answers.pop(0) if answers else {"sCode": "50026", "sMsg": msg("50026")})
        bad = sum(1 for a in out if str(a.get("sCode", "0")) != "0")
        code = "0" if bad == 0 else "1" if bad == len(out) else "2"
        return _resp(
            200,
            code,
            msg(code) if code != "0" else "",
            out,
            {"inTime": in_time, "outTime": str(time.time_ns() // 1000)},
        )

    async def _process(
        self,
        request: web.Request,
        route: Route,
        raw: bytes,
        in_time: str,
        keep: Callable[[int], bool] | None = None,
    ) -> web.Response:
        if route.private:
            now_ms = self.now_ms()
            err = check_rest(
                request.headers,
                request.method,
                request.raw_path,
                raw,
                self.keys,
                now_ms,
                int(self.config.max_skew_s * 1000),
            )
            if err:
                return _resp(401, err, msg(err), [])
        params = dict(request.query)
        body: Any = None
        if request.method == "POST":
            if not raw.strip():
                return _resp(400, "50000", msg("50000"), [])
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return _resp(400, "50002", msg("50002"), [])
            if keep is not None and isinstance(body, list):  # the batch_partial fault: these items only
                body = [b for i, b in enumerate(body) if keep(i)]
        if not self._rate_ok(request.path, route, params, body):
            return _resp(429, "50011", msg("50011"), [])
        if route.method == "POST" and request.path in EXP_TIME_PATHS:
            # checked when processing starts (after any fault hold): a late request is not processed at all
            err = exp_time_error(request.headers.get("expTime"), self.now_ms())
            if err:
                return _resp(400 if err == "51000" else 401, err, msg(err, "expTime"), [])
        extra = None
        try:
            code, message, data = route.handler(self, params, body)
        except BadParam as e:
            code, message, data = e.code, msg(e.code, e.name), []
            status = 400 if e.code in HTTP400 else 200
            return _resp(status, code, message, data)
        except Exception:
            log.exception("sim: %s failed", request.path)
            return _resp(500, "50026", msg("50026"), [])
        if route.trade:
            extra = {"inTime": in_time, "outTime": str(time.time_ns() // 1000)}
            if self.faults.push_before_ack:
                self.faults.fired["push_before_ack"] += 1
                await self.hub.drain()
        return _resp(200, code, message, data, extra)

    def _rate_ok(self, path: str, route: Route, params: dict[str, str], body: Any) -> bool:
        if not self.limiter.enabled:
            return True
        items = body if isinstance(body, list) else [body if isinstance(body, dict) else params]
        if route.per_inst or path.endswith(("batch-orders", "cancel-batch-orders", "amend-batch-orders")):
            by_inst: dict[str, int] = {}
            for it in items:
                k = str(it.get("instId") or it.get("instIdCode") or "")
                by_inst[k] = by_inst.get(k, 0) + 1
            if path.endswith("/batch-orders") and len(items) == 1:  # a batch of one counts as a single order
                return self.limiter.allow(f"{route.method}{path[:-13]}/order", next(iter(by_inst)), 60, 2.0)
            return all(
                self.limiter.allow(route.method + path, k, route.limit, route.window_s, n)
                for k, n in by_inst.items()
            )
        return self.limiter.allow(route.method + path, "", route.limit, route.window_s)

    # -- admin -----------------------------------------------------------------------------
    async def _admin(self, request: web.Request) -> web.Response:
        tail = request.match_info["tail"].strip("/")
        body: dict[str, Any] = {}
        if request.method == "POST" and request.can_read_body:
            raw = await request.read()
            if raw.strip():
                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    return _resp(400, "50002", msg("50002"), [])
        ex = self.exchange
        if self.upstream is not None and tail in PAPER_REFUSED:
            return _resp(
                400,
                "51000",
                f"bad admin request: /sim/{tail} moves the synthetic market, and this paper "
                "venue's market comes from its upstream",
                [],
            )
        try:
            if tail == "state":
                data: Any = ex.state()
                if self.upstream is not None:
                    data["paper"]["upstream"] = self.upstream.view()
            elif tail == "faults" and request.method == "GET":
                data = self.faults.view()
            elif tail == "faults":
                self.faults.update(body)
                if float(body.get("ws_down_s") or 0) > 0:  # down: the open connections go too
                    await self.hub.drop_all()
                data = self.faults.view()
            elif tail == "faults/clear":
                self.faults = Faults(rng=self.faults.rng, fired=self.faults.fired)
                data = self.faults.view()
            elif tail == "price":
                inst_id = str(body["instId"])
                mark = Decimal(str(body["mark"])) if body.get("mark") not in (None, "") else None
                if body.get("px") not in (None, ""):
                    ex.set_price(inst_id, Decimal(str(body["px"])), mark)
                else:
                    ex.set_mark(inst_id, mark)
                data = ex.state()["markets"][inst_id]
            elif tail == "step":
                for _ in range(max(1, min(int(body.get("n", 1)), 100_000))):
                    self.market.step()
                data = {"steps": self.market.steps}
            elif tail == "market":
                if "running" in body:
                    self.market_running = bool(body["running"])
                if "tick_interval_ms" in body:
                    self.config.tick_interval_ms = int(body["tick_interval_ms"])
                data = {"running": self.market_running, "tick_interval_ms": self.config.tick_interval_ms}
            elif tail == "ws/drop":
                data = {"dropped": await self.hub.drop_all()}
                self.faults.fired["ws_drop"] += 1
            elif tail == "poll":
                ex.poll()
                data = {}
            elif tail == "skew":
                self.skew_s = float(body.get("seconds", 0))
                data = {"skew_s": self.skew_s}
            elif tail == "rate-limits":
                self.limiter.enabled = bool(body.get("enabled", True))
                data = {"enabled": self.limiter.enabled}
            elif tail == "stats":
                data = {
                    "requests": self.requests,
                    "pushes": self.hub.pushes,
                    "connections": len(self.hub.conns),
                    "conns": self.hub.view(),
                }
            else:
                data = venue_admin(self, tail, body, request.method)
                if data is None:
                    return _resp(404, "404", "Not Found", [])
        except BadParam as exc:
            return _resp(400, exc.code, f"bad admin request: {exc.name}", [])
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            return _resp(400, "51000", f"bad admin request: {exc}", [])
        return _resp(200, "0", "", [data])
