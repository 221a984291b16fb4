from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        from fundraiser.signals import config_changed, levers_changed
        from ingest import ports

        from . import relay
        from .events import ServerSentEvents, tell_screens_config_changed, tell_screens_levers_changed

        ports.provide(publisher=ServerSentEvents())  # the engine's updates go to browsers
        config_changed.connect(tell_screens_config_changed, dispatch_uid="dashboard.config_changed")
        levers_changed.connect(tell_screens_levers_changed, dispatch_uid="dashboard.levers_changed")
        relay.install()  # SSE fan-out that re-subscribes after a Redis outage
