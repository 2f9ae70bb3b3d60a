from __future__ import annotations

import time

import orjson

from athena.okx.signing import Clock, Credentials, iso_ms, rest_headers, sign, ws_login_args
from tests.okx.samples import load_jsonl

CAPTURE_CREDS = Credentials("KEY", "TESTSECRET", "PASS")  # the fake keys of the loopback capture


def test_rest_signature_matches_every_captured_request() -> None:
    rows = [r for r in load_jsonl("captured_rest_requests.jsonl") if "OK-ACCESS-SIGN" in r["headers"]]
    assert len(rows) >= 5
    for r in rows:
        h = r["headers"]
        prehash = h["OK-ACCESS-TIMESTAMP"] + r["method"] + r["target"] + (r["body"] or "")
        assert sign("TESTSECRET", prehash) == h["OK-ACCESS-SIGN"], r["target"]


def test_rest_headers_shape() -> None:
    ts = 1607418537715  # 2020-12-08T09:08:57.715Z
    h = rest_headers(CAPTURE_CREDS, ts, "post", "/api/v5/trade/order", '{"a":1}')
    assert h["OK-ACCESS-TIMESTAMP"] == "2020-12-08T09:08:57.715Z"
    assert h["OK-ACCESS-SIGN"] == sign("TESTSECRET", '2020-12-08T09:08:57.715ZPOST/api/v5/trade/order{"a":1}')
    assert h["OK-ACCESS-KEY"] == "KEY" and h["OK-ACCESS-PASSPHRASE"] == "PASS"


def test_iso_ms_pads_milliseconds() -> None:
    assert iso_ms(1607418537005) == "2020-12-08T09:08:57.005Z"
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"


def test_ws_login_matches_captured_frames() -> None:
    frames = [
        orjson.loads(f["recv"])
        for f in load_jsonl("captured_ws_frames.jsonl")
        if '"login"' in f.get("recv", "")
    ]
    assert len(frames) == 2
    for frame in frames:
        arg = frame["args"][0]
        ours = ws_login_args(CAPTURE_CREDS, int(arg["timestamp"]))
        assert ours["sign"] == arg["sign"]
        assert ours["timestamp"] == str(arg["timestamp"])  # seconds, as a string


def test_clock_offset_from_round_trip() -> None:
    clock = Clock()
    local = time.time() * 1000
    clock.update(int(local + 60_000), local - 10, local + 10)  # server 60 s ahead
    assert clock.synced
    assert 59_990 <= clock.offset_ms <= 60_010
    assert abs(clock.now_ms() - (time.time() * 1000 + 60_000)) < 1000


def test_credentials_never_printed() -> None:
    c = Credentials("my-api-key-123", "my-secret-456", "my-pass-789")
    for text in (repr(c), str(c), f"{c}", repr([c])):
        assert "my-api-key" not in text and "my-secret" not in text and "my-pass" not in text
    assert c.complete and not Credentials("", "x", "y").complete
