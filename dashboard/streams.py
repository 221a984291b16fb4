"""Every event stream the site serves goes through open_stream() (docs/security.md).

- Only the channels the caller names: django-eventstream's `es-meta` (a token signed with
  SECRET_KEY that names any channels) and GRIP parameters are refused (400): the site never issues
  them, so a leaked or guessed key opens no other channel.
- A per-client cap on open streams (dashboard/limits.py), answered 429.
- A watch that ends the stream when what it shows must stop: a revoked or replaced screen, a
  campaign switched off or past its end without "keep showing the final total". It is checked
  after each `config` or `resync` event (what the admin publishes on every change, and what the
  relay sends after an outage) and at the campaign's end time. Pages re-read their snapshot on that
  `config` event, which then tells them why.

How a stream is served without a thread (issue 13). The view runs in Django as any view does
(middleware, access checks, the slot) and answers a small response that names a `StreamPlan`;
dashboard/handoff.py, around the ASGI application, sees that name once Django has finished the
request, and serves the body itself from this process's hub (dashboard/fanout.py). Django's
request (and the thread it ran its sync code in) is over by then: an open stream costs a socket,
a subscriber and a coroutine. Behind Pushpin (dashboard/grip.py) Django answers with GRIP
instructions instead, and Pushpin holds the connection.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from . import grip
from .fanout import HUB, OPEN, RECHECKS
from .limits import streams_refused, take_stream_slot

REFUSED_PARAMETERS = ("es-meta", "recover", "link", "channel", "channels")
CLOSING = b"event: config\ndata: {}\n\n"  # the page re-reads its snapshot, which says why
HANDOFF_HEADER = "x-fundraiser-stream"  # set by the view, consumed (and removed) by handoff.py
HANDOFF_SCOPE_KEY = "fundraiser.stream_handoff"  # handoff.py is in front of Django
PLAN_SECONDS = 30.0  # a plan nobody took by then never will be (its slot is reaped, limits.py)

# Watches read the database; a few threads serve every stream of the process (never one each).
WATCH_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stream-watch")


@dataclass(frozen=True)
class Watch:
    still_open: Callable[[], bool]  # sync (it may read the database); False ends the stream
    deadline: float | None = None  # epoch seconds: check then too (the campaign's end)
    key: tuple = ()  # streams with equal keys share one check per `config` event


@dataclass(eq=False)
class StreamPlan:
    channels: tuple[str, ...]
    watch: Watch | None
    release: Callable[[], None]
    started: Callable[[], None] = lambda: None
    made_at: float = field(default_factory=time.monotonic)


_plans: dict[str, StreamPlan] = {}


def open_stream(request: HttpRequest, *, channels: Iterable[str], watch: Watch | None = None) -> HttpResponse:
    if any(name in request.GET for name in REFUSED_PARAMETERS):
        return JsonResponse({"error": "unsupported stream parameter"}, status=400)
    channels = tuple(sorted(channels))
    if grip.is_proxied(request):  # Pushpin holds the connection: nothing to count here
        return grip.hold_response(channels)
    slot = take_stream_slot(request)
    if slot is None:
        return streams_refused()
    plan = StreamPlan(channels, watch, slot.release, slot.mark_started)
    scope = getattr(request, "scope", None) or {}
    if scope.get(HANDOFF_SCOPE_KEY):
        response = HttpResponse(content_type="text/event-stream")
        response[HANDOFF_HEADER] = keep_plan(plan)
    else:  # not behind handoff.py (Django's own ASGI handler): served in Django, one thread each
        response = StreamingHttpResponse(stream_body(plan), content_type="text/event-stream")
        response._resource_closers.append(slot.release)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


def keep_plan(plan: StreamPlan) -> str:
    now = time.monotonic()
    for key in [k for k, p in _plans.items() if now - p.made_at > PLAN_SECONDS]:
        _plans.pop(key, None)
    key = secrets.token_urlsafe(12)
    _plans[key] = plan
    return key


def take_plan(key: str) -> StreamPlan | None:
    return _plans.pop(key, None)


async def stream_body(plan: StreamPlan, write: Callable[[bytes], bool] | None = None) -> AsyncIterator[bytes]:
    """The stream: opened, then the hub's frames as they come, until the watch ends it.

    With `write` (dashboard/handoff.py), the hub writes frames to the socket itself; this yields
    only what `write` could not take (a slow reader), and the frames that begin and end it."""
    from .relay import ensure_started

    ensure_started()
    subscriber = HUB.subscribe(plan.channels)
    plan.started()
    deadline = plan.watch.deadline if plan.watch else None
    try:
        yield OPEN
        subscriber.write = write  # from now on: the frames before were sent through the server
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            frames = await subscriber.next_frames(timeout)
            if frames is None:  # the deadline passed with nothing to send
                deadline = None
                if not await CHECKS.still_open(plan.watch):
                    yield CLOSING
                    return
                continue
            chunk = b"".join(data for _, data in frames)
            if chunk:
                yield chunk
            if any(event_type in RECHECKS for event_type, _ in frames):
                if not await CHECKS.still_open(plan.watch):
                    return
    finally:
        HUB.unsubscribe(subscriber)
        plan.release()


class WatchChecks:
    """Runs watches off the event loop; streams whose watches have the same key share one run.

    A `config` event reaches every stream of a campaign at once: 20,000 screens must not mean
    20,000 database reads. A shared result is used only by the checks that asked while it ran.
    """

    def __init__(self) -> None:
        self.running: dict[tuple, asyncio.Future] = {}

    async def still_open(self, watch: Watch | None) -> bool:
        if watch is None:
            return True
        if not watch.key:
            return await self._run(watch)
        future = self.running.get(watch.key)
        if future is None:
            future = self.running[watch.key] = asyncio.ensure_future(self._run(watch))
            future.add_done_callback(lambda _: self.running.pop(watch.key, None))
        return await asyncio.shield(future)

    @staticmethod
    async def _run(watch: Watch) -> bool:
        def check() -> bool:
            close_old_connections()  # as a request would: drop a broken or too old connection
            return watch.still_open()

        return await asyncio.get_running_loop().run_in_executor(WATCH_EXECUTOR, check)


CHECKS = WatchChecks()
