"""Children never outlive their parent (athena.procs): the tests' private redis-server, a child
started from a thread that has ended, a parent that died before its child asked to die with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from athena import procs
from athena.procs import wait_until

ROOT = Path(__file__).resolve().parents[2]

# A parent that starts a child its own way, prints the child's pid, then waits to be killed.
REDIS_PARENT = """
import time
from athena.testing.redis_server import RedisServer
server = RedisServer().start()
print(server.proc.pid, flush=True)
time.sleep(600)
"""
THREAD_PARENT = """
import threading, time
from athena import procs
def start():
    child = procs.popen(["sleep", "600"])
    print(child.pid, flush=True)
t = threading.Thread(target=start)
t.start()
t.join()  # the thread that started the child has ended
time.sleep(600)
"""


def _child_of(parent_code: str, tmp_path: Path) -> tuple[subprocess.Popen[str], tuple[int, int]]:
    parent = procs.popen(
        [sys.executable, "-c", parent_code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    [(child, started)] = [p for p in procs.family([pid]) if p[0] == pid]
    return parent, (child, started)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_the_tests_redis_server_dies_with_its_parent(tmp_path: Path, sig: signal.Signals) -> None:
    parent, child = _child_of(REDIS_PARENT, tmp_path)
    try:
        assert procs.alive(*child)
        parent.send_signal(sig)
        parent.wait(30)
        assert wait_until(lambda: not procs.alive(*child), 20), f"redis-server {child[0]} outlived its parent"
    finally:
        parent.kill()
        parent.wait()
        if procs.alive(*child):
            os.kill(child[0], signal.SIGKILL)


def test_a_child_outlives_the_thread_that_started_it_but_not_the_process(tmp_path: Path) -> None:
    parent, child = _child_of(THREAD_PARENT, tmp_path)
    try:
        # PR_SET_PDEATHSIG follows the forking thread: the spawner thread must have done the fork
        assert not wait_until(lambda: not procs.alive(*child), 1.0), "the child died with the starting thread"
        parent.kill()
        parent.wait(30)
        assert wait_until(lambda: not procs.alive(*child), 20), "the child outlived its parent"
    finally:
        parent.kill()
        parent.wait()
        if procs.alive(*child):
            os.kill(child[0], signal.SIGKILL)


def test_a_child_whose_parent_is_already_gone_dies_at_once() -> None:
    # The parent's death fell between fork and the prctl: getppid() is not the parent it was forked for.
    child = subprocess.Popen(["sleep", "600"], preexec_fn=lambda: procs.die_with_parent(os.getpid() + 10**6))
    assert child.wait(20) == -signal.SIGKILL


def test_popen_from_another_thread_still_returns_the_child_and_its_errors() -> None:
    out: list[object] = []

    def start() -> None:
        out.append(
            procs.run([sys.executable, "-c", "print('hi')"], timeout=30, capture_output=True, text=True)
        )
        try:
            procs.popen(["/nonexistent/binary"])
        except FileNotFoundError as exc:
            out.append(exc)

    t = threading.Thread(target=start)
    t.start()
    t.join(60)
    done, missing = out
    assert isinstance(done, subprocess.CompletedProcess) and done.stdout == "hi\n" and done.returncode == 0
    assert isinstance(missing, FileNotFoundError)


def test_run_kills_the_child_at_its_timeout() -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        procs.run(["sleep", "600"], timeout=0.5)
