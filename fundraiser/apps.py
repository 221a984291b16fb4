from django.apps import AppConfig


class FundraiserConfig(AppConfig):
    name = "fundraiser"
    verbose_name = "Fundraising"

    def ready(self) -> None:
        from ingest import ports

        from .adjustments import campaign_adjustments
        from .moderation import moderated_ticker
        from .selectors import active_campaign_configs, campaign_config_by_slug

        ports.provide(  # the campaigns the engine counts, with what organizers decide on the night
            configs=active_campaign_configs,
            lookup=campaign_config_by_slug,
            adjustments=campaign_adjustments,
            moderation=moderated_ticker,
        )
