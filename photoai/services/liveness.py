"""Who is running a job, and whether that process is provably gone.

A job row records its claimant (host, pid, the pid's start time, and the RQ worker's name when
RQ ran it). On the same host a claimant is provably dead when its pid is gone or now belongs to
a process that started later (pid reuse, as after a container restart). On another host we
rely on RQ's worker registry instead: a worker whose key expired or that registered its death.
Anything we cannot prove is left to the heartbeat timeout.
"""

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
from rq import get_current_job
from rq.worker import Worker

_PROC = Path("/proc")
# An RQ worker registers its birth after its process started; allow for a coarse clock.
_BIRTH_SLACK_SECONDS = 2.0


@dataclass(frozen=True)
class Claimant:
    host: str
    pid: int
    started: int  # the process's start time in clock ticks since boot; 0 when unknown
    rq_worker: str  # "" when the job ran in-process

    def to_text(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> "Claimant | None":
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None


def _start_ticks(pid: int) -> int | None:
    """The process's start time (ticks since boot), None when there is no such process or it
    is a zombie (dead, waiting for a parent that may never reap it)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _has_proc() -> bool:
    return (_PROC / "self" / "stat").exists()


def current() -> Claimant:
    """This process, as the claimant of the job it is about to run."""
    rq_job = get_current_job()
    return Claimant(
        host=socket.gethostname(),
        pid=os.getpid(),
        started=_start_ticks(os.getpid()) or 0,
        rq_worker=(rq_job.worker_name or "") if rq_job is not None else "",
    )


def process_gone(claimant: Claimant) -> bool:
    """True only when the claimant ran on this host and its process no longer exists."""
    if claimant.host != socket.gethostname() or not _has_proc():
        return False
    started = _start_ticks(claimant.pid)
    return started is None or (claimant.started != 0 and started != claimant.started)


def _boot_time() -> float:
    for line in (_PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")


def _started_after(pid: int, moment: datetime) -> bool | None:
    """Whether the process with this pid started after `moment`; None when there is none."""
    ticks = _start_ticks(pid)
    if ticks is None:
        return None
    started = _boot_time() + ticks / os.sysconf("SC_CLK_TCK")
    return started > moment.timestamp() + _BIRTH_SLACK_SECONDS


def rq_worker_alive(conn: redis.Redis, name: str) -> bool:
    """RQ's view of a worker, corrected by what this host can prove about its process."""
    if not name:
        return False
    data: dict[bytes, bytes] = conn.hgetall(  # type: ignore[assignment]
        Worker.redis_worker_namespace_prefix + name
    )
    if not data or b"death" in data:
        return False
    host, pid, birth = data.get(b"hostname"), data.get(b"pid"), data.get(b"birth")
    if host is None or pid is None or birth is None or not _has_proc():
        return True
    if host.decode() != socket.gethostname():
        return True
    born = datetime.fromisoformat(birth.decode().replace("Z", "+00:00"))
    if born.tzinfo is None:
        born = born.replace(tzinfo=UTC)
    return _started_after(int(pid), born) is False
