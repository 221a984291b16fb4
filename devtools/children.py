"""The demo's child processes: each in its own process group with its output in a log file, and
none outliving the demo (stopped on exit, killed by the kernel if the demo is killed outright, and
stopped by the next run if it could not clean up)."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    # Runs in the child before exec: if the demo is killed outright (SIGKILL), the kernel sends
    # this child SIGTERM, so nothing outlives it even without our clean-up.
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ProcessGroup:
    """A process group a demo run started, known by its leader's pid (this run's or an earlier one's)."""

    def __init__(self, name: str, pid: int, marker: str):
        self.name = name
        self.pid = pid
        self.marker = marker  # text its command line shows, to recognise it in a later run

    def running(self) -> bool:
        return group_alive(self.pid)

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def reap(self) -> None:
        """Collect the leader's exit status, where it is our child."""


class Child(ProcessGroup):
    """A server this demo run started, in its own process group (so signals reach its own children)."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log_path: Path, marker: str):
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        super().__init__(name, self.process.pid, marker)

    def running(self) -> bool:
        return self.process.poll() is None or super().running()  # poll() reaps an exited leader

    def reap(self) -> None:
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n".join("    " + line for line in text)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_groups(groups: list[ProcessGroup], timeout: float) -> list[ProcessGroup]:
    """SIGTERM each process group, wait, then SIGKILL what is left; returns the ones killed."""
    for group in groups:
        group.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(group.running() for group in groups) and time.monotonic() < deadline:
        time.sleep(0.1)
    killed = [group for group in groups if group.running()]
    for group in killed:
        group.signal(signal.SIGKILL)
    for group in groups:
        group.reap()
    return killed


def command_line(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


# --- what a run leaves behind, for the next one -------------------------------------------------
def save_run(path: Path, children: list[Child]) -> None:
    state = {
        "demo": os.getpid(),
        "children": [{"name": c.name, "pid": c.pid, "marker": c.marker} for c in children],
    }
    path.write_text(json.dumps(state))


def load_run(path: Path) -> tuple[int | None, list[ProcessGroup]]:
    """The pid of the run that saved `path`, and those of its children still running what it started."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, []
    groups = [
        ProcessGroup(entry.get("name", "?"), int(entry.get("pid", 0)), entry.get("marker", "?"))
        for entry in state.get("children", [])
    ]
    return state.get("demo"), [g for g in groups if g.pid > 0 and g.marker in (command_line(g.pid) or "")]
