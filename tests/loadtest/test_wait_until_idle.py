"""`wait_until_idle`: a benchmark point starts only once the servers have finished the last one's work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from loadtest.server import wait_until_idle

BUSY_THEN_IDLE = """
import sys, time
deadline = time.monotonic() + 1.0
while time.monotonic() < deadline:
    pass
open(sys.argv[1], "w").close()
time.sleep(60)
"""


def test_waits_for_a_busy_process_to_go_quiet(tmp_path: Path) -> None:
    marker = tmp_path / "idle"
    child = subprocess.Popen([sys.executable, "-c", BUSY_THEN_IDLE, str(marker)])
    try:
        waited_s = wait_until_idle([child.pid], timeout_s=30.0)
        assert marker.exists(), "returned while the process was still spinning"
        assert waited_s < 30.0
    finally:
        child.kill()
        child.wait()


def test_returns_at_the_timeout_when_the_process_never_goes_quiet() -> None:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert wait_until_idle([child.pid], timeout_s=0.6) >= 0.6
    finally:
        child.kill()
        child.wait()
