"""Found by review: a stream request whose client leaves before the view returns gives its slot back."""

from __future__ import annotations

import socket
import struct
import time
from urllib.parse import urlsplit

import pytest

from tests.screens.conftest import RawStream
from tests.security.conftest import STREAMS_PER_CLIENT

pytestmark = pytest.mark.e2e


def hit_and_run(url: str, delay: float = 0.0) -> None:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    sock.sendall(
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    time.sleep(delay)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
    sock.close()


def how_many_open(url: str) -> int:
    streams = []
    try:
        for _ in range(STREAMS_PER_CLIENT):
            stream = RawStream(url)
            if not stream.opened.wait(3):
                stream.close()
                break
            streams.append(stream)
        return len(streams)
    finally:
        for stream in streams:
            stream.close()


def test_clients_that_leave_at_once_do_not_use_up_the_stream_cap(live_site, redis_client):
    url = live_site.url(f"/s/{live_site.tokens['with-ticker']}/events/")
    assert how_many_open(url) == STREAMS_PER_CLIENT
    time.sleep(2)
    for n in range(60):  # screens on a flaky venue network, or a page closed mid-request
        hit_and_run(url, delay=(n % 30) / 1000)
    deadline = time.monotonic() + 30  # every request has long finished by then
    while (opened := how_many_open(url)) < STREAMS_PER_CLIENT and time.monotonic() < deadline:
        time.sleep(1)
    assert opened == STREAMS_PER_CLIENT
