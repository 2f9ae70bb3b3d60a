"""The one strategy loader: config's `cls` -> a BaseStrategy subclass, for every mode and process.

`cls` is looked up, in this order:
1. an import path `package.module:Class` (any importable module; a module in the strategies folder too);
2. a built-in name (`ScalperV1`);
3. a name registered by an installed package under the entry-point group `athena.strategies`
   (pyproject.toml: `[project.entry-points."athena.strategies"] MyStrat = "mypkg.strat:MyStrat"`);
4. a class of that name defined in a `*.py` file of the strategies folder (`strategies_dir` in config,
   `ATHENA_STRATEGIES_DIR`); the folder is appended to sys.path, so its modules import each other by
   name (a file named like an installed module is refused: the installed one would be imported).

Every failure is a StrategyLoadError (a StrategyParamError): one sentence naming the strategy, the
`cls` and what to do. validate() also checks the params against the class's pydantic Params model, so
`athena config` and every worker's start refuse an unknown class or an unknown or mistyped parameter.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import threading
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from athena.strategies.base import BaseStrategy, StrategyParamError, StrategyParams, parse_params

ENTRY_POINT_GROUP = "athena.strategies"
BUILTIN: dict[str, str] = {"ScalperV1": "athena.strategies.scalper_v1:ScalperV1"}

_lock = threading.Lock()  # sys.path and sys.modules are process-wide


class StrategyLoadError(StrategyParamError):
    """A strategy class that cannot be found or is not a strategy."""


def resolve(cls: str, strategies_dir: str | Path | None = None, strategy: str = "") -> type[BaseStrategy]:
    """The class `cls` names (see the module docstring for the lookup order)."""
    who = f"strategy {strategy!r}: " if strategy else ""
    cls = cls.strip()
    if cls in BUILTIN:
        return _checked(_import_path(BUILTIN[cls], who), cls, who)
    folder = _folder(strategies_dir, who)
    if folder is not None:
        _on_path(folder)  # its modules import by name, and `module:Class` finds them
    if ":" in cls:
        found = _import_path(cls, who)
    else:
        found = _entry_point(cls, who)
        if found is None and folder is not None:
            found = _from_folder(cls, folder, who)
        if found is None:
            raise StrategyLoadError(
                f"{who}cls {cls!r} is unknown: not built in ({', '.join(sorted(BUILTIN))}), not an "
                "entry point of "
                f"{ENTRY_POINT_GROUP!r}{_known_eps()}, "
                + (
                    f"not a class in {folder}"
                    if folder is not None
                    else "and no strategies_dir is configured"
                )
                + "; give it as package.module:Class or put its file in the strategies folder."
            )
    return _checked(found, cls, who)


def validate(
    cls: str, params: dict[str, Any] | None, strategies_dir: str | Path | None = None, strategy: str = ""
) -> StrategyParams:
    """Resolve `cls` and check `params` against its Params model (the same check the strategy's
    constructor makes). Raises StrategyParamError naming the strategy and the key."""
    klass = resolve(cls, strategies_dir, strategy)
    return parse_params(strategy, klass.Params, params)


def available(strategies_dir: str | Path | None = None) -> dict[str, str]:
    """Every strategy name this machine can load without an import path -> where it comes from."""
    out = {name: path for name, path in BUILTIN.items()}
    for ep in _eps():
        out.setdefault(ep.name, f"entry point {ep.value}")
    folder = _folder(strategies_dir, "")
    if folder is not None:
        _on_path(folder)
        for module in _folder_modules(folder, ""):
            for name, obj in vars(module).items():
                if _is_strategy(obj) and obj.__module__ == module.__name__:
                    out.setdefault(name, f"{module.__file__}")
    return out


# -- the lookups -------------------------------------------------------------------------------------
def _folder(strategies_dir: str | Path | None, who: str) -> Path | None:
    if strategies_dir is None or str(strategies_dir) == "":
        return None
    from athena.config import is_folder

    if not is_folder(strategies_dir):
        raise StrategyLoadError(
            f"{who}strategies_dir {str(strategies_dir)[:200]!r} is not a folder; create it or fix "
            "strategies_dir (ATHENA_STRATEGIES_DIR)."
        )
    return Path(strategies_dir).expanduser().resolve()


def _on_path(folder: Path) -> None:
    # appended, not prepended: a file in the folder never shadows an installed module (a user's
    # redis.py would otherwise replace the client for the whole process)
    with _lock:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
            importlib.invalidate_caches()


def _import_path(path: str, who: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise StrategyLoadError(f"{who}cls {path!r} is not an import path; write it as package.module:Class.")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if (
            exc.name is not None
            and not module_name.startswith(exc.name)
            and not exc.name.startswith(module_name)
        ):
            raise StrategyLoadError(
                f"{who}cls {path!r}: its module imports {exc.name!r}, which is not installed."
            ) from None
        raise StrategyLoadError(
            f"{who}cls {path!r}: module {module_name!r} is not importable (not installed, not on "
            "the path, not in the strategies folder)."
        ) from None
    except Exception as exc:  # the strategy's own module failed: its error, in one line
        raise StrategyLoadError(
            f"{who}cls {path!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}".rstrip()
        ) from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise StrategyLoadError(f"{who}cls {path!r}: module {module_name!r} has no {attr!r}.")
    return obj


def _eps() -> tuple[Any, ...]:
    return _eps_on(tuple(sys.path))


@functools.lru_cache(maxsize=8)
def _eps_on(path: tuple[str, ...]) -> tuple[Any, ...]:
    """The group's entry points, scanned once per sys.path (a scan reads every installed package's
    metadata, ~4 ms; a backtest per optimizer trial builds Settings, which resolves every strategy)."""
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def _known_eps() -> str:
    names = sorted({ep.name for ep in _eps()})
    return f" ({', '.join(names)})" if names else ""


def _entry_point(name: str, who: str) -> Any | None:
    for ep in _eps():
        if ep.name == name:
            try:
                return ep.load()
            except Exception as exc:
                raise StrategyLoadError(
                    f"{who}cls {name!r}: the entry point {ep.value!r} failed to load: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
    return None


def _folder_modules(folder: Path, who: str) -> Iterator[ModuleType]:
    for path in sorted(folder.glob("*.py")):
        if path.stem.startswith(("_", "test_")) or not path.stem.isidentifier():
            continue
        yield _import_path_module(path.stem, who, folder)


def _import_path_module(name: str, who: str, folder: Path) -> ModuleType:
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        raise StrategyLoadError(
            f"{who}the strategies folder's {name}.py failed to import: {type(exc).__name__}: {exc}"
        ) from None
    where = Path(getattr(module, "__file__", "") or "").resolve().parent
    if where != folder:
        raise StrategyLoadError(
            f"{who}the strategies folder's {name}.py has the name of the module {name!r} "
            f"({where}), which Python imports instead; rename the file."
        )
    return module


def _from_folder(cls: str, folder: Path, who: str) -> Any | None:
    # the file named after the class first (up_ticks.py / upticks.py for UpTicks), then every file
    wanted = {_snake(cls), cls.lower()}
    paths = sorted(folder.glob("*.py"), key=lambda p: (p.stem not in wanted, p.name))
    for path in paths:
        if path.stem.startswith(("_", "test_")) or not path.stem.isidentifier():
            continue
        module = _import_path_module(path.stem, who, folder)
        obj = getattr(module, cls, None)
        if obj is not None:
            return obj
    return None


def _snake(name: str) -> str:
    out = [c if not c.isupper() else ("_" + c.lower() if i else c.lower()) for i, c in enumerate(name)]
    return "".join(out)


def _is_strategy(obj: Any) -> bool:
    return inspect.isclass(obj) and issubclass(obj, BaseStrategy) and obj is not BaseStrategy


def _checked(obj: Any, cls: str, who: str) -> type[BaseStrategy]:
    if not _is_strategy(obj):
        raise StrategyLoadError(
            f"{who}cls {cls!r} is not a strategy (a subclass of athena.strategies.BaseStrategy)."
        )
    params = getattr(obj, "Params", None)
    if not (inspect.isclass(params) and issubclass(params, StrategyParams)):
        raise StrategyLoadError(
            f"{who}cls {cls!r}: its Params must be a subclass of athena.strategies.StrategyParams."
        )
    klass: type[BaseStrategy] = obj
    return klass
