from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from fundraiser.models import Campaign, Goal, Metric, Milestone
        from fundraiser.signals import config_changed, levers_changed
        from ingest import ports

        from . import configs, edge
        from .events import ServerSentEvents, tell_screens_config_changed, tell_screens_levers_changed
        from .fanout import HUB

        ports.provide(publisher=ServerSentEvents())  # the engine's updates go to browsers
        config_changed.connect(tell_screens_config_changed, dispatch_uid="dashboard.config_changed")
        levers_changed.connect(tell_screens_levers_changed, dispatch_uid="dashboard.levers_changed")
        for model in (Campaign, Metric, Goal, Milestone):  # kept configurations (dashboard/configs.py)
            post_save.connect(
                configs.forget_on_save, sender=model, dispatch_uid=f"configs.{model.__name__}.save"
            )
            post_delete.connect(
                configs.forget_on_save, sender=model, dispatch_uid=f"configs.{model.__name__}.del"
            )
        HUB.on_event.append(configs.forget_channel)
        HUB.on_event.append(edge.forget_body)  # the public snapshot's kept body (dashboard/edge.py)
