"""Loopback servers for tests: free ports, and our ASGI routes run by granian as in production."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from photoai.settings import PROJECT_ROOT


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
