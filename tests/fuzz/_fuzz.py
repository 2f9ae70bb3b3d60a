"""Shared fuzzing tools: hypothesis profiles, an input counter and mutation strategies.

Profiles: `ci` (default, modest example counts so the whole fuzz suite stays well under a minute) and
`long` (ATHENA_FUZZ=long, or ATHENA_FUZZ_EXAMPLES=N for any count). The profiles are applied per test
through `FUZZ`, so loading this module never changes hypothesis settings for the rest of the suite.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = "long" if os.environ.get("ATHENA_FUZZ") == "long" else "ci"
_n = os.environ.get("ATHENA_FUZZ_EXAMPLES")
FUZZ = settings(settings.get_profile(PROFILE), max_examples=int(_n)) if _n else settings.get_profile(PROFILE)


def scaled(n: int) -> settings:
    """FUZZ with `n` examples in CI (cheap targets may afford more), the profile's count otherwise."""
    if PROFILE == "ci" and not _n:
        return settings(FUZZ, max_examples=n)
    return FUZZ


# Inputs tried per target, printed at the end of the session (tests/fuzz/conftest.py).
TRIED: Counter[str] = Counter()


def tried(target: str) -> None:
    TRIED[target] += 1


# -- values ----------------------------------------------------------------------------------------
HUGE = [
    "9" * 5000,
    "1e999999999",
    "-1E-999999999",
    "1" + "0" * 400 + ".5",
    "NaN",
    "sNaN",
    "Infinity",
    "-inf",
    "0x10",
    "1_000",
    " 1",
    "１２３",  # full-width digits: Decimal accepts them, OKX never sends them
    "\x00",
    "💥" * 300,
    "a" * 100_000,
    2**70,
    -(2**63),
    1e308,
    float("inf"),
    -0.0,
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1.5",
            "true",
            "false",
            "live",
            "filled",
            "buy",
            "sell",
            "long",
            "short",
            "net",
            "cross",
            "isolated",
            "BTC-USDT-SWAP",
            "canceled",
            "partially_filled",
            "-0",
            "0E-10",
        ]
    ),
    st.sampled_from(HUGE),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw: Any, obj: Any, depth: int = 0) -> Any:
    """`obj` (a valid OKX-shaped value) with a few random changes: a value replaced by anything (wrong type,
    huge, empty), a key dropped or added, a list truncated or emptied, a string cut short."""
    if depth > 6:
        return obj
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(json_values)
    if isinstance(obj, dict):
        out = dict(obj)
        keys = sorted(out)
        for _ in range(draw(st.integers(0, 3))):
            if not keys:
                break
            k = draw(st.sampled_from(keys))
            op = draw(st.integers(0, 3))
            if op == 0:
                out.pop(k, None)
            elif op == 1:
                out[k] = draw(json_values)
            elif op == 2:
                out[k] = draw(mutated(out[k], depth + 1)) if k in out else None
            else:
                out[draw(st.text(max_size=6))] = draw(json_values)
        return out
    if isinstance(obj, list):
        out_l = list(obj)
        op = draw(st.integers(0, 4))
        if op == 0:
            return out_l[: draw(st.integers(0, len(out_l)))]
        if op == 1 and out_l:
            i = draw(st.integers(0, len(out_l) - 1))
            out_l[i] = draw(mutated(out_l[i], depth + 1))
        if op == 2:
            out_l.append(draw(json_values))
        if op == 3:
            return out_l * draw(st.integers(2, 50))  # many rows
        return out_l
    if isinstance(obj, str) and choice < 3:
        return obj[: draw(st.integers(0, len(obj)))]
    if choice < 5:
        return draw(st.sampled_from(HUGE))
    return obj


def raw_frames(valid: list[bytes]) -> st.SearchStrategy[bytes]:
    """Bytes a peer might send: a valid frame cut short, with flipped bytes, garbage, or empty."""

    @st.composite
    def one(draw: Any) -> bytes:
        frame = draw(st.sampled_from(valid))
        op = draw(st.integers(0, 3))
        if op == 0:
            return frame[: draw(st.integers(0, len(frame)))]
        if op == 1:
            b = bytearray(frame)
            for _ in range(draw(st.integers(1, 5))):
                b[draw(st.integers(0, len(b) - 1))] = draw(st.integers(0, 255))
            return bytes(b)
        if op == 2:
            return draw(st.binary(max_size=200))
        return draw(
            st.sampled_from(
                [
                    b"",
                    b"null",
                    b"[]",
                    b"{}",
                    b"pong",
                    b"ping",
                    b"[" * 5000,
                    b'{"data":' * 2000,
                    b'{"data":{}}',
                    b'{"data":"x"}',
                    b'{"event":null}',
                    b"\xff\xfe",
                ]
            )
        )

    return one()
