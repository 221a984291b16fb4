from django.apps import AppConfig


class FundraiserConfig(AppConfig):
    name = "fundraiser"
    verbose_name = "Fundraising"

    def ready(self) -> None:
        from ingest import ports

        from .selectors import active_campaign_configs

        ports.provide(configs=active_campaign_configs)  # the campaigns the engine counts
