"""Fuzzing the WebSocket message handlers of the public and private gateways with real gateway objects
(not started: frames are fed to on_message exactly as the connection thread does).

Properties: on_message never raises (so the thread's last-resort `handler:<Exception>` counter stays
unused); a data frame of a known channel either yields domain events or is counted as malformed (never
dropped silently); each malformed kind is logged once per connection; a books frame that went wrong
leaves the book invalid with a resubscribe requested.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from athena.okx.private_ws import PrivateConnection
from athena.okx.public_ws import OkxPublicWsGateway
from athena.okx.signing import Credentials
from tests.fuzz import samples as S
from tests.fuzz._fuzz import mutated, raw_frames, scaled, tried


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def malformed_logs(self) -> list[str]:
        return [r.getMessage() for r in self.records if "malformed" in r.getMessage()]


def _frames(valid: list[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    # stdlib json: it also writes ints beyond 64 bits and NaN/Infinity, which orjson then refuses to read
    structured = st.sampled_from(valid).flatmap(mutated).map(lambda o: json.dumps(o).encode())
    return st.one_of(structured, raw_frames([S.frame(f) for f in valid]))


def _listen(name: str) -> Records:
    rec = Records()
    logging.getLogger(name).addHandler(rec)
    return rec


def _unlisten(name: str, rec: Records) -> None:
    logging.getLogger(name).removeHandler(rec)


def _no_silent_drop(
    raw: bytes, before: int, after: int, events_before: int, events_after: int, data_channels: set[str]
) -> None:
    """A frame with data for a channel we parse must produce events or a malformed count."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        assert after > before, "undecodable frame not counted"
        return
    if not isinstance(msg, dict) or not isinstance(msg.get("data"), list) or not msg["data"]:
        return
    arg = msg.get("arg")
    if (
        not isinstance(arg, dict)
        or not isinstance(arg.get("channel"), str)
        or arg["channel"] not in data_channels
    ):
        return
    assert events_after > events_before or after > before, f"frame dropped silently: {raw[:200]!r}"


def test_public_ws_handler_never_raises() -> None:
    events: list[Any] = []
    gw = OkxPublicWsGateway(
        "ws://127.0.0.1:9/ws/v5/public",
        [S.INST],
        ("books5", "bbo-tbt", "tickers", "trades", "books"),
        events.append,
    )
    resubs: list[dict[str, Any]] = []
    gw.resubscribe = resubs.append  # type: ignore[method-assign]  # record instead of sending on a socket
    rec = _listen("athena.okx.ws")
    valid = S.public_frames()

    @scaled(600)  # cheap: no I/O
    @given(raw=_frames(valid))
    def run(raw: bytes) -> None:
        tried("okx.public_ws.on_message")
        bad0, ev0 = sum(gw.stats.malformed.values()), len(events)
        gw.on_message(raw)  # must not raise
        _no_silent_drop(
            raw,
            bad0,
            sum(gw.stats.malformed.values()),
            ev0,
            len(events),
            {"books5", "bbo-tbt", "tickers", "trades"},
        )
        if gw.stats.malformed.get("books", 0) and not gw.books[S.INST].valid:
            assert resubs, "books invalidated by a bad frame but no resubscribe asked"

    try:
        run()
        # the valid frames still work after all that garbage (a fresh snapshot heals the book)
        for f in valid:
            gw.on_message(S.frame(f))
        assert gw.books[S.INST].valid
    finally:
        _unlisten("athena.okx.ws", rec)
    kinds = set(gw.stats.malformed)
    assert not any(k.startswith("handler:") for k in kinds)
    assert len(rec.malformed_logs()) <= len(kinds), "a malformed kind was logged more than once"
    assert sum(gw.stats.malformed.values()) > 0  # the fuzzer did reach the malformed path


def test_private_ws_handler_never_raises() -> None:
    events: list[Any] = []
    errors: list[Any] = []
    conn = PrivateConnection(
        "ws://127.0.0.1:9/ws/v5/private",
        Credentials("fuzz-key-1234", "fuzz-secret-1234", "fuzz-pass-1234"),
        events.append,
        errors.append,
        max_auth_failures=10**9,
    )
    conn.subscribe(
        [
            {"channel": "orders", "instType": "SWAP"},
            {"channel": "positions", "instType": "SWAP"},
            {"channel": "account"},
            {"channel": "orders-algo", "instType": "SWAP"},
        ]
    )
    rec = _listen("athena.okx")
    valid = S.private_frames()

    @scaled(600)  # cheap: no I/O
    @given(raw=_frames(valid))
    def run(raw: bytes) -> None:
        tried("okx.private_ws.on_message")
        bad0, ev0 = sum(conn.stats.malformed.values()), len(events)
        conn.on_message(raw)  # must not raise
        _no_silent_drop(
            raw,
            bad0,
            sum(conn.stats.malformed.values()),
            ev0,
            len(events),
            {"orders", "positions", "account", "orders-algo"},
        )

    try:
        run()
    finally:
        _unlisten("athena.okx", rec)
    kinds = set(conn.stats.malformed)
    assert not any(k.startswith("handler:") for k in kinds)
    assert len(rec.malformed_logs()) <= len(kinds)
    assert sum(conn.stats.malformed.values()) > 0
    text = "\n".join(r.getMessage() for r in rec.records) + "".join(str(e) for e in errors)
    for secret in ("fuzz-key-1234", "fuzz-secret-1234", "fuzz-pass-1234"):
        assert secret not in text
