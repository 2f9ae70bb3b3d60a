"""WebSocket side of the sim: /ws/v5/{public,private,business} connections, subscriptions and fan-out.

Each connection has an outbox drained by one writer task, so a push is serialized once per fan-out
(the same bytes go to every subscriber) and the engine (which emits synchronously) never waits on a
socket. The writer sends everything queued in one transport write (unmasked server text frames built
here), not one write (and one send syscall) per frame; on a connection that negotiated
permessage-deflate it falls back to aiohttp's per-frame writer. Faults (stall, delay, duplicate,
reorder) act in the writer on data pushes only; acks and pongs always flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from athena.sim.auth import check_ws_login, exp_time_error
from athena.sim.errors import msg
from athena.sim.rest import items_result
from athena.sim.util import BadParam

if TYPE_CHECKING:
    from athena.sim.server import SimServer

PUBLIC = {"tickers", "books5", "bbo-tbt", "books", "trades", "mark-price", "funding-rate"}
PRIVATE = {"orders", "positions", "account"}
# algo-advance carries trailing / iceberg / TWAP algos, which the sim does not offer: acked, never pushed.
BUSINESS = {"orders-algo", "algo-advance"}
INSTRUMENTS = "instruments"  # public, per instType (no instId)
INST_TYPES = {"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"}
ALLOWED = {"public": PUBLIC | {INSTRUMENTS}, "private": PRIVATE | BUSINESS, "business": BUSINESS}
OPS = {"order", "batch-orders", "cancel-order", "batch-cancel-orders", "amend-order", "batch-amend-orders"}
# each op's REST twin: the path a fault rule (Faults.ws_op_*) matches
REST_TWIN = {
    "order": "/api/v5/trade/order",
    "batch-orders": "/api/v5/trade/batch-orders",
    "cancel-order": "/api/v5/trade/cancel-order",
    "batch-cancel-orders": "/api/v5/trade/cancel-batch-orders",
    "amend-order": "/api/v5/trade/amend-order",
    "batch-amend-orders": "/api/v5/trade/amend-batch-orders",
}


# The writer pauses a connection whose kernel and transport buffers hold this much unsent data (a slow
# reader), so its outbox grows instead of the transport's buffer; it resumes below WRITE_LOW.
WRITE_HIGH, WRITE_LOW = 4 << 20, 1 << 20
_H1, _H2, _H3 = struct.Struct("!BB").pack, struct.Struct("!BBH").pack, struct.Struct("!BBQ").pack


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def _frame_header(n: int) -> bytes:
    """RFC 6455 header of an unmasked, unfragmented text frame (FIN + opcode 1) with an n-byte payload."""
    if n < 126:
        return _H1(0x81, n)
    if n < 65536:
        return _H2(0x81, 126, n)
    return _H3(0x81, 127, n)


class Conn:
    __slots__ = (
        "closed",
        "conn_id",
        "kind",
        "last_tx",
        "logged_in",
        "logins",
        "out",
        "request",
        "sending",
        "sub_reqs",
        "subs",
        "wake",
        "ws",
    )

    def __init__(self, ws: web.WebSocketResponse, kind: str, request: web.Request) -> None:
        self.ws, self.kind, self.request = ws, kind, request
        self.conn_id = secrets.token_hex(4)
        self.logged_in = False
        self.logins = 0  # successful logins (admin stats)
        self.sub_reqs: dict[
            str, int
        ] = {}  # subscribe requests per arg key, duplicates included (admin stats)
        self.subs: dict[str, dict[str, Any]] = {}  # key -> arg
        self.out: deque[tuple[bytes, bool]] = deque()  # (utf-8 JSON or "pong", is_data)
        self.wake = asyncio.Event()
        self.last_tx = time.monotonic()
        self.sending = False
        self.closed = False

    def send(self, text: bytes, data: bool = False) -> None:
        if not self.closed:
            self.out.append((text, data))
            self.wake.set()


def _key(arg: dict[str, Any]) -> str:
    return "|".join(f"{k}={arg[k]}" for k in sorted(arg))


class WsHub:
    def __init__(self, srv: SimServer) -> None:
        self.srv = srv
        self.conns: set[Conn] = set()
        self.pub: dict[tuple[str, str], set[Conn]] = {}
        self.priv: dict[str, dict[Conn, list[dict[str, Any]]]] = {}
        self.pushes = 0  # data frames handed to sockets
        self.subscribed: Counter[str] = Counter()  # accepted subscriptions per channel, ever (tests, stats)
        self._keys: dict[
            int, str
        ] = {}  # id(private sub arg) -> its _key, computed once at subscribe, not per push
        self._tasks: set[asyncio.Future[Any]] = set()

    # -- engine side -----------------------------------------------------------------------
    def wants(self, channel: str, inst_id: str) -> bool:
        if channel in PUBLIC:
            return bool(self.pub.get((channel, inst_id)))
        return bool(self.priv.get(channel))

    def on_push(self, channel: str, arg: dict[str, Any], data: list[dict[str, Any]]) -> None:
        if channel in PUBLIC:
            conns = self.pub.get((channel, arg.get("instId", "")))
            if not conns:
                return
            m: dict[str, Any] = {"arg": arg, "data": data}
            if channel == "books":
                f = self.srv.faults
                if f.books_gap > 0 and data and data[0].get("seqId") != data[0].get("prevSeqId"):
                    f.books_gap -= 1  # lost update: the next one's prevSeqId does not chain
                    return
                m = {"arg": arg, "action": "update", "data": data}
            text = _dumps(m)
            for c in conns:
                c.send(text, True)
            return
        subs = self.priv.get(channel)
        if not subs:
            return
        cache: dict[str, bytes] = {}
        for c, args in subs.items():
            for sub in args:
                if not _matches(sub, arg, data):
                    continue
                k = self._keys.get(id(sub)) or _key(sub)
                frame = cache.get(k)
                if frame is None:
                    out_arg = {**sub, "uid": self.srv.exchange.uid}
                    m = {"arg": out_arg, "data": data}
                    if channel == "positions":
                        m = {"arg": out_arg, "eventType": "event_update", "data": data}
                    frame = cache[k] = _dumps(m)
                c.send(frame, True)

    # -- connection side -------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        if kind not in ALLOWED:
            raise web.HTTPNotFound()
        if self.srv.faults.ws_down():  # the ws_down fault: the WebSocket endpoint refuses connections
            raise web.HTTPServiceUnavailable()
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        c = Conn(ws, kind, request)
        self.conns.add(c)
        writer = asyncio.ensure_future(self._writer(c))
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    hook = self.srv.on_ws_message
                    if hook is not None:
                        hook(kind, frame.data, time.monotonic_ns())
                    self._on_text(c, frame.data)
                elif frame.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._drop(c)
            writer.cancel()
        return ws

    def _drop(self, c: Conn) -> None:
        c.closed = True
        self.conns.discard(c)
        for key in list(c.subs):
            self._unsub(c, c.subs[key])

    async def _writer(self, c: Conn) -> None:
        tr = c.request.transport
        raw = tr is not None and not c.ws.compress  # frames written here; else aiohttp's writer (deflate)
        while not c.closed:
            faults = self.srv.faults  # each round: /sim/faults/clear replaces the object
            if not c.out:
                c.wake.clear()
                await c.wake.wait()
                continue
            stalled = faults.stall_until > time.monotonic()
            if stalled or faults.push_delay_s:
                ctrl = [t for t, d in c.out if not d]
                if ctrl and not (stalled and faults.stall_all):  # acks and pongs are not held back
                    keep = deque(x for x in c.out if x[1])
                    c.out.clear()
                    c.out.extend(keep)
                    for t in ctrl:
                        await self._send(c, t)
                    continue
                if stalled:
                    await asyncio.sleep(min(0.05, faults.stall_until - time.monotonic()))
                    continue
                await asyncio.sleep(faults.push_delay_s)
            batch = list(c.out)
            c.out.clear()
            c.sending = True
            try:
                self.pushes += sum(1 for _, d in batch if d)  # injected duplicates are not counted
                if faults.reorder_pushes or faults.duplicate_pushes:
                    batch = self._fault_batch(batch, faults)
                if raw and tr is not None:
                    if tr.is_closing():
                        c.closed = True
                        break
                    parts: list[bytes] = []
                    for text, _ in batch:
                        parts.append(_frame_header(len(text)))
                        parts.append(text)
                    tr.write(b"".join(parts))  # one write for the lot: one send syscall, not one per frame
                    c.last_tx = time.monotonic()
                    if tr.get_write_buffer_size() > WRITE_HIGH:
                        while not tr.is_closing() and tr.get_write_buffer_size() > WRITE_LOW:
                            await asyncio.sleep(0.002)
                else:
                    for text, _ in batch:
                        await self._send(c, text)
            finally:
                c.sending = False

    @staticmethod
    def _fault_batch(batch: list[tuple[bytes, bool]], faults: Any) -> list[tuple[bytes, bool]]:
        """Apply the reorder / duplicate push faults to a batch about to be sent."""
        rng = faults.rng
        if faults.reorder_pushes and len(batch) >= 2:
            for i in range(len(batch) - 1):
                if batch[i][1] and batch[i + 1][1] and rng.random() < faults.reorder_pushes:
                    batch[i], batch[i + 1] = batch[i + 1], batch[i]
                    faults.fired["reorder_pushes"] += 1
        if not faults.duplicate_pushes:
            return batch
        out: list[tuple[bytes, bool]] = []
        for item in batch:
            out.append(item)
            if item[1] and rng.random() < faults.duplicate_pushes:
                faults.fired["duplicate_pushes"] += 1
                out.append(item)
        return out

    async def _send(self, c: Conn, text: bytes) -> None:
        try:
            await c.ws.send_frame(text, WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            c.closed = True
        c.last_tx = time.monotonic()

    def _event(self, c: Conn, event: str, **kw: Any) -> None:
        c.send(_dumps({"event": event, **kw, "connId": c.conn_id}))

    def _error(self, c: Conn, code: str, text: str = "", req_id: str | None = None) -> None:
        extra = {"id": req_id} if req_id else {}
        c.send(
            _dumps(
                {
                    **extra,
                    "event": "error",
                    "code": code,
                    "msg": msg(code, text) if text else msg(code),
                    "connId": c.conn_id,
                }
            )
        )

    def _on_text(self, c: Conn, raw: str) -> None:
        if raw == "ping":
            c.send(b"pong")
            return
        try:
            req = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._error(c, "60012", raw[:200])
            return
        if not isinstance(req, dict):
            self._error(c, "60012", raw[:200])
            return
        op, req_id = req.get("op"), req.get("id")
        args = req.get("args")
        if op in ("subscribe", "unsubscribe"):
            if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
                self._error(c, "60012", raw[:200], req_id)
                return
            for a in args:
                (self._subscribe if op == "subscribe" else self._unsubscribe)(c, a, req_id)
        elif op == "login":
            self._login(c, args, req_id)
        elif op in OPS:
            self._trade_op(c, req, op, args, req_id)
        else:
            self._error(c, "60019", str(op), req_id)

    def _login(self, c: Conn, args: Any, req_id: str | None) -> None:
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            self._error(c, "60012", "login", req_id)
            return
        code = check_ws_login(args[0], self.srv.keys, time.time() + self.srv.skew_s)
        if code:
            self._error(c, code, req_id=req_id)
            return
        c.logged_in = True
        c.logins += 1
        self._event(c, "login", code="0", msg="")

    def _subscribe(self, c: Conn, arg: dict[str, Any], req_id: str | None) -> None:
        ch = arg.get("channel")
        ex = self.srv.exchange
        extra = {"id": req_id} if req_id else {}
        if not isinstance(ch, str) or ch not in ALLOWED[c.kind]:
            self._error(c, "60018", _dumps(arg).decode(), req_id)
            return
        if (ch in PRIVATE or ch in BUSINESS) and not c.logged_in:
            self._error(c, "60011", req_id=req_id)
            return
        if ch == INSTRUMENTS:
            self._subscribe_instruments(c, arg, req_id)
            return
        inst_id = arg.get("instId", "")
        if ch in PUBLIC and inst_id not in ex.insts:
            self._error(c, "60018", _dumps(arg).decode(), req_id)
            return
        if ch not in PUBLIC and arg.get("instType", "ANY") not in ("SWAP", "ANY") and ch != "account":
            self._error(c, "60018", _dumps(arg).decode(), req_id)
            return
        c.send(_dumps({**extra, "event": "subscribe", "arg": arg, "connId": c.conn_id}))
        self.subscribed[ch] += 1
        key = _key(arg)
        c.sub_reqs[key] = c.sub_reqs.get(key, 0) + 1
        if key in c.subs:
            return
        c.subs[key] = arg
        if ch in PUBLIC:
            self.pub.setdefault((ch, inst_id), set()).add(c)
            self._initial_public(c, ch, inst_id, arg)
        else:
            self.priv.setdefault(ch, {}).setdefault(c, []).append(arg)
            self._keys[id(arg)] = key
            n = sum(1 for x in self.priv[ch] if x is not None)
            self._event(c, "channel-conn-count", channel=ch, connCount=str(n))
            self._initial_private(c, ch, arg)

    def _subscribe_instruments(self, c: Conn, arg: dict[str, Any], req_id: str | None) -> None:
        """OKX pushes the full list of the instType once on subscribe, then only on a change (the sim's
        instruments never change). Other instTypes are listed empty, as over REST: acked, nothing pushed."""
        inst_type = arg.get("instType")
        if inst_type not in INST_TYPES:
            self._error(c, "60018", _dumps(arg).decode(), req_id)
            return
        extra = {"id": req_id} if req_id else {}
        c.send(_dumps({**extra, "event": "subscribe", "arg": arg, "connId": c.conn_id}))
        self.subscribed[INSTRUMENTS] += 1
        key = _key(arg)
        c.sub_reqs[key] = c.sub_reqs.get(key, 0) + 1
        if key in c.subs:
            return
        c.subs[key] = arg
        if inst_type == "SWAP":
            rows = [si.row for si in self.srv.exchange.insts.values()]
            c.send(_dumps({"arg": arg, "data": rows}), True)

    def _initial_public(self, c: Conn, ch: str, inst_id: str, arg: dict[str, Any]) -> None:
        ex = self.srv.exchange
        if ch == "books":
            c.send(_dumps({"arg": arg, "action": "snapshot", "data": [ex.books_snapshot(inst_id)]}), True)
        elif ch == "tickers":
            c.send(_dumps({"arg": arg, "data": [ex.ticker_json(inst_id)]}), True)
        elif ch in ("books5", "bbo-tbt"):
            b = ex.books_json(inst_id, 5 if ch == "books5" else 1)
            d = {"asks": b["asks"], "bids": b["bids"], "ts": b["ts"], "seqId": ex.markets[inst_id].seq}
            if ch == "books5":
                d["instId"] = inst_id
            c.send(_dumps({"arg": arg, "data": [d]}), True)
        elif ch == "mark-price":
            c.send(_dumps({"arg": arg, "data": [ex.mark_json(inst_id)]}), True)
        elif ch == "funding-rate":
            c.send(_dumps({"arg": arg, "data": [ex.funding_json(inst_id)]}), True)

    def _initial_private(self, c: Conn, ch: str, arg: dict[str, Any]) -> None:
        ex = self.srv.exchange
        out_arg = {**arg, "uid": ex.uid}
        if ch == "positions":
            q = {k: v for k, v in arg.items() if k in ("instId", "instType", "instFamily")}
            rows = [r for r in ex.positions_view({**q, "instId": ""}) if _matches(arg, r, [r])]
            c.send(
                _dumps(
                    {"arg": out_arg, "eventType": "snapshot", "curPage": 1, "lastPage": True, "data": rows}
                ),
                True,
            )
        elif ch == "account":
            c.send(
                _dumps(
                    {
                        "arg": out_arg,
                        "eventType": "snapshot",
                        "curPage": 1,
                        "lastPage": True,
                        "data": [ex.balance()],
                    }
                ),
                True,
            )

    def _unsubscribe(self, c: Conn, arg: dict[str, Any], req_id: str | None) -> None:
        extra = {"id": req_id} if req_id else {}
        key = _key(arg)
        if key in c.subs:
            self._unsub(c, c.subs.pop(key))
        c.send(_dumps({**extra, "event": "unsubscribe", "arg": arg, "connId": c.conn_id}))

    def _unsub(self, c: Conn, arg: dict[str, Any]) -> None:
        ch = arg.get("channel", "")
        if ch == INSTRUMENTS:
            return  # nothing registered: the list is pushed once, at subscribe
        if ch in PUBLIC:
            s = self.pub.get((ch, arg.get("instId", "")))
            if s:
                s.discard(c)
        else:
            subs = self.priv.get(ch, {})
            lst = subs.get(c, [])
            if arg in lst:
                lst.remove(arg)
            self._keys.pop(id(arg), None)
            if not lst:
                subs.pop(c, None)

    def _trade_op(self, c: Conn, req: dict[str, Any], op: str, args: Any, req_id: str | None) -> None:
        """One WS trade op. Every reply is {id, op, code, msg, data, inTime, outTime} (OKX's documented
        shape); a refused op (URL, login, args, expTime) has empty data and changed nothing."""
        in_time = str(time.time_ns() // 1000)
        base = {"id": req_id or "", "op": op}

        def refuse(code: str, *fmt: str) -> None:
            c.send(
                _dumps(
                    {
                        **base,
                        "code": code,
                        "msg": msg(code, *fmt),
                        "data": [],
                        "inTime": in_time,
                        "outTime": str(time.time_ns() // 1000),
                    }
                )
            )

        if c.kind != "private":
            refuse("60028")
            return
        if not c.logged_in:
            refuse("60011")
            return
        batch = op.startswith("batch")
        if (
            not isinstance(args, list)
            or not args
            or len(args) > (20 if batch else 1)
            or not all(isinstance(a, dict) for a in args)
        ):
            refuse("60013")
            return
        if op not in ("cancel-order", "batch-cancel-orders"):
            err = exp_time_error(req.get("expTime"), self.srv.now_ms())
            if err:  # OKX: a place/amend op past its expTime is not processed
                refuse(err, "expTime")
                return
        f = self.srv.faults
        twin = REST_TWIN[op]
        if f.ws_op_timeout.fire(twin, f.rng):
            f.fired["ws_op_timeout"] += 1
            if f.ws_op_timeout_execute:
                with contextlib.suppress(BadParam):
                    self._run_op(op, args)
            return  # no reply: the client cannot know whether it ran
        if f.ws_op_error.fire(twin, f.rng):
            f.fired["ws_op_error"] += 1
            if f.ws_op_error_execute:
                with contextlib.suppress(BadParam):
                    self._run_op(op, args)
            refuse(f.draw_code(f.ws_op_error_code))
            return
        mark = len(c.out)
        try:
            items = self._run_op(op, args)
        except BadParam as e:
            refuse(e.code, e.name)
            return
        code, _, data = items_result(items, batch=batch)
        # OKX's WS op replies carry an empty msg with code 1 / 2 (its docs' examples); REST says "All
        # operations failed" and so on.
        reply = _dumps(
            {
                **base,
                "code": code,
                "msg": "",
                "data": data,
                "inTime": in_time,
                "outTime": str(time.time_ns() // 1000),
            }
        )
        if self.srv.faults.push_before_ack or c.closed:
            c.send(reply)
        else:  # the op reply goes ahead of the pushes it caused
            c.out.insert(min(mark, len(c.out)), (reply, False))
            c.wake.set()

    def _run_op(self, op: str, args: list[dict[str, Any]]) -> list[Any]:
        ex = self.srv.exchange
        fn = {
            "order": self.srv.place,
            "batch-orders": self.srv.place,
            "cancel-order": ex.cancel_order,
            "batch-cancel-orders": ex.cancel_order,
            "amend-order": ex.amend_order,
            "batch-amend-orders": ex.amend_order,
        }[op]
        return [fn(a) for a in args]

    # -- housekeeping ----------------------------------------------------------------------
    async def idle_loop(self, idle_s: float) -> None:
        """OKX's 30 s rule: close connections that were sent nothing for idle_s (code 4004)."""
        while True:
            await asyncio.sleep(max(0.05, min(1.0, idle_s / 5)))
            now = time.monotonic()
            for c in list(self.conns):
                if not c.closed and not c.out and now - c.last_tx > idle_s:
                    c.closed = True
                    task = asyncio.ensure_future(c.ws.close(code=4004, message=b"No data received in 30s"))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    def view(self) -> list[dict[str, Any]]:
        """Open connections for /sim/stats: kind, logins and subscribe requests per channel key."""
        return [
            {
                "connId": c.conn_id,
                "kind": c.kind,
                "logins": c.logins,
                "subs": sorted(c.subs),
                "sub_requests": dict(c.sub_reqs),
            }
            for c in self.conns
            if not c.closed
        ]

    async def drain(self, timeout: float = 1.0) -> None:
        """Wait until every outbox is empty (push_before_ack fault)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(not c.out and not c.sending for c in self.conns if not c.closed):
                return
            await asyncio.sleep(0.001)

    def notice(self, close_after_s: float | None = None) -> int:
        """OKX's service-upgrade notice (64008) on every open connection; with close_after_s the sim then
        closes them that much later (code 1012), as OKX does about 60 s after the notice."""
        targets = [c for c in self.conns if not c.closed]
        for c in targets:
            self._event(c, "notice", code="64008", msg=msg("64008"))
        if close_after_s is not None:

            async def close_later() -> None:
                await asyncio.sleep(close_after_s)
                for c in targets:
                    if not c.closed:
                        c.closed = True
                        await c.ws.close(code=1012, message=b"service upgrade")

            task = asyncio.ensure_future(close_later())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(targets)

    async def drop_all(self) -> int:
        n = 0
        for c in list(self.conns):
            n += 1
            c.closed = True
            tr = c.request.transport
            if tr is not None:
                tr.abort()
            else:
                await c.ws.close(code=1011)
        return n


def _matches(sub: dict[str, Any], arg: dict[str, Any], data: list[dict[str, Any]]) -> bool:
    """Does a private subscription (instType/instFamily/instId/ccy filters) cover this push?"""
    it = sub.get("instType")
    if it not in (None, "", "ANY", "SWAP"):
        return False
    if sub.get("instId") and sub["instId"] != arg.get("instId"):
        return False
    if sub.get("instFamily") and sub["instFamily"] != arg.get("instFamily"):
        return False
    return not (sub.get("ccy") and sub["ccy"] != "USDT")
