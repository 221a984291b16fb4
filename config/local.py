"""The embedded Redis of local runs: started by the entry points, never by the settings.

With REDIS_URL unset, settings name a Redis on 127.0.0.1:EMBEDDED_REDIS_PORT and start nothing;
manage.py, config/asgi.py, config/wsgi.py and Celery (config/celery.py) call this before they use
Redis, so `manage.py runserver`, a worker or uvicorn just work on a fresh machine.

The one import from the project into dev tooling (devtools/), on purpose: lazily, and only when
REDIS_URL is unset, so a deployment (which sets it) never loads devtools.
"""

from __future__ import annotations


def start_embedded_redis() -> None:
    """Start the daemonized embedded Redis when REDIS_URL is unset (a no-op if it already runs)."""
    from django.conf import settings

    if settings.REDIS_EMBEDDED:
        from devtools.embedded import ensure_redis

        ensure_redis(settings.EMBEDDED_REDIS_PORT, settings.VAR_DIR)
