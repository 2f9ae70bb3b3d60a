"""The one strategy loader: import path, built-in, entry point, strategies folder; and what it refuses,
in one sentence naming the strategy and the key (athena.strategies.loader, Settings validation)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from athena.config import ConfigError, Settings, StrategySettings, load_settings
from athena.strategies import ScalperV1
from athena.strategies.base import StrategyParamError
from athena.strategies.loader import StrategyLoadError, available, resolve, validate
from athena.strategies.template import names, render

STRATEGY = """
from decimal import Decimal
from pydantic import Field
from athena.strategies import BaseStrategy, StrategyParams
{extra}

class {cls}Params(StrategyParams):
    n: int = Field(3, ge=1)
    edge: Decimal = Decimal("0.5")


class {cls}(BaseStrategy):
    Params = {cls}Params
"""


@pytest.fixture()
def isolated() -> Iterator[None]:
    """sys.path and the modules these tests import are restored after each."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if not name.startswith(("athena", "pydantic", "importlib")):
            del sys.modules[name]


def _write(folder: Path, module: str, cls: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}.py"
    path.write_text(STRATEGY.format(cls=cls, extra=extra))
    return path


def test_builtin_and_import_path(tmp_path: Path, isolated: None) -> None:
    assert resolve("ScalperV1") is ScalperV1
    assert resolve("athena.strategies.scalper_v1:ScalperV1") is ScalperV1
    _write(tmp_path / "pkgroot" / "kpkg_a", "strat", "PathStrat")
    (tmp_path / "pkgroot" / "kpkg_a" / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path / "pkgroot"))
    cls = resolve("kpkg_a.strat:PathStrat")
    assert cls.__name__ == "PathStrat" and validate("kpkg_a.strat:PathStrat", {"n": 5}).n == 5  # type: ignore[attr-defined]


def test_strategies_folder_by_name_with_a_helper_module(tmp_path: Path, isolated: None) -> None:
    folder = tmp_path / "mystrats_b"
    folder.mkdir()
    (folder / "kb_helpers.py").write_text("WINDOW = 7\n")
    _write(folder, "kb_up_ticks", "KbUpTicks", extra="from kb_helpers import WINDOW")
    (folder / "test_kb_up_ticks.py").write_text(
        "raise RuntimeError('a test file is never imported by the loader')\n"
    )
    cls = resolve("KbUpTicks", folder, "up1")
    assert cls.__name__ == "KbUpTicks" and sys.modules[cls.__module__].WINDOW == 7  # type: ignore[attr-defined]
    assert resolve("kb_up_ticks:KbUpTicks", folder) is cls  # the folder's modules by import path too
    assert "KbUpTicks" in available(folder) and "ScalperV1" in available(folder)


def test_entry_point_of_an_installed_package(tmp_path: Path, isolated: None) -> None:
    site = tmp_path / "site"
    _write(site / "kpkg_ep", "strat", "EpStrat")
    (site / "kpkg_ep" / "__init__.py").write_text("")
    dist = site / "kpkg_ep-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kpkg-ep\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[athena.strategies]\nEpStrat = kpkg_ep.strat:EpStrat\n")
    sys.path.insert(0, str(site))
    assert resolve("EpStrat").__name__ == "EpStrat"
    assert available()["EpStrat"] == "entry point kpkg_ep.strat:EpStrat"


@pytest.mark.parametrize(
    ("cls", "setup", "message"),
    [
        (
            "Nope",
            None,
            r"strategy 's1': cls 'Nope' is unknown: not built in \(ScalperV1\), not an entry point of "
            r"'athena.strategies', and no strategies_dir is configured; give it as package.module:Class",
        ),
        ("Nope", "folder", r"cls 'Nope' is unknown: .*not a class in .*kfolder"),
        ("kmissing_mod:X", None, r"module 'kmissing_mod' is not importable"),
        ("kbroken:Broken", "broken", r"importing 'kbroken' failed: ZeroDivisionError"),
        ("decimal:Decimal", None, r"cls 'decimal:Decimal' is not a strategy"),
        ("nocolon:", None, r"is not an import path"),
    ],
)
def test_what_the_loader_refuses(
    tmp_path: Path, isolated: None, cls: str, setup: str | None, message: str
) -> None:
    folder = tmp_path / "kfolder"
    folder.mkdir()
    if setup == "broken":
        (folder / "kbroken.py").write_text("1 / 0\n")
    with pytest.raises(StrategyLoadError, match=message):
        resolve(cls, folder if setup else None, "s1")


def test_a_folder_file_never_shadows_an_installed_module(tmp_path: Path, isolated: None) -> None:
    folder = tmp_path / "kshadow"
    _write(folder, "json", "Shadow")  # json is the stdlib's
    with pytest.raises(
        StrategyLoadError, match=r"the strategies folder's json\.py has the name of the module 'json'"
    ):
        resolve("Shadow", folder, "s1")
    assert sys.path[-1] == str(folder.resolve()) and str(folder.resolve()) not in sys.path[:-1]
    import json as stdlib_json

    assert not hasattr(stdlib_json, "Shadow")


def test_a_missing_folder_and_bad_params(tmp_path: Path, isolated: None) -> None:
    with pytest.raises(StrategyLoadError, match=r"strategies_dir '.*nowhere' is not a folder"):
        resolve("Anything", tmp_path / "nowhere", "s1")
    _write(tmp_path / "kc", "kc_strat", "KcStrat")
    with pytest.raises(
        StrategyParamError, match=r"strategy 'x': params\.m: unknown param \(known: n, edge\)"
    ) as info:
        validate("KcStrat", {"m": 1}, tmp_path / "kc", "x")
    assert info.value.problems == [("params.m", "unknown param (known: n, edge)")]
    with pytest.raises(StrategyParamError, match=r"params\.n: Input should be greater than or equal to 1"):
        validate("KcStrat", {"n": 0}, tmp_path / "kc", "x")


def test_settings_refuse_an_unknown_class_or_param_naming_strategy_and_key(
    tmp_path: Path, isolated: None
) -> None:
    folder = tmp_path / "kd"
    _write(folder, "kd_strat", "KdStrat")

    def settings(**strategy: object) -> Settings:
        return Settings(
            strategies_dir=str(folder),
            strategies=[
                StrategySettings.model_validate(
                    {"name": "kd1", "instIds": ["BTC-USDT-SWAP"], "allocation": "0.2", **strategy}
                )
            ],
        )

    assert settings(cls="KdStrat", params={"edge": "0.7"}).strategies[0].cls == "KdStrat"
    with pytest.raises(ValueError, match=r"strategies\.kd1\.cls: strategy 'kd1': cls 'Kd' is unknown"):
        settings(cls="Kd")
    with pytest.raises(
        ValueError,
        match=r"strategies\.kd1\.params\.edg: strategy 'kd1' \(KdStrat\) has no parameter "
        r"'edg'; its parameters: n, edge",
    ):
        settings(cls="KdStrat", params={"edg": "1"})
    with pytest.raises(
        ValueError,
        match=r"strategies\.kd1\.params\.edge: strategy 'kd1' \(KdStrat\): Input should be a valid decimal",
    ):
        settings(cls="KdStrat", params={"edge": "lots"})
    # through the config files: the key and the file it came from
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "local.json").write_text(
        json.dumps(
            {
                "strategies_dir": str(folder),
                "strategies": [
                    {
                        "name": "kd1",
                        "cls": "KdStrat",
                        "instIds": ["BTC-USDT-SWAP"],
                        "allocation": "0.2",
                        "params": {"n": "x"},
                    }
                ],
            }
        )
    )
    with pytest.raises(
        ConfigError, match=r"strategies\.kd1\.params\.n \(.*local\.json\): strategy 'kd1' \(KdStrat\)"
    ):
        load_settings(config_dir=cfg, environ={}, dotenv=False)
    # ATHENA_STRATEGIES_DIR sets the folder
    (cfg / "local.json").write_text(
        json.dumps(
            {
                "strategies": [
                    {"name": "kd1", "cls": "KdStrat", "instIds": ["BTC-USDT-SWAP"], "allocation": "0.2"}
                ]
            }
        )
    )
    loaded = load_settings(config_dir=cfg, environ={"ATHENA_STRATEGIES_DIR": str(folder)}, dotenv=False)
    assert loaded.strategies_dir == str(folder)
    # a strategies_dir that is not a folder is refused even when only built-in classes are used
    with pytest.raises(
        ConfigError, match=r"strategies_dir \(\$ATHENA_STRATEGIES_DIR\): '.*nowhere' is not a folder"
    ):
        load_settings(
            config_dir=tmp_path / "empty",
            environ={"ATHENA_STRATEGIES_DIR": str(tmp_path / "nowhere")},
            dotenv=False,
        )


def test_template_names_and_sources() -> None:
    assert names("UpTicks") == names("up_ticks") == names("up-ticks") == ("up_ticks", "UpTicks")
    assert names("EMA2Cross") == ("ema2_cross", "EMA2Cross")
    for bad in ("2fast", "", "class", "-"):
        with pytest.raises(ValueError, match="is not a strategy name"):
            names(bad)
    module, cls, src, test = render("MeanRevert")
    assert (module, cls) == ("mean_revert", "MeanRevert")
    assert "class MeanRevert(BaseStrategy):" in src and "from mean_revert import MeanRevert" in test
    compile(src, "strategy", "exec")
    compile(test, "test", "exec")
