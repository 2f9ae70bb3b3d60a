"""Child processes for the demo, e2e tests, chaos runs and benchmarks: started so that they never
outlive their parent.

`popen` / `run` start a child that dies with this process, even when it is SIGKILLed (no shutdown
code runs): on Linux the child asks the kernel for SIGKILL when its parent goes
(prctl PR_SET_PDEATHSIG), between fork and exec. SIGKILL and not SIGTERM: with the parent gone
nobody could escalate a graceful shutdown that hangs, and every child is built to survive a crash
(acks_late tasks redelivered, idempotent by clOrdId; Redis with AOF where state matters).

The kernel sends that signal when the THREAD that forked the child ends, not the process: a child
started from a short-lived thread would die with the thread. So children are forked from the main
thread, or else from one spawner thread that lives as long as the process.

Grandchildren: Celery's prefork pool processes ask for SIGKILL at their master's death themselves
(celery.concurrency.prefork.process_initializer); the solo and threads pools, beat, Flower, the sim
and redis-server have none. Each Supervisor child also runs in its own process group with its log
under var/, so stopping it (or the whole supervisor) never leaves a grandchild behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class _Stat:
    ppid: int
    pgid: int
    started: int  # clock ticks after boot: with the pid, names one process even if the pid is reused


def _stat(pid: int) -> _Stat | None:
    """/proc/<pid>/stat of a live (not zombie) process, else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return _Stat(ppid=int(fields[1]), pgid=int(fields[2]), started=int(fields[19]))


def _proc_table() -> dict[int, _Stat]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = st
    return table


def family(pids: Iterable[int]) -> list[tuple[int, int]]:
    """(pid, start time) of the given live processes, their process groups' members and all their
    descendants: what must be gone once their parent is."""
    table = _proc_table()
    roots = {p for p in pids if p in table}
    members = roots | {p for p, st in table.items() if st.pgid in roots}
    grew = True
    while grew:
        more = {p for p, st in table.items() if st.ppid in members} - members
        members |= more
        grew = bool(more)
    return sorted((p, table[p].started) for p in members)


def alive(pid: int, started: int) -> bool:
    """Whether that very process (pid and start time) is still running (a zombie is not)."""
    st = _stat(pid)
    return st is not None and st.started == started


PR_SET_PDEATHSIG = 1
_SIGKILL = int(signal.SIGKILL)


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None  # no parent-death signal elsewhere: children then live until stopped
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl  # type: ignore[no-any-return]


_prctl = _load_prctl()  # loaded here: the child, between fork and exec, must not import or load anything


def die_with_parent(parent: int) -> None:
    """Have this process SIGKILLed when its parent dies, and now if `parent` (a pid) is gone already:
    before the prctl took effect we may have been handed to another process, and then no signal
    comes. Runs in the child between fork and exec (popen's preexec_fn), so it imports nothing."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), _SIGKILL)


class _Spawner:
    """Runs each Popen on the main thread or on one daemon thread that lives until the process exits
    (see the module's docstring)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A fresh start, also in a forked child (where the thread is gone and the lock may be held)."""
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, job: Callable[[], Any]) -> Any:
        if threading.current_thread() is threading.main_thread():
            return job()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, args=(self._jobs,), name="athena-spawner", daemon=True
                )
                self._thread.start()
            done: Future[Any] = Future()
            self._jobs.put((job, done))
        return done.result()

    @staticmethod
    def _loop(jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]) -> None:
        while True:
            job, done = jobs.get()
            try:
                done.set_result(job())
            except BaseException as exc:
                done.set_exception(exc)


_spawner = _Spawner()
os.register_at_fork(after_in_child=_spawner.reset)


def popen(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """subprocess.Popen for a child that dies with this process, even on SIGKILL."""
    if "preexec_fn" in kwargs:
        raise TypeError("popen sets preexec_fn itself")
    preexec = functools.partial(die_with_parent, os.getpid())
    return _spawner.run(lambda: subprocess.Popen(list(args), preexec_fn=preexec, **kwargs))  # type: ignore[no-any-return]


def run(
    args: Sequence[str], timeout: float, input: Any = None, capture_output: bool = False, **kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    """subprocess.run for a child that dies with this process: killed at timeout (TimeoutExpired)."""
    if capture_output:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    with popen(args, **kwargs) as proc:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


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
        self.proc = popen(
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
        return [pid for pid, st in _proc_table().items() if st.pgid in pgids]

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
