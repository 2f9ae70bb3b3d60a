"""docker-compose.yml cannot run here (no Docker engine): parse it and check every command against
the real entry points, and the beat schedule against the registered tasks."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from athena.cli import COMMANDS
from athena.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_every_service_with_healthchecks_and_env() -> None:
    services = _compose()["services"]
    assert set(services) >= {"redis", "sim", "stream-worker", "orders-worker", "beat", "flower"}
    for name in ("redis", "sim", "stream-worker", "orders-worker", "flower"):
        assert "healthcheck" in services[name], name
    for name in ("stream-worker", "orders-worker", "beat", "flower", "sim"):
        assert services[name]["env_file"] == ".env"
        assert "athena-data:/data" in services[name]["volumes"]
    assert "--appendonly" in services["redis"]["command"]  # Redis restarts keep orders and locks


def test_compose_commands_point_at_real_entry_points() -> None:
    services = _compose()["services"]
    for name, svc in services.items():
        cmd = svc.get("command")
        if not cmd or name == "redis":
            continue
        if cmd[0] == "celery":
            module = cmd[cmd.index("-A") + 1]
            mod = importlib.import_module(module)
            assert hasattr(mod, "app"), f"{name}: {module} has no Celery app"
            assert cmd[3] in ("worker", "beat", "flower"), name
        elif cmd[0] == "athena":
            assert cmd[1] in COMMANDS, f"{name}: athena {cmd[1]} is not a command"
            module, func = COMMANDS[cmd[1]][0].split(":")
            assert callable(getattr(importlib.import_module(module), func))
        else:
            raise AssertionError(f"{name}: unknown entry point {cmd[0]}")
    stream = services["stream-worker"]["command"]
    assert stream[stream.index("-Q") + 1] == "stream" and stream[stream.index("-P") + 1] == "solo"
    orders = services["orders-worker"]["command"]
    assert set(orders[orders.index("-Q") + 1].split(",")) == {"orders", "default"}


def test_recorder_service_records_public_data_into_the_volume() -> None:
    import re

    from athena.marketdata.record import STATUS_FILE, _parser

    rec = _compose()["services"]["recorder"]
    assert rec["profiles"] == ["record"] and rec["depends_on"] == []  # opt-in; needs no Redis, no keys
    assert rec["restart"] == "unless-stopped" and "athena-data:/data" in rec["volumes"]
    cmd = [re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(a)) for a in rec["command"]]  # compose's defaults
    assert cmd[:2] == ["athena", "record"]
    args = _parser().parse_args(cmd[2:])
    assert args.venue == "okx" and args.out == Path("/data/marketdata/recorded")
    assert args.instIds == "BTC-USDT-SWAP,ETH-USDT-SWAP" and "books" in args.channels.split(",")
    check = " ".join(rec["healthcheck"]["test"])
    assert f"{args.out}/{STATUS_FILE}" in check and "'connected'" in check
    assert rec["stop_grace_period"] == "30s"
    env_example = (ROOT / ".env.example").read_text()
    for var in re.findall(r"\$\{([A-Z_]+):-", " ".join(map(str, rec["command"]))):
        assert f"# {var}=" in env_example, var  # every knob of the service is documented


def test_flower_requires_basic_auth() -> None:
    flower = _compose()["services"]["flower"]
    assert any(str(a).startswith("--basic-auth=") for a in flower["command"])
    assert all(p.startswith("127.0.0.1:") for p in flower["ports"])  # not exposed beyond the host


def test_beat_schedule_names_registered_tasks_with_expiry() -> None:
    import workers.tasks  # noqa: F401 - registers the tasks
    from beat_schedule import build_schedule
    from workers.app import app

    schedule = build_schedule(load_settings(env="test", environ={}, dotenv=False))
    assert {e["task"] for e in schedule.values()} == {
        "athena.heartbeat", "athena.sync_positions", "athena.protect_positions", "athena.reconcile",
        "athena.cancel_ghost_orders", "athena.snapshot_equity", "athena.check_drawdown", "athena.watch_venue",
        "athena.book_funding",
    }
    for entry in schedule.values():
        assert entry["task"] in app.tasks
        assert 0 < entry["options"]["expires"] <= entry["schedule"]


def test_task_routing_and_delivery_guarantees() -> None:
    import workers.tasks as tasks
    from workers.app import app

    for name in ("place_order", "submit_stop_loss", "cancel_order", "flatten"):
        task = getattr(tasks, name)
        assert task.acks_late and task.reject_on_worker_lost and task.time_limit
        assert app.amqp.router.route({}, task.name)["queue"].name == "orders"
    assert app.amqp.router.route({}, "athena.reconcile")["queue"].name == "default"
    assert app.conf.worker_prefetch_multiplier == 1
