"""Log lines: JSON objects in production, short readable lines on a terminal.

Every line carries the ids of its unit of work (request, UI event, job, user) from
`observe.context`. Plain stdlib logging: a formatter and a filter are all this needs.
"""

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from photoai.observe import context

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_HANDLER_NAME = "photoai"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, so log shippers need no parsing rules."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            line["exc"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """Time, level, logger and message, then the ids and extras as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = " ".join(f"{key}={value}" for key, value in _extras(record).items())
        if not extras:
            return text
        head, newline, rest = text.partition("\n")
        return f"{head}  {extras}{newline}{rest}"


class ContextFilter(logging.Filter):
    """Stamps the current unit of work's ids onto each record (without overriding extras)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in context.current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def resolve_format(setting: str, stream: Any = None) -> str:
    """`auto` means readable lines on a terminal and JSON everywhere else."""
    if setting != "auto":
        return setting
    target = stream if stream is not None else sys.stderr
    return "console" if getattr(target, "isatty", lambda: False)() else "json"


def configure(log_format: str, level: str, stream: Any = None) -> None:
    """Install our handler on the root logger once; calling again only updates it."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
    elif stream is not None and isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)
    chosen = resolve_format(log_format, getattr(handler, "stream", None))
    handler.setFormatter(JsonFormatter() if chosen == "json" else ConsoleFormatter())
    root.setLevel(level.upper())
