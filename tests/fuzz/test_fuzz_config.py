"""Fuzzing the config loader: config files that are malformed, truncated, binary, wrong-typed, huge or
carry unknown keys, and environment variables with garbage.

Property: load_settings returns valid Settings or raises ConfigError whose message names where the
problem is (the file, a key, or a variable); nothing else escapes; no secret value is ever in it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from athena.config import ENV_VARS, ROOT, ConfigError, Settings, load_settings
from tests.fuzz._fuzz import FUZZ, HUGE, json_values, mutated, tried

BASE = json.loads((ROOT / "config" / "base.json").read_text())
SECRETS = {
    "OKX_API_KEY": "fuzz-key-1234",
    "OKX_SECRET_KEY": "fuzz-secret-1234",
    "OKX_PASSPHRASE": "fuzz-pass-1234",
    "REDIS_URL": "redis://:fuzz-redispw-1234@127.0.0.1:6379/0",
}
SECRET_VALUES = ("fuzz-key-1234", "fuzz-secret-1234", "fuzz-pass-1234", "fuzz-redispw-1234")


def _load(files: dict[str, bytes], environ: dict[str, str]) -> tuple[Settings | None, str]:
    with tempfile.TemporaryDirectory() as d:
        for name, content in files.items():
            (Path(d) / name).write_bytes(content)
        try:
            return load_settings(env="test", environ=environ, config_dir=d, dotenv=False), ""
        except ConfigError as exc:
            msg = str(exc)
            assert msg.strip()
            for s in SECRET_VALUES:
                assert s not in msg, f"secret in config error: {msg}"
            return None, msg


def test_valid_base_loads() -> None:
    s, err = _load({"base.json": json.dumps(BASE).encode()}, dict(SECRETS))
    assert s is not None, err


@st.composite
def file_bytes(draw: Any) -> bytes:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=300))  # binary, invalid UTF-8
    text = json.dumps(draw(mutated(BASE)) if kind > 1 else draw(json_values)).encode()
    if kind == 2:
        return text[: draw(st.integers(0, len(text)))]
    if kind == 3:
        return b"[" * 100_000 + b"]" * 100_000  # nesting deeper than any parser's recursion limit
    return text


def test_config_files_fuzz() -> None:
    @FUZZ
    @given(base=file_bytes(), local=st.one_of(st.none(), file_bytes()))
    def run(base: bytes, local: bytes | None) -> None:
        tried("config.load_settings[files]")
        files = {"base.json": base}
        if local is not None:
            files["local.json"] = local
        s, msg = _load(files, dict(SECRETS))
        if s is None:
            assert "base.json" in msg or "local.json" in msg or "(" in msg, f"error names no source: {msg}"

    run()


ENV_KEYS = [
    *sorted(set(ENV_VARS) - {"ATHENA_ENV", "OKX_API_KEY", "OKX_SECRET_KEY", "OKX_PASSPHRASE"}),
    "ATHENA__risk__max_leverage",
    "ATHENA__schedule__heartbeat",
    "ATHENA__strategies",
    "ATHENA__okx__nope",
    "ATHENA__",
    "ATHENA__risk",
    "ATHENA__sim__port__x",
]
env_values = st.one_of(
    st.text(max_size=30).filter(lambda t: "\x00" not in t),
    st.sampled_from(
        [str(h) for h in HUGE if "\x00" not in str(h)]
        + ["live", "demo", "sim", "-1", "65536", "true", "yes", "", "1e5", "redis://:pw@x:1/0"]
    ),
)


def test_config_env_fuzz() -> None:
    @FUZZ
    @given(env=st.dictionaries(st.sampled_from(ENV_KEYS), env_values, max_size=4))
    def run(env: dict[str, str]) -> None:
        tried("config.load_settings[env]")
        s, msg = _load({"base.json": json.dumps(BASE).encode()}, {**SECRETS, **env})
        if s is None:
            assert "$" in msg or "base.json" in msg or "ATHENA_" in msg or "(" in msg, (
                f"error names no source: {msg}"
            )

    run()


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"risk": {"max_leverage": "abc"}}, "risk.max_leverage"),
        ({"risk": {"max_leverage": 1e308}}, "risk.max_leverage"),
        ({"total_capital": "NaN"}, "total_capital"),
        ({"total_capital": "1e999999999"}, "total_capital"),
        ({"schedule": {"heartbeat": "Infinity"}}, "schedule.heartbeat"),
        ({"sim": {"port": 2**70}}, "sim.port"),
        ({"surprise": 1}, "surprise"),
        ({"okx": {"timeout_s": "5s"}}, "okx.timeout_s"),
        ({"schedule": {"heartbeat": 1e300}}, "schedule.heartbeat"),
        (
            {"strategies": [{"name": "x" * 5000, "instIds": ["BTC-USDT-SWAP"], "allocation": "0.1"}]},
            "strategies",
        ),
        ({"symbols": "BTC-USDT-SWAP"}, "symbols"),
    ],
)
def test_bad_values_name_the_key_and_file(patch: dict[str, Any], key: str) -> None:
    tried("config.load_settings[cases]")
    s, msg = _load(
        {"base.json": json.dumps(BASE).encode(), "local.json": json.dumps(patch).encode()}, dict(SECRETS)
    )
    assert s is None, f"accepted {patch}"
    assert key in msg and "local.json" in msg, msg
