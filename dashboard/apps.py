from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        from . import relay

        relay.install()  # SSE fan-out that re-subscribes after a Redis outage
