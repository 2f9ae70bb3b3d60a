"""docker-compose.yml, the Dockerfile and .dockerignore cannot run here (no Docker engine): the compose
file is validated against the Compose Specification's published JSON schema, its variables are
resolved the way compose resolves them (tests/unit/compose_model.py) and loaded into Settings, every
command is checked against the real entry points and queue names, the build context is computed from
.dockerignore's rules, and the Redis service's command is run against a real redis-server."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis
import yaml

from athena import procs
from athena.cli import COMMANDS
from athena.config import load_settings
from athena.queues import AccountQueues
from athena.testing.redis_server import find_redis_server, free_port
from tests.unit.compose_model import (
    ComposeError,
    build_context,
    container_env,
    interpolate,
    interpolate_all,
    project_env,
)

ROOT = Path(__file__).resolve().parents[2]
ATHENA_SERVICES = ("sim", "stream-worker", "orders-worker", "beat", "flower")
PASSWORD = "0123456789abcdef0123456789abcdef"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _project(tmp_path: Path, dotenv: str) -> Path:
    """A project directory as an operator has it: the compose file next to their .env."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text(dotenv)
    return tmp_path


def _resolved(project: Path, shell: dict[str, str] | None = None, env_file: str = ".env") -> dict[str, Any]:
    return interpolate_all(_compose(), project_env(project, shell or {}, env_file))


def _example_env(**changes: str) -> str:
    """.env.example as its header says to use it: copied, then REDIS_PASSWORD and FLOWER_BASIC_AUTH set."""
    text = (ROOT / ".env.example").read_text()
    values = {"REDIS_PASSWORD": PASSWORD, "FLOWER_BASIC_AUTH": "ops:flower-pw-123", **changes}
    for key, value in values.items():
        text, n = re.subn(rf"^#?\s*{key}=.*$", f"{key}={value}", text, flags=re.M)
        if not n:
            text += f"\n{key}={value}\n"
    return text


# -- the schema and the entry points --------------------------------------------------------------------
def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    errors = sorted(validator.iter_errors(_compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    # the schema does reject what compose rejects (it is not a schema that accepts anything)
    broken = _compose()
    broken["services"]["beat"]["restart_policy"] = "always"
    assert list(validator.iter_errors(broken))


def test_compose_has_every_service_with_healthchecks_and_env(tmp_path: Path) -> None:
    services = _resolved(_project(tmp_path, _example_env()))["services"]
    assert set(services) >= {"redis", *ATHENA_SERVICES}
    for name in ("redis", "sim", "stream-worker", "orders-worker", "flower"):
        assert "healthcheck" in services[name], name
    for name in ATHENA_SERVICES:
        assert services[name]["env_file"] == ".env"
        assert "athena-data:/data" in services[name]["volumes"]
    assert services["sim"]["profiles"] == [
        "sim"
    ]  # README and the header: `docker compose --profile sim up -d`
    header = (ROOT / "docker-compose.yml").read_text().split("\nx-athena", 1)[0]
    assert "docker compose --profile sim up -d" in header


def test_compose_commands_point_at_real_entry_points_and_the_accounts_queues(tmp_path: Path) -> None:
    services = _resolved(_project(tmp_path, _example_env(ATHENA_ACCOUNT="acct7")))["services"]
    queues = AccountQueues("acct7")
    for name, svc in services.items():
        cmd = svc.get("command")
        if not cmd or name == "redis" or svc.get("image") != "athena:latest":
            continue  # redis, and the monitoring profile's prometheus and grafana: their own images
        if cmd[0] == "celery":
            module = cmd[cmd.index("-A") + 1]
            assert hasattr(importlib.import_module(module), "app"), f"{name}: {module} has no Celery app"
            assert cmd[3] in ("worker", "beat", "flower"), name
            assert "--loglevel" not in cmd and "-l" not in cmd, f"{name}: the level is ATHENA_LOG_LEVEL's"
        elif cmd[0] == "athena":
            assert cmd[1] in COMMANDS, f"{name}: athena {cmd[1]} is not a command"
            module, func = COMMANDS[cmd[1]][0].split(":")
            assert callable(getattr(importlib.import_module(module), func))
        else:
            raise AssertionError(f"{name}: unknown entry point {cmd[0]}")
    # the worker command lines are athena.queues' (the launcher and the README use the same)
    assert services["stream-worker"]["command"] == queues.worker_command("stream")
    assert services["orders-worker"]["command"] == queues.worker_command("orders")


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


# -- the monitoring profile ---------------------------------------------------------------------------------
def _mounts(svc: dict[str, Any]) -> dict[str, Path]:
    """container path -> repo path of the service's bind mounts (./...)."""
    out = {}
    for v in svc.get("volumes", []):
        src, dst = v.split(":")[:2]
        if src.startswith("./"):
            out[dst] = ROOT / src
    return out


def _exported_metric_names() -> set[str]:
    """Every metric name athena/observe defines, with the suffixes Prometheus gives counters and
    histograms."""
    names: set[str] = set()
    for path in (ROOT / "athena" / "observe").glob("*.py"):
        names |= set(re.findall(r'"(athena_[a-z_]+)"', path.read_text()))
    return names | {f"{n}{s}" for n in names for s in ("_total", "_bucket", "_count", "_sum")}


def test_monitoring_profile_scrapes_both_workers_and_provisions_the_dashboard(tmp_path: Path) -> None:
    project = _project(tmp_path, _example_env(ATHENA_ACCOUNT="acct7"))
    services = _resolved(project)["services"]
    prom, graf = services["prometheus"], services["grafana"]
    assert prom["profiles"] == graf["profiles"] == ["monitoring"]  # opt-in: `--profile monitoring`
    assert prom["ports"] == ["127.0.0.1:9090:9090"] and graf["ports"] == ["127.0.0.1:3000:3000"]
    header = (ROOT / "docker-compose.yml").read_text().split("\nx-athena", 1)[0]
    assert "docker compose --profile monitoring up -d" in header
    # every file the two mount is in the repository
    prom_files, graf_files = _mounts(prom), _mounts(graf)
    for path in [*prom_files.values(), *graf_files.values()]:
        assert path.exists(), path
    config = yaml.safe_load(prom_files["/etc/prometheus/prometheus.yml"].read_text())
    assert prom["command"][0] == "--config.file=/etc/prometheus/prometheus.yml"
    # the scrape targets are the workers' services on the ports their Settings serve metrics on
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    ports = {}
    for service in ("stream-worker", "orders-worker"):
        settings = load_settings(
            environ=container_env(services[service], project), config_dir=ROOT / "config", dotenv=False
        )
        assert settings.metrics.host == "0.0.0.0"  # reachable from the prometheus container
        ports[service] = (
            settings.metrics.stream_port if service == "stream-worker" else settings.metrics.orders_port
        )
    assert targets == {
        "athena-stream": [f"stream-worker:{ports['stream-worker']}"],
        "athena-orders": [f"orders-worker:{ports['orders-worker']}"],
    }
    assert 0 not in ports.values() and len(set(ports.values())) == 2
    # no worker port is published on the host: Prometheus reaches them on the compose network
    assert "ports" not in services["stream-worker"] and "ports" not in services["orders-worker"]
    # the rules Prometheus loads are mounted where its config says, and query metrics that exist
    [rules_path] = config["rule_files"]
    rules = yaml.safe_load(prom_files[rules_path].read_text())
    exported = _exported_metric_names()
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    assert exprs and all(set(re.findall(r"athena_[a-z_]+", e)) <= exported for e in exprs), exprs

    # Grafana: the datasource is that Prometheus; the dashboards provider reads the mounted dashboards
    prov = graf_files["/etc/grafana/provisioning"]
    [ds] = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert ds["url"] == "http://prometheus:9090" and ds["type"] == "prometheus"
    [provider] = yaml.safe_load((prov / "dashboards" / "athena.yml").read_text())["providers"]
    dash_dir = graf_files[provider["options"]["path"]]
    assert dash_dir == ROOT / "deploy" / "grafana" / "dashboards"
    dashboard = json.loads((dash_dir / "athena.json").read_text())
    home = container_env(graf, project)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/athena.json"
    queried: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == ds["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == ds["uid"]
            queried |= set(re.findall(r"athena_[a-z_]+", target["expr"]))
    assert queried <= exported, sorted(queried - exported)
    # the metrics are all on the dashboard
    wanted = {
        "athena_equity_usdt",
        "athena_realised_pnl_usdt",
        "athena_fees_usdt_total",
        "athena_funding_usdt_total",
        "athena_drawdown_ratio",
        "athena_position_contracts",
        "athena_position_stop_covered",
        "athena_position_unprotected_seconds_total",
        "athena_orders_total",
        "athena_fills_total",
        "athena_rejects_total",
        "athena_order_latency_seconds_bucket",
        "athena_stop_latency_seconds_bucket",
        "athena_ws_connected",
        "athena_ws_last_message_age_seconds",
        "athena_reconcile_drift_total",
        "athena_breaker_open",
        "athena_halted",
    }
    assert wanted <= queried, sorted(wanted - queried)
    # Grafana's admin password comes from the environment, and is documented
    assert container_env(graf, project)["GF_SECURITY_ADMIN_PASSWORD"] == ""
    assert "# GRAFANA_ADMIN_PASSWORD=" in (ROOT / ".env.example").read_text()
    with_pw = _resolved(_project(tmp_path, _example_env(GRAFANA_ADMIN_PASSWORD="graf-pw-123")))["services"][
        "grafana"
    ]
    assert container_env(with_pw, project)["GF_SECURITY_ADMIN_PASSWORD"] == "graf-pw-123"


# -- the environment inside the containers -----------------------------------------------------------------
@pytest.mark.parametrize(
    "local_redis_url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:other@10.9.9.9:6390/5",
        "sentinel://127.0.0.1:26379;sentinel://127.0.0.1:26380",
    ],
)
def test_inside_containers_redis_is_the_compose_broker_whatever_env_says(
    tmp_path: Path, local_redis_url: str
) -> None:
    """.env.example's REDIS_URL (this machine's Redis, for runs outside docker) must not reach the
    containers: there it would point every worker at itself."""
    project = _project(
        tmp_path,
        _example_env(
            REDIS_URL=local_redis_url,
            ATHENA_ACCOUNT="acct7",
            ATHENA_RESULT_BACKEND="redis://127.0.0.1:6379/3",
            REDIS_SENTINEL_MASTER="m",
        ),
    )
    services = _resolved(project)["services"]
    for name in ATHENA_SERVICES:
        env = container_env(services[name], project)
        assert env["REDIS_URL"] == f"redis://:{PASSWORD}@redis:6379/0", name
        settings = load_settings(environ=env, config_dir=ROOT / "config", dotenv=False)
        assert settings.redis_url.get_secret_value() == f"redis://:{PASSWORD}@redis:6379/0"
        assert settings.result_backend.get_secret_value() == "" and settings.redis_sentinel_master == ""
        assert settings.account == "acct7" and settings.env == "production"
        assert settings.db_url == "sqlite:////data/athena.db"
        assert PASSWORD in settings.secrets()  # redacted from every log line
    assert container_env(services["flower"], project)["FLOWER_BASIC_AUTH"] == "ops:flower-pw-123"
    assert container_env(services["redis"], project)["REDIS_PASSWORD"] == PASSWORD


def test_workers_on_another_host_point_at_the_broker_host(tmp_path: Path) -> None:
    project = _project(tmp_path, _example_env(ATHENA_BROKER_HOST="10.0.0.5"))
    services = _resolved(project)["services"]
    for name in ("stream-worker", "orders-worker", "beat"):
        assert container_env(services[name], project)["REDIS_URL"] == f"redis://:{PASSWORD}@10.0.0.5:6379/0"
    published = _resolved(_project(tmp_path, _example_env(ATHENA_REDIS_BIND="10.0.0.5")))["services"][
        "redis"
    ]["ports"]
    assert published == ["10.0.0.5:6379:6379"]


def test_a_second_accounts_project_gets_its_own_keys_and_queues(tmp_path: Path) -> None:
    """`docker compose -p acct2 --env-file acct2.env up`: its containers read acct2.env, not .env."""
    project = _project(tmp_path, _example_env(OKX_API_KEY="key-of-main"))
    (project / "acct2.env").write_text(
        _example_env(
            ATHENA_ACCOUNT="acct2",
            OKX_API_KEY="key-of-acct2",
            ATHENA_ENV_FILE="acct2.env",
            ATHENA_BROKER_HOST="10.0.0.5",
        )
    )
    services = _resolved(project, env_file="acct2.env")["services"]
    for name in ("stream-worker", "orders-worker", "beat"):
        env = container_env(services[name], project)
        assert (env["ATHENA_ACCOUNT"], env["OKX_API_KEY"]) == ("acct2", "key-of-acct2"), name
        assert env["REDIS_URL"] == f"redis://:{PASSWORD}@10.0.0.5:6379/0"
    assert services["orders-worker"]["command"] == AccountQueues("acct2").worker_command("orders")


def test_compose_refuses_without_a_redis_password_or_flower_auth(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="REDIS_PASSWORD"):
        _resolved(_project(tmp_path, _example_env(REDIS_PASSWORD="")))
    with pytest.raises(ComposeError, match="FLOWER_BASIC_AUTH"):
        _resolved(_project(tmp_path, _example_env(FLOWER_BASIC_AUTH="")))


def test_interpolation_follows_the_compose_rules() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert (
        interpolate("a$$b ${SET} $SET ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-${SET}x}", env)
        == "a$b v v d d  vx"
    )
    assert interpolate("${SET:+alt}${UNSET:+alt}${EMPTY+alt}", env) == "altalt"
    for bad in ("${UNSET:?need it}", "${EMPTY:?need it}", "${UNSET?need it}"):
        with pytest.raises(ComposeError):
            interpolate(bad, env)
    assert interpolate("${EMPTY?fine}", env) == ""


# -- Redis: persistence and a password, never on a command line ----------------------------------------
def test_redis_service_runs_with_appendonly_and_the_password(tmp_path: Path) -> None:
    """The compose redis command, run as the container would run it (sh -c, its environment) against
    this machine's redis-server on a free port: it asks for the password, has AOF on, and the password
    is on no process's command line."""
    project = _project(tmp_path, _example_env())
    svc = _resolved(project)["services"]["redis"]
    env = container_env(svc, project)
    port = free_port()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    real = find_redis_server()
    shim = bindir / "redis-server"  # the image's redis-server, on a free port and in the test's directory
    shim.write_text(
        f'#!/bin/sh\nexec {shlex.quote(real)} "$@" --port {port} --bind 127.0.0.1 --dir '
        f"{shlex.quote(str(tmp_path))}\n"
    )
    shim.chmod(0o755)
    child_env = {"PATH": f"{bindir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path), **env}
    proc = procs.popen(svc["command"], env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
        assert procs.wait_until(lambda: _answers(url), 20, interval=0.1), (
            proc.stdout.read(2000) if proc.poll() else ""
        )
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        client = redis.Redis.from_url(url)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()  # exec: redis-server is the process itself
        assert b"redis-server" in cmdline and PASSWORD.encode() not in cmdline
        client.close()
        # the healthcheck, with the same environment
        check = svc["healthcheck"]["test"]
        assert check[0] == "CMD-SHELL"
        cli = shutil.which("redis-cli")
        if cli:
            clibin = bindir / "redis-cli"
            clibin.write_text(f'#!/bin/sh\nexec {shlex.quote(cli)} -p {port} "$@"\n')
            clibin.chmod(0o755)
            assert procs.run(["sh", "-c", check[1]], env=child_env, timeout=10).returncode == 0
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


# -- Flower ------------------------------------------------------------------------------------------------
def test_flower_auth_comes_from_the_environment_and_binds_loopback(tmp_path: Path) -> None:
    services = _resolved(_project(tmp_path, _example_env()))["services"]
    flower = services["flower"]
    assert not any("basic-auth" in str(a) for a in flower["command"])  # never a password on argv
    assert all(str(p).startswith("127.0.0.1:") for p in flower["ports"])
    assert "${FLOWER_BASIC_AUTH:?" in json.dumps(_compose()["services"]["flower"]["environment"])
    readme = (ROOT / "README.md").read_text()
    lines = [line for line in readme.splitlines() if "workers.app flower" in line]
    assert lines, "the README shows how to start Flower"
    for line in lines:
        assert "--address=127.0.0.1" in line and "--basic-auth=" not in line, line


def test_dashboard_service_binds_loopback_and_takes_its_password_from_the_environment(tmp_path: Path) -> None:
    project = _project(tmp_path, _example_env(ATHENA_DASHBOARD_PASSWORD="dash-pw-123"))
    dash = _resolved(project)["services"]["dashboard"]
    assert dash["profiles"] == ["dashboard"] and dash["env_file"] == ".env"
    assert all(str(p).startswith("127.0.0.1:") for p in dash["ports"])
    assert "dash-pw-123" not in json.dumps(dash["command"]) and "password" not in " ".join(dash["command"])
    settings = load_settings(environ=container_env(dash, project), config_dir=ROOT / "config", dotenv=False)
    assert (
        settings.dashboard.password.get_secret_value() == "dash-pw-123"
        and "dash-pw-123" in settings.secrets()
    )


# -- the image -------------------------------------------------------------------------------------------
def test_image_installs_runtime_dependencies_only() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install[^&\n]*?'?\.(\[[a-z,]+\])?'?(?:\s|$)", dockerfile)
    assert installs == ["[flower]"], installs
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["flower"]
    assert [re.split(r"[<>=\[ ;]", d)[0] for d in extra] == ["flower"]
    dev_tools = {"pytest", "mypy", "ruff", "hypothesis", "ccxt", "python-okx", "pytest-celery", "jsonschema"}
    runtime = {re.split(r"[<>=\[ ;]", d)[0] for d in project["dependencies"]}
    assert not runtime & dev_tools


def _git_tree(root: Path, dest: Path) -> None:
    """The repository's tracked files (empty), as a checkout would have them."""
    files = procs.run(
        ["git", "ls-files"], cwd=root, capture_output=True, text=True, timeout=30
    ).stdout.split()
    assert files, "git ls-files found nothing"
    for rel in files:
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")


SECRETS_AND_STATE = [
    ".env",
    ".env.production",
    "config/local.json",
    "var/athena.db",
    "var/logs/orders.log",
    ".venv/bin/python",
    ".venv/lib/python3.11/site-packages/x.py",
    "athena/__pycache__/config.cpython-311.pyc",
    "dump.rdb",
    "celerybeat-schedule",
    "athena.db",
    "workers/.env",
    "config/.env",
    ".git/config",
    "tests/unit/test_x.py",
    "bench/results/x.json",
    "athena/var/x",
]


def test_build_context_holds_the_code_and_no_secret_or_local_state(tmp_path: Path) -> None:
    tree = tmp_path / "checkout"
    _git_tree(ROOT, tree)
    for rel in SECRETS_AND_STATE:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text("secret")
    context = set(build_context(tree, (ROOT / ".dockerignore").read_text()))
    assert not context & set(SECRETS_AND_STATE), sorted(context & set(SECRETS_AND_STATE))
    assert not [
        p for p in context if p.startswith((".venv/", "var/", ".git/", "tests/")) or "/.env" in f"/{p}"
    ]
    # everything the Dockerfile copies is there
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert src in context or any(p.startswith(src + "/") for p in context), (
                    f"COPY {src}: not in the context"
                )
    assert {
        "athena/config.py",
        "workers/app.py",
        "config/base.json",
        "config/production.json",
        "pyproject.toml",
    } <= context


def test_dockerignore_matching_follows_dockers_rules() -> None:
    from tests.unit.compose_model import dockerignore_rules, ignored

    rules = dockerignore_rules("**\n!athena\n**/*.pyc\n!athena/keep.pyc\nconfig/local.json\n")
    assert ignored("README.md", rules) and ignored("config/local.json", rules)
    assert not ignored("athena/x.py", rules) and not ignored("athena/sub/y.py", rules)
    assert ignored("athena/x.pyc", rules) and ignored("athena/sub/x.pyc", rules)
    assert not ignored("athena/keep.pyc", rules)
    only = dockerignore_rules("/var\n*.log\n")
    assert ignored("var/a/b", only) and ignored("x.log", only) and not ignored("a/x.log", only)


# -- routing and beat ----------------------------------------------------------------------------------------
def test_beat_schedule_names_registered_tasks_with_expiry_on_the_routed_queue() -> None:
    import workers.tasks  # noqa: F401 - registers the tasks
    from beat_schedule import build_schedule
    from workers.app import app

    settings = load_settings(env="test", environ={"ATHENA_ACCOUNT": "acctb"}, dotenv=False)
    schedule = build_schedule(settings)
    assert {e["task"] for e in schedule.values()} == {
        "athena.heartbeat",
        "athena.sync_positions",
        "athena.protect_positions",
        "athena.reconcile",
        "athena.cancel_ghost_orders",
        "athena.snapshot_equity",
        "athena.check_drawdown",
        "athena.watch_venue",
        "athena.book_funding",
        "athena.prune_indexes",
        "athena.daily_summary",
    }
    queues = AccountQueues("acctb")
    for entry in schedule.values():
        assert entry["task"] in app.tasks
        every = entry["schedule"]  # seconds, or a crontab (the daily summary: once a day)
        period = (
            every if isinstance(every, int | float) else every.remaining_estimate(every.now()).total_seconds()
        )
        assert 0 < entry["options"]["expires"] <= max(period, 3600.0)
        assert entry["options"]["queue"] == queues.for_task(entry["task"])  # the one routing table
    assert schedule["heartbeat"]["options"]["queue"] == "orders.acctb"
    assert schedule["reconcile"]["options"]["queue"] == "default.acctb"
    daily = schedule["daily_summary"]["schedule"]
    assert daily.hour == {settings.alerts.daily_summary_hour_utc} and daily.minute == {0}


def test_task_routing_and_delivery_guarantees() -> None:
    import workers.tasks as tasks
    from athena import queues
    from workers.app import app

    account = queues.account_of(app.conf.task_default_queue)
    assert account
    registered = {name for name in app.tasks if name.startswith("athena.")}
    # the research worker's one task lives on its own app (workers.research), not the orders worker's
    assert registered == set(queues.ROUTES) - {queues.RUN_TRIAL}, (
        "every task has a route in athena.queues, and only tasks do"
    )
    from workers.research import app as research_app

    assert queues.RUN_TRIAL in research_app.tasks
    assert research_app.amqp.router.route({}, queues.RUN_TRIAL)["queue"].name == f"research.{account}"
    for name in (
        "place_order",
        "submit_stop_loss",
        "cancel_order",
        "cancel_stop",
        "flatten",
        "halt",
        "heartbeat",
        "protect_positions",
        "cancel_ghost_orders",
    ):
        task = getattr(tasks, name)
        assert app.amqp.router.route({}, task.name)["queue"].name == f"orders.{account}", name
    for name in (
        "reconcile",
        "sync_positions",
        "snapshot_equity",
        "check_drawdown",
        "resume",
        "ping",
        "watch_venue",
        "book_funding",
        "prune_indexes",
    ):
        assert app.amqp.router.route({}, f"athena.{name}")["queue"].name == f"default.{account}", name
    for name in ("place_order", "submit_stop_loss", "cancel_order", "flatten"):
        task = getattr(tasks, name)
        assert task.acks_late and task.reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    # each queue on an exchange of its own, under its own routing key
    bindings = {(qu.name, qu.exchange.name, qu.routing_key) for qu in app.conf.task_queues}
    assert bindings == {
        (f"{r}.{account}", f"{r}.{account}", f"{r}.{account}")
        for r in ("orders", "stream", "default", "research")
    }


def test_tasks_promise_no_time_limit_and_their_clients_time_out() -> None:
    """The threads pool (and solo) never enforce a Celery time limit: none is set, and the clients a
    task blocks on (Redis, the exchange) carry their own timeouts instead."""
    import workers.tasks as tasks
    from athena.config import load_settings
    from athena.wiring import okx_rest, redis_from_settings
    from workers.app import app

    assert app.conf.task_time_limit is None and app.conf.task_soft_time_limit is None
    for name, task in app.tasks.items():
        if name.startswith("athena."):
            assert task.time_limit is None and task.soft_time_limit is None, name
    assert tasks.place_order.name in app.tasks  # the task bodies are registered, so the loop saw them
    settings = load_settings(env="test", environ={}, dotenv=False)
    redis = redis_from_settings(settings)
    rest = okx_rest(settings)
    try:
        kwargs = redis.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] > 0 and kwargs["socket_connect_timeout"] > 0
        connect_s, read_s = rest.timeout  # type: ignore[attr-defined]
        assert 0 < connect_s <= read_s == settings.okx.timeout_s
    finally:
        redis.close()
        rest.close()
