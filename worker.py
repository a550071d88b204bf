"""Background worker: an RQ worker on Redis plus the periodic maintenance loop.

Run `python worker.py`. Without Redis, jobs run inside the web process and this process only
keeps the maintenance loop going (so stale jobs are still reaped).
"""

import logging
import threading

from rq import Worker

import photoai.tasks  # noqa: F401  (registers job kinds and their upkeep)
from photoai.services import maintenance
from photoai.services.queue import rq_queue


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    maintenance.start_thread()
    queue = rq_queue()
    if queue is None:
        logging.getLogger("worker").warning(
            "Redis is not reachable: jobs run inside the web process; "
            "this worker keeps only the maintenance loop."
        )
        threading.Event().wait()
        return
    Worker([queue], connection=queue.connection).work(with_scheduler=True)


if __name__ == "__main__":
    main()
