"""The load client: many SSE connections in one asyncio process (raw sockets, no HTTP library).

Run in child processes (`LoadClients`), never in the server's: each reports its own CPU time so
the table can show the client was not the bottleneck. A connection parses what it receives only as
far as the figure needs: every `update` event's JSON (per-metric versions) for the latency run,
the first top-level `"version":` for the fan-out run.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

VERSION = re.compile(rb'"version":(\d+)')


class Connection(asyncio.Protocol):
    def __init__(self, client: Client):
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.headers_done = False
        self.status = 0
        self.raw = bytearray()  # chunked transfer encoding, not yet undone
        self.body = bytearray()  # SSE text not yet split into events
        self.opened_at: float | None = None
        self.closed = False
        self.events = 0
        self.arrivals: dict[int, float] = {}  # fan-out: version -> first arrival
        self.held: dict[str, int] = {}  # latency: metric -> version held
        self.history: list[tuple[str, int, float]] = []  # latency: (metric, version, when held)

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.client.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if not self.headers_done:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            head, _, data = self.head.partition(b"\r\n\r\n")
            self.status = int(head.split(b" ", 2)[1])
            self.headers_done = True
            self.head = b""
            if self.status != 200:  # refused (Pushpin answers 500/502 at once, then keeps the connection)
                self.client.rejected += 1
                self.transport.close()
                return
        self.raw += data
        self._dechunk()
        while True:
            end = self.body.find(b"\n\n")
            if end < 0:
                return
            block = bytes(self.body[:end])
            del self.body[: end + 2]
            self._event(block, now)

    def _dechunk(self) -> None:
        while True:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(bytes(self.raw[:line_end]).split(b";")[0] or b"0", 16)
            if len(self.raw) < line_end + 2 + size + 2:
                return
            self.body += self.raw[line_end + 2 : line_end + 2 + size]
            del self.raw[: line_end + 2 + size + 2]

    def _event(self, block: bytes, now: float) -> None:
        self.events += 1
        if block.startswith(b"event: stream-open"):
            self.opened_at = now
            self.client.opened(self)
            return
        if not block.startswith(b"event: update"):
            return
        data = block.split(b"\ndata: ", 1)[1]
        if self.client.mode == "fanout":
            match = VERSION.search(data)
            if match:
                self.arrivals.setdefault(int(match[1]), now)
            return
        update = orjson.loads(data)
        for slug, metric in update.get("metrics", {}).items():
            version = metric.get("version", update.get("version", 0))
            if version > self.held.get(slug, -1):
                self.held[slug] = version
                self.history.append((slug, version, now))

    def connection_lost(self, exc):
        self.closed = True
        self.client.lost(self)


@dataclass
class Client:
    host: str
    port: int
    path: str
    mode: str  # "fanout" or "latency"
    sources: int = 1  # loopback source addresses 127.0.0.1..N (ephemeral ports per address)
    connections: list[Connection] = field(default_factory=list)
    waiting: int = 0
    rejected: int = 0  # answered with a status other than 200
    all_open: asyncio.Event | None = None
    closed_count: int = 0

    @property
    def request(self) -> bytes:
        return (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()

    def opened(self, connection: Connection) -> None:
        self.waiting -= 1
        if self.waiting <= 0 and self.all_open is not None:
            self.all_open.set()

    def lost(self, connection: Connection) -> None:
        self.closed_count += 1
        if connection.opened_at is None:
            self.opened(connection)

    async def connect(self, count: int, concurrency: int = 256) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        self.all_open = asyncio.Event()
        self.waiting = count
        started = time.time()
        gate = asyncio.Semaphore(concurrency)
        failures = 0
        rejected = self.rejected

        async def one(index: int) -> None:
            nonlocal failures
            source = f"127.0.0.{1 + index % self.sources}"
            async with gate:
                try:
                    await loop.create_connection(
                        lambda: self._new(), self.host, self.port, local_addr=(source, 0)
                    )
                except OSError:
                    failures += 1
                    self.opened(None)

        await asyncio.gather(*(one(i) for i in range(count)))
        try:
            await asyncio.wait_for(self.all_open.wait(), 120)
        except TimeoutError:
            pass
        opened = sum(1 for c in self.connections if c.opened_at is not None)
        failed = failures + self.rejected - rejected  # refused connections and non-200 answers
        return {"opened": opened, "failed": failed, "seconds": time.time() - started}  # opened: all so far

    def _new(self) -> Connection:
        connection = Connection(self)
        self.connections.append(connection)
        return connection

    def close(self) -> None:
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.abort()


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def client_main(pipe, host: str, port: int, path: str, mode: str, sources: int) -> None:
    """A load client process: obeys commands from the controller over `pipe`."""
    from bench.site import raise_fd_limit

    raise_fd_limit()
    asyncio.run(_serve(pipe, Client(host, port, path, mode, sources)))


async def _serve(pipe, client: Client) -> None:
    loop = asyncio.get_running_loop()
    while True:
        command, argument = await loop.run_in_executor(None, pipe.recv)
        if command == "connect":
            pipe.send(await client.connect(argument))
        elif command == "cpu":
            pipe.send(cpu_seconds())
        elif command == "arrivals":  # fan-out: per connection, when each version arrived
            pipe.send([c.arrivals for c in client.connections if c.opened_at is not None])
        elif command == "history":  # latency: per connection, when each metric version was held
            pipe.send([c.history for c in client.connections if c.opened_at is not None])
        elif command == "status":
            pipe.send(
                {
                    "open": sum(1 for c in client.connections if c.opened_at and not c.closed),
                    "closed": client.closed_count,
                    "statuses": sorted({c.status for c in client.connections}),
                }
            )
        elif command == "close":
            client.close()
            await asyncio.sleep(0.5)
            pipe.send(True)
        elif command == "exit":
            pipe.send(True)
            return


class LoadClients:
    """`processes` client processes sharing `count` connections to one URL."""

    def __init__(self, url: str, *, mode: str, processes: int = 1, sources: int = 4):
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        context = multiprocessing.get_context("spawn")
        self.pipes = []
        self.processes = []
        for _ in range(processes):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=client_main,
                args=(theirs, parts.hostname, parts.port, parts.path, mode, sources),
                daemon=True,
            )
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    def ask(self, command: str, argument: Any = None) -> list[Any]:
        for pipe in self.pipes:
            pipe.send((command, argument))
        return [pipe.recv() for pipe in self.pipes]

    def connect(self, count: int) -> dict[str, Any]:
        shares = [
            count // len(self.pipes) + (1 if i < count % len(self.pipes) else 0)
            for i in range(len(self.pipes))
        ]
        for pipe, share in zip(self.pipes, shares, strict=True):
            pipe.send(("connect", share))
        answers = [pipe.recv() for pipe in self.pipes]
        return {
            "opened": sum(a["opened"] for a in answers),
            "failed": sum(a["failed"] for a in answers),
            "seconds": max(a["seconds"] for a in answers),
        }

    def cpu(self) -> float:
        return sum(self.ask("cpu"))

    def close(self) -> None:
        try:
            self.ask("close")
            self.ask("exit")
        finally:
            for process in self.processes:
                process.join(10)
                if process.is_alive():
                    process.kill()
