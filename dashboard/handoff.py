"""Around the ASGI application: serve event streams once Django has finished their request.

Django runs every request in a thread-sensitive context: whatever sync code the request touches
(middleware, signals, the ORM) runs in a thread that lives as long as the request. A stream served
by Django is a request that lasts hours, so each open stream held an OS thread (10,000 streams,
10,001 threads). Here Django answers a stream request like any other (dashboard/streams.py: a
short response naming a StreamPlan, with every header its middleware set); this wrapper holds that
answer back, lets Django finish (its thread ends), then sends the same status and headers and
serves the body from the hub (dashboard/fanout.py) in this coroutine until the client leaves.

It also serves the public snapshot's fast path (dashboard/edge.py).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from .edge import keep_stream_headers, open_public_stream, serve_snapshot, wants_snapshot
from .streams import HANDOFF_HEADER, HANDOFF_SCOPE_KEY, stream_body, take_plan

_HEADER = HANDOFF_HEADER.encode()
_DROPPED = {_HEADER, b"content-length"}


class StreamHandoff:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if wants_snapshot(scope):
            return await serve_snapshot(scope, receive, send, self.app)
        if not scope["path"].endswith("/events/"):
            return await self.app(scope, receive, send)
        if await open_public_stream(scope, receive, send, serve):
            return
        held: dict = {}

        async def hold_back(message):
            if message["type"] == "http.response.start":
                names = {name.lower(): value for name, value in message.get("headers", [])}
                if _HEADER in names:
                    held["key"] = names[_HEADER].decode()
                    headers = [(n, v) for n, v in message["headers"] if n.lower() not in _DROPPED]
                    held["start"] = {**message, "headers": headers}
                    return
                if b"grip-hold" in names:  # handed to Pushpin: the next ones need no Django
                    keep_stream_headers(scope, message)
            elif held:
                return  # the placeholder body
            await send(message)

        await self.app({**scope, HANDOFF_SCOPE_KEY: True}, receive, hold_back)
        if not held:
            return
        plan = take_plan(held["key"])
        if plan is None:  # cannot happen within one process; answer rather than hang
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        keep_stream_headers(scope, held["start"])
        await serve(held["start"], plan, receive, send)


async def serve(start: dict, plan, receive, send) -> None:
    """Send `start`, then the plan's stream until it ends or the client leaves."""
    body = stream_body(plan, direct_writer(send))
    streaming = asyncio.current_task()
    gone = asyncio.ensure_future(_left(receive))

    def client_left(_) -> None:
        streaming.cancel()

    gone.add_done_callback(client_left)
    try:
        await send(start)
        async for chunk in body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        gone.remove_done_callback(client_left)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except (asyncio.CancelledError, OSError):
        pass  # the client left, or the server is shutting down
    finally:
        gone.remove_done_callback(client_left)
        gone.cancel()
        with suppress(BaseException):
            await body.aclose()


async def _left(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


WRITE_BUFFER_LIMIT = 64 * 1024  # bytes queued for a client before its frames wait (latest wins)


def direct_writer(send):
    """A writer of SSE frames straight to the connection's socket, or None where the server does
    not let us (then each frame goes through `send`, one task step per stream and event).

    uvicorn's send is a method of its request cycle, which holds the transport and says whether the
    response is chunked (h11: its writer; httptools: `chunked_encoding`). The headers and the first
    frame went through `send`; later frames are framed here exactly as the server would frame them,
    and the end of the body goes through `send` again.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "get_write_buffer_size"):
        return None
    if hasattr(cycle, "chunked_encoding"):  # httptools
        chunked = bool(cycle.chunked_encoding)
    else:  # h11
        chunked = type(getattr(getattr(cycle, "conn", None), "_writer", None)).__name__ == "ChunkedWriter"
    if not chunked:
        return None

    def write(data: bytes) -> bool:
        if transport.is_closing() or getattr(cycle, "disconnected", False):
            return True  # gone: the disconnect ends the stream
        if transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            return False
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        return True

    return write
