"""The public snapshot and stream without Django's request machinery, from kept configuration.

Snapshot: one Redis round trip, shared by every request until the campaign's next event (the hub
tells: forget_body), while this process's relay is subscribed; each request reads otherwise.

`/c/<slug>/snapshot.json` is what every page asks on (re)connect, and what a CDN asks once a second
per edge. Through Django each answer costs a dozen thread hops (sync middleware under ASGI), so the
first answer for a (slug, host, scheme) goes through Django, and its status and headers (security
headers, CSP, Cache-Control: every middleware's say) are kept. Later requests for the same
(slug, host, scheme) get those headers with a body read now: the same middleware would answer the
same way, since nothing they look at differs (no cookie, session or query is read by this view).

The public stream `/c/<slug>/events/` the same way: the first stream for a (slug, host, scheme)
opens through Django (dashboard/handoff.py), later ones get its headers, a stream slot of the
client (the same per-client cap) and the channels and watch the view would give
(views.public_stream). Opening a stream then costs no thread hop at all.

Anything unusual goes to Django: a query string, another method, a campaign not kept or whose
numbers are hidden (closed: 410), one showing gifts (the ticker), a recalculation (progress), a
Redis error (503).
"""

from __future__ import annotations

import asyncio
import re

import orjson
from redis.exceptions import RedisError

from . import configs
from .snapshots import read_snapshot_async, snapshot_payload

SNAPSHOT_PATH = re.compile(r"^/c/(?P<slug>[-a-zA-Z0-9_]+)/snapshot\.json$")
EVENTS_PATH = re.compile(r"^/c/(?P<slug>[-a-zA-Z0-9_]+)/events/$")
_DROPPED = {b"content-length", b"date", b"server"}
_kept: dict[tuple[str, bytes, str], list[tuple[bytes, bytes]]] = {}
_bodies: dict[tuple, asyncio.Future] = {}  # (slug, closed) -> the body read since the campaign's last event
_kept_grip: dict[tuple[str, bytes, str, bytes], list[tuple[bytes, bytes]]] = {}
_kept_streams: dict[tuple[str, bytes, str], list[tuple[bytes, bytes]]] = {}


async def serve_snapshot(scope, receive, send, app) -> None:
    match = SNAPSHOT_PATH.match(scope["path"])
    key = (match["slug"], _host(scope), scope.get("scheme", "http"))
    headers = _kept.get(key)
    body = await _fast_body(match["slug"]) if headers is not None and scope["method"] == "GET" else None
    if body is None:
        await app(scope, receive, _keeping(send, key))
        return
    await send({"type": "http.response.start", "status": 200, "headers": [*headers, _length(body)]})
    await send({"type": "http.response.body", "body": body})


def wants_snapshot(scope) -> bool:
    return (
        scope["method"] in ("GET", "HEAD")
        and not scope.get("query_string")
        and bool(SNAPSHOT_PATH.match(scope["path"]))
    )


async def _fast_body(slug: str) -> bytes | None:
    from .relay import ensure_started

    ensure_started()  # `config` events reach this process's kept configurations
    entry = configs.cached_entry(slug)
    if entry is None or entry.campaign.hides_numbers():
        return None
    if entry.campaign.public_ticker and entry.config.ticker is not None:
        return None
    if not configs.relay_subscribed():  # it could miss an update: read every time
        return await _read_body(entry)
    key = (slug, entry.campaign.closed_state())  # ("ended" comes with time, not with an event)
    reading = _bodies.get(key)
    if reading is None:  # one read serves every request until the campaign's next event
        reading = _bodies[key] = asyncio.ensure_future(_read_body(entry))
    body = await asyncio.shield(reading)
    if body is None:
        _bodies.pop(key, None)
    return body


def forget_body(channel: str, event_type: str) -> None:
    """Any event of a campaign's channel (from the hub): its kept body is older than Redis now."""
    if channel.startswith("campaign-") and not channel.endswith(".gifts"):
        slug = channel.removeprefix("campaign-")
        for key in [key for key in _bodies if key[0] == slug]:
            _bodies.pop(key, None)


async def _read_body(entry) -> bytes | None:
    try:
        snapshot = await read_snapshot_async(entry.config)
    except (RedisError, OSError):
        return None
    if snapshot.status == "recalculating":
        return None
    payload = snapshot_payload(entry.config, snapshot)
    closed = entry.campaign.closed_state()
    if closed:
        payload["closed"] = closed
    return orjson.dumps(payload)


def _keeping(send, key):
    async def send_and_keep(message):
        if message["type"] == "http.response.start":
            if message["status"] == 200:
                _kept[key] = [(n, v) for n, v in message.get("headers", []) if n.lower() not in _DROPPED]
            else:
                _kept.pop(key, None)
        await send(message)

    return send_and_keep


def _host(scope) -> bytes:
    """What the middleware's answer depends on besides the path: the host (ALLOWED_HOSTS) and the
    forwarded scheme (SECURE_PROXY_SSL_HEADER, the HTTPS redirect)."""
    headers = dict(scope.get("headers", []))
    return headers.get(b"host", b"") + b"|" + headers.get(b"x-forwarded-proto", b"")


def _length(body: bytes) -> tuple[bytes, bytes]:
    return (b"content-length", str(len(body)).encode())


# --- the public stream ------------------------------------------------------------------------------
def _stream_key(scope) -> tuple[str, bytes, str] | None:
    match = EVENTS_PATH.match(scope["path"])
    if match is None or scope["method"] != "GET" or scope.get("query_string"):
        return None
    return match["slug"], _host(scope), scope.get("scheme", "http")


def _grip_signature(scope) -> bytes | None:
    return next((value for name, value in scope.get("headers", []) if name == b"grip-sig"), None)


def keep_stream_headers(scope, start: dict) -> None:
    """A stream Django opened (or handed to Pushpin): its headers serve the next ones alike."""
    key = _stream_key(scope)
    if key is None or start["status"] != 200:
        return
    headers = [(n, v) for n, v in start.get("headers", []) if n.lower() not in _DROPPED]
    channels = next((v for n, v in headers if n.lower() == b"grip-channel"), None)
    if channels is not None:
        _kept_grip[(*key, channels)] = headers
    elif _grip_signature(scope) is None:
        _kept_streams[key] = headers


async def open_public_stream(scope, receive, send, serve) -> bool:
    """Serve the stream without Django if everything is known; False: let Django answer."""
    from django.conf import settings

    from config.clients import client_of

    from . import grip
    from .limits import STREAM_SLOTS
    from .streams import OPEN, StreamPlan
    from .views import public_stream

    key = _stream_key(scope)
    entry = configs.cached_entry(key[0]) if key else None
    if entry is None or entry.campaign.hides_numbers():
        return False
    channels, watch = public_stream(entry.campaign)
    channels = tuple(sorted(channels))
    signature = _grip_signature(scope)
    if signature is not None:  # through Pushpin: the hold instructions, as Django gives them
        headers = _kept_grip.get((*key, ", ".join(channels).encode()))
        if headers is None or not grip.valid_signature(signature.decode(errors="replace")):
            return False
        await send({"type": "http.response.start", "status": 200, "headers": [*headers, _length(OPEN)]})
        await send({"type": "http.response.body", "body": OPEN})
        return True
    headers = _kept_streams.get(key)
    if headers is None:
        return False
    client = client_of((scope.get("client") or ("",))[0] or "")
    slot = STREAM_SLOTS.take(client, settings.STREAMS_PER_CLIENT)
    if slot is None:
        return False  # Django answers the 429
    plan = StreamPlan(channels, watch, slot.release, slot.mark_started)
    await serve({"type": "http.response.start", "status": 200, "headers": headers}, plan, receive, send)
    return True
