"""Settings: layering, every kind of bad configuration, and secrets kept out of text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from athena.config import LIVE_CONFIRMATION, ConfigError, Settings, load_settings

SECRETS = {
    "OKX_API_KEY": "SUPERSECRETKEY1",
    "OKX_SECRET_KEY": "SUPERSECRETKEY2",
    "OKX_PASSPHRASE": "SUPERSECRETPASS3",
}
REDIS_PW = "SUPERSECRETREDISPW"


def _dir(tmp_path: Path, files: dict[str, Any]) -> Path:
    for name, content in files.items():
        (tmp_path / name).write_text(content if isinstance(content, str) else json.dumps(content))
    return tmp_path


def _load(tmp_path: Path, files: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    return load_settings(config_dir=_dir(tmp_path, files), environ=environ or {}, dotenv=False)


def _error(tmp_path: Path, files: dict[str, Any], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, files, environ)
    return str(info.value)


def _strategy(name: str = "s1", allocation: str = "0.5", **kw: Any) -> dict[str, Any]:
    return {"name": name, "instIds": ["BTC-USDT-SWAP"], "allocation": allocation, **kw}


def test_layering_base_env_local_environment(tmp_path: Path) -> None:
    files = {
        "base.json": {
            "account": "base",
            "total_capital": "1",
            "log_level": "INFO",
            "risk": {"max_leverage": "2", "max_drawdown": "0.2"},
        },
        "test.json": {"account": "fromenvfile", "total_capital": "2", "risk": {"max_leverage": "1"}},
        "local.json": {"total_capital": "3", "log_level": "WARNING"},
    }
    s = _load(
        tmp_path,
        files,
        {"ATHENA_ENV": "test", "ATHENA_LOG_LEVEL": "ERROR", "ATHENA_SYMBOLS": "A-USDT-SWAP, B-USDT-SWAP,,"},
    )
    assert s.env == "test"
    assert s.account == "fromenvfile"  # env file over base
    assert s.total_capital == 3  # local over env file
    assert s.log_level == "ERROR"  # environment over everything
    assert s.risk.max_leverage == 1 and s.risk.max_drawdown.as_tuple() == (0, (2,), -1)  # nested keys merge
    assert s.symbols == ["A-USDT-SWAP", "B-USDT-SWAP"]
    s2 = _load(tmp_path, files, {"ATHENA_ENV": "development", "ATHENA__risk__max_leverage": "1.5"})
    assert s2.account == "base"
    assert str(s2.risk.max_leverage) == "1.5"  # generic nested override, exact Decimal


def test_missing_files_mean_defaults(tmp_path: Path) -> None:
    s = _load(tmp_path, {})
    assert (s.mode, s.env, s.account) == ("sim", "development", "main")
    assert (
        s.rest_url == "http://127.0.0.1:8765" and s.ws_url("private") == "ws://127.0.0.1:8765/ws/v5/private"
    )
    assert s.credentials()[0] == "sim-api-key"  # sim mode signs with the simulator's keys


@pytest.mark.parametrize(
    ("files", "environ", "key", "where"),
    [
        ({"base.json": {"total_capital": "abc"}}, {}, "total_capital", "base.json"),
        (
            {"base.json": {}, "local.json": {"risk": {"max_leverage": [1]}}},
            {},
            "risk.max_leverage",
            "local.json",
        ),
        ({"base.json": {"schedule": {"reconcile": "often"}}}, {}, "schedule.reconcile", "base.json"),
        ({"base.json": {}}, {"ATHENA_TOTAL_CAPITAL": "lots"}, "total_capital", "$ATHENA_TOTAL_CAPITAL"),
        ({"base.json": {}}, {"ATHENA_MODE": "dry-run"}, "mode", "$ATHENA_MODE"),
        (
            {"base.json": {}},
            {"ATHENA__schedule__dead_man_timeout": "5"},
            "schedule.dead_man_timeout",
            "$ATHENA__schedule__dead_man_timeout",
        ),
        ({"base.json": {"strategies": [_strategy(instIds="BTC")]}}, {}, "strategies.s1.instIds", "base.json"),
    ],
)
def test_wrong_type_names_key_and_source(
    tmp_path: Path, files: dict[str, Any], environ: dict[str, str], key: str, where: str
) -> None:
    msg = _error(tmp_path, files, environ)
    assert key in msg and where in msg


@pytest.mark.parametrize(
    ("files", "key", "where"),
    [
        ({"base.json": {"bogus": 1}}, "bogus", "base.json"),
        ({"base.json": {}, "local.json": {"risk": {"max_levrage": 2}}}, "risk.max_levrage", "local.json"),
        ({"base.json": {}, "development.json": {"okx": {"apikey": "x"}}}, "okx.apikey", "development.json"),
        ({"base.json": {"strategies": [_strategy("scalp1", foo=1)]}}, "strategies.scalp1.foo", "base.json"),
    ],
)
def test_unknown_key_names_key_and_file(tmp_path: Path, files: dict[str, Any], key: str, where: str) -> None:
    msg = _error(tmp_path, files)
    assert "unknown key" in msg and key in msg and where in msg


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    msg = _error(tmp_path, {"base.json": '{\n "account": "a",,\n}'})
    assert "base.json" in msg and "line 2" in msg
    msg = _error(tmp_path, {"base.json": "[1, 2]"})
    assert "base.json" in msg and "object" in msg


@pytest.mark.parametrize("name", ["test.json", "local.json"])
def test_bad_json_in_any_layer_names_that_file(tmp_path: Path, name: str) -> None:
    msg = _error(tmp_path, {"base.json": {}, name: '{"account": "a"'}, {"ATHENA_ENV": "test"})
    assert name in msg and "not valid JSON" in msg and "base.json" not in msg


@pytest.mark.parametrize("value", ["dry-run", "LIVE", "", "sim "])
def test_bad_athena_mode_names_variable_and_choices(tmp_path: Path, value: str) -> None:
    msg = _error(tmp_path, {"base.json": {}}, {"ATHENA_MODE": value})
    assert "mode" in msg and "$ATHENA_MODE" in msg and "'sim', 'paper', 'demo' or 'live'" in msg


def test_dotenv_is_loaded_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import athena.config as config

    (tmp_path / ".env").write_text(
        "ATHENA_TOTAL_CAPITAL=1234.5\nATHENA_LOG_LEVEL=DEBUG\nATHENA_ACCOUNT=fromdotenv\n"
    )
    for var in ("ATHENA_TOTAL_CAPITAL", "ATHENA_ACCOUNT", "ATHENA_ENV", "ATHENA_MODE"):
        # restored after the test, whatever .env added: delenv alone records nothing for an absent
        # variable, so load_dotenv's values would outlive the test; setenv first records its absence
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    monkeypatch.setenv("ATHENA_LOG_LEVEL", "ERROR")  # a real environment variable beats .env
    monkeypatch.setattr(config, "ROOT", tmp_path)
    s = load_settings(config_dir=_dir(tmp_path, {"base.json": {"total_capital": "1"}}))
    assert str(s.total_capital) == "1234.5" and s.account == "fromdotenv" and s.log_level == "ERROR"


def test_env_example_documents_every_variable() -> None:
    from athena.config import ENV_VARS, ROOT

    text = (ROOT / ".env.example").read_text()
    documented = {line.lstrip("# ").split("=", 1)[0] for line in text.splitlines() if "=" in line}
    assert set(ENV_VARS) <= documented, sorted(set(ENV_VARS) - documented)


def test_unknown_environment(tmp_path: Path) -> None:
    msg = _error(tmp_path, {"base.json": {}}, {"ATHENA_ENV": "staging"})
    assert "ATHENA_ENV" in msg and "staging" in msg


@pytest.mark.parametrize("mode", ["demo", "live"])
def test_missing_credential_names_it(tmp_path: Path, mode: str) -> None:
    env = {
        "ATHENA_MODE": mode,
        "OKX_API_KEY": SECRETS["OKX_API_KEY"],
        "OKX_SECRET_KEY": SECRETS["OKX_SECRET_KEY"],
        "ATHENA_LIVE_CONFIRM": LIVE_CONFIRMATION,
    }
    msg = _error(tmp_path, {"base.json": {}}, env)
    assert "okx.passphrase" in msg and "$OKX_PASSPHRASE" in msg and mode in msg  # the key and where to set it
    assert "okx.api_key" not in msg and "okx.secret_key" not in msg  # only what is missing
    assert not any(v in msg for v in SECRETS.values())


def test_live_needs_explicit_confirmation(tmp_path: Path) -> None:
    env = {"ATHENA_MODE": "live", **SECRETS}
    msg = _error(tmp_path, {"base.json": {}}, env)
    assert "live_confirm" in msg and "ATHENA_LIVE_CONFIRM" in msg
    assert "live_confirm" in _error(tmp_path, {"base.json": {}}, {**env, "ATHENA_LIVE_CONFIRM": "yes"})
    s = _load(tmp_path, {"base.json": {}}, {**env, "ATHENA_LIVE_CONFIRM": LIVE_CONFIRMATION})
    assert s.mode == "live" and s.rest_url == "https://www.okx.com" and not s.simulated_trading
    assert s.credentials() == (SECRETS["OKX_API_KEY"], SECRETS["OKX_SECRET_KEY"], SECRETS["OKX_PASSPHRASE"])


def test_demo_mode_uses_demo_hosts(tmp_path: Path) -> None:
    s = _load(tmp_path, {"base.json": {}}, {"ATHENA_MODE": "demo", **SECRETS})
    assert s.simulated_trading and s.ws_url("public") == "wss://wspap.okx.com:8443/ws/v5/public"


def test_allocations_above_one(tmp_path: Path) -> None:
    msg = _error(tmp_path, {"base.json": {"strategies": [_strategy("a", "0.6"), _strategy("b", "0.5")]}})
    assert "allocations" in msg and "1.1" in msg and "base.json" in msg
    # a disabled strategy does not count
    s = _load(
        tmp_path, {"base.json": {"strategies": [_strategy("a", "0.6"), _strategy("b", "0.5", enabled=False)]}}
    )
    assert len(s.strategies) == 2
    assert "allocation" in _error(tmp_path, {"base.json": {"strategies": [_strategy("a", "1.5")]}})


def test_strategy_leverage_above_cap(tmp_path: Path) -> None:
    msg = _error(
        tmp_path,
        {
            "base.json": {
                "risk": {"max_leverage": "2"},
                "strategies": [_strategy("s1", risk={"leverage": "3"})],
            }
        },
    )
    assert "strategies.s1.risk.leverage" in msg and "max_leverage" in msg
    assert "risk.max_leverage" in _error(
        tmp_path, {"base.json": {"risk": {"max_leverage": "5"}}}
    )  # global cap is 3


def test_duplicate_strategy_names(tmp_path: Path) -> None:
    assert "unique" in _error(
        tmp_path, {"base.json": {"strategies": [_strategy("a", "0.1"), _strategy("a", "0.1")]}}
    )


def test_secrets_never_in_repr_str_dump_or_errors(tmp_path: Path) -> None:
    env = {**SECRETS, "REDIS_URL": f"redis://:{REDIS_PW}@127.0.0.1:6379/0"}
    s = _load(tmp_path, {"base.json": {}}, env)
    texts = [repr(s), str(s), s.model_dump_json(), repr(s.okx), str(s.okx.api_key), repr(s.redis_url)]
    for text in texts:
        for secret in [*SECRETS.values(), REDIS_PW]:
            assert secret not in text
    assert set(s.secrets()) >= {*SECRETS.values(), REDIS_PW}  # what log redaction uses
    # an error elsewhere does not echo secrets, nor a mistyped secret's value
    env.pop("OKX_API_KEY")  # so the mistyped file value is the one in force
    msg = _error(
        tmp_path, {"base.json": {"okx": {"api_key": 987654321}}}, {**env, "ATHENA_TOTAL_CAPITAL": "-1"}
    )
    assert "okx.api_key" in msg and "total_capital" in msg
    for secret in [*SECRETS.values(), REDIS_PW, "987654321"]:
        assert secret not in msg


def test_paper_mode_needs_no_keys_and_talks_to_the_local_sim_fed_by_okx(tmp_path: Path) -> None:
    s = _load(tmp_path, {"base.json": {}}, {"ATHENA_MODE": "paper", "ATHENA_SIM_PORT": "9001"})
    assert (
        s.rest_url == "http://127.0.0.1:9001" and s.ws_url("private") == "ws://127.0.0.1:9001/ws/v5/private"
    )
    assert s.credentials() == ("sim-api-key", "sim-secret-key", "sim-passphrase")
    assert (s.paper.upstream_rest_url, s.paper.upstream_ws_url) == (
        "https://www.okx.com",
        "wss://ws.okx.com:8443/ws/v5/public",
    )
    other = _load(
        tmp_path,
        {"base.json": {}},
        {"ATHENA_MODE": "paper", "ATHENA_PAPER_UPSTREAM_WS": "ws://h:1/ws/v5/public"},
    )
    assert other.paper.upstream_ws_url == "ws://h:1/ws/v5/public"
