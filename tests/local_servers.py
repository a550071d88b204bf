"""Loopback servers for tests: free ports, and our ASGI routes run by granian as in production."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from photoai.settings import PROJECT_ROOT


def start_logged(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A child in a process group of its own (so stop_group ends its children too), run from
    the project folder, writing everything it prints to `log`."""
    return subprocess.Popen(
        args,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until_serving(
    proc: subprocess.Popen[bytes],
    log: Path,
    ready: Callable[[], bool],
    what: str,
    timeout: float = 600,
) -> None:
    """Poll `ready` (HTTP errors count as not yet) until it says yes; the log's tail explains
    a child that exited or never came up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if ready():
                return
        time.sleep(1)
    raise RuntimeError(f"{what} did not come up:\n{log.read_text()[-4000:]}")


def stop_group(proc: subprocess.Popen[bytes], grace: float = 20) -> None:
    """Stop a process group, killing it after `grace` seconds; it may be gone already."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served_by_granian(app: str, port: int) -> Iterator[None]:
    """Serve the ASGI app `module:attribute` on 127.0.0.1:`port` in a child process that gets
    this process's environment (so the settings tests set apply), until the block ends."""
    granian = Path(sys.executable).with_name("granian")
    command = [str(granian), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", "1", "--log-level", "warning", app]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("granian did not start") from None
                time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)
