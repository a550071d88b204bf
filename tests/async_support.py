"""Running a coroutine from a synchronous test, whatever else owns this thread's event loop.

The browser journeys keep one Playwright session for the whole test run, and Playwright's
sync API runs an event loop on the main thread: `asyncio.run` there fails. A thread of its
own always has none.
"""

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
