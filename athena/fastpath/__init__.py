"""Fast paths that lean on a library's internals, each fenced in its own module with a switch back to
the plain library path.

Each one saves measurable time on the order or tick path (bench/README.md) by relying on how a
library works inside, not only on its documented API. An upgrade of that library can break it, so:
- FASTPATHS names the library each one reads and the versions it was checked against;
  tests/unit/test_fastpath.py fails when the installed version is outside them, saying what to check;
- each can be turned off, back to the plain library path, without a code change:
  `ATHENA_FASTPATHS=off` turns all of them off, `ATHENA_FASTPATH_<NAME>=off` (or `on`) one of them
  (e.g. `ATHENA_FASTPATH_KOMBU_ENVELOPE=off`); the per-path switch wins over the global one.
The switches are read when the part using them is built (a publisher, a session, a connection, a
worker process, or the parser module at import), so set them in the environment of the process.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib.metadata import version


@dataclass(frozen=True)
class FastPath:
    name: str  # switch: ATHENA_FASTPATH_<NAME upper-cased>
    module: str  # where it lives
    library: str  # distribution whose internals it reads ("python": the interpreter)
    tested: tuple[str, ...]  # major.minor versions it was checked against
    check: str  # what to re-check before widening `tested`

    @property
    def env(self) -> str:
        return "ATHENA_FASTPATH_" + self.name.upper()


FASTPATHS: dict[str, FastPath] = {
    p.name: p
    for p in (
        FastPath(
            "kombu_envelope",
            "athena.fastpath.kombu_envelope",
            "kombu",
            ("5.7",),
            "kombu's Redis transport message layout (body, headers, properties, delivery_info, "
            "body_encoding) and that the list key is the queue name at priority 0: "
            "tests/integration/test_task_publisher.py compares the envelope field by field",
        ),
        FastPath(
            "kombu_transport",
            "athena.fastpath.kombu_transport",
            "kombu",
            ("5.7",),
            "kombu.transport.redis.Channel.conn_or_acquire / _create_client / pool and "
            "kombu.transport.TRANSPORT_ALIASES: tests/integration/test_broker_transport.py",
        ),
        FastPath(
            "requests_session",
            "athena.fastpath.requests_session",
            "requests",
            ("2.34",),
            "what requests.Session.request merges before send() (headers, Content-Length, hooks): "
            "tests/okx/test_fastpath_requests.py compares the bytes on the wire",
        ),
        FastPath(
            "ws_frames",
            "athena.fastpath.ws_frames",
            "websocket-client",
            ("1.9",),
            "WebSocket._recv and frame_buffer.recv (private): tests/okx/test_ws_frames.py and "
            "tests/okx/test_fastpath_ws.py compare the frames with websocket-client's recv_data",
        ),
        FastPath(
            "order_draft",
            "athena.fastpath.order_draft",
            "python",
            ("3.11", "3.12", "3.13"),
            "assigning __class__ between two classes of one __slots__ layout (a frozen dataclass "
            "with slots=True): tests/unit/test_parse_fast.py pins the result to the constructor's",
        ),
    )
}

_OFF = {"off", "0", "false", "no"}
_ON = {"on", "1", "true", "yes"}


def _flag(var: str) -> bool | None:
    raw = os.environ.get(var)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip().lower()
    if value in _OFF:
        return False
    if value in _ON:
        return True
    raise ValueError(f"{var}={raw!r} is not a switch: set it to on or off")


def enabled(name: str) -> bool:
    """Whether fast path `name` is on (the default) in this process's environment."""
    path = FASTPATHS[name]
    own = _flag(path.env)
    if own is not None:
        return own
    everything = _flag("ATHENA_FASTPATHS")
    return True if everything is None else everything


def installed_version(library: str) -> str:
    if library == "python":
        return f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    return version(library)


def minor(v: str) -> str:
    return ".".join(v.split(".")[:2])


def untested() -> list[str]:
    """One sentence per fast path whose library is installed at a version it was not checked against."""
    out = []
    for p in FASTPATHS.values():
        v = installed_version(p.library)
        if minor(v) not in p.tested:
            out.append(
                f"{p.name} ({p.module}) was checked against {p.library} {', '.join(p.tested)} and "
                f"{v} is installed: check {p.check}; until then run with {p.env}=off"
            )
    return out
