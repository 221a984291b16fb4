from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        from ingest import ports

        from . import relay
        from .events import ServerSentEvents

        ports.provide(publisher=ServerSentEvents())  # the engine's updates go to browsers
        relay.install()  # SSE fan-out that re-subscribes after a Redis outage
