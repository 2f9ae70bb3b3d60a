"""Fuzzing `athena record`'s message handler with a real Recorder and writer (not connected: frames
go to on_message exactly as the connection thread hands them over).

Properties: on_message never raises; every frame that is a JSON object is written, as one line that
is valid JSON holding the frame's own keys plus recvTs; anything else is counted as malformed, never
written; a books frame that went wrong leaves the book invalid with a resubscribe requested."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from athena.marketdata.record import Recorder, RotatingWriter
from tests.fuzz import samples as S
from tests.fuzz._fuzz import mutated, raw_frames, scaled, tried

BOOKS = [
    {
        "arg": {"channel": "books", "instId": S.INST},
        "action": "snapshot",
        "data": [{**S.BOOK, "ts": "1", "seqId": 5, "prevSeqId": -1, "checksum": 0}],
    },
    {
        "arg": {"channel": "books", "instId": S.INST},
        "action": "update",
        "data": [
            {
                "asks": [["8477", "0", "0", "0"]],
                "bids": [],
                "ts": "2",
                "seqId": 6,
                "prevSeqId": 5,
                "checksum": 0,
            }
        ],
    },
]
VALID = [*S.public_frames(), *BOOKS, {"event": "subscribe", "arg": {"channel": "trades", "instId": S.INST}}]


def _frames() -> st.SearchStrategy[bytes]:
    structured = st.sampled_from(VALID).flatmap(mutated).map(lambda o: json.dumps(o).encode())
    return st.one_of(structured, raw_frames([S.frame(f) for f in VALID]))


@scaled(300)
@given(frames=st.lists(_frames(), min_size=1, max_size=8))
@example(
    frames=[b'{"arg": {"channel": "books"}, "action": "snapshot", "data": [{}]}']
)  # no instId: found by this test
def test_recorder_writes_every_object_and_never_raises(tmp_path_factory: Any, frames: list[bytes]) -> None:
    tried("record.on_message")
    out: Path = tmp_path_factory.mktemp("rec")
    writer = RotatingWriter(out)
    rec = Recorder("ws://127.0.0.1:9/ws/v5/public", [S.INST], ["books", "trades"], writer)
    resubscribes: list[dict[str, Any]] = []
    rec.resubscribe = resubscribes.append  # type: ignore[method-assign, assignment]
    rec.on_message(S.frame(BOOKS[0]))
    rec.on_message(json.dumps(VALID[0], indent=2).encode())  # a pretty-printed frame is still one line
    objects = 2
    for raw in frames:
        rec.on_message(raw)  # must not raise
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict) and obj and raw.strip().startswith(b"{"):
            objects += 1
    writer.close()
    lines = []
    for f in writer.files:
        with gzip.open(f, "rb") as fh:
            lines += [json.loads(x) for x in fh]
    written = [x for x in lines if not str(x.get("event", "")).startswith("athena-")]
    assert len(written) == objects
    assert all("recvTs" in x for x in lines)
    assert sum(rec.stats.malformed.values()) == len(frames) + 2 - objects
    if rec.resyncs:
        assert resubscribes and all(a == {"channel": "books", "instId": S.INST} for a in resubscribes)
