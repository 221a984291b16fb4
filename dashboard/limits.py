"""Per-client caps on the public endpoints, answered with a clear 429 (docs/security.md).

- Open event streams per client, counted in this web process: each open stream holds a thread
  (django-eventstream under ASGI), so one client opening thousands would exhaust the process. The
  count lives in memory because that is what it protects; a process that dies takes its count along.
- Unknown kiosk tokens per client, counted in Redis across every web process: past the limit, every
  /s/... request of that client answers 429 until the window ends. Only unknown tokens count, never a
  screen whose link was replaced or revoked (those keep asking, and must not lock out a venue).

A client is config.clients.client_ip: its address (an IPv6 client's /64), never a header.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from config.clients import client_ip


def too_many(error: str, retry_after: int) -> JsonResponse:
    response = JsonResponse({"error": error, "retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


# --- concurrent streams ----------------------------------------------------------------------------
START_GRACE_SECONDS = 10.0  # a stream whose body has not started by then never will


class StreamSlots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()
        self._unstarted: list[StreamSlot] = []

    def take(self, client: str, limit: int) -> StreamSlot | None:
        self._reap()
        with self._lock:
            if self._open[client] >= limit:
                return None
            self._open[client] += 1
            slot = StreamSlot(self, client, taken_at=time.monotonic())
            self._unstarted.append(slot)
        return slot

    def _reap(self) -> None:
        """Give back slots whose stream never started: the client left while the view ran, and Django
        cancelled the response without closing it (nothing else would ever release them)."""
        now = time.monotonic()
        with self._lock:
            stale = [s for s in self._unstarted if not s.started and now - s.taken_at > START_GRACE_SECONDS]
            self._unstarted = [
                s for s in self._unstarted if not s.started and s not in stale and not s.released
            ]
        for slot in stale:
            slot.release()

    def give_back(self, client: str) -> None:
        with self._lock:
            self._open[client] -= 1
            if self._open[client] <= 0:
                del self._open[client]

    def count(self, client: str) -> int:
        with self._lock:
            return self._open[client]


@dataclass(eq=False)
class StreamSlot:
    slots: StreamSlots
    client: str
    taken_at: float = 0.0
    started: bool = field(default=False)  # its stream's body began: its end releases it
    released: bool = field(default=False)

    def mark_started(self) -> None:
        self.started = True

    def release(self) -> None:
        """Idempotent: called when the stream ends and again when Django closes the response."""
        if not self.released:
            self.released = True
            self.slots.give_back(self.client)


STREAM_SLOTS = StreamSlots()


def take_stream_slot(request: HttpRequest) -> StreamSlot | None:
    return STREAM_SLOTS.take(client_ip(request), settings.STREAMS_PER_CLIENT)


def streams_refused() -> JsonResponse:
    return too_many(
        f"too many open event streams from this address (at most {settings.STREAMS_PER_CLIENT})", 30
    )


# --- kiosk token guesses (kept by ingest/store.py) -------------------------------------------------
def guesses_blocked(request: HttpRequest) -> int:
    """Seconds this client must wait before trying tokens again; 0 when it may."""
    count, ttl = _store().guesses(client_ip(request))
    if count < settings.KIOSK_TOKEN_GUESSES:
        return 0
    return max(ttl, 1)


def count_guess(request: HttpRequest) -> None:
    """One more unknown token from this client; the window starts at its first guess."""
    _store().count_guess(client_ip(request), window_seconds=settings.KIOSK_GUESS_WINDOW_SECONDS)


_guess_store = None


def _store():
    global _guess_store
    if _guess_store is None:
        from ingest.store import Store

        _guess_store = Store()
    return _guess_store
