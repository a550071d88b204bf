"""Real `python worker.py` processes for fault tests, and a way to kill one with its work horses.

RQ puts each work horse in a process group of its own, so killing the worker's group leaves
the horse running; `kill_tree` collects every descendant first and kills them all.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from photoai.settings import PROJECT_ROOT

# The real entry point, run after registering the test job kind (tests/jobs_support.py).
WORKER_CODE = (
    "import runpy, sys, tests.jobs_support; sys.argv[0] = 'worker.py'; "
    "runpy.run_path('worker.py', run_name='__main__')"
)


def start_worker(log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start `worker.py [args]` with this test's settings (the environment), logging to a file."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE, *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie has finished: only its exit status is left)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def kill_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and everything it started (horses, scheduler, upkeep)."""
    _kill([process.pid, *descendants(process.pid)])
    process.wait()


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Ask for a warm shutdown; whatever is still alive after `grace` seconds is killed."""
    family = descendants(process.pid)
    process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace)
    _kill([process.pid, *family])
    process.wait()


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()
