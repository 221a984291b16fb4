"""Behind Pushpin (or Fanout Cloud): Django answers a stream request with GRIP instructions and the
proxy holds the connection; events reach it from `manage.py pushpin_relay` (docs/PERFORMANCE.md).

Only a request that Pushpin signed (`Grip-Sig`, a JWT under PUSHPIN_SIG_KEY) is answered this way:
without the key set, or with a bad signature, a request is served directly, so a client cannot
make the site answer GRIP instructions (which would name channels) by sending the header itself.
"""

from __future__ import annotations

import jwt
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .fanout import KEEP_ALIVE, KEEP_ALIVE_SECONDS, OPEN


def is_proxied(request: HttpRequest) -> bool:
    return valid_signature(request.headers.get("Grip-Sig") or "")


def valid_signature(signature: str) -> bool:
    key = settings.PUSHPIN_SIG_KEY
    if not key or not signature:
        return False
    try:
        jwt.decode(signature, key, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.InvalidTokenError:
        return False
    return True


def hold_response(channels: tuple[str, ...]) -> HttpResponse:
    response = HttpResponse(OPEN, content_type="text/event-stream")
    response["Grip-Hold"] = "stream"
    response["Grip-Channel"] = ", ".join(channels)
    keep_alive = KEEP_ALIVE.decode().encode("unicode_escape").decode()
    response["Grip-Keep-Alive"] = f"{keep_alive}; format=cstring; timeout={int(KEEP_ALIVE_SECONDS)}"
    response["Cache-Control"] = "no-cache"
    return response
