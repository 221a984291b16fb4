"""Every event stream the site serves goes through open_stream() (docs/security.md).

- Only the channels the caller names: django-eventstream also accepts `es-meta` (a token signed
  with SECRET_KEY that names any channels and any user) and GRIP parameters. The site never issues
  them, so a request carrying one is refused: a leaked or guessed key opens no other channel, and a
  malformed one is a 400, not a 500.
- A per-client cap on open streams (dashboard/limits.py), answered 429.
- A watch that ends the stream when what it shows must stop: a revoked or replaced screen, a
  campaign switched off or past its end without "keep showing the final total". It is checked
  after each `config` or `resync` event (what the admin publishes on every change, and what the
  relay sends after an outage) and at the campaign's end time. Pages re-read their snapshot on that
  `config` event, which then tells them why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass

import django_eventstream
from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse

from .limits import streams_refused, take_stream_slot

REFUSED_PARAMETERS = ("es-meta", "recover", "link", "channel", "channels")
RECHECK_MARKERS = (b"event: config\n", b"event: resync\n")
CLOSING = b"event: config\ndata: {}\n\n"  # the page re-reads its snapshot, which says why


@dataclass(frozen=True)
class Watch:
    still_open: Callable[[], bool]  # sync (it may read the database); False ends the stream
    deadline: float | None = None  # epoch seconds: check then too (the campaign's end)


def open_stream(request: HttpRequest, *, channels: Iterable[str], watch: Watch | None = None) -> HttpResponse:
    if any(name in request.GET for name in REFUSED_PARAMETERS):
        return JsonResponse({"error": "unsupported stream parameter"}, status=400)
    slot = take_stream_slot(request)
    if slot is None:
        return streams_refused()
    try:
        response = django_eventstream.views.events(request, channels=sorted(channels))
    except BaseException:
        slot.release()
        raise
    if not getattr(response, "streaming", False):  # an error answer: nothing stays open
        slot.release()
        return response
    # (A client gone before the body starts: Django cancels the task and never closes the response,
    # and the body's finally never runs. Such a slot is given back by StreamSlots after a grace.)
    response.streaming_content = GuardedStream(
        response.streaming_content, watch=watch, release=slot.release, started=slot.mark_started
    )
    return response


class GuardedStream:
    """The stream's body, ended by its watch; gives its slot back however it ends.

    On a client disconnect Django cancels the response task without calling response.close(), so
    the slot is released in _run()'s finally; close() covers a body that was never iterated.
    """

    def __init__(
        self,
        inner: AsyncIterator[bytes],
        *,
        watch: Watch | None,
        release: Callable[[], None],
        started: Callable[[], None] = lambda: None,
    ):
        self.inner = inner
        self.watch = watch
        self.release = release
        self.started = started

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._run()

    def close(self) -> None:
        self.release()

    async def _still_open(self) -> bool:
        return self.watch is None or await sync_to_async(self.watch.still_open)()

    async def _run(self) -> AsyncIterator[bytes]:
        self.started()
        deadline = self.watch.deadline if self.watch else None
        pending: asyncio.Future | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(self.inner))
                timeout = None if deadline is None else max(0.0, deadline - time.time())
                done, _ = await asyncio.wait({pending}, timeout=timeout)
                if not done:  # the deadline passed with nothing to send
                    deadline = None
                    if not await self._still_open():
                        yield CLOSING
                        return
                    continue
                finished, pending = pending, None
                try:
                    chunk = finished.result()
                except StopAsyncIteration:
                    return
                yield chunk
                if any(marker in chunk for marker in RECHECK_MARKERS) and not await self._still_open():
                    return
        finally:
            if pending is not None:
                pending.cancel()
                with suppress(BaseException):
                    await pending
            with suppress(Exception):
                await self.inner.aclose()
            self.release()
