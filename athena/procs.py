"""Child-process supervision for the demo, e2e tests and chaos runs.

Each child runs in its own process group with its log under var/, so stopping it (or the whole
supervisor) never leaves a grandchild behind (Celery's prefork children included).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Child:
    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        log.close()
        return self

    def signal(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill9(self) -> None:
        """SIGKILL the whole group: the crash a chaos test wants."""
        self.signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the group, wait, then SIGKILL what is left."""
        if not self.proc:
            return None
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()
        # The leader is gone; make sure no member of its group survives it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


@dataclass
class Supervisor:
    log_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[Child] = field(default_factory=list)

    def spawn(self, name: str, args: Sequence[str], extra_env: dict[str, str] | None = None) -> Child:
        env = dict(self.env)
        env.update(extra_env or {})
        child = Child(name, list(args), self.log_dir / f"{name}.log", env).start()
        self.children.append(child)
        return child

    def get(self, name: str) -> Child:
        for c in reversed(self.children):
            if c.name == name:
                return c
        raise KeyError(name)

    def stop_all(self, timeout: float = 15.0) -> None:
        for child in reversed(self.children):
            child.stop(timeout)

    def survivors(self) -> list[int]:
        """PIDs of any process still in one of our children's process groups."""
        pgids = {c.pid for c in self.children if c.pid}
        left = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) in pgids:
                left.append(int(entry.name))
        return left

    @contextlib.contextmanager
    def running(self) -> Iterator[Supervisor]:
        try:
            yield self
        finally:
            self.stop_all()


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    """Poll predicate() until true or timeout; bounded, never a busy loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
