"""A tiny OKX-like WebSocket server (aiohttp, own thread) for testing the connection base.

It records what each connection sent, answers "ping" with "pong", acks subscriptions and logins,
and can push frames, drop every connection, or stall (go silent).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import WSMsgType, web


class Conn:
    def __init__(self, ws: web.WebSocketResponse, path: str) -> None:
        self.ws = ws
        self.path = path
        self.received: list[str] = []

    def ops(self, op: str) -> list[dict[str, Any]]:
        out = []
        for text in self.received:
            if text.startswith("{"):
                msg = json.loads(text)
                if msg.get("op") == op:
                    out.append(msg)
        return out

    def sub_args(self, op: str = "subscribe") -> list[dict[str, Any]]:
        return [a for m in self.ops(op) for a in m["args"]]


class FakeOkxWs:
    def __init__(self) -> None:
        self.conns: list[Conn] = []
        self.answer_pings = True
        self.stalled = False
        self.login_ok = True
        self.connect_attempts = 0
        self.refuse = False
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> FakeOkxWs:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws/v5/{kind}", self._handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        async def _stop() -> None:
            for c in list(self.conns):
                await c.ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def url(self, kind: str = "public") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/v5/{kind}"

    # -- control --------------------------------------------------------------------------------
    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    def push(self, obj: Any, conn: Conn | None = None) -> None:
        text = obj if isinstance(obj, str) else json.dumps(obj)

        async def _push() -> None:
            for c in [conn] if conn else list(self.conns):
                if not c.ws.closed:
                    await c.ws.send_str(text)

        self._run(_push())

    def drop(self) -> None:
        """Kill every connection without a close handshake."""

        async def _drop() -> None:
            for c in list(self.conns):
                transport = c.ws._req.transport if c.ws._req else None  # type: ignore[attr-defined]
                if transport is not None:
                    transport.abort()

        self._run(_drop())

    @property
    def open_conns(self) -> list[Conn]:
        return [c for c in self.conns if not c.ws.closed]

    # -- protocol -------------------------------------------------------------------------------
    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        self.connect_attempts += 1
        ws = web.WebSocketResponse(autoping=True)
        if self.refuse:
            raise web.HTTPServiceUnavailable()
        await ws.prepare(request)
        conn = Conn(ws, request.path)
        self.conns.append(conn)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            conn.received.append(msg.data)
            if self.stalled:
                continue
            if msg.data == "ping":
                if self.answer_pings:
                    await ws.send_str("pong")
                continue
            req = json.loads(msg.data)
            if req.get("op") == "login":
                if self.login_ok:
                    await ws.send_str(json.dumps({"event": "login", "code": "0", "msg": "", "connId": "c1"}))
                else:
                    await ws.send_str(
                        json.dumps(
                            {"event": "error", "code": "60009", "msg": "Login failed.", "connId": "c1"}
                        )
                    )
            elif req.get("op") in ("subscribe", "unsubscribe"):
                for arg in req["args"]:
                    await ws.send_str(json.dumps({"event": req["op"], "arg": arg, "connId": "c1"}))
        return ws
