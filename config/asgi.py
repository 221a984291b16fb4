import os

from django.core.asgi import get_asgi_application

from config.local import start_embedded_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
start_embedded_redis()
django_application = get_asgi_application()

from dashboard.handoff import StreamHandoff  # noqa: E402 - needs Django set up

# Event streams are served after Django finished their request, without a thread each.
application = StreamHandoff(django_application)
