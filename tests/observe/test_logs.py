"""Log lines: JSON objects in production with the ids of their request or job on each line,
one line when a job attempt starts and one when it ends."""

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from photoai import tasks
from photoai.observe import context, logs
from photoai.services import jobs
from photoai.settings import get_settings
from tests import jobs_support
from tests.factories import make_user


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("json", "INFO", stream)
    yield stream
    logs.configure(get_settings().log_format, "INFO", sys.stderr)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_a_json_object_with_the_ids_of_its_work(json_lines: io.StringIO) -> None:
    log = logging.getLogger("photoai.test")
    with context.unit(request_id="req-000123", user_id=3):
        log.info("checkout for %s", "pack", extra={"credits": 50})
        try:
            raise ValueError("no such pack")
        except ValueError:
            log.exception("checkout failed")
    log.warning("outside any request")

    first, second, third = lines(json_lines)
    assert first["msg"] == "checkout for pack" and first["level"] == "info"
    assert first["logger"] == "photoai.test" and first["ts"].endswith("+00:00")
    assert (first["request_id"], first["user_id"], first["credits"]) == ("req-000123", 3, 50)
    assert second["request_id"] == "req-000123" and "ValueError: no such pack" in second["exc"]
    assert "request_id" not in third


def test_a_job_attempt_logs_one_line_at_start_and_one_at_the_end(
    pg: str, json_lines: io.StringIO
) -> None:
    uid = make_user(10)
    job_id = jobs.create(jobs_support.KIND, user_id=uid, enqueue_now=False)
    failing = jobs.create(
        jobs_support.KIND, user_id=uid, payload={"raise": "transient"}, enqueue_now=False
    )

    assert tasks.run_job(job_id) == "succeeded"
    with pytest.raises(RuntimeError):
        tasks.run_job(failing)

    found = [line for line in lines(json_lines) if line["logger"].startswith("photoai")]
    start, finish, failed_start, error, failed_finish = found
    assert start["msg"] == "job started" and start["attempt"] == 1
    assert failed_start["job_id"] == failing
    assert start["job_id"] == job_id and start["job_kind"] == jobs_support.KIND
    assert start["user_id"] == uid
    assert finish["msg"] == "job finished" and finish["outcome"] == "succeeded"
    assert finish["job_id"] == job_id and finish["duration_ms"] >= 0
    assert error["job_id"] == failing and "provider timed out" in error["exc"]
    assert failed_finish["outcome"] == "retry" and failed_finish["job_id"] == failing


def test_console_lines_on_a_terminal_json_elsewhere() -> None:
    assert logs.resolve_format("auto", Terminal()) == "console"
    assert logs.resolve_format("auto", io.StringIO()) == "json"
    assert logs.resolve_format("json", Terminal()) == "json"
    stream = Terminal()
    logs.configure("auto", "INFO", stream)
    try:
        with context.unit(job_id=9):
            logging.getLogger("photoai.test").info("job finished", extra={"outcome": "ok"})
    finally:
        logs.configure(get_settings().log_format, "INFO", sys.stderr)
    line = stream.getvalue().strip()
    assert "INFO" in line and "photoai.test job finished" in line
    assert line.endswith("outcome=ok job_id=9")
