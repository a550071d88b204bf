"""How many processes the run command starts, and where Reflex keeps its state.

`scripts/run.sh` evaluates `photoai serve-plan`. When the product's Redis answers, Reflex gets
its Redis state manager on a database of its own (the product's database number + 1, so that
Reflex's keyspace notifications and state keys never mix with the queue's keys), one backend
process per core (`GRANIAN_WORKERS`) and `JOB_PROCESSES_PER_CORE` RQ worker processes per
core, at most `MAX_JOB_PROCESSES`. A job mostly waits (for a remote provider, seconds to
minutes; the demo provider's pictures take a few hundred ms of CPU each), and an idle queue
process costs about 25 MB (PSS), so there are enough of them for a burst to start at once
instead of queueing behind a few jobs (bench/job_burst.py, docs/operator-guide.md "Capacity").
The cap keeps the running jobs' database connections, one each, well inside PostgreSQL's
default of 100 beside the backends'. Without Redis the app runs as one backend process with
jobs inside it, as before. A `REFLEX_REDIS_URL` or
`PHOTOAI_JOB_WORKERS` already set in the environment wins over the derived one.
"""

import os
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis

REDIS_DATABASES = 16  # Redis's default `databases`; the derived number must stay below it
JOB_PROCESSES_PER_CORE = 10
MAX_JOB_PROCESSES = 40


@dataclass(frozen=True)
class ServePlan:
    reflex_redis_url: str  # empty: Reflex keeps state in memory (one backend process)
    backend_workers: int
    job_workers: int  # RQ worker processes; 0: jobs run inside the web process

    def shell(self) -> str:
        """`export` lines for `eval` in a shell."""
        values = {
            "REFLEX_REDIS_URL": self.reflex_redis_url,
            "GRANIAN_WORKERS": str(self.backend_workers),
            "PHOTOAI_JOB_WORKERS": str(self.job_workers),
        }
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items())


def reflex_state_url(product_url: str) -> str:
    """The product's Redis URL with the next database number: `redis://h:6379/0` -> `/1`."""
    parts = urlsplit(product_url)
    path = parts.path.strip("/")
    if parts.scheme == "unix":
        # unix:///run/redis.sock?db=2 keeps its database in the query string
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        query["db"] = str(_next_db(query.get("db", "0"), product_url))
        return f"unix://{parts.path}?" + "&".join(f"{k}={v}" for k, v in query.items())
    return urlunsplit(parts._replace(path=f"/{_next_db(path or '0', product_url)}"))


def _next_db(current: str, url: str) -> int:
    if not current.isdigit():
        raise ValueError(f"Cannot read the Redis database number in {url!r}.")
    following = int(current) + 1
    if following >= REDIS_DATABASES:
        raise ValueError(
            f"{url!r} uses Redis database {current}; Reflex needs the next one: use a lower "
            "number or set REFLEX_REDIS_URL yourself."
        )
    return following


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def plan(product_url: str, cores: int, reflex_url: str = "", job_workers: int = 0) -> ServePlan:
    """The processes for this machine; `reflex_url` and `job_workers` (when not 0) are an
    operator's explicit choice."""
    if not product_url or not redis_answers(product_url):
        return ServePlan(reflex_redis_url="", backend_workers=1, job_workers=0)
    cores = max(1, cores)
    return ServePlan(
        reflex_redis_url=reflex_url or reflex_state_url(product_url),
        backend_workers=cores,
        job_workers=job_workers or min(MAX_JOB_PROCESSES, cores * JOB_PROCESSES_PER_CORE),
    )


def current_plan() -> ServePlan:
    from photoai.settings import get_settings

    chosen = os.environ.get("PHOTOAI_JOB_WORKERS", "")
    if chosen and not chosen.isdigit():
        raise ValueError(f"PHOTOAI_JOB_WORKERS must be a whole number, not {chosen!r}.")
    return plan(
        get_settings().redis_url,
        os.cpu_count() or 1,
        os.environ.get("REFLEX_REDIS_URL", ""),
        int(chosen or 0),
    )
