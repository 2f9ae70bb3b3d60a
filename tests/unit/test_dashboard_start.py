"""`athena dashboard` refuses to start, in one sentence, without a password or without Redis."""

from __future__ import annotations

import subprocess
import sys

from athena import procs
from athena.testing.redis_server import free_port


def _dashboard(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith(("ATHENA_", "REDIS_"))}
    full.update({"ATHENA_ENV": "test", **env})
    return procs.run(
        [sys.executable, "-m", "athena.cli", "dashboard", "--port", "0"],
        env=full,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def test_no_password_no_dashboard() -> None:
    out = _dashboard({"ATHENA_DASHBOARD_PASSWORD": ""})
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "athena dashboard: no dashboard password is set: set ATHENA_DASHBOARD_PASSWORD "
        "(or dashboard.password in config/local.json) and start it again"
    )


def test_redis_down_is_one_sentence() -> None:
    secret = "pw-never-shown-123"
    out = _dashboard({"ATHENA_DASHBOARD_PASSWORD": secret, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert out.returncode == 3, out.stderr
    lines = out.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("athena dashboard: Redis at 127.0.0.1:")
        and "Traceback" not in out.stderr
    )
    assert secret not in out.stdout + out.stderr
