"""The web process's memory under the costliest uploads, measured in a process of its own.

Inside the whole suite, this process already holds whatever hundreds of earlier tests left
behind (seen at 789 MB before the first upload), which says nothing about a web process; the
scenario runs in a fresh pytest instead, with this session's settings and services.
"""

import subprocess
import sys
from pathlib import Path

from photoai.settings import PROJECT_ROOT

SCENARIO = Path(__file__).with_name("upload_memory_scenario.py")


def test_twenty_costliest_uploads_at_once_keep_a_fresh_web_process_under_1_gb() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "--no-cov",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:logging",  # a failure then shows its assertion, not the uploads' log lines
            str(SCENARIO),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assertion = [line for line in run.stdout.splitlines() if line.startswith(("E ", "> "))]
    assert run.returncode == 0, "\n".join(assertion) + run.stdout[-3000:] + run.stderr[-1000:]
    assert "1 passed" in run.stdout
    print(next(line for line in run.stdout.splitlines() if "peak RSS" in line))
