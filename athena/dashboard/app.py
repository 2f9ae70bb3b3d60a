"""`athena dashboard`: the account on a web page, live, with the operator actions of the CLI.

aiohttp serves it (already the simulator's server: no second web stack), Server-Sent Events carry the
live view (one document per refresh, pushed; the browser's EventSource reconnects by itself), and the
page is plain HTML, CSS and a small script served from this package, its chart an inline SVG: it
works with no internet access and loads nothing from elsewhere (the Content-Security-Policy says so).

Bound to dashboard.host (127.0.0.1 by default); every page and request but /login, /healthz and the
static files needs a session (athena.dashboard.auth), every POST also the session's CSRF token.
Exit codes: 0 stopped, 2 configuration (no password, say), 3 Redis down or the port taken.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import ipaddress
import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from athena.config import Settings
from athena.dashboard.actions import ActionRequest, run_action
from athena.dashboard.auth import CSRF_HEADER, LOGIN_COOKIE, SESSION_COOKIE, Session, Sessions, same_token
from athena.dashboard.feed import Feed

log = logging.getLogger("athena.dashboard")

STATIC = Path(__file__).resolve().parent / "static"
KEEPALIVE_S = 15.0
FAILED_LOGIN_DELAY_S = 0.5  # serialised: at most two guesses a second
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer makes Chromium send `Origin: null` on a form POST
    "Cache-Control": "no-store",
}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}

SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", Sessions)
FEED = web.AppKey("feed", Feed)
ACTION_LOCK = web.AppKey("action_lock", asyncio.Lock)
LOGIN_LOCK = web.AppKey("login_lock", asyncio.Lock)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    # DNS rebinding: a page of another site whose name resolves to 127.0.0.1 sends its own Host
    if _is_loopback(settings.dashboard.host):
        name = (request.host or "").rsplit(":", 1)[0].strip("[]")
        if name not in LOOPBACK_NAMES:
            return web.Response(status=421, text="this dashboard answers on its loopback address only")
    if request.method == "POST":
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return _refused(request, 403, "refused: the request came from another site")
    response = await handler(request)
    if not response.prepared:  # a stream (/events) sent its own
        response.headers.update(SECURITY_HEADERS)
    return response


def _refused(request: web.Request, status: int, message: str) -> web.Response:
    if request.path.startswith("/api/") or request.path == "/events":
        return web.json_response({"ok": False, "error": message}, status=status)
    return web.Response(status=status, text=message)


def _session(request: web.Request) -> Session | None:
    return request.app[SESSIONS].get(request.cookies.get(SESSION_COOKIE))


def _cookie(response: web.StreamResponse, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, httponly=True, samesite="Strict", path="/", max_age=max_age)


# -- pages ----------------------------------------------------------------------------------------------
def _page(name: str, **values: str) -> str:
    text = (STATIC / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return text


async def index(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    if session is None:
        raise web.HTTPSeeOther("/login")
    s = request.app[SETTINGS]
    return web.Response(
        text=_page("index.html", csrf=session.csrf, account=s.account, mode=s.mode, env=s.env),
        content_type="text/html",
    )


async def login_form(request: web.Request, error: str = "", status: int = 200) -> web.StreamResponse:
    token = secrets.token_urlsafe(24)
    response = web.Response(
        text=_page("login.html", token=token, error=error, account=request.app[SETTINGS].account),
        content_type="text/html",
        status=status,
    )
    _cookie(response, LOGIN_COOKIE, token, max_age=3600)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    if not same_token(request.cookies.get(LOGIN_COOKIE), str(form.get("token", ""))):
        return await login_form(request, "The login form expired: try again.", 403)
    sessions = request.app[SESSIONS]
    async with request.app[LOGIN_LOCK]:
        if not sessions.password_ok(str(form.get("password", ""))):
            await asyncio.sleep(FAILED_LOGIN_DELAY_S)
            log.warning("dashboard: a login failed (wrong password) from %s", request.remote)
            return await login_form(request, "Wrong password.", 401)
    session = sessions.start()
    log.info("dashboard: logged in from %s", request.remote)
    response = web.HTTPSeeOther("/")
    _cookie(
        response,
        SESSION_COOKIE,
        session.sid,
        max_age=int(request.app[SETTINGS].dashboard.session_hours * 3600),
    )
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    if session is not None and same_token(request.headers.get(CSRF_HEADER), session.csrf):
        request.app[SESSIONS].end(session.sid)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


async def favicon(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "favicon.svg", headers={"Content-Type": "image/svg+xml"})


# -- data -----------------------------------------------------------------------------------------------
async def state(request: web.Request) -> web.StreamResponse:
    if _session(request) is None:
        return _refused(request, 401, "not logged in: open the dashboard and log in")
    return web.Response(text=request.app[FEED].text, content_type="application/json")


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: the current document at once, then each new one."""
    if _session(request) is None:
        return _refused(request, 401, "not logged in: open the dashboard and log in")
    feed = request.app[FEED]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    response.headers.update(SECURITY_HEADERS)
    await response.prepare(request)
    seen = -1
    try:
        while _session(request) is not None:  # a logout ends the stream
            if feed.version > seen:
                seen = feed.version
                await response.write(f"data: {feed.text}\n\n".encode())
            else:
                await response.write(b": keep-alive\n\n")
            await feed.next(seen, KEEPALIVE_S)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def action(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    if session is None:
        return _refused(request, 401, "not logged in: open the dashboard and log in")
    if not same_token(request.headers.get(CSRF_HEADER), session.csrf):
        return _refused(request, 403, "refused: the request carries no valid CSRF token; reload the page")
    try:
        req = ActionRequest.parse(await request.json())
    except (ValueError, json.JSONDecodeError) as exc:
        return web.json_response({"ok": False, "error": f"bad request: {exc}"}, status=400)
    lock = request.app[ACTION_LOCK]
    if lock.locked():
        return web.json_response(
            {"ok": False, "error": "another action is still running: wait for it to finish"}, status=409
        )
    async with lock:
        log.info(
            "dashboard: %s%s requested from %s",
            req.action,
            f" {req.strategy}" if req.strategy else "",
            request.remote,
        )
        out = await asyncio.to_thread(run_action, request.app[SETTINGS], req)
        log.info("dashboard: %s: %s", req.action, out.get("message") or out.get("error"))
    await request.app[FEED].refresh()  # the page sees the action's effect at once
    return web.json_response(out, dumps=lambda o: json.dumps(o, default=str))


# -- the application ------------------------------------------------------------------------------------
def build_app(settings: Settings, redis: Any, journal: Any) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[SESSIONS] = Sessions(
        settings.dashboard.password.get_secret_value(), settings.dashboard.session_hours * 3600
    )
    app[FEED] = Feed(settings, redis, journal)
    app[ACTION_LOCK] = asyncio.Lock()
    app[LOGIN_LOCK] = asyncio.Lock()
    app.router.add_get("/", index)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/api/state", state)
    app.router.add_get("/events", events)
    app.router.add_post("/api/action", action)
    app.router.add_static("/static/", STATIC, show_index=False)

    async def poller(app: web.Application) -> Any:
        task = asyncio.create_task(app[FEED].run())
        yield
        task.cancel()

    app.cleanup_ctx.append(poller)
    return app


def main(argv: list[str]) -> int:
    from athena.process.control import (
        EXIT_DOWN,
        EXIT_OK,
        EXIT_USAGE,
        ControlExit,
        _settings,
        explain,
        preflight,
    )

    p = argparse.ArgumentParser(
        prog="athena dashboard",
        description="the account on a web page, live, with the operator actions (privileged)",
    )
    p.add_argument("--host", default=None, help="address to bind (default: dashboard.host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: dashboard.port, 8780)")
    a = p.parse_args(argv)
    try:
        settings = _settings()
        if not settings.dashboard.password.get_secret_value():
            raise ControlExit(
                "no dashboard password is set: set ATHENA_DASHBOARD_PASSWORD (or dashboard.password in "
                "config/local.json) and start it again",
                EXIT_USAGE,
            )
        ready = preflight(settings)
    except (Exception, KeyboardInterrupt) as exc:
        message, code = explain(exc)
        print(f"athena dashboard: {message}", file=sys.stderr)
        return code
    from athena.logs import configure_logging
    from athena.state.journal import Journal

    configure_logging(settings.log_level, settings.log_format, "dashboard", settings.secrets())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    host = a.host or settings.dashboard.host
    port = settings.dashboard.port if a.port is None else a.port
    journal = Journal(settings.db_url)
    try:
        app = build_app(settings, ready.redis, journal)
        print(
            f"athena dashboard: http://{host}:{port} (account {settings.account}, {settings.mode})",
            flush=True,
        )
        web.run_app(app, host=host, port=port, access_log=None, print=None, shutdown_timeout=2.0)
    except OSError as exc:
        print(
            f"athena dashboard: cannot listen on {host}:{port} ({exc.strerror or exc}): "
            f"choose another with --port or ATHENA_DASHBOARD_PORT",
            file=sys.stderr,
        )
        return EXIT_DOWN
    except KeyboardInterrupt:
        pass
    finally:
        journal.close()
        ready.redis.close()
    return EXIT_OK
