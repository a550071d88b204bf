"""Turn logging and error reporting on once per process, web backend or worker alike."""

import threading

from photoai.observe import errors, logs
from photoai.settings import get_settings

_lock = threading.Lock()
_started = False


def start() -> None:
    """Idempotent: the web app and the job entry points both call it at import."""
    global _started
    with _lock:
        if _started:
            return
        settings = get_settings()
        logs.configure(settings.log_format, settings.log_level)
        errors.init(settings)
        _started = True
